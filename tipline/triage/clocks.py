"""Keeping the statutory clocks, of tips and of cases: mark deadlines due soon and overdue,
escalate, notify.

``sweep`` runs as a scheduled rq job (``jobs.sweep_deadlines``) or from the command line
(``tipline deadlines sweep``) where there is no Redis. Notices to officers say only that
something is waiting, never what (DESIGN.md, "Anonymity").

``recompute`` moves every open clock, tips' and cases', after a calendar correction or a
year's holiday notice: its due date again from its start, amount and unit; met clocks are
history.
"""

from __future__ import annotations

import datetime as dt
import json
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.orm import Session

from tipline.intake.models import AuditEvent, Case, CaseDeadline, Deadline, Officer, Tip
from tipline.intake.workdays import Calendar, load_calendar
from tipline.triage import scope
from tipline.triage.audit import record
from tipline.triage.cases import clocks as case_clocks

SOON = 1  # working days: a deadline this close is "due soon"
SUBJECT = "tipline: items are waiting for you"
BODY = (
    "Some items in the tip triage system need your attention.\n"
    "Sign in to see them.\n\n"
    "有待处理的事项，请登录举报线索分办系统查看。\n"
)


@dataclass
class SweepResult:
    due_soon: set[str] = field(default_factory=set)
    overdue: set[str] = field(default_factory=set)
    escalated: set[str] = field(default_factory=set)
    # The same for case clocks (triage/cases/clocks.py), by case id.
    cases_due_soon: set[str] = field(default_factory=set)
    cases_overdue: set[str] = field(default_factory=set)
    cases_escalated: set[str] = field(default_factory=set)


def sweep(
    session: Session, today: dt.date, calendar: Calendar, *, now: dt.datetime | None = None
) -> SweepResult:
    """Update every open deadline's state, tips' and cases'; escalate newly overdue ones to
    supervisors. Hour clocks of cases (T11, T12) are compared with ``now`` (by default the
    start of ``today`` in China, so none reads overdue early; the job passes the time).

    Two sweeps at once (a retry beside the morning's run, two workers) escalate a clock
    once: the escalation is an UPDATE that only a row not yet escalated passes, and only
    the sweep whose UPDATE changed the row records it. Rows are taken in id order, tips
    then cases, so two sweeps lock them in the same order and never wait on each other."""
    now = now or case_clocks.start_of(today)
    result = SweepResult()
    rows = session.execute(
        select(Deadline.id, Deadline.tip_id, Deadline.due_on, Deadline.state,
               Deadline.escalated, Deadline.rule)
        .where(Deadline.met_on.is_(None)).order_by(Deadline.id)
    ).all()  # fmt: skip
    for row in rows:
        state = _state_of(row.due_on, today, calendar)
        if state != row.state:
            session.execute(
                update(Deadline).where(Deadline.id == row.id, Deadline.met_on.is_(None))
                .values(state=state).execution_options(synchronize_session=False)
            )  # fmt: skip
        if state == "due_soon":
            result.due_soon.add(row.tip_id)
        elif state == "overdue":
            result.overdue.add(row.tip_id)
            if not row.escalated and _escalate(session, Deadline, row.id):
                result.escalated.add(row.tip_id)
                record(
                    session, "deadline.escalate", actor=None, tip_id=row.tip_id,
                    rule=row.rule, due=row.due_on.isoformat(),
                )  # fmt: skip
    case_rows = session.execute(
        select(CaseDeadline.id, CaseDeadline.case_id, CaseDeadline.due_on, CaseDeadline.due_at,
               CaseDeadline.state, CaseDeadline.escalated, CaseDeadline.rule)
        .where(CaseDeadline.met_at.is_(None)).order_by(CaseDeadline.id)
    ).all()  # fmt: skip
    for case_row in case_rows:
        state = case_clocks.state(case_row.due_on, case_row.due_at, today, now, calendar)
        if state != case_row.state:
            session.execute(
                update(CaseDeadline)
                .where(CaseDeadline.id == case_row.id, CaseDeadline.met_at.is_(None))
                .values(state=state).execution_options(synchronize_session=False)
            )  # fmt: skip
        if state == "due_soon":
            result.cases_due_soon.add(case_row.case_id)
        elif state == "overdue":
            result.cases_overdue.add(case_row.case_id)
            if not case_row.escalated and _escalate(session, CaseDeadline, case_row.id):
                result.cases_escalated.add(case_row.case_id)
                # A case entry names the case in its detail: the audit log's tip column
                # is for tips (and a case's tips are not the reporter's business here).
                record(
                    session, "deadline.escalate", actor=None, case=case_row.case_id,
                    rule=case_row.rule, due=case_clocks.due_words(case_row.due_on, case_row.due_at),
                )  # fmt: skip
    return result


def _escalate(session: Session, table: type[Deadline] | type[CaseDeadline], row_id: int) -> bool:
    """Mark one open, overdue clock escalated; False if another sweep did it first (its
    UPDATE took the row's lock, and this one then finds the row escalated and passes)."""
    met = Deadline.met_on if table is Deadline else CaseDeadline.met_at
    done = session.execute(
        update(table)
        .where(table.id == row_id, table.escalated.is_(False), met.is_(None))
        .values(escalated=True, state="overdue")
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(done, "rowcount", 0) == 1)


def _state_of(due_on: dt.date, today: dt.date, calendar: Calendar) -> str:
    if due_on < today:
        return "overdue"
    if calendar.working_days_between(today, due_on) <= SOON:
        return "due_soon"
    return "open"


def nearest_due(tip: Tip) -> dt.date | None:
    """The tip's nearest open due date, kept on the tip so the inbox sorts on an index."""
    return min((d.due_on for d in tip.deadlines if d.met_on is None), default=None)


def close_open(tip: Tip, closed_by: str, on: dt.date) -> list[Deadline]:
    """Close every open clock of ``tip`` on ``on``, whatever decision its pack waited for,
    recording ``closed_by`` (reference.CLOSED_BY): the tip needs no decision of its own any
    more (a duplicate is handled under the earlier tip). A clock closed after its due date
    stays on record as late, and its escalation as it happened. The sweep reads open clocks
    only, so a closed one is never marked overdue or escalated again."""
    closed = [d for d in tip.deadlines if d.met_on is None]
    for deadline in closed:
        deadline.met_on = on
        deadline.closed_by = closed_by
        deadline.state = "met" if on <= deadline.due_on else "met_late"
    tip.next_due = nearest_due(tip)
    return closed


def _state(deadline: Deadline, today: dt.date, calendar: Calendar) -> str:
    return _state_of(deadline.due_on, today, calendar)


@dataclass(frozen=True)
class Moved:
    """A clock that a recomputation moved: a tip's (``tip_id``) or a case's (``case_id``)."""

    tip_id: str | None
    rule: str
    was: dt.date
    now: dt.date
    fallback: bool
    case_id: str | None = None

    @property
    def subject(self) -> str:
        """What the clock belongs to, for the command's report."""
        return f"case {self.case_id}" if self.case_id is not None else str(self.tip_id)


def recompute(session: Session, today: dt.date, actor: str, reason: str) -> list[Moved]:
    """Every open clock's due date again, tips' and cases', with the calendar as it now
    stands (after a correction or a year's notice). Met clocks are left as they were: they
    are history. Hour clocks of cases run through holidays and never move.

    Each clock that moves, or stops resting on the Monday-Friday fallback, is recorded in
    the audit log with its old and new date; the tip's or case's nearest due date follows.
    A clock that moves later than it was is no longer overdue, and its escalation is kept on
    record (it happened) but does not count against the new date."""
    calendar = load_calendar(session)
    moved: list[Moved] = []
    touched: set[str] = set()
    rows = session.scalars(
        select(Deadline).where(Deadline.met_on.is_(None)).order_by(Deadline.tip_id, Deadline.id)
    ).all()
    for deadline in rows:
        due = calendar.deadline(deadline.starts_on, deadline.amount, deadline.unit)
        if due.day == deadline.due_on and due.fallback == deadline.calendar_fallback:
            continue
        was = deadline.due_on
        deadline.due_on, deadline.calendar_fallback = due.day, due.fallback
        deadline.state = _state(deadline, today, calendar)
        if deadline.state != "overdue":
            deadline.escalated = False
        touched.add(deadline.tip_id)
        moved.append(Moved(deadline.tip_id, deadline.rule, was, due.day, due.fallback))
        record(
            session, "deadline.recompute", actor=actor, tip_id=deadline.tip_id,
            rule=deadline.rule, was=was.isoformat(), due=due.day.isoformat(),
            fallback=int(due.fallback), reason=reason,
        )  # fmt: skip
    for tip_id in touched:
        tip = session.get(Tip, tip_id)
        if tip is not None:
            tip.next_due = session.scalar(
                select(func.min(Deadline.due_on)).where(
                    Deadline.tip_id == tip_id, Deadline.met_on.is_(None)
                )
            )
    moved.extend(_recompute_cases(session, today, actor, reason, calendar))
    return moved


def _recompute_cases(
    session: Session, today: dt.date, actor: str, reason: str, calendar: Calendar
) -> list[Moved]:
    """The open clocks of cases, counted again (cases/clocks.recount), as for tips: the
    audit entry names the case in its detail, and the case's nearest due date follows."""
    moved: list[Moved] = []
    touched: set[str] = set()
    now = case_clocks.start_of(today)
    rows = session.scalars(
        select(CaseDeadline)
        .where(CaseDeadline.met_at.is_(None), CaseDeadline.unit != "hours")
        .order_by(CaseDeadline.case_id, CaseDeadline.id)
    ).all()
    for deadline in rows:
        was = deadline.due_on
        if not case_clocks.recount(deadline, calendar):
            continue
        deadline.state = case_clocks.state(deadline.due_on, deadline.due_at, today, now, calendar)
        if deadline.state != "overdue":
            deadline.escalated = False
        touched.add(deadline.case_id)
        moved.append(Moved(None, deadline.rule, was, deadline.due_on, deadline.calendar_fallback,
                           case_id=deadline.case_id))  # fmt: skip
        record(
            session, "deadline.recompute", actor=actor, case=deadline.case_id,
            rule=deadline.rule, was=was.isoformat(), due=deadline.due_on.isoformat(),
            fallback=int(deadline.calendar_fallback), reason=reason,
        )  # fmt: skip
    for case_id in sorted(touched):
        case = session.get(Case, case_id)
        if case is not None:
            case.next_due = case_clocks.nearest_due(case)
    return moved


def fallback_years(
    session: Session, calendar: Calendar, condition: ColumnElement[bool] | None = None, *,
    case_condition: ColumnElement[bool] | None = None,
) -> list[int]:  # fmt: skip
    """The years without an official calendar that open clocks rest on (their due date was
    counted Monday-Friday there): what an administrator must enter a notice for. Tips' and
    cases' clocks both. ``condition`` limits it to the tips a reader may see, and
    ``case_condition`` to the cases; given the one without the other, no case counts."""
    # The package ends some year; clocks can only rest on a guess from the first year it
    # does not know, so the index on due_on bounds what is read.
    this_year = dt.date.today().year
    first = next((y for y in range(this_year - 1, this_year + 10) if not calendar.knows(y)), None)
    if first is None:
        return []
    query = (
        select(Deadline.starts_on, Deadline.due_on)
        .join(Tip, Tip.id == Deadline.tip_id)
        .where(
            Deadline.due_on >= dt.date(first, 1, 1),
            Deadline.met_on.is_(None),
            Deadline.calendar_fallback.is_(True),
        )
    )
    if condition is not None:
        query = query.where(condition)
    spans = list(session.execute(query.distinct()))
    if condition is None or case_condition is not None:
        cases = (
            select(CaseDeadline.starts_on, CaseDeadline.due_on)
            .join(Case, Case.id == CaseDeadline.case_id)
            .where(
                CaseDeadline.due_on >= dt.date(first, 1, 1),
                CaseDeadline.met_at.is_(None),
                CaseDeadline.calendar_fallback.is_(True),
            )
        )
        if case_condition is not None:
            cases = cases.where(case_condition)
        spans.extend(session.execute(cases.distinct()))
    years: set[int] = set()
    for starts_on, due_on in spans:
        years.update(
            year for year in range(starts_on.year, due_on.year + 1) if not calendar.knows(year)
        )
    return sorted(years)


@dataclass
class Waiting:
    """What the next notices announce, read from stored state rather than from what one
    sweep changed, so a run whose mail failed leaves it for the retry to send."""

    due_soon: set[str] = field(default_factory=set)
    escalated: set[str] = field(default_factory=set)
    # The same for cases, by case id.
    cases_due_soon: set[str] = field(default_factory=set)
    cases_escalated: set[str] = field(default_factory=set)
    # The newest escalation audit entry covered: the next notices start after it.
    through: int = 0


NOTICES_SENT = "notices.sent"


def waiting(session: Session, today: dt.date) -> Waiting:
    """The open items to announce: escalations not yet announced, and items due soon unless
    notices already went out ``today`` (so the daily due-soon notice goes once a day).

    Both come from what is stored, so a sweep whose e-mail failed (and was committed before
    the send) is announced by its retry or by the next day's run; an announcement counts
    only once ``mark_sent`` has recorded it, after a successful send."""
    last = session.scalars(
        select(AuditEvent).where(AuditEvent.action == NOTICES_SENT)
        .order_by(AuditEvent.id.desc()).limit(1)
    ).first()  # fmt: skip
    since, sent_on = 0, None
    if last is not None:
        detail = json.loads(last.detail)
        since, sent_on = int(detail["through"]), detail["day"]
    found = Waiting(through=since)
    escalations = session.execute(
        select(AuditEvent.id, AuditEvent.tip_id, AuditEvent.detail).where(
            AuditEvent.action == "deadline.escalate", AuditEvent.id > since
        )
    ).all()
    if escalations:
        found.through = max(row.id for row in escalations)
        # Only what still waits: a deadline met since its escalation needs no notice.
        found.escalated = set(session.scalars(
            select(Deadline.tip_id).where(
                Deadline.tip_id.in_({row.tip_id for row in escalations if row.tip_id}),
                Deadline.met_on.is_(None), Deadline.escalated.is_(True),
            )
        ))  # fmt: skip
        # A case's escalation names the case in its detail (sweep).
        cases = {_case_of(row.detail) for row in escalations if row.tip_id is None} - {None}
        found.cases_escalated = set(session.scalars(
            select(CaseDeadline.case_id).where(
                CaseDeadline.case_id.in_(cases), CaseDeadline.met_at.is_(None),
                CaseDeadline.escalated.is_(True),
            )
        )) if cases else set()  # fmt: skip
    if sent_on != today.isoformat():
        found.due_soon = set(session.scalars(
            select(Deadline.tip_id).where(Deadline.met_on.is_(None), Deadline.state == "due_soon")
        ))  # fmt: skip
        found.cases_due_soon = set(session.scalars(
            select(CaseDeadline.case_id).where(
                CaseDeadline.met_at.is_(None), CaseDeadline.state == "due_soon"
            )
        ))  # fmt: skip
    return found


def _case_of(detail: str) -> str | None:
    try:
        case = json.loads(detail).get("case")
    except (ValueError, AttributeError):
        return None
    return case if isinstance(case, str) else None


def mark_sent(session: Session, today: dt.date, sent: Waiting, addresses: int) -> None:
    """Record that the notices for ``sent`` went out; called only after the send worked.

    If this commit fails after a send, the retry sends again: twice is better than never."""
    record(session, NOTICES_SENT, actor=None, day=today.isoformat(), through=sent.through,
           addresses=addresses)  # fmt: skip


def recipients(session: Session, result: Waiting | SweepResult) -> dict[str, int]:
    """E-mail address → how many waiting items (tips and cases) that officer may see.

    Escalations go to supervisors; items due soon to everyone who may work them. The count
    is computed through the same scoping as the inbox and the board, so no notice reveals
    a tip or a case its reader cannot see; the notice itself says only that items wait."""
    found: dict[str, int] = {}
    # Only the columns a notice needs: the worker's database role may read no more of an
    # officer (intake/roles.py), not the password hash nor the sealed TOTP secret.
    officers = session.execute(
        select(Officer.id, Officer.role, Officer.bureau, Officer.region, Officer.email).where(
            Officer.active.is_(True), Officer.email.is_not(None)
        )
    ).all()
    for officer in officers:
        supervisor = officer.role == "supervisor"
        wanted = set(result.due_soon) | (set(result.escalated) if supervisor else set())
        cases = set(result.cases_due_soon) | (set(result.cases_escalated) if supervisor else set())
        count = 0
        if wanted:
            tips = select(func.count()).where(scope.visibility(officer), Tip.id.in_(wanted))
            count += session.scalar(tips) or 0
        if cases:
            # The case's own scoping (scope.case_visibility): the officers of the bureau
            # holding it and of the agency that handed it over, their supervisors, the
            # intake desk of its jurisdiction; a sealed sub-case, discipline inspection.
            count += session.scalar(
                select(func.count()).select_from(Case)
                .where(scope.case_visibility(officer), Case.id.in_(cases))
            ) or 0  # fmt: skip
        if count and officer.email:
            found[officer.email] = count
    return found


LOCAL_RELAYS = frozenset({"localhost", "127.0.0.1", "::1"})


class MailError(Exception):
    """The mail settings would send a password or the notices unprotected."""


def smtp_address(smtp_url: str) -> tuple[str, int]:
    """Host and port of ``TIPLINE_SMTP_URL``. Without a port: 465 for ``smtps://``; for
    ``smtp://``, 25 on a relay on this machine (where a stock Postfix or Exim listens, and
    where ``smtp://localhost`` always meant port 25), else 587 (submission, RFC 6409)."""
    parts = urlsplit(smtp_url)
    if parts.scheme not in ("smtp", "smtps"):
        raise MailError(f"TIPLINE_SMTP_URL: use smtp:// or smtps://, not {parts.scheme}://")
    host = parts.hostname or "localhost"
    if parts.port:
        return host, parts.port
    if parts.scheme == "smtps":
        return host, 465
    return host, 25 if host in LOCAL_RELAYS else 587


def tls_context(host: str, *, login: bool, ca_file: str | None) -> ssl.SSLContext:
    """The TLS settings for ``host``: its certificate verified, except on one path.

    A relay on this machine, spoken to without a login and with no ``ca_file`` given, may
    show any certificate. That traffic never leaves the host, so a verified certificate
    would protect nothing an attacker could reach: anyone who can answer on loopback
    already runs code here. And the stock certificate of a local relay is self-signed
    (Debian's Postfix uses the snakeoil one, named after the host), so requiring it to
    verify made the local path fail whenever the relay offered STARTTLS. A login, or any
    other host, needs the certificate verified: a password must reach only the server it
    belongs to, and notices must not go to whoever sits on the network path."""
    context = ssl.create_default_context(cafile=ca_file)
    if host in LOCAL_RELAYS and not login and ca_file is None:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def send_notices(
    smtp_url: str,
    sender: str,
    addresses: dict[str, int],
    *,
    password: str | None = None,
    ca_file: str | None = None,
    compose: Callable[[int], tuple[str, str]] | None = None,
) -> None:
    """Send the notices through ``smtp_url``; ``compose`` makes each one's subject and body
    from its count (the alert digest, triage/tips/alerts.py), else they are ``SUBJECT``/``BODY``.

    ``smtps://[user@]host[:465]`` speaks TLS from the start; ``smtp://[user@]host[:587]``
    must upgrade with STARTTLS, except to a relay on this machine (port 25 by default),
    which may take plain SMTP without a login. The server's certificate is checked against
    the system's authorities or ``ca_file`` (see ``tls_context`` for the one exception).
    With a user, ``password`` logs in, only ever over TLS."""
    parts = urlsplit(smtp_url)
    host, port = smtp_address(smtp_url)
    if parts.password:
        raise MailError("TIPLINE_SMTP_URL: give the password in TIPLINE_SMTP_PASSWORD(_FILE)")
    context = tls_context(host, login=bool(parts.username), ca_file=ca_file)
    smtp: smtplib.SMTP
    if parts.scheme == "smtps":
        smtp = smtplib.SMTP_SSL(host, port, timeout=30, context=context)
    else:
        smtp = smtplib.SMTP(host, port, timeout=30)
    with smtp:
        if parts.scheme == "smtp":
            smtp.ehlo()
            if smtp.has_extn("starttls"):
                smtp.starttls(context=context)
                smtp.ehlo()
            elif host not in LOCAL_RELAYS or parts.username:
                raise MailError(f"{host} does not offer STARTTLS: notices are not sent in clear")
        if parts.username:
            if password is None:
                raise MailError("TIPLINE_SMTP_URL names a user: set TIPLINE_SMTP_PASSWORD")
            smtp.login(unquote(parts.username), password)
        for address in sorted(addresses):
            subject, body = (SUBJECT, BODY) if compose is None else compose(addresses[address])
            message = EmailMessage()
            message["From"] = sender
            message["To"] = address
            message["Subject"] = subject
            message.set_content(body)
            smtp.send_message(message)
