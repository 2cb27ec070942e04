"""Jobs run after a submission, by an rq worker or inline.

Each opens its own session, is idempotent, and lets failures raise so rq records and
retries them. None takes a tip id: the work is found in the database, so no tip id ever goes
into Redis (see ``tipline.intake.queue``).
"""

from __future__ import annotations

from sqlalchemy import select

from tipline.intake.models import Tip
from tipline.intake.queue import Declared, JobTable, job_session


def process_new_tips() -> None:
    """Process every tip not yet processed (routing and sealing happened in the submission).

    On PostgreSQL the rows are locked with SKIP LOCKED: a tip another worker is processing
    is left to it, not waited for. Run twice, the second run finds nothing to do."""
    with job_session() as session:
        pending = select(Tip).where(Tip.processed.is_(False)).with_for_update(skip_locked=True)
        for tip in session.scalars(pending):
            tip.processed = True


# The jobs the sites may enqueue; the worker runs these and its own, nothing else.
DECLARED = JobTable(Declared(process_new_tips))
