"""Administrators manage users, rule packs and the calendar; auditors read the log and the
statistics; neither ever sees a tip's contents, and sealed tips stay out of their view."""

from __future__ import annotations

import datetime as dt
import json
import re
from importlib.resources import files

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from tests.conftest import csrf_token, make_enrolled
from tipline.intake.db import transaction
from tipline.intake.models import AuditEvent, Deadline, Officer
from tipline.intake.submit import Report

PASSWORD = "a long test password"


def officer(app: Flask, name: str, role: str) -> FlaskClient:
    services = app.extensions["triage"]
    with transaction(services.sessions) as session:
        _, secret = make_enrolled(
            session, services.officer_secrets, name, PASSWORD, role=role,
            bureau="hrss_fund_supervision", region="441500",
        )  # fmt: skip
    client = app.test_client()
    response = client.post("/login", data={
        "csrf_token": csrf_token(client, "/login"), "username": name, "password": PASSWORD,
        "code": pyotp.TOTP(secret).now(),
    })  # fmt: skip
    assert response.status_code == 302
    return client


def actions(app: Flask) -> list[str]:
    with app.extensions["triage"].sessions() as session:
        return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def test_admin_asks_for_a_reader_account_and_sees_no_secret(triage_app: Flask) -> None:
    admin = officer(triage_app, "root", "admin")
    page = admin.post("/admin/users", data={
        "csrf_token": csrf_token(admin, "/admin/users"), "username": "li.wei",
        "password": "another long password", "role": "bureau_officer",
        "bureau": "labor_inspection", "region": "441502", "email": "li@hrss.example",
    })  # fmt: skip
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    # A reader account waits for a supervisor: no TOTP secret, not even an activation code.
    assert "otpauth://" not in body and 'id="activation"' not in body
    assert 'id="awaiting"' in body
    assert "user.request" in actions(triage_app)
    with triage_app.extensions["triage"].sessions() as session:
        added = session.scalar(select(Officer).where(Officer.username == "li.wei"))
        assert added is not None and added.email == "li@hrss.example"
        assert added.awaiting_approval and not added.active and added.totp_sealed is None
    # An auditor account reads no contents: the administrator adds it alone, and is given
    # its activation code (never a TOTP secret) to hand over.
    auditor = admin.post("/admin/users", data={
        "csrf_token": csrf_token(admin, "/admin/users"), "username": "wang.fang",
        "password": "another long password", "role": "auditor",
        "bureau": "hrss_fund_supervision", "region": "441500",
    })  # fmt: skip
    assert auditor.status_code == 200
    shown = auditor.get_data(as_text=True)
    assert re.search(r'id="activation">[0-9A-Z]{4}(-[0-9A-Z]{4}){3}<', shown)
    assert "otpauth://" not in auditor.get_data(as_text=True)
    assert 'id="activation"' not in admin.get("/admin/users").get_data(as_text=True)
    assert "user.add" in actions(triage_app)
    refused = admin.post("/admin/users", data={
        "csrf_token": csrf_token(admin, "/admin/users"), "username": "x", "password": "short",
        "role": "admin", "bureau": "si_agency", "region": "441502",
    })  # fmt: skip
    assert refused.status_code == 400


def test_admin_loads_a_rule_pack_that_then_routes_new_tips(triage_app: Flask) -> None:
    admin = officer(triage_app, "root", "admin")
    bad = admin.post("/admin/rules", data={
        "csrf_token": csrf_token(admin, "/admin/rules"), "body": '{"name": "national"}'
    })  # fmt: skip
    assert bad.status_code == 400 and "required" in bad.get_data(as_text=True)
    national = json.loads((files("tipline.rules") / "national.json").read_text("utf-8"))
    national["version"] = "2026.1"
    national["routing"].insert(0, {"when": {"category": ["fake_docs"]},
                                   "bureau": "si_agency", "source": "test"})  # fmt: skip
    loaded = admin.post("/admin/rules", data={
        "csrf_token": csrf_token(admin, "/admin/rules"), "body": json.dumps(national)
    })  # fmt: skip
    assert loaded.status_code == 302
    assert "national@2026.1" in admin.get("/admin/rules").get_data(as_text=True)
    assert "rulepack.change" in actions(triage_app)
    stored = triage_app.extensions["triage"].submitter.submit(
        Report(category="fake_docs", region="441502", text="x"), with_receipt=False
    )
    with triage_app.extensions["triage"].sessions() as session:
        from tipline.intake.models import Tip

        tip = session.get(Tip, stored.tip_id)
        assert tip is not None and tip.suggested_bureau == "si_agency"
        assert "national@2026.1" in (tip.rule_packs or "")


# A pasted pack is read by the bounded decoder: deep nesting (RecursionError in json and in
# jsonschema before), broken JSON and a wrong format each get a message in the admin's
# language, never a 500.
BROKEN_PACKS = [
    ('{"name": ' + "[" * 50_000 + "]" * 50_000 + "}",
     "规则包嵌套层数过多", "The rule pack is nested too deeply"),
    ('{"name": "x", "version": ' + '{"a": ' * 17 + "1" + "}" * 17 + "}",
     "规则包嵌套层数过多", "The rule pack is nested too deeply"),
    ('{"name": "x",\n "version": }',
     "规则包不是有效的 JSON：第 2 行", "The rule pack is not JSON: line 2"),
    ('{"name": "x"}', "规则包格式不符", "The rule pack does not follow the format at (top)"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "zh", "en"), BROKEN_PACKS)
def test_a_broken_rule_pack_is_refused_on_the_page_in_both_languages(
    triage_app: Flask, body: str, zh: str, en: str
) -> None:
    admin = officer(triage_app, "root", "admin")
    for language, expected in (("zh", zh), ("en", en)):
        headers = {"Accept-Language": language}
        page = admin.post("/admin/rules", headers=headers, data={
            "csrf_token": csrf_token(admin, "/admin/rules"), "body": body,
        })  # fmt: skip
        assert page.status_code == 400
        assert expected in page.get_data(as_text=True)
    assert "rulepack.change" not in actions(triage_app)


def test_a_calendar_correction_moves_new_deadlines(triage_app: Flask) -> None:
    admin = officer(triage_app, "root", "admin")
    response = admin.post("/admin/calendar", data={
        "csrf_token": csrf_token(admin, "/admin/calendar"), "day": "2025-10-13",
        "workday": "no", "note": "local holiday",
    })  # fmt: skip
    assert response.status_code == 302
    stored = triage_app.extensions["triage"].submitter.submit(
        Report(category="fake_docs", region="441502", text="x",
               received_on=dt.date(2025, 9, 30)), with_receipt=False,
    )  # fmt: skip
    with triage_app.extensions["triage"].sessions() as session:
        due = session.scalar(select(Deadline.due_on).where(Deadline.tip_id == stored.tip_id))
    assert due == dt.date(2025, 10, 15)  # one day later than without the correction


@pytest.mark.parametrize("path", ["/", "/tips/new", "/admin/rules"])
def test_auditors_reach_no_tips_and_no_administration(triage_app: Flask, path: str) -> None:
    auditor = officer(triage_app, "eve", "auditor")
    assert auditor.get(path).status_code == 403


def test_auditor_reads_the_log_with_sealed_tips_masked(triage_app: Flask) -> None:
    submitter = triage_app.extensions["triage"].submitter
    staff = submitter.submit(Report(category="internal_embezzlement", region="441502",
                                    text="x"), with_receipt=False)  # fmt: skip
    plain = submitter.submit(Report(category="fake_docs", region="441502", text="y"),
                             with_receipt=False)  # fmt: skip
    with transaction(triage_app.extensions["triage"].sessions) as session:
        from tipline.triage.audit import record

        record(session, "tip.read", actor="someone", tip_id=staff.tip_id)
        record(session, "tip.read", actor="someone", tip_id=plain.tip_id)
    auditor = officer(triage_app, "eve", "auditor")
    log = auditor.get("/audit").get_data(as_text=True)
    assert plain.tip_id in log and staff.tip_id not in log
    assert "intact" in auditor.get("/audit/verify", headers={"Accept-Language": "en"}).get_data(
        as_text=True
    )
    stats = auditor.get("/stats").get_data(as_text=True)
    counts = re.findall(r"<td>(\d+)</td>", stats.split('id="stats-status"')[1].split("</table>")[0])
    assert sum(int(c) for c in counts) == 1  # the sealed tip is not counted
