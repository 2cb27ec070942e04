"""Working days and deadline dates for the statutory clocks (domain.md section 3).

Counting follows 刑诉法 art.105: the day a period starts on is not counted, and a period
whose last day is a holiday ends on the next working day instead. 24-hour limits are the
exception: hours run through holidays, so they never roll forward.

The working-day calendar is chinesecalendar's (statutory holidays and 调休 make-up working
days), corrected by the admins' ``CalendarOverride`` rows (a local holiday, a notice the
installed package predates). For a year the package does not know, Monday-Friday is assumed
and the result says so, so a deadline can be flagged and recomputed once the calendar is
updated.
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib.metadata
from calendar import monthrange
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import chinese_calendar
from sqlalchemy import select
from sqlalchemy.orm import Session

from tipline.intake.models import CalendarOverride

UNITS = frozenset({"working_days", "calendar_days", "months", "hours"})
_ONE_DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class DueDate:
    day: dt.date
    # True when any day consulted lay outside chinesecalendar's known years and
    # Monday-Friday was assumed for it (stored as Deadline.calendar_fallback).
    fallback: bool


@functools.lru_cache(maxsize=1 << 16)
def _base_workday(day: dt.date) -> tuple[bool, bool]:
    """(workday?, fallback used?) from chinesecalendar alone; overrides are applied outside
    the cache so that one cache serves every Calendar."""
    try:
        return bool(chinese_calendar.is_workday(day)), False
    except NotImplementedError:
        # The package raises this for a year it has no notice for (before 2004, or a year
        # the State Council has not announced yet when the package was released).
        return day.weekday() < 5, True


@functools.cache
def _calendar_source() -> str:
    return f"chinesecalendar {importlib.metadata.version('chinesecalendar')}"


def _as_date(day: dt.date) -> dt.date:
    # A datetime is a date too; keep times out of due dates and out of the cache keys.
    return day.date() if isinstance(day, dt.datetime) else day


def _require_positive(amount: int) -> None:
    if amount < 1:
        raise ValueError(f"a time limit must be at least 1, not {amount}")


@dataclass(frozen=True)
class Calendar:
    # Admin corrections: date -> is a working day. Copied into a read-only view so the
    # caller's dict cannot change a Calendar after the fact.
    overrides: Mapping[dt.date, bool] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "overrides", MappingProxyType(dict(self.overrides)))

    @property
    def source(self) -> str:
        """Which calendar produced the dates, e.g. "chinesecalendar 1.11.0"."""
        return _calendar_source()

    def is_workday(self, day: dt.date) -> tuple[bool, bool]:
        """(workday?, fallback used?). An override is an explicit answer, never a fallback."""
        day = _as_date(day)
        override = self.overrides.get(day)
        if override is not None:
            return override, False
        return _base_workday(day)

    def _roll_forward(self, day: dt.date, fallback: bool) -> DueDate:
        # 刑诉法 art.105: a period ending on a holiday ends on the next working day.
        overrides = self.overrides
        while True:
            override = overrides.get(day)
            if override is not None:
                workday = override
            else:
                workday, fell_back = _base_workday(day)
                fallback = fallback or fell_back
            if workday:
                return DueDate(day, fallback)
            day += _ONE_DAY

    def add_working_days(self, start: dt.date, count: int) -> DueDate:
        """The count-th working day after start (start itself is not counted)."""
        _require_positive(count)
        day = _as_date(start)
        overrides = self.overrides
        fallback = False
        # Inlined is_workday: this loop is what a bulk recomputation spends its time in.
        while count:
            day += _ONE_DAY
            override = overrides.get(day)
            if override is not None:
                workday = override
            else:
                workday, fell_back = _base_workday(day)
                fallback = fallback or fell_back
            if workday:
                count -= 1
        return DueDate(day, fallback)

    def add_calendar_days(self, start: dt.date, count: int) -> DueDate:
        """start + count days, rolled forward to a working day."""
        _require_positive(count)
        return self._roll_forward(_as_date(start) + dt.timedelta(days=count), False)

    def add_months(self, start: dt.date, months: int) -> DueDate:
        """The same day-of-month months later (刑诉法 art.172 "一个月"), clamped to the end of
        a shorter month, then rolled forward to a working day."""
        _require_positive(months)
        start = _as_date(start)
        years, month_index = divmod(start.month - 1 + months, 12)
        year, month = start.year + years, month_index + 1
        day = min(start.day, monthrange(year, month)[1])
        return self._roll_forward(dt.date(year, month, day), False)

    def add_hours(self, start: dt.date, hours: int) -> DueDate:
        """start + ceil(hours / 24) days, with no roll-forward: a 24-hour limit (令310 art.5)
        runs through holidays. Only the day is known, so the whole last day is allowed."""
        _require_positive(hours)
        return DueDate(_as_date(start) + dt.timedelta(days=-(-hours // 24)), False)

    def working_days_between(self, start: dt.date, end: dt.date) -> int:
        """Working days in (start, end]; 0 when end is not after start."""
        day, end = _as_date(start), _as_date(end)
        total = 0
        while day < end:
            day += _ONE_DAY
            if self.is_workday(day)[0]:
                total += 1
        return total

    def deadline(self, start: dt.date, amount: int, unit: str) -> DueDate:
        """The due date of a limit of amount units (one of UNITS) starting on start."""
        if unit == "working_days":
            return self.add_working_days(start, amount)
        if unit == "calendar_days":
            return self.add_calendar_days(start, amount)
        if unit == "months":
            return self.add_months(start, amount)
        if unit == "hours":
            return self.add_hours(start, amount)
        raise ValueError(f"unknown time unit {unit!r}; expected one of {sorted(UNITS)}")


def load_calendar(session: Session) -> Calendar:
    """The calendar with every admin override applied."""
    rows = session.scalars(select(CalendarOverride))
    return Calendar(overrides={row.day: row.workday for row in rows})
