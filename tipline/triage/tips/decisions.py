"""What officers decide about a tip (domain.md section 5): plain functions of a session.

The pages and the internal API both call these, after ``scope.find_visible`` has found the
tip for the officer; each records its audit entry in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import select
from sqlalchemy.orm import Session

from tipline.crypto import PrivateKeyring, open_sealed, seal
from tipline.intake import envelopes, reference
from tipline.intake.followup import add_message, record_event
from tipline.intake.jobs import start_clocks, start_co_handling_clocks
from tipline.intake.models import CaseTip, IdentityRequest, Note, Recusal, Tip
from tipline.intake.reading import OpenedTip
from tipline.intake.reference import N_
from tipline.intake.rules import rule_book
from tipline.intake.sanitize import clean_text
from tipline.intake.submit import today
from tipline.intake.workdays import load_calendar
from tipline.triage import clocks, scope
from tipline.triage.audit import record

# A decision is possible from these states (domain.md section 5).
UNDECIDED = frozenset({"received", "screened", "transferred_out"})


class DecisionError(Exception):
    """A decision that cannot be taken; the message is an English message id."""


def _internal(opened: OpenedTip) -> bytes:
    if opened.internal_key is None:
        raise DecisionError(N_("Only officers write notes."))
    return opened.internal_key


ROUTING_REASON = "routing_reason"


def _note(
    session: Session, opened: OpenedTip, officer_id: int, text: str, kind: str | None = None
) -> Note:
    note = Note(
        tip_id=opened.tip.id, officer_id=officer_id, written_on=today(),
        written_at=dt.datetime.now(dt.UTC), kind=kind, body=b"",
    )  # fmt: skip
    session.add(note)
    session.flush()
    note.body = seal(
        _internal(opened),
        clean_text(text).encode(),
        tip_id=opened.tip.id,
        purpose=f"note:{note.id}",
    )
    return note


def notes(opened: OpenedTip, session: Session) -> list[tuple[Note, str]]:
    rows = session.scalars(select(Note).where(Note.tip_id == opened.tip.id).order_by(Note.id)).all()
    return [
        (
            row,
            open_sealed(
                _internal(opened), row.body, tip_id=opened.tip.id, purpose=f"note:{row.id}"
            ).decode(),
        )
        for row in rows
    ]


def meet_deadlines(
    tip: Tip, status: str, *, bureau: str | None = None, co_handlers: bool = True
) -> None:
    """Close the clocks this decision satisfies, and keep the tip's nearest due date.

    ``bureau``: a co-handling bureau's own review, which meets its clocks only. Otherwise
    the tip's own clocks are met, and the co-handling bureaus' too unless ``co_handlers``
    is False (an acceptance: each of them still reviews the tip within its own T1)."""
    for deadline in tip.deadlines:
        if bureau is not None:
            if deadline.bureau != bureau:
                continue
        elif deadline.bureau is not None and not co_handlers:
            continue
        if deadline.met_on is None and status in deadline.met_by.split(","):
            deadline.met_on = today()
            deadline.closed_by = status
            # A late decision stays on record as late.
            deadline.state = "met" if deadline.met_on <= deadline.due_on else "met_late"
    open_days = [d.due_on for d in tip.deadlines if d.met_on is None]
    tip.next_due = min(open_days, default=None)


def _lock(session: Session, tip: Tip) -> None:
    """Re-read the tip under a row lock, so two officers deciding at once cannot both pass
    the state check (SQLite serialises writers, and the re-read happens after its lock)."""
    session.refresh(tip, with_for_update=True)


def _decide(
    session: Session, tip: Tip, status: str, detail: str | None = None, *, locked: bool = False
) -> None:
    if not locked:
        _lock(session, tip)
    if tip.status not in UNDECIDED:
        raise DecisionError(N_("This tip has already been decided."))
    tip.status = status
    tip.status_detail = detail
    meet_deadlines(tip, status, co_handlers=status != "accepted")




def is_co_handler(tip: Tip, actor: scope.Viewer) -> bool:
    """Whether ``actor`` reviews the tip as a co-handling bureau, not as the lead or the
    intake desk."""
    return (
        actor.bureau is not None
        and actor.bureau in tip.co_bureau_codes
        and actor.bureau != tip.bureau
        and actor.bureau != scope.INTAKE_DESK
    )


# domain.md section 2: a co-handling bureau takes up its part of a tip the lead has not
# refused nor sent away.
CO_ACCEPTABLE = frozenset({"received", "screened", "accepted"})
LEADS_ONLY = N_("Only the lead bureau decides this; your bureau handles its own part.")


def lead_decides(tip: Tip, actor: scope.Viewer) -> None:
    """Refuse a decision of the lead's (route, refuse, transfer, duplicate, the T2 notice) to
    a co-handling bureau (domain.md section 2: the lead decides, the others take up their
    part). The pages draw these controls from ``is_co_handler`` too."""
    if is_co_handler(tip, actor):
        raise DecisionError(LEADS_ONLY)


def co_accept_refusal(tip: Tip, bureau: str) -> str | None:
    """Why ``bureau`` cannot take up its part of the tip now (a message id), or None."""
    if tip.status not in CO_ACCEPTABLE:
        return N_("This tip has already been decided.")
    own = [d for d in tip.deadlines if d.bureau == bureau and d.met_on is None]
    if not own and any(d.bureau == bureau for d in tip.deadlines):
        return N_("Your bureau has already taken up this tip.")
    return None


def co_accept(session: Session, opened: OpenedTip, actor: scope.Viewer) -> None:
    """A co-handling bureau takes up its part (domain.md section 2): its own T1 is met; the
    tip's status stays the lead's. Only while the tip is undecided or accepted."""
    tip = opened.tip
    _lock(session, tip)
    assert actor.bureau is not None
    refusal = co_accept_refusal(tip, actor.bureau)
    if refusal is not None:
        raise DecisionError(refusal)
    meet_deadlines(tip, "accepted", bureau=actor.bureau)
    record_event(session, tip, "co_accepted", actor.bureau, shown=False)
    record(session, "tip.co_accept", actor=_name(actor), tip_id=tip.id, bureau=actor.bureau)


def add_note(session: Session, opened: OpenedTip, actor: scope.Viewer, text: str) -> None:
    if not clean_text(text):
        raise DecisionError(N_("Write a note."))
    _note(session, opened, actor.id, text)
    record(session, "note.add", actor=_name(actor), tip_id=opened.tip.id)


def confirm_routing(
    session: Session, opened: OpenedTip, actor: scope.Viewer, bureau: str, reason: str
) -> None:
    """Confirm the suggested bureau, or change it; a change needs a reason (kept sealed).
    Setting the lead opens the tip to the co-handling bureaus: their T1 starts then."""
    tip = opened.tip
    lead_decides(tip, actor)
    if bureau not in reference.codes(reference.BUREAUS):
        raise DecisionError(N_("Choose a bureau from the list."))
    if tip.sealed and bureau != scope.DISCIPLINE:
        # domain.md section 2: a tip about staff goes to discipline inspection only.
        raise DecisionError(N_("A tip about staff stays with discipline inspection."))
    changed = bureau != tip.suggested_bureau
    if changed and not clean_text(reason):
        raise DecisionError(N_("Say why you route it elsewhere than suggested."))
    _lock(session, tip)
    if tip.status not in UNDECIDED:
        raise DecisionError(N_("This tip has already been decided."))
    first_lead = tip.bureau is None
    if bureau != scope.handling_bureau(tip):
        tip.assigned_to = None  # the new lead bureau's supervisor assigns it (assignment.py)
    tip.bureau = bureau
    # A co-handling bureau made the lead is no longer beside itself.
    tip.set_co_bureaus([code for code in tip.co_bureau_codes if code != bureau])
    if first_lead:
        _co_handlers_see_it_from_today(session, tip)
    tip.status = "screened"
    if changed:
        _note(session, opened, actor.id, reason, ROUTING_REASON)
    record_event(session, tip, "screened")
    record(
        session, "tip.route", actor=_name(actor), tip_id=tip.id, bureau=bureau,
        suggested=tip.suggested_bureau, changed=int(changed),
    )  # fmt: skip


def _co_handlers_see_it_from_today(session: Session, tip: Tip) -> None:
    """The lead is set now: the co-handling bureaus' T1 runs from today (intake.jobs)."""
    review = rule_book(session).deadline(tip.handling_region, "T1")
    start_co_handling_clocks(tip, review, load_calendar(session))
    tip.next_due = min((d.due_on for d in tip.deadlines if d.met_on is None), default=None)


def accept(session: Session, opened: OpenedTip, actor: scope.Viewer) -> None:
    tip = opened.tip
    if is_co_handler(tip, actor):
        co_accept(session, opened, actor)
        return
    _lock(session, tip)
    if tip.bureau is None and tip.status in UNDECIDED:
        tip.bureau = tip.suggested_bureau
        tip.assigned_to = None  # the lead bureau now handles it; its supervisor assigns it
        _co_handlers_see_it_from_today(session, tip)
    _decide(session, tip, "accepted", locked=True)
    record_event(session, tip, "accepted")
    record(session, "tip.accept", actor=_name(actor), tip_id=tip.id)


def refuse(
    session: Session, opened: OpenedTip, actor: scope.Viewer, reason: str, text: str = ""
) -> None:
    """Not accepted, for a listed reason; free text goes to the reporter as a message."""
    if reason not in reference.codes(reference.REFUSAL_REASONS):
        raise DecisionError(N_("Choose a reason from the list."))
    tip = opened.tip
    lead_decides(tip, actor)
    _decide(session, tip, "not_accepted", reason)
    record_event(session, tip, "not_accepted", reason)
    if clean_text(text):
        add_message(session, opened, text, author="officer", officer_id=actor.id)
    record(session, "tip.refuse", actor=_name(actor), tip_id=tip.id, reason=reason)


def transfer(
    session: Session,
    opened: OpenedTip,
    actor: scope.Viewer,
    bureau: str,
    region: str | None = None,
    text: str = "",
) -> None:
    """Send a tip to another bureau or another region's office, recording where.

    The reporter sees where it went, region and bureau (domain.md T1 asks that a real-name
    reporter be told: ``followup.last_transfer``); free text goes to the reporter as a
    message. The receiving office reviews it within a T1 of its own, from the day it
    received it (domain.md T1: 5 working days), as the pack covering it defines T1; so do
    the co-handling bureaus there."""
    tip = opened.tip
    lead_decides(tip, actor)
    if bureau not in reference.codes(reference.BUREAUS):
        raise DecisionError(N_("Choose a bureau from the list."))
    if region is not None and region not in reference.regions():
        raise DecisionError(N_("Choose the office's region from the list."))
    if tip.sealed and bureau != scope.DISCIPLINE:
        raise DecisionError(N_("A tip about staff stays with discipline inspection."))
    _decide(session, tip, "transferred_out", bureau)
    tip.assigned_to = None  # the receiving office assigns it anew (assignment.py)
    tip.bureau = bureau
    if region is not None:
        tip.handling_region, tip.handling_city, tip.handling_province = (
            region, region[:4], region[:2],
        )  # fmt: skip
    tip.set_co_bureaus([code for code in tip.co_bureau_codes if code != bureau])
    received = today()
    review = rule_book(session).deadline(tip.handling_region, "T1")
    if review is not None:
        calendar = load_calendar(session)
        for owner in [None, *tip.co_bureau_codes]:
            start_clocks(tip, [review], calendar, starts_on=received, bureau=owner)
    record_event(session, tip, "transferred_out", bureau, region=tip.handling_region)
    if clean_text(text):
        add_message(session, opened, text, author="officer", officer_id=actor.id)
    record(
        session, "tip.transfer", actor=_name(actor), tip_id=tip.id, bureau=bureau,
        region=region or tip.handling_region,
    )  # fmt: skip


def link_duplicate(session: Session, actor: scope.Viewer, tip: Tip, other: Tip) -> Tip:
    """Link two tips about the same matter; the earliest received stays first, for reward
    purposes (domain.md section 4). Returns the first. The lead's to do, on both tips.

    The later tip is handled under the first from now on: its open clocks close ("linked
    as a duplicate"), so it no longer goes overdue nor escalates, and its reporter is told
    on the status page, in plain words, that the report is handled together with another
    about the same facts; never which one (the event shown to them carries no detail)."""
    lead_decides(tip, actor)
    lead_decides(other, actor)
    if tip.id == other.id:
        raise DecisionError(N_("A tip cannot duplicate itself."))
    if tip.sealed != other.sealed:
        # A link would show the id of a sealed tip to people who must not know it exists.
        raise DecisionError(N_("A tip about staff cannot be linked with an ordinary tip."))
    first, later = sorted((tip, other), key=lambda t: (t.received_on, t.id))
    while first.duplicate_of is not None:
        found = scope.find_visible(session, actor, first.duplicate_of)
        if found is None:
            break
        first = found
    _lock(session, later)
    if later.duplicate_of == first.id:
        raise DecisionError(N_("These tips are already linked."))
    later.duplicate_of = first.id
    closed = clocks.close_open(later, "duplicate", today())
    record_event(session, later, "duplicate", first.id, shown=False)
    record_event(session, first, "duplicate_linked", later.id, shown=False)
    record_event(session, later, "merged")
    record(
        session, "tip.duplicate", actor=_name(actor), tip_id=later.id, first=first.id,
        closed=",".join(sorted({d.rule for d in closed})),
    )  # fmt: skip
    return first


def recuse(session: Session, actor: scope.Viewer, tip: Tip) -> None:
    """Declare a conflict of interest: from now on the tip is hidden from this officer."""
    if session.get(Recusal, (actor.id, tip.id)) is None:
        session.add(Recusal(officer_id=actor.id, tip_id=tip.id, declared_on=today()))
    if tip.assigned_to == actor.id:
        tip.assigned_to = None  # an officer with a conflict no longer holds the tip
    record(session, "tip.recuse", actor=_name(actor), tip_id=tip.id)


SEAL_REASON = "seal_reason"
MAX_SEAL_REASON = 2000


def seal_refusal(tip: Tip, actor: scope.Viewer, *, in_case: bool = False) -> str | None:
    """Why ``actor`` cannot seal ``tip`` (already found visible to them) now, or None. The
    page draws the control only where this says yes (access.TIP_RULES), and seal_tip asks
    it again under the row lock."""
    if tip.sealed:
        return N_("This tip is already sealed for discipline inspection.")
    if actor.bureau == scope.DISCIPLINE:
        return N_("Discipline inspection already handles this tip: there is nothing to seal it "
                  "from.")  # fmt: skip
    if in_case:
        # The case's officers see the tip through the case: a staff matter found there goes
        # to discipline inspection as a sealed sub-case (the case step refer_discipline).
        return N_("This tip belongs to a case: send the staff matter to discipline inspection "
                  "from the case.")  # fmt: skip
    return None


def seal_tip(session: Session, opened: OpenedTip, actor: scope.Viewer, reason: str) -> None:
    """Seal a tip whose staff angle appears only after intake (issue 10; domain.md section
    2: protect the clues, report at once to 纪检监察, leak nothing to people who may be
    involved). From now on only discipline inspection sees it (scope.visibility): it
    becomes the lead; the co-handling bureaus and the assignment are cleared, and the
    co-handling bureaus' own clocks close (they no longer see the tip). The tip's own clocks
    run on for discipline inspection: the review (T1) and the notice (T2) are still owed.
    The reason is kept as a sealed note. It cannot be undone: unsealing would show the tip
    to the people it was sealed from."""
    tip = opened.tip
    text = clean_text(reason or "").strip()
    if not text:
        raise DecisionError(N_("Say why the tip concerns staff."))
    if len(text) > MAX_SEAL_REASON:
        raise DecisionError(N_("The reason is too long: at most 2000 characters."))
    _lock(session, tip)
    in_case = session.scalar(select(CaseTip.case_id).where(CaseTip.tip_id == tip.id)) is not None
    problem = seal_refusal(tip, actor, in_case=in_case)
    if problem is not None:
        raise DecisionError(problem)
    was = tip.bureau
    tip.sealed = True
    tip.bureau = scope.DISCIPLINE
    tip.set_co_bureaus([])
    tip.assigned_to = None  # discipline inspection's supervisor assigns it (assignment.py)
    closed = [d for d in tip.deadlines if d.bureau is not None and d.met_on is None]
    for deadline in closed:
        deadline.met_on = today()
        deadline.closed_by = "sealed"
        deadline.state = "met" if deadline.met_on <= deadline.due_on else "met_late"
    tip.next_due = min((d.due_on for d in tip.deadlines if d.met_on is None), default=None)
    _note(session, opened, actor.id, text, SEAL_REASON)
    # Not shown to the reporter: that a report concerns staff is not theirs to be told here.
    record_event(session, tip, "sealed", shown=False)
    record(
        session, "tip.seal", actor=_name(actor), tip_id=tip.id, was_bureau=was,
        closed=",".join(sorted({d.rule for d in closed})),
    )  # fmt: skip


def request_identity(
    session: Session, opened: OpenedTip, actor: scope.Viewer, reason: str
) -> IdentityRequest:
    if opened.tip.identity is None:
        raise DecisionError(N_("This reporter gave no name."))
    if not clean_text(reason):
        raise DecisionError(N_("Say why you need the reporter's identity."))
    request = IdentityRequest(
        tip_id=opened.tip.id, requester_id=actor.id, requested_on=today(), reason=b""
    )
    session.add(request)
    session.flush()
    request.reason = seal(
        _internal(opened),
        clean_text(reason).encode(),
        tip_id=opened.tip.id,
        purpose=f"identity-request:{request.id}",
    )
    record(session, "identity.request", actor=_name(actor), tip_id=opened.tip.id)
    return request


def request_reason(opened: OpenedTip, request: IdentityRequest) -> str:
    """Why the officer asked for the identity (sealed under the tip's key, as notes are)."""
    return open_sealed(
        _internal(opened), request.reason, tip_id=opened.tip.id,
        purpose=f"identity-request:{request.id}",
    ).decode()  # fmt: skip


def decide_identity(
    session: Session, actor: scope.Viewer, request: IdentityRequest, approve: bool
) -> None:
    """A supervisor approves or refuses; nobody decides their own request."""
    if actor.role != "supervisor":
        raise DecisionError(N_("Only a supervisor decides identity requests."))
    if request.requester_id == actor.id:
        raise DecisionError(N_("You cannot decide your own request."))
    if request.state != "pending":
        raise DecisionError(N_("This request has already been decided."))
    request.state = "approved" if approve else "refused"
    request.decided_by = actor.id
    request.decided_on = today()
    record(
        session, "identity.approve" if approve else "identity.refuse",
        actor=_name(actor), tip_id=request.tip_id, request=request.id,
    )  # fmt: skip


def open_identity(
    session: Session, actor: scope.Viewer, tip: Tip, keyring: PrivateKeyring,
    *, audit: bool = True,
) -> dict[str, str]:  # fmt: skip
    """The reporter's identity, for an officer whose request a supervisor approved; audited
    as ``identity.read`` unless the caller (the tip page) records the view itself."""
    approved = session.scalar(
        select(IdentityRequest).where(
            IdentityRequest.tip_id == tip.id,
            IdentityRequest.requester_id == actor.id,
            IdentityRequest.state == "approved",
        )
    )
    if approved is None or tip.identity is None:
        raise DecisionError(N_("Opening the identity needs a supervisor's approval."))
    identity = tip.identity
    key = envelopes.unwrap(keyring, identity.key_envelope, envelopes.identity_owner(tip.id))
    data: dict[str, str] = json.loads(
        open_sealed(key, identity.data, tip_id=tip.id, purpose="identity")
    )
    if audit:
        record(session, "identity.read", actor=_name(actor), tip_id=tip.id)
    return data


def _name(actor: scope.Viewer) -> str:
    username = getattr(actor, "username", None)
    return str(username) if username else f"officer:{actor.id}"
