"""Cases: one or more accepted tips followed from verification to judgment (domain.md
section 5), with their clocks, their events and the statutory documents they produced.

The plaintext columns are what clocks, boards and statistics need (stage, dates, bureau,
region, fund, category, amounts as numbers); what officers write about the subject and the
facts is sealed under the case's own key, wrapped like a tip key (intake/envelopes.py). The
list is in the README's security section; widening it is a design change.

Amounts are integers in fen (分): exact, and the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tipline.intake.models.base import Base


class Case(Base):
    # "case" is an SQL keyword.
    __tablename__ = "case_file"
    __table_args__ = (UniqueConstraint("bureau_of_number", "region_of_number", "year", "seq"),)

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    # The official number, e.g. 城区人社监立字〔2026〕第3号, made from the rule pack's pattern
    # (triage/cases/numbers.py) and the sequence of the office that opened the case.
    number: Mapped[str] = mapped_column(String(80), unique=True)
    bureau_of_number: Mapped[str] = mapped_column(String(32))
    region_of_number: Mapped[str] = mapped_column(String(6))
    year: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer)
    # The bureau that holds the case now, and the agency that handed it over (it keeps
    # seeing the case, for the recovery it still runs): domain.md section 1.
    bureau: Mapped[str] = mapped_column(String(32), index=True)
    partner_bureau: Mapped[str | None] = mapped_column(String(32))
    # The holding office's jurisdiction, split as on Tip so scoping is an equality test.
    handling_region: Mapped[str] = mapped_column(String(6), index=True)
    handling_city: Mapped[str] = mapped_column(String(4), index=True)
    handling_province: Mapped[str] = mapped_column(String(2), index=True)
    # A discipline sub-case (staff misconduct): seen by discipline inspection only, like a
    # sealed tip (domain.md section 2); ``parent_id`` is the case it came out of.
    sealed: Mapped[bool] = mapped_column(Boolean, default=False)
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("case_file.id"))
    stage: Mapped[str] = mapped_column(String(32), index=True)
    category: Mapped[str] = mapped_column(String(32))
    fund: Mapped[str | None] = mapped_column(String(16))
    subject_kind: Mapped[str | None] = mapped_column(String(24))
    opened_on: Mapped[dt.date] = mapped_column(Date, index=True)
    opened_by: Mapped[int | None] = mapped_column(ForeignKey("officer.id"))
    # Amounts in fen: the verified loss (医保: 案值), what was recovered, the administrative
    # fine imposed (None: none), and whether the court imposed 罚金 (行政处罚法 art.35).
    verified_loss: Mapped[int | None] = mapped_column(BigInteger)
    recovered: Mapped[int] = mapped_column(BigInteger, default=0)
    fine: Mapped[int | None] = mapped_column(BigInteger)
    court_fine: Mapped[bool] = mapped_column(Boolean, default=False)
    # A crime is suspected (a referral report was made): 以罚代刑 is refused from then on
    # until the police have the case or the head refused the referral (令310 art.11).
    criminal_suspected: Mapped[bool] = mapped_column(Boolean, default=False)
    referred: Mapped[bool] = mapped_column(Boolean, default=False)
    # The officers (user names) of the referral team last reported (令310 art.5): none of
    # them may approve the referral. Officers, not reporters: kept in the clear.
    referral_team: Mapped[str] = mapped_column(String(400), default="")
    # 挂牌督办 by the head (domain.md T7).
    supervised: Mapped[bool] = mapped_column(Boolean, default=False)
    # The nearest open clock, for the board's order.
    next_due: Mapped[dt.date | None] = mapped_column(Date, index=True)
    # The rule packs (name@version) in force when the case was opened.
    rule_packs: Mapped[str] = mapped_column(String(128))
    key_id: Mapped[str] = mapped_column(String(32))
    key_envelope: Mapped[bytes] = mapped_column(LargeBinary)
    # Sealed JSON under the case key: the subject (name, credit code or ID number), the
    # period, the findings. Rewritten as a whole on each change.
    details: Mapped[bytes] = mapped_column(LargeBinary)

    tips: Mapped[list[CaseTip]] = relationship(
        cascade="all, delete-orphan", order_by="CaseTip.position"
    )
    events: Mapped[list[CaseEvent]] = relationship(
        cascade="all, delete-orphan", order_by="CaseEvent.id"
    )
    deadlines: Mapped[list[CaseDeadline]] = relationship(
        cascade="all, delete-orphan", order_by="CaseDeadline.id"
    )
    documents: Mapped[list[CaseDocument]] = relationship(
        cascade="all, delete-orphan", order_by="CaseDocument.id"
    )


class CaseTip(Base):
    """A tip of a case. Position 0 is the earliest received: the first reporter, whom the
    reward rules put first (domain.md section 4)."""

    __tablename__ = "case_tip"

    case_id: Mapped[str] = mapped_column(
        ForeignKey("case_file.id", ondelete="CASCADE"), primary_key=True
    )
    # A tip belongs to one case at most.
    tip_id: Mapped[str] = mapped_column(ForeignKey("tip.id"), primary_key=True, unique=True)
    position: Mapped[int] = mapped_column(Integer)
    joined_on: Mapped[dt.date] = mapped_column(Date)


class CaseEvent(Base):
    """One transition of the lifecycle (triage/cases/lifecycle.py): who, exactly when, the
    documents it produced and the rule pack in force. Case events keep the exact time: the
    hour clocks of 令310 need it, and no reporter's anonymity is at stake here."""

    __tablename__ = "case_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("case_file.id", ondelete="CASCADE"), index=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    action: Mapped[str] = mapped_column(String(32))
    from_stage: Mapped[str | None] = mapped_column(String(32))
    to_stage: Mapped[str] = mapped_column(String(32))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("officer.id"))
    rule_pack: Mapped[str] = mapped_column(String(128))
    # Codes of the documents it produced, comma-separated.
    documents: Mapped[str] = mapped_column(String(200), default="")
    # Sealed JSON under the case key: what the officer entered (reasons, the police unit,
    # the team, the sentence). None when nothing was entered.
    data: Mapped[bytes | None] = mapped_column(LargeBinary)


class CaseDeadline(Base):
    """A statutory clock on a case (domain.md section 3), started by an event and met by one.

    Hour clocks (T11, T12) keep exact instants in ``due_at``; the others a day in ``due_on``
    (for an hour clock, the local day of ``due_at``, so the board sorts them together)."""

    __tablename__ = "case_deadline"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("case_file.id", ondelete="CASCADE"), index=True)
    rule: Mapped[str] = mapped_column(String(8))
    # The action that started it (the pack's "from"), and when.
    started_by: Mapped[str] = mapped_column(String(32))
    starts_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    starts_on: Mapped[dt.date] = mapped_column(Date)
    due_on: Mapped[dt.date] = mapped_column(Date, index=True)
    due_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    unit: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(Integer)
    rule_pack: Mapped[str] = mapped_column(String(64))
    met_by: Mapped[str] = mapped_column(String(200))
    calendar_fallback: Mapped[bool] = mapped_column(Boolean, default=False)
    met_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    closed_by: Mapped[str | None] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16), default="open")
    escalated: Mapped[bool] = mapped_column(Boolean, default=False)


class CaseDocument(Base):
    """A statutory document generated from the case, sealed under the case key: the DOCX as
    rendered from the template, and the PDF made from it (None until first asked for)."""

    __tablename__ = "case_document"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("case_file.id", ondelete="CASCADE"), index=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("case_event.id"))
    kind: Mapped[str] = mapped_column(String(32))
    made_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    made_by: Mapped[int | None] = mapped_column(ForeignKey("officer.id"))
    # Which template made it: "builtin" or the id of an administrator's DocumentTemplate,
    # with the SHA-256 of the template file.
    template: Mapped[str] = mapped_column(String(96))
    docx: Mapped[bytes] = mapped_column(LargeBinary)
    pdf: Mapped[bytes | None] = mapped_column(LargeBinary)


class CaseSequence(Base):
    """The last number an office gave in a year: per bureau, per jurisdiction, per year."""

    __tablename__ = "case_sequence"

    bureau: Mapped[str] = mapped_column(String(32), primary_key=True)
    region: Mapped[str] = mapped_column(String(6), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)


class DocumentTemplate(Base):
    """An administrator's Word template for one kind of document in one locality (a region
    code, or "national"), replacing the built-in one. Templates are forms, not contents:
    they are kept in the clear."""

    __tablename__ = "document_template"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    scope: Mapped[str] = mapped_column(String(8))
    uploaded_on: Mapped[dt.date] = mapped_column(Date)
    uploaded_by: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(String(64))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
