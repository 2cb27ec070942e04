"""Administrators manage users, rule packs and the calendar; auditors read the log and the
statistics; neither ever sees a tip's contents, and sealed tips stay out of their view."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from importlib.resources import files
from pathlib import Path
from typing import Any

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import cli_environment, csrf_token, make_enrolled, run_cli, visible
from tipline.intake.db import make_engine, transaction
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
    national["version"] = "2026.2"
    national["routing"].insert(0, {"when": {"category": ["fake_docs"]},
                                   "bureau": "si_agency", "source": "test"})  # fmt: skip
    loaded = admin.post("/admin/rules", data={
        "csrf_token": csrf_token(admin, "/admin/rules"), "body": json.dumps(national)
    })  # fmt: skip
    assert loaded.status_code == 302
    assert "national@2026.2" in admin.get("/admin/rules").get_data(as_text=True)
    assert "rulepack.change" in actions(triage_app)
    stored = triage_app.extensions["triage"].submitter.submit(
        Report(category="fake_docs", region="441502", text="x"), with_receipt=False
    )
    with triage_app.extensions["triage"].sessions() as session:
        from tipline.intake.models import Tip

        tip = session.get(Tip, stored.tip_id)
        assert tip is not None and tip.suggested_bureau == "si_agency"
        assert "national@2026.2" in (tip.rule_packs or "")


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


# Issue 9, "Administration": each change to an account from the users page, audited, with a
# confirmation step for what cannot be undone, and the two-person rule for reader roles.

ZH_PASSWORD_SHORT = "密码至少需要 12 个字符。"
CONFIRM = re.compile(r'id="confirm"')
ACTIVATION = re.compile(r'id="activation"[^>]*>([0-9A-Z-]+)<')


def enrolled(app: Flask, name: str, role: str, bureau: str = "hrss_fund_supervision",
             region: str = "441500") -> tuple[int, str]:  # fmt: skip
    """An enrolled account: its id and TOTP secret."""
    services = app.extensions["triage"]
    with transaction(services.sessions) as session:
        added, secret = make_enrolled(session, services.officer_secrets, name, PASSWORD,
                                      role=role, bureau=bureau, region=region)  # fmt: skip
        return added.id, secret


def signed_in(app: Flask, name: str, secret: str, lang: str = "zh") -> FlaskClient:
    client = app.test_client()
    client.set_cookie("lang", lang)
    response = login(client, name, PASSWORD, pyotp.TOTP(secret).now())
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def login(client: FlaskClient, name: str, password: str, code: str) -> Any:
    return client.post("/login", data={
        "csrf_token": csrf_token(client, "/login"), "username": name, "password": password,
        "code": code,
    })  # fmt: skip


def row(app: Flask, name: str) -> Officer:
    with app.extensions["triage"].sessions() as session:
        found = session.scalar(select(Officer).where(Officer.username == name))
        assert found is not None
        session.expunge(found)
        return found


def confirmed(client: FlaskClient, path: str, page: str, **fields: str) -> Any:
    """Press the button, see the confirmation page, then confirm it: two posts, no script."""
    token = csrf_token(client, page)
    first = client.post(path, data={"csrf_token": token, **fields})
    assert first.status_code == 200 and CONFIRM.search(first.get_data(as_text=True))
    # As a browser would: the confirmation form sends its hidden fields back.
    hidden = dict(re.findall(
        r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"', first.get_data(as_text=True)
    ))  # fmt: skip
    hidden.pop("csrf_token", None)
    return client.post(path, data={**hidden, "csrf_token": token, "confirmed": "yes", **fields})


def details(app: Flask, action: str) -> list[dict[str, Any]]:
    with app.extensions["triage"].sessions() as session:
        return [
            json.loads(e.detail) if isinstance(e.detail, str) else e.detail
            for e in session.scalars(select(AuditEvent).where(AuditEvent.action == action))
        ]


@pytest.mark.parametrize(("lang", "words"), [
    ("zh", "您不能停用或启用自己的账户。"),
    ("en", "You cannot deactivate or activate your own account."),
])  # fmt: skip
def test_the_admin_is_told_why_they_cannot_deactivate_themself(
    triage_app: Flask, lang: str, words: str
) -> None:
    me, secret = enrolled(triage_app, "root", "admin")
    admin = signed_in(triage_app, "root", secret, lang)
    listing = admin.get("/admin/users").get_data(as_text=True)
    # No button that can only be refused: the row says whose it is instead.
    assert f'/admin/users/{me}/active"' not in listing
    answer = admin.post(f"/admin/users/{me}/active", data={
        "csrf_token": csrf_token(admin, "/admin/users"),
    })  # fmt: skip
    assert answer.status_code == 400
    body = visible(answer.get_data(as_text=True))
    # The users page itself, with the reason: not a bare error page.
    assert words in body and ("用户管理" if lang == "zh" else "Users") in body
    assert row(triage_app, "root").active
    # Nor their own role, from their own account page.
    own = admin.post(f"/admin/users/{me}/change", data={
        "csrf_token": csrf_token(admin, f"/admin/users/{me}"), "role": "auditor",
        "bureau": "hrss_fund_supervision", "region": "441500",
    })  # fmt: skip
    assert own.status_code == 400
    text = visible(own.get_data(as_text=True))
    assert ("您不能变更自己的角色" if lang == "zh" else "You cannot change your own role") in text
    assert row(triage_app, "root").role == "admin"
    # An old page without its token is said in words too (the site's CSRF answer).
    stale = admin.post(f"/admin/users/{me}/unlock", data={})
    assert stale.status_code == 400
    assert ("表单已过期" if lang == "zh" else "This form has expired") in visible(
        stale.get_data(as_text=True)
    )
    # A form with its token but a field missing: the account page, with a sentence.
    other, _ = enrolled(triage_app, "li.wei", "bureau_officer")
    partial = admin.post(f"/admin/users/{other}/change", data={
        "csrf_token": csrf_token(admin, f"/admin/users/{other}"), "role": "bureau_officer",
    })  # fmt: skip
    assert partial.status_code == 400
    assert ("表单内容不完整" if lang == "zh" else "The form was incomplete") in visible(
        partial.get_data(as_text=True)
    )


def test_deactivated_accounts_are_marked_listed_last_and_cannot_sign_in(
    triage_app: Flask,
) -> None:
    _, secret = enrolled(triage_app, "root", "admin")
    gone, gone_secret = enrolled(triage_app, "aaa.gone", "auditor")
    enrolled(triage_app, "zzz.here", "auditor")
    admin = signed_in(triage_app, "root", secret)
    answer = confirmed(admin, f"/admin/users/{gone}/active", "/admin/users")
    assert answer.status_code == 302
    assert not row(triage_app, "aaa.gone").active
    listing = admin.get("/admin/users").get_data(as_text=True)
    order = re.findall(r'data-user="([^"]+)"', listing)
    assert order.index("aaa.gone") == len(order) - 1 and order.index("zzz.here") < len(order) - 1
    assert re.search(r'<tr class="deactivated" data-user="aaa.gone">', listing)
    assert "已停用" in visible(listing.split('data-user="aaa.gone"')[1].split("</tr>")[0])
    refused = login(triage_app.test_client(), "aaa.gone", PASSWORD,
                    pyotp.TOTP(gone_secret).now())  # fmt: skip
    assert refused.status_code == 401
    assert "user.deactivate" in actions(triage_app)
    # Activating takes no confirmation and lets them in again.
    admin.post(f"/admin/users/{gone}/active", data={
        "csrf_token": csrf_token(admin, "/admin/users"), "active": "y",
    })  # fmt: skip
    assert row(triage_app, "aaa.gone").active
    assert "user.activate" in actions(triage_app)


def test_unlock_after_failed_sign_ins(triage_app: Flask) -> None:
    _, secret = enrolled(triage_app, "root", "admin")
    officer_id, officer_secret = enrolled(triage_app, "li.wei", "bureau_officer")
    stranger = triage_app.test_client()
    for _ in range(5):
        assert login(stranger, "li.wei", "wrong password!!", "000000").status_code == 401
    assert row(triage_app, "li.wei").locked_until is not None
    blocked = login(triage_app.test_client(), "li.wei", PASSWORD,
                    pyotp.TOTP(officer_secret).now())  # fmt: skip
    assert blocked.status_code == 401
    admin = signed_in(triage_app, "root", secret)
    page = admin.get(f"/admin/users/{officer_id}").get_data(as_text=True)
    assert "因多次登录失败已锁定" in visible(page) and 'id="unlock"' in page
    done = admin.post(f"/admin/users/{officer_id}/unlock", data={
        "csrf_token": csrf_token(admin, f"/admin/users/{officer_id}"),
    })  # fmt: skip
    assert done.status_code == 200 and "已解除锁定" in visible(done.get_data(as_text=True))
    assert row(triage_app, "li.wei").locked_until is None
    assert row(triage_app, "li.wei").failed_logins == 0
    assert [d["username"] for d in details(triage_app, "user.unlock")] == ["li.wei"]
    # The step the locked attempt used is a later one now, or the same step: wait it out by
    # using the next one.
    nxt = pyotp.TOTP(officer_secret).at(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30))
    assert login(triage_app.test_client(), "li.wei", PASSWORD, nxt).status_code == 302


def test_a_password_reset_gives_an_activation_code_and_the_officer_chooses(
    triage_app: Flask,
) -> None:
    _, secret = enrolled(triage_app, "root", "admin")
    officer_id, officer_secret = enrolled(triage_app, "li.wei", "bureau_officer")
    totp = pyotp.TOTP(officer_secret)
    steps = dt.timedelta(seconds=30)
    # Three sign-ins with the same authenticator, each on a later step (one step of drift
    # either way is accepted): the one before, now, and the one after.
    officer = triage_app.test_client()
    before = totp.at(dt.datetime.now(dt.UTC) - steps)
    assert login(officer, "li.wei", PASSWORD, before).status_code == 302
    assert officer.get("/").status_code == 200
    admin = signed_in(triage_app, "root", secret)
    page = f"/admin/users/{officer_id}"
    # The first press only asks; nothing has changed yet.
    token = csrf_token(admin, page)
    asked = admin.post(f"{page}/reset-password", data={"csrf_token": token})
    assert CONFIRM.search(asked.get_data(as_text=True))
    assert "重置 li.wei 的密码？" in visible(asked.get_data(as_text=True))
    assert not row(triage_app, "li.wei").password_hash.startswith("!")
    done = admin.post(f"{page}/reset-password", data={"csrf_token": token, "confirmed": "yes"})
    body = done.get_data(as_text=True)
    code = ACTIVATION.search(body)
    assert done.status_code == 200 and code is not None
    assert "user.reset_password" in actions(triage_app)
    # The officer's open session ended; the old password no longer works.
    assert officer.get("/").status_code == 302  # to the sign-in page
    assert login(triage_app.test_client(), "li.wei", PASSWORD, totp.now()).status_code == 401
    # The activation code alone is not enough: the authenticator's code is still needed.
    client = triage_app.test_client()
    client.set_cookie("lang", "zh")
    assert login(client, "li.wei", code.group(1), "000000").status_code == 401
    first = login(client, "li.wei", code.group(1), totp.now())
    assert first.status_code == 302 and first.headers["Location"].endswith("/new-password")
    # Too short a password: said in Chinese, no English.
    short = client.post("/new-password", data={
        "csrf_token": csrf_token(client, "/new-password"), "password": "short",
        "again": "short",
    })  # fmt: skip
    text = visible(short.get_data(as_text=True))
    assert short.status_code == 400 and ZH_PASSWORD_SHORT in text
    assert "at least" not in text
    new = "my own new long password"
    chosen = client.post("/new-password", data={
        "csrf_token": csrf_token(client, "/new-password"), "password": new, "again": new,
    })  # fmt: skip
    assert chosen.status_code == 302 and client.get("/").status_code == 200
    assert "password.set" in actions(triage_app)
    # Next time: the new password and the same authenticator; the code is used up.
    again = triage_app.test_client()
    after = totp.at(dt.datetime.now(dt.UTC) + steps)
    assert login(again, "li.wei", new, after).status_code == 302
    assert login(triage_app.test_client(), "li.wei", code.group(1), "000000").status_code == 401


def test_a_totp_reset_forces_enrolment_again(triage_app: Flask) -> None:
    _, secret = enrolled(triage_app, "root", "admin")
    officer_id, officer_secret = enrolled(triage_app, "li.wei", "bureau_officer")
    admin = signed_in(triage_app, "root", secret)
    done = confirmed(admin, f"/admin/users/{officer_id}/reset-totp", f"/admin/users/{officer_id}")
    code = ACTIVATION.search(done.get_data(as_text=True))
    assert code is not None and "user.reset_totp" in actions(triage_app)
    assert row(triage_app, "li.wei").totp_sealed is None
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30)
    old = login(triage_app.test_client(), "li.wei", PASSWORD, pyotp.TOTP(officer_secret).at(later))
    assert old.status_code == 401
    client = triage_app.test_client()
    first = login(client, "li.wei", PASSWORD, code.group(1))
    assert first.status_code == 302 and first.headers["Location"].endswith("/enrol")
    page = client.get("/enrol").get_data(as_text=True)
    assert "<svg" in page and "otpauth://totp/tipline:li.wei" in html.unescape(page)
    # While the password reset waits, the authenticator cannot be reset too (one at a time:
    # both together only on the server).
    other_id, _ = enrolled(triage_app, "zhao.lei", "auditor")
    confirmed(admin, f"/admin/users/{other_id}/reset-password", f"/admin/users/{other_id}")
    refused = admin.post(f"/admin/users/{other_id}/reset-totp", data={
        "csrf_token": csrf_token(admin, f"/admin/users/{other_id}"),
    })  # fmt: skip
    assert refused.status_code == 400
    assert "tipline users reset" in visible(refused.get_data(as_text=True))


def test_the_enrolment_qr_code_is_the_set_up_address(triage_app: Flask) -> None:
    """The QR code is drawn on the server from the otpauth address shown beside it: the
    same address drawn again by segno gives the same modules. No script, no image fetched."""
    import segno

    _, secret = enrolled(triage_app, "root", "admin")
    admin = signed_in(triage_app, "root", secret)
    added = admin.post("/admin/users", data={
        "csrf_token": csrf_token(admin, "/admin/users"), "username": "audit.one",
        "password": "another long password", "role": "auditor",
        "bureau": "hrss_fund_supervision", "region": "441500", "email": "",
    })  # fmt: skip
    code = ACTIVATION.search(added.get_data(as_text=True))
    assert code is not None
    client = triage_app.test_client()
    assert login(client, "audit.one", "another long password", code.group(1)).status_code == 302
    page = client.get("/enrol").get_data(as_text=True)
    uri = html.unescape(re.search(r'id="totp-uri">([^<]+)<', page).group(1))  # type: ignore[union-attr]
    assert uri.startswith("otpauth://totp/tipline:audit.one?secret=")
    shown = re.search(r'id="totp-secret"[^>]*>([A-Z2-7 ]+)<', page)
    assert shown is not None
    groups = shown.group(1).split(" ")
    assert all(len(g) == 4 for g in groups[:-1]) and "".join(groups) in uri
    drawn = re.search(r'<path class="qrline"[^>]* d="([^"]+)"', page)
    again = segno.make(uri, error="m").svg_inline(scale=4, border=2)
    assert drawn is not None and f'd="{drawn.group(1)}"' in again
    assert "<script" not in page and "<img" not in page
    # And the matrix itself carries the address: segno's own reading of its modules.
    assert segno.make(uri, error="m").designator  # a version was chosen for this data


def change(client: FlaskClient, officer_id: int, **office: str) -> Any:
    return confirmed(client, f"/admin/users/{officer_id}/change", f"/admin/users/{officer_id}",
                     **office)  # fmt: skip


def test_a_change_that_widens_a_reader_waits_for_a_supervisor(triage_app: Flask) -> None:
    _, secret = enrolled(triage_app, "root", "admin")
    officer_id, _ = enrolled(triage_app, "li.wei", "bureau_officer", "labor_inspection", "441502")
    admin = signed_in(triage_app, "root", secret)
    # A larger jurisdiction (the city, not its district): it waits, and nothing changes yet.
    waits = change(admin, officer_id, role="bureau_officer", bureau="labor_inspection",
                   region="441500")  # fmt: skip
    assert waits.status_code == 200
    assert "等待新部门和辖区的负责人批准" in visible(waits.get_data(as_text=True))
    now = row(triage_app, "li.wei")
    assert (now.role, now.bureau, now.region) == ("bureau_officer", "labor_inspection", "441502")
    assert (now.pending_region, now.change_requested_by) == ("441500", "root")
    assert details(triage_app, "user.change.request")[0]["region"] == "441500"
    # A supervisor of another bureau does not see it and cannot approve it.
    _, other = enrolled(triage_app, "other.chief", "supervisor", "healthcare_security", "441500")
    elsewhere = signed_in(triage_app, "other.chief", other)
    assert "li.wei" not in elsewhere.get("/approvals").get_data(as_text=True)
    assert elsewhere.post(f"/approvals/changes/{officer_id}", data={
        "csrf_token": csrf_token(elsewhere, "/approvals"), "confirmed": "yes",
    }).status_code == 404  # fmt: skip
    assert row(triage_app, "li.wei").region == "441502"
    # A supervisor of the district only does not cover the city either.
    _, district = enrolled(triage_app, "district.chief", "supervisor", "labor_inspection",
                           "441502")  # fmt: skip
    assert "li.wei" not in signed_in(triage_app, "district.chief", district).get(
        "/approvals").get_data(as_text=True)  # fmt: skip
    # The city's labour inspection supervisor does, and approves after confirming.
    _, chief = enrolled(triage_app, "city.chief", "supervisor", "labor_inspection", "441500")
    supervisor = signed_in(triage_app, "city.chief", chief)
    listing = supervisor.get("/approvals").get_data(as_text=True)
    assert 'id="changes"' in listing and "li.wei" in listing
    approved = confirmed(supervisor, f"/approvals/changes/{officer_id}", "/approvals")
    assert approved.status_code == 200 and 'id="changed"' in approved.get_data(as_text=True)
    now = row(triage_app, "li.wei")
    assert (now.region, now.pending_role) == ("441500", None)
    approval = details(triage_app, "user.change.approve")[0]
    assert (approval["username"], approval["region"], approval["was_region"]) == (
        "li.wei", "441500", "441502")  # fmt: skip
    assert "user.change.refused" in actions(triage_app)


def test_narrowing_takes_effect_now_and_giving_a_reader_role_waits(triage_app: Flask) -> None:
    _, secret = enrolled(triage_app, "root", "admin")
    chief_id, _ = enrolled(triage_app, "old.chief", "supervisor", "labor_inspection", "441500")
    auditor_id, _ = enrolled(triage_app, "audit.one", "auditor")
    admin = signed_in(triage_app, "root", secret)
    # A supervisor made an officer of a district of their own office: narrower, now.
    done = change(admin, chief_id, role="bureau_officer", bureau="labor_inspection",
                  region="441502")  # fmt: skip
    assert "已变更" in visible(done.get_data(as_text=True))
    now = row(triage_app, "old.chief")
    assert (now.role, now.region, now.pending_role) == ("bureau_officer", "441502", None)
    assert details(triage_app, "user.change")[0]["was_role"] == "supervisor"
    # An auditor made a reader: that gives a reader role, so it waits.
    change(admin, auditor_id, role="triage_officer", bureau="hrss_fund_supervision",
           region="441500")  # fmt: skip
    now = row(triage_app, "audit.one")
    assert (now.role, now.pending_role) == ("auditor", "triage_officer")
    listing = visible(admin.get("/admin/users").get_data(as_text=True))
    assert "变更等待批准" in listing
    # Back to the present values: the waiting change is withdrawn, and that is audited too.
    token = csrf_token(admin, f"/admin/users/{auditor_id}")
    back = admin.post(f"/admin/users/{auditor_id}/change", data={
        "csrf_token": token, "role": "auditor", "bureau": "hrss_fund_supervision",
        "region": "441500",
    })  # fmt: skip
    assert back.status_code == 200 and row(triage_app, "audit.one").pending_role is None
    assert "user.change.withdraw" in actions(triage_app)
    # Changes between roles that read nothing take effect now (an auditor made an admin).
    change(admin, auditor_id, role="admin", bureau="hrss_fund_supervision", region="441500")
    assert row(triage_app, "audit.one").role == "admin"


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_change_refusals_are_in_the_readers_language(triage_app: Flask, lang: str) -> None:
    _, secret = enrolled(triage_app, "root", "admin")
    officer_id, _ = enrolled(triage_app, "li.wei", "bureau_officer")
    admin = signed_in(triage_app, "root", secret, lang)
    bad = admin.post(f"/admin/users/{officer_id}/change", data={
        "csrf_token": csrf_token(admin, f"/admin/users/{officer_id}"), "role": "bureau_officer",
        "bureau": "hrss_fund_supervision", "region": "999999",
    })  # fmt: skip
    assert bad.status_code == 400
    text = visible(bad.get_data(as_text=True))
    english = "'999999' is not a region code (six digits, GB/T 2260)."
    if lang == "zh":
        assert english not in text and "region code" not in text and "999999" in text
    else:
        assert english in text
    short = admin.post("/admin/users", data={
        "csrf_token": csrf_token(admin, "/admin/users"), "username": "new.one",
        "password": "short", "role": "auditor", "bureau": "hrss_fund_supervision",
        "region": "441500", "email": "",
    })  # fmt: skip
    text = visible(short.get_data(as_text=True))
    if lang == "zh":
        assert ZH_PASSWORD_SHORT in text and "at least" not in text
    else:
        assert "A password has at least 12 characters." in text


def test_the_tipline_command_makes_the_same_changes(tmp_path: Path, database_url: str) -> None:
    """One implementation (accounts.py) for the pages and the command; the command speaks
    English and, holding the key passphrase, stands in for the approving supervisor."""
    env = cli_environment(tmp_path / "instance", database_url)
    assert run_cli(env, "init").returncode == 0
    added = run_cli(env, "users", "add", "li.wei", "--role", "bureau_officer", "--bureau",
                    "labor_inspection", "--region", "441502",
                    stdin="a long enough password\n")  # fmt: skip
    assert added.returncode == 0, added.stderr
    widened = run_cli(env, "users", "change", "li.wei", "--region", "441500")
    assert widened.returncode == 0, widened.stderr
    assert "bureau_officer labor_inspection 441500" in widened.stdout
    bad = run_cli(env, "users", "change", "li.wei", "--region", "999999")
    assert bad.returncode == 1 and "'999999' is not a region code" in bad.stderr
    # Not enrolled yet: a password reset cannot be proved with an authenticator.
    refused = run_cli(env, "users", "reset-password", "li.wei")
    assert refused.returncode == 1 and "no authenticator yet" in refused.stderr
    totp = run_cli(env, "users", "reset-totp", "li.wei")
    assert totp.returncode == 0 and re.match(r"activation code: [0-9A-Z-]{19}\n", totp.stdout)
    assert run_cli(env, "users", "unlock", "li.wei").returncode == 0
    assert "deactivated" in run_cli(env, "users", "deactivate", "li.wei").stdout
    assert "activated" in run_cli(env, "users", "activate", "li.wei").stdout
    missing = run_cli(env, "users", "unlock", "nobody")
    assert missing.returncode == 1 and "There is no user named 'nobody'." in missing.stderr
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            officer = session.scalar(select(Officer).where(Officer.username == "li.wei"))
            assert officer is not None and officer.region == "441500" and officer.active
            logged = list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
    finally:
        engine.dispose()
    for action in ("user.change", "user.reset_totp", "user.unlock", "user.deactivate",
                   "user.activate"):  # fmt: skip
        assert action in logged, action


def test_every_account_action_in_the_log_has_words() -> None:
    """Each action code the account code records has a label in accounts.ACCOUNT_ACTIONS,
    translated into Chinese, so the audit log's pages can show words, not codes."""
    from babel.support import Translations

    from tipline.triage import accounts

    source = "".join(
        (Path(accounts.__file__).parent / name).read_text("utf-8")
        for name in ("accounts.py", "admin.py", "auth.py", "cli.py")
    )
    found = re.findall(r'"((?:user|password)\.[a-z_.]+|(?:signin|enrol)(?:\.[a-z_.]+)?)"', source)
    used = {*found, "user.reset_password", "user.reset_totp"}  # the last two built f"..."
    assert len(used) > 15, used
    labelled = {term.code: term.label for term in accounts.ACCOUNT_ACTIONS}
    assert used <= set(labelled), sorted(used - set(labelled))
    folder = Path(accounts.__file__).parents[1] / "translations"
    chinese = Translations.load(str(folder), ["zh"], domain="messages")
    for code, label in labelled.items():
        assert chinese.gettext(label) != label, code


def test_a_supervisor_approves_the_change_they_read_not_one_swapped_in_since(
    triage_app: Flask,
) -> None:
    _, secret = enrolled(triage_app, "root", "admin")
    officer_id, _ = enrolled(triage_app, "li.wei", "bureau_officer", "labor_inspection", "441502")
    admin = signed_in(triage_app, "root", secret)
    assert change(admin, officer_id, role="bureau_officer", bureau="labor_inspection",
                  region="441500").status_code == 200  # fmt: skip
    _, chief = enrolled(triage_app, "city.chief", "supervisor", "labor_inspection", "441500")
    supervisor = signed_in(triage_app, "city.chief", chief)
    token = csrf_token(supervisor, "/approvals")
    path = f"/approvals/changes/{officer_id}"
    shown = supervisor.post(path, data={"csrf_token": token}).get_data(as_text=True)
    hidden = dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"', shown))
    assert hidden["pending_region"] == "441500"
    # Meanwhile the admin asks for a wider change instead: the city's supervisor role.
    assert change(admin, officer_id, role="supervisor", bureau="labor_inspection",
                  region="441500").status_code == 200  # fmt: skip
    supervisor.post(path, data={**hidden, "csrf_token": token, "confirmed": "yes"})
    now = row(triage_app, "li.wei")
    assert (now.role, now.region, now.pending_role) == ("bureau_officer", "441502", "supervisor")
    assert "user.change.approve" not in actions(triage_app)
