"""The audit log: every sign-in, every decryption, every change, with who and when.

The log is append-only and hash-chained. Each entry stores the hash of the entry before it
(``prev_hash``; 64 zeros for the first) and its own ``hash``, a SHA-256 over its fields and
``prev_hash`` (see ``entry_hash`` for the exact encoding, so an outside tool can recompute
it). ``verify`` walks the entries by id and names the first one that was altered, or that
does not follow the one before it (an entry removed, reordered or inserted before it).

What the chain cannot show by itself: removing the newest entries (the shortened log is
still a valid chain), or rewriting the log from some entry onwards with every hash recomputed
(anyone who can write to the database can compute SHA-256). Both change the head, so an
operator who writes down or exports ``head()`` from time to time (``tipline audit head``) and
checks it later (``tipline audit verify --expect-head HASH``) catches them, back to the last
head noted.

Appending is serialised, so two transactions never chain onto the same entry: on PostgreSQL
``record`` takes a transaction-scoped advisory lock before it writes; on SQLite the INSERT
itself takes the database's single write lock (waiting under ``busy_timeout``). In both
cases the previous entry is read only after the lock is held, and the lock is held until the
caller's transaction ends, so the next appender sees this entry committed (or rolled back).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from tipline.intake.models import AuditEvent

GENESIS = "0" * 64
"""The ``prev_hash`` of the first entry."""

ALTERED = "altered"
UNLINKED = "out of order or missing before this entry"

# Any constant works as long as nothing else in the database uses it; this one is
# "tipline" in ASCII. Transaction-scoped, so it is released when the caller commits.
_PG_APPEND_LOCK = 0x7469706C696E65
_FORMAT = "tipline-audit-v1"


def _utc_iso(at: dt.datetime) -> str:
    # SQLite hands back naive values; they were written in UTC.
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _field(value: str | None) -> bytes:
    # Length-prefixed, so no choice of contents can make two entries encode alike, and
    # None ("-") stays distinct from the empty string ("0:,").
    if value is None:
        return b"-"
    data = value.encode("utf-8")
    return b"%d:%s," % (len(data), data)


def entry_hash(
    *,
    at: dt.datetime,
    actor: str | None,
    action: str,
    tip_id: str | None,
    detail: str,
    prev_hash: str,
) -> str:
    """SHA-256 (hex) of an entry: the fields below, each as ``<UTF-8 byte length>:<bytes>,``
    (``-`` for a null), concatenated in this order: the format tag ``tipline-audit-v1``,
    ``at`` in UTC as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``, actor, action, tip id, detail (the
    stored JSON text), prev_hash.

    The id is left out on purpose: PostgreSQL sequences skip numbers on rollback, and an
    entry's place in the log is already fixed by the ``prev_hash`` it covers.
    """
    fields = (_FORMAT, _utc_iso(at), actor, action, tip_id, detail, prev_hash)
    return hashlib.sha256(b"".join(_field(value) for value in fields)).hexdigest()


def _take_append_lock(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_APPEND_LOCK})
    # SQLite has one writer at a time: the INSERT in ``record`` takes the write lock (the
    # driver opens the transaction right before it), and every read after it sees all
    # committed entries. The entry is written first and chained second for that reason.


def record(
    session: Session,
    action: str,
    *,
    actor: str | None,
    tip_id: str | None = None,
    **detail: str | int | None,
) -> None:
    """Add an audit entry in the caller's transaction, so it commits with what it records.

    Flushes the session. From here until the caller's transaction ends, other transactions
    that record an entry wait; call it late in a transaction that goes on to slow work.
    """
    event = AuditEvent(
        at=dt.datetime.now(dt.UTC),
        actor=actor,
        action=action,
        tip_id=tip_id,
        detail=json.dumps(detail, ensure_ascii=False, sort_keys=True),
    )
    if session.get_bind().dialect.name == "postgresql":
        # Under the append lock nobody else adds an entry, so the head read now stays the
        # head: the entry goes in once, chained, and no role needs to update the log
        # (intake/roles.py: even triage may only append).
        _take_append_lock(session)
        _chain(event, _head(session))
        session.add(event)
        session.flush()
        return
    # SQLite: the row is written first, to take the write lock, with placeholders that are
    # random so they never collide under the unique constraint; then it is chained.
    event.prev_hash = secrets.token_hex(32)
    event.hash = secrets.token_hex(32)
    session.add(event)
    session.flush()
    _chain(event, _head(session, before=event.id))
    session.flush()


def _head(session: Session, before: int | None = None) -> str | None:
    query = select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)
    if before is not None:
        query = query.where(AuditEvent.id < before)
    return session.scalar(query)


def _chain(event: AuditEvent, previous: str | None) -> None:
    event.prev_hash = previous or GENESIS
    event.hash = entry_hash(
        at=event.at,
        actor=event.actor,
        action=event.action,
        tip_id=event.tip_id,
        detail=event.detail,
        prev_hash=event.prev_hash,
    )


def head(session: Session) -> tuple[int, str] | None:
    """The newest entry's id and hash, or None for an empty log. Note it down outside the
    database: it is what a later ``verify(expect_head=...)`` checks the log against."""
    row = session.execute(
        select(AuditEvent.id, AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)
    ).first()
    return None if row is None else (row.id, row.hash)


@dataclass(frozen=True)
class VerifyResult:
    """What ``verify`` found. When ``ok`` is false, ``broken_at`` is the first bad entry's
    id (None when only the expected head was missing) and ``reason`` says why."""

    ok: bool
    count: int
    head_id: int | None
    head_hash: str
    broken_at: int | None = None
    reason: str | None = None
    # Where the expected head was found, and how many entries came after it.
    expected_at: int | None = None
    since_expected: int | None = None


def verify(
    session: Session, *, expect_head: str | None = None, batch_size: int = 1000
) -> VerifyResult:
    """Walk the log by id, recomputing every hash and checking every link.

    Stops at the first entry whose hash does not match its contents (``ALTERED``) or whose
    ``prev_hash`` is not the hash of the entry before it (``UNLINKED``). With
    ``expect_head``, the log must also still contain the entry with that hash: entries
    after it may have been added since, but it must not have been removed or rewritten.
    Streams the entries, so memory stays flat however long the log.
    """
    expected = expect_head.lower() if expect_head else None
    query = select(
        AuditEvent.id,
        AuditEvent.at,
        AuditEvent.actor,
        AuditEvent.action,
        AuditEvent.tip_id,
        AuditEvent.detail,
        AuditEvent.prev_hash,
        AuditEvent.hash,
    ).order_by(AuditEvent.id)
    count = 0
    head_id: int | None = None
    head_hash = GENESIS
    expected_at: int | None = None
    expected_count = 0
    rows = session.execute(query.execution_options(yield_per=batch_size))
    try:
        for row in rows:
            recomputed = entry_hash(
                at=row.at,
                actor=row.actor,
                action=row.action,
                tip_id=row.tip_id,
                detail=row.detail,
                prev_hash=row.prev_hash,
            )
            if recomputed != row.hash:
                return VerifyResult(False, count, head_id, head_hash, row.id, ALTERED)
            if row.prev_hash != head_hash:
                return VerifyResult(False, count, head_id, head_hash, row.id, UNLINKED)
            count += 1
            head_id, head_hash = row.id, row.hash
            if row.hash == expected:
                expected_at, expected_count = row.id, count
    finally:
        rows.close()
    if expected is not None and expected_at is None:
        return VerifyResult(
            False,
            count,
            head_id,
            head_hash,
            None,
            f"expected head {expected} is not in the log (entries removed or rewritten)",
        )
    return VerifyResult(
        True,
        count,
        head_id,
        head_hash,
        expected_at=expected_at,
        since_expected=None if expected_at is None else count - expected_count,
    )
