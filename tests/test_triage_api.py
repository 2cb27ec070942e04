"""The internal API: bearer tokens, the same scope and decisions as the pages, no cookies,
and an OpenAPI document that is valid and true."""

from __future__ import annotations

import datetime as dt
import hashlib
import inspect
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate
from sqlalchemy import select
from werkzeug.test import TestResponse

from tests.conftest import cli_environment, make_enrolled, run_cli, sign_in_officer
from tipline.intake import reference
from tipline.intake.config import Config
from tipline.intake.db import transaction
from tipline.intake.models import ApiToken, AuditEvent, Officer, Tip
from tipline.intake.submit import Report, ReporterIdentity
from tipline.triage import access, api
from tipline.triage.accounts import READER_ROLES
from tipline.triage.tips import decisions
from tipline.triage.tips.forms import STATUS_CHOICES

PASSWORD = "a long test password"
OFFICERS = {
    # name: role, bureau, region
    "desk_city": ("triage_officer", "hrss_fund_supervision", "441500"),
    "desk_province": ("supervisor", "hrss_fund_supervision", "440000"),
    "boss_city": ("supervisor", "hrss_fund_supervision", "441500"),
    "labour_city": ("bureau_officer", "labor_inspection", "441500"),
    "labour_shenzhen": ("bureau_officer", "labor_inspection", "440300"),
    "discipline_city": ("bureau_officer", "discipline_inspection", "441500"),
    "agency_boss": ("supervisor", "si_agency", "441500"),
    "admin": ("admin", "hrss_fund_supervision", "440000"),
}
Headers = dict[str, str]


@pytest.fixture
def world(triage_app: Flask) -> dict[str, str]:
    """Tips of several places and kinds, entered as officers enter them."""
    submitter = triage_app.extensions["triage"].submitter

    def tip(category: str, region: str, **extra: Any) -> str:
        report = Report(
            category=category, region=region, text=f"举报 {category} {region}", channel="letter",
            received_on=dt.date(2025, 9, 30), **extra,
        )  # fmt: skip
        return submitter.submit(report, with_receipt=False).tip_id

    return {
        "district": tip("fake_docs", "441502"),
        # Shanwei rule: a city-level unit's case goes to 城区 (441502).
        "city_unit": tip("fake_employment_backpay", "441500", suspect_kind="unit",
                         unit_level="city"),
        "staff": tip("benefit_impostor", "441521", suspect_kind="agency_staff"),
        "shenzhen": tip("work_injury_fraud", "440305"),
        "named": tip(
            "fake_docs",
            "441502",
            identity=ReporterIdentity("张三", "11010519491231002X", "13800138000"),
        ),  # fmt: skip
    }


@pytest.fixture
def officers(triage_app: Flask) -> dict[str, tuple[Headers, str]]:
    """Every officer of OFFICERS with a token: their Authorization header and TOTP secret."""
    found = {}
    with transaction(triage_app.extensions["triage"].sessions) as session:
        for name, (role, bureau, region) in OFFICERS.items():
            _, secret = make_enrolled(
                session, triage_app.extensions["triage"].officer_secrets, name, PASSWORD,
                role=role, bureau=bureau, region=region,
            )  # fmt: skip
            token = api.issue_token(session, name, actor="test")
            found[name] = ({"Authorization": f"Bearer {token}"}, secret)
    return found


@pytest.fixture
def bearer(officers: dict[str, tuple[Headers, str]]) -> dict[str, Headers]:
    return {name: headers for name, (headers, _secret) in officers.items()}


def sign_in(app: Flask, name: str, secret: str) -> FlaskClient:
    return sign_in_officer(app, name, secret, PASSWORD)


def problems(response: TestResponse) -> set[tuple[str, str]]:
    return {(p["field"], p["code"]) for p in response.get_json()["problems"]}


def audit(app: Flask, action: str) -> list[AuditEvent]:
    with app.extensions["triage"].sessions() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def listed_by_api(client: FlaskClient, headers: Headers, query: str = "") -> tuple[list[str], int]:
    response = client.get(f"/api/v1/tips{query}", headers=headers)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    return [item["id"] for item in body["tips"]], body["total"]


def listed_by_page(client: FlaskClient, query: str = "") -> tuple[list[str], int]:
    page = client.get("/" + query).get_data(as_text=True)
    ids = list(dict.fromkeys(re.findall(r'href="/tips/([0-9a-f]{16})"', page)))
    total = int(re.search(r'data-total="(\d+)"', page).group(1))  # type: ignore[union-attr]
    return ids, total


# Tokens and authentication.


def test_only_the_hash_of_a_token_is_stored_and_its_issue_is_audited(
    triage_app: Flask, bearer: dict[str, Headers]
) -> None:
    token = bearer["desk_city"]["Authorization"].removeprefix("Bearer ")
    with triage_app.extensions["triage"].sessions() as session:
        hashes = set(session.scalars(select(ApiToken.token_hash)))
    assert hashlib.sha256(token.encode()).hexdigest() in hashes
    assert token not in hashes
    issued = audit(triage_app, "token.issue")
    assert len(issued) == len(OFFICERS)
    assert not [event for event in issued if token in event.detail]


@pytest.mark.parametrize(
    ("header", "code", "challenge"),
    [
        (None, "missing", "Bearer"),
        ("Receipt 1234", "missing", "Bearer"),
        ("Bearer ", "missing", "Bearer"),
        ("Bearer not-a-token", "invalid_token", 'Bearer error="invalid_token"'),
    ],
)
def test_without_a_valid_token_the_api_answers_401(
    triage: FlaskClient, header: str | None, code: str, challenge: str
) -> None:
    for path in ("/api/v1/tips", "/api/v1/tips/0000000000000000", "/api/v1/openapi.json",
                 "/api/v1/no-such-route"):  # fmt: skip
        response = triage.get(path, headers={"Authorization": header} if header else {})
        assert response.status_code == 401, path
        assert response.headers["WWW-Authenticate"] == challenge
        assert problems(response) == {("Authorization", code)}
        assert "Set-Cookie" not in response.headers
    posted = triage.post("/api/v1/tips/0000000000000000/accept", json={})
    assert posted.status_code == 401


def test_a_revoked_token_or_a_deactivated_officer_is_refused(
    triage_app: Flask, triage: FlaskClient, bearer: dict[str, Headers]
) -> None:
    assert triage.get("/api/v1/tips", headers=bearer["desk_city"]).status_code == 200
    with transaction(triage_app.extensions["triage"].sessions) as session:
        assert api.revoke_tokens(session, "desk_city", actor="test") == 1
        officer = session.scalar(select(Officer).where(Officer.username == "labour_city"))
        assert officer is not None
        officer.active = False
    for name in ("desk_city", "labour_city"):
        refused = triage.get("/api/v1/tips", headers=bearer[name])
        assert refused.status_code == 401
        assert problems(refused) == {("Authorization", "invalid_token")}
    [revoked] = audit(triage_app, "token.revoke")
    assert revoked.actor == "test" and '"username": "desk_city"' in revoked.detail
    # A new token works again; tokens of deactivated officers cannot be issued.
    with transaction(triage_app.extensions["triage"].sessions) as session:
        token = api.issue_token(session, "desk_city", actor="test")
        with pytest.raises(api.TokenError, match="deactivated"):
            api.issue_token(session, "labour_city", actor="test")
    fresh = triage.get("/api/v1/tips", headers={"Authorization": f"Bearer {token}"})
    assert fresh.status_code == 200


def test_the_session_cookie_does_not_open_the_api_and_a_token_no_page(
    triage_app: Flask, officers: dict[str, tuple[Headers, str]]
) -> None:
    headers, secret = officers["desk_city"]
    signed_in = sign_in(triage_app, "desk_city", secret)
    assert signed_in.get("/").status_code == 200
    assert signed_in.get("/api/v1/tips").status_code == 401
    anonymous = triage_app.test_client()
    page = anonymous.get("/", headers=headers)
    assert page.status_code == 302 and page.headers["Location"].endswith("/login")


def test_api_answers_never_set_a_cookie(
    triage_app: Flask, world: dict[str, str], officers: dict[str, tuple[Headers, str]]
) -> None:
    headers, secret = officers["desk_city"]
    # A browser that is signed in sends its session cookie along: it is neither used nor
    # renewed, and nothing else is set.
    for client in (triage_app.test_client(), sign_in(triage_app, "desk_city", secret)):
        answers = [
            client.get("/api/v1/tips", headers=headers),
            client.get(f"/api/v1/tips/{world['district']}", headers=headers),
            client.get("/api/v1/tips/0000000000000000", headers=headers),
            client.post(
                f"/api/v1/tips/{world['district']}/notes", json={"text": "笔记"}, headers=headers
            ),
            client.post(f"/api/v1/tips/{world['district']}/notes", json={}, headers=headers),
            client.get("/api/v1/tips"),
            client.get("/api/v1/openapi.json", headers=headers),
        ]
        assert [r.status_code for r in answers] == [200, 200, 404, 201, 400, 401, 200]
        for response in answers:
            assert "Set-Cookie" not in response.headers, response.request.path


def test_roles_the_table_does_not_allow_get_403_as_json(
    triage: FlaskClient, world: dict[str, str], bearer: dict[str, Headers]
) -> None:
    denied = [
        ("admin", "GET", "/api/v1/tips"),
        ("admin", "GET", f"/api/v1/tips/{world['district']}"),
        ("labour_city", "POST", f"/api/v1/tips/{world['district']}/route"),
        ("desk_city", "POST", f"/api/v1/tips/{world['named']}/identity-requests/1"),
    ]
    for name, method, path in denied:
        response = triage.open(path, method=method, json={}, headers=bearer[name])
        assert response.status_code == 403, (name, path)
        assert problems(response) == {("", "http_403")}
    assert triage.get("/api/v1/openapi.json", headers=bearer["admin"]).status_code == 200


PAGES = {
    "api.tips": "triage.inbox",
    "api.export_pdf": "export.tip_pdf",
    "api.export_zip": "export.tip_zip",
    "api.alerts_list": "triage.alerts_page",
    "api.alerts_seen": "triage.alerts_page",
}


# The cases area (cases/api.py) and its pages (cases/views.py, cases/documents.py); where a
# page is not there yet, the roles it is to have.
CASE_PAGES = {
    "api.cases": ("cases.index", READER_ROLES),
    "api.case": ("cases.case", READER_ROLES),
    "api.open_case": ("cases.open_case", frozenset({"bureau_officer", "supervisor"})),
    "api.join_case": ("cases.join_case", frozenset({"bureau_officer", "supervisor"})),
    "api.step": ("cases.step", frozenset({"bureau_officer", "supervisor"})),
    "api.case_document": ("cases.document", READER_ROLES),
    "api.board": ("cases.board", READER_ROLES),
}


def test_every_api_route_is_in_the_access_table_as_its_page(triage_app: Flask) -> None:
    for rule in triage_app.url_map.iter_rules():
        if not rule.endpoint.startswith("api."):
            continue
        page = PAGES.get(rule.endpoint, rule.endpoint.replace("api.", "triage."))
        if rule.endpoint in CASE_PAGES:
            page, roles = CASE_PAGES[rule.endpoint]
            assert access.ALLOWED[rule.endpoint] == access.ALLOWED.get(page, roles), rule.endpoint
        elif rule.endpoint == "api.openapi":
            assert access.ALLOWED[rule.endpoint] == frozenset(access.ROLES)
        else:
            assert access.ALLOWED[rule.endpoint] == access.ALLOWED[page], rule.endpoint


# The same scope as the pages.


def test_the_api_sees_exactly_what_the_pages_show(
    triage_app: Flask, world: dict[str, str], officers: dict[str, tuple[Headers, str]]
) -> None:
    district, city_unit, staff, shenzhen, named = world.values()
    expected = {
        "desk_city": {district, city_unit, named},
        "desk_province": {district, city_unit, shenzhen, named},
        "labour_city": set(),
        "labour_shenzhen": set(),
        # Only discipline inspection sees the tip about staff, whoever supervises the unit.
        "discipline_city": {staff},
        "agency_boss": set(),
    }
    client = triage_app.test_client()
    # Signed in once each: a one-time code cannot be used twice.
    pages = {name: sign_in(triage_app, name, officers[name][1]) for name in expected}

    def agree(name: str, want: set[str]) -> None:
        headers, page = officers[name][0], pages[name]
        ids, total = listed_by_api(client, headers)
        assert (set(ids), total) == (want, len(want)), name
        queries = ["", "?category=fake_docs", "?category=benefit_impostor", "?status=received",
                   "?bureau=labor_inspection", "?status=accepted"]  # fmt: skip
        for query in queries:
            assert listed_by_api(client, headers, query) == listed_by_page(page, query), query
        # The inbox's "overdue only" box and the API's overdue=true are the same filter.
        overdue = listed_by_api(client, headers, "?overdue=true")
        assert overdue == listed_by_page(page, "?overdue=y")
        assert listed_by_api(client, headers, "?overdue=false") == (ids, total)
        for tip_id in world.values():
            status = client.get(f"/api/v1/tips/{tip_id}", headers=headers).status_code
            assert status == (200 if tip_id in want else 404), (name, tip_id, status)
            assert page.get(f"/tips/{tip_id}").status_code == status

    for name, want in expected.items():
        agree(name, want)

    # The desk routes the district tip to labour inspection: the city's labour inspectors
    # now see it through the API, Shenzhen's still do not.
    routed = client.post(
        f"/api/v1/tips/{district}/route",
        json={"bureau": "labor_inspection", "reason": "劳动监察管辖"},
        headers=officers["desk_city"][0],
    )
    assert routed.status_code == 200, routed.get_json()
    agree("labour_city", {district})
    agree("labour_shenzhen", set())


def test_a_hidden_tip_cannot_be_acted_on_through_the_api(
    triage_app: Flask, triage: FlaskClient, world: dict[str, str], bearer: dict[str, Headers]
) -> None:
    for name, tip_id in (("desk_city", world["staff"]), ("labour_shenzhen", world["district"])):
        for action, body in (("accept", {}), ("notes", {"text": "x"}),
                             ("messages", {"text": "x"})):  # fmt: skip
            path = f"/api/v1/tips/{tip_id}/{action}"
            assert triage.post(path, json=body, headers=bearer[name]).status_code == 404, path
    # Linking to a tip the officer cannot see is refused like linking to none.
    linked = triage.post(
        f"/api/v1/tips/{world['district']}/duplicate", json={"other": world["shenzhen"]},
        headers=bearer["desk_city"],
    )  # fmt: skip
    assert linked.status_code == 400 and problems(linked) == {("other", "invalid")}
    with triage_app.extensions["triage"].sessions() as session:
        tips = session.scalars(select(Tip)).all()
        assert all(t.status != "accepted" and t.duplicate_of is None for t in tips)
    assert audit(triage_app, "note.add") == audit(triage_app, "message.send") == []
    assert audit(triage_app, "tip.read") == []


# Reading.


def test_the_list_is_sorted_paged_and_filtered(
    triage: FlaskClient, world: dict[str, str], bearer: dict[str, Headers]
) -> None:
    headers = bearer["desk_province"]
    body = triage.get("/api/v1/tips", headers=headers).get_json()
    assert body["total"] == 4
    item = body["tips"][0]
    assert set(item) == {"id", "category", "region", "bureau", "co_bureaus", "status",
                         "received_on", "deadlines", "assigned_to"}  # fmt: skip
    assert item["received_on"] == "2025-09-30"
    assert item["deadlines"] and all(
        set(d) == {"rule", "bureau", "starts_on", "due", "calendar_fallback", "met_on", "state",
                   "closed_by"}
        and d["met_on"] is None and d["calendar_fallback"] is False  # 2025 is known
        for d in item["deadlines"]
    )
    # Nearest open deadline first.
    nearest = [min(d["due"] for d in t["deadlines"] if d["met_on"] is None) for t in body["tips"]]
    assert nearest == sorted(nearest)
    ids = [t["id"] for t in body["tips"]]
    assert listed_by_api(triage, headers, "?limit=2&offset=1") == (ids[1:3], 4)
    assert listed_by_api(triage, headers, "?limit=2&offset=10") == ([], 4)
    assert set(listed_by_api(triage, headers, "?category=fake_docs")[0]) == {
        world["district"],
        world["named"],
    }
    assert listed_by_api(triage, headers, "?bureau=court") == ([], 0)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?status=lost", {("status", "invalid")}),
        ("?bureau=army", {("bureau", "invalid")}),
        ("?category=theft", {("category", "invalid")}),
        ("?overdue=yes", {("overdue", "type")}),
        ("?limit=0", {("limit", "invalid")}),
        ("?limit=201", {("limit", "invalid")}),
        ("?limit=ten&offset=-1", {("limit", "invalid"), ("offset", "invalid")}),
        ("?colour=red", {("colour", "unknown")}),
    ],
)
def test_bad_list_parameters_are_400(
    triage: FlaskClient, bearer: dict[str, Headers], query: str, expected: set[tuple[str, str]]
) -> None:
    response = triage.get(f"/api/v1/tips{query}", headers=bearer["desk_city"])
    assert response.status_code == 400
    assert problems(response) == expected
    assert all(p["message"] for p in response.get_json()["problems"])


def test_reading_a_tip_decrypts_it_and_is_audited(
    triage_app: Flask, triage: FlaskClient, world: dict[str, str], bearer: dict[str, Headers]
) -> None:
    response = triage.get(f"/api/v1/tips/{world['city_unit']}", headers=bearer["desk_city"])
    assert response.status_code == 200
    body = response.get_json()
    assert body["text"] == "举报 fake_employment_backpay 441500"
    assert body["id"] == world["city_unit"] and body["sealed"] is False
    assert body["handling_region"] == "441502"  # Shanwei's rule for city-level units
    assert body["suggested_bureau"] in reference.codes(reference.BUREAUS)
    assert isinstance(body["flags"], list)
    assert body["messages"] == [] and body["notes"] == [] and body["identity_requests"] == []
    [read] = audit(triage_app, "tip.read")
    assert (read.actor, read.tip_id) == ("desk_city", world["city_unit"])
    # Listing decrypts nothing and is not audited.
    triage.get("/api/v1/tips", headers=bearer["desk_city"])
    assert len(audit(triage_app, "tip.read")) == 1


# Deciding.


def test_decisions_through_the_api(
    triage_app: Flask, triage: FlaskClient, world: dict[str, str], bearer: dict[str, Headers]
) -> None:
    desk = bearer["desk_city"]
    district = world["district"]

    def post(tip_id: str, action: str, body: Any, headers: Headers = desk) -> TestResponse:
        return triage.post(f"/api/v1/tips/{tip_id}/{action}", json=body, headers=headers)

    # Routing elsewhere than suggested needs a reason, kept as a sealed note.
    suggested = triage.get(f"/api/v1/tips/{district}", headers=desk).get_json()[
        "suggested_bureau"]  # fmt: skip
    other = "court" if suggested != "court" else "tax_authority"
    refused = post(district, "route", {"bureau": other})
    assert refused.status_code == 400 and problems(refused) == {("reason", "invalid")}
    assert problems(post(district, "route", {"bureau": "army"})) == {("bureau", "invalid")}
    routed = post(district, "route", {"bureau": other, "reason": "另有管辖"})
    assert routed.status_code == 200
    assert (routed.get_json()["status"], routed.get_json()["bureau"]) == ("screened", other)

    accepted = post(district, "accept", None)
    assert accepted.status_code == 200 and accepted.get_json()["status"] == "accepted"
    assert any(d["met_on"] for d in accepted.get_json()["deadlines"])
    again = post(district, "accept", {})
    assert again.status_code == 409 and problems(again) == {("", "conflict")}
    assert again.get_json()["problems"][0]["message"]

    # Refusing: a listed reason, and the text goes to the reporter.
    city_unit = world["city_unit"]
    assert problems(post(city_unit, "refuse", {"reason": "boring"})) == {("reason", "invalid")}
    refusal = post(city_unit, "refuse", {"reason": "already_handled", "text": "已处理"})
    assert refusal.status_code == 200 and refusal.get_json()["status"] == "not_accepted"

    # Transfer out of the officer's jurisdiction: the tip leaves their view.
    named = world["named"]
    assert problems(post(named, "transfer", {"bureau": "si_agency", "region": "999999"})) == {
        ("region", "invalid")
    }
    moved = post(named, "transfer", {"bureau": "si_agency", "region": "440305", "text": "转深圳"})
    assert moved.status_code == 200 and moved.get_json()["status"] == "transferred_out"
    assert triage.get(f"/api/v1/tips/{named}", headers=desk).status_code == 404

    # Notes and messages come back on the tip.
    assert post(district, "notes", {"text": "  "}).status_code == 400
    assert post(district, "notes", {"text": "内部笔记"}).status_code == 201
    sent = post(district, "messages", {"text": "请提供票据", "asks_reply": True})
    assert sent.status_code == 201
    body = triage.get(f"/api/v1/tips/{district}", headers=desk).get_json()
    assert [n["text"] for n in body["notes"]] == ["另有管辖", "内部笔记"]
    assert [(m["id"], m["text"], m["asks_reply"]) for m in body["messages"]] == [
        (sent.get_json()["id"], "请提供票据", True)
    ]
    assert [e.tip_id for e in audit(triage_app, "message.send")] == [district]
    assert [e.tip_id for e in audit(triage_app, "note.add")] == [district]

    # Duplicates: the earliest stays first.
    assert problems(post(district, "duplicate", {"other": district})) == {("other", "invalid")}
    linked = post(city_unit, "duplicate", {"other": district})
    assert linked.status_code == 200
    assert linked.get_json()["first"] in (district, city_unit)


def test_identity_requests_through_the_api(
    triage_app: Flask, triage: FlaskClient, world: dict[str, str], bearer: dict[str, Headers]
) -> None:
    named, district = world["named"], world["district"]
    path = f"/api/v1/tips/{named}/identity-requests"
    anonymous = triage.post(
        f"/api/v1/tips/{district}/identity-requests", json={"reason": "核实"},
        headers=bearer["desk_city"],
    )  # fmt: skip
    assert anonymous.status_code == 409
    assert triage.post(path, json={}, headers=bearer["desk_city"]).status_code == 400
    created = triage.post(path, json={"reason": "需核实举报人身份"}, headers=bearer["desk_city"])
    assert created.status_code == 201 and created.get_json()["state"] == "pending"
    request_id = created.get_json()["id"]
    listed = triage.get(f"/api/v1/tips/{named}", headers=bearer["boss_city"]).get_json()
    assert [(r["id"], r["state"]) for r in listed["identity_requests"]] == [(request_id, "pending")]

    decide = f"{path}/{request_id}"

    def decision(url: str, approve: Any, name: str = "boss_city") -> TestResponse:
        return triage.post(url, json={"approve": approve}, headers=bearer[name])

    assert decision(decide, "yes").status_code == 400
    assert decision(f"{path}/999", True).status_code == 404
    # A supervisor who cannot see the tip cannot decide on it either.
    assert decision(decide, True, "agency_boss").status_code == 404
    approved = decision(decide, True)
    assert approved.status_code == 200
    assert approved.get_json() == {"id": request_id, "state": "approved"}
    assert decision(decide, False).status_code == 409
    [event] = audit(triage_app, "identity.approve")
    assert (event.actor, event.tip_id) == ("boss_city", named)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("{not json", {("", "json")}),
        ('["text"]', {("", "type")}),
        ('{"text": 5}', {("text", "type")}),
        ('{"text": "x", "asks_reply": "yes"}', {("asks_reply", "type")}),
        ('{"text": "x", "colour": "red"}', {("colour", "unknown")}),
        ('{"asks_reply": true}', {("text", "missing")}),
        ('{"text": "' + "长" * 5001 + '"}', {("text", "too_long")}),
    ],
)
def test_bad_bodies_are_400_with_every_problem(
    triage_app: Flask, triage: FlaskClient, world: dict[str, str], bearer: dict[str, Headers],
    body: str, expected: set[tuple[str, str]],
) -> None:  # fmt: skip
    response = triage.post(
        f"/api/v1/tips/{world['district']}/messages", data=body,
        content_type="application/json", headers=bearer["desk_city"],
    )  # fmt: skip
    assert response.status_code == 400
    assert problems(response) == expected
    assert audit(triage_app, "message.send") == []


def test_problem_messages_follow_the_language_asked_for(
    triage: FlaskClient, world: dict[str, str], bearer: dict[str, Headers]
) -> None:
    path = f"/api/v1/tips/{world['district']}/notes"
    english = triage.post(path, json={}, headers={**bearer["desk_city"], "Accept-Language": "en"})
    chinese = triage.post(path, json={}, headers={**bearer["desk_city"], "Accept-Language": "zh"})
    assert english.get_json()["problems"][0]["message"] == "This field is required."
    assert chinese.get_json()["problems"][0]["message"] != "This field is required."


def test_input_errors_name_messages_the_decisions_really_raise() -> None:
    source = inspect.getsource(decisions)
    for message in api.INPUT_ERRORS:
        assert f'N_("{message}")' in source, message


# The OpenAPI document.


def _document(client: FlaskClient, headers: Headers) -> dict[str, Any]:
    response = client.get("/api/v1/openapi.json", headers=headers)
    assert response.status_code == 200
    document: dict[str, Any] = response.get_json()
    return document


def test_openapi_document_is_valid(triage: FlaskClient, bearer: dict[str, Headers]) -> None:
    validate(_document(triage, bearer["desk_city"]))


def test_openapi_document_matches_the_routes(
    triage_app: Flask, triage: FlaskClient, bearer: dict[str, Headers]
) -> None:
    document = _document(triage, bearer["desk_city"])
    documented = {
        (path, method.upper())
        for path, operations in document["paths"].items()
        for method in operations
    }
    served = {
        (re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule.removeprefix("/api/v1")), method)
        for rule in triage_app.url_map.iter_rules()
        if rule.rule.startswith("/api/v1/")
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }
    assert documented == served


def test_openapi_codes_are_the_reference_codes(
    triage: FlaskClient, bearer: dict[str, Headers]
) -> None:
    document = _document(triage, bearer["desk_city"])
    schemas = document["components"]["schemas"]
    tip = schemas["Tip"]["properties"]
    assert set(tip["category"]["enum"]) == reference.codes(reference.CATEGORIES)
    assert set(tip["status"]["enum"]) == reference.codes(reference.STATUSES)
    parameters = {p["name"]: p for p in document["paths"]["/tips"]["get"]["parameters"]}
    # An empty filter means "any", as in the inbox form; every other value is a code.
    assert set(parameters["status"]["schema"]["enum"]) == {"", *STATUS_CHOICES}
    assert set(parameters["bureau"]["schema"]["enum"]) == {"", *reference.codes(reference.BUREAUS)}
    refuse = document["paths"]["/tips/{tip_id}/refuse"]["post"]["requestBody"]
    reasons = refuse["content"]["application/json"]["schema"]["properties"]["reason"]["enum"]
    assert set(reasons) == reference.codes(reference.REFUSAL_REASONS)


def test_openapi_schemas_describe_real_answers(
    triage: FlaskClient, world: dict[str, str], bearer: dict[str, Headers]
) -> None:
    headers = bearer["desk_city"]
    document = _document(triage, headers)
    schemas = document["components"]["schemas"]
    paths = document["paths"]

    def check(response: TestResponse, schema: dict[str, Any]) -> None:
        jsonschema.validate(response.get_json(), {**schema, "components": {"schemas": schemas}})

    def answer(path: str, method: str, status: str) -> dict[str, Any]:
        schema: dict[str, Any] = paths[path][method]["responses"][status]["content"][
            "application/json"]["schema"]  # fmt: skip
        return schema

    district = world["district"]
    triage.post(f"/api/v1/tips/{district}/messages", json={"text": "问"}, headers=headers)
    check(triage.get("/api/v1/tips", headers=headers), schemas["TipList"])
    check(triage.get(f"/api/v1/tips/{district}", headers=headers), schemas["TipDetail"])
    check(triage.get("/api/v1/tips?limit=0", headers=headers), schemas["Problems"])
    check(triage.get("/api/v1/tips"), schemas["Problems"])
    note = triage.post(f"/api/v1/tips/{district}/notes", json={"text": "记"}, headers=headers)
    check(note, answer("/tips/{tip_id}/notes", "post", "201"))
    accepted = triage.post(f"/api/v1/tips/{district}/accept", headers=headers)
    check(accepted, answer("/tips/{tip_id}/accept", "post", "200"))
    check(triage.post(f"/api/v1/tips/{district}/accept", headers=headers), schemas["Problems"])
    request = triage.post(
        f"/api/v1/tips/{world['named']}/identity-requests", json={"reason": "核实"},
        headers=headers,
    )  # fmt: skip
    check(request, answer("/tips/{tip_id}/identity-requests", "post", "201"))


# The command.


@pytest.fixture
def env(tmp_path: Path, database_url: str) -> dict[str, str]:
    return cli_environment(tmp_path / "cli-instance", database_url)


run = run_cli


def test_users_token_and_revoke_token_commands(
    env: dict[str, str], make_config: Callable[..., Config]
) -> None:
    from tipline.triage import create_app

    assert run(env, "init").returncode == 0
    added = run(env, "users", "add", "li.wei", "--role", "triage_officer",
                "--bureau", "hrss_fund_supervision", "--region", "441500",
                stdin="a long enough password\n")  # fmt: skip
    assert added.returncode == 0, added.stderr
    issued = run(env, "users", "token", "li.wei")
    assert issued.returncode == 0, issued.stderr
    token = issued.stdout.strip()
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)
    assert run(env, "users", "token", "nobody").returncode == 1

    app = create_app(make_config())
    try:
        client = app.test_client()
        headers = {"Authorization": f"Bearer {token}"}
        assert client.get("/api/v1/tips", headers=headers).status_code == 200
        with app.extensions["triage"].sessions() as session:
            stored = session.scalars(select(ApiToken.token_hash)).all()
            events = session.scalars(
                select(AuditEvent).where(AuditEvent.action.like("token.%"))
            ).all()
            assert stored == [hashlib.sha256(token.encode()).hexdigest()]
            assert [(e.action, e.actor.startswith("cli:")) for e in events] == [  # type: ignore[union-attr]
                ("token.issue", True)
            ]
            assert token not in events[0].detail

        revoked = run(env, "users", "revoke-token", "li.wei")
        assert revoked.returncode == 0, revoked.stderr
        assert "revoked 1 token" in revoked.stdout and token not in revoked.stdout
        assert client.get("/api/v1/tips", headers=headers).status_code == 401
        with app.extensions["triage"].sessions() as session:
            actions = session.scalars(
                select(AuditEvent.action).where(AuditEvent.action.like("token.%"))
            ).all()
            assert actions == ["token.issue", "token.revoke"]
    finally:
        app.extensions["triage"].engine.dispose()
    missing = run(env, "users", "revoke-token", "nobody")
    assert missing.returncode == 1 and "nobody" in missing.stderr


@pytest.mark.parametrize("command", [["users", "token"], ["users", "revoke-token"]])
def test_token_commands_explain_themselves(command: list[str]) -> None:
    result = run(dict(os.environ), *command, "--help")
    assert result.returncode == 0 and "Usage:" in result.stdout
