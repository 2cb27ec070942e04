"""The public site through its HTTP routes: report, receipt, check my report."""

from __future__ import annotations

import io
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from tests.conftest import csrf_token, legacy_doc, post_multipart, submit_report
from tipline.intake.models import AttachmentChunk, Tip


def count_tips(app: Flask) -> int:
    with app.extensions["portal"].sessions() as session:
        return session.scalar(select(func.count()).select_from(Tip)) or 0


def test_report_gives_a_receipt_that_opens_the_report(portal: FlaskClient) -> None:
    receipt = submit_report(portal, text="医院 <b>挂床</b> 住院 & 串换药品")
    assert re.fullmatch(r"(\d{4} ){5}\d{4}", receipt)
    page = portal.post(
        "/check",
        data={"csrf_token": csrf_token(portal, "/check"), "receipt": receipt},
        follow_redirects=True,
    )
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    # The markup was removed when stored; the ampersand is text, escaped on output.
    assert "医院 挂床 住院 &amp; 串换药品" in body
    assert "<b>" not in body
    assert "¥12,000" in body  # shown with separators (issue 8)


def test_receipt_is_accepted_without_spaces_and_in_full_width(portal: FlaskClient) -> None:
    receipt = submit_report(portal)
    full_width = receipt.replace(" ", "").translate(
        str.maketrans("0123456789", "０１２３４５６７８９")
    )
    page = portal.post(
        "/check",
        data={"csrf_token": csrf_token(portal, "/check"), "receipt": full_width},
        follow_redirects=True,
    )
    assert page.status_code == 200
    assert page.request.path == "/my-report"


def test_receipt_typo_is_caught_before_the_database(portal: FlaskClient) -> None:
    receipt = submit_report(portal).replace(" ", "")
    wrong = receipt[:5] + str((int(receipt[5]) + 1) % 10) + receipt[6:]
    page = portal.post(
        "/check",
        data={"csrf_token": csrf_token(portal, "/check"), "receipt": wrong},
        headers={"Accept-Language": "en"},
    )
    assert page.status_code == 400
    assert "typing mistake" in page.get_data(as_text=True)


def test_unknown_receipt_is_refused(portal: FlaskClient) -> None:
    from tipline.crypto import new_receipt

    page = portal.post(
        "/check",
        data={"csrf_token": csrf_token(portal, "/check"), "receipt": new_receipt().display},
    )
    assert page.status_code == 400
    assert "report-text" not in page.get_data(as_text=True)


def test_form_errors_keep_what_was_typed(portal_app: Flask, portal: FlaskClient) -> None:
    response = post_multipart(
        portal,
        "/report",
        {
            "csrf_token": csrf_token(portal, "/report"),
            "category": "fake_treatment",
            "province": "999999",
            "text": "保留我写的内容",
            "amount": "abc",
        },
    )
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert "保留我写的内容" in body
    assert 'aria-invalid="true"' in body
    assert count_tips(portal_app) == 0


def test_report_without_csrf_token_is_refused(portal_app: Flask, portal: FlaskClient) -> None:
    portal.get("/report")
    response = portal.post(
        "/report", data={"category": "fake_treatment", "province": "440000", "text": "x"}
    )
    assert response.status_code == 400
    assert count_tips(portal_app) == 0


def test_oversize_upload_gets_a_clear_413_page(portal_app: Flask, portal: FlaskClient) -> None:
    limit = portal_app.config["MAX_CONTENT_LENGTH"]
    response = post_multipart(
        portal,
        "/report",
        {
            "csrf_token": csrf_token(portal, "/report"),
            "category": "fake_treatment",
            "province": "440000",
            "text": "x",
            "attachments": [(io.BytesIO(b"\0" * (limit + 1)), "big.bin")],
        },
    )
    assert response.status_code == 413
    assert "413" in response.get_data(as_text=True)
    assert count_tips(portal_app) == 0


def test_attachment_is_stored_encrypted_in_chunks(portal_app: Flask, portal: FlaskClient) -> None:
    content = b"evidence-bytes " * 10_000  # about 150 KB: several chunks
    submit_report(portal, attachments=[(io.BytesIO(legacy_doc(content)), "账本.doc")])
    with portal_app.extensions["portal"].sessions() as session:
        chunks = session.scalars(select(AttachmentChunk.data)).all()
    assert len(chunks) == 3
    assert all(b"evidence-bytes" not in chunk for chunk in chunks)


def test_security_headers(portal: FlaskClient) -> None:
    response = portal.get("/report")
    headers = response.headers
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert "unsafe-inline" not in headers["Content-Security-Policy"]
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Cache-Control"] == "no-store"
    assert "Strict-Transport-Security" not in headers  # plain http here
    secure = portal.get("/report", base_url="https://portal.example")
    assert "max-age" in secure.headers["Strict-Transport-Security"]


def test_chinese_by_default_english_on_request(portal: FlaskClient) -> None:
    assert 'lang="zh-Hans"' in portal.get("/").get_data(as_text=True)
    english = portal.get("/", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert 'lang="en"' in english.get_data(as_text=True)
    switched = portal.get("/language/en?next=/report")
    assert switched.status_code == 302
    assert switched.headers["Location"] == "/report"
    assert 'lang="en"' in portal.get("/").get_data(as_text=True)


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example/",
        "/%09/evil.example/",
        "/%5C%5Cevil.example",
        "/%5Cevil",
        "http://evil.example/",
        "%2F%2Fevil.example",
    ],
)
def test_language_switch_is_not_an_open_redirect(portal: FlaskClient, target: str) -> None:
    response = portal.get(f"/language/en?next={target}")
    assert response.headers["Location"] == "/"


def test_uploads_never_touch_the_disk(
    portal_app: Flask, portal: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Werkzeug spools large uploads to temporary files; the portal keeps them in memory."""
    import tempfile

    def no_disk(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("an upload was about to be written to disk")

    token = csrf_token(portal, "/report")
    monkeypatch.setattr(tempfile, "SpooledTemporaryFile", no_disk)
    monkeypatch.setattr(tempfile, "TemporaryFile", no_disk)
    monkeypatch.setattr(tempfile, "NamedTemporaryFile", no_disk)
    big = legacy_doc(b"x" * 2_000_000)  # far above werkzeug's 500 KB spooling threshold
    response = post_multipart(
        portal,
        "/report",
        {
            "csrf_token": token,
            "category": "fake_treatment",
            "province": "440000",
            "text": "大文件",
            "attachments": [(io.BytesIO(big), "账本.doc")],
        },
    )
    assert response.status_code == 303
    assert count_tips(portal_app) == 1
