"""Officer accounts: two people grant a role that reads tips, only the owner sees a TOTP
secret (sealed at rest), and the lock-out and one-time codes hold under parallel sign-ins
(issue 7, items 7 and 8, and the TOTP part of item 2)."""

from __future__ import annotations

import contextlib
import datetime as dt
import html
import re
import secrets
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import pyotp
import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from tests.conftest import (
    OFFICER_PASSWORD,
    csrf_token,
    make_enrolled,
    submit_report,
)
from tipline.crypto import InvalidCiphertext, OfficerSecrets, generate_key
from tipline.crypto.keys import PrivateKeyring
from tipline.intake.db import transaction
from tipline.intake.models import AuditEvent, Officer
from tipline.triage.accounts import MAX_FAILURES

try:
    import served
except ImportError:  # tests/ imported as a package
    from tests import served

T = TypeVar("T")
NEW_PASSWORD = "the new supervisor's password"
ACTIVATION = re.compile(r'id="activation">([0-9A-Z]{4}(?:-[0-9A-Z]{4}){3})<')
SECRET = re.compile(r'id="totp-secret"[^>]*>([A-Z2-7 ]+)<')  # shown in groups of four
REPLAYED = {"en": "This code was already used", "zh": "此验证码已经用过"}


def actions(app: Flask) -> list[str]:
    with app.extensions["triage"].sessions() as session:
        return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def enrolled(app: Flask, name: str, role: str, bureau: str, region: str) -> FlaskClient:
    """A client signed in as a pre-enrolled account (as the demo makes them)."""
    services = app.extensions["triage"]
    with transaction(services.sessions) as session:
        _, secret = make_enrolled(
            session, services.officer_secrets, name, role=role, bureau=bureau, region=region
        )
    client = app.test_client()
    assert post_login(client, name, OFFICER_PASSWORD, pyotp.TOTP(secret).now()).status_code == 302
    return client


def post_login(client: FlaskClient, name: str, password: str, code: str) -> Any:
    return client.post("/login", data={
        "csrf_token": csrf_token(client, "/login"), "username": name, "password": password,
        "code": code,
    })  # fmt: skip


def officer_row(app: Flask, name: str) -> Officer:
    with app.extensions["triage"].sessions() as session:
        found = session.scalar(select(Officer).where(Officer.username == name))
    assert found is not None
    return found


def enrol_in_browser(client: FlaskClient, name: str, password: str, activation: str) -> str:
    """First sign-in: password and activation code, then the secret shown, then a code."""
    first = post_login(client, name, password, activation)
    assert first.status_code == 302 and first.headers["Location"].endswith("/enrol")
    page = client.get("/enrol").get_data(as_text=True)
    found = SECRET.search(page)
    assert found is not None, page
    assert "<svg" in page and "otpauth://totp/tipline:" in html.unescape(page)
    secret = found.group(1).replace(" ", "")
    confirmed = client.post("/enrol", data={
        "csrf_token": csrf_token(client, "/enrol"), "code": pyotp.TOTP(secret).now(),
    })  # fmt: skip
    assert confirmed.status_code == 302, confirmed.get_data(as_text=True)
    return secret


def test_a_reader_account_needs_a_supervisor_of_its_office(
    triage_app: Flask, portal: FlaskClient
) -> None:
    submit_report(portal, text="某医院挂床住院，两人批准后才可阅读")
    admin = enrolled(triage_app, "root", "admin", "hrss_fund_supervision", "440000")
    asked = admin.post("/admin/users", data={
        "csrf_token": csrf_token(admin, "/admin/users"), "username": "new.chief",
        "password": NEW_PASSWORD, "role": "supervisor", "bureau": "hrss_fund_supervision",
        "region": "441500",
    })  # fmt: skip
    assert asked.status_code == 200
    assert "otpauth://" not in asked.get_data(as_text=True)
    assert ACTIVATION.search(asked.get_data(as_text=True)) is None
    waiting = officer_row(triage_app, "new.chief")
    assert waiting.awaiting_approval and not waiting.active

    # Before approval it cannot sign in (whatever the code), and the admin cannot open it.
    outsider = triage_app.test_client()
    for code in ("123456", "0000-0000-0000-0000"):
        assert post_login(outsider, "new.chief", NEW_PASSWORD, code).status_code == 401
    assert outsider.get("/").status_code == 302
    activate = admin.post(f"/admin/users/{waiting.id}/active", data={
        "csrf_token": csrf_token(admin, "/admin/users"), "active": "y",
    })  # fmt: skip
    assert activate.status_code == 400
    assert admin.get("/approvals").status_code == 403
    approve_as_admin = admin.post(f"/approvals/{waiting.id}", data={
        "csrf_token": csrf_token(admin, "/admin/users"),
    })  # fmt: skip
    assert approve_as_admin.status_code == 403

    # Supervisors of another bureau, or of another city, neither see nor approve it.
    for name, bureau, region in (
        ("other.bureau", "labor_inspection", "441500"),
        ("other.city", "hrss_fund_supervision", "440300"),
    ):
        other = enrolled(triage_app, name, "supervisor", bureau, region)
        assert "new.chief" not in other.get("/approvals").get_data(as_text=True)
        refused = other.post(f"/approvals/{waiting.id}", data={
            "csrf_token": csrf_token(other, "/approvals"),
        })  # fmt: skip
        assert refused.status_code == 404
    assert officer_row(triage_app, "new.chief").awaiting_approval

    # A supervisor of the province's intake desk (which contains the city) approves it,
    # and is given the activation code to hand over; still no TOTP secret.
    chief = enrolled(triage_app, "province.chief", "supervisor", "hrss_fund_supervision", "440000")
    listed = chief.get("/approvals").get_data(as_text=True)
    assert "new.chief" in listed
    approved = chief.post(f"/approvals/{waiting.id}", data={
        "csrf_token": csrf_token(chief, "/approvals"),
    })  # fmt: skip
    assert approved.status_code == 200
    found = ACTIVATION.search(approved.get_data(as_text=True))
    assert found is not None and "otpauth://" not in approved.get_data(as_text=True)
    row = officer_row(triage_app, "new.chief")
    assert row.active and not row.awaiting_approval and row.approved_by == "province.chief"

    # The password alone (all the admin knows) does not enrol; with the activation code the
    # owner sees the secret, enrols, and reads tips.
    assert post_login(outsider, "new.chief", NEW_PASSWORD, "123456").status_code == 401
    owner = triage_app.test_client()
    enrol_in_browser(owner, "new.chief", NEW_PASSWORD, found.group(1))
    assert owner.get("/").status_code == 200
    assert "某医院" not in owner.get("/").get_data(as_text=True)  # the list shows no text
    done = actions(triage_app)
    for action in ("user.request", "user.approve.refused", "user.approve", "signin.activation",
                   "enrol"):  # fmt: skip
        assert action in done, action
    # The activation code is spent: it does not start a second enrolment.
    assert post_login(triage_app.test_client(), "new.chief", NEW_PASSWORD,
                      found.group(1)).status_code == 401  # fmt: skip


def test_the_enrolment_page_is_only_for_whoever_gave_the_activation_code(
    triage_app: Flask,
) -> None:
    admin = enrolled(triage_app, "root", "admin", "hrss_fund_supervision", "440000")
    page = admin.post("/admin/users", data={
        "csrf_token": csrf_token(admin, "/admin/users"), "username": "audit.one",
        "password": NEW_PASSWORD, "role": "auditor", "bureau": "hrss_fund_supervision",
        "region": "441500",
    })  # fmt: skip
    found = ACTIVATION.search(page.get_data(as_text=True))
    assert found is not None
    stranger = triage_app.test_client()
    assert stranger.get("/enrol").status_code == 302
    assert stranger.post("/enrol", data={"code": "123456"}).status_code in (302, 400)
    assert admin.get("/enrol").status_code == 302  # signed in, but not this account's owner
    owner = triage_app.test_client()
    secret = enrol_in_browser(owner, "audit.one", NEW_PASSWORD, found.group(1))
    assert owner.get("/audit").status_code == 200
    # Sealed at rest: neither the column nor any column of the row holds the secret, and
    # a key ring other than this installation's does not open it.
    row = officer_row(triage_app, "audit.one")
    assert row.totp_sealed is not None and row.totp_pending is None
    assert secret.encode() not in row.totp_sealed
    dumped = " ".join(str(getattr(row, c.key)) for c in Officer.__table__.columns)
    assert secret not in dumped
    vault = triage_app.extensions["triage"].officer_secrets
    assert vault.open(row.totp_sealed, officer_id=row.id, purpose="totp") == secret.encode()
    with pytest.raises(InvalidCiphertext):
        OfficerSecrets(PrivateKeyring([generate_key()])).open(
            row.totp_sealed, officer_id=row.id, purpose="totp"
        )


def test_a_sealed_secret_copied_to_another_account_does_not_sign_it_in(
    triage_app: Flask,
) -> None:
    services = triage_app.extensions["triage"]
    with transaction(services.sessions) as session:
        mine, secret = make_enrolled(
            session,
            services.officer_secrets,
            "mine",
            role="auditor",
            bureau="hrss_fund_supervision",
            region="441500",
        )
        theirs, _ = make_enrolled(session, services.officer_secrets, "theirs", role="auditor",
                                  bureau="hrss_fund_supervision", region="441500")  # fmt: skip
        theirs.totp_sealed = mine.totp_sealed
    client = triage_app.test_client()
    code = pyotp.TOTP(secret).now()
    assert post_login(client, "theirs", OFFICER_PASSWORD, code).status_code == 401


# --- races -------------------------------------------------------------------------------


def at_once(count: int, attempt: Callable[[int], T]) -> list[T]:
    """Run ``attempt(i)`` in ``count`` threads released together by a barrier."""
    barrier = threading.Barrier(count, timeout=60)

    def run(index: int) -> T:
        barrier.wait()
        return attempt(index)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


def failures_and_lock(app: Flask, name: str) -> tuple[int, dt.datetime | None]:
    row = officer_row(app, name)
    return row.failed_logins, row.locked_until


@pytest.mark.parametrize("count", [MAX_FAILURES - 1, 16])
def test_parallel_wrong_passwords_are_each_counted(triage_app: Flask, count: int) -> None:
    services = triage_app.extensions["triage"]
    with transaction(services.sessions) as session:
        _, secret = make_enrolled(session, services.officer_secrets, "target",
                                  role="triage_officer", bureau="hrss_fund_supervision",
                                  region="441500")  # fmt: skip
    clients = [triage_app.test_client() for _ in range(count)]
    tokens = [csrf_token(client, "/login") for client in clients]
    answers = at_once(count, lambda i: clients[i].post("/login", data={
        "csrf_token": tokens[i], "username": "target", "password": f"wrong password {i}",
        "code": pyotp.TOTP(secret).now(),
    }).status_code)  # fmt: skip
    assert answers == [401] * count
    failed, locked = failures_and_lock(triage_app, "target")
    assert failed == count
    assert (locked is not None) == (count >= MAX_FAILURES)


def test_one_code_signs_in_once_among_parallel_sign_ins(triage_app: Flask) -> None:
    services = triage_app.extensions["triage"]
    with transaction(services.sessions) as session:
        _, secret = make_enrolled(session, services.officer_secrets, "target",
                                  role="triage_officer", bureau="hrss_fund_supervision",
                                  region="441500")  # fmt: skip
    count = 8
    code = pyotp.TOTP(secret).now()
    clients = [triage_app.test_client() for _ in range(count)]
    languages = ["zh" if i % 2 else "en" for i in range(count)]
    tokens = [csrf_token(client, "/login") for client in clients]
    answers = at_once(count, lambda i: clients[i].post("/login", data={
        "csrf_token": tokens[i], "username": "target", "password": OFFICER_PASSWORD,
        "code": code,
    }, headers={"Accept-Language": languages[i]}))  # fmt: skip
    statuses = [answer.status_code for answer in answers]
    assert sorted(statuses) == [302] + [401] * (count - 1)
    for answer, language in zip(answers, languages, strict=True):
        if answer.status_code == 401:
            assert REPLAYED[language] in answer.get_data(as_text=True)
    assert failures_and_lock(triage_app, "target") == (0, None)  # replays are no failures


# --- the same races through gunicorn on PostgreSQL ---------------------------------------


@contextlib.contextmanager
def served_triage(instance: Path, database: str) -> Iterator[tuple[str, dict[str, str]]]:
    """`tipline init` and `tipline serve triage` (3 workers) on a fresh database."""
    instance.mkdir(parents=True, exist_ok=True)
    env = served.clean_env({
        "TIPLINE_INSTANCE": str(instance),
        "TIPLINE_DATABASE_URL": served.sqlalchemy_url(database),
        "TIPLINE_KEY_PASSPHRASE": secrets.token_urlsafe(16),
        "TIPLINE_SECRET_KEY": secrets.token_urlsafe(32),
        "TIPLINE_INSECURE_COOKIES": "1",
        "TIPLINE_KEYFILE_SCRYPT_N": "1024",
    })  # fmt: skip
    served.tipline_init(env)
    port = served.free_port()
    command = [served.venv_script("tipline"), "serve", "triage", "--host", "127.0.0.1",
               "--port", str(port), "--workers", "3"]  # fmt: skip
    with served.Server(command, env, port, instance / "triage.log").start(
        ready_path="/login"
    ) as server:
        yield server.url, env


def cli_add(env: dict[str, str], name: str) -> str:
    result = served.subprocess.run(
        [served.venv_script("tipline"), "users", "add", name, "--role", "triage_officer",
         "--bureau", "hrss_fund_supervision", "--region", "441500"],
        env=env, input=OFFICER_PASSWORD + "\n", capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "otpauth" not in result.stdout
    found = re.search(r"activation code: (\S+)", result.stdout)
    assert found is not None, result.stdout
    return found.group(1)


def http_form(session: requests.Session, url: str) -> str:
    with session.get(url, timeout=30) as page:
        assert page.status_code == 200, page.text
        return served.csrf_token(page.text)


def http_enrol(base: str, name: str, activation: str) -> str:
    with requests.Session() as browser:
        data = {"csrf_token": http_form(browser, base + "/login"), "username": name,
                "password": OFFICER_PASSWORD, "code": activation}  # fmt: skip
        first = browser.post(base + "/login", data=data, timeout=30)
        assert first.url.endswith("/enrol"), first.text
        found = SECRET.search(first.text)
        assert found is not None
        secret = found.group(1).replace(" ", "")
        done = browser.post(base + "/enrol", timeout=30, data={
            "csrf_token": served.csrf_token(first.text), "code": pyotp.TOTP(secret).now(),
        }, allow_redirects=False)  # fmt: skip
        assert done.status_code == 302, done.text
    return secret


def officer_counters(database: str, name: str) -> tuple[int, dt.datetime | None]:
    with psycopg.connect(served.pg_conninfo(database), autocommit=True) as connection:
        row = connection.execute(
            "SELECT failed_logins, locked_until FROM officer WHERE username = %s", (name,)
        ).fetchone()
    assert row is not None
    return row[0], row[1]


@pytest.mark.slow
def test_served_races_on_postgresql(tmp_path: Path) -> None:
    problem = served.pg_unavailable()
    if problem is not None:
        pytest.skip(problem)
    with (
        served.fresh_database("tipline_accounts") as database,
        served_triage(tmp_path / "instance", database) as (base, env),
    ):
        guessed = http_enrol(base, "guessed", cli_add(env, "guessed"))
        target = http_enrol(base, "target", cli_add(env, "target"))
        # The sealed column does not hold the secret, read with the database's own login.
        with psycopg.connect(served.pg_conninfo(database), autocommit=True) as connection:
            dump = connection.execute("SELECT * FROM officer").fetchall()
        assert guessed not in repr(dump) and guessed.encode() not in b"".join(
            bytes(value) for row in dump for value in row if isinstance(value, bytes | memoryview)
        )

        count = 16
        browsers = [requests.Session() for _ in range(count)]
        tokens = [http_form(browser, base + "/login") for browser in browsers]

        def wrong(i: int) -> int:
            data = {"csrf_token": tokens[i], "username": "guessed",
                    "password": f"wrong password {i}",
                    "code": pyotp.TOTP(guessed).now()}  # fmt: skip
            with browsers[i].post(base + "/login", data=data, timeout=60) as answer:
                return answer.status_code

        assert at_once(count, wrong) == [401] * count
        failed, locked = officer_counters(database, "guessed")
        assert failed == count and locked is not None
        # Locked: the right password and a fresh code are refused too.
        later = pyotp.TOTP(guessed).at(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30))
        with requests.Session() as browser:
            data = {"csrf_token": http_form(browser, base + "/login"), "username": "guessed",
                    "password": OFFICER_PASSWORD, "code": later}  # fmt: skip
            assert browser.post(base + "/login", data=data, timeout=30).status_code == 401

        # One code, 8 browsers at once: one session; the others are told the code was used.
        count = 8
        code = pyotp.TOTP(target).at(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30))
        browsers = [requests.Session() for _ in range(count)]
        tokens = [http_form(browser, base + "/login") for browser in browsers]
        languages = ["zh" if i % 2 else "en" for i in range(count)]

        def same_code(i: int) -> tuple[int, str]:
            data = {"csrf_token": tokens[i], "username": "target",
                    "password": OFFICER_PASSWORD, "code": code}  # fmt: skip
            with browsers[i].post(base + "/login", data=data, timeout=60,
                                  headers={"Accept-Language": languages[i]},
                                  allow_redirects=False) as answer:  # fmt: skip
                return answer.status_code, answer.text

        answers = at_once(count, same_code)
        assert sorted(status for status, _ in answers) == [302] + [401] * (count - 1)
        for (status, text), language in zip(answers, languages, strict=True):
            if status == 401:
                assert REPLAYED[language] in text
        for browser in browsers:
            browser.close()
