"""The internal JSON API, for the bureaus' own case systems (DESIGN.md, "Interfaces").

Described by ``/api/v1/openapi.json``. A caller acts as one officer, with a bearer token
issued by ``tipline users token`` (``Authorization: Bearer <token>``); only the token's
SHA-256 is stored. The API answers exactly as the pages do: the same access table
(``access.ALLOWED``), the same scope (a tip outside it is 404), the same decisions and the
same audit entries, because it calls the same functions.

The API neither reads nor writes the session cookie (``ApiSessionInterface``): the token is
the only way in, so a browser's session cannot be ridden across sites into the API, and the
blueprint needs no CSRF token. Errors are a list of problems, each with a field, a code and
a message in the caller's language (Accept-Language), as on the public API.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import secrets
from collections.abc import Callable
from functools import cache
from importlib.resources import files
from typing import Any

from flask import Blueprint, Flask, Request, Response, abort, g, jsonify, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.orm import Session, object_session, selectinload

from tipline.intake import reference
from tipline.intake.db import transaction
from tipline.intake.followup import add_message, transfers
from tipline.intake.jsonbody import BadBodies, RequestSchemas
from tipline.intake.models import ApiToken, IdentityRequest, Officer, Tip
from tipline.intake.reading import OpenedTip
from tipline.intake.reference import N_
from tipline.intake.submit import InvalidReport, problem_text, today
from tipline.intake.web import whole_number
from tipline.triage import scope, triage
from tipline.triage.audit import record
from tipline.triage.auth import SignedIn
from tipline.triage.tips import alerts, assignment, decisions, export, inbox, tipwords, views
from tipline.triage.tips.forms import STATUS_CHOICES

PREFIX = "/api/"
bp = Blueprint("api", __name__, url_prefix="/api/v1")

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
# Far beyond any inbox, far below a bigint: an OFFSET of 2**63 overflowed PostgreSQL.
MAX_OFFSET = 1_000_000
MAX_ID = 2**31 - 1  # the identity requests' integer key
LIST_FILTERS = (
    "status", "bureau", "category", "overdue", "limit", "offset",
    "id", "received_from", "received_to", "region", "amount_band", "channel", "real_name",
    "mine",
)  # fmt: skip
TIP_PREFIX = re.compile(r"[0-9a-f]{4,16}")
DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


# Tokens: plain functions of a session, used by ``tipline users token`` and by the tests.


class TokenError(Exception):
    """A token could not be issued or revoked: the message says why."""


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _officer(session: Session, username: str) -> Officer:
    officer = session.scalar(select(Officer).where(Officer.username == username))
    if officer is None:
        raise TokenError(f"there is no user {username!r}")
    return officer


def issue_token(session: Session, username: str, *, actor: str) -> str:
    """A new token for ``username``; returned once, only its SHA-256 is kept."""
    officer = _officer(session, username)
    if not officer.active:
        raise TokenError(f"{username!r} is deactivated")
    token = secrets.token_urlsafe(32)
    row = ApiToken(officer_id=officer.id, token_hash=token_hash(token), created_on=today())
    session.add(row)
    session.flush()
    record(session, "token.issue", actor=actor, username=username, token_id=row.id)
    return token


def revoke_tokens(session: Session, username: str, *, actor: str) -> int:
    """Revoke every token of ``username``; returns how many were still valid."""
    officer = _officer(session, username)
    rows = session.scalars(
        select(ApiToken).where(ApiToken.officer_id == officer.id, ApiToken.revoked.is_(False))
    ).all()
    for row in rows:
        row.revoked = True
    record(session, "token.revoke", actor=actor, username=username, count=len(rows))
    return len(rows)


def officer_for_token(session: Session, token: str) -> Officer | None:
    """The active officer a valid (issued, unrevoked) token stands for."""
    return session.scalar(
        select(Officer)
        .join(ApiToken, ApiToken.officer_id == Officer.id)
        .where(
            ApiToken.token_hash == token_hash(token),
            ApiToken.revoked.is_(False),
            Officer.active.is_(True),
        )
    )


# Authentication: the token, and only the token, signs the request in.


def is_api(path: str) -> bool:
    return path.startswith(PREFIX)


def bearer_token(req: Request) -> str | None:
    scheme, _space, token = (req.headers.get("Authorization") or "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def load_user_from_request(req: Request) -> SignedIn | None:
    """Flask-Login's request loader: the officer behind the bearer token, on API paths only.

    Checked on every request, so a revoked token or a deactivated officer is refused at once.
    """
    token = bearer_token(req) if is_api(req.path) else None
    if token is None:
        return None
    with triage().sessions() as session:
        officer = officer_for_token(session, token)
        if officer is None:
            return None
        g.api_officer_id = officer.id
        return SignedIn(officer.id, officer.username, officer.role, officer.bureau, officer.region)


class ApiSessionInterface(SecureCookieSessionInterface):
    """The cookie session, except on API paths: there it starts empty and is never saved,
    so Flask-Login falls through to the token and no answer carries a Set-Cookie."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if is_api(request.path):
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: Any, response: Response) -> None:
        if is_api(request.path):
            return
        super().save_session(app, session, response)


def unauthorized() -> Response:
    """401 for an API call without a valid token (RFC 6750 section 3)."""
    if bearer_token(request) is None:
        found = problem(
            "Authorization", "missing", _("Send the header Authorization: Bearer <token>.")
        )
        challenge = "Bearer"
    else:
        found = problem(
            "Authorization", "invalid_token", _("This token is unknown or has been revoked.")
        )
        challenge = 'Bearer error="invalid_token"'
    response = problems_response([found], 401)
    response.headers["WWW-Authenticate"] = challenge
    return response


@bp.before_request
def bearer_only() -> Response | None:
    # The access guard has let a signed-in officer through; make sure it was the token that
    # signed them in (Flask-Login would also accept a remember-me cookie).
    if g.get("api_officer_id") != getattr(current_user, "id", None):
        return unauthorized()
    return None


# Answers.


def problem(field: str, code: str, message: str) -> dict[str, str]:
    return {"field": field, "code": code, "message": message}


def problems_response(problems: list[dict[str, str]], status: int = 400) -> Response:
    response = jsonify({"problems": problems})
    response.status_code = status
    return response


def answer(body: dict[str, Any], status: int = 200) -> Response:
    response = jsonify(body)
    response.status_code = status
    return response


def summary(tip: Tip, holders: dict[int, str] | None = None) -> dict[str, Any]:
    """A tip as listed: its plaintext columns only, nothing decrypted. ``holders`` names
    the officers tips are assigned to (looked up when not given)."""
    if holders is None:
        session = object_session(tip)
        holders = inbox.usernames(session, [tip.assigned_to]) if session else {}
    return {
        "assigned_to": holders.get(tip.assigned_to) if tip.assigned_to is not None else None,
        "id": tip.id,
        "category": tip.category,
        "region": tip.region,
        "bureau": tip.bureau,
        "co_bureaus": tip.co_bureau_codes,
        "status": tip.status,
        "received_on": tip.received_on.isoformat(),
        "deadlines": [
            {
                "rule": d.rule,
                "bureau": d.bureau,
                "starts_on": d.starts_on.isoformat(),
                "due": d.due_on.isoformat(),
                # Counted Monday-Friday through a year with no official calendar yet.
                "calendar_fallback": d.calendar_fallback,
                "met_on": d.met_on and d.met_on.isoformat(),
                "closed_by": d.closed_by,
                "state": d.state,
            }
            for d in tip.deadlines
        ],
    }


def detail(session: Session, opened: OpenedTip) -> dict[str, Any]:
    """A tip as its page shows it, decrypted (the caller has audited the reading)."""
    tip = opened.tip
    requests = session.scalars(
        select(IdentityRequest).where(IdentityRequest.tip_id == tip.id).order_by(IdentityRequest.id)
    ).all()
    deciding = views.request_details(session, opened, requests)
    notes = decisions.notes(opened, session)
    messages = opened.messages()
    authors = tipwords.authors(
        session, {m.officer_id for m in messages} | {note.officer_id for note, _text in notes}
    )
    scopes = tipwords.pack_scopes(session)
    return {
        **summary(tip),
        "status_detail": tip.status_detail,
        "channel": tip.channel,
        "fund": tip.fund,
        "suspect_kind": tip.suspect_kind,
        "unit_level": tip.unit_level,
        "suspect_name": opened.details.get("suspect_name"),
        "amount": opened.amount,
        "text": opened.text,
        # Everything else the reporter gave (sealed with the report).
        "happened_start": opened.details.get("happened_start"),
        "happened_end": opened.details.get("happened_end"),
        "ongoing": bool(opened.details.get("ongoing")),
        "how_known": opened.details.get("how_known"),
        "suggested_bureau": tip.suggested_bureau,
        "flags": [flag for flag in tip.flags.split(",") if flag],
        "sealed": tip.sealed,
        "handling_region": tip.handling_region,
        "transfers": [
            {"on": moved.on.isoformat(), "region": moved.region, "bureau": moved.bureau}
            for moved in transfers(tip)
        ],
        "wants_notice": tip.wants_notice,
        "duplicate_of": tip.duplicate_of,
        "real_name": tip.real_name,
        "messages": [
            {
                "id": m.id,
                "author": m.author,
                "sent_on": m.sent_on.isoformat(),
                "asks_reply": m.asks_reply,
                "text": m.text,
                # An officer's: who and when; a reporter's keeps its day only.
                "officer": authors.get(m.officer_id) if m.officer_id is not None else None,
                "sent_at": m.sent_at and tipwords.utc(m.sent_at).isoformat(),
            }
            for m in messages
        ],
        "notes": [
            {
                "id": note.id,
                "written_on": note.written_on.isoformat(),
                "text": text,
                "officer": authors.get(note.officer_id),
                "kind": note.kind,
                "written_at": note.written_at and tipwords.utc(note.written_at).isoformat(),
            }
            for note, text in notes
        ],
        "timeline": [
            {
                "on": event.on.isoformat(),
                "kind": event.kind,
                "detail": event.detail,
                "shown_to_reporter": event.shown_to_reporter,
            }
            for event in tip.events
        ],
        # The page's words for the codes above, in the caller's language (Accept-Language).
        "labels": {
            **tipwords.labels(opened, scopes),
            "deadlines": [
                {
                    "rule": c.rule,
                    "length": c.length,
                    "state": c.state,
                    "closed_by": c.closed_by,
                    "rule_pack": c.pack,
                }
                for c in (tipwords.clock(d, scopes, today()) for d in tip.deadlines)
            ],
            "timeline": [tipwords.step(event).text for event in tip.events],
        },
        # Issue 9: who asked and why, for the requests this officer may decide (a supervisor
        # does not decide blind), as the page shows them; sealed under the tip's key, read
        # with the tip and audited as its reading.
        "identity_requests": [
            {"id": r.id, "requested_on": r.requested_on.isoformat(), "state": r.state,
             **({"requested_by": deciding[r.id]["requester"], "reason": deciding[r.id]["reason"]}
                if r.id in deciding else {})}
            for r in requests
        ],
    }


# Reading.


def _list_filters(
    args: Any, viewer: scope.Viewer
) -> tuple[inbox.Search, int, int, list[dict[str, str]]]:
    """The inbox's search from the query string, checked as the page checks its form: a
    value outside what applies to the officer is refused, never silently widened."""
    unknown = sorted(args.keys() - set(LIST_FILTERS))
    found = [problem(name, "unknown", _("Unknown field.")) for name in unknown]
    search = inbox.Search()
    allowed = {
        "status": (frozenset(STATUS_CHOICES), N_("Choose a status from the list.")),
        "bureau": (reference.codes(reference.BUREAUS), N_("Choose a bureau from the list.")),
        "category": (
            reference.codes(reference.CATEGORIES),
            N_("Choose the kind of wrongdoing from the list."),
        ),
        "channel": (reference.codes(reference.CHANNELS), N_("Choose a channel from the list.")),
        "amount_band": (reference.codes(inbox.AMOUNT_BANDS), N_("Choose an amount from the list.")),
    }
    for name, (codes, message) in allowed.items():
        value = args.get(name, "")
        if value and value not in codes:
            found.append(problem(name, "invalid", _(message)))
        setattr(search, name, value or None)
    tip_id = args.get("id", "")
    if tip_id and TIP_PREFIX.fullmatch(tip_id) is None:
        message = _("A tip number has 4 to 16 of the characters 0-9 and a-f.")
        found.append(problem("id", "invalid", message))
    search.tip_id = tip_id or None
    for name in ("received_from", "received_to"):
        raw = args.get(name)
        if raw is None:
            continue
        day = _day(raw)
        if day is None:
            found.append(problem(name, "invalid", _("Give a date as YYYY-MM-DD.")))
        setattr(search, name, day)
    if search.received_from and search.received_to and search.received_to < search.received_from:
        found.append(problem("received_to", "invalid", _("The last day comes before the first.")))
    region = args.get("region")
    if region is not None:
        if not inbox.within(viewer.region, region):
            message = _("Choose a region within your jurisdiction.")
            found.append(problem("region", "invalid", message))
        search.region = region
    flags = {}
    for name in ("overdue", "real_name", "mine"):
        raw = args.get(name)
        if raw is not None and raw not in ("true", "false"):
            found.append(problem(name, "type", _("This field must be true or false.")))
        flags[name] = None if raw not in ("true", "false") else raw == "true"
    # As the inbox's boxes: true keeps the overdue tips (or mine) only; false filters nothing.
    search.overdue = bool(flags["overdue"])
    search.mine = bool(flags["mine"])
    search.real_name = flags["real_name"]
    limit = _whole(args, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT, found)
    offset = _whole(args, "offset", 0, 0, MAX_OFFSET, found)
    return search, limit, offset, found


def _day(raw: str) -> dt.date | None:
    if DAY.fullmatch(raw) is None:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        return None


def _whole(
    args: Any, name: str, default: int, low: int, high: int, found: list[dict[str, str]]
) -> int:
    raw = args.get(name)
    if raw is None:
        return default
    value = whole_number(raw, low=low, high=high)  # ASCII digits only: "²" is no number
    if value is not None:
        return value
    found.append(
        problem(
            name, "invalid",
            _("Give a whole number from %(low)s to %(high)s.", low=low, high=high),
        )
    )  # fmt: skip
    return default


@bp.get("/tips")
def tips() -> Response:
    """The officer's tips, as the inbox lists them: nearest deadline first."""
    search, limit, offset, found = _list_filters(request.args, current_user)
    if found:
        return problems_response(found)
    query = views.inbox_query(current_user, search)
    with triage().sessions() as session:
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = session.scalars(
            views.ordered(query).options(selectinload(Tip.deadlines)).limit(limit).offset(offset)
        ).all()
        holders = inbox.usernames(session, (tip.assigned_to for tip in rows))
        return answer({"tips": [summary(tip, holders) for tip in rows], "total": total})


@bp.get("/tips/<tip_id>")
def tip(tip_id: str) -> Response:
    with transaction(triage().sessions) as session:
        opened = views.open_visible(session, tip_id)  # 404 outside scope; audited
        answered = answer(detail(session, opened))
        views.mark_opened(session, tip_id)  # as opening its page
        return answered


# Deciding: the body is checked first, then the tip is opened as its page opens it.


@cache
def request_schemas() -> RequestSchemas:
    """The request bodies as this site's OpenAPI document describes them: the code checks
    against the document it serves, so the two cannot drift."""
    text = (files("tipline.triage") / "openapi.json").read_text(encoding="utf-8")
    return RequestSchemas(json.loads(text))


def parse_body(operation_id: str) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """The body's fields (absent optional ones as None), or every problem with it.

    The body was read, bounded and refused for NUL by ``refuse_unstorable_input``; here it
    is checked against the operation's schema in the OpenAPI document.
    """
    decoded = g.get("json_body")
    if decoded is None and request.get_data(cache=True).strip():
        # The JSON text `null` is a body, and not the object every operation asks for; only
        # a missing body stands for {} (schemathesis found `null` accepted by accept).
        return {}, [problem("", "type", _("Send one JSON object."))]
    try:
        body = request_schemas().check(operation_id, decoded)
    except BadBodies as bad:
        return {}, [
            problem(p.field, p.code,
                    _(p.message) if p.count is None else _(p.message, count=p.count))
            for p in bad.problems
        ]  # fmt: skip
    properties = request_schemas().properties(operation_id)
    # An optional text of blanks says nothing: as if it were absent.
    return {
        name: None if isinstance(body.get(name), str) and not body[name].strip()
        else body.get(name)
        for name in properties
    }, []  # fmt: skip


# Decision errors about what was sent (400, naming the field); every other one is about the
# tip's state, e.g. already decided (409). Keys are decisions.py's message ids.
INPUT_ERRORS = {
    "Choose a bureau from the list.": "bureau",
    "Choose a reason from the list.": "reason",
    "Choose the office's region from the list.": "region",
    "Say why you route it elsewhere than suggested.": "reason",
    "Write a note.": "text",
    "Say why you need the reporter's identity.": "reason",
    "A tip cannot duplicate itself.": "other",
    "Say why the tip concerns staff.": "reason",
    "The reason is too long: at most 2000 characters.": "reason",
}


def _decision_problem(error: decisions.DecisionError) -> Response:
    message = str(error.args[0])
    field = INPUT_ERRORS.get(message)
    if field is not None:
        return problems_response([problem(field, "invalid", _(message))])
    return problems_response([problem("", "conflict", _(message))], 409)


class Refused(Exception):
    """Refuse the request with this answer, rolling back what was done."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


Action = Callable[[Session, OpenedTip, dict[str, Any]], Response]


def _act(tip_id: str, operation_id: str, action: Action) -> Response:
    values, found = parse_body(operation_id)
    if found:
        return problems_response(found)
    try:
        with transaction(triage().sessions) as session:
            # 404 outside scope; the decision is the audit entry (views.open_visible).
            opened = views.open_visible(session, tip_id, audit=False)
            return action(session, opened, values)
    except Refused as refused:
        return refused.response
    except decisions.DecisionError as error:
        return _decision_problem(error)
    except InvalidReport as error:
        return problems_response(
            [problem(p.field, "invalid", problem_text(p)) for p in error.problems]
        )


@bp.post("/tips/<tip_id>/route")
def route(tip_id: str) -> Response:
    def action(session: Session, opened: OpenedTip, values: dict[str, Any]) -> Response:
        decisions.confirm_routing(
            session, opened, current_user, values["bureau"], values["reason"] or ""
        )
        return answer(summary(opened.tip))

    return _act(tip_id, "routeTip", action)


@bp.post("/tips/<tip_id>/accept")
def accept(tip_id: str) -> Response:
    def action(session: Session, opened: OpenedTip, values: dict[str, Any]) -> Response:
        decisions.accept(session, opened, current_user)
        return answer(summary(opened.tip))

    return _act(tip_id, "acceptTip", action)


@bp.post("/tips/<tip_id>/refuse")
def refuse(tip_id: str) -> Response:
    def action(session: Session, opened: OpenedTip, values: dict[str, Any]) -> Response:
        decisions.refuse(session, opened, current_user, values["reason"], values["text"] or "")
        return answer(summary(opened.tip))

    return _act(tip_id, "refuseTip", action)


@bp.post("/tips/<tip_id>/transfer")
def transfer(tip_id: str) -> Response:
    def action(session: Session, opened: OpenedTip, values: dict[str, Any]) -> Response:
        decisions.transfer(
            session, opened, current_user, values["bureau"], values["region"],
            values["text"] or "",
        )  # fmt: skip
        return answer(summary(opened.tip))

    return _act(tip_id, "transferTip", action)


@bp.post("/tips/<tip_id>/duplicate")
def duplicate(tip_id: str) -> Response:
    def action(session: Session, opened: OpenedTip, values: dict[str, Any]) -> Response:
        other = scope.find_visible(session, current_user, values["other"].strip())
        if other is None:
            # Said the same way whether the tip does not exist or is out of scope.
            message = _("There is no tip with this number that you can see.")
            raise Refused(problems_response([problem("other", "invalid", message)]))
        first = decisions.link_duplicate(session, current_user, opened.tip, other)
        return answer({"first": first.id})

    return _act(tip_id, "linkDuplicate", action)


@bp.post("/tips/<tip_id>/notes")
def note(tip_id: str) -> Response:
    def action(session: Session, opened: OpenedTip, values: dict[str, Any]) -> Response:
        decisions.add_note(session, opened, current_user, values["text"])
        return answer({}, 201)

    return _act(tip_id, "addNote", action)


@bp.post("/tips/<tip_id>/messages")
def send_message(tip_id: str) -> Response:
    def action(session: Session, opened: OpenedTip, values: dict[str, Any]) -> Response:
        message = add_message(
            session, opened, values["text"], author="officer", officer_id=current_user.id,
            asks_reply=bool(values["asks_reply"]),
        )  # fmt: skip
        record(session, "message.send", actor=current_user.username, tip_id=tip_id)
        return answer({"id": message.id}, 201)

    return _act(tip_id, "sendMessage", action)


@bp.post("/tips/<tip_id>/identity-requests")
def identity_request(tip_id: str) -> Response:
    def action(session: Session, opened: OpenedTip, values: dict[str, Any]) -> Response:
        created = decisions.request_identity(session, opened, current_user, values["reason"])
        return answer({"id": created.id, "state": created.state}, 201)

    return _act(tip_id, "requestIdentity", action)


@bp.post("/tips/<tip_id>/identity-requests/<int:request_id>")
def identity_decision(tip_id: str, request_id: int) -> Response:
    def action(session: Session, opened: OpenedTip, values: dict[str, Any]) -> Response:
        # An id past a bigint would overflow PostgreSQL: no such request.
        found = session.get(IdentityRequest, request_id) if request_id <= MAX_ID else None
        if found is None or found.tip_id != opened.tip.id:
            abort(404)
        decisions.decide_identity(session, current_user, found, values["approve"])
        return answer({"id": found.id, "state": found.state})

    return _act(tip_id, "decideIdentityRequest", action)


@bp.post("/tips/<tip_id>/seal")
def seal(tip_id: str) -> Response:
    """Seal the tip for discipline inspection (decisions.seal_tip), as the tip page's form
    does: the caller no longer sees it, so only the id and the mark are answered."""

    def action(session: Session, opened: OpenedTip, values: dict[str, Any]) -> Response:
        decisions.seal_tip(session, opened, current_user, values["reason"] or "")
        return answer({"id": opened.tip.id, "sealed": True})

    return _act(tip_id, "sealTip", action)


# Export for the file (卷宗): the same answers as the tip page's links (export.py).


@bp.get("/tips/<tip_id>/export.pdf")
def export_pdf(tip_id: str) -> Response:
    return export.pdf_response(tip_id)


@bp.get("/tips/<tip_id>/export.zip")
def export_zip(tip_id: str) -> Response:
    return export.zip_response(tip_id)


# Alerts (alerts.py): the same scope as the pages; listing marks nothing, POST marks seen.


@bp.get("/alerts")
def alerts_list() -> Response:
    with triage().sessions() as session:
        found = alerts.current(session, current_user)
    return answer({"alerts": alerts.as_json(found), "unseen": sum(not a.seen for a in found)})


@bp.post("/alerts/seen")
def alerts_seen() -> Response:
    _values, found = parse_body("markAlertsSeen")
    if found:
        return problems_response(found)
    with transaction(triage().sessions) as session:
        shown = alerts.current(session, current_user)
        alerts.mark_seen(session, current_user, shown)
        now = alerts.current(session, current_user)
    return answer({"alerts": alerts.as_json(now), "unseen": sum(not a.seen for a in now)})


@bp.post("/tips/<tip_id>/assign")
def assign(tip_id: str) -> Response:
    """As the tip page's assignment block: a supervisor of the handling bureau assigns, an
    officer takes an unassigned tip on or gives back their own (assignment.py)."""

    def action(session: Session, opened: OpenedTip, values: dict[str, Any]) -> Response:
        name = values["officer"]
        officer = None
        if name is not None:
            officer = session.scalar(select(Officer).where(Officer.username == name))
        # An unknown name is refused as an ineligible one: nothing tells which exist.
        not_eligible = problems_response(
            [problem("officer", "invalid", _(assignment.NOT_ELIGIBLE))]
        )
        if name is not None and officer is None:
            raise Refused(not_eligible)
        try:
            assignment.assign(session, current_user, opened.tip, officer.id if officer else None)
        except decisions.DecisionError as error:
            if error.args[0] == assignment.NOT_ELIGIBLE:
                raise Refused(not_eligible) from error
            raise
        return answer(summary(opened.tip))

    return _act(tip_id, "assignTip", action)


@bp.get("/openapi.json")
def openapi() -> Response:
    document = json.loads((files("tipline.triage") / "openapi.json").read_text(encoding="utf-8"))
    return answer(document)
