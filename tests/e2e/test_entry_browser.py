"""The officer's entry form in a real browser, in Chinese at 1440 and 1024 px: the desk
officer takes a telephone tip, picks the place with the three lists, is told every problem
at once, and reads out the receipt code from its one-time page (and prints it: only the
slip, without the reporter's name). Screenshots land in ``test-artifacts/e2e/entry/``."""

from __future__ import annotations

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
from tipline.triage import create_app

playwright_sync = pytest.importorskip("playwright.sync_api")
PASSWORD = "a long test password"
WIDTHS = (1440, 1024)


@pytest.fixture
def served_triage(
    make_config: Callable[..., Config], database_url: str
) -> Iterator[tuple[str, Flask]]:
    once_on_the_embedded_default(database_url)
    app = create_app(make_config(portal_url="https://jubao.example.cn"))
    with serving(app, "triage") as base:
        yield base, app


@pytest.mark.slow
def test_an_officer_enters_a_telephone_tip_and_reads_out_the_receipt(
    served_triage: tuple[str, Flask],
) -> None:
    require_chromium()
    base, app = served_triage
    services = app.extensions["triage"]
    with transaction(services.sessions) as session:
        secret = make_enrolled(session, services.officer_secrets, "desk", PASSWORD,
                               role="triage_officer", bureau="hrss_fund_supervision",
                               region="441500")[1]  # fmt: skip
    shots = ARTIFACTS / "entry"
    shutil.rmtree(shots, ignore_errors=True)
    shots.mkdir(parents=True)

    with playwright_sync.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        # One sign-in (a one-time code is taken once), then each width in turn.
        context = browser.new_context(locale="zh-CN", viewport={"width": WIDTHS[0], "height": 900})
        page: Any = context.new_page()
        page.goto(base + "/login")
        page.fill("#username", "desk")
        page.fill("#password", PASSWORD)
        page.fill("#code", pyotp.TOTP(secret).now())
        page.click("button[type=submit]")
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            page.goto(base + "/tips/new")
            # The lists start at the officer's own city; the county list is filled in.
            assert page.locator("#city").input_value() == "441500"
            page.screenshot(path=str(shots / f"01-form-{width}.png"), full_page=True)

            # Without a script of its own: another province, then its button.
            page.select_option("#province", "110000")
            page.click("button[name=refine][value=province]")
            assert page.locator("#city option[value='110101']").count() == 1
            page.select_option("#province", "440000")
            page.click("button[name=refine][value=province]")
            page.select_option("#city", "441500")
            page.click("button[name=refine][value=city]")
            page.select_option("#county", "441502")

            # Every problem at once, what was typed kept.
            page.select_option("#channel", "phone")
            page.fill("#received_on", "2025-09-30")
            page.select_option("#category", "benefit_impostor")
            page.fill("#amount", "很多")
            page.fill("#name", "王小明")
            page.fill("#id_number", "110105194912310021")
            page.fill("#phone", "138 0013 8000")
            page.check("#wants_notice")
            page.check("#wants_receipt")
            page.click("#entry-form button[type=submit]:not([name])")
            summary = page.locator("#errors").inner_text()
            assert "校验位不符" in summary and "请用数字填写金额" in summary
            assert "请记录举报人反映的内容" in summary
            assert page.locator("#name").input_value() == "王小明"
            page.screenshot(path=str(shots / f"02-problems-{width}.png"), full_page=True)

            page.fill("#amount", "8.64万")
            page.fill("#id_number", "11010519491231002X")
            page.fill("#happened_start", "2023-01-01")
            page.check("#ongoing")
            page.select_option("#how_known", "affected")
            page.fill("#text", "来电反映：某人去世后家属继续领取养老金。")
            page.click("#entry-form button[type=submit]:not([name])")
            assert page.url.endswith("/tips/new/receipt")
            code = page.locator("#receipt").inner_text()
            assert len(re.findall(r"\d{4}", code)) == 6
            assert "王小明" not in page.content()
            assert "https://jubao.example.cn" in page.locator("#slip").inner_text()
            page.screenshot(path=str(shots / f"03-receipt-{width}.png"), full_page=True)
            page.emulate_media(media="print")
            assert not page.locator("#for-the-officer").is_visible()
            assert not page.locator("nav").first.is_visible()
            assert page.locator("#slip").is_visible()
            page.screenshot(path=str(shots / f"04-receipt-print-{width}.png"), full_page=True)
            page.emulate_media(media="screen")

            # Shown once: a reload says it was given, and shows no digit of it.
            page.reload()
            assert page.locator("#receipt-gone").is_visible()
            assert page.locator("#receipt").count() == 0
            page.screenshot(path=str(shots / f"05-receipt-gone-{width}.png"), full_page=True)
        context.close()
        browser.close()
