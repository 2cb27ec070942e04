"""The reporter's status page in a real browser (issue 8), with and without JavaScript, at
375 px and at desktop width: problems summarised at the top and focused, what the
evidence box accepts, a notice that what was sent arrived (a reload sends nothing again),
the fund and dates reported, and the office a transfer went to. Screenshots land in
``test-artifacts/e2e/status-<js|nojs>-<width>/``."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from flask import Flask
from PIL import Image

from tests.conftest import submit_report
from tests.e2e.conftest import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, require_chromium
from tests.test_status_page import transfer

playwright_sync = pytest.importorskip("playwright.sync_api")

IN_VIEW = """(selector) => {
  const box = document.querySelector(selector).getBoundingClientRect();
  return box.top >= -1 && box.bottom <= window.innerHeight + 1 && box.height > 0;
}"""


@pytest.mark.slow
@pytest.mark.parametrize("width", [375, 1280])
@pytest.mark.parametrize("javascript", [True, False], ids=["js", "nojs"])
def test_the_status_page_in_a_browser(
    javascript: bool,
    width: int,
    served_portal: tuple[str, Flask],
    keys_dir: Path,
    tmp_path: Path,
) -> None:
    require_chromium()
    base, app = served_portal
    shots = ARTIFACTS / f"status-{'js' if javascript else 'nojs'}-{width}"
    shutil.rmtree(shots, ignore_errors=True)
    shots.mkdir(parents=True)
    receipt = submit_report(
        app.test_client(), fund="pension", category="fake_employment_backpay",
        suspect_kind="unit", happened_start="2024-05-01", ongoing="y",
        text="某公司为从未在此工作的人补缴养老保险，办理提前退休。",
    )  # fmt: skip
    transfer(app, keys_dir, "labor_inspection", "441521")
    picture = tmp_path / "工资表.png"
    Image.new("RGB", (8, 8), (0, 0, 200)).save(picture)
    bad = tmp_path / "程序.exe"
    bad.write_bytes(b"MZ\x90\x00 not evidence")

    with playwright_sync.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(
            java_script_enabled=javascript, locale="zh-CN",
            viewport={"width": width, "height": 800},
        )  # fmt: skip
        page = context.new_page()
        step = iter(range(1, 100))

        def shot(name: str, *, full_page: bool = False) -> None:
            # The viewport, as the reporter sees it after the page loads; the whole page too.
            page.screenshot(path=str(shots / f"{next(step):02d}-{name}.png"), full_page=full_page)
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, (name, overflow)

        def focused() -> str:
            return str(page.evaluate("document.activeElement && document.activeElement.id"))

        def focus_on(element_id: str) -> bool:
            """Autofocus is applied at the browser's next rendering step: wait for it."""
            try:
                page.wait_for_function(
                    "(id) => document.activeElement && document.activeElement.id === id",
                    arg=element_id, timeout=5000,
                )  # fmt: skip
            except playwright_sync.TimeoutError:
                return False
            return True

        page.goto(base + "/check")
        page.fill("#receipt", receipt.replace(" ", ""))
        page.click("form button[type=submit]")
        assert page.url.endswith("/my-report")
        # Item 4 and 5: what was reported, in plain words, and where the tip went.
        facts = page.inner_text(".facts")
        assert "养老保险" in facts
        assert "自2024年5月1日起，至今仍在继续。" in facts
        assert "广东省汕尾市城区" in facts
        status = page.inner_text("#status")
        assert "已转交至广东省汕尾市海丰县劳动保障监察机构" in status
        assert "其他部门" not in page.inner_text("main")
        shot("status", full_page=True)
        # Item 2: the evidence box says what it takes, from the configured limits.
        limits = app.extensions["portal"].config.limits
        hint = page.inner_text("#attachments-hint")
        assert f"每个文件不超过 {limits.max_file_bytes // 1048576} MB" in hint
        assert "JPG" in hint and "PDF" in hint and "MP4" in hint
        page.locator("#evidence-form").scroll_into_view_if_needed()
        shot("evidence-box")

        # Item 1: a problem in each form is summarised at the top, in view and focused.
        for form, fill, field in (
            ("#message-form", lambda: None, "text"),
            ("#evidence-form", lambda: page.set_input_files("#attachments", [str(bad)]),
             "attachments"),
            ("#identity-form", lambda: (page.fill("#name", "王小明"),
                                        page.fill("#id_number", "110105194912310021")),
             "id_number"),
        ):  # fmt: skip
            fill()
            page.click(f"{form} button[type=submit]")
            assert page.url.endswith("#errors")
            summary = page.locator("#errors")
            assert summary.is_visible()
            assert page.evaluate(IN_VIEW, "#errors"), form
            assert focus_on("errors"), (form, focused())
            assert "有问题需要改正" in summary.inner_text()
            shot(f"problem-{field}")
            # The link leads to the field, as the GOV.UK pattern does.
            summary.locator(f"a[href='#{field}']").click()
            assert page.evaluate(IN_VIEW, f"#{field}"), field
            # A fragment's target takes the focus when it can: here, the field.
            assert focus_on(field), (field, focused())
            page.goto(base + "/my-report")

        # Item 3: sending says it arrived, once, and a reload sends nothing again.
        page.fill("#message-form textarea", "公司名称是某某劳务公司。")
        page.click("#message-form button[type=submit]")
        assert page.url.endswith("/my-report#notice")
        assert page.evaluate(IN_VIEW, "#notice")
        assert focus_on("notice"), focused()
        assert "您的留言已收到" in page.inner_text("#notice")
        shot("message-arrived")
        sent = page.locator(".messages li").count()
        page.reload()
        assert page.locator("#notice").count() == 0
        assert page.locator(".messages li").count() == sent == 1
        page.set_input_files("#attachments", [str(picture)])
        page.click("#evidence-form button[type=submit]")
        assert "您的文件已收到" in page.inner_text("#notice")
        assert focus_on("notice"), focused()
        assert "工资表.png" in page.inner_text("main")
        shot("evidence-arrived")
        page.reload()
        assert page.locator("#notice").count() == 0
        assert page.inner_text("main").count("工资表.png") == 1
        shot("after-reload", full_page=True)
        context.close()
        browser.close()
    assert len(list(shots.glob("*.png"))) == 8
