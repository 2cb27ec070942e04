"""The submission pipeline: validate, sanitise, encrypt, store, enqueue, return the receipt.

``submit_tip`` does the work inside a session the caller owns. ``Submitter`` wraps it in
one transaction and enqueues the post-processing job after the commit; if the enqueue fails
the tip is deleted again, so every failure leaves no tip, no chunk and no job, and a receipt
is only ever returned for a stored tip.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import BinaryIO
from zoneinfo import ZoneInfo

from sqlalchemy import delete, exists, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from tipline.crypto import (
    PublicKeyring,
    Receipt,
    ReceiptKdf,
    StreamSealer,
    new_receipt,
    new_tip_key,
    seal,
)
from tipline.intake import jobs, reference
from tipline.intake.db import transaction
from tipline.intake.models import Attachment, AttachmentChunk, Tip
from tipline.intake.queue import Queue
from tipline.intake.reference import N_
from tipline.intake.sanitize import clean_line, clean_text
from tipline.intake.scrub import ScrubError, scrub

CHINA = ZoneInfo("Asia/Shanghai")
MAX_TEXT = 20_000
MAX_ATTACHMENTS = 10
MAX_AMOUNT = Decimal("1000000000000")
# Amount bands follow the fraud thresholds of 法释〔2011〕7号 and the ¥10,000 / ¥30,000
# embezzlement thresholds (domain.md sections 2 and 4); the amount as written stays sealed.
AMOUNT_BANDS: tuple[tuple[Decimal, str], ...] = (
    (Decimal(3_000), "lt3k"),
    (Decimal(10_000), "3k-10k"),
    (Decimal(30_000), "10k-30k"),
    (Decimal(100_000), "30k-100k"),
    (Decimal(500_000), "100k-500k"),
)
CHUNK_BATCH = 16


def today() -> dt.date:
    """The reporting day in China, whatever the server's time zone."""
    return dt.datetime.now(CHINA).date()


@dataclass(frozen=True)
class Upload:
    filename: str
    content_type: str
    stream: BinaryIO


@dataclass(frozen=True)
class Report:
    category: str
    region: str
    text: str
    channel: str = "web"
    received_on: dt.date | None = None
    fund: str | None = None
    suspect_kind: str | None = None
    amount: Decimal | None = None
    uploads: Sequence[Upload] = field(default=())


@dataclass(frozen=True)
class Problem:
    field: str
    message: str  # an English message id; the interface translates it


class InvalidReport(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class Stored:
    tip_id: str
    receipt: Receipt | None


def parse_amount(raw: str | None) -> Decimal | None:
    """An amount in yuan as typed (``12,000`` or ``12000.50``); raises ``InvalidOperation``."""
    if raw is None or not raw.strip():
        return None
    return Decimal(raw.strip().replace(",", "").replace("，", "").removeprefix("¥"))


def amount_band(amount: Decimal | None) -> str | None:
    if amount is None:
        return None
    for limit, band in AMOUNT_BANDS:
        if amount < limit:
            return band
    return "500k+"


def validate(report: Report, *, max_upload_bytes: int) -> tuple[Report, list[Problem]]:
    """The report with its text cleaned, and every problem found (not just the first)."""
    problems: list[Problem] = []
    if report.category not in reference.codes(reference.CATEGORIES):
        problems.append(Problem("category", N_("Choose the kind of wrongdoing from the list.")))
    if report.region not in reference.regions():
        problems.append(
            Problem("region", N_("Give the place as a six-digit region code, e.g. 441502."))
        )
    if report.channel not in reference.codes(reference.CHANNELS):
        problems.append(Problem("channel", N_("Unknown channel.")))
    if report.fund is not None and report.fund not in reference.codes(reference.FUNDS):
        problems.append(Problem("fund", N_("Choose the fund from the list.")))
    if report.suspect_kind is not None and report.suspect_kind not in reference.codes(
        reference.SUSPECT_KINDS
    ):
        problems.append(Problem("suspect_kind", N_("Choose who did it from the list.")))
    if report.amount is not None and not (0 <= report.amount <= MAX_AMOUNT):
        problems.append(Problem("amount", N_("Give the amount in yuan as a positive number.")))
    if report.received_on is not None and report.received_on > today():
        problems.append(Problem("received_on", N_("The date received cannot be in the future.")))
    text = clean_text(report.text)
    if not text:
        problems.append(Problem("text", N_("Describe what happened.")))
    elif len(text) > MAX_TEXT:
        problems.append(
            Problem("text", N_("The description is too long: at most 20,000 characters."))
        )
    if len(report.uploads) > MAX_ATTACHMENTS:
        problems.append(Problem("attachments", N_("Attach at most 10 files.")))
    for upload in report.uploads:
        upload.stream.seek(0, 2)
        size = upload.stream.tell()
        upload.stream.seek(0)
        if size > max_upload_bytes:
            problems.append(Problem("attachments", N_("A file is larger than the limit.")))
    cleaned = Report(
        category=report.category,
        region=report.region,
        text=text,
        channel=report.channel,
        received_on=report.received_on or today(),
        fund=report.fund,
        suspect_kind=report.suspect_kind,
        amount=report.amount,
        uploads=report.uploads,
    )
    return cleaned, problems


def _unused_receipt(session: Session) -> Receipt:
    """A fresh receipt whose locator no stored tip uses (a unique index backs this up)."""
    while True:
        receipt = new_receipt()
        if not session.scalar(select(exists().where(Tip.reporter_locator == receipt.locator))):
            return receipt


def _store_upload(
    session: Session, tip_id: str, tip_key: bytes, position: int, upload: Upload
) -> None:
    try:
        scrubbed = scrub(upload.stream)
    except ScrubError as exc:
        raise InvalidReport(
            [Problem("attachments", N_("A picture could not be read; it may be damaged."))]
        ) from exc
    attachment_id = secrets.token_hex(8)
    sealer = StreamSealer(tip_key, tip_id=tip_id, stream_id=attachment_id)
    scrubbed.data.seek(0, 2)
    size = scrubbed.data.tell()
    scrubbed.data.seek(0)
    meta = {
        "filename": clean_line(upload.filename)[:255] or "attachment",
        "content_type": clean_line(upload.content_type)[:127] or "application/octet-stream",
        "size": size,
        "scrubbed": scrubbed.kind,
        "metadata_removed": scrubbed.removed,
    }
    session.add(
        Attachment(
            id=attachment_id,
            tip_id=tip_id,
            position=position,
            meta=seal(
                tip_key,
                json.dumps(meta).encode(),
                tip_id=tip_id,
                purpose=f"attachment-meta:{attachment_id}",
            ),
            stream_header=sealer.header,
            chunk_count=0,
        )
    )
    session.flush()
    # Chunks go in with Core inserts in small batches, so the session never holds a
    # whole file's worth of objects: memory stays flat whatever the size.
    batch: list[dict[str, object]] = []
    count = 0
    for count, chunk in enumerate(sealer.seal_file(scrubbed.data), start=1):
        batch.append({"attachment_id": attachment_id, "seq": count - 1, "data": chunk})
        if len(batch) == CHUNK_BATCH:
            session.execute(insert(AttachmentChunk), batch)
            batch = []
    if batch:
        session.execute(insert(AttachmentChunk), batch)
    attachment = session.get(Attachment, attachment_id)
    assert attachment is not None
    attachment.chunk_count = count


def submit_tip(
    session: Session,
    report: Report,
    *,
    keyring: PublicKeyring,
    kdf: ReceiptKdf,
    max_upload_bytes: int,
    with_receipt: bool = True,
) -> Stored:
    """Validate, encrypt and add one tip to ``session``; the caller commits."""
    report, problems = validate(report, max_upload_bytes=max_upload_bytes)
    if problems:
        raise InvalidReport(problems)
    tip_id = secrets.token_hex(8)
    tip_key = new_tip_key()
    sealed_report = seal(
        tip_key,
        json.dumps(
            {"text": report.text, "amount": None if report.amount is None else str(report.amount)},
            ensure_ascii=False,
        ).encode(),
        tip_id=tip_id,
        purpose="report",
    )
    tip = Tip(
        id=tip_id,
        received_on=report.received_on,
        channel=report.channel,
        category=report.category,
        fund=report.fund,
        region=report.region,
        suspect_kind=report.suspect_kind,
        amount_band=amount_band(report.amount),
        status="received",
        processed=False,
        format_version=1,
        key_id=keyring.current.kid,
        key_envelope=keyring.wrap(tip_key, tip_id=tip_id),
        report=sealed_report,
    )
    receipt: Receipt | None = None
    if with_receipt:
        receipt = _unused_receipt(session)
        salt = kdf.new_salt()
        verifier, wrap_key = kdf.derive(receipt, salt)
        tip.reporter_locator = receipt.locator
        tip.reporter_salt = salt
        tip.reporter_kdf_n = kdf.n
        tip.reporter_verifier = verifier
        tip.reporter_key = seal(wrap_key, tip_key, tip_id=tip_id, purpose="reporter-key")
    session.add(tip)
    session.flush()
    for position, upload in enumerate(report.uploads):
        _store_upload(session, tip_id, tip_key, position, upload)
    return Stored(tip_id, receipt)


class Submitter:
    """Stores tips atomically and starts their post-processing."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        *,
        keyring: PublicKeyring,
        queue: Queue,
        kdf: ReceiptKdf,
        max_upload_bytes: int,
    ) -> None:
        self.factory = factory
        self.keyring = keyring
        self.queue = queue
        self.kdf = kdf
        self.max_upload_bytes = max_upload_bytes

    def submit(self, report: Report, *, with_receipt: bool = True) -> Stored:
        return self.submit_many([report], with_receipt=with_receipt)[0]

    def submit_many(self, reports: Sequence[Report], *, with_receipt: bool = True) -> list[Stored]:
        """All of ``reports`` in one transaction, or none of them."""
        for attempt in range(3):
            try:
                with transaction(self.factory) as session:
                    stored = [
                        submit_tip(
                            session,
                            report,
                            keyring=self.keyring,
                            kdf=self.kdf,
                            max_upload_bytes=self.max_upload_bytes,
                            with_receipt=with_receipt,
                        )
                        for report in reports
                    ]
                break
            except IntegrityError:
                # Two submissions drew the same locator at once; draw again.
                if attempt == 2:
                    raise
                for report in reports:
                    for upload in report.uploads:
                        upload.stream.seek(0)
        try:
            # One job for the batch: it is enqueued whole or not at all.
            self.queue.enqueue(jobs.post_submission, [item.tip_id for item in stored])
        except BaseException:
            self._forget([item.tip_id for item in stored])
            raise
        return stored

    def _forget(self, tip_ids: list[str]) -> None:
        with transaction(self.factory) as session:
            session.execute(delete(Tip).where(Tip.id.in_(tip_ids)))
