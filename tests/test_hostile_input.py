"""Hostile input gets a quick 4xx with a clear message, never a 500 and never minutes of
work (issue 7, items 6 and 12). Run on SQLite and PostgreSQL: a NUL only breaks the latter."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField, TextAreaField
from wtforms.fields import HiddenField
from wtforms.validators import Length

from tests.conftest import (
    csrf_token,
    make_enrolled,
    post_multipart,
    sign_in_officer,
    submit_report,
)
from tipline.intake import followup, sanitize, submit
from tipline.intake.db import transaction
from tipline.intake.jsonbody import MAX_JSON_BYTES
from tipline.portal import forms as portal_forms
from tipline.triage import admin, api, auth
from tipline.triage.accounts import add_officer
from tipline.triage.tips import forms as triage_forms

HUGE = 4 * 1024 * 1024  # characters: far past every limit, small enough for a test
REPORT = {"category": "drug_resale", "region": "441502", "text": "有人回收医保药品再转卖。"}


@pytest.fixture
def cleaned(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The length of every text handed to the sanitiser, wherever it is called from."""
    lengths: list[int] = []
    real_text, real_line = sanitize.clean_text, sanitize.clean_line

    def spy_text(text: str) -> str:
        lengths.append(len(text))
        return real_text(text)

    def spy_line(text: str) -> str:
        lengths.append(len(text))
        return real_line(text)

    for module in (submit, followup):
        monkeypatch.setattr(module, "clean_text", spy_text, raising=False)
        monkeypatch.setattr(module, "clean_line", spy_line, raising=False)
    yield lengths


def problems(response: Any) -> set[tuple[str, str]]:
    return {(p["field"], p["code"]) for p in response.get_json()["problems"]}


def signed_in_reporter(portal: FlaskClient) -> str:
    receipt = submit_report(portal)
    response = portal.post(
        "/check", data={"csrf_token": csrf_token(portal, "/check"), "receipt": receipt}
    )
    assert response.status_code == 302
    return receipt


@pytest.fixture
def officer(triage_app: Flask) -> tuple[dict[str, str], str]:
    services = triage_app.extensions["triage"]
    with transaction(services.sessions) as session:
        _, secret = make_enrolled(session, services.officer_secrets, "desk",
                                  "a long test password", role="triage_officer",
                                  bureau="hrss_fund_supervision", region="441500")  # fmt: skip
        token = api.issue_token(session, "desk", actor="test")
    return {"Authorization": f"Bearer {token}"}, secret


@pytest.fixture
def tip_id(triage_app: Flask) -> str:
    submitter = triage_app.extensions["triage"].submitter
    report = submit.Report(category="fake_docs", region="441502", text="举报", channel="letter")
    return str(submitter.submit(report, with_receipt=False).tip_id)


# Item 6: sizes before work.


def test_the_pipeline_refuses_an_oversize_text_without_sanitising_it(
    portal_app: Flask, cleaned: list[int]
) -> None:
    report = submit.Report(
        category="drug_resale", region="441502", text="<b>x</b>" * (HUGE // 8),
        suspect_name="某" * HUGE,
        identity=submit.ReporterIdentity("张" * HUGE, "1" * HUGE, "1" * HUGE),
    )  # fmt: skip
    with pytest.raises(submit.InvalidReport) as refused:
        portal_app.extensions["portal"].submitter.submit(report)
    fields = {p.field for p in refused.value.problems}
    assert {"text", "suspect_name", "name", "id_number", "phone"} <= fields
    assert max(cleaned, default=0) <= submit.MAX_TEXT


def test_the_sanitiser_itself_refuses_what_no_field_takes() -> None:
    with pytest.raises(sanitize.TextTooLong):
        sanitize.clean_text("x" * (sanitize.MAX_INPUT + 1))


def test_oversize_text_is_refused_on_every_route_before_it_is_sanitised(
    portal: FlaskClient, cleaned: list[int]
) -> None:
    receipt = signed_in_reporter(portal)
    cleaned.clear()
    # The form: its parts are bounded before they are decoded.
    form = post_multipart(portal, "/report", {
        "csrf_token": csrf_token(portal, "/report"), "category": "drug_resale",
        "province": "440000", "city": "441500", "county": "441502", "text": "某" * HUGE,
    })  # fmt: skip
    assert form.status_code == 413
    # Just past the limit, the form's own length check answers, before any cleaning.
    near = post_multipart(portal, "/report", {
        "csrf_token": csrf_token(portal, "/report"), "category": "drug_resale",
        "province": "440000", "city": "441500", "county": "441502",
        "text": "<b>" * (submit.MAX_TEXT // 3 + 1),
    })  # fmt: skip
    assert near.status_code == 400
    message = portal.post("/my-report/messages", data={
        "csrf_token": csrf_token(portal, "/my-report"), "text": "<i>" * 2_000,
    })  # fmt: skip
    assert message.status_code == 400
    # The API: a body past its cap is 413; a text past its maxLength is 400, named.
    assert portal.post("/api/v1/reports", json={**REPORT, "text": "某" * HUGE}).status_code == 413
    too_long = portal.post("/api/v1/reports", json={**REPORT, "text": "<" * 20_001})
    assert too_long.status_code == 400 and problems(too_long) == {("text", "too_long")}
    headers = {"Authorization": f"Receipt {receipt}"}
    own = portal.post("/api/v1/reports/self/messages", json={"text": "<" * 5_001}, headers=headers)
    assert own.status_code == 400 and problems(own) == {("text", "too_long")}
    assert cleaned == []


def test_the_internal_api_refuses_oversize_text_before_work(
    triage: FlaskClient, officer: tuple[dict[str, str], str], tip_id: str, cleaned: list[int]
) -> None:
    headers, _secret = officer
    huge = triage.post(f"/api/v1/tips/{tip_id}/messages", json={"text": "x" * HUGE},
                       headers=headers)  # fmt: skip
    assert huge.status_code == 413
    long = triage.post(f"/api/v1/tips/{tip_id}/notes", json={"text": "x" * 5_001},
                       headers=headers)  # fmt: skip
    assert long.status_code == 400 and problems(long) == {("text", "too_long")}
    assert cleaned == []


TEXT_FIELDS = (StringField, TextAreaField, PasswordField, HiddenField)


def _forms() -> Iterator[tuple[str, type[FlaskForm]]]:
    for module in (portal_forms, triage_forms, auth, admin):
        for name, form in inspect.getmembers(module, inspect.isclass):
            if issubclass(form, FlaskForm) and form is not FlaskForm:
                yield f"{module.__name__}.{name}", form


@pytest.mark.parametrize(("name", "form"), list(_forms()))
def test_every_text_field_of_every_form_has_a_raw_length_limit(
    name: str, form: type[FlaskForm]
) -> None:
    app = Flask(__name__)
    app.config["SECRET_KEY"] = "test"
    with app.test_request_context():
        bound = form(meta={"csrf": False})
        for field in bound:
            # A select that checks its choices compares the raw value with a short list.
            free_select = field.type == "SelectField" and not field.validate_choice
            if isinstance(field, TEXT_FIELDS) or free_select:
                limits = [v for v in field.validators if isinstance(v, Length) and v.max > 0]
                assert limits, f"{name}.{field.name} has no Length(max=...)"


# Item 12: what answered 500.


def test_deep_json_is_a_400_on_both_apis(
    portal: FlaskClient, triage: FlaskClient, officer: tuple[dict[str, str], str], tip_id: str
) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    for client, path, headers in (
        (portal, "/api/v1/reports", {}),
        (triage, f"/api/v1/tips/{tip_id}/notes", officer[0]),
    ):
        headers = {**headers, "Accept-Language": "en"}
        response = client.post(path, data=deep, content_type="application/json", headers=headers)
        assert response.status_code == 400
        assert problems(response) == {("", "json")}
        assert "nested" in response.get_json()["problems"][0]["message"]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({**REPORT, "happened_start": 20250101}, {("happened_start", "type")}),
        ({**REPORT, "happened_end": ["2025-01-01"]}, {("happened_end", "type")}),
        ({**REPORT, "text": {"a": 1}}, {("text", "type")}),
        ({**REPORT, "identity": {"name": 1, "id_number": 2, "phone": 3}},
         {("identity.name", "type"), ("identity.id_number", "type"), ("identity.phone", "type")}),
        # A string amount is read as people write it (issue 8): "NaN" is no amount.
        ({**REPORT, "amount": "NaN"}, {("amount", "invalid")}),
    ],
)  # fmt: skip
def test_a_wrong_type_is_a_400_naming_the_field(
    portal: FlaskClient, body: dict[str, Any], expected: set[tuple[str, str]]
) -> None:
    response = portal.post("/api/v1/reports", json=body)
    assert response.status_code == 400
    assert problems(response) == expected


def test_not_json_numbers_are_refused(portal: FlaskClient) -> None:
    for raw in ('{"amount": NaN}', '{"amount": Infinity}', '{"amount": 1' + "0" * 5000 + "}"):
        response = portal.post("/api/v1/reports", data=raw, content_type="application/json")
        assert response.status_code == 400 and problems(response) == {("", "json")}


@pytest.mark.parametrize(
    "query",
    ["limit=²", "offset=²", "limit=٣", f"offset={2**63}", f"offset={2**64}", "limit=-1",
     "offset=1e3", "limit= 5"],
)  # fmt: skip
def test_query_numbers_are_ascii_digits_within_range(
    triage: FlaskClient, officer: tuple[dict[str, str], str], query: str
) -> None:
    response = triage.get(f"/api/v1/tips?{query}", headers=officer[0])
    assert response.status_code == 400
    assert {code for _field, code in problems(response)} == {"invalid"}


@pytest.mark.parametrize("page", ["²", str(2**63), "0", "-1", "1e9"])
def test_page_numbers_are_ascii_digits_within_range(
    triage_app: Flask, officer: tuple[dict[str, str], str], page: str
) -> None:
    client = sign_in_officer(triage_app, "desk", officer[1])
    assert client.get(f"/?page={page}").status_code == 400
    assert client.get("/?page=2").status_code == 200


def test_a_huge_identity_request_id_is_404(
    triage: FlaskClient, triage_app: Flask, tip_id: str
) -> None:
    with transaction(triage_app.extensions["triage"].sessions) as session:
        add_officer(session, "boss", "a long test password", role="supervisor",
                    bureau="hrss_fund_supervision", region="441500",
                    requested_by="test", approved_by="test")  # fmt: skip
        headers = {"Authorization": f"Bearer {api.issue_token(session, 'boss', actor='test')}"}
    response = triage.post(f"/api/v1/tips/{tip_id}/identity-requests/{2**63}",
                           json={"approve": True}, headers=headers)  # fmt: skip
    assert response.status_code == 404


Check = Callable[[Any], None]


def _refused_for_its_character(response: Any) -> None:
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    text = response.get_data(as_text=True)
    if response.is_json:
        assert problems(response) == {("", "invalid_character")}
    else:
        assert "NUL" in text


def test_nul_is_refused_on_the_portal(portal: FlaskClient) -> None:
    assert portal.get("/regions/44%00").status_code == 404
    assert portal.get("/my-report%00").status_code == 404
    _refused_for_its_character(portal.get("/check?x=%00"))
    _refused_for_its_character(portal.get("/language/en?next=/%00"))
    _refused_for_its_character(portal.post("/check", data={
        "csrf_token": csrf_token(portal, "/check"), "receipt": "1234\x00",
    }))  # fmt: skip
    _refused_for_its_character(post_multipart(portal, "/report", {
        "csrf_token": csrf_token(portal, "/report"), "category": "drug_resale",
        "province": "440000", "city": "441500", "county": "441502", "text": "举报\x00内容",
    }))  # fmt: skip
    _refused_for_its_character(portal.post("/api/v1/reports", json={**REPORT, "text": "a\x00"}))
    _refused_for_its_character(portal.post("/api/v1/reports", json={**REPORT, "a\x00": 1}))
    surrogate = json.dumps({**REPORT, "text": "\ud800"}, ensure_ascii=True)
    _refused_for_its_character(
        portal.post("/api/v1/reports", data=surrogate, content_type="application/json")
    )


def test_nul_is_refused_on_the_triage_site(
    triage: FlaskClient, triage_app: Flask, officer: tuple[dict[str, str], str], tip_id: str
) -> None:
    headers = officer[0]
    assert triage.get("/api/v1/tips/00%0012345678901", headers=headers).status_code == 404
    _refused_for_its_character(triage.get("/api/v1/tips?status=%00", headers=headers))
    _refused_for_its_character(
        triage.post(f"/api/v1/tips/{tip_id}/notes", json={"text": "a\x00b"}, headers=headers)
    )
    login = triage.post("/login", data={
        "csrf_token": csrf_token(triage, "/login"), "username": "desk\x00",
        "password": "a long test password", "code": "123456",
    })  # fmt: skip
    _refused_for_its_character(login)
    client = sign_in_officer(triage_app, "desk", officer[1])
    assert client.get("/tips/%00").status_code == 404
    _refused_for_its_character(client.post(f"/tips/{tip_id}/note", data={
        "csrf_token": csrf_token(client, f"/tips/{tip_id}"), "note-text": "a\x00b",
    }))  # fmt: skip


def test_the_error_pages_speak_both_languages(portal: FlaskClient) -> None:
    english = portal.get("/check?x=%00", headers={"Accept-Language": "en"})
    chinese = portal.get("/check?x=%00", headers={"Accept-Language": "zh"})
    assert "NUL" in english.get_data(as_text=True)
    assert "无法保存" in chinese.get_data(as_text=True)


@pytest.mark.parametrize(
    "body",
    [
        # An unterminated string of escaped quotes: the first depth check, a regular
        # expression, restarted its scan at every quote (quadratic: minutes at 512 KiB).
        b'{"text": "' + b'\\"' * (MAX_JSON_BYTES // 2 - 8),
        b'"' * MAX_JSON_BYTES,
        b"[" * MAX_JSON_BYTES,
        b'{"a":' * (MAX_JSON_BYTES // 5),
        b"[" * 17 + b"]" * 17,
    ],
    ids=["escaped-quotes", "quotes", "brackets", "objects", "depth-17"],
)
def test_reading_a_hostile_body_is_linear(body: bytes) -> None:
    """Each body at the size limit is refused within a CPU budget enforced by the kernel
    (RLIMIT_CPU in a child process), not by a timing assertion: the quadratic scan needed
    minutes here, the linear decoder well under a second."""
    assert len(body) <= MAX_JSON_BYTES
    script = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_CPU, (10, 10))\n"
        "from tipline.intake.jsonbody import BadBody, loads\n"
        "try:\n    loads(sys.stdin.buffer.read())\nexcept BadBody as exc:\n"
        "    print(exc.problem.code)\n"
    )
    child = subprocess.run([sys.executable, "-c", script], input=body, capture_output=True,
                           timeout=60, check=False)  # fmt: skip
    assert child.returncode == 0, child.stderr.decode()[-500:]
    assert child.stdout.strip() == b"json"
