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


def test_the_parent_case_keeps_nothing_of_a_staff_referral(triage_app: Flask) -> None:
    """domain.md section 2: the holders and the agency that handed it over (whose staff are
    the usual suspects) read no trace of the staff matter on the parent case."""
    world = build(triage_app, received=dt.date(2025, 10, 20))
    case_id = _filed(world)
    before = [e.action for e in world.case(case_id).events]
    world.step(case_id, "refer_discipline", "inspector", at("2025-11-10 10:00"),
               findings="经办人员李某涉嫌内外勾结。")  # fmt: skip
    assert [e.action for e in world.case(case_id).events] == before
    for name in ("inspector", "agency", "desk"):
        page = world.client(name).get(f"/cases/{case_id}").get_data(as_text=True)
        assert "李某" not in page and "内外勾结" not in page, name


def test_times_out_of_range_and_other_offices_are_refused_in_words(triage_app: Flask) -> None:
    world = build(triage_app, received=dt.date(2025, 10, 20))
    case_id = _filed(world)
    from tipline.triage.cases import services

    now = dt.datetime.now(dt.UTC)
    for when, message in (("0001-01-01T00:00", "The time is too early."),
                          ("9999-12-31T23:59-12:00", "The time cannot be in the future.")):
        with pytest.raises(CaseError) as refused:  # not OverflowError: a message in words
            services._instant(when, now)
        assert refused.value.message == message
    # A referral reported by the team; a head named on the team may not approve it.
    world.step(case_id, "report_referral", "inspector", at("2025-11-10 10:00"),
               team=["wangfang", "liuyang"], reason="涉嫌诈骗。")  # fmt: skip
    error = _refused(world, case_id, "approve_referral", "head")
    assert "art.5" in error.message


def test_the_police_decision_meets_its_clock_on_the_day_it_was_made(triage_app: Flask) -> None:
    """T14 counts to the police's decision (令310 art.8); the notice's delay is T15's."""
    world = build(triage_app, received=dt.date(2025, 10, 20))
    case_id = _filed(world)
    for action, name, raw, when in (
        ("report_referral", "inspector", {"team": ["wangfang", "zhaolei"], "reason": "涉嫌。"},
         "2025-11-10 10:00"),
        ("approve_referral", "head", {}, "2025-11-10 11:00"),
        ("refer", "inspector", {"police_unit": "城区分局", "attachments": ALL_FIVE},
         "2025-11-10 15:00"),
        ("police_receive", "inspector", {}, "2025-11-10 16:00"),
        # Decided on the 13th (within 3 days), its notice arrived on the 20th.
        ("police_file", "inspector", {"decided_on": "2025-11-13"}, "2025-11-20 09:00"),
    ):  # fmt: skip
        world.step(case_id, action, name, at(when), **raw)
    clocks = {d.rule: d for d in world.case(case_id).deadlines}
    assert clocks["T14"].state == "met"
    assert clocks["T15"].state == "met_late"  # the notice: 3 days from the 13th


def test_a_template_that_reaches_outside_is_refused() -> None:
    import io
    import zipfile

    from tipline.triage.cases import documents

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document>{{ case_number }}</w:document>")
        archive.writestr("word/_rels/document.xml.rels",
                         '<Relationship Target="http://example.org/{{ subject_name }}" '
                         'TargetMode="External"/>')  # fmt: skip
    with pytest.raises(documents.DocumentError) as refused:
        documents.check_zip(buffer.getvalue())
    assert "outside" in refused.value.message
