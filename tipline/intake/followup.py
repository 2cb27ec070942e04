"""After the report: messages both ways, more evidence, identity added later, the timeline.

Each function works inside the caller's session on a tip the caller has opened (so holds
its key); the reporter's side and triage's side use the same functions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from tipline.crypto import PublicKeyring, seal
from tipline.intake.config import Limits
from tipline.intake.db import reserve_id
from tipline.intake.models import Message, Tip, TipEvent
from tipline.intake.reading import OpenedTip
from tipline.intake.reference import N_
from tipline.intake.sanitize import clean_text
from tipline.intake.submit import (
    InvalidReport,
    Problem,
    ReporterIdentity,
    Upload,
    seal_identity,
    store_upload,
    today,
    validate_identity,
    validate_uploads,
)

MAX_MESSAGE = 5_000
AUTHORS = ("reporter", "officer")


def record_event(
    session: Session,
    tip: Tip,
    kind: str,
    detail: str | None = None,
    *,
    shown: bool = True,
    region: str | None = None,
) -> None:
    session.add(
        TipEvent(
            tip_id=tip.id, on=today(), kind=kind, detail=detail, region=region,
            shown_to_reporter=shown,
        )  # fmt: skip
    )


@dataclass(frozen=True)
class Transfer:
    """Where a transfer sent a tip: the receiving office's region and bureau."""

    on: dt.date
    region: str
    bureau: str


def transfers(tip: Tip) -> list[Transfer]:
    """Every transfer of a tip, oldest first, from its timeline (``tip_event`` rows of kind
    ``transferred_out``: the bureau in ``detail``, the region in ``region``), which the
    portal's database role may read: the reporter's pages can say where it went (domain.md
    T1). A row from before the region was recorded falls back to the tip's handling region."""
    return [
        Transfer(event.on, event.region or tip.handling_region, event.detail)
        for event in tip.events
        if event.kind == "transferred_out" and event.detail and event.shown_to_reporter
    ]


def last_transfer(tip: Tip) -> Transfer | None:
    """The office that received the tip last, or None if it was never transferred."""
    found = transfers(tip)
    return found[-1] if found else None


def add_message(
    session: Session,
    opened: OpenedTip,
    text: str,
    *,
    author: str,
    officer_id: int | None = None,
    asks_reply: bool = False,
) -> Message:
    """A message sealed under the tip key, so only the reporter and the handling bureau
    read it."""
    if author not in AUTHORS:
        raise ValueError(f"author is one of {AUTHORS}")
    # The raw length first: sanitising costs far more per character than counting.
    if len(text) > MAX_MESSAGE:
        raise InvalidReport([Problem("text", N_("A message has at most 5,000 characters."))])
    body = clean_text(text)
    if not body:
        raise InvalidReport([Problem("text", N_("Write a message."))])
    if len(body) > MAX_MESSAGE:
        raise InvalidReport([Problem("text", N_("A message has at most 5,000 characters."))])
    message = Message(
        tip_id=opened.tip.id,
        author=author,
        officer_id=officer_id,
        sent_on=today(),
        # The officer's time, for authorship; a reporter's message keeps its day only
        # (DESIGN.md, "Anonymity"; models.Message's check constraint).
        sent_at=dt.datetime.now(dt.UTC) if author == "officer" else None,
        asks_reply=asks_reply,
        body=b"",
    )
    # The id is part of what the seal binds. PostgreSQL gives it before the insert, so the
    # portal's role needs no right to update a message (intake/roles.py); SQLite assigns it
    # on insert, and the body follows.
    reserved = reserve_id(session, Message.__tablename__)
    if reserved is None:
        session.add(message)
        session.flush()
    else:
        message.id = reserved
    message.body = seal(
        opened.key, body.encode(), tip_id=opened.tip.id, purpose=f"message:{message.id}"
    )
    session.add(message)
    record_event(session, opened.tip, f"message.{author}")
    return message


def add_evidence(
    session: Session, opened: OpenedTip, uploads: Sequence[Upload], limits: Limits
) -> None:
    already = len(opened.tip.attachments)
    problems = validate_uploads(uploads, limits, already=already)
    if not uploads:
        problems.append(Problem("attachments", N_("Choose at least one file.")))
    if problems:
        raise InvalidReport(problems)
    for position, upload in enumerate(uploads, start=already):
        store_upload(
            session, opened.tip.id, opened.key, position, upload, max_bytes=limits.max_file_bytes
        )
    record_event(session, opened.tip, "evidence_added")


def add_identity(
    session: Session,
    tip: Tip,
    identity: ReporterIdentity,
    *,
    wrap_key: bytes,
    keyring: PublicKeyring,
    wants_notice: bool = False,
) -> None:
    """An anonymous reporter names themself, e.g. to claim a reward (DESIGN.md)."""
    identity, problems = validate_identity(identity)
    if tip.identity is not None:
        problems.append(Problem("name", N_("Your identity is already on this report.")))
    if problems:
        raise InvalidReport(problems)
    tip.identity = seal_identity(tip.id, identity, keyring=keyring, reporter_wrap_key=wrap_key)
    tip.real_name = True
    tip.wants_notice = tip.wants_notice or wants_notice
    record_event(session, tip, "identity_added")
