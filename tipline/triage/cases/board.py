"""The supervisor's board: the case clocks due soon, overdue, and the cases under the head's
personal supervision (挂牌督办, domain.md T7), for the viewer's jurisdiction, with the same
scoping as the inbox (scope.case_visibility): another bureau's case, another district's, a
discipline sub-case are absent from the lists and from the counts alike.

One query reads the open clocks that can be on the board (the overdue ones and those due
within ``HORIZON`` days, on the index of ``due_on``) with their cases; a second reads the
supervised cases. States are computed as the sweep computes them (cases/clocks.state): hour
clocks (T11, T12) by the instant, the others by the day.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from tipline.intake.models import Case, CaseDeadline
from tipline.intake.workdays import Calendar
from tipline.triage import scope
from tipline.triage.cases import clocks

SOON = clocks.SOON  # working days, as for tips (triage/clocks.py)
# No clock due later than this many calendar days ahead is due within one working day, even
# across the Spring Festival's nine days off (clocks.state decides which of them are).
HORIZON = 15
# The clock whose overdue state calls for the head's personal supervision (domain.md T7: a
# loss with no recovery measures after 90 days); the step ``supervise`` puts a case under it
# and meets the clock.
SUPERVISION_CLOCK = "T7"


@dataclass
class Board:
    overdue: list[tuple[Case, CaseDeadline]] = field(default_factory=list)
    due_soon: list[tuple[Case, CaseDeadline]] = field(default_factory=list)
    supervised: list[Case] = field(default_factory=list)
    # Cases whose T7 is overdue and that are not yet under the head's supervision: the
    # board suggests 挂牌督办 (the step ``supervise``, the head's to take).
    suggest_supervision: list[Case] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        """How many clocks are overdue and due soon, how many cases are supervised and how
        many should be: the board's headline and the API's, from the same lists."""
        return {
            "overdue": len(self.overdue),
            "due_soon": len(self.due_soon),
            "supervised": len(self.supervised),
            "suggest_supervision": len(self.suggest_supervision),
        }


def board(
    session: Session, viewer: scope.Viewer, today: dt.date, calendar: Calendar, *,
    now: dt.datetime | None = None,
) -> Board:  # fmt: skip
    """The board for ``viewer`` on ``today``; ``now`` (default: the start of ``today`` in
    China, as the sweep) is what hour clocks are compared with. Nearest due first."""
    now = now or clocks.start_of(today)
    found = Board()
    rows = session.execute(
        select(Case, CaseDeadline)
        .join(CaseDeadline, CaseDeadline.case_id == Case.id)
        .where(
            scope.case_visibility(viewer),
            CaseDeadline.met_at.is_(None),
            CaseDeadline.due_on <= today + dt.timedelta(days=HORIZON),
        )
        .order_by(CaseDeadline.due_on, CaseDeadline.due_at, CaseDeadline.id)
    ).all()
    suggested: dict[str, Case] = {}
    for case, deadline in rows:
        state = clocks.state(deadline.due_on, deadline.due_at, today, now, calendar)
        if state == "overdue":
            found.overdue.append((case, deadline))
            if deadline.rule == SUPERVISION_CLOCK and not case.supervised:
                suggested.setdefault(case.id, case)
        elif state == "due_soon":
            found.due_soon.append((case, deadline))
    found.suggest_supervision = list(suggested.values())
    found.supervised = list(
        session.scalars(
            scope.visible_cases(viewer)
            .where(Case.supervised.is_(True), Case.stage != "closed")
            .order_by(Case.next_due, Case.id)
        )
    )
    return found
