"""The cases area of the internal JSON API (issue 10, "Interfaces"): open a case, take each
step of the lifecycle, read it with its clocks and documents, and the supervisor's board.

The routes join the API blueprint (``tipline.triage.api.bp``): the same bearer tokens, the
same problems in the caller's language, the same access table. They do what the case pages
do, through the same functions: ``scope.find_visible_case`` (a case outside the caller's
scope is 404, never 403), ``services.open_case``, ``services.apply`` and ``board.board``.

A bureau's own case system often records a step before it reaches tipline. ``at`` on any
step (and on opening) says when it happened, China time unless an offset is given; it may
not lie in the future. The event and every clock it starts or meets count from then
(刑诉法 art.105), and the audit entry keeps the real time it was entered.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from flask import Response, abort, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response as AnyResponse

from tipline.intake.db import transaction
from tipline.intake.models import Case, CaseDeadline, CaseEvent, Officer, Tip
from tipline.intake.reference import N_
from tipline.intake.submit import CHINA, today
from tipline.intake.workdays import load_calendar
from tipline.triage import scope, triage
from tipline.triage.api import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    MAX_OFFSET,
    _whole,
    answer,
    bp,
    parse_body,
    problem,
    problems_response,
)
from tipline.triage.audit import record
from tipline.triage.cases import board as case_board
from tipline.triage.cases import document_views, documents, lifecycle, services
from tipline.triage.cases.lifecycle import BY_ACTION, Transition

MAX_ID = 2**31 - 1
LIST_FILTERS = ("stage", "limit", "offset")
DOCUMENT_FORMATS = ("docx", "pdf")
# Steps that cannot be undone take "confirm": true, as the pages ask for a confirmation.
IRREVERSIBLE = lifecycle.IRREVERSIBLE
CONFIRM = N_('This step cannot be undone: send "confirm": true to take it.')

# Refusals by the case's state or the caller's place (409), each with a machine code that
# stays the same whatever the language; every other CaseError is about what was sent (422).
# Keys are services.py's message ids.
CONFLICTS = {
    "This step cannot be taken at this stage of the case.": "wrong_stage",
    "Your role cannot work on cases.": "role",
    "Only the head of the bureau holding the case can take this step.": "head_only",
    "Only the agency that handed the case over can take this step.": "partner_only",
    "Only the bureau holding the case can take this step.": "holder_only",
    "A referral must be approved by a head who did not report it (令310 art.5).":
        "own_referral",
    "A suspected crime must be referred to the police: an administrative penalty may not "
    "take its place (以罚代刑, 令310 art.11).": "penalty_for_referral",
    "The court has imposed a fine (罚金) and no administrative fine came before it: no fine "
    "may be imposed now (行政处罚法 art.35).": "fine_after_court_fine",
    "Only officers of the responsible bureau open cases.": "not_responsible",
    "Only accepted tips can become a case.": "tip_not_accepted",
    "This bureau does not hold cases; transfer the tip to the bureau that investigates.":
        "not_holding_bureau",
    "The tips of one case are handled by one office.": "other_office",
    "A tip already belongs to a case.": "tip_in_case",
    "Only the office holding the case can take this step.": "office_only",
    "No reporter of this case is owed a notice of the filing decision.": "no_notice_owed",
}  # fmt: skip
INPUT_CODES = {
    "Please fill in: %(field)s.": "missing",
    "%(field)s is too long: at most %(limit)s characters.": "too_long",
    "This step does not take: %(fields)s.": "unknown",
    "A referral carries all five attachments of 令310 art.6; mark each as enclosed.":
        "attachments_missing",
    "A referral team has at most 20 officers.": "team",
    "Every member of the team must be an active officer of the bureau holding the case.":
        "team",
    "A referral needs a team of at least two officers (令310 art.5).": "team",
}  # fmt: skip
# The field a message without a %(field)s is about.
MESSAGE_FIELDS = {
    "A referral team has at most 20 officers.": "team",
    "Every member of the team must be an active officer of the bureau holding the case.":
        "team",
    "A referral needs a team of at least two officers (令310 art.5).": "team",
    "A referral carries all five attachments of 令310 art.6; mark each as enclosed.":
        "attachments",
    "A fine was entered but the penalty is not a fine.": "fine",
    "The court has imposed a fine (罚金) and no administrative fine came before it: no fine "
    "may be imposed now (行政处罚法 art.35).": "fine",
    "The time must be a date and time such as 2026-03-01 14:30.": "at",
    "The time cannot be in the future.": "at",
    "The time is too early.": "at",
    "Choose the tips the case is made of.": "tips",
    "The identifier is too long.": "subject.identifier",
    "The resident ID number is not valid: please check it.": "subject.identifier",
    "The unified social credit code (统一社会信用代码) is not valid: please check it.":
        "subject.identifier",
    "The period ends before it begins.": "subject.period_to",
    "The time is before the case's previous step.": "at",
    "A case is handed over to another bureau.": "to_bureau",
}  # fmt: skip
_FIELD_NAMES = {
    **{words: name for name, words in services.FIELD_WORDS.items()},
    "the subject": "subject.kind",
    "the subject's name": "subject.name",
}


def case_problem(error: services.CaseError, field: str = "") -> Response:
    """A refusal of the services as the API's problem: 409 for the case's state or the
    caller's place, 422 for what was sent; the message in the caller's language."""
    params = {k: _(v) if isinstance(v, str) else v for k, v in error.params.items()}
    message = _(error.message, **params) if params else _(error.message)
    words = error.params.get("field")
    named = _FIELD_NAMES.get(words, "") if isinstance(words, str) else ""
    field = named or MESSAGE_FIELDS.get(error.message, field)
    if error.message in CONFLICTS:
        return problems_response([problem(field, CONFLICTS[error.message], message)], 409)
    code = INPUT_CODES.get(error.message, "invalid")
    return problems_response([problem(field, code, message)], 422)


# Answers: what the case page shows, as JSON. Amounts are in yuan, as numbers.


def yuan(fen: int | None) -> int | float | None:
    if fen is None:
        return None
    return fen // 100 if fen % 100 == 0 else fen / 100


def _aware(at: dt.datetime) -> dt.datetime:
    # SQLite hands back naive datetimes for timezone columns; they were stored as UTC.
    return at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)


def china_time(at: dt.datetime | None) -> str | None:
    """An instant in ISO 8601 with its offset, in China time: the hour clocks of 令310 are
    read against the office's clock."""
    return None if at is None else _aware(at).astimezone(CHINA).isoformat()


def summary(case: Case) -> dict[str, Any]:
    """A case as listed: its plaintext columns only, nothing unsealed."""
    return {
        "id": case.id,
        "number": case.number,
        "stage": case.stage,
        "bureau": case.bureau,
        "partner_bureau": case.partner_bureau,
        "region": case.handling_region,
        "fund": case.fund,
        "category": case.category,
        "subject_kind": case.subject_kind,
        "opened_on": case.opened_on.isoformat(),
        "next_due": case.next_due.isoformat() if case.next_due else None,
        "verified_loss": yuan(case.verified_loss),
        "recovered": yuan(case.recovered),
        "fine": yuan(case.fine),
        "court_fine": case.court_fine,
        "criminal_suspected": case.criminal_suspected,
        "referred": case.referred,
        "supervised": case.supervised,
        "sealed": case.sealed,
        "parent": case.parent_id,
    }


def clock(deadline: CaseDeadline, on: dt.date) -> dict[str, Any]:
    return {
        "rule": deadline.rule,
        "started_by": deadline.started_by,
        "starts_at": china_time(deadline.starts_at),
        "starts_on": deadline.starts_on.isoformat(),
        "due_on": deadline.due_on.isoformat(),
        # Hour limits (T11, T12) are due at an instant, through nights and holidays.
        "due_at": china_time(deadline.due_at),
        "unit": deadline.unit,
        "amount": deadline.amount,
        "state": deadline.state,
        "overdue": deadline.met_at is None and deadline.due_on < on,
        "met_at": china_time(deadline.met_at),
        "closed_by": deadline.closed_by,
        "rule_pack": deadline.rule_pack,
        # Counted Monday-Friday through a year with no official calendar yet: the date
        # moves when the State Council's notice for that year is entered.
        "calendar_fallback": deadline.calendar_fallback,
    }


def step_json(transition: Transition) -> dict[str, Any]:
    """A step the caller may take now, with what its body needs and may give."""
    return {
        "action": transition.action,
        "label": _(transition.label),
        "target": transition.target,
        "needs": list(transition.needs),
        "may_give": [*transition.may_give, *(() if "at" in transition.may_give else ("at",))],
        "confirm": transition.action in IRREVERSIBLE,
        "documents": list(transition.documents),
        "rule": transition.rule,
    }


def _listed_document(case: Case, item: Any) -> dict[str, Any]:
    """One entry of ``documents.listing``: a CaseDocument, or a mapping with its fields."""
    fields = item if isinstance(item, Mapping) else {
        name: getattr(item, name, None) for name in ("id", "kind", "made_at")
    }  # fmt: skip
    made_at = fields.get("made_at")
    return {
        "id": fields.get("id"),
        "kind": fields.get("kind"),
        "made_at": china_time(made_at) if isinstance(made_at, dt.datetime) else made_at,
        "links": {
            fmt: url_for("api.case_document", case_id=case.id, doc_id=fields.get("id"), fmt=fmt)
            for fmt in DOCUMENT_FORMATS
        },
    }


def state(case: Case, actor: scope.Viewer) -> dict[str, Any]:
    """What a step or an opening answers: the case's plaintext, its clocks and next steps."""
    on = today()
    return {
        **summary(case),
        "clocks": [clock(d, on) for d in case.deadlines],
        "next_steps": [step_json(t) for t in services.next_steps(case, actor)],
    }


def detail(session: Session, case: Case, key: bytes, actor: scope.Viewer) -> dict[str, Any]:
    """The case as its page shows it, unsealed (the caller audits the reading)."""
    body = services.details(case, key)
    actors = {e.actor_id for e in case.events if e.actor_id is not None}
    names = dict(
        session.execute(select(Officer.id, Officer.username).where(Officer.id.in_(actors))).all()
    ) if actors else {}  # fmt: skip
    subject = body.get("subject", {})
    return {
        **state(case, actor),
        "subject": {
            name: subject.get(name)
            for name in ("kind", "name", "identifier", "period_from", "period_to")
        },
        "findings": body.get("findings"),
        "findings_log": body.get("findings_log", []),
        # The first is the earliest received: the first reporter (domain.md section 4).
        "tips": [link.tip_id for link in case.tips],
        "events": [event_json(e, key, names) for e in case.events],
        "documents": [_listed_document(case, item) for item in documents.listing(case)],
    }


def event_json(event: CaseEvent, key: bytes, names: dict[int, str]) -> dict[str, Any]:
    return {
        "id": event.id,
        "action": event.action,
        "at": china_time(event.at),
        "actor": names.get(event.actor_id) if event.actor_id is not None else None,
        "from_stage": event.from_stage,
        "to_stage": event.to_stage,
        "rule_pack": event.rule_pack,
        "documents": [code for code in event.documents.split(",") if code],
        "data": services.event_data(event, key),
    }


# Reading.


@bp.get("/cases")
def cases() -> Response:
    """The cases the caller may see, nearest clock first; the total counts the same scope."""
    args = request.args
    found = [problem(name, "unknown", _("Unknown field."))
             for name in sorted(args.keys() - set(LIST_FILTERS))]  # fmt: skip
    stage = args.get("stage", "")
    if stage and stage not in lifecycle.STAGE_CODES:
        found.append(problem("stage", "invalid", _("Choose a stage from the list.")))
    limit = _whole(args, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT, found)
    offset = _whole(args, "offset", 0, 0, MAX_OFFSET, found)
    if found:
        return problems_response(found)
    query = scope.visible_cases(current_user)
    if stage:
        query = query.where(Case.stage == stage)
    with triage().sessions() as session:
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = session.scalars(
            query.order_by(Case.next_due.is_(None), Case.next_due, Case.opened_on, Case.id)
            .limit(limit).offset(offset)
        ).all()  # fmt: skip
        return answer({"cases": [summary(case) for case in rows], "total": total})


def _visible(session: Session, case_id: str) -> Case:
    case = scope.find_visible_case(session, current_user, case_id)
    if case is None:
        abort(404)  # out of scope or absent: said the same way
    return case


@bp.get("/cases/<case_id>")
def case(case_id: str) -> Response:
    with transaction(triage().sessions) as session:
        found = _visible(session, case_id)
        key = services.case_key(found, triage().keyring)
        body = detail(session, found, key, current_user)
        # The subject, the findings and what each step recorded are contents: audited.
        record(session, "case.read", actor=current_user.username, case=found.id)
        return answer(body)


@bp.get("/board")
def board() -> Response:
    """The supervisor's board: overdue and soon-due case clocks, cases under 挂牌督办."""
    on = today()
    with triage().sessions() as session:
        found = case_board.board(session, current_user, on, load_calendar(session),
                                 now=dt.datetime.now(dt.UTC))  # fmt: skip
        return answer({
            "overdue": [{"case": summary(c), "clock": clock(d, on)} for c, d in found.overdue],
            "due_soon": [{"case": summary(c), "clock": clock(d, on)} for c, d in found.due_soon],
            "supervised": [summary(c) for c in found.supervised],
            "suggest_supervision": [summary(c) for c in found.suggest_supervision],
            "counts": found.counts,
        })  # fmt: skip


# One rule per format, so the document describes each with its media type.
@bp.get("/cases/<case_id>/documents/<int:doc_id>.docx", defaults={"fmt": "docx"})
@bp.get("/cases/<case_id>/documents/<int:doc_id>.pdf", defaults={"fmt": "pdf"})
def case_document(case_id: str, doc_id: int, fmt: str) -> AnyResponse:
    """A generated document, as the case page's link gives it (documents.download audits
    the download and unseals it under the case key); 404 outside scope."""
    if doc_id > MAX_ID:
        abort(404)
    with transaction(triage().sessions) as session:
        found = _visible(session, case_id)
        key = services.case_key(found, triage().keyring)
        try:
            made = documents.download(session, found, doc_id, fmt, key,
                                      actor=current_user.username)  # fmt: skip
        except documents.DocumentError as error:
            session.rollback()
            return problems_response(
                [problem("fmt", "unavailable", _(error.message, **error.params))], 503
            )
        if made is None:
            abort(404)
    # The audit entry and a newly made PDF are committed before a byte is sent.
    return document_views.sent(made)


# Acting: the body is checked against the document first, then the case is found in scope.


def _when(raw: Any) -> dt.datetime:
    """``at`` as sent (None: now); a CaseError for a bad or future time."""
    now = dt.datetime.now(dt.UTC)
    return services._instant(raw, now) if raw not in (None, "") else now


@bp.post("/cases")
def open_case() -> Response:
    values, found = parse_body("openCase")
    if found:
        return problems_response(found)
    raw_subject = values["subject"]
    try:
        when = _when(values["at"])
        subject = services.Subject(
            kind=raw_subject["kind"], name=raw_subject["name"],
            identifier=(raw_subject.get("identifier") or "").strip(),
            period_from=_day(raw_subject.get("period_from")),
            period_to=_day(raw_subject.get("period_to")),
        )  # fmt: skip
        with transaction(triage().sessions) as session:
            tips = []
            for tip_id in dict.fromkeys(values["tips"]):
                tip = scope.find_visible(session, current_user, tip_id)
                if tip is None:
                    # Said the same way whether the tip does not exist or is out of scope.
                    message = _("There is no tip with this number that you can see.")
                    return problems_response([problem("tips", "invalid", message)], 422)
                tips.append(tip)
            made = services.open_case(
                session, triage().keyring.public_keyring(), current_user, tips, subject,
                values["findings"] or "", now=when,
            )  # fmt: skip
            return answer(state(made, current_user), 201)
    except services.CaseError as error:
        return case_problem(error)


def _day(raw: Any) -> dt.date | None:
    return dt.date.fromisoformat(raw) if isinstance(raw, str) and raw else None


@bp.post("/cases/<case_id>/tips")
def join_case(case_id: str) -> Response:
    values, found = parse_body("joinCase")
    if found:
        return problems_response(found)
    try:
        with transaction(triage().sessions) as session:
            case_row = _visible(session, case_id)
            tip: Tip | None = scope.find_visible(session, current_user, values["tip"])
            if tip is None:
                message = _("There is no tip with this number that you can see.")
                return problems_response([problem("tip", "invalid", message)], 422)
            services.join_case(session, case_row, tip, current_user)
            session.refresh(case_row)
            return answer(state(case_row, current_user))
    except services.CaseError as error:
        return case_problem(error, "tip")


@bp.post("/cases/<case_id>/steps/<action>")
def step(case_id: str, action: str) -> Response:
    transition = BY_ACTION.get(action)
    if transition is None:
        abort(404)
    values, found = parse_body("takeStep")
    if found:
        return problems_response(found)
    raw = {name: value for name, value in values.items()
           if value is not None and name not in ("at", "confirm")}  # fmt: skip
    try:
        when = _when(values["at"])
        if values["at"] not in (None, "") and "at" in transition.may_give:
            raw["at"] = values["at"]
        with transaction(triage().sessions) as session:
            case_row = _visible(session, case_id)
            # The state and the caller's place first: nothing is asked to be confirmed that
            # would then be refused.
            refused = services.refusal(case_row, transition, current_user)
            if refused:
                raise services.CaseError(refused)
            if action in IRREVERSIBLE and values["confirm"] is not True:
                return problems_response([problem("confirm", "confirm", _(CONFIRM))], 422)
            event = services.apply(session, triage().keyring, case_row, action, current_user,
                                   raw, now=when)  # fmt: skip
            return answer({**state(case_row, current_user),
                           "event": {"id": event.id, "action": event.action,
                                     "at": china_time(event.at)}})  # fmt: skip
    except services.CaseError as error:
        return case_problem(error)
