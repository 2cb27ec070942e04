"""Alerts (待办提醒) in a real browser, in Chinese at 1440 and 1024 px: the count in the menu,
then the alerts page with a new tip, a reporter's reply, an identity request to decide and a
deadline overdue. Screenshots land in ``test-artifacts/e2e/alerts/``."""

from __future__ import annotations

import datetime as dt
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
from tipline.intake.followup import add_message
from tipline.intake.models import Tip
from tipline.intake.reading import open_tip
from tipline.intake.submit import Report, ReporterIdentity
from tipline.intake.workdays import Calendar
from tipline.triage import api, clocks, create_app

playwright_sync = pytest.importorskip("playwright.sync_api")
PASSWORD = "a long test password"
DESK = "hrss_fund_supervision"


@pytest.fixture
def served_triage(
    make_config: Callable[..., Config], database_url: str
) -> Iterator[tuple[str, Flask]]:
    once_on_the_embedded_default(database_url)
    app = create_app(make_config())
    with serving(app, "triage") as base:
        yield base, app


def _world(app: Flask) -> dict[str, str]:
    """Four tips of 城区 and the officers of the city's desk; returns the TOTP secrets."""
    services = app.extensions["triage"]
    secrets: dict[str, str] = {}
    with transaction(services.sessions) as session:
        for name in ("asker", "boss1440", "boss1024"):
            secrets[name] = make_enrolled(
                session, services.officer_secrets, name, PASSWORD, role="supervisor",
                bureau=DESK, region="441500",
            )[1]  # fmt: skip
        token = api.issue_token(session, "asker", actor="test")
    submit = services.submitter.submit
    ids = [
        submit(Report(category="fake_treatment", region="441502", text="某医院挂床住院",
                      channel="web", received_on=dt.date.today())).tip_id,
        submit(Report(category="fake_docs", region="441502", text="伪造材料领取待遇",
                      channel="letter", received_on=dt.date.today(),
                      identity=ReporterIdentity(name="王小明", id_number="11010519491231002X",
                                                phone="13800138000"))).tip_id,
        submit(Report(category="benefit_impostor", region="441502", text="冒领养老金",
                      channel="web", received_on=dt.date.today() - dt.timedelta(days=20))).tip_id,
    ]  # fmt: skip
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    asked = client.post(
        f"/api/v1/tips/{ids[1]}/identity-requests", json={"reason": "核实身份"}, headers=headers
    )
    assert asked.status_code == 201, asked.get_json()
    with transaction(services.sessions) as session:
        tip = session.get(Tip, ids[2])
        assert tip is not None
        add_message(session, open_tip(tip, services.keyring), "补充一份材料", author="reporter")
        clocks.sweep(session, dt.date.today(), Calendar())  # the third is long overdue
    return secrets


@pytest.mark.slow
def test_the_menu_counts_alerts_and_the_page_lists_them(
    served_triage: tuple[str, Flask],
) -> None:
    require_chromium()
    base, app = served_triage
    secrets = _world(app)
    shots = ARTIFACTS / "alerts"
    shutil.rmtree(shots, ignore_errors=True)
    shots.mkdir(parents=True)

    with playwright_sync.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)

        def signed_in(name: str, width: int) -> Any:
            context = browser.new_context(locale="zh-CN", viewport={"width": width, "height": 900})
            page = context.new_page()
            page.goto(base + "/login")
            page.fill("#username", name)
            page.fill("#password", PASSWORD)
            page.fill("#code", pyotp.TOTP(secrets[name]).now())
            page.click("button[type=submit]")
            return page

        for width in (1440, 1024):
            # Each width its own supervisor, so each sees its alerts unread.
            page = signed_in(f"boss{width}", width)
            page.goto(base + "/")
            link = page.locator("#alerts-link")
            # Three new tips, a reply, an identity request, an overdue clock.
            assert link.inner_text() == "待办提醒（6）"
            page.screenshot(path=str(shots / f"01-menu-count-{width}.png"), full_page=False)
            link.click()
            page.wait_for_url(base + "/alerts")
            rows = page.locator("#alerts tbody tr.unseen")
            assert rows.count() == 6
            text = page.locator("#alerts").inner_text()
            for words in ("新线索", "举报人有新留言或补充了证据材料", "有身份查阅申请待您审批",
                          "办理时限即将到期或已超期：受理审查 已逾期",
                          "广东省汕尾市城区"):  # fmt: skip
                assert words in text, words
            assert page.locator("#alerts-link").inner_text() == "待办提醒"  # seen on arrival
            page.screenshot(path=str(shots / f"02-alerts-page-{width}.png"), full_page=True)
            page.reload()
            assert page.locator("#alerts tbody tr.unseen").count() == 0
            assert "已读" in page.locator("#alerts").inner_text()
        # The requester is not asked to decide their own request.
        asker = signed_in("asker", 1440)
        asker.goto(base + "/alerts")
        assert "有身份查阅申请待您审批" not in asker.locator("#alerts").inner_text()
        browser.close()
