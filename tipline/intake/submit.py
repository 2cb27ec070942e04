"""The submission pipeline: validate, sanitise, encrypt, store, enqueue, return the receipt.

``submit_tip`` does the work inside a session the caller owns. ``Submitter`` wraps it in
one transaction and enqueues the post-processing job after the commit; if the enqueue fails
the tip is deleted again, so every failure leaves no tip, no chunk and no job, and a receipt
is only ever returned for a stored tip.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
import re
import secrets
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from typing import IO
from zoneinfo import ZoneInfo

from sqlalchemy import exists, insert, select
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
from tipline.intake import envelopes, jobs, reference
from tipline.intake.config import Limits
from tipline.intake.db import transaction
from tipline.intake.models import (
    Attachment,
    AttachmentChunk,
    Identity,
    Tip,
    TipEvent,
)
from tipline.intake.queue import Queue
from tipline.intake.reference import N_
from tipline.intake.rules import DISCIPLINE, Facts, is_about_staff
from tipline.intake.sanitize import clean_line, clean_text
from tipline.intake.scrub import ScrubError, detect_type, scrub

log = logging.getLogger(__name__)
CHINA = ZoneInfo("Asia/Shanghai")
MAX_TEXT = 20_000
MAX_ATTACHMENTS = 10
# The earliest days a report may give: tipline holds no tip received before 2000, and social
# insurance funds as the rules know them are younger than 1950. Earlier is a mistyped year.
EARLIEST_RECEIVED = dt.date(2000, 1, 1)
EARLIEST_HAPPENED = dt.date(1950, 1, 1)
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
UNACCEPTED_KIND = N_(
    "A file is not of an accepted kind: send pictures, PDF, office documents, sound or "
    "video recordings."
)
UNACCEPTED_KIND_NAMED = N_(
    "“%(name)s” is not of an accepted kind: send pictures, PDF, office documents, sound or "
    "video recordings."
)


def today() -> dt.date:
    """The reporting day in China, whatever the server's time zone."""
    return dt.datetime.now(CHINA).date()


@dataclass(frozen=True)
class Upload:
    filename: str
    content_type: str
    stream: IO[bytes]
    # Set when the file was not received: reading it would have taken the request's files
    # over their total limit, so only its size was counted (intake/web.py, BudgetedFile).
    dropped_bytes: int | None = None


@dataclass(frozen=True)
class ReporterIdentity:
    name: str
    id_number: str
    phone: str


@dataclass(frozen=True)
class Report:
    category: str
    region: str
    text: str
    channel: str = "web"
    received_on: dt.date | None = None
    fund: str | None = None
    suspect_kind: str | None = None
    # The administrative level of the reported unit (reference.UNIT_LEVELS).
    unit_level: str | None = None
    suspect_name: str | None = None
    happened_start: dt.date | None = None
    happened_end: dt.date | None = None
    ongoing: bool = False
    how_known: str | None = None
    amount: Decimal | None = None
    identity: ReporterIdentity | None = None
    wants_notice: bool = False
    uploads: Sequence[Upload] = field(default=())
    # The one-time token of the form this report came from (issue 8): a second submission
    # of the same form stores nothing. Only its digest is kept, with the tip.
    form_token: str | None = None

    def sealed_details(self) -> dict[str, object]:
        """What the reporter wrote, as sealed under the tip key: never a plaintext column."""
        return {
            "text": self.text,
            "amount": None if self.amount is None else str(self.amount),
            "suspect_name": self.suspect_name,
            "happened_start": self.happened_start and self.happened_start.isoformat(),
            "happened_end": self.happened_end and self.happened_end.isoformat(),
            "ongoing": self.ongoing,
            "how_known": self.how_known,
        }


@dataclass(frozen=True)
class Problem:
    field: str
    message: str  # an English message id; the interface translates it
    # Values for the message's %(name)s placeholders (a file name, a limit in MB).
    params: Mapping[str, object] = dataclasses.field(default_factory=dict)

    @property
    def english(self) -> str:
        """The message in English with its values filled in (logs, the command line)."""
        return self.message % self.params if self.params else self.message


class Msgid(str):
    """A parameter of a problem that is itself a message id, translated with it."""


def problem_text(problem: Problem) -> str:
    """The problem's message in the request's language, with its values filled in."""
    from flask_babel import gettext

    params = {
        name: gettext(value) if isinstance(value, Msgid) else value
        for name, value in problem.params.items()
    }
    return gettext(problem.message, **params)


class AlreadyReceived(Exception):
    """This form was submitted before and its report is stored: nothing is stored again."""


class InvalidReport(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class Stored:
    tip_id: str
    receipt: Receipt | None
    received_on: dt.date


_AMOUNT_UNITS = (("亿", Decimal(100_000_000)), ("万", Decimal(10_000)), ("千", Decimal(1_000)))
_AMOUNT_NOISE = re.compile(r"[\s,，_'’]")


def parse_amount(raw: str | None) -> Decimal | None:
    """An amount in yuan as people write it; raises ``InvalidOperation``.

    Forgiving (issue 8): full-width digits, ``¥``/``￥``/``RMB`` before, ``元``/``块`` after,
    thousands separators, and the units 万, 亿 and 千: ``150,000``, ``15万``, ``1.5万元``,
    ``¥150,000`` and ``１５万`` are all 150000.
    """
    if raw is None or not raw.strip():
        return None
    text = _AMOUNT_NOISE.sub("", unicodedata.normalize("NFKC", raw)).upper()
    text = text.removeprefix("¥").removeprefix("RMB").removeprefix("CNY")
    text = text.removesuffix("元").removesuffix("块").removesuffix("圆").removesuffix("人民币")
    factor = Decimal(1)
    for unit, value in _AMOUNT_UNITS:
        if text.endswith(unit):
            text, factor = text[: -len(unit)], value
            break
    if not re.fullmatch(r"-?\d+(\.\d+)?", text):
        raise InvalidOperation
    amount = Decimal(text) * factor
    if not amount.is_finite():
        raise InvalidOperation
    # Whole yuan as whole numbers (15万 is 150000, not 1.5E+5); a negative amount is left
    # for the validators to refuse by name.
    if amount == amount.to_integral_value():
        return amount.quantize(Decimal(1))
    return amount


def amount_band(amount: Decimal | None) -> str | None:
    if amount is None:
        return None
    for limit, band in AMOUNT_BANDS:
        if amount < limit:
            return band
    return "500k+"


_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_LANDLINE = re.compile(r"^0\d{2,3}\d{7,8}$")
# Spaces, dashes of every kind, dots and brackets people put between digit groups.
_PHONE_NOISE = re.compile(r"[\s()\-‐‑‒–—―.·]")


def normalise_phone(phone: str) -> str:
    """The digits of a telephone number as written: ``138 1234 5678``, ``138-1234-5678``,
    ``(0755) 1234-5678``, ``+86 138…`` and full-width digits all come down to the digits."""
    digits = _PHONE_NOISE.sub("", unicodedata.normalize("NFKC", phone))
    return digits.removeprefix("+86").removeprefix("0086")


# GB 11643-1999: the weights of the first 17 digits, and the check character for each
# remainder of their weighted sum modulo 11.
_RIC_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_RIC_CHECK = "10X98765432"
_RIC_SHAPE = re.compile(r"\d{17}[\dX]")
# Province-level codes of GB/T 2260, plus 71 (Taiwan), 81 and 82 (Hong Kong, Macao) and
# 83 (residence permits of Taiwan residents).
_RIC_PROVINCES = frozenset(
    f"{code}"
    for code in (11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44,
                 45, 46, 50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83)
)  # fmt: skip
_RIC_EARLIEST_BIRTH = dt.date(1900, 1, 1)


def ric_problem(id_number: str) -> str | None:
    """Why ``id_number`` (compacted, upper case) is not a resident identity card number, or
    None when it is one.

    Structure, check digit (GB 11643), birth date and province only (issue 8): the district
    code is NOT checked against the codes that existed in the birth year. District codes
    are renamed, merged and split (441502 dates from 1988); people keep their numbers, so a
    real number whose district changed must pass. Used by every route that takes an ID."""
    if not id_number:
        return N_("Give your resident identity card number.")
    if not _RIC_SHAPE.fullmatch(id_number):
        return N_(
            "A resident identity card number has 18 characters: 17 digits and a last digit "
            "or X."
        )
    digits = zip(id_number[:17], _RIC_WEIGHTS, strict=True)
    total = sum(int(digit) * weight for digit, weight in digits)
    if _RIC_CHECK[total % 11] != id_number[17]:
        return N_("This number has a typing mistake: please check each digit against your card.")
    try:
        born = dt.date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))
    except ValueError:
        born = None
    if born is None or not (_RIC_EARLIEST_BIRTH <= born <= today()):
        return N_("The birth date in this number (digits 7 to 14) is not a real date.")
    if id_number[:2] not in _RIC_PROVINCES:
        return N_("The first two digits of this number are not a province code.")
    return None


def compact_id_number(raw: str) -> str:
    """An ID number as typed, without spaces or dashes, full-width digits made ASCII."""
    return re.sub(r"[\s\-]", "", unicodedata.normalize("NFKC", raw)).upper()


MAX_NAME = 50
MAX_SUSPECT_NAME = 200
# Raw bounds on what is only stripped and compared, never stored as typed: far above any
# valid value, so only garbage is refused, and before anything works on it.
MAX_ID_NUMBER_RAW = 64
MAX_PHONE_RAW = 64


def too_long(text: str | None, limit: int) -> bool:
    """Whether a raw value is over its limit. Checked before sanitising, which costs far
    more per character than counting (issue 7: 20 MiB cost two minutes of CPU)."""
    return text is not None and len(text) > limit


def validate_identity(identity: ReporterIdentity) -> tuple[ReporterIdentity, list[Problem]]:
    problems = []
    name = "" if too_long(identity.name, MAX_NAME) else clean_line(identity.name)
    if not name or len(name) > MAX_NAME:
        problems.append(Problem("name", N_("Give your name as on your identity card.")))
    if too_long(identity.id_number, MAX_ID_NUMBER_RAW):
        id_number, id_problem = "", ric_problem("-")
    else:
        id_number = compact_id_number(identity.id_number)
        id_problem = ric_problem(id_number)
    if id_problem:
        problems.append(Problem("id_number", id_problem))
    phone = "" if too_long(identity.phone, MAX_PHONE_RAW) else normalise_phone(identity.phone)
    if not phone and not (identity.phone or "").strip():
        problems.append(
            Problem("phone", N_("Give a telephone number where the officers can reach you."))
        )
    elif not (_MOBILE.match(phone) or _LANDLINE.match(phone)):
        problems.append(
            Problem("phone", N_("Give a mobile number of 11 digits or a landline with area code."))
        )
    return ReporterIdentity(name=name, id_number=id_number, phone=phone), problems


def upload_size(upload: Upload) -> int:
    upload.stream.seek(0, 2)
    size = upload.stream.tell()
    upload.stream.seek(0)
    return size


def validate_uploads(
    uploads: Sequence[Upload], limits: Limits, *, already: int = 0
) -> list[Problem]:
    """Count, size and type of evidence files; ``already`` files are stored before these."""
    problems = []
    if already + len(uploads) > MAX_ATTACHMENTS:
        problems.append(
            Problem("attachments", N_("Attach at most %(count)s files in all."),
                    {"count": MAX_ATTACHMENTS})
        )  # fmt: skip
    total = 0
    dropped = [upload for upload in uploads if upload.dropped_bytes is not None]
    if dropped:
        problems.append(not_sent([upload.filename for upload in dropped], limits.max_total_bytes))
    for upload in uploads:
        if upload.dropped_bytes is not None:
            continue
        size = upload_size(upload)
        total += size
        name = {"name": upload.filename}
        if size > limits.max_file_bytes:
            problems.append(too_large(upload.filename, size, limits.max_file_bytes))
        elif size == 0:
            problems.append(Problem("attachments", N_("“%(name)s” is empty."), name))
        # The whole file, not its first bytes: a zip's contents decide what it really is.
        elif detect_type(upload.filename, upload.stream.read()) is None:
            problems.append(Problem("attachments", UNACCEPTED_KIND_NAMED, name))
        upload.stream.seek(0)
    if total > limits.max_total_bytes:
        problems.append(together_too_large(total, limits.max_total_bytes))
    return problems


def megabytes(size: int) -> str:
    """A size for people: MB with one decimal at most (``20``, ``20.5``)."""
    value = size / (1024 * 1024)
    return f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"


def too_large(filename: str, size: int, limit: int) -> Problem:
    """One file over the per-file limit, named with its size and the limit (issue 8)."""
    return Problem(
        "attachments",
        N_("“%(name)s” is %(size)s MB: each file may be at most %(limit)s MB."),
        {"name": filename, "size": megabytes(size), "limit": megabytes(limit)},
    )


def together_too_large(total: int, limit: int) -> Problem:
    return Problem(
        "attachments",
        N_("The files together are %(size)s MB: together they may be at most %(limit)s MB."),
        {"size": megabytes(total), "limit": megabytes(limit)},
    )


def not_sent(filenames: Sequence[str], limit: int) -> Problem:
    """Files the site did not take in at all, because the request was over its total limit:
    the text of the form was kept, these files were not (issue 8)."""
    return Problem(
        "attachments",
        N_("Not received, because the files together may be at most %(limit)s MB: %(names)s."),
        {"names": "、".join(f"“{name}”" for name in filenames), "limit": megabytes(limit)},
    )


def _optional_code(
    value: str | None, terms: tuple[reference.Term, ...], name: str, message: str
) -> list[Problem]:
    if value is not None and value not in reference.codes(terms):
        return [Problem(name, message)]
    return []


def validate(report: Report, *, limits: Limits) -> tuple[Report, list[Problem]]:
    """The report with its text cleaned, and every problem found (not just the first)."""
    problems: list[Problem] = []
    if report.category not in reference.codes(reference.CATEGORIES):
        problems.append(Problem("category", N_("Choose the kind of wrongdoing from the list.")))
    if report.region not in reference.regions():
        problems.append(Problem("region", N_("Choose the place where it happened.")))
    if report.channel not in reference.codes(reference.CHANNELS):
        problems.append(Problem("channel", N_("Unknown channel.")))
    problems += _optional_code(
        report.fund, reference.FUNDS, "fund", N_("Choose the fund from the list.")
    )
    problems += _optional_code(
        report.suspect_kind,
        reference.SUSPECT_KINDS,
        "suspect_kind",
        N_("Choose who did it from the list."),
    )
    problems += _optional_code(
        report.unit_level,
        reference.UNIT_LEVELS,
        "unit_level",
        N_("Choose the level of the unit from the list."),
    )
    problems += _optional_code(
        report.how_known,
        reference.HOW_KNOWN,
        "how_known",
        N_("Choose how you know from the list."),
    )
    if report.amount is not None and not (0 <= report.amount <= MAX_AMOUNT):
        problems.append(Problem("amount", N_("Give the amount in yuan as a positive number.")))
    if report.received_on is not None and report.received_on > today():
        problems.append(Problem("received_on", N_("The date received cannot be in the future.")))
    elif report.received_on is not None and report.received_on < EARLIEST_RECEIVED:
        # A mistyped year (0025 for 2025) would be counted in working days for ever after.
        problems.append(
            Problem("received_on", N_("The date received is before 2000: check the year."))
        )
    for name in ("happened_start", "happened_end"):
        day = getattr(report, name)
        if day is not None and day > today():
            problems.append(Problem(name, N_("This date is in the future.")))
        elif day is not None and day < EARLIEST_HAPPENED:
            problems.append(Problem(name, N_("This date is before 1950: check the year.")))
    start, end = report.happened_start, report.happened_end
    if start and end and start > end:
        problems.append(Problem("happened_end", N_("The end comes before the start.")))
    # Raw lengths first: nothing is sanitised that is already too long. The cleaned text is
    # measured again, since Unicode normalisation can lengthen a text.
    text = "" if too_long(report.text, MAX_TEXT) else clean_text(report.text)
    if too_long(report.text, MAX_TEXT) or len(text) > MAX_TEXT:
        problems.append(
            Problem("text", N_("The description is too long: at most 20,000 characters."))
        )
    elif not text:
        problems.append(Problem("text", N_("Describe what happened.")))
    suspect_name = None
    if too_long(report.suspect_name, MAX_SUSPECT_NAME):
        problems.append(
            Problem("suspect_name", N_("The name is too long: at most 200 characters."))
        )
    else:
        suspect_name = (
            clean_line(report.suspect_name)[:MAX_SUSPECT_NAME] or None
            if report.suspect_name
            else None
        )
    identity = report.identity
    if identity is not None:
        identity, identity_problems = validate_identity(identity)
        problems += identity_problems
    elif report.wants_notice:
        # T2 notices go to real-name reporters (domain.md section 3).
        problems.append(
            Problem("wants_notice", N_("To be told of acceptance, report under your real name."))
        )
    problems += validate_uploads(report.uploads, limits)
    cleaned = replace(
        report,
        text=text,
        suspect_name=suspect_name,
        received_on=report.received_on or today(),
        identity=identity,
        # Not known is stored as nothing: a rule asking for "unknown" matches both.
        unit_level=None if report.unit_level == "unknown" else report.unit_level,
    )
    return cleaned, problems


def _unused_receipt(session: Session) -> Receipt:
    """A fresh receipt whose locator no stored tip uses (a unique index backs this up)."""
    while True:
        receipt = new_receipt()
        if not session.scalar(select(exists().where(Tip.reporter_locator == receipt.locator))):
            return receipt


def store_upload(
    session: Session,
    tip_id: str,
    tip_key: bytes,
    position: int,
    upload: Upload,
    *,
    max_bytes: int,
) -> None:
    """Scrub, encrypt and add one evidence file of a tip, chunk by chunk."""
    try:
        # The file limit holds for what is stored too: a redraw may grow (issue 7).
        scrubbed = scrub(upload.stream, upload.filename, max_bytes=max_bytes)
    except ScrubError as exc:
        raise InvalidReport(
            [Problem("attachments", N_("“%(name)s”: %(reason)s"),
                     {"name": upload.filename, "reason": Msgid(exc.message)})]
        ) from exc  # fmt: skip
    if scrubbed.file_type is None:
        # Only kinds the scrubber knows are stored: nothing passes through uncleaned.
        raise InvalidReport(
            [Problem("attachments", UNACCEPTED_KIND_NAMED, {"name": upload.filename})]
        )
    attachment_id = secrets.token_hex(8)
    sealer = StreamSealer(tip_key, tip_id=tip_id, stream_id=attachment_id)
    scrubbed.data.seek(0, 2)
    size = scrubbed.data.tell()
    scrubbed.data.seek(0)
    meta = {
        "filename": clean_line(scrubbed.stored_name(upload.filename))[:255] or "attachment",
        "content_type": scrubbed.file_type.mime
        if scrubbed.converted
        else clean_line(upload.content_type)[:127] or "application/octet-stream",
        "size": size,
        "scrubbed": scrubbed.kind,
        "metadata_removed": scrubbed.removed,
    }
    attachment = Attachment(
        id=attachment_id,
        tip_id=tip_id,
        position=position,
        meta=seal(
            tip_key,
            json.dumps(meta, ensure_ascii=False).encode(),
            tip_id=tip_id,
            purpose=f"attachment-meta:{attachment_id}",
        ),
        stream_header=sealer.header,
        # Known before the chunks go in, so the row is never updated: the portal's database
        # role may insert attachments but not change them (intake/roles.py).
        chunk_count=StreamSealer.chunk_count(size),
    )
    session.add(attachment)
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
    if count != attachment.chunk_count:
        raise RuntimeError("the scrubbed file changed size while it was sealed")


def seal_identity(
    tip_id: str,
    identity: ReporterIdentity,
    *,
    keyring: PublicKeyring,
    reporter_wrap_key: bytes | None,
) -> Identity:
    """The identity in an envelope of its own: its own key, wrapped apart from the tip key."""
    identity_key = new_tip_key()
    data = json.dumps(
        {"name": identity.name, "id_number": identity.id_number, "phone": identity.phone},
        ensure_ascii=False,
    ).encode()
    return Identity(
        tip_id=tip_id,
        key_id=keyring.current.kid,
        # A distinct id in the HPKE binding, so this envelope cannot pass for the tip key's.
        key_envelope=envelopes.wrap(keyring, identity_key, envelopes.identity_owner(tip_id)),
        reporter_key=None
        if reporter_wrap_key is None
        else seal(reporter_wrap_key, identity_key, tip_id=tip_id, purpose="reporter-identity-key"),
        data=seal(identity_key, data, tip_id=tip_id, purpose="identity"),
    )


def form_digest(token: str) -> str:
    """What is kept of a form's one-time token: its SHA-256. The token is 256 random bits,
    drawn when the form was shown and kept nowhere else, so the digest says nothing of
    when the form was shown or sent; its unique index stops a second tip (issue 8)."""
    return hashlib.sha256(token.encode()).hexdigest()


def submit_tip(
    session: Session,
    report: Report,
    *,
    keyring: PublicKeyring,
    kdf: ReceiptKdf,
    limits: Limits,
    with_receipt: bool = True,
) -> Stored:
    """Validate, encrypt and add one tip to ``session``; the caller commits."""
    report, problems = validate(report, limits=limits)
    if problems:
        raise InvalidReport(problems)
    assert report.received_on is not None
    tip_id = secrets.token_hex(8)
    tip_key = new_tip_key()
    # A tip about staff is sealed from its first moment (domain.md section 2): that rule is
    # the law, not a rule pack, so it needs nothing the portal may not read. Routing by the
    # packs and the clocks follow in the post-submission job, which the portal's database
    # role leaves to the worker; until then no officer sees the tip (triage/scope.py).
    about_staff = is_about_staff(Facts(category=report.category, region=report.region,
                                       suspect_kind=report.suspect_kind))  # fmt: skip
    tip = Tip(
        id=tip_id,
        received_on=report.received_on,
        channel=report.channel,
        category=report.category,
        fund=report.fund,
        region=report.region,
        suspect_kind=report.suspect_kind,
        unit_level=report.unit_level,
        amount_band=amount_band(report.amount),
        status="received",
        processed=False,
        sealed=about_staff,
        bureau=DISCIPLINE if about_staff else None,
        handling_region=report.region,
        handling_city=report.region[:4],
        handling_province=report.region[:2],
        real_name=report.identity is not None,
        wants_notice=report.wants_notice,
        format_version=1,
        key_id=keyring.current.kid,
        key_envelope=envelopes.wrap(keyring, tip_key, envelopes.tip_owner(tip_id)),
        internal_envelope=envelopes.wrap(keyring, new_tip_key(), envelopes.internal_owner(tip_id)),
        report=seal(
            tip_key,
            json.dumps(report.sealed_details(), ensure_ascii=False).encode(),
            tip_id=tip_id,
            purpose="report",
        ),
    )
    receipt: Receipt | None = None
    wrap_key: bytes | None = None
    if with_receipt:
        receipt = _unused_receipt(session)
        salt = kdf.new_salt()
        verifier, wrap_key = kdf.derive(receipt, salt)
        tip.reporter_locator = receipt.locator
        tip.reporter_salt = salt
        tip.reporter_kdf_n = kdf.n
        tip.reporter_verifier = verifier
        tip.reporter_key = seal(wrap_key, tip_key, tip_id=tip_id, purpose="reporter-key")
    if report.identity is not None:
        tip.identity = seal_identity(
            tip_id, report.identity, keyring=keyring, reporter_wrap_key=wrap_key
        )
    if report.form_token:
        digest = form_digest(report.form_token)
        if session.scalar(select(exists().where(Tip.form_digest == digest))):
            raise AlreadyReceived
        tip.form_digest = digest
    tip.events.append(TipEvent(on=report.received_on, kind="received"))
    session.add(tip)
    session.flush()
    for position, upload in enumerate(report.uploads):
        store_upload(session, tip_id, tip_key, position, upload, max_bytes=limits.max_file_bytes)
    return Stored(tip_id, receipt, report.received_on)


class Submitter:
    """Stores tips atomically and starts their post-processing."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        *,
        keyring: PublicKeyring,
        queue: Queue,
        kdf: ReceiptKdf,
        limits: Limits,
    ) -> None:
        self.factory = factory
        self.keyring = keyring
        self.queue = queue
        self.kdf = kdf
        self.limits = limits

    def _already_received(self, reports: Sequence[Report]) -> bool:
        digests = [form_digest(r.form_token) for r in reports if r.form_token]
        if not digests:
            return False
        with self.factory() as session:
            return bool(session.scalar(select(exists().where(Tip.form_digest.in_(digests)))))

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
                            limits=self.limits,
                            with_receipt=with_receipt,
                        )
                        for report in reports
                    ]
                break
            except IntegrityError:
                # The same form sent twice at once: the other request stored it.
                if self._already_received(reports):
                    raise AlreadyReceived from None
                # Two submissions drew the same locator at once; draw again.
                if attempt == 2:
                    raise
                for report in reports:
                    for upload in report.uploads:
                        upload.stream.seek(0)
        try:
            # The job names no tip: it takes every tip not yet processed, so nothing in
            # Redis ties a tip to the moment it came (DESIGN.md, "Least privilege").
            self.queue.enqueue(jobs.process_new_tips)
        except Exception as exc:
            # The tips are stored and their receipts good; the worker's sweep for unprocessed
            # tips routes them when the queue is back. The log names no tip: with its time
            # it would date a submission.
            log.warning("post-submission job not queued (%s); the sweep will route the tip",
                        type(exc).__name__)  # fmt: skip
        return stored
