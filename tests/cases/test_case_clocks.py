"""Case clocks in the morning sweep and in the recomputation after a calendar change
(issue 10, "Clocks"): escalated once, by the instant for hour clocks, announced to the
officers who may see the case and only them; a correction or a year's notice moves a
running case clock as it moves a tip's, the Monday-Friday fallback included."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, update

from tests.caseworld import CaseWorld, at, build
from tests.conftest import cli_environment, csrf_token, run_cli
from tipline.intake.db import transaction
from tipline.intake.models import AuditEvent, Case, CaseDeadline, Deadline, Officer
from tipline.intake.workdays import load_calendar
from tipline.triage import clocks

ALL_FIVE = ["referral_letter", "investigation_report", "exhibit_list", "expert_report",
            "other_materials"]  # fmt: skip


def case_clocks(world: CaseWorld, case_id: str) -> dict[str, CaseDeadline]:
    return {d.rule: d for d in world.case(case_id).deadlines if d.met_at is None}


def entries(app: Flask, action: str) -> list[dict[str, Any]]:
    with app.extensions["triage"].sessions() as session:
        rows = session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        ).all()
        return [{"tip_id": r.tip_id, "actor": r.actor, **json.loads(r.detail)} for r in rows]


def sweep(world: CaseWorld, today: dt.date, now: dt.datetime | None = None) -> clocks.SweepResult:
    with transaction(world.services.sessions) as session:
        return clocks.sweep(session, today, load_calendar(session), now=now)


def quiet_tips(world: CaseWorld) -> None:
    """Close the tips' own clocks (their T2 notice is long overdue in 2025), so that what
    the sweep finds is the case's."""
    with transaction(world.services.sessions) as session:
        session.execute(
            update(Deadline).where(Deadline.met_on.is_(None))
            .values(met_on=dt.date(2025, 9, 2), state="met", closed_by="notice_given")
        )  # fmt: skip


def handed_over(app: Flask) -> tuple[CaseWorld, str]:
    """A case opened on 10 September 2025 and handed over on the 29th at 15:00: its T5
    (the receipt, the same day) runs out that evening; T7 (90 days) on 9 December."""
    world = build(app, received=dt.date(2025, 9, 1))
    case_id = world.open_case(when=at("2025-09-10 09:00"))
    world.step(case_id, "hand_over", "agency", at("2025-09-29 15:00"),
               to_bureau="labor_inspection", findings="冒领属实。", verified_loss="50000")
    quiet_tips(world)
    return world, case_id


def test_the_sweep_escalates_a_case_clock_once_and_names_the_case(triage_app: Flask) -> None:
    world, case_id = handed_over(triage_app)
    # The day of the handover the receipt is still due: due soon, not overdue.
    result = sweep(world, dt.date(2025, 9, 29))
    assert result.cases_due_soon == {case_id} and not result.cases_overdue
    assert case_clocks(world, case_id)["T5"].state == "due_soon"
    result = sweep(world, dt.date(2025, 9, 30))
    assert result.cases_overdue == {case_id} and result.cases_escalated == {case_id}
    t5 = case_clocks(world, case_id)["T5"]
    assert (t5.state, t5.escalated) == ("overdue", True)
    again = sweep(world, dt.date(2025, 10, 1))
    assert again.cases_overdue == {case_id} and not again.cases_escalated
    [entry] = entries(triage_app, "deadline.escalate")
    # The case is named in the detail; the tip column stays empty (no tip is escalated).
    assert entry == {"tip_id": None, "actor": None, "case": case_id, "rule": "T5",
                     "due": "2025-09-29"}  # fmt: skip


def approved(app: Flask) -> tuple[CaseWorld, str]:
    """A referral approved on Saturday 14 February 2026 at 10:00: T11 (24 hours, through
    the Spring Festival) runs out on Sunday the 15th at 10:00 (China time)."""
    world = build(app, received=dt.date(2025, 9, 1))
    case_id = world.open_case(when=at("2025-09-10 09:00"))
    world.step(case_id, "record_recovery", "agency", at("2025-09-12 10:00"),
               measures="停发待遇并追回。", recovered="12000")
    world.step(case_id, "hand_over", "agency", at("2025-09-29 15:00"),
               to_bureau="labor_inspection", findings="冒领属实。", verified_loss="50000")
    world.step(case_id, "sign_receipt", "inspector", at("2025-09-29 16:00"))
    world.step(case_id, "file", "inspector", at("2025-10-13 11:00"), findings="立案。")
    world.step(case_id, "penalise", "inspector", at("2025-12-01 10:00"),
               penalty_kinds=["warning"], decided_on="2025-12-01")
    world.step(case_id, "report_referral", "inspector", at("2026-02-13 17:00"),
               team=["wangfang", "zhaolei"], reason="涉嫌诈骗罪。")
    world.step(case_id, "approve_referral", "head", at("2026-02-14 10:00"))
    quiet_tips(world)
    return world, case_id


def test_an_hour_clock_is_swept_by_the_instant(triage_app: Flask) -> None:
    world, case_id = approved(triage_app)
    t11 = case_clocks(world, case_id)["T11"]
    assert t11.due_on == dt.date(2026, 2, 15)
    day = dt.date(2026, 2, 15)
    # At 09:00 on its due day the hour clock still runs (a day clock due that day would be
    # due soon all day; so is this one, for one more hour).
    result = sweep(world, day, at("2026-02-15 09:00"))
    assert case_id in result.cases_due_soon and case_id not in result.cases_overdue
    # At 10:01 it is overdue, on the same day: compared by the instant, not the day.
    result = sweep(world, day, at("2026-02-15 10:01"))
    assert result.cases_overdue == {case_id} and result.cases_escalated == {case_id}
    [entry] = [e for e in entries(triage_app, "deadline.escalate") if e["rule"] == "T11"]
    assert entry["case"] == case_id and entry["due"] == "2026-02-15 10:00"
    # Referred late, the clock is met late and the sweep leaves it alone.
    world.step(case_id, "refer", "inspector", at("2026-02-15 11:00"),
               police_unit="汕尾市公安局城区分局", attachments=ALL_FIVE)
    met = {d.rule: d for d in world.case(case_id).deadlines}["T11"]
    assert met.state == "met_late"
    assert case_id not in sweep(world, day, at("2026-02-15 12:00")).cases_escalated


def test_notices_of_a_case_go_to_who_may_see_it(triage_app: Flask) -> None:
    world, case_id = handed_over(triage_app)
    addresses = {"head": "head@hrss.example", "inspector": "inspector@hrss.example",
                 "agency": "agency@hrss.example", "agency_head": "agency-head@hrss.example",
                 "elsewhere": "elsewhere@hrss.example", "medical": "medical@hrss.example",
                 "discipline": "discipline@hrss.example", "desk": "desk@hrss.example"}  # fmt: skip
    with transaction(world.services.sessions) as session:
        for name, address in addresses.items():
            session.execute(
                update(Officer).where(Officer.username == world.officer(name).username)
                .values(email=address)
            )  # fmt: skip
        # A supervisor of labour inspection in another district, who must hear nothing.
        other = session.scalar(
            select(Officer).where(Officer.username == world.officer("elsewhere").username)
        )
        assert other is not None
        other.role = "supervisor"
    sweep(world, dt.date(2025, 9, 30))  # T5 overdue: escalated
    with world.services.sessions() as session:
        found = clocks.waiting(session, dt.date(2025, 9, 30))
        assert found.cases_escalated == {case_id}
        told = clocks.recipients(session, found)
    # The escalation goes to the supervisors who see the case: the head of the bureau
    # holding it and of the agency that handed it over; not to officers, not to the other
    # district, another bureau or discipline inspection.
    assert told == {"head@hrss.example": 1, "agency-head@hrss.example": 1}
    # Due soon: every officer who sees it (the receipt on the day of the handover).
    with transaction(world.services.sessions) as session:
        session.execute(update(CaseDeadline).values(state="open", escalated=False))
    sweep(world, dt.date(2025, 9, 29))
    with world.services.sessions() as session:
        due = clocks.Waiting(cases_due_soon=clocks.waiting(session, dt.date(2025, 9, 29))
                             .cases_due_soon)  # fmt: skip
        told = clocks.recipients(session, due)
    assert set(told) == {"head@hrss.example", "inspector@hrss.example", "agency@hrss.example",
                         "agency-head@hrss.example", "desk@hrss.example"}  # fmt: skip


def test_two_sweeps_at_once_escalate_once(triage_app: Flask, database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has one writer at a time: two sweeps cannot overlap there")
    world, case_id = handed_over(triage_app)
    sessions = world.services.sessions
    first = sessions()
    done: list[clocks.SweepResult] = []

    def second() -> None:
        with transaction(sessions) as session:
            done.append(clocks.sweep(session, dt.date(2025, 9, 30), load_calendar(session)))

    try:
        result = clocks.sweep(first, dt.date(2025, 9, 30), load_calendar(first))
        assert result.cases_escalated == {case_id}
        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.5)  # the second sweep has read the clocks and waits on their rows
        assert thread.is_alive()
        first.commit()
    finally:
        first.close()
    thread.join(timeout=30)
    assert done and not done[0].cases_escalated
    assert len(entries(triage_app, "deadline.escalate")) == 1


def test_a_calendar_correction_moves_a_running_case_clock(triage_app: Flask) -> None:
    world, case_id = handed_over(triage_app)
    world.step(case_id, "sign_receipt", "inspector", at("2025-09-30 09:00"))
    # T6: 5 working days from Tuesday 30 September: 9, 10, 11 (a make-up Saturday), 13, 14.
    assert case_clocks(world, case_id)["T6"].due_on == dt.date(2025, 10, 14)
    t7 = case_clocks(world, case_id)["T7"]
    admin = world.client("admin")
    response = admin.post("/admin/calendar", data={
        "csrf_token": csrf_token(admin, "/admin/calendar"), "day": "2025-10-13",
        "workday": "no", "note": "local holiday",
    })  # fmt: skip
    assert response.status_code == 302
    running = case_clocks(world, case_id)
    assert running["T6"].due_on == dt.date(2025, 10, 15) and not running["T6"].calendar_fallback
    # T7 counts calendar days and ends on a Tuesday in December: it does not move.
    assert running["T7"].due_on == t7.due_on
    met = {d.rule: d for d in world.case(case_id).deadlines}["T5"]
    assert met.met_at is not None and met.due_on == dt.date(2025, 9, 29)
    assert world.case(case_id).next_due == dt.date(2025, 10, 15)
    [entry] = entries(triage_app, "deadline.recompute")
    assert entry == {"tip_id": None, "actor": world.officer("admin").username, "case": case_id,
                     "rule": "T6", "was": "2025-10-14", "due": "2025-10-15", "fallback": 0,
                     "reason": "calendar:2025-10-13"}  # fmt: skip
    # The audit log says it in words, naming the case.
    page = world.client("auditor").get("/audit?action=deadline.recompute")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and case_id in text and "T6：移交案件立案或退回" in text


NOTICE_2027 = {
    "days_off": "2027-01-01..2027-01-03\n2027-02-06..2027-02-12",
    "working_days": "2027-02-14",
}


def test_a_year_notice_ends_a_case_clock_s_fallback(triage_app: Flask) -> None:
    world = build(triage_app, received=dt.date(2025, 9, 1))
    case_id = world.open_case(when=at("2026-12-21 10:00"))
    world.step(case_id, "hand_over", "agency", at("2026-12-28 09:00"),
               to_bureau="labor_inspection", findings="冒领属实。", verified_loss="50000")
    world.step(case_id, "sign_receipt", "inspector", at("2026-12-28 10:00"))
    # T6, 5 working days from Monday 28 December 2026: 29, 30, 31, then 2027, which the
    # calendar package does not know: Friday 1 and Monday 4 January on Monday-Friday.
    t6 = case_clocks(world, case_id)["T6"]
    assert (t6.due_on, t6.calendar_fallback) == (dt.date(2027, 1, 4), True)
    inspector, admin = world.client("inspector"), world.client("admin")
    # The officers who see the case, and the administrator, are told the date is a guess.
    assert 'id="fallback-warning"' in inspector.get("/").get_data(as_text=True)
    assert 'id="fallback-warning"' not in world.client("medical").get("/").get_data(
        as_text=True
    )
    page = admin.get("/admin/calendar").get_data(as_text=True)
    assert 'id="fallback-warning"' in page and "2027" in page
    response = admin.post("/admin/calendar/notice", data={
        "notice-csrf_token": csrf_token(admin, "/admin/calendar"), "notice-year": "2027",
        "notice-reference": "国办发明电〔2026〕X号",
        **{f"notice-{k}": v for k, v in NOTICE_2027.items()},
    })  # fmt: skip
    assert response.status_code == 302, response.get_data(as_text=True)
    # New Year's Day to the 3rd off: 29, 30, 31 December, 4 and 5 January.
    t6 = case_clocks(world, case_id)["T6"]
    assert (t6.due_on, t6.calendar_fallback) == (dt.date(2027, 1, 5), False)
    moves = [e for e in entries(triage_app, "deadline.recompute") if e.get("case") == case_id]
    assert ("T6", "2027-01-04", "2027-01-05", 0) in [
        (e["rule"], e["was"], e["due"], e["fallback"]) for e in moves
    ]
    assert all(e["reason"] == "notice:2027" for e in moves)
    assert 'id="fallback-warning"' not in inspector.get("/").get_data(as_text=True)
    with world.services.sessions() as session:
        case = session.get(Case, case_id)
        assert case is not None and case.next_due == dt.date(2027, 1, 5)
        assert clocks.fallback_years(session, load_calendar(session)) == []


def test_the_command_reports_a_case_clock_it_moved(
    triage_app: Flask, database_url: str, tmp_path: Path
) -> None:
    world, case_id = handed_over(triage_app)
    world.step(case_id, "sign_receipt", "inspector", at("2025-09-30 09:00"))
    env = cli_environment(tmp_path / "instance", database_url)
    result = run_cli(env, "calendar", "set", "2025-10-13", "--holiday", "--note", "local")
    assert result.returncode == 0, result.stderr
    assert f"case {case_id} T6: 2025-10-14 -> 2025-10-15" in result.stdout
    assert case_clocks(world, case_id)["T6"].due_on == dt.date(2025, 10, 15)
    [entry] = entries(triage_app, "deadline.recompute")
    assert entry["case"] == case_id and entry["actor"].startswith("cli:")
