"""The tips and the tables around them: reporters' reports, officers, audit, rules.

The plaintext columns of ``Tip`` are the threat model's boundary (DESIGN.md, "Encryption at
rest"): what routing, deadlines and statistics need, and nothing else. Everything the
reporter wrote lives in sealed ``bytes`` columns that only the tip key opens.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tipline.intake.models.base import Base


class Tip(Base):
    __tablename__ = "tip"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    # Day only: an exact time would help identify a reporter (DESIGN.md, "Anonymity").
    received_on: Mapped[dt.date] = mapped_column(Date, index=True)
    channel: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(32), index=True)
    fund: Mapped[str | None] = mapped_column(String(16))
    region: Mapped[str] = mapped_column(String(6), index=True)
    suspect_kind: Mapped[str | None] = mapped_column(String(24))
    # The administrative level of the reported unit (provincial, city, county, township;
    # None when not known): plain because routing reads it, like the region (the Shanwei
    # rule, domain.md section 6). It names a level, never the unit.
    unit_level: Mapped[str | None] = mapped_column(String(16))
    amount_band: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(24), default="received", index=True)
    # The bureau the routing rules suggest, and the one a triage officer assigned.
    suggested_bureau: Mapped[str | None] = mapped_column(String(32))
    bureau: Mapped[str | None] = mapped_column(String(32), index=True)
    # The bureaus that handle the tip beside the lead (domain.md section 2: the agency
    # stops payment, then labour inspection; resold drugs also go to the police), as
    # ",code,code," so that one bureau is matched exactly with LIKE; "" for none.
    co_bureaus: Mapped[str] = mapped_column(String(160), default="")

    @property
    def co_bureau_codes(self) -> list[str]:
        """The co-handling bureaus' codes, in order."""
        return [code for code in self.co_bureaus.split(",") if code]

    def set_co_bureaus(self, codes: Sequence[str]) -> None:
        self.co_bureaus = f",{','.join(codes)}," if codes else ""

    # The office handling the tip, by jurisdiction (属地管理): the place it happened unless
    # routing or a transfer says otherwise. Province and city prefixes are kept apart so a
    # jurisdiction is an equality test an index can serve.
    handling_region: Mapped[str] = mapped_column(String(6))
    handling_city: Mapped[str] = mapped_column(String(4))
    handling_province: Mapped[str] = mapped_column(String(2))
    # Tips about staff: seen by discipline inspection only (domain.md section 2).
    sealed: Mapped[bool] = mapped_column(Boolean, default=False)
    # Flags the rules raised from the exact amount at intake (comma-separated codes).
    flags: Mapped[str] = mapped_column(String(128), default="")
    # The rule packs (id@version) that produced the routing and the deadlines.
    rule_packs: Mapped[str | None] = mapped_column(String(128))
    duplicate_of: Mapped[str | None] = mapped_column(ForeignKey("tip.id"))
    # The nearest open deadline, kept with the tip so the inbox sorts on an index.
    next_due: Mapped[dt.date | None] = mapped_column(Date)
    # The code behind the status a reporter sees: the bureau a tip went to, the reason it
    # was not accepted, or the outcome it closed with.
    status_detail: Mapped[str | None] = mapped_column(String(32))
    # Set by the post-submission job; a sweep can find tips whose job never ran.
    processed: Mapped[bool] = mapped_column(Boolean, default=False)
    # Plain because the T2 clock depends on them (domain.md section 3): a real-name reporter
    # who asked to be told whether the tip was accepted. Who the reporter is stays sealed.
    real_name: Mapped[bool] = mapped_column(Boolean, default=False)
    wants_notice: Mapped[bool] = mapped_column(Boolean, default=False)
    # The officer of the handling bureau who works on the tip (triage/tips/assignment.py); None
    # until a supervisor assigns it or an officer takes it on.
    assigned_to: Mapped[int | None] = mapped_column(ForeignKey("officer.id"), index=True)

    format_version: Mapped[int] = mapped_column(Integer, default=1)
    key_id: Mapped[str] = mapped_column(String(32), index=True)
    key_envelope: Mapped[bytes] = mapped_column(LargeBinary)
    # A second key for what officers write among themselves (notes, reasons for identity
    # requests), wrapped to the intake key only: the receipt does not open it.
    internal_envelope: Mapped[bytes] = mapped_column(LargeBinary)
    report: Mapped[bytes] = mapped_column(LargeBinary)

    # The reporter's way back in: locator finds the row, the verifier checks the secret,
    # and reporter_key is the tip key sealed under a key derived from the secret.
    reporter_locator: Mapped[str | None] = mapped_column(String(8), unique=True)
    reporter_salt: Mapped[bytes | None] = mapped_column(LargeBinary)
    # The scrypt cost the verifier was made with, so raising the cost later keeps old
    # receipts working.
    reporter_kdf_n: Mapped[int | None] = mapped_column(Integer)
    reporter_verifier: Mapped[bytes | None] = mapped_column(LargeBinary)
    reporter_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    # SHA-256 of the one-time token of the web form the tip came from: the same form sent
    # twice (a reload, Back and send) stores one tip (issue 8). Random, so it dates nothing.
    form_digest: Mapped[str | None] = mapped_column(String(64), unique=True)

    attachments: Mapped[list[Attachment]] = relationship(
        back_populates="tip", cascade="all, delete-orphan", order_by="Attachment.position"
    )
    identity: Mapped[Identity | None] = relationship(cascade="all, delete-orphan")
    messages: Mapped[list[Message]] = relationship(
        cascade="all, delete-orphan", order_by="Message.id"
    )
    events: Mapped[list[TipEvent]] = relationship(
        cascade="all, delete-orphan", order_by="TipEvent.id"
    )
    deadlines: Mapped[list[Deadline]] = relationship(
        cascade="all, delete-orphan", order_by="Deadline.due_on"
    )


class Identity(Base):
    """The reporter's identity: its own key, so reading a tip does not reveal who sent it.

    The identity key is wrapped to the intake key pair (opened by triage only after a
    supervisor approves) and, separately, under the reporter's receipt (DESIGN.md).
    """

    __tablename__ = "identity"

    tip_id: Mapped[str] = mapped_column(ForeignKey("tip.id", ondelete="CASCADE"), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(32))
    key_envelope: Mapped[bytes] = mapped_column(LargeBinary)
    # None when an officer entered the tip and no receipt was issued.
    reporter_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class Message(Base):
    """A message between the reporter and the officers, sealed under the tip key."""

    __tablename__ = "message"
    # A reporter's message keeps its day only (DESIGN.md, "Anonymity": no exact time of
    # anything the reporter does); an officer's also keeps its time, for authorship.
    __table_args__ = (
        CheckConstraint("sent_at IS NULL OR author = 'officer'", name="officer_time_only"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tip_id: Mapped[str] = mapped_column(ForeignKey("tip.id", ondelete="CASCADE"), index=True)
    author: Mapped[str] = mapped_column(String(16))  # reporter or officer
    officer_id: Mapped[int | None] = mapped_column(ForeignKey("officer.id"))
    sent_on: Mapped[dt.date] = mapped_column(Date)
    # When an officer sent it (UTC); None for a reporter's message, and for messages from
    # before the time was kept.
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # An officer's question the reporter is asked to answer.
    asks_reply: Mapped[bool] = mapped_column(Boolean, default=False)
    body: Mapped[bytes] = mapped_column(LargeBinary)


class TipEvent(Base):
    """The timeline: what happened to a tip, by day, as codes (never free text)."""

    __tablename__ = "tip_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tip_id: Mapped[str] = mapped_column(ForeignKey("tip.id", ondelete="CASCADE"), index=True)
    on: Mapped[dt.date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(String(32))
    # On a transfer, the receiving office's region (with the bureau in ``detail``).
    region: Mapped[str | None] = mapped_column(String(6))
    shown_to_reporter: Mapped[bool] = mapped_column(Boolean, default=True)


# The inbox: one jurisdiction, nearest deadline first, in exactly the order of
# triage.views.ordered, so a first page reads 50 index entries and stops; the included
# columns let the counts be answered from the index alone (measured in bench/inbox.py).
_SCOPE_ORDER = (Tip.next_due, Tip.received_on, Tip.id)
_SCOPE_INCLUDE = ["sealed", "bureau", "status"]
for _name, _column in (
    ("ix_tip_scope_region", Tip.handling_region),
    ("ix_tip_scope_city", Tip.handling_city),
    ("ix_tip_scope_province", Tip.handling_province),
):
    Index(_name, _column, *_SCOPE_ORDER, postgresql_include=_SCOPE_INCLUDE)


class Deadline(Base):
    """A statutory clock on a tip (domain.md section 3), with the rule that set it."""

    __tablename__ = "deadline"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tip_id: Mapped[str] = mapped_column(ForeignKey("tip.id", ondelete="CASCADE"), index=True)
    rule: Mapped[str] = mapped_column(String(8))  # T1, T2, ...
    # Whose clock: None for the tip's own (the intake desk and the lead bureau), else the
    # co-handling bureau that must review the tip within its own T1.
    bureau: Mapped[str | None] = mapped_column(String(32))
    starts_on: Mapped[dt.date] = mapped_column(Date)
    due_on: Mapped[dt.date] = mapped_column(Date, index=True)
    # working_days, calendar_days or hours, and the pack (id@version) it came from.
    unit: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(Integer)
    rule_pack: Mapped[str] = mapped_column(String(64))
    # The decisions (tip statuses) that satisfy it, as the pack said at the time.
    met_by: Mapped[str] = mapped_column(String(128))
    # True when the working-day calendar did not know the year and Monday-Friday was used.
    calendar_fallback: Mapped[bool] = mapped_column(Boolean, default=False)
    met_on: Mapped[dt.date | None] = mapped_column(Date)
    # What closed it (reference.CLOSED_BY): the decision or notice among ``met_by``, or
    # "duplicate" when the tip was linked as a duplicate of an earlier one. None while open,
    # and on clocks closed before this was kept.
    closed_by: Mapped[str | None] = mapped_column(String(24))
    state: Mapped[str] = mapped_column(String(16), default="open")  # open due_soon overdue met
    escalated: Mapped[bool] = mapped_column(Boolean, default=False)


class Note(Base):
    """An internal note, sealed under the tip key like everything else about the tip."""

    __tablename__ = "note"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tip_id: Mapped[str] = mapped_column(ForeignKey("tip.id", ondelete="CASCADE"), index=True)
    officer_id: Mapped[int] = mapped_column(ForeignKey("officer.id"))
    written_on: Mapped[dt.date] = mapped_column(Date)
    # When it was written (UTC), for authorship: only officers write notes. None on notes
    # from before the time was kept.
    written_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # None for a note an officer added; "routing_reason" for the reason a triage officer gave
    # for routing elsewhere than suggested (decisions.confirm_routing); "seal_reason" for why
    # a tip was sealed for discipline inspection (decisions.seal_tip).
    kind: Mapped[str | None] = mapped_column(String(16))
    body: Mapped[bytes] = mapped_column(LargeBinary)


class TipRead(Base):
    """When an officer last opened a tip (the inbox's read marks). ``seen_event`` is the
    highest timeline entry id the officer's page showed: an entry of the reporter's with a
    higher id is "new from the reporter". Ids only increase, so nothing here dates what the
    reporter did more finely than the day the timeline already gives."""

    __tablename__ = "tip_read"

    officer_id: Mapped[int] = mapped_column(ForeignKey("officer.id"), primary_key=True)
    tip_id: Mapped[str] = mapped_column(ForeignKey("tip.id", ondelete="CASCADE"), primary_key=True)
    read_on: Mapped[dt.date] = mapped_column(Date)
    seen_event: Mapped[int] = mapped_column(Integer, default=0)


class Recusal(Base):
    """An officer's declared conflict of interest: the tip is hidden from them from then on."""

    __tablename__ = "recusal"

    officer_id: Mapped[int] = mapped_column(ForeignKey("officer.id"), primary_key=True)
    tip_id: Mapped[str] = mapped_column(ForeignKey("tip.id", ondelete="CASCADE"), primary_key=True)
    declared_on: Mapped[dt.date] = mapped_column(Date)


class IdentityRequest(Base):
    """A request to open a reporter's identity, decided by a supervisor (DESIGN.md)."""

    __tablename__ = "identity_request"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tip_id: Mapped[str] = mapped_column(ForeignKey("tip.id", ondelete="CASCADE"), index=True)
    requester_id: Mapped[int] = mapped_column(ForeignKey("officer.id"))
    requested_on: Mapped[dt.date] = mapped_column(Date)
    reason: Mapped[bytes] = mapped_column(LargeBinary)  # sealed under the tip key
    state: Mapped[str] = mapped_column(String(16), default="pending")
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("officer.id"))
    decided_on: Mapped[dt.date | None] = mapped_column(Date)


class ApiToken(Base):
    """A bearer token for the internal API; only its SHA-256 is kept."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    officer_id: Mapped[int] = mapped_column(ForeignKey("officer.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_on: Mapped[dt.date] = mapped_column(Date)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class CalendarOverride(Base):
    """An admin's correction to the working-day calendar (a local holiday, a late notice)."""

    __tablename__ = "calendar_override"

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    workday: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str] = mapped_column(String(200), default="")
    # Set on the days a year's State Council holiday notice gave (CalendarNotice), so that
    # entering the notice again replaces them and leaves the other corrections alone.
    notice_year: Mapped[int | None] = mapped_column(Integer, index=True)


class CalendarNotice(Base):
    """A year's State Council holiday notice (国务院办公厅关于放假安排的通知), entered by an
    administrator: its days off and make-up working days are CalendarOverride rows, and
    every other day of the year is Monday-Friday *by that notice*, no longer a fallback."""

    __tablename__ = "calendar_notice"

    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    entered_on: Mapped[dt.date] = mapped_column(Date)
    entered_by: Mapped[str] = mapped_column(String(64))
    # The notice's number or title, e.g. 国办发明电〔2026〕7号.
    reference: Mapped[str] = mapped_column(String(200), default="")
    days_off: Mapped[int] = mapped_column(Integer)
    working_days: Mapped[int] = mapped_column(Integer)


class Notice(Base):
    """The notice a real-name reporter who asked for it is given of a decision (domain.md T2):
    as a message on the portal, and on the channel the reporter chose, which an officer
    records by hand (the system sends no post and makes no calls). T2 is met when both are
    done. Only codes and dates here: the wording is the sealed message, and the printed
    告知书 is made from a template on demand, never stored."""

    __tablename__ = "notice"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tip_id: Mapped[str] = mapped_column(ForeignKey("tip.id", ondelete="CASCADE"), index=True)
    rule: Mapped[str] = mapped_column(String(8))
    # The tip's status the decision set, and its detail (refusal reason, bureau sent to).
    decision: Mapped[str] = mapped_column(String(24))
    detail: Mapped[str | None] = mapped_column(String(32))
    decided_on: Mapped[dt.date] = mapped_column(Date)
    # The office that decided (a transfer moves the tip's handling office afterwards).
    office: Mapped[str] = mapped_column(String(6))
    bureau: Mapped[str | None] = mapped_column(String(32))
    # The portal message that carried it; None where the reporter has no receipt.
    message_id: Mapped[int | None] = mapped_column(ForeignKey("message.id"))
    # The other channel: phone, letter, sms, email or in_person, the day, who recorded it.
    channel: Mapped[str | None] = mapped_column(String(16))
    given_on: Mapped[dt.date | None] = mapped_column(Date)
    given_by: Mapped[str | None] = mapped_column(String(64))


class RulePack(Base):
    """A rule pack version (DESIGN.md, "Rules as data"): routing, deadlines, thresholds."""

    __tablename__ = "rule_pack"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(32))
    # "national", or the GB/T 2260 code of the province or city it overrides for.
    scope: Mapped[str] = mapped_column(String(8))
    body: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Attachment(Base):
    __tablename__ = "attachment"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    tip_id: Mapped[str] = mapped_column(ForeignKey("tip.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    # Sealed JSON: file name, content type, size, what scrubbing removed.
    meta: Mapped[bytes] = mapped_column(LargeBinary)
    stream_header: Mapped[bytes] = mapped_column(LargeBinary)
    chunk_count: Mapped[int] = mapped_column(Integer)

    tip: Mapped[Tip] = relationship(back_populates="attachments")
    chunks: Mapped[list[AttachmentChunk]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="AttachmentChunk.seq"
    )


class AttachmentChunk(Base):
    __tablename__ = "attachment_chunk"

    attachment_id: Mapped[str] = mapped_column(
        ForeignKey("attachment.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class Officer(Base):
    __tablename__ = "officer"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    # The TOTP secret, sealed under a key only triage can derive (crypto/officer.py); None
    # until the officer enrols at the first sign-in. ``totp_pending`` holds the secret shown
    # to the officer during enrolment, until a first code confirms it.
    totp_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    totp_pending: Mapped[bytes | None] = mapped_column(LargeBinary)
    # SHA-256 of the one-time activation code that, with the password, lets the officer
    # enrol; whoever set the password alone cannot (issue 7, item 8).
    activation_hash: Mapped[str | None] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(24))
    # For notices that something is waiting; never told what.
    email: Mapped[str | None] = mapped_column(String(254))
    bureau: Mapped[str | None] = mapped_column(String(32))
    region: Mapped[str | None] = mapped_column(String(6))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Two-person rule for roles that read contents: an account an administrator asked for
    # waits, inactive, until a supervisor of its office approves it (accounts.approve).
    awaiting_approval: Mapped[bool] = mapped_column(Boolean, default=False)
    requested_by: Mapped[str | None] = mapped_column(String(64))
    approved_by: Mapped[str | None] = mapped_column(String(64))
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # The last TOTP time step accepted, so a code cannot be replayed within its window.
    last_totp_step: Mapped[int | None] = mapped_column(Integer)
    # Raised on sign-out, deactivation and new credentials: every session cookie issued
    # before then stops working, although the server keeps no session state.
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)
    # A change of role, bureau or jurisdiction that widens what a reader sees waits here for
    # a supervisor of the new office (accounts.request_change); the columns above stay in
    # force until then. ``pending_role`` is None when nothing waits.
    pending_role: Mapped[str | None] = mapped_column(String(24))
    pending_bureau: Mapped[str | None] = mapped_column(String(32))
    pending_region: Mapped[str | None] = mapped_column(String(6))
    change_requested_by: Mapped[str | None] = mapped_column(String(64))


class AuditEvent(Base):
    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # Indexed for the auditor's filters (migration 0011), as action and tip_id are.
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    actor: Mapped[str | None] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(48), index=True)
    tip_id: Mapped[str | None] = mapped_column(String(16), index=True)
    detail: Mapped[str] = mapped_column(Text, default="")
    # Hash chain: each entry's hash covers its fields and the previous entry's hash, so
    # an altered, removed or reordered row breaks every hash after it.
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class RegionRow(Base):
    """GB/T 2260 codes, loaded by ``tipline init`` from ``reference.regions()``."""

    __tablename__ = "region"

    code: Mapped[str] = mapped_column(String(6), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    level: Mapped[str] = mapped_column(String(8))


class CategoryRow(Base):
    __tablename__ = "category"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(1))
    default_bureau: Mapped[str | None] = mapped_column(String(32))


class BureauRow(Base):
    __tablename__ = "bureau"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)


class AlertMark(Base):
    """What an officer has already been shown of the alerts on one tip (triage/tips/alerts.py).

    The alerts themselves are not stored: they are read from the tips as they stand, through
    the officer's scope, so a transfer, recusal or seal removes them at once, and the portal,
    which may not read officers, has nothing to write when a reporter replies. A row holds,
    per kind, the version of the alert the officer has seen (an event or request id, a
    deadline's state), and for ``opened`` the newest timeline entry when they last opened the
    tip. No date, no time: a mark says what was seen, never when."""

    __tablename__ = "alert_mark"

    officer_id: Mapped[int] = mapped_column(
        ForeignKey("officer.id", ondelete="CASCADE"), primary_key=True
    )
    tip_id: Mapped[str] = mapped_column(ForeignKey("tip.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    seen: Mapped[str] = mapped_column(String(32))
