"""Working days and deadline dates, checked against the real 2025 holiday notice
(国办发明电〔2024〕12号): Spring Festival Jan 28-Feb 4 with make-up days Sun Jan 26 and
Sat Feb 8; National Day and Mid-Autumn Oct 1-8 with make-up days Sun Sep 28 and Sat Oct 11.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
from collections.abc import Iterator

import chinese_calendar
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tipline.intake.db import make_sessionmaker
from tipline.intake.models import CalendarOverride
from tipline.intake.workdays import Calendar, DueDate, load_calendar

D = dt.date
CAL = Calendar()


def test_national_day_2025_working_days() -> None:
    # Oct 1-8 off; counted: Oct 9 (Thu), 10 (Fri), 11 (Sat, make-up), 13 (Mon), 14 (Tue).
    assert CAL.add_working_days(D(2025, 9, 30), 5) == DueDate(D(2025, 10, 14), False)
    # ... then Oct 15, 16, 17, 20, 21.
    assert CAL.add_working_days(D(2025, 9, 30), 10) == DueDate(D(2025, 10, 21), False)


def test_tip_received_on_a_make_up_working_day() -> None:
    # Sun Sep 28 is itself a working day but, as the start day, is not counted (art.105):
    # Sep 29, Sep 30, Oct 9, Oct 10, Oct 11 (Sat, make-up).
    assert CAL.add_working_days(D(2025, 9, 28), 5) == DueDate(D(2025, 10, 11), False)
    assert CAL.is_workday(D(2025, 9, 28)) == (True, False)
    assert CAL.is_workday(D(2025, 10, 11)) == (True, False)


def test_spring_festival_2025() -> None:
    # Received Fri Jan 24. Sat Jan 25 off; Sun Jan 26 make-up (1); Mon Jan 27 (2);
    # Jan 28-Feb 4 holiday; Wed Feb 5 (3), Thu Feb 6 (4), Fri Feb 7 (5) -> Feb 7.
    assert CAL.add_working_days(D(2025, 1, 24), 5) == DueDate(D(2025, 2, 7), False)
    # One more working day is the make-up Saturday Feb 8, not Monday Feb 10.
    assert CAL.add_working_days(D(2025, 1, 24), 6).day == D(2025, 2, 8)
    # Received on New Year's Eve (Jan 28, a holiday since 2025): Feb 5, 6, 7, 8, 10.
    assert CAL.add_working_days(D(2025, 1, 28), 5).day == D(2025, 2, 10)


def test_calendar_days_landing_on_a_holiday_roll_forward() -> None:
    # Sep 28 + 3 = Oct 1, a holiday; the first working day after is Oct 9.
    assert CAL.add_calendar_days(D(2025, 9, 28), 3) == DueDate(D(2025, 10, 9), False)
    # Landing on a make-up Saturday does not roll: Oct 4 + 7 = Sat Oct 11.
    assert CAL.add_calendar_days(D(2025, 10, 4), 7).day == D(2025, 10, 11)
    # An ordinary weekend rolls to Monday: Wed Oct 15 + 3 = Sat Oct 18 -> Mon Oct 20.
    assert CAL.add_calendar_days(D(2025, 10, 15), 3).day == D(2025, 10, 20)


def test_hours_run_through_holidays() -> None:
    # 24 h from Sep 30 ends on Oct 1, a holiday, and stays there (令310 art.5).
    assert CAL.deadline(D(2025, 9, 30), 24, "hours") == DueDate(D(2025, 10, 1), False)
    assert CAL.deadline(D(2025, 9, 30), 1, "hours").day == D(2025, 10, 1)
    assert CAL.deadline(D(2025, 9, 30), 25, "hours").day == D(2025, 10, 2)
    assert CAL.deadline(D(2025, 9, 30), 48, "hours").day == D(2025, 10, 2)
    # No calendar is consulted, so no fallback even in an unknown year.
    assert CAL.deadline(D(2031, 1, 1), 24, "hours") == DueDate(D(2031, 1, 2), False)


def test_months_clamp_to_the_month_end() -> None:
    # Jan 31 + 1 month -> Feb 28, a Friday and a working day: no roll.
    assert CAL.is_workday(D(2025, 2, 28)) == (True, False)
    assert CAL.add_months(D(2025, 1, 31), 1) == DueDate(D(2025, 2, 28), False)
    # Leap year: Jan 31 2024 + 1 month -> Thu Feb 29.
    assert CAL.add_months(D(2024, 1, 31), 1).day == D(2024, 2, 29)
    # Across a year end: Nov 30 2025 + 3 months -> Feb 28 2026, a Saturday but a make-up
    # working day after the 2026 Spring Festival, so it stands; Feb 28 2027 (a Sunday in a
    # year the package does not know) rolls to Mon Mar 1.
    assert CAL.add_months(D(2025, 11, 30), 3) == DueDate(D(2026, 2, 28), False)
    assert CAL.add_months(D(2026, 11, 30), 3) == DueDate(D(2027, 3, 1), True)
    # Landing in the holiday: Sep 1 + 1 month = Oct 1 -> Oct 9.
    assert CAL.deadline(D(2025, 9, 1), 1, "months") == DueDate(D(2025, 10, 9), False)


def test_an_override_can_add_a_holiday() -> None:
    # A local holiday on Fri Oct 10 pushes the 5th working day from Oct 14 to Oct 15.
    calendar = Calendar(overrides={D(2025, 10, 10): False})
    assert calendar.add_working_days(D(2025, 9, 30), 5).day == D(2025, 10, 15)
    # ... and a calendar-day deadline landing on it rolls past it to the make-up Saturday.
    assert calendar.add_calendar_days(D(2025, 10, 7), 3).day == D(2025, 10, 11)


def test_an_override_can_add_a_working_day() -> None:
    # An office working on Sat Oct 18 counts it: Oct 15, 16, 17, 18 -> 4th is Oct 18.
    calendar = Calendar(overrides={D(2025, 10, 18): True})
    assert CAL.add_working_days(D(2025, 10, 14), 4).day == D(2025, 10, 20)
    assert calendar.add_working_days(D(2025, 10, 14), 4).day == D(2025, 10, 18)
    assert calendar.add_calendar_days(D(2025, 10, 15), 3).day == D(2025, 10, 18)


def test_overrides_are_copied() -> None:
    overrides = {D(2025, 10, 10): False}
    calendar = Calendar(overrides=overrides)
    overrides[D(2025, 10, 13)] = False
    assert calendar.is_workday(D(2025, 10, 13)) == (True, False)


def test_unknown_year_falls_back_to_monday_to_friday() -> None:
    # 2031 is beyond the package: Fri Jan 3 + 1 WD -> Mon Jan 6, flagged.
    assert CAL.is_workday(D(2031, 1, 1)) == (True, True)  # New Year's Day, unknown
    assert CAL.add_working_days(D(2031, 1, 3), 1) == DueDate(D(2031, 1, 6), True)
    assert CAL.add_calendar_days(D(2031, 1, 3), 1) == DueDate(D(2031, 1, 6), True)
    assert CAL.add_months(D(2031, 1, 3), 1) == DueDate(D(2031, 2, 3), True)
    # A known range reports no fallback.
    assert CAL.add_working_days(D(2025, 12, 1), 20).fallback is False


def test_fallback_when_the_count_crosses_into_an_unknown_year() -> None:
    last_known = max(chinese_calendar.holidays).year
    assert CAL.add_working_days(D(last_known, 12, 20), 20).fallback is True
    assert CAL.add_working_days(D(last_known, 12, 1), 5).fallback is False


def test_an_override_in_an_unknown_year_is_not_a_fallback() -> None:
    calendar = Calendar(overrides={D(2031, 1, 1): False})
    assert calendar.is_workday(D(2031, 1, 1)) == (False, False)
    # Dec 31 2030 + 1 calendar day = the overridden Jan 1, then Thu Jan 2 is a guess.
    assert calendar.add_calendar_days(D(2030, 12, 31), 1) == DueDate(D(2031, 1, 2), True)


def test_working_days_between() -> None:
    # (Sep 30, Oct 14]: Oct 9, 10, 11, 13, 14.
    assert CAL.working_days_between(D(2025, 9, 30), D(2025, 10, 14)) == 5
    assert CAL.working_days_between(D(2025, 9, 30), D(2025, 10, 8)) == 0
    assert CAL.working_days_between(D(2025, 10, 14), D(2025, 10, 14)) == 0
    assert CAL.working_days_between(D(2025, 10, 14), D(2025, 9, 30)) == 0


@pytest.mark.parametrize(
    ("amount", "unit"),
    [
        (0, "working_days"),
        (-1, "calendar_days"),
        (0, "months"),
        (0, "hours"),
        (5, "weeks"),
        (5, ""),
    ],
)
def test_bad_unit_or_amount(amount: int, unit: str) -> None:
    with pytest.raises(ValueError):
        CAL.deadline(D(2025, 9, 30), amount, unit)


def test_a_datetime_start_gives_a_date() -> None:
    due = CAL.add_working_days(dt.datetime(2025, 9, 30, 23, 59), 5)
    assert type(due.day) is dt.date
    assert due.day == D(2025, 10, 14)


def test_source_names_the_installed_calendar() -> None:
    assert CAL.source == f"chinesecalendar {importlib.metadata.version('chinesecalendar')}"


def reference_workday(day: dt.date, overrides: dict[dt.date, bool]) -> bool:
    """An independent reading of the rule, day by day, with no caching."""
    if day in overrides:
        return overrides[day]
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        return day.weekday() < 5


@given(
    start=st.dates(min_value=D(2002, 1, 1), max_value=D(2032, 12, 31)),
    count=st.integers(min_value=1, max_value=60),
    overrides=st.dictionaries(
        st.dates(min_value=D(2002, 1, 1), max_value=D(2033, 6, 30)), st.booleans(), max_size=20
    ),
)
def test_add_working_days_property(
    start: dt.date, count: int, overrides: dict[dt.date, bool]
) -> None:
    calendar = Calendar(overrides=overrides)
    due = calendar.add_working_days(start, count)
    assert due.day > start
    assert reference_workday(due.day, overrides)
    days = [start + dt.timedelta(days=n) for n in range(1, (due.day - start).days + 1)]
    assert sum(reference_workday(day, overrides) for day in days) == count
    assert calendar.working_days_between(start, due.day) == count
    known = {d.year for d in chinese_calendar.holidays}
    assert due.fallback == any(d.year not in known and d not in overrides for d in days)


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    # Never committed: closing the session rolls the test's rows back.
    with make_sessionmaker(engine)() as session:
        yield session


def test_load_calendar_reads_the_overrides(session: Session) -> None:
    session.add_all(
        [
            CalendarOverride(day=D(2025, 10, 10), workday=False, note="local holiday"),
            CalendarOverride(day=D(2025, 10, 18), workday=True, note="office open"),
        ]
    )
    session.flush()
    calendar = load_calendar(session)
    assert calendar.overrides == {D(2025, 10, 10): False, D(2025, 10, 18): True}
    assert calendar.add_working_days(D(2025, 9, 30), 5).day == D(2025, 10, 15)
