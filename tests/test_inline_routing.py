"""Without Redis, triage routes the tips the portal left waiting, but only for a request
the guard let through from a signed-in officer: nobody signed out, no static file and no
unauthenticated API call makes it open tips with the private key or write."""

from __future__ import annotations

import pyotp
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from tests.conftest import csrf_token, make_enrolled, submit_report
from tipline.intake.db import transaction
from tipline.intake.models import Tip


def waiting(app: Flask) -> list[bool]:
    with app.extensions["triage"].sessions() as session:
        return [not processed for processed in session.scalars(select(Tip.processed))]


def test_only_a_signed_in_officer_sets_off_inline_routing(
    portal: FlaskClient, triage_app: Flask
) -> None:
    assert triage_app.extensions["triage"].config.redis_url is None
    submit_report(portal)
    assert waiting(triage_app) == [True]  # the portal holds no private key: it waits
    anonymous = triage_app.test_client()
    for path in ("/login", "/", "/static/style.css", "/api/v1/tips", "/language/en?next=/",
                 "/no-such-page"):  # fmt: skip
        anonymous.get(path).close()
        assert waiting(triage_app) == [True], path
    anonymous.get("/api/v1/tips", headers={"Authorization": "Bearer not-a-token"})
    anonymous.post("/login", data={"csrf_token": csrf_token(anonymous, "/login"),
                                   "username": "nobody", "password": "x", "code": "1"})  # fmt: skip
    assert waiting(triage_app) == [True]

    services = triage_app.extensions["triage"]
    with transaction(services.sessions) as session:
        _, secret = make_enrolled(session, services.officer_secrets, "reader",
                                  role="triage_officer", bureau="hrss_fund_supervision",
                                  region="441500")  # fmt: skip
    officer = triage_app.test_client()
    signed = officer.post("/login", data={
        "csrf_token": csrf_token(officer, "/login"), "username": "reader",
        "password": "a long test password", "code": pyotp.TOTP(secret).now(),
    })  # fmt: skip
    assert signed.status_code == 302
    officer.get("/static/style.css").close()
    assert waiting(triage_app) == [True]  # static files, even signed in, never route
    inbox = officer.get("/")
    assert inbox.status_code == 200
    assert waiting(triage_app) == [False]
