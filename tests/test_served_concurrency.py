"""32 reporters press "send" at the same moment on a portal served by gunicorn on PostgreSQL.

Every one must get a well-formed receipt for a stored tip, and every receipt must open that
reporter's own report and nobody else's (no crossed sessions, keys or rows between threads
and workers).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
from markupsafe import escape

try:
    from served import (
        PortalClient,
        ServedPortal,
        fresh_database,
        pg_conninfo,
        pg_unavailable,
        receipt_from,
        venv_script,
    )
except ImportError:  # tests/ imported as a package
    from tests.served import (
        PortalClient,
        ServedPortal,
        fresh_database,
        pg_conninfo,
        pg_unavailable,
        receipt_from,
        venv_script,
    )

pytestmark = pytest.mark.slow

REPORTERS = 32
WORKERS = 3
RECEIPT_SCRYPT_N = 2**12


def in_ci() -> bool:
    return bool(os.environ.get("CI"))  # as tests/conftest.py


def require_postgres() -> None:
    """Skip without PostgreSQL, except in CI, where its absence is a failure."""
    problem = pg_unavailable()
    if problem is not None:
        if in_ci():
            pytest.fail(problem)
        pytest.skip(problem)


def report_text(marker: str) -> str:
    # Chinese, and characters the page must escape, around a marker found nowhere else.
    return f"{marker}：某医院虚构治疗项目骗取医保基金 A & B < 3"


def test_simultaneous_submissions_each_get_their_own_receipt(tmp_path: Path) -> None:
    require_postgres()
    with (
        fresh_database("tipline_served") as database,
        ServedPortal.start(
            tmp_path / "instance", database, workers=WORKERS, receipt_scrypt_n=RECEIPT_SCRYPT_N
        ) as portal,
    ):
        submit_and_check(portal, database)


def submit_and_check(portal: ServedPortal, database: str) -> None:
    markers = [f"marker{i:02d}x{secrets.token_hex(6)}" for i in range(REPORTERS)]
    start = threading.Barrier(REPORTERS, timeout=60)

    def reporter(index: int) -> tuple[int, str]:
        with PortalClient(portal.url) as client:
            try:
                client.token()  # the form page first: a session and its CSRF token
            except BaseException:
                start.abort()
                raise
            start.wait()
            with client.post_report(report_text(markers[index])) as response:
                status, page = response.status_code, response.text
        return status, page

    with ThreadPoolExecutor(max_workers=REPORTERS) as pool:
        futures = [pool.submit(reporter, i) for i in range(REPORTERS)]
        answers = [future.result(timeout=90) for future in futures]

    statuses = [status for status, _ in answers]
    assert statuses == [200] * REPORTERS, statuses
    receipts = [receipt_from(page) for _, page in answers]
    assert len(set(receipts)) == REPORTERS
    assert all(len(r.replace(" ", "")) == 24 for r in receipts)

    with psycopg.connect(pg_conninfo(database), autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*), count(DISTINCT reporter_locator), count(*) FILTER (WHERE processed)"
            " FROM tip"
        ).fetchone()
    # The portal's login cannot route (no rule packs, no deadlines): the worker does.
    assert row == (REPORTERS, REPORTERS, 0)
    routed = subprocess.run(
        [venv_script("tipline"), "tips", "process"], env=portal.worker_env,
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert routed.returncode == 0 and f"tips routed: {REPORTERS}" in routed.stdout, routed.stderr

    with PortalClient(portal.url) as client:
        for index, receipt in enumerate(receipts):
            page = client.check(receipt)
            assert str(escape(report_text(markers[index]))) in page, receipt
            others = [m for i, m in enumerate(markers) if i != index and m in page]
            assert others == [], (receipt, others)
