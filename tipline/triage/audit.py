"""The audit log: every sign-in, every decryption, every change, with who and when."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy.orm import Session

from tipline.intake.models import AuditEvent


def record(
    session: Session,
    action: str,
    *,
    actor: str | None,
    tip_id: str | None = None,
    **detail: str | int | None,
) -> None:
    """Add an audit entry in the caller's transaction, so it commits with what it records."""
    session.add(
        AuditEvent(
            at=dt.datetime.now(dt.UTC),
            actor=actor,
            action=action,
            tip_id=tip_id,
            detail=json.dumps(detail, ensure_ascii=False, sort_keys=True),
        )
    )
