"""Regulatory routing cases (issue 8), run through the real interfaces: the public API, the
``tipline tips import`` command, the officers' entry form and the internal API.

Every expected bureau and date is worked out by hand below from domain.md. The working-day
arithmetic follows 刑诉法 art.105 (the start day is not counted) and the 2025 calendar:
2025-10-01..08 were the National Day and Mid-Autumn holidays, and Saturday 2025-10-11 was a
make-up working day (调休). So from a tip received on Tuesday 2025-09-30:
    T1, 5 working days:  Oct 9 (1), 10 (2), Sat 11 (3), 13 (4), 14 (5)  -> 2025-10-14
    T2, 10 working days: ... 15 (6), 16 (7), 17 (8), 20 (9), 21 (10)   -> 2025-10-21
and from a transfer received on Thursday 2025-10-09:
    T1, 5 working days:  Oct 10 (1), Sat 11 (2), 13 (3), 14 (4), 15 (5) -> 2025-10-15
A co-handling bureau sees a tip only once its lead is set (triage/scope.py), so its own T1
runs from that day, not from receipt. A lead set on Thursday 2025-10-09 gives it 2025-10-15
(as the transfer above); one set on Friday 2025-10-10:
    T1, 5 working days:  Sat 11 (1), 13 (2), 14 (3), 15 (4), 16 (5)       -> 2025-10-16
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from tests.conftest import (
    cli_environment,
    csrf_token,
    make_enrolled,
    post_multipart,
    run_cli,
    sign_in_officer,
    submit_report,
    visible,
)
from tipline.crypto import load_private_keyring, open_sealed
from tipline.intake.db import make_engine, transaction
from tipline.intake.jobs import process_new_tips
from tipline.intake.models import Deadline, Identity, Tip
from tipline.intake.queue import InlineQueue
from tipline.intake.submit import Report
from tipline.triage import api

RECEIVED = dt.date(2025, 9, 30)  # a Tuesday, the day before the National Day holidays
T1_FROM_RECEIPT = "2025-10-14"
T2_FROM_RECEIPT = "2025-10-21"
TRANSFERRED = dt.date(2025, 10, 9)  # the first working day after them
T1_FROM_TRANSFER = "2025-10-15"
LEAD_ON_FRIDAY = dt.date(2025, 10, 10)
T1_FROM_FRIDAY = "2025-10-16"
ID = {"name": "王小明", "id_number": "11010519491231002X", "phone": "13800138000"}

OFFICERS = {
    # name: role, bureau, region
    "desk_city": ("triage_officer", "hrss_fund_supervision", "441500"),
    "labour_chengqu": ("bureau_officer", "labor_inspection", "441502"),
    "labour_city": ("bureau_officer", "labor_inspection", "441500"),
    "procurator_city": ("bureau_officer", "procuratorate", "441500"),
    "procurator_shenzhen": ("bureau_officer", "procuratorate", "440300"),
    "police_chengqu": ("bureau_officer", "public_security", "441502"),
    "health_city": ("bureau_officer", "healthcare_security", "441500"),
}
Headers = dict[str, str]


@pytest.fixture
def on_day(monkeypatch: pytest.MonkeyPatch) -> Callable[[dt.date], None]:
    """Set the reporting day in China (``submit.today``) where receipt and decisions read it,
    so that the dates below are those worked out by hand, whatever day the tests run."""

    def set_day(day: dt.date) -> None:
        for module in ("tipline.intake.submit", "tipline.intake.followup",
                       "tipline.triage.tips.decisions"):  # fmt: skip
            monkeypatch.setattr(f"{module}.today", lambda: day)

    return set_day


@pytest.fixture
def bearer(triage_app: Flask) -> dict[str, Headers]:
    found = {}
    services = triage_app.extensions["triage"]
    with transaction(services.sessions) as session:
        for name, (role, bureau, region) in OFFICERS.items():
            make_enrolled(session, services.officer_secrets, name, role=role, bureau=bureau,
                          region=region)  # fmt: skip
            found[name] = {"Authorization": f"Bearer {api.issue_token(session, name, actor='t')}"}
    return found


def route_waiting(app: Flask) -> None:
    """The post-submission job, as the worker runs it (with the private key)."""
    services = app.extensions["triage"]
    InlineQueue(services.engine, services.keyring).enqueue(process_new_tips)


def tip_ids(app: Flask) -> set[str]:
    with app.extensions["triage"].sessions() as session:
        return set(session.scalars(select(Tip.id)))


def deadlines(found: dict[str, Any]) -> set[tuple[str, str | None, str, str | None]]:
    return {(d["rule"], d["bureau"], d["due"], d["met_on"]) for d in found["deadlines"]}


def schema_check(document: dict[str, Any], body: Any, schema: dict[str, Any]) -> None:
    jsonschema.validate(body, {**schema, "components": document["components"]})


REPORT = {"region": "441500", "text": "某市直单位虚构劳动关系为他人补缴社保。"}


def test_public_api_routing_cases(
    portal: FlaskClient, triage_app: Flask, on_day: Callable[[dt.date], None],
    bearer: dict[str, Headers],
) -> None:  # fmt: skip
    on_day(RECEIVED)
    document = portal.get("/api/v1/openapi.json").get_json()
    created_schema = document["paths"]["/reports"]["post"]["responses"]
    triage = triage_app.test_client()

    # Finding 1: not a fund-fraud report. As the form: the advice, nothing stored, whatever
    # else the body carries (a name, a request to be told, another channel).
    for extra in ({}, {"identity": ID, "wants_notice": True, "channel": "phone"},
                  {"unit_level": "city", "fund": "pension"}):  # fmt: skip
        answer = portal.post("/api/v1/reports",
                             json={**REPORT, "category": "out_of_scope", **extra})  # fmt: skip
        assert answer.status_code == 200, answer.get_json()
        body = answer.get_json()
        schema_check(document, body, created_schema["200"]["content"]["application/json"]["schema"])
        assert body["stored"] is False and "receipt" not in body
        assert {a["where"] for a in body["advice"]} >= {"labor_inspection_complaint",
                                                        "review_or_arbitration"}  # fmt: skip
    assert tip_ids(triage_app) == set()
    # In the reporter's language.
    english = portal.post("/api/v1/reports", json={**REPORT, "category": "out_of_scope"},
                          headers={"Accept-Language": "en"}).get_json()  # fmt: skip
    assert "labour inspection" in english["advice"][0]["text"]

    # An unknown level is refused with the field named; nothing stored.
    unknown_level = {**REPORT, "category": "fake_docs", "unit_level": "village"}
    bad = portal.post("/api/v1/reports", json=unknown_level)
    assert bad.status_code == 400
    assert {(p["field"], p["code"]) for p in bad.get_json()["problems"]} == {
        ("unit_level", "invalid")
    }
    assert tip_ids(triage_app) == set()

    def report(**fields: Any) -> str:
        created = portal.post("/api/v1/reports", json={**REPORT, **fields})
        assert created.status_code == 201, created.get_json()
        assert created.get_json()["received_on"] == RECEIVED.isoformat()
        (new,) = tip_ids(triage_app) - set(reported.values())
        return new

    reported: dict[str, str] = {}
    # Finding 3: a city-level (市直) unit of 汕尾, whoever did it (no suspect kind given):
    # the 城区 (441502) labour inspection (domain.md section 6, 汕府〔2021〕48号), with the
    # procuratorate's civil supervision beside it for a fake back-pay (section 2).
    reported["city_unit"] = report(category="fake_employment_backpay", unit_level="city")
    # 441500 with the level unknown is "somewhere in 汕尾": the city-level office, national
    # rules (labour inspection + procuratorate, section 2).
    reported["somewhere"] = report(category="fake_employment_backpay", unit_level="unknown",
                                   identity=ID, wants_notice=True)  # fmt: skip
    # Finding 2: medical insurance of a city-level unit stays with healthcare security
    # (sections 1 and 6), although the Shanwei rule matches the rest of it.
    reported["medical"] = report(category="benefit_impostor", fund="medical", unit_level="city")
    # Finding 6: resold insured drugs: healthcare security plus public security (section 2).
    reported["drugs"] = report(category="drug_resale", region="441502", fund="medical")
    route_waiting(triage_app)

    desk = bearer["desk_city"]

    def detail(name: str, who: Headers = desk) -> dict[str, Any]:
        response = triage.get(f"/api/v1/tips/{reported[name]}", headers=who)
        assert response.status_code == 200, (name, response.get_json())
        body: dict[str, Any] = response.get_json()
        schema_check(triage_document, body, triage_document["components"]["schemas"]["TipDetail"])
        return body

    triage_document = triage.get("/api/v1/openapi.json", headers=desk).get_json()
    city_unit = detail("city_unit")
    assert (city_unit["suggested_bureau"], city_unit["co_bureaus"], city_unit["handling_region"],
            city_unit["unit_level"], city_unit["suspect_kind"]) == (
        "labor_inspection", ["procuratorate"], "441502", "city", None)  # fmt: skip
    # The tip's own T1 from receipt; the procuratorate's waits for the lead to be set.
    assert deadlines(city_unit) == {("T1", None, T1_FROM_RECEIPT, None)}
    somewhere = detail("somewhere")
    assert (somewhere["suggested_bureau"], somewhere["co_bureaus"],
            somewhere["handling_region"], somewhere["unit_level"]) == (
        "labor_inspection", ["procuratorate"], "441500", None)  # fmt: skip
    assert deadlines(somewhere) == {
        ("T1", None, T1_FROM_RECEIPT, None),
        ("T2", None, T2_FROM_RECEIPT, None),  # a real-name reporter who asked to be told
    }
    medical = detail("medical")
    assert (medical["suggested_bureau"], medical["co_bureaus"], medical["handling_region"]) == (
        "healthcare_security", [], "441500")  # fmt: skip
    drugs = detail("drugs")
    assert (drugs["suggested_bureau"], drugs["co_bureaus"]) == (
        "healthcare_security", ["public_security"])  # fmt: skip

    # Co-handling bureaus see a tip once the desk has confirmed its lead, in their own
    # jurisdiction only.
    police = bearer["police_chengqu"]
    assert triage.get(f"/api/v1/tips/{reported['drugs']}", headers=police).status_code == 404
    confirmed = triage.post(f"/api/v1/tips/{reported['drugs']}/route",
                            json={"bureau": "healthcare_security"}, headers=desk)  # fmt: skip
    assert confirmed.status_code == 200, confirmed.get_json()
    assert detail("drugs", police)["bureau"] == "healthcare_security"
    assert detail("drugs", bearer["health_city"])["co_bureaus"] == ["public_security"]
    # Confirmed on the day it was received: public security's T1 runs from that day.
    police_clocks = [d for d in detail("drugs")["deadlines"] if d["bureau"] == "public_security"]
    assert [(d["starts_on"], d["due"]) for d in police_clocks] == [("2025-09-30", T1_FROM_RECEIPT)]

    # The desk confirms the city unit's lead on 2025-10-09: the procuratorate first sees
    # the tip then, and its T1 runs from that day (2025-10-15), not from receipt.
    on_day(TRANSFERRED)
    triage.post(f"/api/v1/tips/{reported['city_unit']}/route",
                json={"bureau": "labor_inspection"}, headers=desk)  # fmt: skip
    assert deadlines(detail("city_unit")) == {
        ("T1", None, T1_FROM_RECEIPT, None),
        ("T1", "procuratorate", T1_FROM_TRANSFER, None),
    }
    assert detail("city_unit", bearer["labour_chengqu"])["bureau"] == "labor_inspection"
    assert triage.get(f"/api/v1/tips/{reported['city_unit']}",
                      headers=bearer["procurator_shenzhen"]).status_code == 404  # fmt: skip
    # The procuratorate takes up its part on 2025-10-09: its own T1 is met, the lead's is
    # not, and the tip's status stays the lead's to decide.
    taken = triage.post(f"/api/v1/tips/{reported['city_unit']}/accept",
                        headers=bearer["procurator_city"])  # fmt: skip
    assert taken.status_code == 200, taken.get_json()
    after = detail("city_unit")
    assert after["status"] == "screened"
    assert deadlines(after) == {
        ("T1", None, T1_FROM_RECEIPT, None),
        ("T1", "procuratorate", T1_FROM_TRANSFER, "2025-10-09"),
    }
    again = triage.post(f"/api/v1/tips/{reported['city_unit']}/accept",
                        headers=bearer["procurator_city"])  # fmt: skip
    assert again.status_code == 409
    accepted = triage.post(f"/api/v1/tips/{reported['city_unit']}/accept",
                           headers=bearer["labour_chengqu"])  # fmt: skip
    assert accepted.status_code == 200
    assert detail("city_unit")["status"] == "accepted"
    assert {d[3] for d in deadlines(detail("city_unit"))} == {"2025-10-09"}

    # Finding 5: the desk sends the "somewhere in 汕尾" tip on to 城区's labour inspection
    # on 2025-10-09, its lead unset until then. The receiving office, and the procuratorate
    # beside it (which first sees the tip now), each get a T1 from that day; the city
    # office's clock is met by the transfer.
    to_chengqu = {"bureau": "labor_inspection", "region": "441502"}
    moved = triage.post(f"/api/v1/tips/{reported['somewhere']}/transfer", json=to_chengqu,
                        headers=desk)  # fmt: skip
    assert moved.status_code == 200, moved.get_json()
    somewhere = detail("somewhere", bearer["labour_chengqu"])
    assert somewhere["transfers"] == [
        {"on": "2025-10-09", "region": "441502", "bureau": "labor_inspection"}
    ]
    assert deadlines(somewhere) == {
        ("T1", None, T1_FROM_RECEIPT, "2025-10-09"),
        # T2 is met when the reporter is told (domain.md T2), not by the transfer.
        ("T2", None, T2_FROM_RECEIPT, None),
        ("T1", None, T1_FROM_TRANSFER, None),
        ("T1", "procuratorate", T1_FROM_TRANSFER, None),
    }
    starts = {(d["rule"], d["starts_on"]) for d in somewhere["deadlines"] if not d["met_on"]}
    assert starts == {("T1", "2025-10-09"), ("T2", "2025-09-30")}
    # The city labour inspectors see it still (441502 is in their city), the district's now.
    assert triage.get(f"/api/v1/tips/{reported['somewhere']}",
                      headers=bearer["labour_city"]).status_code == 200  # fmt: skip


def test_the_reporter_is_told_which_office_received_the_tip(
    portal: FlaskClient, triage_app: Flask, on_day: Callable[[dt.date], None],
    bearer: dict[str, Headers],
) -> None:  # fmt: skip
    on_day(RECEIVED)
    created = portal.post("/api/v1/reports", json={**REPORT, "category": "fake_docs"})
    receipt = created.get_json()["receipt"].replace(" ", "")
    route_waiting(triage_app)
    (tip_id,) = tip_ids(triage_app)
    own = portal.get("/api/v1/reports/self", headers={"Authorization": f"Receipt {receipt}"})
    assert own.get_json()["transferred_to"] is None
    triage = triage_app.test_client()
    on_day(TRANSFERRED)
    moved = triage.post(f"/api/v1/tips/{tip_id}/transfer",
                        json={"bureau": "labor_inspection", "region": "441502"},
                        headers=bearer["desk_city"])  # fmt: skip
    assert moved.status_code == 200, moved.get_json()
    own = portal.get("/api/v1/reports/self", headers={"Authorization": f"Receipt {receipt}",
                                                      "Accept-Language": "zh"})  # fmt: skip
    body = own.get_json()
    document = portal.get("/api/v1/openapi.json").get_json()
    schema_check(document, body, document["components"]["schemas"]["OwnReport"])
    assert body["status"] == "transferred_out"
    assert body["transferred_to"] == {
        "region": "441502", "region_name": "广东省汕尾市城区",
        "bureau": "labor_inspection", "bureau_name": "劳动保障监察机构",
    }  # fmt: skip


def test_the_report_form_asks_the_level_of_the_unit(
    portal: FlaskClient, triage_app: Flask
) -> None:
    page = portal.get("/report").get_data(as_text=True)
    # One optional group of radio buttons (no JavaScript needed), "I do not know" first.
    values = re.findall(r'<input[^>]*name="unit_level"[^>]*value="([a-z]*)"', page)
    assert values == ["", "provincial", "city", "county", "township"]
    assert "市直单位" in visible(page)
    # A city-level unit of 汕尾, reported with the district left open: 城区 handles it.
    submit_report(portal, category="fake_docs", fund="pension", suspect_kind="",
                  county="", unit_level="city", text="市直单位伪造材料骗取养老金。")  # fmt: skip
    route_waiting(triage_app)
    with triage_app.extensions["triage"].sessions() as session:
        tip = session.scalars(select(Tip)).one()
        assert (tip.region, tip.unit_level, tip.suggested_bureau, tip.handling_region) == (
            "441500", "city", "labor_inspection", "441502")  # fmt: skip
    # A level that is not on the list is refused, and nothing is stored.
    data = {"csrf_token": csrf_token(portal, "/report"), "category": "fake_docs",
            "province": "440000", "city": "441500", "anonymous": "yes",
            "unit_level": "village", "text": "伪造材料"}  # fmt: skip
    refused = post_multipart(portal, "/report", data)
    assert refused.status_code == 400
    assert tip_ids(triage_app) == {tip.id}


def test_officer_entry_takes_a_named_reporter_and_the_level_of_the_unit(
    triage_app: Flask, on_day: Callable[[dt.date], None]
) -> None:
    services = triage_app.extensions["triage"]
    with transaction(services.sessions) as session:
        _, secret = make_enrolled(session, services.officer_secrets, "desk",
                                  role="triage_officer", bureau="hrss_fund_supervision",
                                  region="441500")  # fmt: skip
    client = sign_in_officer(triage_app, "desk", secret)

    def enter(**fields: Any) -> TestResponse:
        data = {"csrf_token": csrf_token(client, "/tips/new"), "channel": "visit",
                "received_on": RECEIVED.isoformat(), "category": "benefit_impostor",
                "province": "440000", "city": "441500", "unit_level": "city",
                "text": "来访举报：市直单位冒领。",
                **ID, "wants_notice": "y"}  # fmt: skip
        data.update(fields)
        return post_multipart(client, "/tips/new", data)

    # A bad ID number: refused by the shared validator, nothing stored.
    refused = enter(id_number="110105194912310021")
    assert refused.status_code == 400
    # The check digit is wrong: the shared validator's own words (not a length limit).
    assert "校验位不符" in refused.get_data(as_text=True)
    # Asking to be told without giving a name.
    assert enter(name="", id_number="", phone="").status_code == 400
    assert tip_ids(triage_app) == set()

    assert enter().status_code == 302
    # Finding 1: a letter about one's own contributions is kept as not accepted, with the
    # redirect as its reason, so that the written answer (社保法 art.82) can be given.
    assert enter(category="out_of_scope", channel="letter", wants_notice="").status_code == 302
    with services.sessions() as session:
        tips = {t.category: t for t in session.scalars(select(Tip))}
        named = tips["benefit_impostor"]
        # 城区 labour inspection, the agency beside it (domain.md sections 2 and 6).
        assert (named.suggested_bureau, named.co_bureaus, named.handling_region) == (
            "labor_inspection", ",si_agency,", "441502")  # fmt: skip
        assert named.real_name and named.wants_notice and named.identity is not None
        assert "王小明".encode() not in named.identity.data  # sealed
        # The agency's own T1 waits for the lead to be set (it cannot see the tip before).
        clocks = {(d.rule, d.bureau, d.due_on.isoformat()) for d in named.deadlines}
        assert clocks == {("T1", None, T1_FROM_RECEIPT), ("T2", None, T2_FROM_RECEIPT)}
        letter = tips["out_of_scope"]
        assert (letter.status, letter.status_detail, letter.next_due) == (
            "not_accepted", "out_of_scope", None)  # fmt: skip
        assert [(e.kind, e.detail) for e in letter.events] == [
            ("received", None), ("not_accepted", "out_of_scope")]  # fmt: skip
    # The tip page names the lead and the co-handling bureaus.
    page = client.get(f"/tips/{named.id}").get_data(as_text=True)
    assert 'id="co-bureaus">' in page and 'id="lead-bureau">' in page
    # The desk accepts it on Friday 2025-10-10 without confirming the bureau first: the
    # suggested lead is set then, and the agency's T1 runs from that day (2025-10-16).
    on_day(LEAD_ON_FRIDAY)
    data = {"csrf_token": csrf_token(client, f"/tips/{named.id}")}
    assert client.post(f"/tips/{named.id}/accept", data=data).status_code == 302
    with services.sessions() as session:
        accepted = session.get(Tip, named.id)
        assert accepted is not None and accepted.bureau == "labor_inspection"
        clocks = {(d.rule, d.bureau, d.starts_on.isoformat(), d.due_on.isoformat(),
                   d.met_on and d.met_on.isoformat()) for d in accepted.deadlines}  # fmt: skip
        assert clocks == {("T1", None, "2025-09-30", T1_FROM_RECEIPT, "2025-10-10"),
                          ("T1", "si_agency", "2025-10-10", T1_FROM_FRIDAY, None),
                          ("T2", None, "2025-09-30", T2_FROM_RECEIPT, None)}  # fmt: skip


def test_an_unseen_co_handling_clock_starts_again_when_the_lead_is_set(
    triage_app: Flask, on_day: Callable[[dt.date], None], bearer: dict[str, Headers]
) -> None:
    """A tip routed before this rule kept a co-handling T1 from receipt (2025-10-14); the
    bureau could not see the tip until its lead was set on Friday 2025-10-10, so its T1
    runs again from that day (2025-10-16), in place: still one clock."""
    on_day(RECEIVED)
    stored = triage_app.extensions["triage"].submitter.submit(
        Report(category="fake_employment_backpay", region="441500", unit_level="city",
               text="市直单位虚构劳动关系补缴。", channel="letter", received_on=RECEIVED),
        with_receipt=False,
    )  # fmt: skip
    route_waiting(triage_app)
    services = triage_app.extensions["triage"]
    with transaction(services.sessions) as session:
        old = session.get(Tip, stored.tip_id)
        assert old is not None and old.co_bureaus == ",procuratorate,"
        own = next(d for d in old.deadlines if d.rule == "T1")
        # As the post-submission job wrote it before: the procuratorate's clock from receipt.
        old.deadlines.append(Deadline(
            rule="T1", bureau="procuratorate", starts_on=RECEIVED, due_on=own.due_on,
            unit=own.unit, amount=own.amount, rule_pack=own.rule_pack, met_by=own.met_by,
            calendar_fallback=False, state="open",
        ))  # fmt: skip
    triage = triage_app.test_client()
    on_day(LEAD_ON_FRIDAY)
    confirmed = triage.post(
        f"/api/v1/tips/{stored.tip_id}/route",
        json={"bureau": "labor_inspection"},
        headers=bearer["desk_city"],
    )
    assert confirmed.status_code == 200, confirmed.get_json()
    found = triage.get(f"/api/v1/tips/{stored.tip_id}", headers=bearer["procurator_city"])
    assert found.status_code == 200
    assert sorted((d["rule"], d["bureau"] or "", d["starts_on"], d["due"])
                  for d in found.get_json()["deadlines"]) == [
        ("T1", "", "2025-09-30", T1_FROM_RECEIPT),
        ("T1", "procuratorate", "2025-10-10", T1_FROM_FRIDAY),
    ]  # fmt: skip
    # A second confirmation (the lead already set, the bureau has seen it) starts nothing.
    on_day(dt.date(2025, 10, 13))
    again = triage.post(
        f"/api/v1/tips/{stored.tip_id}/route",
        json={"bureau": "labor_inspection"},
        headers=bearer["desk_city"],
    )
    assert again.status_code == 200, again.get_json()
    after = triage.get(f"/api/v1/tips/{stored.tip_id}", headers=bearer["desk_city"]).get_json()
    assert [(d["bureau"], d["due"]) for d in after["deadlines"] if d["bureau"]] == [
        ("procuratorate", T1_FROM_FRIDAY)]  # fmt: skip


@pytest.fixture
def env(tmp_path: Path, database_url: str) -> dict[str, str]:
    return cli_environment(tmp_path / "instance", database_url)


def write_lines(path: Path, *items: dict[str, Any]) -> Path:
    path.write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items), "utf-8")
    return path


LETTER = {"channel": "letter", "received_on": RECEIVED.isoformat(), "region": "441500",
          "text": "来信举报。"}  # fmt: skip


def test_import_routing_cases(env: dict[str, str], database_url: str, tmp_path: Path) -> None:
    assert run_cli(env, "init").returncode == 0
    engine = make_engine(database_url)

    def count() -> int:
        with Session(engine) as session:
            return session.scalar(select(func.count()).select_from(Tip)) or 0

    # Finding 4: identity is checked by the shared validator, every line named, all or none.
    bad = write_lines(
        tmp_path / "bad.jsonl",
        {**LETTER, "category": "fake_docs", "identity": {**ID, "id_number": "110105194912310021"}},
        {**LETTER, "category": "fake_docs", "wants_notice": True},
        {**LETTER, "category": "fake_docs", "identity": {"name": "张三"}},
        {**LETTER, "category": "fake_docs", "unit_level": "village"},
        {**LETTER, "category": "fake_docs", "wants_notice": "yes", "identity": ID},
    )
    refused = run_cli(env, "tips", "import", str(bad))
    assert refused.returncode == 1
    for expected in ("line 1: id_number", "line 2: wants_notice", "line 3: identity: missing",
                     "line 4: unit_level", "line 5: 'wants_notice'"):  # fmt: skip
        assert expected in refused.stderr, (expected, refused.stderr)
    assert count() == 0

    good = write_lines(
        tmp_path / "good.jsonl",
        # A letter about one's own unpaid contributions: kept, as not accepted.
        {**LETTER, "category": "out_of_scope", "identity": ID, "wants_notice": True},
        # A phone call about a city-level unit's fake back-pay, from a named reporter who
        # asks to be told: 城区 labour inspection + the procuratorate, T1 twice and T2.
        {**LETTER, "channel": "phone", "category": "fake_employment_backpay",
         "unit_level": "city", "identity": ID, "wants_notice": True},
        # A visit about someone drawing a dead relative's pension, somewhere in 汕尾: the
        # city agency stops payment, the city labour inspection investigates.
        {**LETTER, "channel": "visit", "category": "benefit_impostor", "fund": "pension"},
        # An overpayment by the agency: recovered by it, the case ends with the department.
        {**LETTER, "category": "agency_overpayment", "region": "441502", "unit_level": "county"},
        # Maternity insurance of a city-level unit: healthcare security, not 城区.
        {**LETTER, "category": "fake_docs", "fund": "maternity", "unit_level": "city"},
    )  # fmt: skip
    imported = run_cli(env, "tips", "import", str(good))
    assert imported.returncode == 0, imported.stderr
    ids = imported.stdout.split()
    assert len(ids) == 5
    keyring = load_private_keyring(Path(env["TIPLINE_INSTANCE"]) / "keys",
                                   env["TIPLINE_KEY_PASSPHRASE"])  # fmt: skip
    with Session(engine) as session:
        tips = [session.get(Tip, tip_id) for tip_id in ids]
        assert all(t is not None and t.processed for t in tips)
        letter, phone, visit, overpaid, maternity = tips  # type: ignore[misc]

        def clocks(tip: Tip) -> set[tuple[str, str | None, str, str | None]]:
            rows = session.scalars(select(Deadline).where(Deadline.tip_id == tip.id))
            return {(d.rule, d.bureau, d.due_on.isoformat(),
                     d.met_on and d.met_on.isoformat()) for d in rows}  # fmt: skip

        assert (letter.status, letter.status_detail) == ("not_accepted", "out_of_scope")
        # Decided at intake, on the day it was received: T1 is met then; T2 stays open until
        # the written answer of 社保法 art.82 is given (domain.md T2: met by the notice).
        assert clocks(letter) == {("T1", None, T1_FROM_RECEIPT, "2025-09-30"),
                                  ("T2", None, T2_FROM_RECEIPT, None)}  # fmt: skip
        assert (phone.suggested_bureau, phone.co_bureaus, phone.handling_region,
                phone.unit_level) == (
            "labor_inspection", ",procuratorate,", "441502", "city")  # fmt: skip
        # The procuratorate's T1 waits for the lead to be set (it cannot see the tip before).
        assert clocks(phone) == {("T1", None, T1_FROM_RECEIPT, None),
                                 ("T2", None, T2_FROM_RECEIPT, None)}  # fmt: skip
        assert (visit.suggested_bureau, visit.co_bureaus, visit.handling_region) == (
            "si_agency", ",labor_inspection,", "441500")  # fmt: skip
        assert (overpaid.suggested_bureau, overpaid.co_bureaus) == ("si_agency", ",hrss_admin,")
        assert (maternity.suggested_bureau, maternity.handling_region) == (
            "healthcare_security", "441500")  # fmt: skip
        # The identity is sealed in its own envelope, as the portal's, and opens to the
        # private key only.
        identity = session.get(Identity, phone.id)
        assert identity is not None and identity.reporter_key is None
        assert "王小明".encode() not in identity.data
        key = keyring.unwrap(identity.key_envelope, tip_id=f"{phone.id}/identity")
        opened = json.loads(open_sealed(key, identity.data, tip_id=phone.id, purpose="identity"))
        assert opened == ID
    engine.dispose()
    shown = run_cli(env, "tips", "show", ids[1])
    assert shown.returncode == 0, shown.stderr
    assert "unit_level:   city" in shown.stdout and "co_bureaus:   procuratorate" in shown.stdout
