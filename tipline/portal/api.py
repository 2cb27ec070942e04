"""The public JSON API for other intake channels (a mobile app, the 12333 hotline's system).

Described by ``/api/v1/openapi.json``. It carries no cookies, so it needs no CSRF token: a
report is authenticated by its receipt in ``Authorization: Receipt <code>``. Errors are a
machine-readable list of problems, each with a field, a code and a message in the caller's
language (Accept-Language).
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal, InvalidOperation
from functools import cache
from importlib.resources import files
from typing import Any

from flask import Blueprint, Response, abort, g, jsonify, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from tipline.crypto import MalformedReceipt, Receipt, ReceiptTypo, parse_receipt
from tipline.intake import reference
from tipline.intake.db import transaction
from tipline.intake.followup import add_message, last_transfer
from tipline.intake.jsonbody import BadBodies, BodyProblem, RequestSchemas
from tipline.intake.reading import OpenedTip, ReceiptNotFound, open_as_reporter, reporter_key
from tipline.intake.submit import (
    InvalidReport,
    Problem,
    Report,
    ReporterIdentity,
    parse_amount,
    problem_text,
    validate,
)
from tipline.intake.web import csrf
from tipline.portal import portal
from tipline.portal.limits import spend_receipt_attempt, submissions
from tipline.portal.status import status_words, timeline

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)

IDENTITY_FIELDS = ("name", "id_number", "phone")


def problems_response(problems: list[dict[str, str]], status: int = 400) -> Response:
    response = jsonify({"problems": problems})
    response.status_code = status
    return response


def problem(field: str, code: str, message: str) -> dict[str, str]:
    return {"field": field, "code": code, "message": message}


@cache
def request_schemas() -> RequestSchemas:
    """The request bodies as this site's OpenAPI document describes them: the code checks
    against the document it serves, so the two cannot drift."""
    text = (files("tipline.portal") / "openapi.json").read_text(encoding="utf-8")
    return RequestSchemas(json.loads(text))


def body_problems(problems: list[BodyProblem]) -> list[dict[str, str]]:
    return [
        problem(p.field, p.code, _(p.message) if p.count is None else _(p.message, count=p.count))
        for p in problems
    ]


def checked_body(operation_id: str) -> Any:
    """The JSON body, read and bounded by ``refuse_unstorable_input`` and checked here
    against the document's schema; raises ``BadBodies`` with every problem."""
    return request_schemas().check(operation_id, g.get("json_body"))


def parse_report(item: dict[str, Any]) -> Report:
    """The report a schema-valid JSON body describes."""
    identity = item.get("identity")
    amount = item.get("amount")
    start, end = (
        None if item.get(name) is None else dt.date.fromisoformat(item[name])
        for name in ("happened_start", "happened_end")
    )
    return Report(
        category=item["category"],
        region=item["region"],
        text=item["text"],
        channel=item.get("channel", "app"),
        fund=item.get("fund"),
        suspect_kind=item.get("suspect_kind"),
        unit_level=item.get("unit_level"),
        suspect_name=item.get("suspect_name"),
        ongoing=item.get("ongoing", False),
        how_known=item.get("how_known"),
        amount=amount_of(amount),
        identity=None
        if identity is None
        else ReporterIdentity(**{name: identity[name] for name in IDENTITY_FIELDS}),
        wants_notice=item.get("wants_notice", False),
        happened_start=start,
        happened_end=end,
    )


class AmountUnreadable(Exception):
    """The amount was given as a string that is not an amount of yuan."""


def amount_of(raw: object) -> Decimal | None:
    """A number as given, or a string read as people write amounts (issue 8)."""
    if raw is None:
        return None
    if isinstance(raw, str):
        try:
            return parse_amount(raw)
        except InvalidOperation as exc:
            raise AmountUnreadable from exc
    return Decimal(str(raw))


def service_problems(problems: list[Problem]) -> list[dict[str, str]]:
    """The pipeline's refusals (unknown codes, dates, check digits): named by their place in
    the body, as the schema's problems are."""
    return [
        problem(
            f"identity.{p.field}" if p.field in IDENTITY_FIELDS else p.field, "invalid",
            problem_text(p),
        )  # fmt: skip
        for p in problems
    ]


# Where to go instead with a matter that is not fund fraud (domain.md section 2, 广东举报
# 指引): the same words as the form's advice page (portal/_out_of_scope_advice.html).
OUT_OF_SCOPE_SUMMARY = _l(
    "This is not a report of fraud against the funds, but you can still get help:"
)
OUT_OF_SCOPE_ADVICE = (
    ("labor_inspection_complaint", _l(
        "Your employer did not pay your social insurance contributions: make a complaint to "
        "the labour inspection office (劳动保障监察), in person or through the 12333 hotline."
    )),
    ("review_or_arbitration", _l(
        "You disagree with a decision about your own benefits: apply for administrative "
        "review, or bring a labour dispute to arbitration."
    )),
    ("reassessment", _l("You disagree with a disability assessment: ask for a re-assessment.")),
    ("hotline_12333", _l("You have a question about your own insurance: call 12333.")),
)  # fmt: skip


def out_of_scope_answer() -> Response:
    """As the form: the advice, and nothing stored (no tip, no receipt, no job)."""
    return jsonify({
        "stored": False,
        "category": "out_of_scope",
        "summary": str(OUT_OF_SCOPE_SUMMARY),
        "advice": [{"where": where, "text": str(text)} for where, text in OUT_OF_SCOPE_ADVICE],
    })  # fmt: skip


@bp.post("/reports")
@submissions
def create_report() -> Response:
    try:
        body = checked_body("createReport")
    except BadBodies as bad:
        return problems_response(body_problems(bad.problems))
    if body["category"] == "out_of_scope":
        return out_of_scope_answer()
    unreadable = []
    try:
        report = parse_report(body)
    except AmountUnreadable:
        # Every other problem in the same answer: check the rest without the amount.
        report = parse_report({**body, "amount": None})
        unreadable = [problem("amount", "invalid",
                              _("Give the amount in yuan as a number, e.g. 12000."))]  # fmt: skip
    try:
        if unreadable:
            found = validate(report, limits=portal().config.limits)[1]
            return problems_response(unreadable + service_problems(found))
        stored = portal().submitter.submit(report)
    except InvalidReport as error:
        return problems_response(unreadable + service_problems(error.problems))
    assert stored.receipt is not None
    response = jsonify(
        {"receipt": stored.receipt.display, "received_on": stored.received_on.isoformat()}
    )
    response.status_code = 201
    return response


class ReceiptRefused(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


def receipt_from_header() -> Receipt:
    scheme, _space, code = (request.headers.get("Authorization") or "").partition(" ")
    if scheme.lower() != "receipt" or not code.strip():
        response = problems_response(
            [
                problem(
                    "Authorization", "missing", _("Send the header Authorization: Receipt <code>.")
                )
            ],
            401,
        )
        response.headers["WWW-Authenticate"] = "Receipt"
        raise ReceiptRefused(response)
    try:
        return parse_receipt(code)
    except ReceiptTypo as exc:
        raise ReceiptRefused(
            problems_response(
                [problem("Authorization", "receipt_typo", _("This code has a typing mistake."))]
            )  # fmt: skip
        ) from exc
    except MalformedReceipt as exc:
        raise ReceiptRefused(
            problems_response(
                [problem("Authorization", "malformed_receipt", _("A receipt code has 24 digits."))]
            )  # fmt: skip
        ) from exc


def _unknown_receipt() -> Response:
    response = problems_response(
        [problem("Authorization", "unknown_receipt", _("No report answers to this code."))], 401
    )
    response.headers["WWW-Authenticate"] = "Receipt"
    return response


def _transferred_to(tip: Any) -> dict[str, str] | None:
    """The office that received the tip by its last transfer (domain.md T1), if any."""
    moved = last_transfer(tip)
    if moved is None:
        return None
    return {
        "region": moved.region,
        "region_name": reference.region_name(moved.region),
        "bureau": moved.bureau,
        "bureau_name": _(reference.label(reference.BUREAUS, moved.bureau)),
    }


def describe(opened: OpenedTip) -> dict[str, Any]:
    tip = opened.tip
    return {
        "status": tip.status,
        "status_text": status_words(tip),
        # A report in a case: its last public step (reference.REPORTER_STAGES), no more.
        "case_stage": tip.status_detail if tip.status == "in_case" else None,
        "received_on": tip.received_on.isoformat(),
        "category": tip.category,
        "region": tip.region,
        "fund": tip.fund,
        "suspect_kind": tip.suspect_kind,
        "unit_level": tip.unit_level,
        "transferred_to": _transferred_to(tip),
        "text": opened.text,
        "amount": opened.amount,
        "messages": [
            {
                "id": m.id,
                "author": m.author,
                "sent_on": m.sent_on.isoformat(),
                "asks_reply": m.asks_reply,
                "text": m.text,
            }
            for m in opened.messages()
        ],
        "timeline": [{"on": step.on, "event": step.what} for step in timeline(tip)],
        "attachments": [{"filename": a.filename, "size": a.size} for a in opened.attachments()],
    }


@bp.get("/reports/self")
def own_report() -> Response:
    try:
        receipt = receipt_from_header()
    except ReceiptRefused as refused:
        return refused.response
    if not spend_receipt_attempt():
        abort(429)
    services = portal()
    with services.sessions() as session:
        try:
            opened = open_as_reporter(session, *reporter_key(session, receipt, services.kdf))
        except ReceiptNotFound:
            return _unknown_receipt()
        return jsonify(describe(opened))


@bp.post("/reports/self/messages")
def own_message() -> Response:
    try:
        receipt = receipt_from_header()
    except ReceiptRefused as refused:
        return refused.response
    try:
        body = checked_body("sendMessage")
    except BadBodies as bad:
        return problems_response(body_problems(bad.problems))
    if not spend_receipt_attempt():
        abort(429)
    services = portal()
    try:
        with transaction(services.sessions) as session:
            opened = open_as_reporter(session, *reporter_key(session, receipt, services.kdf))
            message_id = add_message(session, opened, body["text"], author="reporter").id
    except ReceiptNotFound:
        return _unknown_receipt()
    except InvalidReport as error:
        return problems_response(service_problems(error.problems))
    response = jsonify({"id": message_id})
    response.status_code = 201
    return response


@bp.get("/openapi.json")
def openapi() -> Response:
    document = json.loads((files("tipline.portal") / "openapi.json").read_text(encoding="utf-8"))
    return jsonify(document)
