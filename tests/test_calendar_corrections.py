"""Calendar corrections and a year's holiday notice, from the admin page and the `tipline`
command: every open clock is recomputed and the change audited, met clocks stay as they
were, and a date resting on the Monday-Friday fallback says so (board, admin page, API)."""

from __future__ import annotations

import datetime as dt
import json
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from tests.conftest import cli_environment, csrf_token, new_officer, run_cli
from tipline.intake.db import transaction
from tipline.intake.models import AuditEvent, CalendarNotice, CalendarOverride, Deadline, Tip
from tipline.intake.submit import Report


def client(app: Flask, name: str, role: str) -> FlaskClient:
    return new_officer(app, name, role=role, bureau="hrss_fund_supervision", region="441500")


def received(app: Flask, day: dt.date) -> str:
    stored = app.extensions["triage"].submitter.submit(
        Report(category="fake_docs", region="441502", text="x", received_on=day),
        with_receipt=False,
    )
    return stored.tip_id


def clocks(app: Flask, tip_id: str) -> dict[str, Deadline]:
    with app.extensions["triage"].sessions() as session:
        rows = session.scalars(select(Deadline).where(Deadline.tip_id == tip_id)).all()
        return {row.rule: row for row in rows}


def next_due(app: Flask, tip_id: str) -> dt.date | None:
    with app.extensions["triage"].sessions() as session:
        tip = session.get(Tip, tip_id)
        assert tip is not None
        return tip.next_due


def audited(app: Flask, action: str) -> list[dict[str, Any]]:
    with app.extensions["triage"].sessions() as session:
        rows = session.scalars(select(AuditEvent).where(AuditEvent.action == action)).all()
        return [{"tip_id": r.tip_id, "actor": r.actor, **json.loads(r.detail)} for r in rows]


def test_a_correction_moves_an_open_clock_and_leaves_a_met_one(triage_app: Flask) -> None:
    # Both received Tuesday 2025-09-30; 2025-10-01..08 are holidays, Saturday 10-11 a
    # make-up working day. T1, 5 working days: Oct 9, 10, 11, 13, 14 -> 2025-10-14.
    open_tip, met_tip = received(triage_app, dt.date(2025, 9, 30)), received(
        triage_app, dt.date(2025, 9, 30)
    )
    officer = client(triage_app, "desk", "triage_officer")
    officer.get("/")  # routes the waiting tips: their clocks start
    assert officer.post(f"/tips/{met_tip}/accept", data={
        "accept-csrf_token": csrf_token(officer, f"/tips/{met_tip}"),
    }).status_code == 302  # fmt: skip
    met_before = clocks(triage_app, met_tip)["T1"]
    assert clocks(triage_app, open_tip)["T1"].due_on == dt.date(2025, 10, 14)
    assert met_before.met_on is not None

    admin = client(triage_app, "root", "admin")
    response = admin.post("/admin/calendar", data={
        "csrf_token": csrf_token(admin, "/admin/calendar"), "day": "2025-10-13",
        "workday": "no", "note": "local holiday",
    })  # fmt: skip
    assert response.status_code == 302
    # Monday 10-13 off: Oct 9, 10, 11, 14, 15 -> 2025-10-15.
    moved = clocks(triage_app, open_tip)["T1"]
    assert moved.due_on == dt.date(2025, 10, 15) and not moved.calendar_fallback
    assert next_due(triage_app, open_tip) == dt.date(2025, 10, 15)
    met_after = clocks(triage_app, met_tip)["T1"]
    assert (met_after.due_on, met_after.met_on, met_after.state) == (
        met_before.due_on, met_before.met_on, met_before.state,
    )  # fmt: skip
    [entry] = audited(triage_app, "deadline.recompute")
    assert entry["tip_id"] == open_tip and entry["actor"] == "root"
    assert (entry["rule"], entry["was"], entry["due"]) == ("T1", "2025-10-14", "2025-10-15")
    assert "1项有变动" in admin.get(response.headers["Location"]).get_data(as_text=True)

    # Undone (a working day again), the clock moves back; the met one still does not.
    admin.post("/admin/calendar", data={
        "csrf_token": csrf_token(admin, "/admin/calendar"), "day": "2025-10-13",
        "workday": "yes", "note": "",
    })  # fmt: skip
    assert clocks(triage_app, open_tip)["T1"].due_on == dt.date(2025, 10, 14)
    assert clocks(triage_app, met_tip)["T1"].due_on == met_before.due_on


def long_clock_pack() -> str:
    """The national pack with a 30-working-day clock, so a clock started in 2026 ends in
    2027, a year chinesecalendar 1.11 does not know. Its T3 is met by acceptance."""
    national = json.loads((files("tipline.rules") / "national.json").read_text("utf-8"))
    national["version"] = "2026.test"
    national["deadlines"] = [d for d in national["deadlines"] if d["rule"] != "T3"] + [{
        "rule": "T3", "applies": "always", "from": "received", "amount": 30,
        "unit": "working_days", "met_by": ["accepted"], "source": "test: a long clock",
    }]  # fmt: skip
    return json.dumps(national, ensure_ascii=False)


# Received Friday 2026-11-20. T3, 30 working days (no holidays left in 2026 after
# National Day): Nov 23-27 (5), Nov 30-Dec 4 (10), Dec 7-11 (15), Dec 14-18 (20),
# Dec 21-25 (25), Dec 28, 29, 30, 31 (29), then the 30th: on Monday-Friday, Friday
# 2027-01-01 (a guess); with the 2027 notice, Jan 1-3 are off, so Monday 2027-01-04.
LONG_START = dt.date(2026, 11, 20)
GUESSED, OFFICIAL = dt.date(2027, 1, 1), dt.date(2027, 1, 4)
NOTICE_2027 = {
    # A plausible 2027 notice, entered as an administrator would type it.
    "days_off": "2027-01-01..2027-01-03\n2027-02-06~2027-02-12\n2027-04-05\n2027-05-01..2027-05-05",
    "working_days": "2027-02-14, 2027-05-08",
}


@pytest.fixture
def long_clocks(triage_app: Flask) -> tuple[str, str, FlaskClient, FlaskClient]:
    admin = client(triage_app, "root", "admin")
    assert admin.post("/admin/rules", data={
        "csrf_token": csrf_token(admin, "/admin/rules"), "body": long_clock_pack(),
    }).status_code == 302  # fmt: skip
    open_tip, met_tip = received(triage_app, LONG_START), received(triage_app, LONG_START)
    officer = client(triage_app, "desk", "triage_officer")
    officer.get("/")
    assert officer.post(f"/tips/{met_tip}/accept", data={
        "accept-csrf_token": csrf_token(officer, f"/tips/{met_tip}"),
    }).status_code == 302  # fmt: skip
    return open_tip, met_tip, admin, officer


def test_a_year_notice_entered_on_the_page_ends_the_fallback(
    triage_app: Flask, long_clocks: tuple[str, str, FlaskClient, FlaskClient]
) -> None:
    open_tip, met_tip, admin, officer = long_clocks
    before = clocks(triage_app, open_tip)["T3"]
    assert (before.due_on, before.calendar_fallback) == (GUESSED, True)
    met = clocks(triage_app, met_tip)["T3"]
    assert met.met_on is not None and met.calendar_fallback
    # The board, the admin page and the API all say the date is a guess.
    assert 'id="fallback-warning"' in officer.get("/").get_data(as_text=True)
    page = admin.get("/admin/calendar").get_data(as_text=True)
    assert 'id="fallback-warning"' in page and "2027" in page
    assert 'data-year="2027" data-kind="fallback"' in page
    token = _token(triage_app, "desk")
    answer = triage_app.test_client().get(
        f"/api/v1/tips/{open_tip}", headers={"Authorization": f"Bearer {token}"}
    )
    t3 = next(d for d in answer.get_json()["deadlines"] if d["rule"] == "T3")
    assert t3 == {**t3, "due": "2027-01-01", "calendar_fallback": True}

    response = admin.post("/admin/calendar/notice", data={
        "notice-csrf_token": csrf_token(admin, "/admin/calendar"), "notice-year": "2027",
        "notice-reference": "国办发明电〔2026〕X号",
        **{f"notice-{k}": v for k, v in NOTICE_2027.items()},
    })  # fmt: skip
    assert response.status_code == 302, response.get_data(as_text=True)
    after = clocks(triage_app, open_tip)["T3"]
    assert (after.due_on, after.calendar_fallback) == (OFFICIAL, False)
    # Met clocks are history: the met T3 keeps its date and its mark.
    met_after = clocks(triage_app, met_tip)["T3"]
    assert (met_after.due_on, met_after.met_on, met_after.calendar_fallback) == (
        met.due_on, met.met_on, True,
    )  # fmt: skip
    [notice] = audited(triage_app, "calendar.notice")
    assert (notice["year"], notice["days_off"], notice["working_days"]) == (2027, 16, 2)
    moves = [e for e in audited(triage_app, "deadline.recompute") if e["tip_id"] == open_tip]
    assert [(e["rule"], e["was"], e["due"], e["fallback"]) for e in moves] == [
        ("T3", "2027-01-01", "2027-01-04", 0)
    ]
    page = admin.get("/admin/calendar").get_data(as_text=True)
    assert 'id="fallback-warning"' not in page and 'data-year="2027" data-kind="notice"' in page
    assert 'id="fallback-warning"' not in officer.get("/").get_data(as_text=True)
    answer = triage_app.test_client().get(
        f"/api/v1/tips/{open_tip}", headers={"Authorization": f"Bearer {token}"}
    )
    t3 = next(d for d in answer.get_json()["deadlines"] if d["rule"] == "T3")
    assert (t3["due"], t3["calendar_fallback"]) == ("2027-01-04", False)

    # Entered again with New Year's Day only, the earlier entry is replaced, not added to:
    # Jan 1 off, Jan 2-3 a weekend anyway, so still 2027-01-04; but Feb 8 is a weekday again.
    admin.post("/admin/calendar/notice", data={
        "notice-csrf_token": csrf_token(admin, "/admin/calendar"), "notice-year": "2027",
        "notice-days_off": "2027-01-01", "notice-working_days": "",
    })  # fmt: skip
    with triage_app.extensions["triage"].sessions() as session:
        days = set(session.scalars(select(CalendarOverride.day)))
        assert days == {dt.date(2027, 1, 1)}
        assert session.get(CalendarNotice, 2027) is not None


def _token(app: Flask, name: str) -> str:
    from tipline.triage.api import issue_token

    with transaction(app.extensions["triage"].sessions) as session:
        return issue_token(session, name, actor="test")


@pytest.mark.parametrize(
    ("fields", "said"),
    [
        ({"year": "27"}, "请填写通知所属年份"),
        ({"year": "二〇二七"}, "请填写通知所属年份"),
        ({"days_off": "2026-12-31"}, "2026-12-31不在2027年内"),
        ({"days_off": "2027-13-01"}, "“2027-13-01”不是日期"),
        ({"days_off": "New Year"}, "“New”不是日期"),
        ({"days_off": "2027-01-03..2027-01-01"}, "结束日期早于开始日期"),
        ({"working_days": "2027-02-15"}, "2027-02-15是工作日：调休上班日应在星期六或星期日"),
        ({"working_days": "2027-01-02"}, "2027-01-02既列为放假日，又列为上班日"),
        ({"days_off": "2027-01-02 2027-01-03", "working_days": ""}, "所列放假日期均为周末"),
        ({"days_off": "", "working_days": ""}, "请列出通知中的放假日期"),
        ({"days_off": "2027-03-01..2027-05-31"}, "放假的工作日超过40天"),
    ],
)
def test_a_wrong_notice_is_refused_in_chinese_and_nothing_changes(
    triage_app: Flask,
    long_clocks: tuple[str, str, FlaskClient, FlaskClient],
    fields: dict[str, str],
    said: str,
) -> None:
    open_tip, _, admin, _ = long_clocks
    data = {"year": "2027", **NOTICE_2027, **fields}
    response = admin.post("/admin/calendar/notice", data={
        "notice-csrf_token": csrf_token(admin, "/admin/calendar"),
        **{f"notice-{k}": v for k, v in data.items()},
    })  # fmt: skip
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert said in body
    assert data["days_off"].split("\n")[0] in body  # what was typed is kept
    with triage_app.extensions["triage"].sessions() as session:
        assert session.scalars(select(CalendarNotice)).all() == []
        assert session.scalars(select(CalendarOverride)).all() == []
    assert clocks(triage_app, open_tip)["T3"].due_on == GUESSED
    assert audited(triage_app, "calendar.notice") == []


def test_the_same_refusal_in_english(
    triage_app: Flask, long_clocks: tuple[str, str, FlaskClient, FlaskClient]
) -> None:
    _, _, admin, _ = long_clocks
    response = admin.post("/admin/calendar/notice", headers={"Accept-Language": "en"}, data={
        "notice-csrf_token": csrf_token(admin, "/admin/calendar"), "notice-year": "2027",
        "notice-days_off": "2027-01-01", "notice-working_days": "2027-02-15",
    })  # fmt: skip
    assert response.status_code == 400
    assert "2027-02-15 is a weekday: a make-up working day falls on a Saturday or Sunday." in (
        response.get_data(as_text=True)
    )


def test_the_command_enters_a_notice_and_recomputes(
    triage_app: Flask,
    long_clocks: tuple[str, str, FlaskClient, FlaskClient],
    database_url: str,
    tmp_path: Path,
) -> None:
    open_tip, met_tip, _, _ = long_clocks
    env = cli_environment(tmp_path / "instance", database_url)
    status = run_cli(env, "calendar", "status")
    assert status.returncode == 0, status.stderr
    assert "2027: NOT KNOWN" in status.stdout and "Monday-Friday in: 2027" in status.stdout

    bad = tmp_path / "bad.txt"
    bad.write_text("off: 2027-01-01\nwork: 2027-02-15\nholiday 2027-05-01\n", encoding="utf-8")
    refused = run_cli(env, "calendar", "notice", "2027", str(bad))
    assert refused.returncode == 1
    assert "Line 3" in refused.stderr and "第3行" in refused.stderr  # English and Chinese
    bad.write_text("off: 2027-01-01\nwork: 2027-02-15\n", encoding="utf-8")
    refused = run_cli(env, "calendar", "notice", "2027", str(bad))
    assert refused.returncode == 1 and "2027-02-15 is a weekday" in refused.stderr
    assert "调休上班日应在星期六或星期日" in refused.stderr
    assert clocks(triage_app, open_tip)["T3"].due_on == GUESSED  # nothing stored

    good = tmp_path / "2027.txt"
    good.write_text(
        "# 国务院办公厅关于2027年部分节假日安排的通知\n"
        "放假：2027-01-01..2027-01-03\n"
        "off: 2027-02-06..2027-02-12, 2027-04-05\n"
        "上班：2027-02-14\n",
        encoding="utf-8",
    )
    entered = run_cli(env, "calendar", "notice", "2027", str(good), "--reference", "国办发明电")
    assert entered.returncode == 0, entered.stderr
    assert "2027: 11 days off, 1 make-up working days entered" in entered.stdout
    assert f"{open_tip} T3: 2027-01-01 -> 2027-01-04" in entered.stdout
    assert met_tip not in entered.stdout
    after = clocks(triage_app, open_tip)["T3"]
    assert (after.due_on, after.calendar_fallback) == (OFFICIAL, False)
    assert clocks(triage_app, met_tip)["T3"].due_on == GUESSED
    [entry] = audited(triage_app, "calendar.notice")
    assert entry["actor"].startswith("cli:") and entry["reference"] == "国办发明电"
    assert "2027: notice entered" in run_cli(env, "calendar", "status").stdout

    # A one-day correction from the command: Monday 2027-01-04 made a local holiday moves
    # the 30th working day to Tuesday 2027-01-05.
    corrected = run_cli(env, "calendar", "set", "2027-01-04", "--holiday", "--note", "local")
    assert corrected.returncode == 0, corrected.stderr
    assert clocks(triage_app, open_tip)["T3"].due_on == dt.date(2027, 1, 5)
    bad_day = run_cli(env, "calendar", "set", "2027-02-30", "--holiday")
    assert bad_day.returncode == 2 and "2027-02-30" in bad_day.stderr

    # An administrator's own day stands when the year's notice is entered again: marked a
    # local holiday on a day the first notice also gave off (2027-04-05, 清明), it is kept
    # by a corrected notice that no longer lists that day, and 2027-01-04 stays corrected.
    local = run_cli(env, "calendar", "set", "2027-04-05", "--holiday", "--note", "local")
    assert local.returncode == 0, local.stderr
    good.write_text("放假：2027-01-01..2027-01-03\noff: 2027-02-06..2027-02-12\n"
                    "上班：2027-02-14\n", encoding="utf-8")  # fmt: skip
    again = run_cli(env, "calendar", "notice", "2027", str(good))
    assert again.returncode == 0, again.stderr
    with triage_app.extensions["triage"].sessions() as session:
        kept = {row.day: (row.workday, row.notice_year) for row in session.scalars(
            select(CalendarOverride).where(CalendarOverride.notice_year.is_(None)))}  # fmt: skip
    assert kept == {dt.date(2027, 1, 4): (False, None), dt.date(2027, 4, 5): (False, None)}
    assert clocks(triage_app, open_tip)["T3"].due_on == dt.date(2027, 1, 5)
