"""Assigning a tip to one officer of the bureau that handles it (issue 9).

As in a 科室: the bureau's supervisor (科长) hands a case to one of its officers (承办人),
and an officer may take an unassigned case on. Who handles the tip is the lead bureau once
routed, the intake desk (基金监督机构) before, and discipline inspection for a sealed tip
(scope.py). Only an officer of that bureau who can see the tip may hold it: the same scope
decides, so an assignment never opens a tip to anyone. A co-handling bureau works its own
part and is not assigned the lead's tip. Every change is audited; declaring a conflict of
interest, a transfer or a new lead bureau ends the assignment (decisions.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from tipline.intake.models import Officer, Tip
from tipline.intake.reference import N_
from tipline.triage import scope
from tipline.triage.audit import record
from tipline.triage.tips.decisions import DecisionError

ASSIGNABLE_ROLES = ("triage_officer", "bureau_officer", "supervisor")
NOT_YOURS = N_("Only a supervisor of the bureau handling the tip assigns it to others.")
NOT_ELIGIBLE = N_("Choose an officer of the handling bureau who can see the tip.")
NOT_HELD = N_("This tip is not assigned to you.")
TAKEN = N_("Only an officer of the handling bureau takes a tip on, and only while nobody holds it.")


def assigns(actor: scope.Viewer, tip: Tip) -> bool:
    """A supervisor of the handling bureau assigns the tip to any of its officers."""
    return actor.role == "supervisor" and actor.bureau == scope.handling_bureau(tip)


def may_take(actor: scope.Viewer, tip: Tip) -> bool:
    """An officer of the handling bureau may take an unassigned tip on."""
    return (
        actor.role in ASSIGNABLE_ROLES
        and actor.bureau == scope.handling_bureau(tip)
        and tip.assigned_to is None
    )


def candidates(session: Session, tip: Tip) -> list[Officer]:
    """The active officers of the handling bureau who can see the tip, by name."""
    officers = session.scalars(
        select(Officer)
        .where(
            Officer.active.is_(True),
            Officer.role.in_(ASSIGNABLE_ROLES),
            Officer.bureau == scope.handling_bureau(tip),
        )
        .order_by(Officer.username)
    ).all()
    return [o for o in officers if scope.can_see(session, o, tip.id)]


def assign(session: Session, actor: scope.Viewer, tip: Tip, officer_id: int | None) -> None:
    """Assign ``tip`` to ``officer_id`` (None: to nobody). A supervisor of the handling
    bureau assigns anyone eligible; an officer takes an unassigned tip for themselves or
    gives back their own."""
    if officer_id is None:
        if not (assigns(actor, tip) or tip.assigned_to == actor.id):
            raise DecisionError(NOT_HELD if tip.assigned_to else NOT_YOURS)
    elif not assigns(actor, tip):
        if officer_id != actor.id:
            raise DecisionError(NOT_YOURS)
        if not may_take(actor, tip):
            raise DecisionError(TAKEN)
    if officer_id is not None and officer_id not in {o.id for o in candidates(session, tip)}:
        raise DecisionError(NOT_ELIGIBLE)
    if tip.assigned_to == officer_id:
        return
    tip.assigned_to = officer_id
    officer = session.get(Officer, officer_id) if officer_id is not None else None
    record(
        session, "tip.assign", actor=_name(actor), tip_id=tip.id,
        officer=officer.username if officer else None,
    )  # fmt: skip


@dataclass
class Panel:
    """What the tip page's assignment block shows this officer (triage/_assign.html)."""

    holder: str | None
    mine: bool
    assigns: bool
    may_take: bool
    choices: list[Officer] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def panel(session: Session, actor: scope.Viewer, tip: Tip, errors: list[str]) -> Panel:
    holder = session.get(Officer, tip.assigned_to) if tip.assigned_to is not None else None
    supervisor = assigns(actor, tip)
    return Panel(
        holder=holder.username if holder else None,
        mine=tip.assigned_to == actor.id,
        assigns=supervisor,
        may_take=may_take(actor, tip),
        choices=candidates(session, tip) if supervisor else [],
        errors=errors,
    )


def _name(actor: scope.Viewer) -> str:
    return str(getattr(actor, "username", actor.id))
