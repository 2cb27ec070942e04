"""The cases area of the internal API (issue 10, "What must be shown"), on SQLite and
PostgreSQL: the whole chain from a tip to judgment driven as a bureau's own case system
would drive it, with every clock checked against dates counted by hand around the 2025
National Day and the 2026 Spring Festival and an hours clock across midnight; the law's
refusals in both languages; the scope; a calendar correction moving a running clock; the
Monday-Friday fallback said out loud."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import jsonschema
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from tests.caseworld import SUBJECT, USERNAMES, CaseWorld, at, build
from tests.conftest import csrf_token
from tipline.intake.db import transaction
from tipline.intake.models import AuditEvent, Case, CaseDocument
from tipline.triage import api
from tipline.triage.accounts import add_officer
from tipline.triage.cases import api as case_api
from tipline.triage.cases import lifecycle, services

ALL_FIVE = [t.code for t in lifecycle.REFERRAL_ATTACHMENTS]
Headers = dict[str, str]


class Api:
    """The world's officers as API callers, each with their own bearer token."""

    def __init__(self, world: CaseWorld) -> None:
        self.world = world
        self.client: FlaskClient = world.app.test_client()
        self.tokens: dict[str, str] = {}

    def headers(self, name: str, language: str = "zh") -> Headers:
        if name not in self.tokens:
            with transaction(self.world.services.sessions) as session:
                username = USERNAMES.get(name, name)
                self.tokens[name] = api.issue_token(session, username, actor="test")
        return {"Authorization": f"Bearer {self.tokens[name]}", "Accept-Language": language}

    def get(self, name: str, path: str, language: str = "zh") -> TestResponse:
        return self.client.get(f"/api/v1{path}", headers=self.headers(name, language))

    def post(self, name: str, path: str, body: Any, language: str = "zh") -> TestResponse:
        return self.client.post(f"/api/v1{path}", json=body, headers=self.headers(name, language))

    def step(self, name: str, case_id: str, action: str, language: str = "zh",
             **body: Any) -> TestResponse:  # fmt: skip
        return self.post(name, f"/cases/{case_id}/steps/{action}", body, language)

    def ok(self, name: str, case_id: str, action: str, **body: Any) -> dict[str, Any]:
        response = self.step(name, case_id, action, **body)
        assert response.status_code == 200, (action, response.get_json())
        found: dict[str, Any] = response.get_json()
        return found

    def case(self, name: str, case_id: str) -> dict[str, Any]:
        response = self.get(name, f"/cases/{case_id}")
        assert response.status_code == 200, response.get_json()
        found: dict[str, Any] = response.get_json()
        return found


def iso(text: str) -> str:
    """A China-time instant as the API writes it."""
    return at(text).isoformat()


def clocks(answer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The case's clocks by rule; a rule started twice (T15, T5) is its latest."""
    return {c["rule"]: c for c in answer["clocks"]}


def problem(response: TestResponse) -> dict[str, str]:
    [found] = response.get_json()["problems"]
    return dict(found)


def new_officer(world: CaseWorld, name: str, role: str, bureau: str, region: str) -> None:
    with transaction(world.services.sessions) as session:
        add_officer(session, name, "a long test password", role=role, bureau=bureau,
                    region=region, requested_by="test", approved_by="test")  # fmt: skip


def document(world: CaseWorld) -> dict[str, Any]:
    found: dict[str, Any] = world.app.test_client().get(
        "/api/v1/openapi.json", headers=Api(world).headers("desk")
    ).get_json()
    return found


def conforms(doc: dict[str, Any], body: Any, schema: str) -> None:
    jsonschema.validate(body, {"$ref": f"#/components/schemas/{schema}",
                               "components": doc["components"]})  # fmt: skip


# The whole chain.


def test_the_chain_from_tip_to_judgment_through_the_api(triage_app: Flask) -> None:
    world = build(triage_app, received=dt.date(2025, 9, 1))
    calls = Api(world)
    opened = calls.post("agency", "/cases", {
        "tips": list(reversed(world.tips)), "findings": "核查发现冒领养老金。",
        "subject": {"kind": SUBJECT.kind, "name": SUBJECT.name, "identifier": SUBJECT.identifier,
                    "period_from": "2024-01-01", "period_to": "2025-06-30"},
        "at": "2025-09-10T09:00:00+08:00",
    })  # fmt: skip
    assert opened.status_code == 201, opened.get_json()
    case_id = opened.get_json()["id"]
    assert opened.get_json()["number"] == "城区社保立字〔2025〕第1号"
    # T7 runs from the opening: 10 September + 90 calendar days = 9 December 2025 (a
    # Tuesday, a working day: nothing to roll).
    assert clocks(opened.get_json())["T7"]["due_on"] == "2025-12-09"
    calls.ok("agency", case_id, "record_recovery", measures="停发待遇并追回。", recovered=12000,
             at="2025-09-12T10:00:00+08:00")  # fmt: skip
    handed = calls.ok("agency", case_id, "hand_over", to_bureau="labor_inspection",
                      findings="冒领属实。", verified_loss=50000.5,
                      at="2025-09-26T14:00:00+08:00")  # fmt: skip
    # T5, same day: the receipt is due on Friday 26 September itself.
    assert clocks(handed)["T5"]["due_on"] == "2025-09-26"
    assert handed["bureau"] == "labor_inspection" and handed["verified_loss"] == 50000.5
    received = calls.ok("inspector", case_id, "sign_receipt", at="2025-09-26T16:00:00+08:00")
    assert clocks(received)["T5"]["state"] == "met"
    # T6, 5 working days from Friday 26 September (the day itself not counted): Saturday
    # 27 off; Sunday 28 a make-up working day (1); Monday 29 (2); Tuesday 30 (3); 1-8 October
    # National Day off; Thursday 9 (4); Friday 10 (5): due 10 October 2025.
    assert clocks(received)["T6"]["due_on"] == "2025-10-10"
    assert clocks(received)["T6"]["calendar_fallback"] is False
    filed = calls.ok("inspector", case_id, "file", findings="立案调查。",
                     at="2025-10-09T10:00:00+08:00")  # fmt: skip
    assert clocks(filed)["T6"]["state"] == "met"
    # T8, 90 calendar days from 9 October: 22 more in October, 30 in November, 31 in
    # December = 83 by 31 December, 7 in January: Wednesday 7 January 2026, a working day.
    assert clocks(filed)["T8"]["due_on"] == "2026-01-07"
    penalised = calls.ok("inspector", case_id, "penalise", penalty_kinds=["fine"], fine=100000,
                         decided_on="2025-12-01", at="2025-12-01T10:00:00+08:00")  # fmt: skip
    assert clocks(penalised)["T8"]["state"] == "met" and penalised["fine"] == 100000
    reported = calls.ok("inspector", case_id, "report_referral", team=["wangfang", "zhaolei"],
                        reason="涉嫌诈骗罪。", at="2026-02-13T17:00:00+08:00")  # fmt: skip
    # T10, 3 calendar days from Friday 13 February 2026: Monday 16, inside the Spring
    # Festival (15-23 February off), so it rolls to the next working day: Tuesday 24.
    assert clocks(reported)["T10"]["due_on"] == "2026-02-24"
    # The head approves on the make-up Saturday (14 February) late in the evening; an
    # irreversible step without "confirm" is refused first, and nothing changes.
    unconfirmed = calls.step("head", case_id, "approve_referral", at="2026-02-14T22:30:00+08:00")
    assert unconfirmed.status_code == 422 and problem(unconfirmed)["code"] == "confirm"
    approved = calls.ok("head", case_id, "approve_referral", confirm=True,
                        at="2026-02-14T22:30:00+08:00")  # fmt: skip
    assert clocks(approved)["T10"]["state"] == "met"
    # T11, 24 hours from 22:30 on 14 February, across midnight and into the holiday: due
    # 22:30 on Sunday 15 February (hours run through nights and holidays).
    t11 = clocks(approved)["T11"]
    assert t11["unit"] == "hours" and t11["due_at"] == iso("2026-02-15 22:30")
    assert t11["due_on"] == "2026-02-15" and t11["calendar_fallback"] is False
    referred = calls.ok("inspector", case_id, "refer", police_unit="汕尾市公安局城区分局",
                        attachments=ALL_FIVE, confirm=True,
                        at="2026-02-14T23:50:00+08:00")  # fmt: skip
    assert clocks(referred)["T11"]["state"] == "met"
    assert clocks(referred)["T11"]["met_at"] == iso("2026-02-14 23:50")
    received_by_police = calls.ok("inspector", case_id, "police_receive",
                                  at="2026-02-16T10:00:00+08:00")  # fmt: skip
    # T14, 3 calendar days from Monday 16 February: Thursday 19, a holiday; 20-23 are too;
    # the first working day is Tuesday 24 February.
    assert clocks(received_by_police)["T14"]["due_on"] == "2026-02-24"
    declined = calls.ok("inspector", case_id, "police_decline", reason="认为不构成犯罪。",
                        decided_on="2026-02-24", at="2026-02-24T10:00:00+08:00")  # fmt: skip
    declined_clocks = clocks(declined)
    assert declined_clocks["T14"]["state"] == "met"
    # T15 runs from the police's decision (24 February) and the notice met it at once.
    assert declined_clocks["T15"]["state"] == "met"
    # T16, 3 calendar days from Tuesday 24 February: Friday 27, a working day.
    assert declined_clocks["T16"]["due_on"] == "2026-02-27"
    asked = calls.ok("inspector", case_id, "ask_reconsideration", reason="数额已达追诉标准。",
                     at="2026-02-26T10:00:00+08:00")  # fmt: skip
    # T17, 3 calendar days from Thursday 26 February: Sunday 1 March, a rest day: Monday 2.
    assert clocks(asked)["T16"]["state"] == "met"
    assert clocks(asked)["T17"]["due_on"] == "2026-03-02"
    refused = calls.ok("inspector", case_id, "reconsideration_refused", decided_on="2026-02-28",
                       at="2026-02-28T10:00:00+08:00")  # fmt: skip
    # Saturday 28 February is a make-up working day. T18, 3 calendar days: Tuesday 3 March.
    assert clocks(refused)["T17"]["state"] == "met"
    assert clocks(refused)["T18"]["due_on"] == "2026-03-03"
    proposed = calls.ok("inspector", case_id, "propose_supervision",
                        supervisor_body="procuratorate", reason="请求立案监督。",
                        at="2026-03-02T10:00:00+08:00")  # fmt: skip
    # T19, 7 calendar days from Monday 2 March: Monday 9 March.
    assert clocks(proposed)["T18"]["state"] == "met"
    assert clocks(proposed)["T19"]["due_on"] == "2026-03-09"
    ordered = calls.ok("inspector", case_id, "filing_ordered", at="2026-03-06T10:00:00+08:00")
    # T19b, 15 calendar days from Friday 6 March: Saturday 21 March, a rest day: Monday 23.
    assert clocks(ordered)["T19"]["state"] == "met"
    assert clocks(ordered)["T19b"]["due_on"] == "2026-03-23"
    police_filed = calls.ok("inspector", case_id, "police_file", decided_on="2026-03-09",
                            at="2026-03-10T10:00:00+08:00")  # fmt: skip
    # T20, 3 calendar days from Tuesday 10 March: Friday 13 March.
    assert clocks(police_filed)["T19b"]["state"] == "met"
    assert clocks(police_filed)["T20"]["due_on"] == "2026-03-13"
    handed_exhibits = calls.ok("inspector", case_id, "hand_exhibits", measures="移交涉案物品。",
                               at="2026-03-12T10:00:00+08:00")  # fmt: skip
    assert clocks(handed_exhibits)["T20"]["state"] == "met"
    sent = calls.ok("inspector", case_id, "sent_for_prosecution", at="2026-03-20T10:00:00+08:00")
    # T21, one month from 20 March: Monday 20 April, a working day.
    assert clocks(sent)["T21"]["due_on"] == "2026-04-20"
    prosecuted = calls.ok("inspector", case_id, "prosecute", decided_on="2026-04-16",
                          at="2026-04-16T10:00:00+08:00")  # fmt: skip
    # T22, two months from 16 April: Tuesday 16 June, a working day.
    assert clocks(prosecuted)["T21"]["state"] == "met"
    assert clocks(prosecuted)["T22"]["due_on"] == "2026-06-16"
    judged = calls.ok("inspector", case_id, "judgment", decided_on="2026-06-10",
                      sentence="有期徒刑一年，并处罚金。", court_fine=True,
                      at="2026-06-10T10:00:00+08:00")  # fmt: skip
    assert clocks(judged)["T22"]["state"] == "met" and judged["court_fine"] is True
    closed = calls.ok("inspector", case_id, "close", findings="结案。", confirm=True,
                      at="2026-06-15T10:00:00+08:00")  # fmt: skip
    assert closed["stage"] == "closed" and closed["next_steps"] == []
    # Every clock of the chain was met in time.
    assert {c["rule"]: c["state"] for c in closed["clocks"]} == {
        rule: "met" for rule in ("T5", "T6", "T7", "T8", "T10", "T11", "T14", "T15", "T16",
                                 "T17", "T18", "T19", "T19b", "T20", "T21", "T22")
    }  # fmt: skip

    # The case as its page shows it: the first reporter first, whatever order was sent.
    read = calls.case("head", case_id)
    assert read["tips"] == world.tips
    assert read["subject"]["name"] == SUBJECT.name and read["findings"] == "核查发现冒领养老金。"
    assert read["recovered"] == 12000 and read["verified_loss"] == 50000.5
    events = read["events"]
    assert [e["action"] for e in events] == [
        "open", "record_recovery", "hand_over", "sign_receipt", "file", "penalise",
        "report_referral", "approve_referral", "refer", "police_receive", "police_decline",
        "ask_reconsideration", "reconsideration_refused", "propose_supervision",
        "filing_ordered", "police_file", "hand_exhibits", "sent_for_prosecution", "prosecute",
        "judgment", "close",
    ]  # fmt: skip
    by_action = {e["action"]: e for e in events}
    assert by_action["approve_referral"]["actor"] == USERNAMES["head"]
    assert by_action["approve_referral"]["at"] == "2026-02-14T22:30:00+08:00"
    assert by_action["refer"]["data"]["police_unit"] == "汕尾市公安局城区分局"
    assert by_action["refer"]["documents"] == ["referral_letter", "referral_receipt",
                                                "materials_list"]  # fmt: skip
    conforms(document(world), read, "CaseDetail")
    with world.services.sessions() as session:
        reads = session.scalars(select(AuditEvent).where(AuditEvent.action == "case.read")).all()
        assert [json.loads(r.detail)["case"] for r in reads] == [case_id]
        assert reads[0].actor == USERNAMES["head"]


def _to_referral_approved(world: CaseWorld, case_id: str, approved: dt.datetime) -> None:
    world.step(case_id, "hand_over", "agency", approved - dt.timedelta(days=5),
               to_bureau="labor_inspection", findings="冒领属实。")  # fmt: skip
    world.step(case_id, "sign_receipt", "inspector", approved - dt.timedelta(days=5))
    world.step(case_id, "file", "inspector", approved - dt.timedelta(days=4), findings="立案。")
    world.step(case_id, "report_referral", "inspector", approved - dt.timedelta(days=1),
               team=["wangfang", "zhaolei"], reason="涉嫌诈骗罪。")  # fmt: skip
    world.step(case_id, "approve_referral", "head", approved)


def test_an_hours_clock_referred_a_minute_late_is_met_late(triage_app: Flask) -> None:
    world = build(triage_app, received=dt.date(2026, 3, 1), count=1)
    calls = Api(world)
    case_id = world.open_case(when=at("2026-03-02 09:00"))
    _to_referral_approved(world, case_id, at("2026-03-10 22:30"))
    # Approved at 22:30 on Tuesday 10 March: due 22:30 on Wednesday 11 March. Referred at
    # 22:31 on the 11th, the right day but past the hour: late.
    t11 = clocks(calls.case("inspector", case_id))["T11"]
    assert t11["due_at"] == iso("2026-03-11 22:30") and t11["state"] == "open"
    referred = calls.ok("inspector", case_id, "refer", police_unit="汕尾市公安局城区分局",
                        attachments=ALL_FIVE, confirm=True,
                        at="2026-03-11T22:31:00+08:00")  # fmt: skip
    assert clocks(referred)["T11"]["state"] == "met_late"
    assert clocks(referred)["T11"]["met_at"] == iso("2026-03-11 22:31")


# Refusals, each with its message in the officer's language and a code that does not change.

MESSAGES = {
    "penalty_for_referral": ("以罚代刑", "A suspected crime must be referred to the police"),
    "fine_after_court_fine": ("罚金", "The court has imposed a fine (罚金)"),
    "own_referral": ("负责人", "A referral must be approved by a head who did not report it"),
    "wrong_stage": ("阶段", "This step cannot be taken at this stage of the case."),
}


def refused(calls: Api, name: str, case_id: str, action: str, code: str, **body: Any) -> None:
    """Refused with 409 and ``code``, in Chinese and in English, and nothing changed."""
    before = calls.case(name, case_id)
    said = {}
    for language, words in zip(("zh", "en"), MESSAGES[code], strict=True):
        response = calls.step(name, case_id, action, language, **body)
        assert response.status_code == 409, response.get_json()
        found = problem(response)
        assert found["code"] == code and words in found["message"], found
        said[language] = found["message"]
    assert said["zh"] != said["en"]  # translated, not the English shown to a Chinese officer
    after = calls.case(name, case_id)
    assert (after["stage"], len(after["events"])) == (before["stage"], len(before["events"]))


def test_the_laws_refusals_through_the_api(triage_app: Flask) -> None:
    world = build(triage_app, received=dt.date(2026, 3, 1), count=2)
    calls = Api(world)
    first = world.open_case(when=at("2026-03-02 09:00"), tips=[world.tips[0]])
    # ¥50,000 verified: a suspected crime (诈骗罪 数额较大, the pack's threshold).
    world.step(first, "hand_over", "agency", at("2026-03-03 10:00"), to_bureau="labor_inspection",
               findings="冒领属实。", verified_loss="50000")  # fmt: skip
    world.step(first, "sign_receipt", "inspector", at("2026-03-03 11:00"))
    world.step(first, "file", "inspector", at("2026-03-04 10:00"), findings="立案。")
    world.step(first, "penalise", "inspector", at("2026-03-05 10:00"), penalty_kinds=["warning"],
               decided_on="2026-03-05")  # fmt: skip
    assert calls.case("inspector", first)["criminal_suspected"] is True
    # 以罚代刑 (令310 art.11): the case cannot close on the penalty while the crime is not
    # referred; the page draws no close button (next_steps leaves it out).
    assert "close" not in [s["action"] for s in calls.case("inspector", first)["next_steps"]]
    refused(calls, "inspector", first, "close", "penalty_for_referral", findings="结案。",
            confirm=True)  # fmt: skip
    # A transition out of order: no referral to the police before the head approved it.
    refused(calls, "inspector", first, "refer", "wrong_stage", police_unit="公安局",
            attachments=ALL_FIVE, confirm=True)  # fmt: skip
    # The head reports the referral; approving it is for another head (令310 art.5).
    world.step(first, "report_referral", "head", at("2026-03-06 10:00"),
               team=["liuyang", "wangfang"], reason="涉嫌诈骗罪。")  # fmt: skip
    refused(calls, "head", first, "approve_referral", "own_referral", confirm=True)

    # A fine after the court's 罚金, with no fine before it (行政处罚法 art.35¶2).
    second = world.open_case(when=at("2026-03-02 09:00"), tips=[world.tips[1]])
    _to_referral_approved(world, second, at("2026-03-10 10:00"))
    for action, name, when, raw in (
        ("refer", "inspector", "2026-03-10 12:00",
         {"police_unit": "汕尾市公安局城区分局", "attachments": ALL_FIVE}),
        ("police_receive", "inspector", "2026-03-10 15:00", {}),
        ("police_file", "inspector", "2026-03-11 10:00", {"decided_on": "2026-03-11"}),
        ("hand_exhibits", "inspector", "2026-03-12 10:00", {"measures": "移交物证。"}),
        ("sent_for_prosecution", "inspector", "2026-03-20 10:00", {}),
        ("prosecute", "inspector", "2026-04-10 10:00", {"decided_on": "2026-04-10"}),
        ("judgment", "inspector", "2026-05-10 10:00",
         {"decided_on": "2026-05-10", "sentence": "有期徒刑一年，并处罚金。", "court_fine": True}),
    ):  # fmt: skip
        world.step(second, action, name, at(when), **raw)
    refused(calls, "inspector", second, "penalise", "fine_after_court_fine",
            penalty_kinds=["fine"], fine=5000, decided_on="2026-05-20")  # fmt: skip
    # A warning still may be given (art.11¶2 keeps it running): the refusal is the fine's.
    warned = calls.ok("inspector", second, "penalise", penalty_kinds=["warning"],
                      decided_on="2026-05-20", at="2026-05-20T10:00:00+08:00")  # fmt: skip
    assert warned["stage"] == "penalised" and warned["fine"] is None


def test_bad_step_bodies_name_the_field(triage_app: Flask) -> None:
    world = build(triage_app, received=dt.date(2026, 3, 1), count=1)
    calls = Api(world)
    case_id = world.open_case(when=at("2026-03-02 09:00"))
    assert calls.step("agency", case_id, "no_such_step").status_code == 404
    missing = calls.step("agency", case_id, "hand_over", "en", to_bureau="labor_inspection")
    assert missing.status_code == 422
    assert problem(missing) == {"field": "findings", "code": "missing",
                                "message": "Please fill in: the findings."}  # fmt: skip
    early = calls.step("agency", case_id, "sign_receipt", "en", reason="x")
    assert early.status_code == 409  # the stage refuses before the body is read
    not_taken = calls.step("agency", case_id, "record_recovery", "en", measures="追回。",
                           police_unit="公安局")  # fmt: skip
    assert not_taken.status_code == 422 and problem(not_taken)["code"] == "unknown"
    future = calls.step("agency", case_id, "record_recovery", measures="追回。",
                        at="2999-01-01T00:00:00+08:00")  # fmt: skip
    assert future.status_code == 422 and problem(future)["field"] == "at"
    typed = calls.step("agency", case_id, "record_recovery", measures=3)
    assert typed.status_code == 400
    assert {(p["field"], p["code"]) for p in typed.get_json()["problems"]} == {("measures", "type")}
    with world.services.sessions() as session:
        case = session.get(Case, case_id)
        assert case is not None and case.recovered == 0 and len(case.events) == 1


# Scoping: as the pages, in the list, its count, the detail, the steps and the board.


def test_a_case_is_seen_only_within_its_bureau_and_jurisdiction(triage_app: Flask) -> None:
    world = build(triage_app, received=dt.date(2025, 9, 1), count=1)
    new_officer(world, "elsewhere_head", "supervisor", "labor_inspection", "441581")
    new_officer(world, "discipline_head", "supervisor", "discipline_inspection", "441502")
    calls = Api(world)
    case_id = world.open_case(when=at("2025-09-10 09:00"))
    world.step(case_id, "hand_over", "agency", at("2025-09-11 10:00"),
               to_bureau="labor_inspection", findings="冒领属实。")  # fmt: skip
    # T7 (no recovery measures for 90 days, due 9 December 2025) is overdue today.
    seeing = ("desk", "agency", "agency_head", "inspector", "head")
    blind = ("elsewhere", "elsewhere_head", "medical", "discipline", "discipline_head")
    for name in seeing:
        listed = calls.get(name, "/cases").get_json()
        assert [c["id"] for c in listed["cases"]] == [case_id] and listed["total"] == 1, name
        assert calls.get(name, f"/cases/{case_id}").status_code == 200
    for name in blind:
        assert calls.get(name, "/cases").get_json() == {"cases": [], "total": 0}, name
        assert calls.get(name, f"/cases/{case_id}").status_code == 404, name
        acted = calls.step(name, case_id, "file", findings="立案。")
        assert acted.status_code == 404, name
        assert calls.get(name, f"/cases/{case_id}/documents/1.pdf").status_code == 404, name
    # On the board: T5 (the receipt, due the day of the handover, 11 September 2025) and T7
    # (no recovery measures, due 9 December 2025), both long overdue.
    overdue = [(case_id, "T5"), (case_id, "T7")]
    for name in seeing:
        board = calls.get(name, "/board").get_json()
        assert [(i["case"]["id"], i["clock"]["rule"]) for i in board["overdue"]] == overdue, name
    conforms(document(world), board, "Board")
    for name in seeing:
        # T7 overdue and no 挂牌督办 yet: the board suggests it (domain.md T7).
        board = calls.get(name, "/board").get_json()
        assert [c["id"] for c in board["suggest_supervision"]] == [case_id], name
        assert board["counts"] == {"overdue": 2, "due_soon": 0, "supervised": 0,
                                   "suggest_supervision": 1}, name  # fmt: skip
    for name in blind:
        assert calls.get(name, "/board").get_json() == {
            "overdue": [], "due_soon": [], "supervised": [], "suggest_supervision": [],
            "counts": {"overdue": 0, "due_soon": 0, "supervised": 0, "suggest_supervision": 0},
        }, name  # fmt: skip

    # A staff matter: the sealed sub-case is for discipline inspection alone.
    sub = calls.ok("inspector", case_id, "refer_discipline", findings="经办人员涉嫌违规办理。",
                   confirm=True)  # fmt: skip
    assert sub["id"] == case_id
    listed = calls.get("discipline", "/cases").get_json()
    assert listed["total"] == 1
    [sub_case] = listed["cases"]
    assert sub_case["sealed"] is True and sub_case["parent"] == case_id
    assert sub_case["bureau"] == "discipline_inspection"
    assert calls.get("discipline", f"/cases/{sub_case['id']}").status_code == 200
    # The sub-case is at verifying; the parent was handed over: counted per stage, the
    # parent's officers have no case at verifying, discipline inspection has one.
    for name in seeing:
        assert calls.get(name, "/cases").get_json()["total"] == 1, name
        assert calls.get(name, f"/cases/{sub_case['id']}").status_code == 404, name
        assert calls.get(name, "/cases?stage=verifying").get_json()["total"] == 0, name
        assert calls.get(name, "/cases?stage=handed_over").get_json()["total"] == 1, name
    assert calls.get("discipline", "/cases?stage=verifying").get_json()["total"] == 1
    assert calls.get("discipline_head", "/cases").get_json()["total"] == 1
    assert calls.get("elsewhere", "/cases").get_json()["total"] == 0


def test_tips_outside_scope_cannot_open_or_join_a_case(triage_app: Flask) -> None:
    world = build(triage_app, received=dt.date(2026, 3, 1), count=2)
    calls = Api(world)
    body = {"tips": [world.tips[0]], "findings": "核查。",
            "subject": {"kind": "unit", "name": SUBJECT.name}}  # fmt: skip
    # Medical insurance cannot see the agency's tips: said as for a tip that does not exist.
    hidden = calls.post("medical", "/cases", body, "en")
    assert hidden.status_code == 422 and problem(hidden)["field"] == "tips"
    # Labour inspection co-handles them (the agency stops payment first) but the case is
    # the agency's to open (domain.md section 2).
    co_handler = calls.post("inspector", "/cases", body, "en")
    assert co_handler.status_code == 409 and problem(co_handler)["code"] == "not_responsible"
    # The intake desk sees them but does not open cases: its role may not (as the page).
    desk = calls.post("desk", "/cases", body, "en")
    assert desk.status_code == 403
    bad_code = calls.post("agency", "/cases", {**body, "subject": {
        "kind": "unit", "name": SUBJECT.name, "identifier": "91110000600037341X"}}, "en")
    assert bad_code.status_code == 422
    assert problem(bad_code)["field"] == "subject.identifier"
    made = calls.post("agency", "/cases", body)
    assert made.status_code == 201
    case_id = made.get_json()["id"]
    again = calls.post("agency", "/cases", body, "en")
    assert again.status_code == 409 and problem(again)["code"] == "tip_not_accepted"  # in a case
    assert calls.post("inspector", f"/cases/{case_id}/tips",
                      {"tip": world.tips[1]}).status_code == 404  # fmt: skip
    joined = calls.post("agency", f"/cases/{case_id}/tips", {"tip": world.tips[1]})
    assert joined.status_code == 200, joined.get_json()
    assert calls.case("agency", case_id)["tips"] == world.tips


# Clocks and the calendar.


def test_a_calendar_correction_moves_a_running_case_clock(triage_app: Flask) -> None:
    world = build(triage_app, received=dt.date(2025, 9, 1), count=1)
    calls = Api(world)
    case_id = world.open_case(when=at("2025-09-10 09:00"))
    world.step(case_id, "hand_over", "agency", at("2025-09-26 14:00"),
               to_bureau="labor_inspection", findings="冒领属实。")  # fmt: skip
    world.step(case_id, "sign_receipt", "inspector", at("2025-09-26 16:00"))
    # T6 as counted in the chain above: due Friday 10 October 2025.
    assert clocks(calls.case("inspector", case_id))["T6"]["due_on"] == "2025-10-10"
    admin = world.client("admin")
    corrected = admin.post("/admin/calendar", data={
        "csrf_token": csrf_token(admin, "/admin/calendar"), "day": "2025-10-09",
        "workday": "no", "note": "本地调整",
    })  # fmt: skip
    assert corrected.status_code == 302
    # Thursday 9 October off: 28 Sep (1), 29 (2), 30 (3), 10 Oct (4), Saturday 11 October,
    # a make-up working day (5): due 11 October.
    assert clocks(calls.case("inspector", case_id))["T6"]["due_on"] == "2025-10-11"


def test_a_clock_counted_through_2027_says_it_rests_on_the_fallback(triage_app: Flask) -> None:
    world = build(triage_app, received=dt.date(2026, 11, 20), count=1)
    calls = Api(world)
    made = calls.post("agency", "/cases", {
        "tips": world.tips, "findings": "核查。", "subject": {"kind": "unit", "name": SUBJECT.name},
        "at": "2026-12-01T09:00:00+08:00",
    })  # fmt: skip
    assert made.status_code == 201
    # T7: 1 December 2026 + 90 days = Monday 1 March 2027; chinesecalendar does not know
    # 2027, so whether it is a working day is the Monday-Friday guess.
    t7 = clocks(made.get_json())["T7"]
    assert t7["due_on"] == "2027-03-01" and t7["calendar_fallback"] is True
    # T6 of a handover on 2026-12-01 stays inside 2026: no fallback.
    handed = calls.ok("agency", made.get_json()["id"], "hand_over", to_bureau="labor_inspection",
                      findings="冒领属实。", at="2026-12-01T10:00:00+08:00")  # fmt: skip
    assert clocks(handed)["T5"]["calendar_fallback"] is False


# The table and the document.


def test_the_document_names_the_lifecycles_codes(triage_app: Flask) -> None:
    world = build(triage_app, count=1)
    doc = document(world)
    step = doc["paths"]["/cases/{case_id}/steps/{action}"]["post"]
    [action] = [p for p in step["parameters"] if p["name"] == "action"]
    assert set(action["schema"]["enum"]) == set(lifecycle.BY_ACTION)
    body = step["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert set(body) == set(lifecycle.FIELDS) | {"confirm"}
    schemas = doc["components"]["schemas"]
    assert set(schemas["CaseSummary"]["properties"]["stage"]["enum"]) == lifecycle.STAGE_CODES
    assert set(body["to_bureau"]["enum"]) == set(services.HANDOVER_TO)
    # Every refusal the API names by a code is a message the services really raise.
    import inspect

    source = " ".join(inspect.getsource(services).split())
    for message in [*case_api.CONFLICTS, *case_api.INPUT_CODES, *case_api.MESSAGE_FIELDS]:
        assert message in source.replace('" "', ""), message


# Documents: listed with the case, downloaded through the documents work (documents.py).


def test_documents_are_listed_with_links_and_hidden_outside_scope(triage_app: Flask) -> None:
    world = build(triage_app, received=dt.date(2026, 3, 1), count=1)
    calls = Api(world)
    case_id = world.open_case(when=at("2026-03-02 09:00"))
    with transaction(world.services.sessions) as session:
        # A document row as the documents work stores one (the bytes are its business).
        # Instants are stored in UTC (SQLite keeps no offset).
        made_at = at("2026-03-03 10:00").astimezone(dt.UTC)
        session.add(CaseDocument(case_id=case_id, kind="handover_letter", made_at=made_at,
                                 template="builtin", docx=b"sealed"))  # fmt: skip
    [listed] = calls.case("agency", case_id)["documents"]
    doc_id = listed["id"]
    assert listed == {
        "id": doc_id, "kind": "handover_letter", "made_at": "2026-03-03T10:00:00+08:00",
        "links": {"docx": f"/api/v1/cases/{case_id}/documents/{doc_id}.docx",
                  "pdf": f"/api/v1/cases/{case_id}/documents/{doc_id}.pdf"},
    }  # fmt: skip
    for name in ("elsewhere", "medical", "discipline"):
        for fmt in ("docx", "pdf"):
            outside = calls.get(name, f"/cases/{case_id}/documents/{doc_id}.{fmt}")
            assert outside.status_code == 404, (name, fmt)
    assert calls.get("agency", f"/cases/{case_id}/documents/{doc_id}.odt").status_code == 404


def test_a_generated_document_downloads_in_both_formats(triage_app: Flask) -> None:
    world = build(triage_app, received=dt.date(2026, 3, 1), count=1)
    calls = Api(world)
    case_id = world.open_case(when=at("2026-03-02 09:00"))
    calls.ok("agency", case_id, "hand_over", to_bureau="labor_inspection", findings="冒领属实。",
             at="2026-03-03T10:00:00+08:00")  # fmt: skip
    made = calls.case("inspector", case_id)["documents"]
    if not made:
        pytest.skip("the handover letter is generated by the documents work (i10-docs)")
    media = {"docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
             "pdf": "application/pdf"}  # fmt: skip
    for fmt, link in made[0]["links"].items():
        got = calls.client.get(link, headers=calls.headers("inspector"))
        assert got.status_code == 200 and got.mimetype == media[fmt], (fmt, got.status_code)
        assert calls.client.get(link, headers=calls.headers("elsewhere")).status_code == 404
