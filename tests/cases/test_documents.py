"""Statutory documents of a case (issue 10): made by the steps that produce them, in Chinese,
sealed at rest, downloaded as DOCX or PDF (LibreOffice) by whoever sees the case and nobody
else, audited; an administrator's template for a locality replaces the built-in one.

Each PDF conversion costs seconds, so the tests make few: the referral letter once per
database, and two at once to show that parallel conversions do not collide. The pages are
drawn to PNG in ``test-artifacts/cases/`` (looked at while writing these tests: Chinese,
not boxes).
"""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import shutil
import subprocess
import threading
import time
import zipfile
from pathlib import Path
from typing import Any

import docx
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text

from tests.caseworld import ID, SUBJECT, CaseWorld, at, build
from tests.conftest import csrf_token, post_multipart
from tipline.intake.models import AuditEvent, CaseDocument
from tipline.triage.cases import documents

ARTIFACTS = Path(__file__).parents[2] / "test-artifacts" / "cases"
ALL_FIVE = ["referral_letter", "investigation_report", "exhibit_list", "expert_report",
            "other_materials"]  # fmt: skip
POLICE = "汕尾市公安局城区分局"
BASIS = "依据《行政执法机关移送涉嫌犯罪案件的规定》第三条、第五条"


def walk_to_referral(world: CaseWorld) -> str:
    case_id = world.open_case(when=at("2025-09-10 09:00"))
    world.step(case_id, "record_recovery", "agency", at("2025-09-12 10:00"),
               measures="停发待遇并追回。", recovered="12000")
    world.step(case_id, "hand_over", "agency", at("2025-09-29 15:00"),
               to_bureau="labor_inspection", findings="冒领属实<核查>&。", verified_loss="50000")
    world.step(case_id, "sign_receipt", "inspector", at("2025-09-29 16:00"))
    world.step(case_id, "file", "inspector", at("2025-10-09 11:00"), findings="立案调查。")
    world.step(case_id, "penalise", "inspector", at("2025-12-01 10:00"),
               penalty_kinds=["fine"], fine="100000", decided_on="2025-12-01")
    world.step(case_id, "report_referral", "inspector", at("2026-02-13 17:00"),
               team=["wangfang", "zhaolei"], reason="涉嫌诈骗罪，数额巨大。")
    world.step(case_id, "approve_referral", "head", at("2026-02-14 10:00"))
    world.step(case_id, "refer", "inspector", at("2026-02-15 09:59"),
               police_unit=POLICE, attachments=ALL_FIVE)
    return case_id


def docx_text(body: bytes) -> str:
    document = docx.Document(io.BytesIO(body))
    parts = [p.text for p in document.paragraphs]
    for grid in document.tables:
        parts.extend(cell.text for row in grid.rows for cell in row.cells)
    return "\n".join(parts)


def pdf_text(body: bytes, tmp_path: Path) -> str:
    source = tmp_path / "document.pdf"
    source.write_bytes(body)
    found = subprocess.run(["pdftotext", "-layout", str(source), "-"], capture_output=True,
                           check=True, text=True)  # fmt: skip
    # pdftotext puts spaces between CJK and Latin runs and breaks lines: compare without.
    return re.sub(r"\s+", "", found.stdout)


def by_kind(world: CaseWorld, case_id: str) -> dict[str, CaseDocument]:
    return {d.kind: d for d in world.case(case_id).documents}


def audit_entries(app: Flask, action: str) -> list[AuditEvent]:
    with app.extensions["triage"].sessions() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_the_referral_letter_as_pdf_and_docx(triage_app: Flask, tmp_path: Path,
                                             database_url: str) -> None:  # fmt: skip
    world = build(triage_app, received=dt.date(2025, 9, 1))
    case_id = walk_to_referral(world)
    case = world.case(case_id)
    made = by_kind(world, case_id)
    assert set(made) == {"handover_letter", "handover_receipt", "filing_record",
                         "referral_letter", "referral_receipt", "materials_list"}  # fmt: skip
    assert all(d.pdf is None for d in made.values())  # made lazily, on first asking
    # What the case page and the API list: in the order the steps made them.
    listed = documents.listing(case)
    assert [kind for _, kind, _, _ in listed] == [
        "handover_letter", "handover_receipt", "filing_record", "referral_letter",
        "referral_receipt", "materials_list"]  # fmt: skip
    assert listed[3].label == "Referral of a suspected crime (涉嫌犯罪案件移送书)"
    assert all(d.template.startswith("builtin:") for d in made.values())
    letter = made["referral_letter"]
    client = world.client("inspector")
    url = f"/cases/{case_id}/documents/{letter.id}"

    started = time.monotonic()
    response = client.get(url + ".pdf")
    seconds = time.monotonic() - started
    assert response.status_code == 200, response.text
    print(f"LibreOffice conversion and download: {seconds:.1f} s")
    assert response.mimetype == "application/pdf"
    assert response.headers["Cache-Control"] == "no-store"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert "filename*=UTF-8''" in disposition and "%E7%A7%BB%E9%80%81%E4%B9%A6" in disposition
    pdf = response.data
    shown = pdf_text(pdf, tmp_path)
    for wanted in (case.number, SUBJECT.name, SUBJECT.identifier, POLICE, BASIS,
                   "涉嫌犯罪案件移送书", "汕尾市城区人民检察院", "50,000.00元", "涉案物品清单",
                   "wangfang、zhaolei"):  # fmt: skip
        assert wanted in shown, wanted
    # Nothing of the reporter, nor of the tip's text.
    for unwanted in (ID.name, ID.id_number, ID.phone, "已故亲属"):
        assert unwanted not in shown
    # The page drawn, to look at: Chinese, not boxes.
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    database = "postgresql" if database_url.startswith("postgresql") else "sqlite"
    stem = ARTIFACTS / f"referral-letter-{database}"
    (ARTIFACTS / f"referral-letter-{database}.pdf").write_bytes(pdf)
    subprocess.run(["pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile",
                    str(stem) + ".pdf", str(stem)], check=True)  # fmt: skip
    assert stem.with_suffix(".png").stat().st_size > 10_000

    # Stored sealed after the first conversion: the second answer is the same file.
    assert by_kind(world, case_id)["referral_letter"].pdf is not None
    again = client.get(url + ".pdf")
    assert again.status_code == 200 and again.data == pdf

    # The DOCX reopens in python-docx with the same fields; a "<" the officer typed is text.
    response = client.get(url + ".docx")
    assert response.status_code == 200
    assert response.mimetype == documents.DOCX_TYPE
    written = docx_text(response.data)
    for wanted in (case.number, SUBJECT.name, POLICE, BASIS, "冒领属实<核查>&。"):
        assert wanted in written, wanted
    assert ID.name not in written and "已故亲属" not in written
    receipt = docx_text(client.get(
        f"/cases/{case_id}/documents/{made['referral_receipt'].id}.docx").data)  # fmt: skip
    assert "接收人（签名）" in receipt and "补正" in receipt and POLICE in receipt

    # Every read audited, with kind and format.
    reads = audit_entries(triage_app, "case.document.read")
    assert {e.actor for e in reads} == {"wangfang"}
    details = [e.detail for e in reads]
    assert len(details) == 4
    assert all('"kind": "referral' in d for d in details)
    assert sum('"format": "pdf"' in d for d in details) == 2

    # Outside the bureau and the jurisdiction: 404, as if the case did not exist.
    assert world.client("elsewhere").get(url + ".pdf").status_code == 404
    assert world.client("medical").get(url + ".docx").status_code == 404
    assert world.client("discipline").get(url + ".docx").status_code == 404
    # Roles that read no contents never get there.
    assert world.client("admin").get(url + ".docx").status_code == 403
    assert world.client("auditor").get(url + ".docx").status_code == 403
    # No such document of this case, or no such format: 404.
    assert client.get(f"/cases/{case_id}/documents/{letter.id + 1000}.pdf").status_code == 404
    assert client.get(url + ".exe").status_code == 404
    assert len(audit_entries(triage_app, "case.document.read")) == 4

    # At rest: no row of case_document or case_file holds the subject's name, a DOCX or a
    # PDF in the clear (a DOCX is deflated, so its magic number is checked too).
    name = SUBJECT.name.encode()
    with triage_app.extensions["triage"].engine.connect() as connection:
        for table in ("case_document", "case_file"):
            for row in connection.execute(text(f"SELECT * FROM {table}")):  # noqa: S608
                for value in row:
                    raw = bytes(value) if isinstance(value, bytes | memoryview) else str(
                        value).encode()  # fmt: skip
                    assert name not in raw
                    assert not raw.startswith((b"PK\x03\x04", b"%PDF"))


def upload(client: FlaskClient, kind: str, locality: str, body: bytes,
           filename: str = "template.docx") -> Any:  # fmt: skip
    return post_multipart(client, "/admin/templates", {
        "csrf_token": csrf_token(client, "/admin/templates"), "kind": kind,
        "locality": locality, "file": [(io.BytesIO(body), filename)],
    })  # fmt: skip


def marked_template(marker: str, extra: str = "") -> bytes:
    document = docx.Document()
    document.add_paragraph(f"{marker} {{{{ case_number }}}} {{{{ subject_name }}}}{extra}")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def zip_bomb() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", b"\0" * (documents.MAX_TEMPLATE_UNPACKED + 1))
    return out.getvalue()


def test_an_administrators_template_replaces_the_builtin_one(triage_app: Flask) -> None:
    world = build(triage_app, received=dt.date(2025, 9, 1))
    admin = world.client("admin")
    page = admin.get("/admin/templates")
    assert page.status_code == 200 and "立案审批表" in page.text
    builtin = admin.get("/admin/templates/builtin/filing_record.docx")
    assert builtin.status_code == 200 and "{{ case_number }}" in docx_text(builtin.data)

    # Refused with the reason, nothing saved: not a DOCX, too large, unknown placeholders,
    # broken placeholders.
    refusals = [
        (b"not a word file", "不是有效的 DOCX 文档"),
        (b"PK\x03\x04" + b"\0" * 100, "不是有效的 DOCX 文档"),
        (marked_template("x", "{{ reporter_name }}"), "reporter_name"),
        (marked_template("x", "{% if %}"), "占位符"),
        (b"\0" * (documents.MAX_TEMPLATE_BYTES + 1), "2 MB"),
        # A template is a program: the sandbox refuses to reach Python's internals.
        (marked_template("x", "{{ ''.__class__.__mro__[1].__subclasses__() }}"), "占位符"),
        # Small packed, huge unpacked: refused by the declared sizes before any parsing.
        (zip_bomb(), "解压后数据过大"),
    ]
    for body, words in refusals:
        answer = upload(admin, "filing_record", "441500", body)
        assert answer.status_code == 400, words
        assert words in answer.text, (words, answer.text[-2000:])
    assert upload(admin, "filing_record", "4415", marked_template("x")).status_code == 400
    assert upload(admin, "no_such_kind", "441500", marked_template("x")).status_code == 400
    no_csrf = admin.post("/admin/templates", data={"kind": "filing_record",
                                                   "locality": "national"})  # fmt: skip
    assert no_csrf.status_code == 400
    assert audit_entries(triage_app, "template.upload") == []

    # A national template and a city one: the city's wins for a case in 城区 (441502).
    for marker, locality in (("全国模板标记", ""), ("市级模板标记", "441500"),
                             ("他省模板标记", "110000")):  # fmt: skip
        answer = upload(admin, "filing_record", locality, marked_template(marker))
        assert answer.status_code == 302, answer.text
    assert len(audit_entries(triage_app, "template.upload")) == 3
    case_id = world.open_case(when=at("2025-09-10 09:00"), tips=world.tips[:1])
    world.step(case_id, "file", "agency", at("2025-09-11 10:00"), findings="立案。")
    made = by_kind(world, case_id)["filing_record"]
    assert made.template.startswith("admin:")
    agency = world.client("agency")
    written = docx_text(agency.get(
        f"/cases/{case_id}/documents/{made.id}.docx").data)  # fmt: skip
    assert "市级模板标记" in written and world.case(case_id).number in written
    assert SUBJECT.name in written and "全国模板标记" not in written

    # Retired, the national one applies to the next document.
    with triage_app.extensions["triage"].sessions() as session:
        from tipline.intake.models import DocumentTemplate

        city = session.scalar(select(DocumentTemplate).where(DocumentTemplate.scope == "441500"))
        assert city is not None
        city_id = city.id
    page = admin.get("/admin/templates")
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text)
    assert token is not None
    assert admin.post(f"/admin/templates/{city_id}/retire",
                      data={"csrf_token": token.group(1)}).status_code == 302  # fmt: skip
    assert len(audit_entries(triage_app, "template.retire")) == 1
    second = world.open_case(when=at("2025-09-10 09:00"), tips=world.tips[1:])
    world.step(second, "file", "agency", at("2025-09-11 10:00"), findings="立案。")
    made = by_kind(world, second)["filing_record"]
    written = docx_text(agency.get(
        f"/cases/{second}/documents/{made.id}.docx").data)  # fmt: skip
    assert "全国模板标记" in written and "市级模板标记" not in written
    # The other province's template never applied.
    assert "他省模板标记" not in written
    # The officers' pages never offer the templates.
    assert world.client("inspector").get("/admin/templates").status_code == 403


def test_libreoffice_failing_leaves_the_docx(triage_app: Flask, monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: Path) -> None:  # fmt: skip
    world = build(triage_app, received=dt.date(2025, 9, 1), count=1)
    case_id = world.open_case(when=at("2025-09-10 09:00"))
    world.step(case_id, "file", "agency", at("2025-09-11 10:00"), findings="立案。")
    made = by_kind(world, case_id)["filing_record"]
    client = world.client("agency")
    monkeypatch.setattr(documents, "SOFFICE", "false")  # exits 1 and writes nothing
    answer = client.get(f"/cases/{case_id}/documents/{made.id}.pdf")
    assert answer.status_code == 503
    assert "DOCX" in answer.text
    assert by_kind(world, case_id)["filing_record"].pdf is None
    assert audit_entries(triage_app, "case.document.read") == []
    assert client.get(f"/cases/{case_id}/documents/{made.id}.docx").status_code == 200
    monkeypatch.setattr(documents, "SOFFICE", "no-such-soffice-here")
    assert client.get(f"/cases/{case_id}/documents/{made.id}.pdf").status_code == 503


def test_a_stuck_conversion_is_killed_and_cleaned_up(monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:  # fmt: skip
    stuck = tmp_path / "soffice"
    marker = tmp_path / "still-running"
    stuck.write_text(f"#!/bin/sh\nsleep 30\ntouch {marker}\n")
    stuck.chmod(0o755)
    monkeypatch.setattr(documents, "SOFFICE", str(stuck))
    root = "/dev/shm" if os.path.isdir("/dev/shm") else None
    before = set(os.listdir(root)) if root else set()
    with pytest.raises(documents.DocumentError):
        documents.to_pdf(b"PK not really", timeout=1)
    if root:
        assert {n for n in set(os.listdir(root)) - before if n.startswith("tipline-doc-")} == set()
    time.sleep(0.2)
    assert not marker.exists()


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice is not installed")
def test_parallel_conversions_do_not_collide() -> None:
    letters = [documents.render(documents.builtin(kind), documents.sample_context(kind))
               for kind in ("referral_letter", "closing_notice")]  # fmt: skip
    results: dict[int, bytes | Exception] = {}

    def convert(n: int) -> None:
        try:
            results[n] = documents.to_pdf(letters[n])
        except Exception as error:  # noqa: BLE001 - reported below
            results[n] = error

    threads = [threading.Thread(target=convert, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert all(isinstance(results.get(n), bytes) for n in range(2)), results
    assert all(bytes(results[n])[:4] == b"%PDF" for n in range(2))  # type: ignore[arg-type]
