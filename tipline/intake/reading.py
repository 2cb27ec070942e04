"""Opening a stored tip: by the reporter with a receipt, or by triage with the private keys."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tipline.crypto import (
    InvalidCiphertext,
    PrivateKeyring,
    Receipt,
    ReceiptKdf,
    StreamOpener,
    open_sealed,
)
from tipline.intake import envelopes
from tipline.intake.models import Attachment, AttachmentChunk, Tip

CHUNK_FETCH = 16


class ReceiptNotFound(Exception):
    """No tip answers to this receipt (unknown locator or wrong secret: never said which)."""


@dataclass(frozen=True)
class AttachmentInfo:
    id: str
    filename: str
    content_type: str
    size: int
    scrubbed: str


@dataclass(frozen=True)
class ShownMessage:
    id: int
    author: str
    sent_on: dt.date
    asks_reply: bool
    text: str
    # Who sent an officer's message, and when (UTC); None for the reporter's, which keep
    # their day only.
    officer_id: int | None = None
    sent_at: dt.datetime | None = None


@dataclass(frozen=True)
class OpenedTip:
    """A tip with its key: what was reported, the files, the messages."""

    tip: Tip
    key: bytes
    details: dict[str, Any]
    # The officers' own key (notes, request reasons); None when a reporter opened the tip.
    internal_key: bytes | None = None

    @property
    def text(self) -> str:
        return str(self.details["text"])

    @property
    def amount(self) -> str | None:
        return self.details.get("amount")

    def messages(self) -> list[ShownMessage]:
        return [
            ShownMessage(
                id=message.id,
                author=message.author,
                sent_on=message.sent_on,
                asks_reply=message.asks_reply,
                text=open_sealed(
                    self.key, message.body, tip_id=self.tip.id, purpose=f"message:{message.id}"
                ).decode(),
                officer_id=message.officer_id,
                sent_at=message.sent_at,
            )
            for message in self.tip.messages
        ]

    def attachments(self) -> list[AttachmentInfo]:
        found = []
        for attachment in self.tip.attachments:
            meta = json.loads(
                open_sealed(
                    self.key,
                    attachment.meta,
                    tip_id=self.tip.id,
                    purpose=f"attachment-meta:{attachment.id}",
                )
            )
            found.append(
                AttachmentInfo(
                    id=attachment.id,
                    filename=meta["filename"],
                    content_type=meta["content_type"],
                    size=meta["size"],
                    scrubbed=meta["scrubbed"],
                )
            )
        return found

    def attachment_content(self, session: Session, attachment_id: str) -> Iterator[bytes]:
        """The decrypted file, chunk by chunk, fetched a few chunks at a time."""
        attachment = session.get(Attachment, attachment_id)
        if attachment is None or attachment.tip_id != self.tip.id:
            raise KeyError(attachment_id)
        opener = StreamOpener(
            self.key, attachment.stream_header, tip_id=self.tip.id, stream_id=attachment.id
        )
        return opener.open_chunks(_chunks(session, attachment.id))


def _chunks(session: Session, attachment_id: str) -> Iterator[bytes]:
    seq = 0
    while True:
        rows = session.scalars(
            select(AttachmentChunk.data)
            .where(AttachmentChunk.attachment_id == attachment_id, AttachmentChunk.seq >= seq)
            .order_by(AttachmentChunk.seq)
            .limit(CHUNK_FETCH)
        ).all()
        yield from rows
        if len(rows) < CHUNK_FETCH:
            return
        seq += CHUNK_FETCH


def _open(tip: Tip, key: bytes, internal_key: bytes | None = None) -> OpenedTip:
    details = json.loads(open_sealed(key, tip.report, tip_id=tip.id, purpose="report"))
    return OpenedTip(tip=tip, key=key, details=details, internal_key=internal_key)


# A salt for the dummy derivation done when a locator is unknown, so an attacker cannot tell
# unknown locators from wrong secrets by the time an answer takes.
_DUMMY_SALT = bytes(16)


def reporter_key(session: Session, receipt: Receipt, kdf: ReceiptKdf) -> tuple[str, bytes]:
    """The tip id and the key the receipt derives, if the receipt is right.

    The key, not the receipt, is what a signed-in reporter's session keeps: it opens the
    reporter's copies of the tip key and the identity key without repeating the scrypt.
    """
    tip = session.scalar(select(Tip).where(Tip.reporter_locator == receipt.locator))
    if tip is None or tip.reporter_salt is None or tip.reporter_verifier is None:
        kdf.derive(receipt, _DUMMY_SALT)
        raise ReceiptNotFound
    if tip.reporter_kdf_n is not None and tip.reporter_kdf_n != kdf.n:
        kdf = replace(kdf, n=tip.reporter_kdf_n)
    wrap_key = kdf.verify(receipt, tip.reporter_salt, tip.reporter_verifier)
    if wrap_key is None:
        raise ReceiptNotFound
    return tip.id, wrap_key


def open_as_reporter(session: Session, tip_id: str, wrap_key: bytes) -> OpenedTip:
    tip = session.get(Tip, tip_id)
    if tip is None or tip.reporter_key is None:
        raise ReceiptNotFound
    try:
        key = open_sealed(wrap_key, tip.reporter_key, tip_id=tip.id, purpose="reporter-key")
    except InvalidCiphertext as exc:
        raise ReceiptNotFound from exc
    return _open(tip, key)


def open_with_receipt(session: Session, receipt: Receipt, kdf: ReceiptKdf) -> OpenedTip:
    return open_as_reporter(session, *reporter_key(session, receipt, kdf))


def reporter_identity(tip: Tip, wrap_key: bytes) -> dict[str, str] | None:
    """The identity the reporter gave, opened with the reporter's own key."""
    identity = tip.identity
    if identity is None or identity.reporter_key is None:
        return None
    key = open_sealed(
        wrap_key, identity.reporter_key, tip_id=tip.id, purpose="reporter-identity-key"
    )
    data: dict[str, str] = json.loads(
        open_sealed(key, identity.data, tip_id=tip.id, purpose="identity")
    )
    return data


def open_tip(tip: Tip, keyring: PrivateKeyring) -> OpenedTip:
    """Open a tip with the installation's private keys (triage only)."""
    return _open(
        tip,
        envelopes.unwrap(keyring, tip.key_envelope, envelopes.tip_owner(tip.id)),
        envelopes.unwrap(keyring, tip.internal_envelope, envelopes.internal_owner(tip.id)),
    )


def open_with_keyring(session: Session, tip_id: str, keyring: PrivateKeyring) -> OpenedTip | None:
    tip = session.get(Tip, tip_id)
    return None if tip is None else open_tip(tip, keyring)


__all__ = [
    "AttachmentInfo",
    "InvalidCiphertext",
    "OpenedTip",
    "ReceiptNotFound",
    "ShownMessage",
    "open_as_reporter",
    "open_tip",
    "open_with_keyring",
    "open_with_receipt",
    "reporter_identity",
    "reporter_key",
]
