"""The T2 notice (domain.md section 3, T2): a real-name reporter who asked to be told whether
the tip was accepted is told within 10 working days of receipt.

The decision alone tells nobody, so it no longer meets T2 (the rule pack's T2 is met by
``notice_given``). An officer gives the notice in one step: it goes to the reporter as a
message on the portal (sealed like every message, shown on the status page) where the
reporter holds a receipt, and the officer records the day it was also given on the channel
the reporter chose (the system sends no letters and makes no calls). Then T2 is met.

The printed 告知书 is rendered on demand from a template a locality can replace
(``TIPLINE_DOCUMENT_TEMPLATES``), never stored; it carries the reporter's name, so opening
it opens the identity envelope, and that is audited like any reading of an identity.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from flask import render_template
from flask_babel import force_locale, get_locale
from markupsafe import Markup
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tipline.crypto import PrivateKeyring, open_sealed
from tipline.intake import envelopes, reference
from tipline.intake.followup import add_message
from tipline.intake.models import Deadline, Notice, Officer, Tip, TipEvent
from tipline.intake.reading import OpenedTip
from tipline.intake.reference import N_, Term
from tipline.intake.submit import today
from tipline.triage import scope
from tipline.triage.audit import record
from tipline.triage.tips import decisions

RULE = "T2"
MET_BY = "notice_given"
# The decisions a notice tells of (domain.md T2: accepted or not; a transfer says where).
DECISIONS = ("accepted", "not_accepted", "transferred_out")
# Documents are statutory texts in the installation's official language, whatever the
# language of the officer's screen.
DOCUMENT_LOCALE = "zh"

# How the notice reached the reporter besides the portal. The report form asks for a
# telephone; letters and visits are the offices' usual ways, SMS and e-mail where a locality
# collects them. None is sent by the system: the officer records what was done.
CHANNELS: tuple[Term, ...] = (
    Term("phone", N_("By telephone")),
    Term("letter", N_("By letter")),
    Term("sms", N_("By text message (SMS)")),
    Term("email", N_("By e-mail")),
    Term("in_person", N_("In person")),
)


def channel_label(code: str | None) -> str:
    """The catalogue label of a channel code (for the page to translate)."""
    return reference.label(CHANNELS, code)


class NoticeRefused(decisions.DecisionError):
    """A notice that cannot be given now (the message is an English message id)."""


class NotTheIssuer(NoticeRefused):
    """The viewer's office does not issue this tip's notice (shown as 403)."""


# What the 告知书 page shows of the identity: never the ID number.
CONTACT_FIELDS = ("name", "phone", "notice_channel")


def issues_notice(tip: Tip, viewer: scope.Viewer) -> bool:
    """Whether ``viewer`` may give the tip's notice and open the reporter's contact for it:
    the intake desk and the lead bureau's officers, never a co-handling bureau (domain.md
    section 2: the decision, and telling the reporter of it, are the lead's)."""
    if viewer.bureau is None or decisions.is_co_handler(tip, viewer):
        return False
    if viewer.bureau == scope.INTAKE_DESK and viewer.role in ("triage_officer", "supervisor"):
        return not tip.sealed
    return viewer.bureau == tip.bureau or (tip.sealed and viewer.bureau == scope.DISCIPLINE)


@dataclass(frozen=True)
class NoticeDocument:
    """What the 告知书 and the portal message say."""

    tip_id: str
    received_on: dt.date
    decision: str
    detail: str | None
    decided_on: dt.date
    office_region: str
    office_bureau: str | None
    issued_on: dt.date
    reporter_name: str | None = None
    # Where a transferred tip went (its handling office now).
    to_region: str | None = None


def t2_clock(tip: Tip) -> Deadline | None:
    return next((d for d in tip.deadlines if d.rule == RULE and MET_BY in d.met_by.split(",")),
                None)  # fmt: skip


def is_due(tip: Tip) -> bool:
    """Decided, the reporter asked to be told, and not told yet."""
    clock = t2_clock(tip)
    return tip.status in DECISIONS and clock is not None and clock.met_on is None


def due_notices(
    session: Session, viewer: scope.Viewer, limit: int = 50
) -> list[tuple[Tip, Deadline]]:
    """The notices the viewer's office owes: tips it sees that are decided and whose T2
    clock is open, the nearest deadline first."""
    rows = session.execute(
        select(Tip, Deadline)
        .join(Deadline, Deadline.tip_id == Tip.id)
        .where(
            scope.visibility(viewer),
            Tip.status.in_(DECISIONS),
            Deadline.rule == RULE,
            Deadline.met_on.is_(None),
            Deadline.met_by.contains(MET_BY),
        )
        .order_by(Deadline.due_on, Tip.id)
        .limit(limit)
    ).all()
    return [(row[0], row[1]) for row in rows]


def _decided_on(session: Session, tip: Tip) -> dt.date:
    found = session.scalar(
        select(func.max(TipEvent.on)).where(TipEvent.tip_id == tip.id, TipEvent.kind == tip.status)
    )
    return found or today()


def given(session: Session, tip: Tip) -> list[Notice]:
    return list(session.scalars(select(Notice).where(Notice.tip_id == tip.id).order_by(Notice.id)))


def document(session: Session, tip: Tip, officer: Officer | scope.Viewer) -> NoticeDocument:
    """The notice of the tip's decision, as the viewer's office issues it: the latest notice
    given, or, before one is, the decision as it stands."""
    notices = given(session, tip)
    if notices and notices[-1].decision == tip.status:
        last = notices[-1]
        return NoticeDocument(
            tip_id=tip.id, received_on=tip.received_on, decision=last.decision,
            detail=last.detail, decided_on=last.decided_on, office_region=last.office,
            office_bureau=last.bureau, issued_on=last.given_on or last.decided_on,
            to_region=tip.handling_region if last.decision == "transferred_out" else None,
        )  # fmt: skip
    if tip.status not in DECISIONS:
        raise NoticeRefused(N_("There is no decision to give notice of yet."))
    return NoticeDocument(
        tip_id=tip.id, received_on=tip.received_on, decision=tip.status, detail=tip.status_detail,
        decided_on=_decided_on(session, tip),
        office_region=getattr(officer, "region", None) or tip.handling_region,
        office_bureau=getattr(officer, "bureau", None) or tip.bureau, issued_on=today(),
        to_region=tip.handling_region if tip.status == "transferred_out" else None,
    )  # fmt: skip


def long_date(day: dt.date) -> str:
    """A date as documents write it: 2026年12月3日 in Chinese, else ISO 8601."""
    if str(get_locale() or "").startswith("zh"):
        return f"{day.year}年{day.month}月{day.day}日"
    return day.isoformat()


def _render(name: str, doc: NoticeDocument) -> str:
    with force_locale(DOCUMENT_LOCALE):
        return render_template(name, doc=doc, long_date=long_date, lang=DOCUMENT_LOCALE)


def message_text(doc: NoticeDocument) -> str:
    """The portal message: the template ``documents/notice_message.txt``, in the documents'
    language."""
    return _render("documents/notice_message.txt", doc).strip()


def give(
    session: Session,
    opened: OpenedTip,
    actor: scope.Viewer,
    channel: str,
    given_on: dt.date,
) -> Notice:
    """Give the notice: the portal message (where the reporter has a receipt) and the record
    of the other channel; T2 is then met, on the day both were done (today)."""
    tip = opened.tip
    decisions.lead_decides(tip, actor)
    if not issues_notice(tip, actor):
        raise NotTheIssuer(decisions.LEADS_ONLY)
    if not is_due(tip):
        raise NoticeRefused(N_("No notice is due on this tip."))
    if channel not in reference.codes(CHANNELS):
        raise NoticeRefused(N_("Choose how the reporter was told."))
    if given_on > today():
        raise NoticeRefused(N_("The day the reporter was told cannot be in the future."))
    doc = document(session, tip, actor)
    if given_on < doc.decided_on:
        raise NoticeRefused(N_("The reporter cannot have been told before the decision."))
    message_id = None
    if tip.reporter_locator is not None:
        message = add_message(
            session, opened, message_text(doc), author="officer", officer_id=actor.id
        )
        session.flush()  # on PostgreSQL the id is reserved before the row is written
        message_id = message.id
    notice = Notice(
        tip_id=tip.id, rule=RULE, decision=doc.decision, detail=doc.detail,
        decided_on=doc.decided_on, office=doc.office_region, bureau=doc.office_bureau,
        message_id=message_id, channel=channel, given_on=given_on,
        given_by=decisions._name(actor),
    )  # fmt: skip
    session.add(notice)
    decisions.meet_deadlines(tip, MET_BY)
    record(
        session, "notice.give", actor=decisions._name(actor), tip_id=tip.id, rule=RULE,
        decision=doc.decision, channel=channel, given_on=given_on.isoformat(),
        portal=int(message_id is not None),
    )  # fmt: skip
    return notice


def reporter_name(
    session: Session, actor: scope.Viewer, tip: Tip, keyring: PrivateKeyring
) -> dict[str, Any]:
    """The name and contact the reporter gave (``CONTACT_FIELDS``, never the ID number), for
    the 告知书 and for telling them. Only for the office that issues the notice
    (``issues_notice``), only for a reporter who asked to be told (that is their request to
    be contacted), only once a decision is made; every opening is audited as a reading of
    the identity."""
    if not issues_notice(tip, actor):
        raise NotTheIssuer(decisions.LEADS_ONLY)
    if tip.identity is None or not tip.wants_notice:
        raise NoticeRefused(N_("This reporter did not ask to be told."))
    if tip.status not in DECISIONS and not given(session, tip):
        raise NoticeRefused(N_("There is no decision to give notice of yet."))
    identity = tip.identity
    key = envelopes.unwrap(keyring, identity.key_envelope, envelopes.identity_owner(tip.id))
    data: dict[str, Any] = json.loads(open_sealed(key, identity.data, tip_id=tip.id,
                                                  purpose="identity"))  # fmt: skip
    record(session, "identity.read", actor=decisions._name(actor), tip_id=tip.id,
           purpose="notice")  # fmt: skip
    return {name: data[name] for name in CONTACT_FIELDS if data.get(name)}


def render_document(doc: NoticeDocument) -> Markup:
    """The 告知书 from ``documents/acceptance_notice.html`` (a locality may replace it)."""
    # An .html template is autoescaped: the reporter's name in it is escaped already.
    return Markup(_render("documents/acceptance_notice.html", doc))  # noqa: S704
