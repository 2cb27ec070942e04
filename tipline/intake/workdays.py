"""Working days and deadline dates for the statutory clocks (domain.md section 3).

Counting follows 刑诉法 art.105: the day a period starts on is not counted, and a period
whose last day is a holiday ends on the next working day instead. 24-hour limits are the
exception: hours run through holidays, so they never roll forward.

The working-day calendar is chinesecalendar's (statutory holidays and 调休 make-up working
days), corrected by the admins' ``CalendarOverride`` rows (a local holiday, a notice the
installed package predates). For a year the package does not know, Monday-Friday is assumed
and the result says so, so a deadline can be flagged and recomputed once the calendar is
updated. A year whose State Council holiday notice an administrator entered
(``CalendarNotice``, ``parse_notice``) is known: its days off and make-up working days are
overrides, and its other days are Monday-Friday by that notice, not by a guess.
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib.metadata
import re
from calendar import monthrange
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import chinese_calendar
from sqlalchemy import select
from sqlalchemy.orm import Session

from tipline.intake.models import CalendarNotice, CalendarOverride
from tipline.intake.reference import N_

UNITS = frozenset({"working_days", "calendar_days", "months", "hours", "same_day"})
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


def package_knows(year: int) -> bool:
    """Whether the installed chinesecalendar has the State Council's notice for ``year``."""
    return not _base_workday(dt.date(year, 1, 1))[1]


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
    # Years whose holiday notice an administrator entered: no fallback there.
    notice_years: frozenset[int] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "overrides", MappingProxyType(dict(self.overrides)))
        object.__setattr__(self, "notice_years", frozenset(self.notice_years))

    def _base(self, day: dt.date) -> tuple[bool, bool]:
        workday, fell_back = _base_workday(day)
        if fell_back and day.year in self.notice_years:
            return workday, False  # Monday-Friday, as the entered notice says
        return workday, fell_back

    def knows(self, year: int) -> bool:
        """Whether ``year`` has an official calendar (the package's or an entered notice)."""
        return year in self.notice_years or package_knows(year)

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
        return self._base(day)

    def _roll_forward(self, day: dt.date, fallback: bool) -> DueDate:
        # 刑诉法 art.105: a period ending on a holiday ends on the next working day.
        overrides = self.overrides
        while True:
            override = overrides.get(day)
            if override is not None:
                workday = override
            else:
                workday, fell_back = self._base(day)
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
                workday, fell_back = self._base(day)
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
        if unit == "same_day":
            # domain.md T5: by the end of the day it started, holiday or not.
            return DueDate(_as_date(start), False)
        raise ValueError(f"unknown time unit {unit!r}; expected one of {sorted(UNITS)}")


def load_calendar(session: Session) -> Calendar:
    """The calendar with every admin override and every entered year's notice applied."""
    rows = session.scalars(select(CalendarOverride))
    years = frozenset(session.scalars(select(CalendarNotice.year)))
    return Calendar(overrides={row.day: row.workday for row in rows}, notice_years=years)


# A year's holiday notice, as an administrator types it from the State Council's text.
FIRST_YEAR, LAST_YEAR = 2004, 2100
# 13 statutory holiday days (国务院令第798号) plus the weekdays 调休 moves: well under this.
MAX_WEEKDAYS_OFF = 40
_DATE = r"(\d{4})-(\d{1,2})-(\d{1,2})"
_RANGE = re.compile(rf"^{_DATE}(?:(?:\.\.|~|～|至){_DATE})?$")
_SEPARATORS = re.compile(r"[\s,，、;；]+")


class NoticeError(Exception):
    """A holiday notice that does not validate; each problem is an English message id with
    its values, shown in the reader's language."""

    def __init__(self, problems: list[tuple[str, str, dict[str, str]]]) -> None:
        super().__init__(problems)
        # (field: "year", "days_off" or "working_days"; message id; values)
        self.problems = problems


@dataclass(frozen=True)
class YearNotice:
    year: int
    days_off: tuple[dt.date, ...]
    working_days: tuple[dt.date, ...]

    def overrides(self) -> dict[dt.date, bool]:
        """What the notice says, as calendar corrections."""
        found = {day: False for day in self.days_off}
        found.update({day: True for day in self.working_days})
        return found


Problems = list[tuple[str, str, dict[str, str]]]


def _days(text: str, year: int, name: str, problems: Problems) -> set[dt.date]:
    found: set[dt.date] = set()
    for token in _SEPARATORS.split(text.strip()):
        if not token:
            continue
        match = _RANGE.match(token)
        try:
            if match is None:
                raise ValueError(token)
            parts = [int(p) for p in match.groups() if p is not None]
            first = dt.date(*parts[:3])
            last = dt.date(*parts[3:]) if len(parts) == 6 else first
        except ValueError:
            problems.append((name, N_(
                "“%(token)s” is not a date. Write a day as 2027-01-01 and a range as "
                "2027-01-01..2027-01-03."
            ), {"token": token[:40]}))  # fmt: skip
            continue
        if last < first:
            problems.append(
                (name, N_("The range %(token)s ends before it starts."), {"token": token})
            )
            continue
        for day in (first, last):
            if day.year != year:
                problems.append((name, N_("%(day)s is not in %(year)s."),
                                 {"day": day.isoformat(), "year": str(year)}))  # fmt: skip
                break
        else:
            day = first
            while day <= last:
                found.add(day)
                day += _ONE_DAY
    return found


def parse_notice(year: int | str, days_off: str, working_days: str) -> YearNotice:
    """A year's holiday notice from its days off (放假) and make-up working days (调休上班):
    days or ranges separated by spaces, commas or new lines. Raises ``NoticeError``."""
    problems: Problems = []
    try:
        number = int(str(year).strip())
    except ValueError:
        number = 0
    if not FIRST_YEAR <= number <= LAST_YEAR:
        raise NoticeError([("year", N_("Give the year of the notice, from %(first)s to %(last)s."),
                            {"first": str(FIRST_YEAR), "last": str(LAST_YEAR)})])  # fmt: skip
    off = _days(days_off, number, "days_off", problems)
    work = _days(working_days, number, "working_days", problems)
    for day in sorted(off & work):
        problems.append(("working_days", N_(
            "%(day)s is given both as a day off and as a working day."
        ), {"day": day.isoformat()}))  # fmt: skip
    for day in sorted(work):
        if day.weekday() < 5:
            # A weekday is a working day anyway; 调休 moves work onto a weekend.
            problems.append(("working_days", N_(
                "%(day)s is a weekday: a make-up working day falls on a Saturday or Sunday."
            ), {"day": day.isoformat()}))  # fmt: skip
    if sum(day.weekday() < 5 for day in off) > MAX_WEEKDAYS_OFF:
        problems.append(("days_off", N_(
            "More than %(count)s weekdays off: no holiday notice gives so many; check the ranges."
        ), {"count": str(MAX_WEEKDAYS_OFF)}))  # fmt: skip
    if not off and not problems:
        problems.append(("days_off", N_("List the notice's days off."), {}))
    elif off and all(day.weekday() >= 5 for day in off):
        problems.append(("days_off", N_(
            "None of these days off is a weekday: check the dates against the notice."
        ), {}))  # fmt: skip
    if problems:
        raise NoticeError(problems)
    return YearNotice(number, tuple(sorted(off)), tuple(sorted(work)))


_FILE_LINE = re.compile(
    r"^\s*(off|days_off|放假|work|working|working_days|上班|调休上班)\s*[:：]\s*(.*)$"
)


def parse_notice_file(year: int | str, text: str) -> YearNotice:
    """The notice from a text file: lines ``off: DAYS`` (or ``放假：``) and ``work: DAYS``
    (or ``上班：``); blank lines and lines starting with # are ignored."""
    off: list[str] = []
    work: list[str] = []
    problems: Problems = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _FILE_LINE.match(line)
        if match is None:
            problems.append(("days_off", N_(
                "Line %(line)s: start it with “off:” (放假) or “work:” (上班)."
            ), {"line": str(number)}))  # fmt: skip
            continue
        kind, days = match.groups()
        (off if kind in ("off", "days_off", "放假") else work).append(days)
    if problems:
        raise NoticeError(problems)
    return parse_notice(year, "\n".join(off), "\n".join(work))
