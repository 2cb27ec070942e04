"""The supervisor's board (issue 10, "Clocks"): what is due soon, overdue and under 挂牌督办
for the viewer, with the inbox's scoping: another bureau's case, another district's and a
discipline sub-case are absent from the lists and the counts; hour clocks by the instant;
an overdue T7 suggests the head's personal supervision (domain.md T7)."""

from __future__ import annotations

import datetime as dt

from flask import Flask
from sqlalchemy import select

from tests.caseworld import OTHER_REGION, REGION, CaseWorld, at, build
from tests.conftest import make_enrolled
from tipline.intake.db import transaction
from tipline.intake.jobs import process_new_tips
from tipline.intake.models import Case, Officer, Tip
from tipline.intake.queue import InlineQueue
from tipline.intake.reading import open_tip
from tipline.intake.submit import Report
from tipline.intake.workdays import load_calendar
from tipline.triage.cases import services
from tipline.triage.cases.board import Board, board
from tipline.triage.tips import decisions

ALL_FIVE = ["referral_letter", "investigation_report", "exhibit_list", "expert_report",
            "other_materials"]  # fmt: skip


def board_of(world: CaseWorld, name: str, today: dt.date, now: dt.datetime | None = None,
             *, username: str | None = None) -> Board:  # fmt: skip
    with world.services.sessions() as session:
        viewer = session.scalar(
            select(Officer).where(Officer.username == (username or world.officer(name).username))
        )
        assert viewer is not None
        found = board(session, viewer, today, load_calendar(session), now=now)
        for case, deadline in (*found.overdue, *found.due_soon):
            assert case.id and deadline.rule
        session.expunge_all()
        return found


def listed(found: Board) -> dict[str, set[tuple[str, str]]]:
    """The board's lists as (case number, rule) pairs and numbers."""
    return {
        "overdue": {(c.number, d.rule) for c, d in found.overdue},
        "due_soon": {(c.number, d.rule) for c, d in found.due_soon},
        "supervised": {(c.number, "") for c in found.supervised},
        "suggest": {(c.number, "") for c in found.suggest_supervision},
    }


def world_of_cases(app: Flask) -> tuple[CaseWorld, dict[str, str]]:
    """Case A of the agency, handed over to labour inspection in 城区; case B of healthcare
    security in 城区; case C of the agency in 陆丰 (another office of the city); D, a sealed
    discipline sub-case out of A."""
    world = build(app, received=dt.date(2025, 9, 1))
    services_ = world.services
    with transaction(services_.sessions) as session:
        city_desk, _ = make_enrolled(session, services_.officer_secrets, "citydesk",
                                     role="triage_officer", bureau="hrss_fund_supervision",
                                     region="441500")  # fmt: skip
        lu_agency, _ = make_enrolled(session, services_.officer_secrets, "luagency",
                                     role="bureau_officer", bureau="si_agency",
                                     region=OTHER_REGION)  # fmt: skip
        make_enrolled(session, services_.officer_secrets, "luhead", role="supervisor",
                      bureau="si_agency", region=OTHER_REGION)
        session.expunge_all()
    ids = {"A": world.open_case(when=at("2025-09-10 09:00"))}
    world.step(ids["A"], "hand_over", "agency", at("2025-09-29 15:00"),
               to_bureau="labor_inspection", findings="冒领属实。", verified_loss="50000")
    medical = world.officer("medical")
    ids["B"] = _open_for(world, region=REGION, category="fake_treatment", fund="medical",
                         desk=city_desk, officer=medical, bureau="healthcare_security")
    ids["C"] = _open_for(world, region=OTHER_REGION, category="benefit_impostor",
                         fund="pension", desk=city_desk, officer=lu_agency, bureau="si_agency")
    world.step(ids["A"], "refer_discipline", "inspector", at("2025-09-30 10:00"),
               findings="经办人员涉嫌内外勾结。")
    with world.services.sessions() as session:
        ids["D"] = session.scalars(select(Case.id).where(Case.parent_id == ids["A"])).one()
    return world, ids


def _open_for(world: CaseWorld, *, region: str, category: str, fund: str, desk: Officer,
              officer: Officer, bureau: str) -> str:  # fmt: skip
    services_ = world.services
    stored = services_.submitter.submit(
        Report(category=category, fund=fund, region=region, text="另一事项。", channel="visit",
               received_on=dt.date(2025, 9, 2)),
        with_receipt=False,
    )  # fmt: skip
    InlineQueue(services_.engine, services_.keyring).enqueue(process_new_tips)
    with transaction(services_.sessions) as session:
        tip = session.get(Tip, stored.tip_id)
        assert tip is not None
        opened = open_tip(tip, services_.keyring)
        decisions.confirm_routing(session, opened, desk, bureau, "")
        decisions.accept(session, opened, officer)
        case = services.open_case(
            session, services_.keyring.public_keyring(), officer, [tip],
            services.Subject(kind="unit", name="某单位"), "核查。",
            now=at("2025-09-10 09:00").astimezone(dt.UTC),
        )  # fmt: skip
        return case.id


def test_the_board_shows_only_what_the_viewer_may_see(triage_app: Flask) -> None:
    world, ids = world_of_cases(triage_app)
    number = {key: world.case(case_id).number for key, case_id in ids.items()}
    december = dt.date(2025, 12, 10)
    # The head of labour inspection in 城区: case A only. Its receipt (T5) was never
    # signed, and no recovery measures came within 90 days (T7, 9 December): both
    # overdue, and the board suggests 挂牌督办.
    head = board_of(world, "head", december)
    assert listed(head) == {
        "overdue": {(number["A"], "T5"), (number["A"], "T7")},
        "due_soon": set(), "supervised": set(), "suggest": {(number["A"], "")},
    }  # fmt: skip
    assert head.counts == {"overdue": 2, "due_soon": 0, "supervised": 0,
                           "suggest_supervision": 1}  # fmt: skip
    # The agency that handed A over still sees it; not C, its own bureau's case elsewhere.
    agency = board_of(world, "agency_head", december)
    assert {c.id for c, _d in agency.overdue} == {ids["A"]}
    # 陆丰's agency sees C alone; healthcare security B alone.
    assert {c.id for c, _d in board_of(world, "", december, username="luhead").overdue} == {
        ids["C"]
    }
    assert {c.id for c, _d in board_of(world, "medical", december).overdue} == {ids["B"]}
    # The intake desk of 城区: every case of its district (A, B), no sealed sub-case; the
    # city's desk the whole city (A, B, C).
    desk = board_of(world, "desk", december)
    assert {c.id for c, _d in desk.overdue} == {ids["A"], ids["B"]}
    assert {c.id for c in desk.suggest_supervision} == {ids["A"], ids["B"]}
    assert desk.counts["overdue"] == 3
    city = board_of(world, "", december, username="citydesk")
    assert {c.id for c, _d in city.overdue} == {ids["A"], ids["B"], ids["C"]}
    # Discipline inspection: D alone (its T7 from 30 September runs out on 29 December).
    discipline = board_of(world, "discipline", dt.date(2025, 12, 29))
    assert listed(discipline)["due_soon"] == {(number["D"], "T7")}
    assert not discipline.overdue and discipline.counts["due_soon"] == 1
    # Nobody else has D, on any day.
    for name in ("head", "desk", "agency_head", "medical"):
        later = board_of(world, name, dt.date(2026, 1, 5))
        assert ids["D"] not in {c.id for c, _d in (*later.overdue, *later.due_soon)}
    # Administrators and auditors have no board at all.
    for name in ("admin", "auditor"):
        assert board_of(world, name, december).counts == {
            "overdue": 0, "due_soon": 0, "supervised": 0, "suggest_supervision": 0,
        }  # fmt: skip

    # The head puts A under personal supervision: T7 is met, the suggestion goes, and A
    # is listed as supervised.
    world.step(ids["A"], "supervise", "head", at("2025-12-10 09:00"), reason="逾期未追回。")
    head = board_of(world, "head", december)
    assert listed(head) == {
        "overdue": {(number["A"], "T5")}, "due_soon": set(),
        "supervised": {(number["A"], "")}, "suggest": set(),
    }  # fmt: skip
    assert {c.id for c in board_of(world, "desk", december).supervised} == {ids["A"]}
    assert not board_of(world, "medical", december).supervised


def test_an_hour_clock_is_on_the_board_by_the_instant(triage_app: Flask) -> None:
    world = build(triage_app, received=dt.date(2025, 9, 1))
    case_id = world.open_case(when=at("2025-09-10 09:00"))
    world.step(case_id, "record_recovery", "agency", at("2025-09-12 10:00"),
               measures="停发待遇并追回。", recovered="12000")
    world.step(case_id, "hand_over", "agency", at("2025-09-29 15:00"),
               to_bureau="labor_inspection", findings="冒领属实。", verified_loss="50000")
    world.step(case_id, "sign_receipt", "inspector", at("2025-09-29 16:00"))
    world.step(case_id, "file", "inspector", at("2025-10-13 11:00"), findings="立案。")
    world.step(case_id, "report_referral", "inspector", at("2026-02-13 17:00"),
               team=["wangfang", "zhaolei"], reason="涉嫌诈骗罪。")
    world.step(case_id, "approve_referral", "head", at("2026-02-14 10:00"))
    # T11, 24 hours from Saturday 10:00: Sunday 15 February 10:00, in the Spring Festival.
    day = dt.date(2026, 2, 15)
    before = board_of(world, "head", day, at("2026-02-15 09:30"))
    assert ("T11" in {d.rule for _c, d in before.due_soon}
            and "T11" not in {d.rule for _c, d in before.overdue})  # fmt: skip
    after = board_of(world, "head", day, at("2026-02-15 10:30"))
    assert "T11" in {d.rule for _c, d in after.overdue}
    # The day before, at its start, it is due soon already (within 24 hours at 10:00).
    assert "T11" in {d.rule for _c, d in board_of(world, "head", dt.date(2026, 2, 14),
                                                   at("2026-02-14 10:00")).due_soon}
    world.step(case_id, "refer", "inspector", at("2026-02-15 09:59"),
               police_unit="汕尾市公安局城区分局", attachments=ALL_FIVE)
    done = board_of(world, "head", day, at("2026-02-15 10:30"))
    assert "T11" not in {d.rule for _c, d in (*done.overdue, *done.due_soon)}
