"""The internal site: start-up, sign-in, deny by default, decryption audited."""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Callable
from pathlib import Path

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from tests.conftest import csrf_token, make_enrolled, submit_report, tiny_pdf
from tipline.crypto import WrongPassphrase
from tipline.intake.config import Config, ConfigError
from tipline.intake.db import transaction
from tipline.intake.models import AuditEvent, Officer, Tip
from tipline.triage import access, api, create_app
from tipline.triage.accounts import MAX_FAILURES, ROLES, add_officer

PASSWORD = "correct horse battery staple"


def make_officer(app: Flask, username: str, role: str) -> str:
    """Create an officer; returns the TOTP secret."""
    services = app.extensions["triage"]
    with transaction(services.sessions) as session:
        return make_enrolled(
            session, services.officer_secrets, username, PASSWORD, role=role,
            region="441500", bureau="hrss_fund_supervision",
        )[1]  # fmt: skip


def sign_in(
    client: FlaskClient,
    username: str,
    secret: str,
    *,
    at: dt.datetime | None = None,
    password: str = PASSWORD,
) -> int:
    code = pyotp.TOTP(secret).at(at or dt.datetime.now(dt.UTC))
    response = client.post(
        "/login",
        data={
            "csrf_token": csrf_token(client, "/login"),
            "username": username,
            "password": password,
            "code": code,
        },
    )
    return response.status_code


def audit(app: Flask, action: str) -> list[AuditEvent]:
    with app.extensions["triage"].sessions() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_triage_refuses_to_start_without_the_passphrase(make_config: Callable[..., Config]) -> None:
    with pytest.raises(ConfigError, match="TIPLINE_KEY_PASSPHRASE"):
        create_app(make_config(key_passphrase=None))


def test_triage_refuses_a_wrong_passphrase(make_config: Callable[..., Config]) -> None:
    with pytest.raises(WrongPassphrase):
        create_app(make_config(key_passphrase="not the passphrase"))


def test_config_reads_the_passphrase_from_a_file(tmp_path: Path) -> None:
    secret_file = tmp_path / "passphrase"
    secret_file.write_text("from a file\n")
    config = Config.from_env(
        {"TIPLINE_SECRET_KEY": "s", "TIPLINE_KEY_PASSPHRASE_FILE": str(secret_file)}
    )
    assert config.key_passphrase == "from a file"
    with pytest.raises(ConfigError, match="TIPLINE_SECRET_KEY"):
        Config.from_env({})


def test_sign_in_needs_password_and_one_time_code(triage_app: Flask, triage: FlaskClient) -> None:
    secret = make_officer(triage_app, "officer", "triage_officer")
    assert triage.get("/").status_code == 302
    assert sign_in(triage, "officer", secret, password="wrong password!") == 401
    assert sign_in(triage, "officer", pyotp.random_base32()) == 401
    assert sign_in(triage, "officer", secret) == 302
    assert triage.get("/").status_code == 200
    assert [e.actor for e in audit(triage_app, "signin")] == ["officer"]
    assert len(audit(triage_app, "signin.failed")) == 2


def test_a_one_time_code_cannot_be_replayed(triage_app: Flask) -> None:
    secret = make_officer(triage_app, "officer", "triage_officer")
    now = dt.datetime.now(dt.UTC)
    first, second = triage_app.test_client(), triage_app.test_client()
    assert sign_in(first, "officer", secret, at=now) == 302
    assert sign_in(second, "officer", secret, at=now) == 401


def test_repeated_failures_lock_the_account(triage_app: Flask, triage: FlaskClient) -> None:
    secret = make_officer(triage_app, "officer", "triage_officer")
    for _ in range(MAX_FAILURES):
        assert sign_in(triage, "officer", secret, password="wrong password!") == 401
    # Even the right password and code are refused while locked.
    assert sign_in(triage, "officer", secret) == 401
    with triage_app.extensions["triage"].sessions() as session:
        officer = session.scalar(select(Officer).where(Officer.username == "officer"))
        assert officer is not None and officer.locked_until is not None


def test_a_password_typed_as_a_name_is_not_logged(triage_app: Flask, triage: FlaskClient) -> None:
    sign_in(triage, "my-secret-password", pyotp.random_base32())
    [event] = audit(triage_app, "signin.failed")
    assert event.actor is None


def _concrete_paths(app: Flask) -> list[tuple[str, str, str]]:
    """Every route of the app with its placeholders filled, and its method."""
    found = []
    for rule in app.url_map.iter_rules():
        path = re.sub(
            r"<(?:([^:>]+):)?([^>]+)>",
            lambda m: "1" if m.group(1) == "int" else f"x{m.group(2)}",
            rule.rule,
        )
        methods = sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
        found += [(rule.endpoint, method, path) for method in methods]
    return found


def test_every_route_is_declared_in_the_access_table(triage_app: Flask) -> None:
    endpoints = {rule.endpoint for rule in triage_app.url_map.iter_rules()}
    undeclared = endpoints - access.PUBLIC - set(access.ALLOWED)
    assert not undeclared, f"declare who may use these routes in access.py: {undeclared}"


@pytest.mark.parametrize("role", [None, *ROLES])
def test_route_role_matrix(triage_app: Flask, role: str | None) -> None:
    """Walk every route as every role and signed out; the answer follows the table."""
    client = triage_app.test_client()
    triage_app.config["WTF_CSRF_ENABLED"] = False
    token: dict[str, str] = {}
    if role is not None:
        secret = make_officer(triage_app, "walker", role)
        triage_app.config["WTF_CSRF_ENABLED"] = True
        assert sign_in(client, "walker", secret) == 302
        triage_app.config["WTF_CSRF_ENABLED"] = False
        with transaction(triage_app.extensions["triage"].sessions) as session:
            token = {"Authorization": f"Bearer {api.issue_token(session, 'walker', actor='t')}"}
    for endpoint, method, path in _concrete_paths(triage_app):
        if endpoint in access.PUBLIC or endpoint == "auth.logout":
            continue
        # The API takes the bearer token, never the session cookie; signed out, it says 401.
        in_api = path.startswith("/api/")
        response = client.open(path, method=method, headers=token if in_api else {})
        if role is None and in_api:
            assert response.status_code == 401, (endpoint, path)
            assert response.headers["WWW-Authenticate"] == "Bearer"
        elif role is None:
            assert response.status_code == 302, (endpoint, path)
            assert response.headers["Location"].endswith("/login")
        elif role in access.ALLOWED[endpoint]:
            # Allowed through the gate: the view answers (placeholder ids do not exist, and
            # empty forms are refused).
            assert response.status_code in (200, 400, 404), (endpoint, role, response.status_code)
        else:
            assert response.status_code == 403, (endpoint, role, response.status_code)


def test_a_tip_from_the_portal_opens_in_triage_and_the_reading_is_audited(
    portal: FlaskClient, triage_app: Flask, triage: FlaskClient
) -> None:
    evidence = tiny_pdf("fake evidence")
    submit_report(
        portal,
        text="某药店倒卖医保药品，标记甲乙丙",
        attachments=[(io.BytesIO(evidence), "票据.pdf")],
    )
    secret = make_officer(triage_app, "officer", "triage_officer")
    sign_in(triage, "officer", secret)
    inbox = triage.get("/").get_data(as_text=True)
    [tip_id] = re.findall(r'href="/tips/([0-9a-f]{16})"', inbox)
    assert "标记甲乙丙" not in inbox  # the list shows no contents
    page = triage.get(f"/tips/{tip_id}")
    assert page.status_code == 200
    assert "某药店倒卖医保药品，标记甲乙丙" in page.get_data(as_text=True)
    [read] = audit(triage_app, "tip.read")
    assert (read.actor, read.tip_id) == ("officer", tip_id)
    [attachment_id] = re.findall(
        rf'href="/tips/{tip_id}/attachments/([0-9a-f]+)"', page.get_data(as_text=True)
    )
    download = triage.get(f"/tips/{tip_id}/attachments/{attachment_id}")
    assert download.status_code == 200
    assert download.data.startswith(b"%PDF") and b"fake evidence" not in download.data
    assert download.headers["Content-Disposition"].startswith("attachment")
    assert len(audit(triage_app, "attachment.read")) == 1


def test_admins_and_auditors_cannot_read_contents(portal: FlaskClient, triage_app: Flask) -> None:
    submit_report(portal)
    with triage_app.extensions["triage"].sessions() as session:
        tip_id = session.scalars(select(Tip.id)).one()
    for role in ("admin", "auditor"):
        client = triage_app.test_client()
        sign_in(client, role, make_officer(triage_app, role, role))
        assert client.get(f"/tips/{tip_id}").status_code == 403
    assert audit(triage_app, "tip.read") == []


def test_unknown_tip_is_404(triage_app: Flask, triage: FlaskClient) -> None:
    sign_in(triage, "officer", make_officer(triage_app, "officer", "triage_officer"))
    assert triage.get("/tips/0000000000000000").status_code == 404


def test_sign_out(triage_app: Flask, triage: FlaskClient) -> None:
    sign_in(triage, "officer", make_officer(triage_app, "officer", "triage_officer"))
    response = triage.post("/logout", data={"csrf_token": csrf_token(triage, "/")})
    assert response.status_code == 302
    assert triage.get("/").status_code == 302


def test_officer_enters_a_tip_that_came_by_letter(triage_app: Flask, triage: FlaskClient) -> None:
    from tests.conftest import post_multipart
    from tests.test_submit import jpeg_with_gps

    sign_in(triage, "desk", make_officer(triage_app, "desk", "triage_officer"))
    response = post_multipart(
        triage,
        "/tips/new",
        {
            "csrf_token": csrf_token(triage, "/tips/new"),
            "channel": "letter",
            "received_on": "2025-09-30",
            "category": "benefit_impostor",
            "fund": "pension",
            "suspect_kind": "individual",
            "province": "440000",
            "city": "441500",
            "county": "441502",
            "amount": "86400",
            "text": "来信反映：某人去世后家属继续领取养老金。",
            "attachments": [(io.BytesIO(jpeg_with_gps()), "来信扫描.jpg")],
        },
    )
    assert response.status_code == 302
    tip_id = response.headers["Location"].rsplit("/", 1)[-1]
    page = triage.get(f"/tips/{tip_id}").get_data(as_text=True)
    assert "来信反映" in page and "来信扫描.jpg" in page
    with triage_app.extensions["triage"].sessions() as session:
        tip = session.get(Tip, tip_id)
        assert tip is not None
        assert (tip.channel, tip.received_on.isoformat()) == ("letter", "2025-09-30")
        assert tip.reporter_locator is None  # no receipt for a letter
    assert [e.action for e in audit(triage_app, "tip.enter")] == ["tip.enter"]
    bad = post_multipart(
        triage, "/tips/new",
        {"csrf_token": csrf_token(triage, "/tips/new"), "channel": "letter",
         "received_on": "2999-01-01", "category": "benefit_impostor", "province": "440000",
         "text": "x"},
    )  # fmt: skip
    assert bad.status_code == 400


def test_a_session_cookie_dies_with_sign_out(triage_app: Flask, triage: FlaskClient) -> None:
    sign_in(triage, "officer", make_officer(triage_app, "officer", "triage_officer"))
    stolen = triage.get_cookie("tipline_triage")
    assert stolen is not None
    triage.post("/logout", data={"csrf_token": csrf_token(triage, "/")})
    replay = triage_app.test_client()
    replay.set_cookie("tipline_triage", stolen.value)
    assert replay.get("/").status_code == 302  # back to the sign-in page


def test_an_idle_session_expires(
    triage_app: Flask, triage: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    sign_in(triage, "officer", make_officer(triage_app, "officer", "triage_officer"))
    assert triage.get("/").status_code == 200
    later = time.time() + 31 * 60
    monkeypatch.setattr(time, "time", lambda: later)
    assert triage.get("/").status_code == 302


def test_internal_notes_do_not_open_with_the_receipt(
    portal: FlaskClient, triage_app: Flask, keys_dir: Path
) -> None:
    from tests.conftest import PASSPHRASE
    from tipline.crypto import (
        InvalidCiphertext,
        ReceiptKdf,
        load_private_keyring,
        open_sealed,
        parse_receipt,
    )
    from tipline.intake.models import Note
    from tipline.intake.reading import open_tip, open_with_receipt
    from tipline.triage.tips import decisions

    receipt = parse_receipt(submit_report(portal))
    services = triage_app.extensions["triage"]
    with transaction(services.sessions) as session:
        officer = add_officer(session, "desk", PASSWORD, role="triage_officer",
                              bureau="hrss_fund_supervision", region="441500",
                              requested_by="test", approved_by="test").officer  # fmt: skip
        tip = session.scalars(select(Tip)).one()
        opened = open_tip(tip, load_private_keyring(keys_dir, PASSPHRASE))
        decisions.add_note(session, opened, officer, "内部意见：先核实")
    with services.sessions() as session:
        as_reporter = open_with_receipt(session, receipt, ReceiptKdf(n=2**10))
        note = session.scalars(select(Note)).one()
        with pytest.raises(InvalidCiphertext):
            open_sealed(as_reporter.key, note.body, tip_id=note.tip_id, purpose=f"note:{note.id}")
