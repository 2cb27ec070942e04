"""The inbox: what each row says, the officer's read marks, and the search.

The page (views.inbox) and the API (api.tips) list the same tips with the same filters:
both build a ``Search`` and call ``apply`` on the scoped query, so a filter can narrow what
an officer sees and never widen it (scope.visible_tips stays the first condition).

Read marks: opening a tip records the highest timeline id the page showed (``TipRead``).
A later timeline entry of the reporter's (a message, evidence, their name) is "new from the
reporter". The timeline's ids only grow, so the comparison needs no time of day: nothing
dates a reporter's action more finely than the day (DESIGN.md, "Anonymity").
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from tipline.intake import reference
from tipline.intake.models import Deadline, Officer, Tip, TipEvent, TipRead
from tipline.intake.reference import N_, Region, Term
from tipline.intake.workdays import Calendar
from tipline.triage import scope

# The plaintext bands of intake/submit.py, in words (the amount as written stays sealed).
AMOUNT_BANDS: tuple[Term, ...] = (
    Term("lt3k", N_("Under 3,000 yuan")),
    Term("3k-10k", N_("3,000 to 10,000 yuan")),
    Term("10k-30k", N_("10,000 to 30,000 yuan")),
    Term("30k-100k", N_("30,000 to 100,000 yuan")),
    Term("100k-500k", N_("100,000 to 500,000 yuan")),
    Term("500k+", N_("500,000 yuan or more")),
)

# The clocks of the rule packs (domain.md section 3), named by what they ask.
RULES: tuple[Term, ...] = (
    Term("T1", N_("Decide whether to accept")),
    Term("T2", N_("Tell the reporter whether it is accepted")),
)

# Timeline entries that are the reporter's doing (intake/followup.py).
REPORTER_EVENTS = ("message.reporter", "evidence_added", "identity_added")


@dataclass
class Search:
    """The inbox's filters, checked: every value is a code from its list or None."""

    tip_id: str | None = None
    received_from: dt.date | None = None
    received_to: dt.date | None = None
    region: str | None = None
    amount_band: str | None = None
    channel: str | None = None
    real_name: bool | None = None
    status: str | None = None
    bureau: str | None = None
    category: str | None = None
    overdue: bool = False
    mine: bool = False


def apply(query: Select[Any], search: Search, viewer: scope.Viewer, today: dt.date) -> Any:
    """``query`` (already scoped to the viewer) narrowed by ``search``."""
    if search.tip_id:
        query = query.where(Tip.id.startswith(search.tip_id, autoescape=True))
    if search.received_from:
        query = query.where(Tip.received_on >= search.received_from)
    if search.received_to:
        query = query.where(Tip.received_on <= search.received_to)
    if search.region:
        query = query.where(place_within(search.region))
    for column, value in (
        (Tip.amount_band, search.amount_band),
        (Tip.channel, search.channel),
        (Tip.status, search.status),
        (Tip.bureau, search.bureau),
        (Tip.category, search.category),
    ):
        if value:
            query = query.where(column == value)
    if search.real_name is not None:
        query = query.where(Tip.real_name.is_(search.real_name))
    if search.overdue:
        query = query.where(Tip.next_due < today)
    if search.mine:
        query = query.where(Tip.assigned_to == viewer.id)
    return query


def place_within(code: str) -> ColumnElement[bool]:
    """Tips that happened in the region ``code`` (a province, city or county)."""
    if code.endswith("0000"):
        return Tip.region.startswith(code[:2])
    if code.endswith("00"):
        return Tip.region.startswith(code[:4])
    return Tip.region == code


def within(outer: str | None, code: str) -> bool:
    """Whether region ``code`` lies inside the jurisdiction ``outer``."""
    if outer is None or len(outer) != 6 or code not in reference.regions():
        return False
    if outer.endswith("0000"):
        return code[:2] == outer[:2]
    if outer.endswith("00"):
        return code[:4] == outer[:4]
    return code == outer


def region_lists(viewer: scope.Viewer, city: str | None) -> tuple[list[Region], list[Region]]:
    """The region picker's lists below the viewer's own office, as on the portal: a
    province's officer chooses a city, then a county of it; a city's officer a county; a
    county's officer has nothing to choose."""
    office = viewer.region or ""
    if office not in reference.regions():
        return [], []
    if office.endswith("0000"):
        cities = reference.children(office)
        counties = reference.children(city) if city in {r.code for r in cities} else []
        return cities, counties
    if office.endswith("00"):
        return [], reference.children(office)
    return [], []


def chooses_bureau(viewer: scope.Viewer, leads: set[str]) -> bool:
    """Whether a lead bureau is worth choosing: the intake desk sees every bureau's tips; a
    bureau's officer only when it co-handles tips another bureau leads."""
    if viewer.bureau == scope.INTAKE_DESK and viewer.role in ("triage_officer", "supervisor"):
        return True
    return bool(leads - {viewer.bureau})


def present(session: Session, viewer: scope.Viewer, column: Any) -> set[Any]:
    """The values of ``column`` among the tips the viewer sees (so the filters offer only
    what would find something)."""
    return set(session.scalars(select(column).where(scope.visibility(viewer)).distinct()).all()) - {
        None
    }


# Read marks.


def mark_read(session: Session, officer_id: int, tip_id: str, today: dt.date) -> None:
    """Record that ``officer_id`` has opened the tip and seen its timeline up to now."""
    seen = session.scalar(select(func.max(TipEvent.id)).where(TipEvent.tip_id == tip_id)) or 0
    values = {"officer_id": officer_id, "tip_id": tip_id, "read_on": today, "seen_event": seen}
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(TipRead).values(**values)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["officer_id", "tip_id"],
            set_={
                "read_on": statement.excluded.read_on,
                "seen_event": statement.excluded.seen_event,
            },
        )
    )


@dataclass
class Marks:
    unread: set[str] = field(default_factory=set)
    news: set[str] = field(default_factory=set)


def marks(session: Session, officer_id: int, tip_ids: Sequence[str]) -> Marks:
    """Which of ``tip_ids`` the officer never opened, and which have news from the reporter
    since they last did."""
    if not tip_ids:
        return Marks()
    seen = dict(
        session.execute(
            select(TipRead.tip_id, TipRead.seen_event).where(
                TipRead.officer_id == officer_id, TipRead.tip_id.in_(tip_ids)
            )
        ).all()
    )
    latest = dict(
        session.execute(
            select(TipEvent.tip_id, func.max(TipEvent.id))
            .where(TipEvent.tip_id.in_(tip_ids), TipEvent.kind.in_(REPORTER_EVENTS))
            .group_by(TipEvent.tip_id)
        ).all()
    )
    found = Marks()
    for tip_id in tip_ids:
        if tip_id not in seen:
            found.unread.add(tip_id)
        elif latest.get(tip_id, 0) > seen[tip_id]:
            found.news.add(tip_id)
    return found


def unread_count(session: Session, viewer: scope.Viewer) -> int:
    read = select(TipRead.tip_id).where(TipRead.officer_id == viewer.id)
    return (
        session.scalar(select(func.count()).where(scope.visibility(viewer), Tip.id.not_in(read)))
        or 0
    )


def usernames(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = session.execute(select(Officer.id, Officer.username).where(Officer.id.in_(wanted)))
    return {officer_id: name for officer_id, name in rows}


# What a row says, in words.


def place_name(code: str, office: str | None) -> str:
    """The region's name without the levels the officer's own office already says: 陆丰市
    for an officer of 汕尾市, 广东省汕尾市陆丰市 for one of another city."""
    path = reference.region_path(code)
    if not path:
        return code
    own = {r.code for r in reference.region_path(office or "")}
    below = [r for r in path if r.code not in own]
    return "".join(r.name for r in below or path[-1:])


def age(tip: Tip, today: dt.date, calendar: Calendar) -> str:
    """Working days and calendar days since the tip was received (the day of receipt is not
    counted, as in the deadlines: 刑诉法 art.105, domain.md section 3)."""
    days = max(0, (today - tip.received_on).days)
    working = calendar.working_days_between(tip.received_on, today)
    if days == 0:
        return _("Received today")
    return _(
        "%(working)s, %(days)s",
        working=ngettext("%(num)s working day", "%(num)s working days", working),
        days=ngettext("%(num)s day", "%(num)s days", days),
    )


def nearest(tip: Tip) -> Deadline | None:
    """The tip's nearest open deadline."""
    open_ = [d for d in tip.deadlines if d.met_on is None]
    return min(open_, key=lambda d: (d.due_on, d.id)) if open_ else None


def deadline_words(deadline: Deadline, today: dt.date, calendar: Calendar) -> str:
    """How long is left, or how long it is overdue, in the clock's own unit."""
    working = deadline.unit == "working_days"

    def count(start: dt.date, end: dt.date) -> int:
        return calendar.working_days_between(start, end) if working else (end - start).days

    if deadline.due_on == today:
        return _("due today")
    if deadline.due_on > today:
        left = count(today, deadline.due_on)
        if working:
            return ngettext("%(num)s working day left", "%(num)s working days left", left)
        return ngettext("%(num)s day left", "%(num)s days left", left)
    late = count(deadline.due_on, today)
    if working:
        return ngettext("overdue by %(num)s working day", "overdue by %(num)s working days", late)
    return ngettext("overdue by %(num)s day", "overdue by %(num)s days", late)


def rule_name(code: str) -> str:
    label = reference.label(RULES, code)
    return _(label) if label != code else code
