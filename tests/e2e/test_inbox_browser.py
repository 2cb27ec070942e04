"""The inbox in a real browser, for each role that reads tips, in Chinese at 1440 and 1024 px:
rows in words, unread and "new from the reporter" marks, the search, a tip assigned and the
assignment block. Screenshots land in ``test-artifacts/e2e/inbox/``."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable, Iterator
from decimal import Decimal
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
from tipline.intake.followup import add_message
from tipline.intake.models import Tip
from tipline.intake.reading import open_with_keyring
from tipline.intake.submit import Report, ReporterIdentity
from tipline.triage import create_app

playwright_sync = pytest.importorskip("playwright.sync_api")
PASSWORD = "a long test password"
ROLES = {
    # name: role, bureau
    "desk": ("triage_officer", "hrss_fund_supervision"),
    "boss": ("supervisor", "hrss_fund_supervision"),
    "labour": ("bureau_officer", "labor_inspection"),
}
WIDTHS = (1440, 1024)


@pytest.fixture
def served_triage(
    make_config: Callable[..., Config], database_url: str
) -> Iterator[tuple[str, Flask]]:
    once_on_the_embedded_default(database_url)
    app = create_app(make_config())
    with serving(app, "triage") as base:
        yield base, app


def tips(app: Flask) -> list[str]:
    """A working inbox: places, kinds, funds, amounts and channels that differ."""
    today = dt.date.today()
    submitter = app.extensions["triage"].submitter
    reports = [
        Report(category="fake_treatment", region="441502", text="挂床住院", channel="web",
               fund="medical", amount=Decimal(12_000), received_on=today),
        Report(category="fake_docs", region="441521", text="伪造材料", channel="phone",
               fund="pension", amount=Decimal(260_000), received_on=today - dt.timedelta(days=3),
               identity=ReporterIdentity("张三", "11010519491231002X", "13800138000")),
        Report(category="fake_employment_backpay", region="441581", text="虚构劳动关系补缴",
               channel="letter", fund="pension", amount=Decimal(45_000),
               received_on=today - dt.timedelta(days=12)),
        Report(category="work_injury_fraud", region="441523", text="伪造工伤", channel="visit",
               fund="work_injury", received_on=today - dt.timedelta(days=1)),
        Report(category="drug_resale", region="441502", text="回收医保药品", channel="email",
               fund="medical", amount=Decimal(2_000), received_on=today - dt.timedelta(days=6)),
    ]  # fmt: skip
    return [submitter.submit(r, with_receipt=False).tip_id for r in reports]


def reporter_writes(app: Flask, tip_id: str, text: str) -> None:
    services = app.extensions["triage"]
    with transaction(services.sessions) as session:
        opened = open_with_keyring(session, tip_id, services.keyring)
        assert opened is not None
        add_message(session, opened, text, author="reporter")


@pytest.mark.slow
def test_the_inbox_of_each_role_at_two_widths(served_triage: tuple[str, Flask]) -> None:
    require_chromium()
    base, app = served_triage
    services = app.extensions["triage"]
    secrets = {}
    with transaction(services.sessions) as session:
        for name, (role, bureau) in ROLES.items():
            secrets[name] = make_enrolled(
                session, services.officer_secrets, name, PASSWORD, role=role, bureau=bureau,
                region="441500",
            )[1]  # fmt: skip
    ids = tips(app)
    shots = ARTIFACTS / "inbox"
    shutil.rmtree(shots, ignore_errors=True)
    shots.mkdir(parents=True)

    with playwright_sync.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)

        def signed_in(name: str) -> Any:
            context = browser.new_context(locale="zh-CN", viewport={"width": 1440, "height": 900})
            page = context.new_page()
            page.goto(base + "/login")
            page.fill("#username", name)
            page.fill("#password", PASSWORD)
            page.fill("#code", pyotp.TOTP(secrets[name]).now())
            page.click("button[type=submit]")
            page.wait_for_url(base + "/")
            return page

        # The intake desk routes one tip to labour inspection and reads another; then the
        # reporter of the one read writes again.
        desk = signed_in("desk")
        desk.goto(f"{base}/tips/{ids[2]}")
        desk.select_option("#route-bureau", "labor_inspection")
        desk.fill("#route-reason", "劳动关系问题，由劳动保障监察处理")
        desk.click("#route-form button")
        desk.goto(f"{base}/tips/{ids[1]}")
        desk.click("#take-form button")
        assert "您本人" in desk.locator("#assigned-to").inner_text()
        desk.goto(f"{base}/tips/{ids[0]}")
        reporter_writes(app, ids[0], "补充：还有另一家医院。")

        # The intake desk's supervisor assigns a tip still at the desk to its officer.
        boss = signed_in("boss")
        boss.goto(f"{base}/tips/{ids[4]}")
        options = boss.locator("#assign-officer option").all_inner_texts()
        desk_option = next(o for o in options if o.startswith("desk"))
        boss.select_option("#assign-officer", label=desk_option)
        boss.click("#assign-form button")
        assert boss.locator("#assigned-to").inner_text() == "desk"
        boss.locator("#assignment").screenshot(path=str(shots / "assign-supervisor.png"))

        # One sign-in per officer (a one-time code is never accepted twice), two widths.
        pages = {"desk": desk, "boss": boss, "labour": signed_in("labour")}
        for name in ROLES:
            page = pages[name]
            for width in WIDTHS:
                page.set_viewport_size({"width": width, "height": 900})
                page.goto(base + "/")
                table = page.locator(".inbox-table")
                assert table.is_visible()
                # The rows fit the screen: no sideways scrolling at either width.
                overflow = page.evaluate(
                    "document.documentElement.scrollWidth - document.documentElement.clientWidth"
                )
                assert overflow <= 0, (name, width, overflow)
                page.screenshot(path=str(shots / f"inbox-{name}-{width}.png"), full_page=True)
                text = page.locator("main").inner_text()
                if name == "desk":
                    assert "举报人有新消息" in page.locator(f"tr[data-tip='{ids[0]}']").inner_text()
                    assert "未读" in page.locator(f"tr[data-tip='{ids[3]}']").inner_text()
                    assert page.locator("#mine-count").inner_text() == "2"
                if name == "labour":
                    assert page.locator("tr[data-tip]").count() == 1
                    assert page.locator("select[name=bureau]").count() == 0
                for code in ("fake_docs", "working_days", "10k-30k", "hrss_fund_supervision"):
                    assert code not in text, (name, code)

        # The search: by county and real name, then a wrong date explained.
        page = desk
        page.goto(base + "/")
        page.select_option("select[name=county]", "441521")
        page.select_option("select[name=real_name]", "yes")
        page.click("#inbox-search button[type=submit]:not([name])")
        assert page.locator("tr[data-tip]").count() == 1
        page.screenshot(path=str(shots / "search-desk-1024.png"), full_page=True)
        page.goto(base + "/?received_from=2026-02-30")
        assert "请按“年-月-日”填写日期" in page.locator("#search-problems").inner_text()
        page.screenshot(path=str(shots / "search-error-desk-1024.png"), full_page=True)
        browser.close()
    with services.sessions() as session:
        assert session.get(Tip, ids[4]).assigned_to is not None  # type: ignore[union-attr]
