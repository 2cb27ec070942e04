"""Jobs run after a submission, by an rq worker or inline.

Each takes ids, opens its own session, is idempotent, and lets failures raise so rq
records and retries them.
"""

from __future__ import annotations

from tipline.intake.models import Tip
from tipline.intake.queue import job_session
from tipline.intake.reference import CATEGORY_BY_CODE

STAFF_SUSPECTS = frozenset({"agency_staff"})


def suggest_bureau(category: str, suspect_kind: str | None) -> str | None:
    """The national default route of domain.md section 2.

    Tips about staff go to discipline inspection only, whatever their category (domain.md
    section 2, internal-staff rule: leak nothing to people who may be involved).
    """
    if category == "internal_embezzlement" or suspect_kind in STAFF_SUSPECTS:
        return "discipline_inspection"
    found = CATEGORY_BY_CODE.get(category)
    return found.default_bureau if found else None


def post_submission(tip_ids: list[str]) -> None:
    """Suggest the responsible bureau for new tips and mark them processed."""
    with job_session() as session:
        for tip_id in tip_ids:
            tip = session.get(Tip, tip_id)
            if tip is None or tip.processed:
                # Gone (its submission was taken back) or already done: nothing to do.
                continue
            if tip.bureau is None:
                tip.bureau = suggest_bureau(tip.category, tip.suspect_kind)
            tip.processed = True
