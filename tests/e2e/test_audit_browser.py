"""The audit log in a real browser, as the auditor reads it in Chinese: entries in words and
in China's time, a search by action, the CSV download, and the chain check, at 1440 px and
1024 px. Screenshots land in ``test-artifacts/e2e/audit/``."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import shutil
from collections.abc import Callable, Iterator
from typing import Any

import pyotp
import pytest
from flask import Flask

from tests.conftest import make_enrolled
from tests.e2e.conftest import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    once_on_the_embedded_default,
    require_chromium,
    serving,
)
from tipline.intake.config import Config
from tipline.intake.db import transaction
from tipline.intake.submit import Report, ReporterIdentity
from tipline.triage import create_app
from tipline.triage.audit import record

playwright_sync = pytest.importorskip("playwright.sync_api")
PASSWORD = "a long test password"
CODES = re.compile(r"\b[a-z_]+\.[a-z_.]+\b|[{}]")  # tip.read, user.approve.refused, JSON


@pytest.fixture
def served_triage(
    make_config: Callable[..., Config], database_url: str
) -> Iterator[tuple[str, Flask]]:
    once_on_the_embedded_default(database_url)
    app = create_app(make_config())
    with serving(app, "triage") as base:
        yield base, app


@pytest.mark.slow
def test_the_auditor_reads_searches_and_exports_the_log(
    served_triage: tuple[str, Flask],
) -> None:
    require_chromium()
    base, app = served_triage
    services = app.extensions["triage"]
    secrets = {}
    with transaction(services.sessions) as session:
        for name, role in (("desk", "triage_officer"), ("eve", "auditor")):
            secrets[name] = make_enrolled(
                session, services.officer_secrets, name, PASSWORD, role=role,
                bureau="hrss_fund_supervision", region="441500",
            )[1]  # fmt: skip
        # Work the administrator and the clocks did, in the log's own words.
        record(session, "user.add", actor="root", username="liwei", role="bureau_officer",
               bureau="labor_inspection", region="441502")  # fmt: skip
        record(session, "calendar.change", actor="root", day="2026-10-09", workday=1)
    services.submitter.submit(Report(
        category="fake_docs", region="441502", text="伪造材料领取待遇", channel="web",
        received_on=dt.date(2026, 11, 20), wants_notice=True,
        identity=ReporterIdentity(name="王小明", id_number="11010519491231002X",
                                  phone="13800138000"),
    ))  # fmt: skip
    shots = ARTIFACTS / "audit"
    shutil.rmtree(shots, ignore_errors=True)
    shots.mkdir(parents=True)

    with playwright_sync.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)

        def signed_in(name: str, width: int) -> Any:
            context = browser.new_context(
                locale="zh-CN", viewport={"width": width, "height": 900}, accept_downloads=True
            )
            page = context.new_page()
            page.goto(base + "/login")
            page.fill("#username", name)
            page.fill("#password", PASSWORD)
            page.fill("#code", pyotp.TOTP(secrets[name]).now())
            page.click("button[type=submit]")
            page.wait_for_load_state()
            return page

        # The officer's day: open the tip, accept it, write a note.
        desk = signed_in("desk", 1440)
        desk.goto(base + "/")
        desk.click("table a[href^='/tips/']")
        desk.click("#accept-form button")
        desk.wait_for_load_state()
        desk.fill("#note-text", "已电话核实举报人提供的线索。")
        desk.click("#note-form button")
        desk.wait_for_load_state()

        # The auditor signs in once (a one-time code is good once) and reads at both widths.
        page = signed_in("eve", 1440)
        for width in (1440, 1024):
            page.set_viewport_size({"width": width, "height": 900})
            page.goto(base + "/audit")
            table = page.locator("#audit-entries").inner_text()
            for words in ("查阅举报", "受理举报", "添加备注", "新增账户", "更正工作日历",
                          "角色：承办人", "工作日：是", "登录"):  # fmt: skip
                assert words in table, words
            assert not CODES.search(table), CODES.search(table)
            # Every time is China's: the desk's readings happened just now.
            now = dt.datetime.now(dt.timezone(dt.timedelta(hours=8)))
            assert now.strftime("%Y-%m-%d %H:") in table or (
                (now - dt.timedelta(minutes=5)).strftime("%Y-%m-%d %H:") in table
            )
            # The page uses the width it has and needs no sideways scrolling.
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            page.screenshot(path=str(shots / f"01-log-{width}.png"), full_page=True)

            page.select_option("#filter-action", label="查阅举报")
            page.fill("#filter-actor", "desk")
            page.click("#audit-filter button[type=submit]")
            page.wait_for_load_state()
            rows = page.locator("#audit-entries tbody tr")
            # The tip page, then the page after each of the two decisions: three views.
            assert rows.count() == 3
            assert all("查阅举报" in text for text in rows.all_inner_texts())
            page.screenshot(path=str(shots / f"02-search-{width}.png"), full_page=True)

            with page.expect_download() as download:
                page.click("#audit-csv")
            data = download.value.path().read_bytes()
            assert data.startswith(b"\xef\xbb\xbf")
            sheet = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
            assert sheet[0][:4] == ["编号", "时间（北京时间）", "操作人", "操作"]
            assert [r[3] for r in sheet[1:]] == ["查阅举报"] * 3

            page.goto(base + "/audit/verify")
            assert "哈希链完整" in page.locator("#verdict").inner_text()
            page.screenshot(path=str(shots / f"03-verify-{width}.png"), full_page=True)
        browser.close()
