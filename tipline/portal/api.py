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
from importlib.resources import files
from typing import Any

from flask import Blueprint, Response, abort, jsonify, request
from flask_babel import gettext as _

from tipline.crypto import MalformedReceipt, Receipt, ReceiptTypo, parse_receipt
from tipline.intake.db import transaction
from tipline.intake.followup import add_message
from tipline.intake.reading import OpenedTip, ReceiptNotFound, open_as_reporter, reporter_key
from tipline.intake.submit import InvalidReport, Problem, Report, ReporterIdentity
from tipline.intake.web import csrf
from tipline.portal import portal
from tipline.portal.limits import spend_receipt_attempt, submissions
from tipline.portal.status import status_words, timeline

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)

REQUIRED = ("category", "region", "text")
STRINGS = ("category", "region", "text", "channel", "fund", "suspect_kind", "suspect_name",
           "how_known", "happened_start", "happened_end")  # fmt: skip
BOOLEANS = ("ongoing", "wants_notice")
FIELDS = frozenset((*STRINGS, *BOOLEANS, "amount", "identity"))
API_CHANNELS = ("app", "phone", "web")
IDENTITY_FIELDS = ("name", "id_number", "phone")


def problems_response(problems: list[dict[str, str]], status: int = 400) -> Response:
    response = jsonify({"problems": problems})
    response.status_code = status
    return response


def problem(field: str, code: str, message: str) -> dict[str, str]:
    return {"field": field, "code": code, "message": message}


def _date(item: dict[str, Any], name: str, found: list[dict[str, str]]) -> dt.date | None:
    value = item.get(name)
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        found.append(problem(name, "invalid", _("Give a date as YYYY-MM-DD.")))
        return None


def _identity(item: dict[str, Any], found: list[dict[str, str]]) -> ReporterIdentity | None:
    value = item.get("identity")
    if value is None:
        return None
    if not isinstance(value, dict) or not all(
        isinstance(value.get(name), str) for name in IDENTITY_FIELDS
    ):
        found.append(problem("identity", "type", _("Give name, id_number and phone as strings.")))
        return None
    return ReporterIdentity(**{name: value[name] for name in IDENTITY_FIELDS})


def parse_report(item: Any) -> tuple[Report | None, list[dict[str, str]]]:
    """The report a JSON body describes, or the problems with it (all of them)."""
    if not isinstance(item, dict):
        return None, [problem("", "type", _("Send one JSON object."))]
    found = [problem(name, "unknown", _("Unknown field.")) for name in sorted(item.keys() - FIELDS)]
    found += [
        problem(name, "missing", _("This field is required."))
        for name in REQUIRED
        if item.get(name) in (None, "")
    ]
    found += [
        problem(name, "type", _("This field must be a string."))
        for name in STRINGS
        if item.get(name) is not None and not isinstance(item[name], str)
    ]
    found += [
        problem(name, "type", _("This field must be true or false."))
        for name in BOOLEANS
        if name in item and not isinstance(item[name], bool)
    ]
    channel = item.get("channel", "app")
    if channel not in API_CHANNELS:
        found.append(problem("channel", "invalid", _("Unknown channel.")))
    amount = None
    if item.get("amount") is not None:
        raw = item["amount"]
        try:
            if isinstance(raw, bool) or not isinstance(raw, int | float | str):
                raise InvalidOperation
            amount = Decimal(str(raw))
            if not amount.is_finite():
                raise InvalidOperation
        except InvalidOperation:
            found.append(problem("amount", "type", _("Give the amount in yuan as a number.")))
    start, end = _date(item, "happened_start", found), _date(item, "happened_end", found)
    identity = _identity(item, found)
    if found:
        return None, found
    return Report(
        category=item["category"],
        region=item["region"],
        text=item["text"],
        channel=channel,
        fund=item.get("fund"),
        suspect_kind=item.get("suspect_kind"),
        suspect_name=item.get("suspect_name"),
        happened_start=start,
        happened_end=end,
        ongoing=item.get("ongoing", False),
        how_known=item.get("how_known"),
        amount=amount,
        identity=identity,
        wants_notice=item.get("wants_notice", False),
    ), []


def service_problems(problems: list[Problem]) -> list[dict[str, str]]:
    return [problem(p.field, "invalid", _(p.message)) for p in problems]


@bp.post("/reports")
@submissions
def create_report() -> Response:
    body = request.get_json(silent=True)
    if body is None:
        return problems_response([problem("", "json", _("The body is not valid JSON."))])
    report, found = parse_report(body)
    if report is None:
        return problems_response(found)
    try:
        stored = portal().submitter.submit(report)
    except InvalidReport as error:
        return problems_response(service_problems(error.problems))
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


def describe(opened: OpenedTip) -> dict[str, Any]:
    tip = opened.tip
    return {
        "status": tip.status,
        "status_text": status_words(tip),
        "received_on": tip.received_on.isoformat(),
        "category": tip.category,
        "region": tip.region,
        "fund": tip.fund,
        "suspect_kind": tip.suspect_kind,
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
    if not spend_receipt_attempt():
        abort(429)
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return problems_response([problem("", "json", _("The body is not valid JSON."))])
    if not isinstance(body.get("text"), str) or not body["text"].strip():
        return problems_response([problem("text", "missing", _("Write a message."))])
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
