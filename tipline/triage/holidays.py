"""Calendar corrections by administrators, from the calendar page and ``tipline calendar``.

Both a one-day correction and a year's State Council holiday notice recompute every open
clock at once (``clocks.recompute``), so no deadline keeps a date the calendar no longer
gives; met clocks are left as they are.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from tipline.intake.models import CalendarNotice, CalendarOverride
from tipline.intake.sanitize import clean_line
from tipline.intake.submit import today
from tipline.intake.workdays import YearNotice
from tipline.triage import clocks
from tipline.triage.audit import record


def correct_day(
    session: Session, day: dt.date, workday: bool, note: str, actor: str
) -> list[clocks.Moved]:
    """One day made a working day or not (a local holiday, a late 调休), then every open
    clock recomputed."""
    row = session.get(CalendarOverride, day) or CalendarOverride(day=day)
    # The administrator's own day from now on: a later entry of the year's notice neither
    # takes it over nor deletes it.
    row.workday, row.note, row.notice_year = workday, clean_line(note)[:200], None
    session.add(row)
    record(session, "calendar.change", actor=actor, day=day.isoformat(), workday=int(workday))
    session.flush()
    return clocks.recompute(session, today(), actor, reason=f"calendar:{day.isoformat()}")


def enter_notice(
    session: Session, notice: YearNotice, reference: str, actor: str
) -> list[clocks.Moved]:
    """A year's holiday notice stored as corrections, replacing the days an earlier entry
    of the same year's notice gave; the year is then no longer on the fallback. Every open
    clock is recomputed."""
    reference = clean_line(reference)[:200]
    session.execute(delete(CalendarOverride).where(CalendarOverride.notice_year == notice.year))
    session.flush()
    note = reference or f"{notice.year} holiday notice"
    for day, workday in sorted(notice.overrides().items()):
        row = session.get(CalendarOverride, day) or CalendarOverride(day=day)
        if row.notice_year is None and row.workday is not None:
            continue  # a one-day correction an administrator made stands (correct_day)
        row.workday, row.note, row.notice_year = workday, note[:200], notice.year
        session.add(row)
    entry = session.get(CalendarNotice, notice.year) or CalendarNotice(year=notice.year)
    entry.entered_on, entry.entered_by, entry.reference = today(), actor, reference
    entry.days_off, entry.working_days = len(notice.days_off), len(notice.working_days)
    session.add(entry)
    record(
        session, "calendar.notice", actor=actor, year=notice.year,
        days_off=len(notice.days_off), working_days=len(notice.working_days),
        reference=reference,
    )  # fmt: skip
    session.flush()
    return clocks.recompute(session, today(), actor, reason=f"notice:{notice.year}")


def notices(session: Session) -> list[CalendarNotice]:
    return list(session.scalars(select(CalendarNotice).order_by(CalendarNotice.year)))
