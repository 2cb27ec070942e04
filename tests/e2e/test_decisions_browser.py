"""Each decision with its confirmation step, in a real browser, in Chinese, at 1440 and at
1024 px (issue 9): the route form on the suggested bureau, refusing (blank reason first,
then confirmed; cancelled once), transferring, recusing, and a supervisor approving an
identity request seeing who asked and why; after each, the page shows the new state and
only what is left. Without JavaScript: the confirmation is a page with a plain form.
Screenshots land in ``test-artifacts/e2e/decisions/<width>/``."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from typing import Any

import pyotp
import pytest
from flask import Flask

from tests.e2e.conftest import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    once_on_the_embedded_default,
    require_chromium,
    serving,
)
from tests.workspace import USERNAMES, World, build_world
from tipline.intake.config import Config
from tipline.triage import create_app

playwright_sync = pytest.importorskip("playwright.sync_api")


@pytest.fixture
def served_world(
    make_config: Callable[..., Config], database_url: str
) -> Iterator[tuple[str, World]]:
    once_on_the_embedded_default(database_url)
    app: Flask = create_app(make_config())
    world = build_world(app, database_url)
    with serving(app, "triage") as base:
        yield base, world


@pytest.mark.slow
@pytest.mark.parametrize("width", [1440, 1024])
def test_each_decision_is_confirmed_in_the_browser(
    served_world: tuple[str, World], width: int
) -> None:
    require_chromium()
    base, world = served_world
    shots = ARTIFACTS / "decisions" / str(width)
    shutil.rmtree(shots, ignore_errors=True)
    shots.mkdir(parents=True)

    with playwright_sync.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)

        def signed_in(name: str) -> Any:
            # JavaScript off: every step must work without it.
            context = browser.new_context(locale="zh-CN", java_script_enabled=False,
                                          viewport={"width": width, "height": 900})  # fmt: skip
            page = context.new_page()
            page.goto(base + "/login")
            page.fill("#username", USERNAMES[name])
            page.fill("#password", "a long test password")
            page.fill("#code", pyotp.TOTP(world.secrets[name]).now())
            page.click("button[type=submit]")
            return page

        def shot(page: Any, name: str, selector: str | None = None) -> None:
            if selector:
                page.locator(selector).first.scroll_into_view_if_needed()
                page.locator(selector).first.screenshot(path=str(shots / f"{name}.png"))
            else:
                page.screenshot(path=str(shots / f"{name}.png"), full_page=True)

        tips = world.tips
        # The intake desk: the route form starts on the suggested bureau.
        desk = signed_in("desk")
        desk.goto(f"{base}/tips/{tips['received']}")
        assert desk.locator("#route-bureau").input_value() == "si_agency"
        assert desk.locator("#refuse-reason").input_value() == ""
        shot(desk, "01-desk-decisions", "#decisions")

        # The lead bureau refuses: a confirmation first, cancelled, then confirmed.
        agency = signed_in("agency")
        agency.goto(f"{base}/tips/{tips['routed']}")
        assert agency.locator("#route-form").count() == 0  # the desk's, not a bureau's
        shot(agency, "02-agency-decisions", "#decisions")
        agency.select_option("#refuse-reason", "no_clear_target")
        agency.fill("#refuse-text", "请补充被举报人的姓名和冒领的时间。")
        agency.click("#refuse-form button[type=submit]")
        assert agency.locator("#confirm").is_visible()
        assert "此操作无法撤销" in agency.locator("#confirm").inner_text()
        shot(agency, "03-refuse-confirm")
        agency.click("#cancel")
        assert agency.locator("#refuse-form").count() == 1  # nothing changed
        agency.select_option("#refuse-reason", "no_clear_target")
        agency.click("#refuse-form button[type=submit]")
        agency.click("#confirm-form button[type=submit]")
        assert "不予受理" in agency.locator("#status").inner_text()
        assert agency.locator("#decided").is_visible()
        for form in ("#accept-form", "#refuse-form", "#transfer-form", "#duplicate-form"):
            assert agency.locator(form).count() == 0, form
        shot(agency, "04-refused", "#decisions")

        # Transferring, confirmed.
        agency.goto(f"{base}/tips/{tips['anonymous']}")
        agency.select_option("#transfer-bureau", "labor_inspection")
        agency.fill("#transfer-region", "441502")
        agency.click("#transfer-form button[type=submit]")
        assert "城区" in agency.locator("#confirm").inner_text()
        shot(agency, "05-transfer-confirm")
        agency.click("#confirm-form button[type=submit]")
        # Sent out of the agency's sight: back to the inbox, where it is no longer listed.
        assert agency.url == base + "/" and tips["anonymous"] not in agency.content()

        # The supervisor decides an identity request: who asked, when and why; approving is
        # confirmed.
        boss = signed_in("boss")
        boss.goto(f"{base}/tips/{tips['routed']}")
        decision = boss.locator(".identity-decision")
        assert decision.count() == 1
        assert "需要核实举报人身份以便回访。" in decision.inner_text()
        assert USERNAMES["desk"] in decision.inner_text()
        shot(boss, "06-identity-request", ".identity-decision")
        boss.click(".identity-decision button[value=approve]")
        assert "居民身份证号码" in boss.locator("#confirm").inner_text()
        shot(boss, "07-identity-confirm")
        boss.click("#confirm-form button[type=submit]")
        assert boss.locator(".identity-decision").count() == 0

        # A conflict of interest: confirmed, and the tip is gone from the desk's inbox.
        desk.goto(f"{base}/tips/{tips['received']}")
        desk.click("#recuse-form button[type=submit]")
        assert "申请回避" in desk.locator("#confirm").inner_text()
        shot(desk, "08-recuse-confirm")
        desk.click("#confirm-form button[type=submit]")
        assert tips["received"] not in desk.content()
        shot(desk, "09-inbox-after-recusal")
        browser.close()
