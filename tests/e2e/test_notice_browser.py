"""The T2 notice and the calendar warnings in a real browser: an officer signs in, sees the
notice owed on the board, opens the 告知书 and prints it (the print stylesheet leaves only
the document), records that the reporter was told; an administrator sees which year rests
on a guessed calendar. Screenshots land in ``test-artifacts/e2e/notice/``."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Callable, Iterator
from importlib.resources import files
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
from tipline.intake.models import RulePack
from tipline.intake.submit import Report, ReporterIdentity
from tipline.triage import create_app

playwright_sync = pytest.importorskip("playwright.sync_api")
PASSWORD = "a long test password"


@pytest.fixture
def served_triage(
    make_config: Callable[..., Config], database_url: str
) -> Iterator[tuple[str, Flask]]:
    once_on_the_embedded_default(database_url)
    app = create_app(make_config())
    with serving(app, "triage") as base:
        yield base, app


@pytest.mark.slow
def test_an_officer_prints_the_notice_and_records_it(served_triage: tuple[str, Flask]) -> None:
    require_chromium()
    base, app = served_triage
    services = app.extensions["triage"]
    # A pack with a 30-working-day clock, so one clock reaches into 2027 (no calendar yet).
    national = json.loads((files("tipline.rules") / "national.json").read_text("utf-8"))
    national["version"] = "2026.test"
    # The shipped T3 (off: not confirmed nationally) gives way to the test's.
    national["deadlines"] = [d for d in national["deadlines"] if d["rule"] != "T3"] + [{
        "rule": "T3", "applies": "always", "from": "received", "amount": 30,
        "unit": "working_days", "met_by": ["closed"], "source": "test",
    }]  # fmt: skip
    secrets = {}
    with transaction(services.sessions) as session:
        session.add(RulePack(name="national", version="2026.test", scope="national",
                             body=json.dumps(national, ensure_ascii=False)))  # fmt: skip
        for name, role in (("desk", "triage_officer"), ("root", "admin")):
            secrets[name] = make_enrolled(
                session, services.officer_secrets, name, PASSWORD, role=role,
                bureau="hrss_fund_supervision", region="441500",
            )[1]  # fmt: skip
    services.submitter.submit(Report(
        category="fake_docs", region="441502", text="伪造材料领取待遇", channel="web",
        received_on=dt.date(2026, 11, 20), wants_notice=True,
        identity=ReporterIdentity(name="王小明", id_number="11010519491231002X",
                                  phone="13800138000"),
    ))  # fmt: skip
    shots = ARTIFACTS / "notice"
    shutil.rmtree(shots, ignore_errors=True)
    shots.mkdir(parents=True)

    with playwright_sync.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)

        def signed_in(name: str) -> Any:
            context = browser.new_context(locale="zh-CN", viewport={"width": 1100, "height": 900})
            page = context.new_page()
            page.goto(base + "/login")
            page.fill("#username", name)
            page.fill("#password", PASSWORD)
            page.fill("#code", pyotp.TOTP(secrets[name]).now())
            page.click("button[type=submit]")
            return page

        page = signed_in("desk")
        page.goto(base + "/")
        page.click("table a[href^='/tips/']")
        page.click("#accept-form button")
        page.goto(base + "/")
        assert page.locator("#notices-due").is_visible()
        assert page.locator("#fallback-warning").is_visible()
        page.screenshot(path=str(shots / "01-board.png"), full_page=True)
        page.click("#notices-due a")
        page.click("#notice a[href$='/notice']")
        assert "王小明：" in page.locator("#notice-document").inner_text()
        page.screenshot(path=str(shots / "02-notice-screen.png"), full_page=True)
        page.emulate_media(media="print")
        assert not page.locator("nav").first.is_visible()
        assert not page.locator("#contact").is_visible()  # the phone number is not printed
        page.screenshot(path=str(shots / "03-notice-print.png"), full_page=True)
        page.emulate_media(media="screen")
        page.select_option("#notice-channel", "phone")
        page.click("#notice-form button")
        assert "已同时在举报网站上告知" in page.locator("#notice").inner_text()
        page.screenshot(path=str(shots / "04-told.png"), full_page=True)

        admin = signed_in("root")
        admin.goto(base + "/admin/calendar")
        assert "2027" in admin.locator("#fallback-warning").inner_text()
        admin.screenshot(path=str(shots / "05-calendar.png"), full_page=True)
        browser.close()
