"""The lifecycle table and the shipped rule packs agree, and the law's guards refuse what
they must (domain.md section 5; 令310 art.5, art.11; 行政处罚法 art.35)."""

from __future__ import annotations

import datetime as dt

import pytest
from flask import Flask

from tests.caseworld import CaseWorld, at, build
from tipline.intake.rules import shipped_packs
from tipline.triage.cases import lifecycle
from tipline.triage.cases.services import CaseError

ALL_FIVE = [term.code for term in lifecycle.REFERRAL_ATTACHMENTS]


def test_every_clock_of_the_shipped_packs_starts_and_ends_on_a_step_that_exists() -> None:
    events = lifecycle.START_EVENTS | {"received"}
    # What meets a tip's clock: its decisions and notices (Deadline.met_by).
    tip_events = {"accepted", "not_accepted", "transferred_out", "notice_given", "closed"}
    for pack in shipped_packs():
        for rule in pack.deadlines:
            assert rule["from"] in events, (pack.label, rule)
            ends = tip_events if rule["from"] == "received" else set(lifecycle.BY_ACTION)
            assert set(rule["met_by"]) <= ends, (pack.label, rule)


def test_the_rules_of_section_3_that_apply_to_cases_are_all_data() -> None:
    national = next(pack for pack in shipped_packs() if pack.scope == "national")
    rules = {rule["rule"] for rule in national.deadlines}
    assert {f"T{n}" for n in range(3, 23) if n != 9} <= rules  # T9 is a limitation, not a clock
    t3 = next(rule for rule in national.deadlines if rule["rule"] == "T3")
    assert t3["enabled"] is False  # domain.md T3: not confirmed nationally


def _filed(world: CaseWorld, when: str = "2025-11-03 09:00", tips: list[str] | None = None) -> str:
    case_id = world.open_case(when=at("2025-11-03 08:00"), tips=tips)
    world.step(case_id, "hand_over", "agency", at(when), to_bureau="labor_inspection",
               findings="冒领属实。", verified_loss="50000")  # fmt: skip
    world.step(case_id, "sign_receipt", "inspector", at(when) + dt.timedelta(hours=1))
    world.step(case_id, "file", "inspector", at(when) + dt.timedelta(hours=2), findings="立案。")
    return case_id


def _refused(world: CaseWorld, case_id: str, action: str, name: str, **raw: object) -> CaseError:
    with pytest.raises(CaseError) as refused:
        world.step(case_id, action, name, at("2025-11-20 10:00"), **raw)
    return refused.value


def test_a_suspected_crime_cannot_be_closed_with_a_penalty(triage_app: Flask) -> None:
    world = build(triage_app, received=dt.date(2025, 10, 20))
    case_id = _filed(world)
    world.step(case_id, "penalise", "inspector", at("2025-11-10 10:00"),
               penalty_kinds=["fine"], fine="100000", decided_on="2025-11-10")  # fmt: skip
    error = _refused(world, case_id, "close", "inspector", findings="结案。")
    assert "以罚代刑" in error.message and "art.11" in error.message
    assert world.case(case_id).stage == "penalised"
    # The head may refuse the referral with reasons (令310 art.5); then it may close.
    world.step(case_id, "report_referral", "inspector", at("2025-11-20 11:00"),
               team="wangfang, zhaolei", reason="涉嫌诈骗。")  # fmt: skip
    world.step(case_id, "refuse_referral", "head", at("2025-11-21 11:00"), reason="未达追诉标准。")
    assert world.case(case_id).stage == "penalised"
    world.step(case_id, "close", "inspector", at("2025-11-22 11:00"), findings="结案。")
    assert world.case(case_id).stage == "closed"


def test_no_fine_after_the_courts_fine_when_none_came_before(triage_app: Flask) -> None:
    world = build(triage_app, received=dt.date(2025, 10, 20))
    case_id = _filed(world)
    for action, name, raw in (
        ("report_referral", "inspector", {"team": ["wangfang", "zhaolei"], "reason": "涉嫌诈骗。"}),
        ("approve_referral", "head", {}),
        ("refer", "inspector", {"police_unit": "汕尾市公安局城区分局", "attachments": ALL_FIVE}),
        ("police_receive", "inspector", {}),
        ("police_file", "inspector", {"decided_on": "2025-11-05"}),
        ("hand_exhibits", "inspector", {"measures": "移交。"}),
        ("sent_for_prosecution", "inspector", {}),
        ("prosecute", "inspector", {"decided_on": "2025-11-05"}),
        ("judgment", "inspector", {"decided_on": "2025-11-05", "sentence": "判处罚金。",
                                   "court_fine": True}),
    ):
        world.step(case_id, action, name, at("2025-11-05 10:00"), **raw)
    error = _refused(world, case_id, "penalise", "inspector", penalty_kinds=["fine"],
                     fine="1000", decided_on="2025-11-20")  # fmt: skip
    assert "art.35" in error.message
    # A warning is still open to it (only the fine is barred).
    world.step(case_id, "penalise", "inspector", at("2025-11-20 10:00"),
               penalty_kinds=["warning"], decided_on="2025-11-20")  # fmt: skip
    assert world.case(case_id).fine is None


def test_the_head_who_reported_a_referral_cannot_approve_it(triage_app: Flask) -> None:
    world = build(triage_app, received=dt.date(2025, 10, 20))
    case_id = _filed(world)
    world.step(case_id, "report_referral", "head", at("2025-11-10 10:00"),
               team=["liuyang", "wangfang"], reason="涉嫌诈骗。")  # fmt: skip
    error = _refused(world, case_id, "approve_referral", "head")
    assert "art.5" in error.message
    assert world.case(case_id).stage == "referral_reported"


def test_a_step_out_of_order_and_a_team_of_one_are_refused(triage_app: Flask) -> None:
    world = build(triage_app, received=dt.date(2025, 10, 20))
    case_id = world.open_case(when=at("2025-11-03 08:00"), tips=world.tips[:1])
    error = _refused(world, case_id, "refer", "agency", police_unit="公安局", attachments=ALL_FIVE)
    assert error.message == "This step cannot be taken at this stage of the case."
    case_id = _filed(world, tips=world.tips[1:])
    error = _refused(world, case_id, "report_referral", "inspector", team=["wangfang"],
                     reason="涉嫌诈骗。")  # fmt: skip
    assert "at least two" in error.message
    # Nothing half-written: the refused steps left no event.
    assert [e.action for e in world.case(case_id).events][-1] == "file"


def test_an_hour_clock_crosses_midnight(triage_app: Flask) -> None:
    world = build(triage_app, received=dt.date(2025, 10, 20))
    case_id = _filed(world)
    world.step(case_id, "report_referral", "inspector", at("2025-11-10 10:00"),
               team=["wangfang", "zhaolei"], reason="涉嫌诈骗。")  # fmt: skip
    world.step(case_id, "approve_referral", "head", at("2025-11-11 22:30"))
    t11 = {d.rule: d for d in world.case(case_id).deadlines}["T11"]
    assert t11.due_on == dt.date(2025, 11, 12)  # the local day of 22:30 the next day
    world.step(case_id, "refer", "inspector", at("2025-11-12 22:31"),
               police_unit="汕尾市公安局城区分局", attachments=ALL_FIVE)  # fmt: skip
    t11 = {d.rule: d for d in world.case(case_id).deadlines}["T11"]
    assert t11.state == "met_late"  # one minute past the 24 hours, on the same local day


def test_a_staff_matter_becomes_a_sealed_sub_case_for_discipline_inspection(
    triage_app: Flask,
) -> None:
    world = build(triage_app, received=dt.date(2025, 10, 20))
    case_id = _filed(world)
    world.step(case_id, "refer_discipline", "inspector", at("2025-11-10 10:00"),
               findings="经办人员涉嫌违规办理。")  # fmt: skip
    from sqlalchemy import select

    from tipline.intake.models import Case
    from tipline.triage import scope

    with world.services.sessions() as session:
        sub = session.scalar(select(Case).where(Case.parent_id == case_id))
        assert sub is not None and sub.sealed and sub.bureau == "discipline_inspection"
        assert sub.number.startswith("城区纪检立字〔2025〕")
        for name, sees in (("discipline", True), ("inspector", False), ("head", False),
                           ("desk", False), ("agency", False)):  # fmt: skip
            found = scope.find_visible_case(session, world.officer(name), sub.id)
            assert (found is not None) is sees, name
        assert scope.find_visible_case(session, world.officer("discipline"), case_id) is None
