"""Alerts (待办提醒): what waits for an officer, counted in the menu and sent as a digest.

Not to be confused with ``notices`` (告知, domain.md T2: what a reporter is told). An
officer is alerted to four things, each on a tip they can see now:

- ``new_tip``: an undecided tip of theirs they have never opened (the intake desk's while
  no bureau leads it; a bureau's once it leads or co-handles it);
- ``reply``: the reporter wrote or added evidence through the portal since the officer last
  opened the tip, and no officer has written to the reporter since;
- ``identity``: a request to open a reporter's identity waits for a supervisor, and this
  supervisor did not make it (nobody decides their own, decisions.decide_identity);
- ``deadline``: a clock the officer works is due soon or overdue, as the worker's sweep
  marked it (clocks.sweep).

Alerts are derived when they are read, never stored: every query starts from
``scope.visibility``, so a transfer, a recusal or a seal takes an alert away at once, and the
portal, whose database role may not read officers (intake/roles.py), has nothing to write
when a reporter replies: the reply is already on the tip's timeline. What is stored is only
what each officer has been shown (``AlertMark``): per tip and kind, the version of the alert
they saw (an id, or a deadline's state), with no date or time, so nothing here dates a
reporter's action more finely than the timeline's day. Opening a tip, or the alerts page,
marks what it shows as seen; the menu counts what is not.

The digest (``digest_counts``, sent by the worker's ``jobs.send_alert_digest``) tells each
active officer with an e-mail address how many alerts wait, and the site's address: no tip
id, no kind, no category (DESIGN.md: "Notifications to officers say that something is
waiting, never what").
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from tipline.intake.models import (
    AlertMark,
    AuditEvent,
    Deadline,
    IdentityRequest,
    Officer,
    Tip,
    TipEvent,
)
from tipline.intake.reference import N_
from tipline.triage import scope
from tipline.triage.audit import record

NEW_TIP, REPLY, IDENTITY, DEADLINE = "new_tip", "reply", "identity", "deadline"
KINDS = (DEADLINE, IDENTITY, REPLY, NEW_TIP)  # the order the page lists them in
# A mark of this kind holds the newest timeline entry when the officer last opened the tip.
OPENED = "opened"
# What the reporter does through the portal (intake/followup.py), and an officer's answer.
REPORTER_EVENTS = ("message.reporter", "evidence_added", "identity_added")
OFFICER_ANSWER = "message.officer"
# As decisions.UNDECIDED (not imported: decisions imports the whole decision machinery).
UNDECIDED = ("received", "screened", "transferred_out")

# What each alert says, in the reader's language (the page translates these).
TERMS = {
    NEW_TIP: N_("New tip"),
    REPLY: N_("The reporter wrote or added evidence"),
    IDENTITY: N_("An identity request waits for your decision"),
    DEADLINE: N_("A deadline is near or past"),
}
DEADLINE_TERMS = {"due_soon": N_("due soon"), "overdue": N_("overdue")}


@dataclass(frozen=True)
class Alert:
    tip_id: str
    kind: str
    # What a mark must hold for this alert to count as seen: a newer reply, request or a
    # deadline gone overdue is a new version, and counts again.
    version: str
    # The day it refers to: the tip's receipt, the reply's, the request's, the due date.
    on: dt.date
    seen: bool
    # For deadlines: its rule (T1, T2 ...) and state (due_soon, overdue).
    rule: str | None = None
    state: str | None = None


def current(session: Session, viewer: scope.Viewer, tip_id: str | None = None) -> list[Alert]:
    """Every alert ``viewer`` has now (on ``tip_id`` only, if given), unseen first, then by
    kind and day."""
    if viewer.role not in scope.TIP_ROLES or viewer.bureau is None:
        return []
    marks = _marks(session, viewer.id)
    # Always true, or the one tip: every query below starts from the viewer's scope.
    where = (
        scope.visibility(viewer)
        if tip_id is None
        else and_(scope.visibility(viewer), Tip.id == tip_id)
    )
    found = [
        *_deadlines(session, viewer, where),
        *_identity_requests(session, viewer, where),
        *_replies(session, where, marks),
        *_new_tips(session, viewer, where),
    ]
    alerts = [
        Alert(
            tip_id=a.tip_id,
            kind=a.kind,
            version=a.version,
            on=a.on,
            seen=marks.get((a.tip_id, a.kind)) == a.version,
            rule=a.rule,
            state=a.state,
        )  # fmt: skip
        for a in found
    ]
    alerts.sort(key=lambda a: (a.seen, KINDS.index(a.kind), a.on, a.tip_id))
    return alerts


def unseen_count(session: Session, viewer: scope.Viewer) -> int:
    return sum(not alert.seen for alert in current(session, viewer))


def mark_seen(session: Session, viewer: scope.Viewer, alerts: Iterable[Alert]) -> None:
    """Record that ``viewer`` has been shown ``alerts``."""
    for alert in alerts:
        if not alert.seen:
            _put(session, viewer.id, alert.tip_id, alert.kind, alert.version)


def mark_opened(session: Session, viewer: scope.Viewer, tip_id: str) -> None:
    """``viewer`` opened the tip: its new-tip and reply alerts end, the others are seen."""
    if not scope.can_see(session, viewer, tip_id):
        return
    newest = session.scalar(select(func.max(TipEvent.id)).where(TipEvent.tip_id == tip_id))
    _put(session, viewer.id, tip_id, OPENED, str(newest or 0))
    mark_seen(session, viewer, current(session, viewer, tip_id))


def _put(session: Session, officer_id: int, tip_id: str, kind: str, seen: str) -> None:
    """Insert or replace one mark in a single statement, so that two tabs opening the same
    tip at once cannot collide on the key."""
    values = {"officer_id": officer_id, "tip_id": tip_id, "kind": kind, "seen": seen}
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(AlertMark).values(**values)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["officer_id", "tip_id", "kind"], set_={"seen": seen}
        )
    )


def _marks(session: Session, officer_id: int) -> dict[tuple[str, str], str]:
    rows = session.execute(
        select(AlertMark.tip_id, AlertMark.kind, AlertMark.seen).where(
            AlertMark.officer_id == officer_id
        )
    )
    return {(row.tip_id, row.kind): row.seen for row in rows}


def _co_handler(viewer: scope.Viewer) -> ColumnElement[bool]:
    """The tip has a lead other than the viewer's bureau, and the viewer's is beside it."""
    return and_(
        Tip.bureau.is_not(None),
        Tip.bureau != viewer.bureau,
        Tip.co_bureaus.contains(f",{viewer.bureau},", autoescape=True),
    )


def _new_tips(session: Session, viewer: scope.Viewer, where: ColumnElement[bool]) -> list[Alert]:
    opened = select(AlertMark.tip_id).where(
        AlertMark.officer_id == viewer.id, AlertMark.kind == OPENED
    )
    # The intake desk's while no bureau leads; then the lead's and co-handlers' (domain.md
    # section 2), not the desk's any more.
    theirs = or_(
        Tip.bureau.is_(None),
        Tip.bureau == viewer.bureau,
        Tip.co_bureaus.contains(f",{viewer.bureau},", autoescape=True),
    )
    rows = session.execute(
        select(Tip.id, Tip.received_on).where(
            where, Tip.status.in_(UNDECIDED), theirs, Tip.id.not_in(opened)
        )
    )
    return [Alert(row.id, NEW_TIP, "1", row.received_on, False) for row in rows]


def _replies(
    session: Session, where: ColumnElement[bool], marks: dict[tuple[str, str], str]
) -> list[Alert]:
    # The reporter's newest event on each tip in scope (the scope first, so an index on the
    # officer's jurisdiction narrows the events read), then the officers' answers on those.
    rows = session.execute(
        select(TipEvent.tip_id, func.max(TipEvent.id).label("last"))
        .join(Tip, Tip.id == TipEvent.tip_id)
        .where(where, TipEvent.kind.in_(REPORTER_EVENTS))
        .group_by(TipEvent.tip_id)
    ).all()
    if not rows:
        return []
    answers = {
        row.tip_id: row.last
        for row in session.execute(
            select(TipEvent.tip_id, func.max(TipEvent.id).label("last"))
            .where(TipEvent.kind == OFFICER_ANSWER, TipEvent.tip_id.in_({r.tip_id for r in rows}))
            .group_by(TipEvent.tip_id)
        )
    }
    waiting = {
        row.tip_id: row.last
        for row in rows
        if row.last > max(answers.get(row.tip_id, 0), int(marks.get((row.tip_id, OPENED), "0")))
    }
    if not waiting:
        return []
    days = {
        row.id: row.on
        for row in session.execute(
            select(TipEvent.id, TipEvent.on).where(TipEvent.id.in_(waiting.values()))
        )
    }
    return [Alert(tip_id, REPLY, str(last), days[last], False) for tip_id, last in waiting.items()]


def _identity_requests(
    session: Session, viewer: scope.Viewer, where: ColumnElement[bool]
) -> list[Alert]:
    if viewer.role != "supervisor":
        return []
    rows = session.execute(
        select(
            IdentityRequest.tip_id,
            func.max(IdentityRequest.id).label("last"),
            func.min(IdentityRequest.requested_on).label("on"),
        )
        .join(Tip, Tip.id == IdentityRequest.tip_id)
        .where(
            IdentityRequest.state == "pending",
            IdentityRequest.requester_id != viewer.id,
            where,
        )
        .group_by(IdentityRequest.tip_id)
    )
    return [Alert(row.tip_id, IDENTITY, str(row.last), row.on, False) for row in rows]


def _deadlines(session: Session, viewer: scope.Viewer, where: ColumnElement[bool]) -> list[Alert]:
    # A co-handling bureau works its own clock; the tip's own is the desk's and the lead's.
    theirs = or_(
        Deadline.bureau == viewer.bureau,
        and_(Deadline.bureau.is_(None), ~_co_handler(viewer)),
    )
    rows = session.execute(
        select(Deadline.tip_id, Deadline.id, Deadline.rule, Deadline.state, Deadline.due_on)
        .join(Tip, Tip.id == Deadline.tip_id)
        .where(
            Deadline.met_on.is_(None),
            Deadline.state.in_(("due_soon", "overdue")),
            theirs,
            where,
        )
        .order_by(Deadline.due_on, Deadline.id)
    ).all()
    worst: dict[str, Alert] = {}
    for row in rows:
        alert = Alert(
            row.tip_id, DEADLINE, f"{row.state}:{row.id}", row.due_on, False,
            rule=row.rule, state=row.state,
        )  # fmt: skip
        kept = worst.get(row.tip_id)
        # One alert per tip: its overdue clock before one due soon, the earliest first.
        if kept is None or (kept.state == "due_soon" and row.state == "overdue"):
            worst[row.tip_id] = alert
    return list(worst.values())


# The digest.

DIGEST_SENT = "alerts.digest"
CHINA = ZoneInfo("Asia/Shanghai")
# Digests are counted from a morning in Beijing, after the 07:00 deadline sweep, so a daily
# digest goes out at 08:00 with the day's deadline states.
DIGEST_EPOCH = dt.datetime(2000, 1, 1, 8, 0, tzinfo=CHINA)


def digest_slot(now: dt.datetime, hours: int) -> dt.datetime:
    """The start of the period of ``hours`` that ``now`` falls in (a digest goes once in each)."""
    step = dt.timedelta(hours=hours)
    return (DIGEST_EPOCH + ((now - DIGEST_EPOCH) // step) * step).astimezone(dt.UTC)


def next_digest_time(now: dt.datetime, hours: int) -> dt.datetime:
    return digest_slot(now, hours) + dt.timedelta(hours=hours)


def digest_sent(session: Session, slot: dt.datetime) -> bool:
    """Whether the digest of the period starting at ``slot`` has gone out already."""
    last = session.scalars(
        select(AuditEvent.detail).where(AuditEvent.action == DIGEST_SENT)
        .order_by(AuditEvent.id.desc()).limit(1)
    ).first()  # fmt: skip
    return last is not None and json.loads(last).get("period") == slot.isoformat()


def mark_digest_sent(session: Session, slot: dt.datetime) -> None:
    """Recorded once per period whether anyone was written to or not, and with no count: the
    log then says nothing of when alerts came and went."""
    record(session, DIGEST_SENT, actor=None, period=slot.isoformat())


def digest_counts(session: Session) -> dict[str, int]:
    """E-mail address → how many unseen alerts that officer has, for every active officer
    with an address and at least one. Only the columns the worker's role may read of an
    officer (intake/roles.py)."""
    officers = session.execute(
        select(Officer.id, Officer.role, Officer.bureau, Officer.region, Officer.email)
        .where(
            Officer.active.is_(True),
            Officer.email.is_not(None),
            Officer.role.in_(scope.TIP_ROLES),
        )
        .order_by(Officer.id)
    ).all()
    found: dict[str, int] = {}
    for officer in officers:
        count = unseen_count(session, officer)
        if count and officer.email:
            found[officer.email] = found.get(officer.email, 0) + count
    return found


def digest_text(count: int, site: str | None) -> tuple[str, str]:
    """The digest's subject and body: how many, and where to sign in; nothing else."""
    where_zh = f"请登录举报线索分办系统查看：{site}" if site else "请登录举报线索分办系统查看。"
    where_en = f"Sign in to see them: {site}" if site else "Sign in to see them."
    return (
        f"tipline: {count} alerts are waiting for you",
        f"您有 {count} 项待办提醒。{where_zh}\n\n"
        f"You have {count} alerts waiting in the tip triage system. {where_en}\n",
    )


def as_json(alerts: Sequence[Alert]) -> list[dict[str, object]]:
    """The alerts as the internal API gives them: codes and days, nothing decrypted."""
    return [
        {
            "tip_id": a.tip_id,
            "kind": a.kind,
            "on": a.on.isoformat(),
            "seen": a.seen,
            **({"rule": a.rule, "state": a.state} if a.kind == DEADLINE else {}),
        }
        for a in alerts
    ]
