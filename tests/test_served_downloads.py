"""Officers download evidence whatever the reporter named it, through gunicorn.

A Chinese file name went raw into Content-Disposition and gunicorn answered 500 after the
read had been audited (issue 7 item 3). Names here carry Chinese, quotes, semicolons,
CR/LF, bidirectional overrides and hundreds of characters; each download must answer 200
with the file, a header that is plain ASCII and one line, the name given back through
``filename*``, and exactly one audit entry per file served.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st
from werkzeug.http import parse_options_header

from tests.conftest import legacy_doc
from tests.served import (
    DEFAULT_FIELDS,
    PortalClient,
    ServedPortal,
    ServedTriage,
    TriageClient,
    add_officer,
    fresh_database,
    pg_conninfo,
    pg_unavailable,
    receipt_from,
)
from tipline.intake.headers import MAX_NAME_CHARACTERS, content_disposition, display_name
from tipline.intake.sanitize import clean_line

NAMES = [
    "举报证据-医院挂床住院.doc",
    'he said "hi".doc',
    'a; filename="evil.exe"; b=c.doc',
    "line\r\nSet-Cookie: stolen=1\r\n.doc",
    "长" * 400 + ".doc",
    "\u202ecod.exe.doc",
    "报告 （最终版）；2025\\年.doc",
]


def raw_multipart_report(client: PortalClient, filename: str, content: bytes) -> str:
    """POST /report with the file name sent as RFC 2231 ``filename*``, so quotes, CR/LF
    and semicolons reach the server as they are (requests would escape them)."""
    boundary = secrets.token_hex(16)
    fields = {**DEFAULT_FIELDS, "text": "附件名称测试", "csrf_token": client.token()}
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts.append(
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="attachments"; '
            f"filename*=UTF-8''{quote(filename, safe='')}\r\n"
            "Content-Type: application/msword\r\n\r\n"
        ).encode()
        + content
        + b"\r\n"
    )
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    with client.session.post(
        client.base_url + "/report",
        data=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        timeout=client.timeout,
    ) as response:
        assert response.status_code == 200, response.text
        return receipt_from(response.text)


def audited_reads(database: str) -> int:
    with psycopg.connect(pg_conninfo(database), autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM audit_event WHERE action = 'attachment.read'"
        ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.slow
def test_officers_download_evidence_whatever_its_name(tmp_path: Path) -> None:
    problem = pg_unavailable()
    if problem is not None:
        pytest.skip(problem)
    contents = {name: legacy_doc(secrets.token_bytes(64)) for name in NAMES}
    with (
        fresh_database("tipline_served") as database,
        ServedPortal.start(tmp_path / "instance", database, workers=1,
                           receipt_scrypt_n=2**10) as portal,
        ServedTriage.beside(portal, workers=1) as internal,
    ):  # fmt: skip
        for name, content in contents.items():
            with PortalClient(portal.url) as reporter:
                raw_multipart_report(reporter, name, content)
        activation = add_officer(portal.init_env, "reader")
        with TriageClient(internal.url) as officer:
            officer.first_sign_in("reader", activation)
            inbox = officer.get("/").text
            tip_ids = set(re.findall(r'href="/tips/([0-9a-f]{16})"', inbox))
            assert len(tip_ids) == len(NAMES)
            links = []
            for tip_id in tip_ids:
                page = officer.get(f"/tips/{tip_id}").text
                links += re.findall(rf'href="(/tips/{tip_id}/attachments/[^"]+)"', page)
            assert len(links) == len(NAMES)
            served_names = []
            for link in links:
                with officer.get(link) as response:
                    assert response.status_code == 200, internal.server.log_tail()
                    header = response.headers["Content-Disposition"]
                    assert header.isascii() and "\r" not in header and "\n" not in header
                    assert len(header) < 2048
                    kind, options = parse_options_header(header)
                    assert kind == "attachment"
                    assert set(options) == {"filename"}  # filename* folded in by werkzeug
                    fallback = header.split("filename=", 1)[1].split(";", 1)[0]
                    assert fallback.isascii() and '"' not in fallback.strip('"')
                    served_names.append(options["filename"])
                    assert response.content in contents.values()
            # Every name comes back as stored at intake (its last 255 characters, which keep
            # the extension, as one clean line), made fit to save as.
            expected = {display_name(clean_line(name[-255:])[:255]) for name in NAMES}
            assert set(served_names) == expected
            assert all(len(name) <= MAX_NAME_CHARACTERS for name in served_names)
            assert any("举报证据" in name for name in served_names)
        assert audited_reads(database) == len(NAMES)


@given(st.text(max_size=600))
def test_any_name_gives_one_ascii_header_line_that_reads_back(name: str) -> None:
    header = content_disposition(name)
    assert header.isascii()
    assert "\r" not in header and "\n" not in header and "\0" not in header
    assert len(header) < 2048
    kind, options = parse_options_header(header)
    assert kind == "attachment"
    assert options["filename"] == display_name(name)
    assert options["filename"]
    assert "/" not in options["filename"] and "\\" not in options["filename"]
    assert not options["filename"].startswith(".")
