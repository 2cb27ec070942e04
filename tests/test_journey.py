"""The citizen's journey over HTTP: report, receipt, come back, talk, add evidence and name."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from tests.conftest import csrf_token, post_multipart, submit_report, tiny_pdf
from tipline.crypto import load_private_keyring
from tipline.intake.config import Config
from tipline.intake.db import transaction
from tipline.intake.followup import add_message
from tipline.intake.models import Identity, Tip
from tipline.intake.reading import open_with_keyring
from tipline.portal import create_app

VALID_ID = "11010519491231002X"  # the GB 11643 example number; its check digit is X


def sign_in(client: FlaskClient, receipt: str) -> int:
    response = client.post(
        "/check", data={"csrf_token": csrf_token(client, "/check"), "receipt": receipt}
    )
    return response.status_code


def only_tip(app: Flask) -> Tip:
    with app.extensions["portal"].sessions() as session:
        return session.scalars(select(Tip).options(selectinload(Tip.events))).one()


def officer_writes(app: Flask, keys_dir: Path, text: str, *, asks_reply: bool = False) -> None:
    """An officer's message, written the way triage writes it (with the private key)."""
    from tests.conftest import PASSPHRASE

    keyring = load_private_keyring(keys_dir, PASSPHRASE)
    with transaction(app.extensions["portal"].sessions) as session:
        tip_id = session.scalars(select(Tip.id)).one()
        opened = open_with_keyring(session, tip_id, keyring)
        assert opened is not None
        add_message(session, opened, text, author="officer", asks_reply=asks_reply)


def test_come_back_read_reply_answer_and_add_evidence(
    portal_app: Flask, portal: FlaskClient, keys_dir: Path
) -> None:
    receipt = submit_report(portal, text="诊所虚开药品")
    assert portal.get("/my-report").status_code == 302  # not signed in yet
    assert sign_in(portal, receipt) == 302
    page = portal.get("/my-report").get_data(as_text=True)
    assert "诊所虚开药品" in page
    officer_writes(portal_app, keys_dir, "请问是哪一家诊所？", asks_reply=True)
    page = portal.get("/my-report", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "请问是哪一家诊所？" in page
    assert "asked you a question" in page
    token = csrf_token(portal, "/my-report")
    answered = portal.post("/my-report/messages", data={"csrf_token": token, "text": "城区某诊所"})
    assert answered.status_code == 302
    added = post_multipart(
        portal,
        "/my-report/evidence",
        {"csrf_token": token, "attachments": [(io.BytesIO(tiny_pdf()), "发票.pdf")]},
    )
    assert added.status_code == 302
    page = portal.get("/my-report").get_data(as_text=True)
    assert "城区某诊所" in page and "发票.pdf" in page
    tip = only_tip(portal_app)
    assert [e.kind for e in tip.events] == [
        "received", "message.officer", "message.reporter", "evidence_added",
    ]  # fmt: skip


def test_sign_out_clears_everything(portal: FlaskClient) -> None:
    receipt = submit_report(portal)
    sign_in(portal, receipt)
    assert portal.get("/my-report").status_code == 200
    portal.post("/sign-out", data={"csrf_token": csrf_token(portal, "/my-report")})
    assert portal.get("/my-report").status_code == 302
    with portal.session_transaction() as session:
        assert dict(session) == {} or set(session) <= {"csrf_token"}


def test_real_name_report_seals_identity_apart(
    portal_app: Flask, portal: FlaskClient, keys_dir: Path
) -> None:
    receipt = submit_report(
        portal,
        anonymous="no",
        name="王小明",
        id_number=VALID_ID,
        phone="13800138000",
        wants_notice="y",
    )
    tip = only_tip(portal_app)
    assert tip.real_name and tip.wants_notice
    with portal_app.extensions["portal"].sessions() as session:
        identity = session.get(Identity, tip.id)
        assert identity is not None
        assert "王小明".encode() not in identity.data
    # The tip key does not open the identity: it has its own.
    from tests.conftest import PASSPHRASE

    with portal_app.extensions["portal"].sessions() as session:
        opened = open_with_keyring(session, tip.id, load_private_keyring(keys_dir, PASSPHRASE))
        assert opened is not None
        assert "王小明" not in str(opened.details)
    sign_in(portal, receipt)
    page = portal.get("/my-report").get_data(as_text=True)
    assert "王**" in page


def test_bad_identity_is_explained_and_nothing_is_stored(
    portal_app: Flask, portal: FlaskClient
) -> None:
    response = post_multipart(
        portal,
        "/report",
        {
            "csrf_token": csrf_token(portal, "/report"),
            "category": "fake_treatment",
            "province": "440000",
            "city": "441500",
            "county": "441502",
            "text": "保留我写的内容",
            "anonymous": "no",
            "name": "王小明",
            "id_number": "110105194912310021",
            "phone": "123",
        },
        headers={"Accept-Language": "en"},
    )
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert "typing mistake" in body  # the check digit is wrong
    assert "mobile number" in body
    assert "保留我写的内容" in body
    with portal_app.extensions["portal"].sessions() as session:
        assert session.scalars(select(Tip)).first() is None


def test_anonymous_reporter_adds_identity_later(portal_app: Flask, portal: FlaskClient) -> None:
    receipt = submit_report(portal)
    sign_in(portal, receipt)
    token = csrf_token(portal, "/my-report")
    response = portal.post(
        "/my-report/identity",
        data={"csrf_token": token, "name": "李四", "id_number": VALID_ID, "phone": "13800138000"},
    )
    assert response.status_code == 302
    assert only_tip(portal_app).real_name
    assert "李*" in portal.get("/my-report").get_data(as_text=True)


def test_without_javascript_regions_are_chosen_step_by_step(portal: FlaskClient) -> None:
    token = csrf_token(portal, "/report")
    page = portal.post(
        "/report",
        data={
            "csrf_token": token,
            "province": "440000",
            "text": "先写的内容",
            "refine": "province",
        },
    )
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert '<option value="441500">汕尾市</option>' in body
    assert "先写的内容" in body
    page = portal.post(
        "/report",
        data={"csrf_token": token, "province": "440000", "city": "441500", "refine": "city"},
    )
    assert '<option value="441502">城区</option>' in page.get_data(as_text=True)


def test_regions_json_for_the_script(portal: FlaskClient) -> None:
    places = portal.get("/regions/441500").get_json()
    assert {"code": "441502", "name": "城区"} in places
    assert portal.get("/regions/999999").status_code == 404


def test_out_of_scope_is_redirected_and_not_stored(portal_app: Flask, portal: FlaskClient) -> None:
    response = post_multipart(
        portal,
        "/report",
        {
            "csrf_token": csrf_token(portal, "/report"),
            "category": "out_of_scope",
            "province": "440000",
            "text": "单位没有给我交社保",
        },
        headers={"Accept-Language": "en"},
    )
    assert response.status_code == 200
    assert "labour inspection" in response.get_data(as_text=True)
    with portal_app.extensions["portal"].sessions() as session:
        assert session.scalars(select(Tip)).first() is None


def test_honeypot_refuses_robots(portal_app: Flask, portal: FlaskClient) -> None:
    response = post_multipart(
        portal,
        "/report",
        {
            "csrf_token": csrf_token(portal, "/report"),
            "category": "fake_treatment",
            "province": "440000",
            "text": "spam",
            "website": "http://spam.example",
        },
    )
    assert response.status_code == 400
    with portal_app.extensions["portal"].sessions() as session:
        assert session.scalars(select(Tip)).first() is None


def test_receipt_confirmation_is_required_before_leaving(portal: FlaskClient) -> None:
    receipt = submit_report(portal)
    token = csrf_token(portal, "/check")
    again = portal.post("/report/done", data={"csrf_token": token, "receipt": receipt})
    assert again.status_code == 400
    assert receipt in again.get_data(as_text=True)  # shown again from what the page sent
    done = portal.post(
        "/report/done", data={"csrf_token": token, "receipt": receipt, "written_down": "y"}
    )
    assert done.status_code == 302


@pytest.mark.parametrize("store", ["memory", "redis"])
def test_wrong_receipts_are_limited_but_typos_are_not_counted(
    store: str,
    make_config: Callable[..., Config],
    public_keys_dir: Path,
    request: pytest.FixtureRequest,
) -> None:
    from tipline.crypto import new_receipt

    redis_url = request.getfixturevalue("redis_url") if store == "redis" else None
    app = create_app(
        make_config(
            keys_dir=public_keys_dir,
            receipt_limit="3 per hour",
            redis_url=redis_url,
            key_passphrase=None,
        )
    )
    try:
        client = app.test_client()
        receipt = submit_report(client).replace(" ", "")
        typo = receipt[:-1] + str((int(receipt[-1]) + 1) % 10)
        for _ in range(5):
            assert sign_in(client, typo) == 400  # caught by the check digit: free
        for _ in range(3):
            assert sign_in(client, new_receipt().display) == 400
        assert sign_in(client, receipt) == 429  # refused for a while, even the right one
        if redis_url:
            # The counters in Redis are keyed by a keyed hash, never by the address.
            import redis

            keys = redis.Redis.from_url(redis_url).keys("*")
            assert keys and not any(b"127.0.0.1" in key for key in keys)
    finally:
        app.extensions["portal"].engine.dispose()


def test_no_address_in_logs_or_tables(
    portal_app: Flask, portal: FlaskClient, caplog: pytest.LogCaptureFixture, database_url: str
) -> None:
    address = "203.0.113.77"
    portal.environ_base["REMOTE_ADDR"] = address
    with caplog.at_level(logging.DEBUG):
        receipt = submit_report(portal, text="日志测试")
        sign_in(portal, receipt)
        portal.get("/my-report")
        sign_in(portal, "0000 0000 0000 0000 0000 0000")
    assert address not in caplog.text
    assert "Mozilla" not in caplog.text
    from tests.test_at_rest import database_bytes

    assert address.encode() not in database_bytes(database_url)


def test_status_words_follow_the_lifecycle(portal_app: Flask, portal: FlaskClient) -> None:
    receipt = submit_report(portal)
    sign_in(portal, receipt)
    with transaction(portal_app.extensions["portal"].sessions) as session:
        tip = session.scalars(select(Tip)).one()
        tip.status, tip.status_detail = "transferred_out", "healthcare_security"
    page = portal.get("/my-report", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Transferred to Healthcare security administration in " in page
    with transaction(portal_app.extensions["portal"].sessions) as session:
        tip = session.scalars(select(Tip)).one()
        tip.status, tip.status_detail = "not_accepted", "out_of_scope"
    page = portal.get("/my-report", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Not accepted." in page and "labour inspection" in page


def test_parallel_wrong_receipts_cannot_slip_under_the_limit(
    make_config: Callable[..., Config], public_keys_dir: Path
) -> None:
    import threading

    from tipline.crypto import new_receipt

    app = create_app(
        make_config(keys_dir=public_keys_dir, receipt_limit="3 per hour", key_passphrase=None)
    )
    try:
        clients = [app.test_client() for _ in range(10)]
        tokens = [csrf_token(client, "/check") for client in clients]
        barrier = threading.Barrier(len(clients))
        statuses: list[int] = []

        def attempt(client: FlaskClient, token: str) -> None:
            barrier.wait()
            response = client.post(
                "/check", data={"csrf_token": token, "receipt": new_receipt().display}
            )
            statuses.append(response.status_code)

        threads = [
            threading.Thread(target=attempt, args=pair)
            for pair in zip(clients, tokens, strict=True)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        # Counted before the scrypt, atomically: exactly three reach the database.
        assert sorted(statuses) == [400] * 3 + [429] * 7
    finally:
        app.extensions["portal"].engine.dispose()
