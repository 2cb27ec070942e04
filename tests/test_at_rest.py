"""What a thief gets: the whole database and instance folder hold no reporter text.

Reports carrying a unique marker go in through the portal form and through
``tipline tips import``; then every byte of the database (the SQLite files, or a
``pg_dump`` of PostgreSQL) and of the instance folder is searched for the marker in UTF-8,
UTF-16, hex and base64. The same tips then open in triage.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import secrets
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pyotp
from flask.testing import FlaskClient

from tests.conftest import PASSPHRASE, csrf_token, legacy_doc, make_enrolled, submit_report
from tipline.intake.config import Config
from tipline.intake.db import transaction
from tipline.triage import create_app as create_triage


def encodings(marker: str) -> list[bytes]:
    raw = marker.encode("utf-8")
    found = [raw, marker.encode("utf-16-le"), marker.encode("utf-16-be"), raw.hex().encode()]
    found.append(raw.hex().upper().encode())
    # base64 of the marker at each of the three alignments it can have inside a longer text;
    # the characters at either edge depend on the neighbours, so they are cut off.
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + raw)
        found.append(encoded[4:-4])
        found.append(base64.urlsafe_b64encode(b"\0" * shift + raw)[4:-4])
    return found


def database_bytes(database_url: str) -> bytes:
    if database_url.startswith("sqlite"):
        path = Path(database_url.removeprefix("sqlite:///"))
        return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*") if p.is_file())
    parts = urlsplit(database_url.replace("+psycopg", ""))
    dump = subprocess.run(
        [
            "pg_dump",
            "--host",
            parts.hostname or "127.0.0.1",
            "--username",
            "postgres",
            "--no-owner",
            parts.path.lstrip("/"),
        ],
        capture_output=True,
        check=True,
        timeout=120,
    )
    return dump.stdout


def folder_bytes(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in folder.rglob("*") if p.is_file())


def test_marker_is_nowhere_at_rest_and_opens_in_triage(
    portal: FlaskClient,
    make_config: Callable[..., Config],
    database_url: str,
    keys_dir: Path,
    tmp_path: Path,
) -> None:
    tag = secrets.token_hex(4)
    web_marker = f"WEBMARK{tag}举报标记{tag}"
    phone_marker = f"PHONEMARK{tag}电话标记{tag}"
    submit_report(
        portal,
        text=f"某医院挂床住院 {web_marker} 共计三人",
        # A legacy Word file passes through scrubbing unchanged, marker and all.
        attachments=[
            (io.BytesIO(legacy_doc(f"evidence {web_marker}".encode())), f"{web_marker}.doc")
        ],
    )
    imports = tmp_path / "tips.jsonl"
    imports.write_text(
        json.dumps(
            {
                "channel": "phone",
                "received_on": "2025-10-09",
                "category": "benefit_impostor",
                "region": "441502",
                "text": f"来电：{phone_marker}",
            },
            ensure_ascii=False,
        )
        + "\n",
        encoding="utf-8",
    )
    instance = tmp_path / "instance"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIPLINE_")}
    env.update(
        TIPLINE_INSTANCE=str(instance),
        TIPLINE_DATABASE_URL=database_url,
        TIPLINE_KEYS_DIR=str(keys_dir),
    )
    imported = subprocess.run(
        [sys.executable, "-m", "tipline.triage.cli", "tips", "import", str(imports)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert imported.returncode == 0, imported.stderr
    [phone_tip] = imported.stdout.split()

    at_rest = database_bytes(database_url) + folder_bytes(keys_dir)
    if instance.exists():
        at_rest += folder_bytes(instance)
    assert len(at_rest) > 10_000  # the search really covered a database
    for marker in (web_marker, phone_marker):
        for encoded in encodings(marker):
            assert encoded not in at_rest, (marker, encoded)
    # The search is able to find what is there: the plaintext category code is.
    assert b"benefit_impostor" in at_rest

    triage_app = create_triage(make_config())
    try:
        with transaction(triage_app.extensions["triage"].sessions) as session:
            _, secret = make_enrolled(
                session, triage_app.extensions["triage"].officer_secrets, "reader",
                "a long test password", role="triage_officer",
                bureau="hrss_fund_supervision", region="440000",
            )  # fmt: skip
        client = triage_app.test_client()
        client.post(
            "/login",
            data={
                "csrf_token": csrf_token(client, "/login"),
                "username": "reader",
                "password": "a long test password",
                "code": pyotp.TOTP(secret).now(),
            },
        )
        inbox = client.get("/").get_data(as_text=True)
        tip_ids = set(re.findall(r'href="/tips/([0-9a-f]{16})"', inbox))
        assert phone_tip in tip_ids and len(tip_ids) == 2
        pages = {tip_id: client.get(f"/tips/{tip_id}").get_data(as_text=True) for tip_id in tip_ids}
        assert phone_marker in pages[phone_tip]
        [web_tip] = tip_ids - {phone_tip}
        assert web_marker in pages[web_tip]
    finally:
        triage_app.extensions["triage"].engine.dispose()
    assert PASSPHRASE.encode() not in at_rest
