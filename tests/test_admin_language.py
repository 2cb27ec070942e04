"""The account pages speak the reader's language: no role code and no English refusal on a
Chinese page, English on an English one (issue 7 review of item 8).

Visible text only: tags are stripped and attribute values (an option's value is the code,
on purpose) are ignored.
"""

from __future__ import annotations

import re
from typing import Any

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_babel import force_locale, gettext

from tests.conftest import OFFICER_PASSWORD, csrf_token, make_enrolled, visible
from tipline.intake.db import transaction
from tipline.triage.accounts import ROLES, AccountError, add_officer

NEW_PASSWORD = "another long password"
# The refusals the pages can show, in the English of the message ids.
REFUSALS = {
    "username": "A user name is 2-64 lower-case letters, digits, dots, hyphens or underscores.",
    "password": "A password has at least 12 characters.",
    "region": "'999999' is not a region code (six digits, GB/T 2260).",
    "email": "'not-mail' is not an e-mail address.",
    "duplicate": "A user named 'root' already exists.",
    "self": "You cannot deactivate or activate your own account.",
    "waiting": "This account waits for a supervisor's approval; only that opens it.",
    "role": "Not a valid choice.",
    "empty": "This field is required.",
}
ROLE_NAMES = {
    "zh": {"triage_officer": "受理员", "bureau_officer": "承办人", "supervisor": "负责人",
           "admin": "系统管理员", "auditor": "审计员"},
    "en": {"triage_officer": "Triage officer", "bureau_officer": "Bureau officer",
           "supervisor": "Supervisor", "admin": "Administrator", "auditor": "Auditor"},
}  # fmt: skip
CJK = re.compile(r"[\u4e00-\u9fff]")


def signed_in(app: Flask, name: str, role: str, lang: str, region: str = "441500") -> FlaskClient:
    services = app.extensions["triage"]
    with transaction(services.sessions) as session:
        _, secret = make_enrolled(session, services.officer_secrets, name, role=role,
                                  bureau="hrss_fund_supervision", region=region)  # fmt: skip
    client = app.test_client()
    client.set_cookie("lang", lang)
    response = client.post("/login", data={
        "csrf_token": csrf_token(client, "/login"), "username": name,
        "password": OFFICER_PASSWORD, "code": pyotp.TOTP(secret).now(),
    })  # fmt: skip
    assert response.status_code == 302
    return client


def add_user(admin: FlaskClient, **fields: str) -> Any:
    data = {"csrf_token": csrf_token(admin, "/admin/users"), "username": "zhao.lei",
            "password": NEW_PASSWORD, "role": "auditor", "bureau": "hrss_fund_supervision",
            "region": "441502", "email": ""}  # fmt: skip
    data.update(fields)
    return admin.post("/admin/users", data=data)


def pages(app: Flask, lang: str) -> dict[str, str]:
    """Every account page, in ``lang``: the visible text of each, by a name for the report."""
    admin = signed_in(app, "root", "admin", lang)
    shown: dict[str, str] = {}
    # One account of every role, so the list shows each role; the readers wait.
    for index, role in enumerate(ROLES):
        response = add_user(admin, username=f"user{index}", role=role)
        assert response.status_code == 200, response.get_data(as_text=True)
        shown[f"added {role}"] = response.get_data(as_text=True)
    shown["users"] = admin.get("/admin/users").get_data(as_text=True)
    bad = {
        "username": {"username": "X!"},
        "password": {"password": "short"},
        "region": {"region": "999999"},
        "email": {"email": "not-mail"},
        "duplicate": {"username": "root"},
        "role": {"role": "chief"},  # refused by the form's own choices (wtforms' catalogue)
        "empty": {"username": "", "region": ""},
    }
    for name, fields in bad.items():
        response = add_user(admin, **fields)
        assert response.status_code == 400
        shown[name] = response.get_data(as_text=True)
    me = re.search(r'/admin/users/(\d+)/active"', shown["users"])
    with app.extensions["triage"].sessions() as session:
        from sqlalchemy import select

        from tipline.intake.models import Officer

        ids = {o.username: o.id for o in session.scalars(select(Officer))}
    assert me is not None
    token = csrf_token(admin, "/admin/users")
    mine = admin.post(f"/admin/users/{ids['root']}/active", data={"csrf_token": token})
    assert mine.status_code == 400
    shown["self"] = mine.get_data(as_text=True)
    waiting = admin.post(f"/admin/users/{ids['user1']}/active", data={"csrf_token": token})
    assert waiting.status_code == 400
    shown["waiting"] = waiting.get_data(as_text=True)
    # The supervisor's page of accounts to approve, and the approval itself.
    supervisor = signed_in(app, "chief", "supervisor", lang, region="441500")
    shown["approvals"] = supervisor.get("/approvals").get_data(as_text=True)
    approved = supervisor.post(
        f"/approvals/{ids['user0']}", data={"csrf_token": csrf_token(supervisor, "/approvals")}
    )
    assert approved.status_code == 200
    shown["approved"] = approved.get_data(as_text=True)
    # The first sign-in of the auditor the administrator added: the enrolment page.
    added = shown[f"added {'auditor'}"]
    activation = re.search(r'id="activation">([0-9A-Z-]+)<', added)
    assert activation is not None
    newcomer = app.test_client()
    newcomer.set_cookie("lang", lang)
    first = newcomer.post("/login", data={
        "csrf_token": csrf_token(newcomer, "/login"), "username": "user4",
        "password": NEW_PASSWORD, "code": activation.group(1),
    })  # fmt: skip
    assert first.status_code == 302 and first.headers["Location"].endswith("/enrol")
    shown["enrol"] = newcomer.get("/enrol").get_data(as_text=True)
    return {name: visible(body) for name, body in shown.items()}


def test_the_chinese_account_pages_show_no_role_code_and_no_english(triage_app: Flask) -> None:
    shown = pages(triage_app, "zh")
    codes = re.compile(r"\b(" + "|".join(ROLES) + r")\b")
    for name, text in shown.items():
        assert not codes.search(text), (name, codes.findall(text), text)
        for english in [*REFUSALS.values(), *ROLE_NAMES["en"].values()]:
            assert english not in text, (name, english)
    # And what they should say instead.
    for code, label in ROLE_NAMES["zh"].items():
        assert label in shown["users"], code
    for code in ("triage_officer", "bureau_officer", "supervisor"):
        assert ROLE_NAMES["zh"][code] in shown["approvals"]
    assert "密码至少需要 12 个字符。" in shown["password"]
    assert "您不能停用或启用自己的账户。" in shown["self"]
    assert "该账户正在等待负责人批准" in shown["waiting"]


def test_the_english_account_pages_are_english(triage_app: Flask) -> None:
    shown = pages(triage_app, "en")
    for code, label in ROLE_NAMES["en"].items():
        assert label in shown["users"], code
    for name, english in REFUSALS.items():
        assert english in shown[name], (name, shown[name])
    for name, text in shown.items():
        # Region names are proper nouns written in Chinese, and the switch to Chinese is
        # written in it; nothing else is.
        without_regions = text
        for chinese in ("广东省", "汕尾市", "城区", "中文"):
            without_regions = without_regions.replace(chinese, "")
        assert not CJK.search(without_regions), (name, CJK.findall(without_regions), text)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_account_refusal_is_catalogued(triage_app: Flask, lang: str) -> None:
    """Every refusal add_officer can raise, including those the form cannot reach (a reader
    without an office, an unknown role or bureau), has a translation with its values."""
    attempts: list[dict[str, Any]] = [
        {"username": "X!"},
        {"role": "chief"},
        {"bureau": "nowhere"},
        {"region": "999999"},
        {"role": "bureau_officer", "bureau": None},
        {"password": "short"},
        {"email": "not-mail"},
        {"username": "root"},
    ]
    services = triage_app.extensions["triage"]
    with transaction(services.sessions) as session:
        add_officer(session, "root", NEW_PASSWORD, role="admin", requested_by="t",
                    approved_by="t")  # fmt: skip
    seen = set()
    for attempt in attempts:
        values: dict[str, Any] = {"username": "new.one", "password": NEW_PASSWORD,
                                  "role": "auditor", "bureau": "hrss_fund_supervision",
                                  "region": "441500", "email": None}  # fmt: skip
        values.update(attempt)
        with transaction(services.sessions) as session, pytest.raises(AccountError) as raised:
            add_officer(session, values.pop("username"), values.pop("password"),
                        requested_by="t", approved_by=None, **values)  # fmt: skip
        error = raised.value
        seen.add(error.message)
        with triage_app.test_request_context(), force_locale(lang):
            shown = gettext(error.message, **error.params)
        if lang == "zh":
            assert shown != str(error) and CJK.search(shown), (error.message, shown)
        else:
            assert shown == str(error)
    assert len(seen) == len(attempts)
    with triage_app.test_request_context(), force_locale(lang):
        for code, english in ROLE_NAMES["en"].items():
            assert gettext(english) == ROLE_NAMES[lang][code]
