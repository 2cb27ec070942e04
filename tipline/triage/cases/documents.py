"""Statutory documents generated from a case (issue 10): filled in by the documents work."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from tipline.intake.models import Case, CaseEvent
from tipline.triage import scope


def produce(
    session: Session, case: Case, event: CaseEvent, kinds: Sequence[str], key: bytes,
    actor: scope.Viewer,
) -> None:  # fmt: skip
    """Generate the documents ``kinds`` of ``event`` (not yet written)."""
