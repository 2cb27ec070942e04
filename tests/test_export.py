"""Export of one tip for the file (卷宗): a PDF of what its page shows, or a ZIP with the
evidence and a manifest; scoped as the tip page, audited, watermarked with the officer and
the local time, the reporter's identity in it only after an approved request."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import re
import shutil
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pikepdf
import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from tests.conftest import legacy_doc, make_enrolled, sign_in_officer
from tests.served import (
    PortalClient,
    ServedPortal,
    ServedTriage,
    TriageClient,
    add_officer,
    fresh_database,
    pg_conninfo,
    pg_unavailable,
)
from tipline.crypto import CHUNK_SIZE
from tipline.intake.db import transaction
from tipline.intake.models import AuditEvent
from tipline.intake.submit import Report, ReporterIdentity, Upload
from tipline.intake.submit import today as local_today
from tipline.triage import api
from tipline.triage.tips.export import LOCAL_TIME, MANIFEST, archive_names

PASSWORD = "a long test password"
OFFICERS = {
    "desk_city": ("triage_officer", "hrss_fund_supervision", "441500"),
    "boss_city": ("supervisor", "hrss_fund_supervision", "441500"),
    "labour_shenzhen": ("bureau_officer", "labor_inspection", "440300"),
}
ARTIFACTS = Path(__file__).parents[1] / "test-artifacts" / "e2e"
HOSTILE = ["../../etc/passwd.doc", "..\\..\\boot.doc", "同名.doc", "同名.doc", "长" * 300 + ".doc"]
REPORT_TEXT = "某医院挂床住院，金额<3000 & 单价>5 元\n第二行"


def pdf_text(data: bytes) -> list[str]:
    """The text drawn on each page: the strings shown with Tj/TJ, decoded as the CID font's
    encoding (UniGB-UCS2-H: UTF-16BE) stores them."""
    pages = []
    with pikepdf.open(io.BytesIO(data)) as document:
        for page in document.pages:
            shown = []
            for operands, operator in pikepdf.parse_content_stream(page):
                if str(operator) == "Tj":
                    shown.append(bytes(operands[0]).decode("utf-16-be"))
                elif str(operator) == "TJ":
                    shown.extend(
                        bytes(part).decode("utf-16-be")
                        for part in operands[0]
                        if isinstance(part, pikepdf.String)
                    )
            pages.append("".join(shown))
    return pages


@pytest.fixture
def tips(triage_app: Flask) -> dict[str, str]:
    submitter = triage_app.extensions["triage"].submitter

    def tip(**extra: Any) -> str:
        report = Report(
            category="fake_treatment", region="441502", text=REPORT_TEXT, channel="letter",
            received_on=dt.date(2025, 9, 30), fund="medical", amount=None, **extra,
        )  # fmt: skip
        return submitter.submit(report, with_receipt=False).tip_id

    uploads = [
        Upload(name, "application/msword", io.BytesIO(legacy_doc(f"内容 {i}".encode())))
        for i, name in enumerate(HOSTILE)
    ]
    return {
        "plain": tip(),
        "files": tip(uploads=uploads),
        "named": tip(identity=ReporterIdentity("张三丰", "11010519491231002X", "13800138000")),
    }


@pytest.fixture
def officers(triage_app: Flask) -> dict[str, tuple[FlaskClient, dict[str, str]]]:
    services = triage_app.extensions["triage"]
    found = {}
    for name, (role, bureau, region) in OFFICERS.items():
        with transaction(services.sessions) as session:
            _, secret = make_enrolled(
                session, services.officer_secrets, name, PASSWORD, role=role, bureau=bureau,
                region=region,
            )  # fmt: skip
            token = api.issue_token(session, name, actor="test")
        found[name] = (
            sign_in_officer(triage_app, name, secret, PASSWORD),
            {"Authorization": f"Bearer {token}"},
        )
    return found


def exports(app: Flask) -> list[AuditEvent]:
    with app.extensions["triage"].sessions() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == "tip.export")))


def test_the_pdf_is_watermarked_paged_and_audited(
    triage_app: Flask, tips: dict[str, str], officers: dict[str, Any]
) -> None:
    client, _headers = officers["desk_city"]
    before = dt.datetime.now(LOCAL_TIME)
    response = client.get(f"/tips/{tips['plain']}/export.pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    disposition = response.headers["Content-Disposition"]
    assert disposition == f"attachment; filename=tip-{tips['plain']}.pdf"
    assert response.headers["Cache-Control"] == "no-store"
    pages = pdf_text(response.data)
    stamp = re.compile(r"desk_city (\d{4}-\d\d-\d\d \d\d:\d\d) 导出")
    for number, text in enumerate(pages, 1):
        assert stamp.search(text), text
        assert f"第 {number} 页 共 {len(pages)} 页" in text
    found = stamp.search(pages[0])
    assert found
    when = dt.datetime.strptime(found.group(1), "%Y-%m-%d %H:%M").replace(tzinfo=LOCAL_TIME)
    assert abs(when - before.replace(second=0, microsecond=0)) <= dt.timedelta(minutes=1)
    whole = "".join(pages)
    # Words, not codes; what the reporter typed shown as typed (the PDF's markup escaped).
    # The tip page's words (tipwords): its T1, received long ago, is past its day.
    assert "医疗保险" in whole and "信件" in whole and "逾期" in whole and "5个工作日" in whole
    codes = {"fake_treatment", "letter", "working_days", "open", "medical"}
    assert not codes & set(re.findall(r"[a-z_]+", whole))
    assert "某医院挂床住院，金额<3000 & 单价>5 元第二行" in whole
    [event] = exports(triage_app)
    assert (event.actor, event.tip_id) == ("desk_city", tips["plain"])
    assert '"format": "pdf"' in event.detail


def test_export_follows_the_tip_page_scope(
    triage_app: Flask, tips: dict[str, str], officers: dict[str, Any]
) -> None:
    client, headers = officers["labour_shenzhen"]
    for kind in ("pdf", "zip"):
        assert client.get(f"/tips/{tips['files']}/export.{kind}").status_code == 404
        api_path = f"/api/v1/tips/{tips['files']}/export.{kind}"
        assert client.get(api_path, headers=headers).status_code == 404
        assert client.get(f"/tips/{'0' * 16}/export.{kind}").status_code == 404
    assert exports(triage_app) == []


def test_the_tip_page_links_both_exports(tips: dict[str, str], officers: dict[str, Any]) -> None:
    client, _headers = officers["desk_city"]
    page = client.get(f"/tips/{tips['plain']}").get_data(as_text=True)
    assert f'href="/tips/{tips["plain"]}/export.pdf"' in page
    assert f'href="/tips/{tips["plain"]}/export.zip"' in page


def test_the_pdf_follows_the_officers_language(
    tips: dict[str, str], officers: dict[str, Any]
) -> None:
    client, _headers = officers["desk_city"]
    response = client.get(f"/tips/{tips['plain']}/export.pdf", headers={"Accept-Language": "en"})
    pages = pdf_text(response.data)
    assert all(re.search(r"desk_city \S+ \S+ exported", text) for text in pages)
    assert f"Page 1 of {len(pages)}" in pages[0]
    assert "Overdue" in pages[0] and "5 working days" in pages[0] and "Letter" in pages[0]


def test_the_zip_holds_the_pdf_the_evidence_and_true_sums(
    triage_app: Flask, tips: dict[str, str], officers: dict[str, Any]
) -> None:
    client, _headers = officers["desk_city"]
    tip_id = tips["files"]
    response = client.get(f"/tips/{tip_id}/export.zip")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    assert response.headers["Content-Disposition"] == f"attachment; filename=tip-{tip_id}.zip"
    assert "Content-Length" not in response.headers  # streamed as it is made
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    assert archive.testzip() is None
    names = archive.namelist()
    assert names[0] == f"tip-{tip_id}.pdf" and names[-1] == MANIFEST
    evidence = names[1:-1]
    assert len(evidence) == len(HOSTILE) == len(set(evidence))
    for name in evidence:
        parts = name.split("/")
        assert parts[0] == "evidence" and len(parts) == 2, name
        assert ".." not in parts and "\\" not in name and "\0" not in name
        assert len(name) <= len("evidence/00-") + 120
    assert evidence[0] == "evidence/01-passwd.doc"
    assert evidence[1] == "evidence/02-boot.doc"
    assert evidence[2:4] == ["evidence/03-同名.doc", "evidence/04-同名.doc"]
    # Each file is the reporter's, decrypted, and the manifest's sums are the files' own.
    stored = {legacy_doc(f"内容 {i}".encode()) for i in range(len(HOSTILE))}
    assert {archive.read(name) for name in evidence} == stored
    manifest = archive.read(MANIFEST).decode()
    listed = dict(reversed(line.split("  ", 1)) for line in manifest.splitlines())
    assert set(listed) == set(names[:-1])
    for name, digest in listed.items():
        assert hashlib.sha256(archive.read(name)).hexdigest() == digest
    # The PDF inside lists each file with its sum, and embeds none of them.
    pdf = archive.read(names[0])
    text = "".join(pdf_text(pdf))
    for name in evidence:
        assert listed[name] in text
    assert not any(content in pdf for content in stored)
    [event] = exports(triage_app)
    assert (event.actor, event.tip_id) == ("desk_city", tip_id)
    assert '"format": "zip"' in event.detail and '"files": 5' in event.detail
    with triage_app.extensions["triage"].sessions() as session:
        reads = session.scalars(
            select(AuditEvent.action).where(AuditEvent.action.in_(["attachment.read", "tip.read"]))
        ).all()
    assert reads == []  # one entry per export, not one per file


def test_the_zip_is_sent_piece_by_piece(triage_app: Flask, officers: dict[str, Any]) -> None:
    """A 3 MiB file (random, so it does not compress) leaves in pieces about one stream
    chunk long: the archive is never held whole."""
    content = legacy_doc(os.urandom(3 * 1024 * 1024))
    report = Report(
        category="fake_docs", region="441502", text="大文件", channel="letter",
        uploads=[Upload("大.doc", "application/msword", io.BytesIO(content))],
    )  # fmt: skip
    tip_id = triage_app.extensions["triage"].submitter.submit(report, with_receipt=False).tip_id
    client, _headers = officers["desk_city"]
    response = client.get(f"/tips/{tip_id}/export.zip", buffered=False)
    pieces = list(response.response)
    response.close()
    assert len(pieces) > 40 and max(len(piece) for piece in pieces) < 2 * CHUNK_SIZE
    archive = zipfile.ZipFile(io.BytesIO(b"".join(pieces)))
    assert archive.read("evidence/01-大.doc") == content


def test_the_identity_is_in_the_pdf_only_after_an_approved_request(
    triage_app: Flask, tips: dict[str, str], officers: dict[str, Any]
) -> None:
    desk, desk_token = officers["desk_city"]
    boss, boss_token = officers["boss_city"]
    tip_id = tips["named"]
    identity = ("张三丰", "11010519491231002X", "13800138000")

    def shows(client: FlaskClient) -> set[str]:
        """The parts of the identity in the PDF this officer exports now."""
        response = client.get(f"/tips/{tip_id}/export.pdf")
        assert response.status_code == 200
        text = "".join(pdf_text(response.data))
        return {part for part in identity if part in text}

    assert shows(desk) == set()
    requests = f"/api/v1/tips/{tip_id}/identity-requests"
    created = desk.post(requests, json={"reason": "核实举报人身份"}, headers=desk_token)
    assert created.status_code == 201
    assert shows(desk) == set()  # asked, not yet approved
    decided = boss.post(
        f"{requests}/{created.get_json()['id']}", json={"approve": True}, headers=boss_token
    )
    assert decided.status_code == 200
    assert shows(desk) == set(identity)
    # Approval is for the officer who asked; the supervisor who approved does not see it.
    assert shows(boss) == set()
    with triage_app.extensions["triage"].sessions() as session:
        opened = session.scalars(
            select(AuditEvent.actor).where(AuditEvent.action == "identity.read")
        ).all()
    # The export is one entry that says the identity is in it; no identity.read besides.
    assert opened == []
    assert ['"identity": "yes"' in e.detail for e in exports(triage_app)] == [
        False, False, True, False,
    ]  # fmt: skip


def test_the_api_exports_as_the_pages_do(
    triage_app: Flask, tips: dict[str, str], officers: dict[str, Any]
) -> None:
    client, headers = officers["desk_city"]
    pdf = client.get(f"/api/v1/tips/{tips['files']}/export.pdf", headers=headers)
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    assert "Set-Cookie" not in pdf.headers
    bundle = client.get(f"/api/v1/tips/{tips['files']}/export.zip", headers=headers)
    assert bundle.status_code == 200
    assert len(zipfile.ZipFile(io.BytesIO(bundle.data)).namelist()) == len(HOSTILE) + 2
    assert [e.actor for e in exports(triage_app)] == ["desk_city", "desk_city"]
    # The session cookie does not open the API, nor a token the pages.
    assert client.get(f"/api/v1/tips/{tips['files']}/export.pdf").status_code == 401


def test_notes_and_messages_carry_their_authors(
    tips: dict[str, str], officers: dict[str, Any]
) -> None:
    client, headers = officers["desk_city"]
    tip_id = tips["plain"]
    note = client.post(f"/api/v1/tips/{tip_id}/notes", json={"text": "已电话核实"}, headers=headers)
    assert note.status_code == 201
    asked = client.post(
        f"/api/v1/tips/{tip_id}/messages", json={"text": "请补充住院日期", "asks_reply": True},
        headers=headers,
    )  # fmt: skip
    assert asked.status_code == 201
    text = "".join(pdf_text(client.get(f"/tips/{tip_id}/export.pdf").data))
    today = local_today().isoformat()
    assert f"{today} | desk_city已电话核实" in text
    assert f"desk_city | {today} | 提问请补充住院日期" in text
    assert "已向举报人发送消息" in text  # the timeline, in words


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\win.ini", "win.ini"),
        ("C:\\boot.ini", "boot.ini"),
        ("a\0b\x1f.doc", "ab.doc"),
        ("..", "attachment"),
        ("", "attachment"),
        ('CON:<>|?*".doc', "CON_______.doc"),
        ("\u202ecod.exe.doc", "cod.exe.doc"),
    ],
)
def test_archive_names_are_safe_to_unpack(given: str, kept: str) -> None:
    assert archive_names([given]) == [f"evidence/01-{kept}"]


def test_long_and_repeated_names_stay_short_and_distinct() -> None:
    names = archive_names(["长" * 1000 + ".doc", "同名.doc", "同名.doc", "同名.DOC"])
    assert names[0].endswith(".doc") and len(names[0]) == len("evidence/01-") + 120
    assert len({name.casefold() for name in names}) == 4


def test_reporter_text_is_shown_never_obeyed_as_pdf_markup() -> None:
    from reportlab.platypus import Paragraph

    from tipline.triage.tips.export import markup

    hostile = '<font color="red" size="40">大</font> &amp; <img src="/etc/passwd"/> <br/>\0'
    shown = Paragraph(markup(hostile)).getPlainText()
    assert shown == hostile.replace("\0", "")


# `make test` installs poppler-utils (the Makefile's browser target): in CI it must be there.
@pytest.mark.skipif(
    shutil.which("pdftoppm") is None and not os.environ.get("CI"),
    reason="pdftoppm (poppler-utils) absent",
)
def test_the_pages_render_for_a_look(
    request: pytest.FixtureRequest, tips: dict[str, str], officers: dict[str, Any]
) -> None:
    """Pages as PNG in test-artifacts/e2e/, to look at: the Chinese must render."""
    if "sqlite" not in request.node.name:
        pytest.skip("one set of pictures is enough")
    client, headers = officers["desk_city"]
    tip_id = tips["files"]
    client.post(f"/api/v1/tips/{tip_id}/notes", json={"text": "已电话核实"}, headers=headers)
    message = {"text": "请补充住院日期。"}
    client.post(f"/api/v1/tips/{tip_id}/messages", json=message, headers=headers)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for language in ("zh", "en"):
        pdf = client.get(f"/tips/{tip_id}/export.pdf", headers={"Accept-Language": language}).data
        for old in ARTIFACTS.glob(f"export-{language}-*.png"):
            old.unlink()
        subprocess.run(
            ["pdftoppm", "-png", "-r", "80", "-", str(ARTIFACTS / f"export-{language}")],
            input=pdf, check=True, timeout=60,
        )  # fmt: skip
        assert list(ARTIFACTS.glob(f"export-{language}-*.png"))


@pytest.mark.slow
def test_served_exports_are_downloads_with_safe_headers(tmp_path: Path) -> None:
    """Through gunicorn, as an officer's browser gets them: a download (never shown inline),
    never cached, the ZIP streamed in chunks, each export audited once."""
    problem = pg_unavailable()
    if problem is not None:
        pytest.skip(problem)
    content = legacy_doc(b"served evidence")
    with (
        fresh_database("tipline_export") as database,
        ServedPortal.start(tmp_path / "instance", database, workers=1,
                           receipt_scrypt_n=2**10) as portal,
        ServedTriage.beside(portal, workers=1) as internal,
    ):  # fmt: skip
        with PortalClient(portal.url) as reporter:
            reporter.submit("served export", ("../../etc/证据.doc", content, "application/msword"))
        activation = add_officer(portal.init_env, "reader")
        with TriageClient(internal.url) as officer:
            officer.first_sign_in("reader", activation)
            [tip_id] = set(re.findall(r'href="/tips/([0-9a-f]{16})"', officer.get("/").text))
            for kind, mimetype in (("pdf", "application/pdf"), ("zip", "application/zip")):
                with officer.get(f"/tips/{tip_id}/export.{kind}") as response:
                    assert response.status_code == 200, internal.server.log_tail()
                    headers = response.headers
                    assert headers["Content-Type"] == mimetype
                    assert headers["Content-Disposition"] == (
                        f"attachment; filename=tip-{tip_id}.{kind}"
                    )
                    assert headers["Cache-Control"] == "no-store"
                    assert headers["X-Content-Type-Options"] == "nosniff"
                    body = response.content
                if kind == "zip":
                    assert headers.get("Transfer-Encoding") == "chunked"
                    archive = zipfile.ZipFile(io.BytesIO(body))
                    assert archive.read("evidence/01-证据.doc") == content
                else:
                    assert "reader" in pdf_text(body)[0]
        with psycopg.connect(pg_conninfo(database), autocommit=True) as conn:
            rows = conn.execute(
                "SELECT actor, detail FROM audit_event WHERE action = 'tip.export' ORDER BY id"
            ).fetchall()
        assert [(actor, '"format": "pdf"' in d or '"format": "zip"' in d) for actor, d in rows] == [
            ("reader", True), ("reader", True),
        ]  # fmt: skip
