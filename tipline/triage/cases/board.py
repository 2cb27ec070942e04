"""The supervisor's board: the case clocks due soon, overdue, and the cases under the head's
personal supervision (挂牌督办, domain.md T7), for the viewer's jurisdiction, with the same
scoping as the inbox (scope.case_visibility)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from tipline.intake.models import Case, CaseDeadline
from tipline.intake.workdays import Calendar
from tipline.triage import scope

SOON = 1  # working days, as for tips (triage/clocks.py)


@dataclass
class Board:
    overdue: list[tuple[Case, CaseDeadline]] = field(default_factory=list)
    due_soon: list[tuple[Case, CaseDeadline]] = field(default_factory=list)
    supervised: list[Case] = field(default_factory=list)


def board(session: Session, viewer: scope.Viewer, today: dt.date, calendar: Calendar) -> Board:
    found = Board()
    rows = session.execute(
        select(Case, CaseDeadline)
        .join(CaseDeadline, CaseDeadline.case_id == Case.id)
        .where(scope.case_visibility(viewer), CaseDeadline.met_at.is_(None))
        .order_by(CaseDeadline.due_on, CaseDeadline.id)
    ).all()
    for case, deadline in rows:
        if deadline.due_on < today:
            found.overdue.append((case, deadline))
        elif calendar.working_days_between(today, deadline.due_on) <= SOON:
            found.due_soon.append((case, deadline))
    found.supervised = list(
        session.scalars(
            scope.visible_cases(viewer)
            .where(Case.supervised.is_(True), Case.stage != "closed")
            .order_by(Case.next_due, Case.id)
        )
    )
    return found
