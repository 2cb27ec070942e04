"""The administration pages in a real browser, in Chinese at 1440 and 1024 px, without
JavaScript (every confirmation is a page of its own): the users page with a deactivated
account, one account's page, a change with its confirmation, a deactivation with its
confirmation, the supervisor's approvals with the change waiting, and a first sign-in's
enrolment page with its QR code. Screenshots land in ``test-artifacts/e2e/admin/<width>/``."""

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
ENGLISH = re.compile(r"\b(Users|Deactivate|Approve|Reset|supervisor|bureau_officer|auditor)\b")


@pytest.fixture
def served_triage(
    make_config: Callable[..., Config], database_url: str
) -> Iterator[tuple[str, Flask]]:
    once_on_the_embedded_default(database_url)
    app = create_app(make_config())
    with serving(app, "triage") as base:
        yield base, app


@pytest.mark.slow
@pytest.mark.parametrize("width", [1440, 1024])
def test_the_admin_pages_in_a_browser(served_triage: tuple[str, Flask], width: int) -> None:
    require_chromium()
    base, app = served_triage
    services = app.extensions["triage"]
    secrets: dict[str, str] = {}
    accounts = [
        ("root", "admin", "hrss_fund_supervision", "441500"),
        ("chief", "supervisor", "labor_inspection", "441500"),
        ("li.wei", "bureau_officer", "labor_inspection", "441502"),
        ("desk", "triage_officer", "hrss_fund_supervision", "441500"),
        ("audit.gone", "auditor", "hrss_fund_supervision", "441500"),
    ]
    with transaction(services.sessions) as session:
        for name, role, bureau, region in accounts:
            secrets[name] = make_enrolled(session, services.officer_secrets, name, PASSWORD,
                                          role=role, bureau=bureau, region=region)[1]  # fmt: skip
    shots = ARTIFACTS / "admin" / str(width)
    shutil.rmtree(shots, ignore_errors=True)
    shots.mkdir(parents=True)
    step = iter(range(1, 100))

    with playwright_sync.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)

        def context() -> Any:
            made = browser.new_context(
                locale="zh-CN", java_script_enabled=False,
                viewport={"width": width, "height": 900},
            )  # fmt: skip
            return made.new_page()

        def signed_in(name: str) -> Any:
            page = context()
            page.goto(base + "/login")
            page.fill("#username", name)
            page.fill("#password", PASSWORD)
            page.fill("#code", pyotp.TOTP(secrets[name]).now())
            page.click("button[type=submit]")
            return page

        def shot(page: Any, name: str) -> None:
            page.screenshot(path=str(shots / f"{next(step):02d}-{name}.png"), full_page=True)
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, (name, overflow)
            text = page.inner_text("main")
            assert not ENGLISH.search(text), (name, ENGLISH.findall(text))

        admin = signed_in("root")
        assert admin.url.endswith("/admin/users")
        # Deactivate one account, with its confirmation.
        admin.click("tr[data-user='audit.gone'] button")
        assert admin.locator("#confirm").is_visible()
        assert "停用 audit.gone 的账户？" in admin.inner_text("#confirm")
        shot(admin, "deactivate-confirm")
        admin.click("#confirm-yes")
        assert admin.url.endswith("/admin/users")
        row = admin.locator("tr[data-user='audit.gone']")
        assert "已停用" in row.inner_text()
        assert admin.locator("tbody tr").last.get_attribute("data-user") == "audit.gone"
        own = admin.locator("tr[data-user='root']").inner_text()
        assert "您本人的账户" in own
        shot(admin, "users")
        # One account's page, and a change that widens a reader: confirm, then it waits.
        admin.click("a:text-is('li.wei')")
        assert "账户 li.wei" in admin.inner_text("h1")
        shot(admin, "account")
        admin.fill("#region", "441500")
        admin.click("#change-form button[type=submit]")
        confirm = admin.inner_text("#confirm")
        assert "变更 li.wei 的角色、部门或管辖区域？" in confirm and "须经新部门和辖区" in confirm
        assert "现在：承办人 · 劳动保障监察机构 · 广东省汕尾市城区" in confirm
        assert "变更后：承办人 · 劳动保障监察机构 · 广东省汕尾市" in confirm
        shot(admin, "change-confirm")
        admin.click("#confirm-yes")
        assert "正在等待新部门和辖区的负责人批准" in admin.inner_text("#done")
        assert "变更等待批准" in admin.inner_text("#state")
        shot(admin, "change-waits")
        # Reset an authenticator: the activation code to hand over.
        admin.goto(base + "/admin/users")
        admin.click("a:text-is('desk')")
        admin.click("#reset-totp button")
        shot(admin, "reset-confirm")
        admin.click("#confirm-yes")
        assert re.fullmatch(r"[0-9A-Z]{4}(-[0-9A-Z]{4}){3}", admin.inner_text("#activation"))
        shot(admin, "reset-done")
        # A new account, whose owner enrols at the first sign-in.
        admin.goto(base + "/admin/users")
        admin.fill("#username", "zhao.lei")
        admin.fill("#password", "another long password")
        admin.select_option("#role", "auditor")
        admin.fill("#region", "441500")
        admin.click("form[action='/admin/users'] button[type=submit]")
        activation = admin.inner_text("#activation")

        # The supervisor sees the change waiting and approves it after confirming.
        chief = signed_in("chief")
        chief.goto(base + "/approvals")
        assert "li.wei" in chief.inner_text("#changes")
        shot(chief, "approvals")
        chief.click("#changes button")
        assert "批准 li.wei 的账户变更？" in chief.inner_text("#confirm")
        shot(chief, "approve-confirm")
        chief.click("#confirm-yes")
        assert "已生效" in chief.inner_text("#changed")
        shot(chief, "approved")

        newcomer = context()
        newcomer.goto(base + "/login")
        newcomer.fill("#username", "zhao.lei")
        newcomer.fill("#password", "another long password")
        newcomer.fill("#code", activation)
        newcomer.click("button[type=submit]")
        assert newcomer.url.endswith("/enrol")
        qr = newcomer.locator("figure.qr svg")
        assert qr.is_visible() and qr.bounding_box()["width"] >= 150
        key = newcomer.inner_text("#totp-secret")
        assert re.fullmatch(r"([A-Z2-7]{4} )+[A-Z2-7]{1,4}", key)
        shot(newcomer, "enrol")
        newcomer.fill("#code", pyotp.TOTP(key.replace(" ", "")).now())
        newcomer.click("button[type=submit]")
        assert newcomer.url.endswith("/audit")
        browser.close()
