"""Jobs run after a submission, by an rq worker or inline.

Each takes ids, opens its own session, is idempotent, and lets failures raise so rq
records and retries them.
"""

from __future__ import annotations

from tipline.intake.models import Tip
from tipline.intake.queue import job_session


def post_submission(tip_ids: list[str]) -> None:
    """Mark new tips processed (routing and sealing happened in the submission itself)."""
    with job_session() as session:
        for tip_id in tip_ids:
            tip = session.get(Tip, tip_id)
            if tip is None or tip.processed:
                # Gone (its submission was taken back) or already done: nothing to do.
                continue
            tip.processed = True
