"""Statutory documents generated from a case (issue 10): filled in by the documents work."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from tipline.intake.models import Case, CaseDocument, CaseEvent
from tipline.triage import scope


def produce(
    session: Session, case: Case, event: CaseEvent, kinds: Sequence[str], key: bytes,
    actor: scope.Viewer,
) -> None:  # fmt: skip
    """Generate the documents ``kinds`` of ``event`` (not yet written)."""


def listing(case: Case) -> list[CaseDocument]:
    """The documents of ``case``, oldest first (placeholder until the documents work)."""
    return list(case.documents)


def download(
    session: Session, case: Case, doc_id: int, fmt: str, key: bytes
) -> Response | None:
    """The document ``doc_id`` of ``case`` as ``fmt`` (docx or pdf), audited; None if the
    case has no such document (placeholder until the documents work)."""
    return None
