"""The whole chain through the service functions, with the clocks checked against real
dates around the 2025 National Day holiday and the 2026 Spring Festival (domain.md section 3)."""

from __future__ import annotations

import datetime as dt

from flask import Flask

from tests.caseworld import at, build

ALL_FIVE = ["referral_letter", "investigation_report", "exhibit_list", "expert_report",
            "other_materials"]  # fmt: skip


def test_the_chain_from_tip_to_judgment(triage_app: Flask) -> None:
    world = build(triage_app, received=dt.date(2025, 9, 1))
    case_id = world.open_case(when=at("2025-09-10 09:00"))
    case = world.case(case_id)
    assert case.number == "城区社保立字〔2025〕第1号"
    assert [link.tip_id for link in case.tips] == world.tips
    t7 = {d.rule: d for d in case.deadlines}["T7"]
    assert t7.due_on == dt.date(2025, 12, 9)  # 90 calendar days, a Tuesday
    world.step(case_id, "record_recovery", "agency", at("2025-09-12 10:00"),
               measures="停发待遇并追回。", recovered="12000")
    world.step(case_id, "hand_over", "agency", at("2025-09-29 15:00"),
               to_bureau="labor_inspection", findings="冒领属实。", verified_loss="50000")
    # T5: the receipt the same day; signed the next morning it is late.
    world.step(case_id, "sign_receipt", "inspector", at("2025-09-30 09:00"))
    case = world.case(case_id)
    clocks = {d.rule: d for d in case.deadlines}
    assert clocks["T5"].state == "met_late"
    # T6: 5 working days from Tuesday 30 September: National Day (1-8 October) is off and
    # Saturday 11 October is a make-up working day: 9, 10, 11, 13, 14 October.
    assert clocks["T6"].due_on == dt.date(2025, 10, 14)
    world.step(case_id, "file", "inspector", at("2025-10-13 11:00"), findings="立案。")
    case = world.case(case_id)
    clocks = {d.rule: d for d in case.deadlines}
    assert clocks["T6"].state == "met" and clocks["T8"].due_on == dt.date(2026, 1, 12)
    assert case.criminal_suspected  # ¥50,000 reaches the pack's threshold
    world.step(case_id, "penalise", "inspector", at("2025-12-01 10:00"),
               penalty_kinds=["fine"], fine="100000", decided_on="2025-12-01")
    world.step(case_id, "report_referral", "inspector", at("2026-02-13 17:00"),
               team=["wangfang", "zhaolei"], reason="涉嫌诈骗罪。")
    world.step(case_id, "approve_referral", "head", at("2026-02-14 10:00"))
    clocks = {d.rule: d for d in world.case(case_id).deadlines}
    # T11: 24 hours, through the Spring Festival (15-23 February 2026).
    assert clocks["T11"].due_at is not None
    assert clocks["T11"].due_on == dt.date(2026, 2, 15)
    world.step(case_id, "refer", "inspector", at("2026-02-15 09:59"),
               police_unit="汕尾市公安局城区分局", attachments=ALL_FIVE)
    world.step(case_id, "police_receive", "inspector", at("2026-02-15 23:30"))
    world.step(case_id, "police_decline", "inspector", at("2026-02-18 10:00"),
               reason="不构成犯罪。", decided_on="2026-02-17")
    world.step(case_id, "ask_reconsideration", "inspector", at("2026-02-20 10:00"),
               reason="数额已达标准。")
    world.step(case_id, "reconsideration_refused", "inspector", at("2026-02-23 10:00"),
               decided_on="2026-02-23")
    world.step(case_id, "propose_supervision", "inspector", at("2026-02-25 10:00"),
               supervisor_body="procuratorate", reason="请求立案监督。")
    world.step(case_id, "filing_ordered", "inspector", at("2026-03-01 10:00"))
    world.step(case_id, "police_file", "inspector", at("2026-03-05 10:00"), decided_on="2026-03-04")
    world.step(case_id, "hand_exhibits", "inspector", at("2026-03-06 10:00"), measures="移交物证。")
    world.step(case_id, "sent_for_prosecution", "inspector", at("2026-04-01 10:00"))
    world.step(case_id, "prosecute", "inspector", at("2026-04-20 10:00"), decided_on="2026-04-20")
    world.step(case_id, "judgment", "inspector", at("2026-06-10 10:00"), decided_on="2026-06-10",
               sentence="有期徒刑一年，并处罚金。", court_fine=True)
    world.step(case_id, "close", "inspector", at("2026-06-15 10:00"), findings="结案。")
    case = world.case(case_id)
    assert case.stage == "closed"
    assert all(d.met_at is not None for d in case.deadlines)
    print(sorted((d.rule, d.state, str(d.due_on)) for d in case.deadlines))
