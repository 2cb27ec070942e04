"""The public API: every error case, and an OpenAPI document that is valid and true."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate
from sqlalchemy import func, select

from tests.conftest import PASSPHRASE
from tipline.crypto import load_private_keyring, new_receipt
from tipline.intake.db import transaction
from tipline.intake.followup import add_message
from tipline.intake.models import Tip
from tipline.intake.reading import open_with_keyring

REPORT = {
    "category": "drug_resale",
    "region": "441502",
    "text": "有人回收医保药品再转卖。",
    "fund": "medical",
    "suspect_kind": "individual",
    "amount": 45000,
    "happened_start": "2025-01-01",
    "ongoing": True,
}


def tips(app: Flask) -> int:
    with app.extensions["portal"].sessions() as session:
        return session.scalar(select(func.count()).select_from(Tip)) or 0


def problems(response: Any) -> set[tuple[str, str]]:
    return {(p["field"], p["code"]) for p in response.get_json()["problems"]}


def receipt_header(receipt: str) -> dict[str, str]:
    return {"Authorization": f"Receipt {receipt}"}


def test_report_answers_201_with_a_receipt_that_reads_it_back(portal: FlaskClient) -> None:
    created = portal.post("/api/v1/reports", json=REPORT)
    assert created.status_code == 201
    receipt = created.get_json()["receipt"]
    assert re.fullmatch(r"(\d{4} ){5}\d{4}", receipt)
    own = portal.get("/api/v1/reports/self", headers=receipt_header(receipt.replace(" ", "")))
    assert own.status_code == 200
    body = own.get_json()
    assert body["text"] == REPORT["text"] and body["status"] == "received"
    assert body["timeline"][0]["on"] == created.get_json()["received_on"]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, {("category", "missing"), ("region", "missing"), ("text", "missing")}),
        ({**REPORT, "category": "nonsense"}, {("category", "invalid")}),
        ({**REPORT, "region": "999999"}, {("region", "invalid")}),
        ({**REPORT, "fund": "gold"}, {("fund", "invalid")}),
        ({**REPORT, "colour": "red"}, {("colour", "unknown")}),
        ({**REPORT, "text": 5}, {("text", "type")}),
        ({**REPORT, "amount": "lots"}, {("amount", "invalid")}),
        ({**REPORT, "amount": True}, {("amount", "type")}),
        ({**REPORT, "ongoing": "yes"}, {("ongoing", "type")}),
        ({**REPORT, "happened_start": "01/01/2025"}, {("happened_start", "invalid")}),
        ({**REPORT, "channel": "pigeon"}, {("channel", "invalid")}),
        (
            {**REPORT, "identity": {"name": "张三"}},
            {("identity.id_number", "missing"), ("identity.phone", "missing")},
        ),
        ({**REPORT, "identity": "张三"}, {("identity", "type")}),
        (
            {**REPORT, "identity": {"name": "张三", "id_number": "1", "phone": "2"}},
            {("identity.id_number", "invalid"), ("identity.phone", "too_short")},
        ),
        (
            {**REPORT, "identity": {"name": "张三", "id_number": "110105194912310021",
                                    "phone": "12345678"}},
            {("identity.id_number", "invalid"), ("identity.phone", "invalid")},
        ),
        ({**REPORT, "happened_start": 20250101}, {("happened_start", "type")}),
        ({**REPORT, "text": ""}, {("text", "missing")}),
        ({**REPORT, "text": " \n "}, {("text", "missing")}),
        ({**REPORT, "text": "<b></b>"}, {("text", "invalid")}),
        ({**REPORT, "text": "长" * 20_001}, {("text", "too_long")}),
        ({**REPORT, "suspect_name": "某" * 201}, {("suspect_name", "too_long")}),
        ({**REPORT, "amount": 1e13}, {("amount", "invalid")}),
        ({**REPORT, "wants_notice": True}, {("wants_notice", "invalid")}),
        ([REPORT], {("", "type")}),
    ],
)
def test_bad_reports_get_400_with_every_problem(
    portal_app: Flask, portal: FlaskClient, body: Any, expected: set[tuple[str, str]]
) -> None:
    response = portal.post("/api/v1/reports", json=body)
    assert response.status_code == 400
    assert problems(response) == expected
    assert all(p["message"] for p in response.get_json()["problems"])
    assert tips(portal_app) == 0


def test_bad_json_is_400(portal: FlaskClient) -> None:
    response = portal.post("/api/v1/reports", data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert problems(response) == {("", "json")}


def test_messages_follow_the_language_asked_for(portal: FlaskClient) -> None:
    english = portal.post("/api/v1/reports", json={}, headers={"Accept-Language": "en"})
    chinese = portal.post("/api/v1/reports", json={}, headers={"Accept-Language": "zh-CN"})
    assert english.get_json()["problems"][0]["message"] == "This field is required."
    assert chinese.get_json()["problems"][0]["message"] != "This field is required."


@pytest.mark.parametrize(
    ("header", "status", "code"),
    [
        (None, 401, "missing"),
        ("Bearer abc", 401, "missing"),
        ("Receipt 1234", 400, "malformed_receipt"),
        ("Receipt abcd efgh", 400, "malformed_receipt"),
    ],
)
def test_receipt_header_errors(
    portal: FlaskClient, header: str | None, status: int, code: str
) -> None:
    headers = {"Authorization": header} if header else {}
    response = portal.get("/api/v1/reports/self", headers=headers)
    assert response.status_code == status
    assert problems(response) == {("Authorization", code)}


def test_typo_in_receipt_is_400_and_unknown_receipt_401(portal: FlaskClient) -> None:
    receipt = portal.post("/api/v1/reports", json=REPORT).get_json()["receipt"].replace(" ", "")
    typo = receipt[:3] + receipt[4] + receipt[3] + receipt[5:]
    if typo != receipt:
        response = portal.get("/api/v1/reports/self", headers=receipt_header(typo))
        assert response.status_code == 400
        assert problems(response) == {("Authorization", "receipt_typo")}
    unknown = portal.get("/api/v1/reports/self", headers=receipt_header(new_receipt().code))
    assert unknown.status_code == 401
    assert unknown.headers["WWW-Authenticate"] == "Receipt"
    assert problems(unknown) == {("Authorization", "unknown_receipt")}


def test_reporter_answers_an_officer_through_the_api(
    portal_app: Flask, portal: FlaskClient, keys_dir: Path
) -> None:
    receipt = portal.post("/api/v1/reports", json=REPORT).get_json()["receipt"]
    with transaction(portal_app.extensions["portal"].sessions) as session:
        tip_id = session.scalars(select(Tip.id)).one()
        opened = open_with_keyring(session, tip_id, load_private_keyring(keys_dir, PASSPHRASE))
        assert opened is not None
        add_message(session, opened, "药品从哪里回收？", author="officer", asks_reply=True)
    sent = portal.post(
        "/api/v1/reports/self/messages", json={"text": "从某药店"}, headers=receipt_header(receipt)
    )
    assert sent.status_code == 201
    own = portal.get("/api/v1/reports/self", headers=receipt_header(receipt)).get_json()
    assert [(m["author"], m["text"]) for m in own["messages"]] == [
        ("officer", "药品从哪里回收？"),
        ("reporter", "从某药店"),
    ]
    empty = portal.post(
        "/api/v1/reports/self/messages", json={"text": "  "}, headers=receipt_header(receipt)
    )
    assert empty.status_code == 400 and problems(empty) == {("text", "missing")}
    unknown = portal.post(
        "/api/v1/reports/self/messages",
        json={"text": "x"},
        headers=receipt_header(new_receipt().code),
    )
    assert unknown.status_code == 401


def test_api_errors_are_json_too(portal: FlaskClient) -> None:
    response = portal.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert problems(response) == {("", "http_404")}


def _document(portal: FlaskClient) -> dict[str, Any]:
    response = portal.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.get_json()
    return document


def test_openapi_document_is_valid(portal: FlaskClient) -> None:
    validate(_document(portal))


def test_openapi_document_matches_the_routes(portal_app: Flask, portal: FlaskClient) -> None:
    document = _document(portal)
    documented = {
        (path, method.upper())
        for path, operations in document["paths"].items()
        for method in operations
    }
    served = {
        (rule.rule.removeprefix("/api/v1"), method)
        for rule in portal_app.url_map.iter_rules()
        if rule.rule.startswith("/api/v1/")
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }
    assert documented == served


def test_openapi_schemas_describe_real_answers(portal: FlaskClient) -> None:
    document = _document(portal)
    schemas = document["components"]["schemas"]
    resolver_document = {"components": {"schemas": schemas}}

    def check(instance: Any, schema: dict[str, Any]) -> None:
        jsonschema.validate(instance, {**schema, **resolver_document})

    check(REPORT, schemas["Report"])
    created = portal.post("/api/v1/reports", json=REPORT)
    check(created.get_json(), document["paths"]["/reports"]["post"]["responses"]["201"][
        "content"]["application/json"]["schema"])  # fmt: skip
    own = portal.get("/api/v1/reports/self", headers=receipt_header(created.get_json()["receipt"]))
    check(own.get_json(), schemas["OwnReport"])
    bad = portal.post("/api/v1/reports", json={})
    check(bad.get_json(), schemas["Problems"])
