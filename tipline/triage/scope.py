"""Who sees which tip: the one place it is decided, in the query itself.

Every list, count, search, page and API answer about tips starts from ``visible_tips`` or
``find_visible``, so a tip outside an officer's reach is absent everywhere (a page answers
404, never 403: nothing reveals that it exists).

- Jurisdiction (属地管理、分级负责, domain.md section 6): an officer of a province (440000)
  sees tips handled anywhere in it, of a city (441500) anywhere in the city, of a district
  (441502) only there.
- Bureau: the intake desk (基金监督机构: triage officers and supervisors of
  ``hrss_fund_supervision``) sees every tip of its jurisdiction; everyone else sees the tips
  assigned to their own bureau, as the lead or, once a lead is assigned, as a co-handling
  bureau (domain.md section 2: the agency stops payment, then labour inspection).
- Staff suspects (domain.md section 2): a sealed tip is seen only by discipline inspection,
  never by the intake desk nor by supervisors of the suspect's unit.
- A declared conflict of interest hides the tip from that officer from then on.
- Administrators and auditors see no tips at all.
- A tip the post-submission job has not routed yet is seen by nobody.
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy import ColumnElement, Select, and_, exists, false, or_, select, true
from sqlalchemy.orm import Session

from tipline.intake.models import Case, CaseTip, Recusal, Tip

INTAKE_DESK = "hrss_fund_supervision"
DISCIPLINE = "discipline_inspection"
TIP_ROLES = frozenset({"triage_officer", "bureau_officer", "supervisor"})


class Viewer(Protocol):
    @property
    def id(self) -> int: ...

    @property
    def role(self) -> str: ...

    @property
    def bureau(self) -> str | None: ...

    @property
    def region(self) -> str | None: ...


def jurisdiction(region: str | None, table: type[Tip] | type[Case] = Tip) -> ColumnElement[bool]:
    """The rows of ``table`` (tips or cases) handled within ``region``'s jurisdiction."""
    if region is None or len(region) != 6 or not region.isdigit():
        return false()
    if region.endswith("0000"):
        return table.handling_province == region[:2]
    if region.endswith("00"):
        return table.handling_city == region[:4]
    return table.handling_region == region


def visibility(viewer: Viewer) -> ColumnElement[bool]:
    """The condition a tip must meet to be seen by ``viewer``."""
    if viewer.role not in TIP_ROLES or viewer.bureau is None:
        return false()
    if viewer.bureau == DISCIPLINE:
        bureau = or_(Tip.sealed.is_(True), Tip.bureau == DISCIPLINE)
    elif viewer.bureau == INTAKE_DESK and viewer.role in ("triage_officer", "supervisor"):
        bureau = Tip.sealed.is_(False)
    else:
        # Co-handling bureaus are never set on a sealed tip (intake/jobs.py); the sealed
        # test stands here too, so that no column alone opens a staff tip.
        co_handling = and_(
            Tip.bureau.is_not(None),
            Tip.co_bureaus.contains(f",{viewer.bureau},", autoescape=True),
        )
        bureau = and_(Tip.sealed.is_(False), or_(Tip.bureau == viewer.bureau, co_handling))
    recused = exists().where(Recusal.tip_id == Tip.id, Recusal.officer_id == viewer.id)
    # Until the post-submission job has routed a tip by the rule packs, nobody sees it: a
    # pack may yet seal it (intake/jobs.py).
    routed = Tip.processed.is_(True)
    return and_(routed, jurisdiction(viewer.region), bureau, ~recused)


def visible_tips(viewer: Viewer) -> Select[Tip]:
    return select(Tip).where(visibility(viewer))


def find_visible(session: Session, viewer: Viewer, tip_id: str) -> Tip | None:
    """The tip if ``viewer`` may see it; None otherwise (shown as 404)."""
    return session.scalar(visible_tips(viewer).where(Tip.id == tip_id))


def can_see(session: Session, viewer: Viewer, tip_id: str) -> bool:
    return bool(session.scalar(select(true()).where(Tip.id == tip_id, visibility(viewer))))


def handling_bureau(tip: Tip) -> str:
    """The bureau working the tip now: its lead once routed; before that the intake desk,
    or discipline inspection for a tip about staff (the bureau an assignment stays within)."""
    if tip.bureau is not None:
        return tip.bureau
    return DISCIPLINE if tip.sealed else INTAKE_DESK


# Cases (triage/cases/) follow the same rules as their tips: the jurisdiction of the office
# holding the case, the bureau that holds it (and the agency that handed it over, which
# still recovers the money), discipline inspection alone for a sealed sub-case, the intake
# desk for everything else of its jurisdiction, and a recusal from any tip of the case.


def case_visibility(viewer: Viewer) -> ColumnElement[bool]:
    if viewer.role not in TIP_ROLES or viewer.bureau is None:
        return false()
    if viewer.bureau == DISCIPLINE:
        bureau = or_(Case.sealed.is_(True), Case.bureau == DISCIPLINE)
    elif viewer.bureau == INTAKE_DESK and viewer.role in ("triage_officer", "supervisor"):
        bureau = Case.sealed.is_(False)
    else:
        bureau = and_(
            Case.sealed.is_(False),
            or_(Case.bureau == viewer.bureau, Case.partner_bureau == viewer.bureau),
        )
    recused = exists().where(
        CaseTip.case_id == Case.id,
        Recusal.tip_id == CaseTip.tip_id,
        Recusal.officer_id == viewer.id,
    )
    return and_(jurisdiction(viewer.region, Case), bureau, ~recused)


def visible_cases(viewer: Viewer) -> Select[Case]:
    return select(Case).where(case_visibility(viewer))


def find_visible_case(session: Session, viewer: Viewer, case_id: str) -> Case | None:
    """The case if ``viewer`` may see it; None otherwise (shown as 404, like a tip)."""
    return session.scalar(visible_cases(viewer).where(Case.id == case_id))
