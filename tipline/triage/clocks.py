"""Keeping the statutory clocks: mark deadlines due soon and overdue, escalate, notify.

``sweep`` runs as a scheduled rq job (``jobs.sweep_deadlines``) or from the command line
(``tipline deadlines sweep``) where there is no Redis. Notices to officers say only that
something is waiting, never what (DESIGN.md, "Anonymity").

``recompute`` moves every open clock after a calendar correction or a year's holiday
notice: its due date again from its start, amount and unit; met clocks are history.
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

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tipline.intake.models import AuditEvent, Deadline, Officer, Tip
from tipline.intake.workdays import Calendar, load_calendar
from tipline.triage import scope
from tipline.triage.audit import record

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


def sweep(session: Session, today: dt.date, calendar: Calendar) -> SweepResult:
    """Update every open deadline's state; escalate newly overdue ones to supervisors."""
    result = SweepResult()
    open_deadlines = session.scalars(
        select(Deadline).where(Deadline.met_on.is_(None)).order_by(Deadline.id)
    )
    for deadline in open_deadlines:
        if deadline.due_on < today:
            deadline.state = "overdue"
            result.overdue.add(deadline.tip_id)
            if not deadline.escalated:
                deadline.escalated = True
                result.escalated.add(deadline.tip_id)
                record(
                    session, "deadline.escalate", actor=None, tip_id=deadline.tip_id,
                    rule=deadline.rule, due=deadline.due_on.isoformat(),
                )  # fmt: skip
        elif calendar.working_days_between(today, deadline.due_on) <= SOON:
            deadline.state = "due_soon"
            result.due_soon.add(deadline.tip_id)
    return result


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
    if deadline.due_on < today:
        return "overdue"
    if calendar.working_days_between(today, deadline.due_on) <= SOON:
        return "due_soon"
    return "open"


@dataclass(frozen=True)
class Moved:
    tip_id: str
    rule: str
    was: dt.date
    now: dt.date
    fallback: bool


def recompute(session: Session, today: dt.date, actor: str, reason: str) -> list[Moved]:
    """Every open clock's due date again, with the calendar as it now stands (after a
    correction or a year's notice). Met clocks are left as they were: they are history.

    Each clock that moves, or stops resting on the Monday-Friday fallback, is recorded in
    the audit log with its old and new date; the tip's nearest due date follows. A clock
    that moves later than it was is no longer overdue, and its escalation is kept on
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
    return moved


def fallback_years(session: Session, calendar: Calendar, condition: object = None) -> list[int]:
    """The years without an official calendar that open clocks rest on (their due date was
    counted Monday-Friday there): what an administrator must enter a notice for.
    ``condition`` limits it to the tips a reader may see."""
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
        query = query.where(condition)  # type: ignore[arg-type]
    years: set[int] = set()
    for starts_on, due_on in session.execute(query.distinct()):
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
        select(AuditEvent.id, AuditEvent.tip_id).where(
            AuditEvent.action == "deadline.escalate", AuditEvent.id > since
        )
    ).all()
    if escalations:
        found.through = max(row.id for row in escalations)
        # Only what still waits: a deadline met since its escalation needs no notice.
        found.escalated = set(session.scalars(
            select(Deadline.tip_id).where(
                Deadline.tip_id.in_({row.tip_id for row in escalations}),
                Deadline.met_on.is_(None), Deadline.escalated.is_(True),
            )
        ))  # fmt: skip
    if sent_on != today.isoformat():
        found.due_soon = set(session.scalars(
            select(Deadline.tip_id).where(Deadline.met_on.is_(None), Deadline.state == "due_soon")
        ))  # fmt: skip
    return found


def mark_sent(session: Session, today: dt.date, sent: Waiting, addresses: int) -> None:
    """Record that the notices for ``sent`` went out; called only after the send worked.

    If this commit fails after a send, the retry sends again: twice is better than never."""
    record(session, NOTICES_SENT, actor=None, day=today.isoformat(), through=sent.through,
           addresses=addresses)  # fmt: skip


def recipients(session: Session, result: Waiting | SweepResult) -> dict[str, int]:
    """E-mail address → how many waiting items that officer may see.

    Escalations go to supervisors; items due soon to everyone who may work them. The count
    is computed through the same scoping as the inbox, so no notice reveals a tip its
    reader cannot see."""
    found: dict[str, int] = {}
    # Only the columns a notice needs: the worker's database role may read no more of an
    # officer (intake/roles.py), not the password hash nor the sealed TOTP secret.
    officers = session.execute(
        select(Officer.id, Officer.role, Officer.bureau, Officer.region, Officer.email).where(
            Officer.active.is_(True), Officer.email.is_not(None)
        )
    ).all()
    for officer in officers:
        wanted = set(result.due_soon) | (
            set(result.escalated) if officer.role == "supervisor" else set()
        )
        if not wanted:
            continue
        count = session.scalar(
            select(func.count()).where(scope.visibility(officer), Tip.id.in_(wanted))
        )
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
