"""The clocks of a case: started and met by its events, as the rule packs say.

A pack's deadline with ``"from": "<action>"`` starts when that action is taken (or, for
``open``, when the case is opened; for ``police_decided``, on the date of the police's
decision, which comes before their written notice). It is met by the first later action
among its ``met_by``. Working days and calendar days count from the local day the event
happened (刑诉法 art.105: the start day is not counted; a limit ending on a holiday rolls
to the next working day); hours run from the exact instant, through nights and holidays.
"""

from __future__ import annotations

import datetime as dt

from tipline.intake.models import Case, CaseDeadline
from tipline.intake.rules import DeadlineRule
from tipline.intake.submit import CHINA
from tipline.intake.workdays import Calendar

# A clock this close is "due soon": a day limit within one working day (as for tips,
# triage/clocks.py), an hour limit within a day of its instant (T11 and T12 are 24 hours:
# they are due soon from the moment they start, which is what they are).
SOON = 1
SOON_HOURS = 24


def local_day(at: dt.datetime) -> dt.date:
    return aware(at).astimezone(CHINA).date()


def start_of(day: dt.date) -> dt.datetime:
    """The first instant of ``day`` in China: what a sweep or a board given only a day
    compares hour clocks with, so that no clock reads overdue before its day is over."""
    return dt.datetime.combine(day, dt.time(0, 0), tzinfo=CHINA)


def state(
    due_on: dt.date, due_at: dt.datetime | None, today: dt.date, now: dt.datetime,
    calendar: Calendar,
) -> str:  # fmt: skip
    """An open clock's state: "overdue", "due_soon" or "open". Hour clocks (T11, T12) are
    compared by the instant, through nights and holidays; the others by the day (a limit
    ending today is met by anything done today, 刑诉法 art.105)."""
    if due_at is not None:
        left = aware(due_at) - aware(now)
        if left < dt.timedelta(0):
            return "overdue"
        return "due_soon" if left <= dt.timedelta(hours=SOON_HOURS) else "open"
    if due_on < today:
        return "overdue"
    return "due_soon" if calendar.working_days_between(today, due_on) <= SOON else "open"


def due_words(due_on: dt.date, due_at: dt.datetime | None) -> str:
    """The due date as the audit log records it: the day, or the China-time minute of an
    hour clock."""
    if due_at is None:
        return due_on.isoformat()
    return aware(due_at).astimezone(CHINA).strftime("%Y-%m-%d %H:%M")


def due(rule_unit: str, amount: int, at: dt.datetime, calendar: Calendar) -> tuple[
    dt.date, dt.datetime | None, bool
]:  # fmt: skip
    """(due day, due instant for an hour limit, whether the Monday-Friday fallback was used)."""
    if rule_unit == "hours":
        instant = aware(at) + dt.timedelta(hours=amount)
        return local_day(instant), instant, False
    found = calendar.deadline(local_day(at), amount, rule_unit)
    return found.day, None, found.fallback


def start(
    case: Case, rules: list[DeadlineRule], at: dt.datetime, calendar: Calendar, event: str
) -> list[CaseDeadline]:
    started = []
    for rule in rules:
        day, instant, fallback = due(rule.unit, rule.amount, at, calendar)
        deadline = CaseDeadline(
            rule=rule.rule, started_by=event, starts_at=at, starts_on=local_day(at),
            due_on=day, due_at=instant, unit=rule.unit, amount=rule.amount,
            rule_pack=rule.pack, met_by=",".join(rule.met_by), calendar_fallback=fallback,
            state="open",
        )  # fmt: skip
        case.deadlines.append(deadline)
        started.append(deadline)
    return started


def is_late(deadline: CaseDeadline, at: dt.datetime) -> bool:
    if deadline.due_at is not None:
        return aware(at) > aware(deadline.due_at)
    return local_day(at) > deadline.due_on


def meet(
    case: Case, action: str, at: dt.datetime, *, unless_started_by: str | None = None
) -> list[CaseDeadline]:
    """Close every open clock of ``case`` that ``action`` meets; one met after its due time
    stays on record as met late. ``unless_started_by`` leaves the clocks that event started
    for a later call (met at another instant)."""
    met = []
    for deadline in case.deadlines:
        if unless_started_by is not None and deadline.started_by == unless_started_by:
            continue
        if deadline.met_at is None and action in deadline.met_by.split(","):
            deadline.met_at = at
            deadline.closed_by = action
            deadline.state = "met_late" if is_late(deadline, at) else "met"
            met.append(deadline)
    return met


def close_all(case: Case, action: str, at: dt.datetime) -> None:
    """A closed case waits for nothing more: its open clocks end with the closing, as
    "lapsed", not "met" (the act they waited for never came; statistics must not count
    them as kept)."""
    for deadline in case.deadlines:
        if deadline.met_at is None:
            deadline.met_at = at
            deadline.closed_by = action
            deadline.state = "lapsed"


def nearest_due(case: Case) -> dt.date | None:
    return min((d.due_on for d in case.deadlines if d.met_at is None), default=None)


def recount(deadline: CaseDeadline, calendar: Calendar) -> bool:
    """Count an open clock again after a calendar correction; True if its due date moved.
    Hour limits run through holidays, so a correction never moves them."""
    if deadline.unit == "hours" or deadline.met_at is not None:
        return False
    day, _instant, fallback = due(deadline.unit, deadline.amount, deadline.starts_at, calendar)
    if day == deadline.due_on and fallback == deadline.calendar_fallback:
        return False
    deadline.due_on, deadline.calendar_fallback = day, fallback
    return True


def aware(at: dt.datetime) -> dt.datetime:
    # SQLite hands back naive datetimes for timezone columns; they were stored as UTC.
    return at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)
