"""The citizen's report form in a real browser (issue 8), each defect found, with and
without JavaScript, at 375 px (a phone) and at desktop width. Screenshots land in
``test-artifacts/e2e/form/<mode>-<width>/``.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from tests.conftest import legacy_doc
from tests.e2e.conftest import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    once_on_the_embedded_default,
    require_chromium,
    serving,
)
from tipline.intake.config import Config
from tipline.intake.models import Identity, Tip
from tipline.portal import create_app

playwright_sync = pytest.importorskip("playwright.sync_api")

MODES = [
    pytest.param(True, 375, id="js-375"),
    pytest.param(False, 375, id="nojs-375"),
    pytest.param(True, 1280, id="js-1280"),
    pytest.param(False, 1280, id="nojs-1280"),
]
REAL_ID = "441502198503121234"  # district 441502 dates from 1988; the number is real-shaped
TEXT = "该医院组织老人挂床住院，每人每天签到后回家，医院以住院名义结算医保基金。"


@pytest.fixture
def served(
    make_config: Callable[..., Config], public_keys_dir: Path, database_url: str
) -> Iterator[tuple[str, Flask]]:
    once_on_the_embedded_default(database_url)
    require_chromium()
    app = create_app(make_config(
        keys_dir=public_keys_dir, key_passphrase=None, max_file_bytes=512 * 1024,
        max_upload_bytes=1024 * 1024, receipt_limit="2 per hour",
    ))  # fmt: skip
    with serving(app, "portal") as base:
        yield base, app


class Browser:
    """One page of a browser in one mode, saving numbered screenshots of what it shows."""

    def __init__(self, page: Any, shots: Path, width: int) -> None:
        self.page = page
        self.shots = shots
        self.width = width
        self.step = 0

    def shot(self, name: str) -> None:
        self.step += 1
        self.page.screenshot(path=str(self.shots / f"{self.step:02d}-{name}.png"), full_page=True)
        overflow = self.page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, (name, overflow)  # nothing sticks out sideways

    def text(self, selector: str = "main") -> str:
        return str(self.page.inner_text(selector))


@pytest.fixture
def browse(
    served: tuple[str, Flask], request: pytest.FixtureRequest
) -> Iterator[Callable[[bool, int, str], Browser]]:
    base, _app = served
    with playwright_sync.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        contexts: list[Any] = []

        def open_page(javascript: bool, width: int, scenario: str) -> Browser:
            shots = ARTIFACTS / "form" / scenario / f"{'js' if javascript else 'nojs'}-{width}"
            shutil.rmtree(shots, ignore_errors=True)
            shots.mkdir(parents=True)
            context = browser.new_context(
                java_script_enabled=javascript, locale="zh-CN", base_url=base,
                viewport={"width": width, "height": 800},
            )  # fmt: skip
            contexts.append(context)
            page = context.new_page()
            page.goto("/report")
            return Browser(page, shots, width)

        yield open_page
        for context in contexts:
            context.close()
        browser.close()


def tips(app: Flask) -> int:
    with app.extensions["portal"].sessions() as session:
        return session.scalar(select(func.count()).select_from(Tip)) or 0


def fill_place(b: Browser, javascript: bool) -> None:
    b.page.select_option("#province", "440000")
    if not javascript:
        b.page.click("button[name=refine][value=province]")
    b.page.wait_for_selector("#city option[value='441500']", state="attached")
    b.page.select_option("#city", "441500")
    if not javascript:
        b.page.click("button[name=refine][value=city]")
    b.page.wait_for_selector("#county option[value='441502']", state="attached")
    b.page.select_option("#county", "441502")


def send(b: Browser) -> None:
    b.page.click("#report-form button[type=submit]:not([name])")


@pytest.mark.slow
@pytest.mark.parametrize(("javascript", "width"), MODES)
def test_real_id_forgiving_input_and_what_happens_next(
    javascript: bool, width: int, browse: Callable[..., Browser], served: tuple[str, Flask]
) -> None:
    """Findings 1, 7 and 9: a real ID number, a phone with spaces, an amount in 万; the
    receipt page says what comes next; the amount is shown with separators."""
    _base, app = served
    b = browse(javascript, width, "real-id")
    b.page.check("input[name=category][value=fake_treatment]")
    fill_place(b, javascript)
    b.page.fill("#text", TEXT)
    b.page.fill("#amount", "15万")
    b.page.check("input[name=anonymous][value=no]")
    b.page.fill("#name", "王小明")
    b.page.fill("#id_number", "")
    b.page.fill("#phone", "138 0013 8000")
    send(b)
    assert "请填写身份证号" in b.text("#id_number-error")
    b.shot("empty-id-asks-for-it")
    b.page.fill("#id_number", REAL_ID)
    send(b)
    assert b.page.url.endswith("/report/received")
    receipt = b.text("#receipt").strip()
    assert re.fullmatch(r"(\d{4} ){5}\d{4}", receipt)
    steps = b.text("#next-steps")
    assert "5个工作日内" in steps and "提问" in steps and "回执码" in steps
    assert "日期：" in b.text()
    b.shot("receipt-what-happens-next")
    with app.extensions["portal"].sessions() as session:
        assert session.scalar(select(func.count()).select_from(Identity)) == 1
    b.page.check("#written_down")
    b.page.click("#receipt-done button[type=submit]")
    b.page.fill("#receipt", receipt.replace(" ", ""))
    b.page.click("form button[type=submit]")
    assert "¥150,000" in b.text()
    b.shot("status-amount-with-separators")


@pytest.mark.slow
@pytest.mark.parametrize(("javascript", "width"), MODES)
def test_reload_and_back_store_the_report_once(
    javascript: bool, width: int, browse: Callable[..., Browser], served: tuple[str, Flask]
) -> None:
    """Finding 2: reloading the receipt page and going Back to send again file nothing."""
    _base, app = served
    b = browse(javascript, width, "stored-once")
    b.page.check("input[name=category][value=benefit_impostor]")
    # The province alone: the form page stays a GET in the history, whichever the mode.
    b.page.select_option("#province", "440000")
    b.page.fill("#text", "邻居去世三年，家属仍在领取养老金。")
    send(b)
    receipt = b.text("#receipt")
    b.page.reload()
    assert b.text("#receipt") == receipt
    b.shot("reloaded-same-receipt")
    assert tips(app) == 1
    b.page.go_back()
    assert b.page.url.endswith("/report")
    # The browser gives the form back as it was typed, with its one-time token.
    assert "养老金" in b.page.input_value("#text")
    b.shot("back-at-the-form")
    send(b)
    assert b.text("#receipt") == receipt  # the same browser: its receipt, not a new report
    assert tips(app) == 1
    # Written down, and Back to the form once more: explained, not filed.
    b.page.check("#written_down")
    b.page.click("#receipt-done button[type=submit]")
    assert b.page.url.endswith("/check")
    # Back only once the sign-in page has settled: going back from a page still loading
    # detaches chromium's page under load ("Not attached to an active page").
    b.page.wait_for_load_state("networkidle")
    for _ in range(3):
        b.page.go_back()
        b.page.wait_for_load_state("networkidle")
        if b.page.url.endswith("/report"):
            break
    assert "养老金" in b.page.input_value("#text")
    send(b)
    assert "已经提交过" in b.text()
    assert receipt not in b.text()
    b.shot("already-received")
    assert tips(app) == 1


@pytest.mark.slow
@pytest.mark.parametrize(("javascript", "width"), MODES)
def test_over_the_size_limit_the_text_is_kept_and_the_file_named(
    javascript: bool,
    width: int,
    browse: Callable[..., Browser],
    served: tuple[str, Flask],
    tmp_path: Path,
) -> None:
    """Finding 3 (and 4: the banner shows because files were chosen)."""
    _base, app = served
    files = []
    for name, fill in (("账本一.doc", b"a"), ("账本二.doc", b"b"), ("监控录像.doc", b"c")):
        path = tmp_path / name
        path.write_bytes(legacy_doc(fill * 450_000))
        files.append(str(path))
    b = browse(javascript, width, "too-large")
    b.page.check("input[name=category][value=fake_treatment]")
    fill_place(b, javascript)
    b.page.fill("#text", TEXT)
    b.page.set_input_files("#attachments", files)
    send(b)
    if javascript:
        # Checked before sending: nothing left the page, nothing typed is lost.
        assert b.page.url.endswith("/report")
        note = b.text("#attachments-size")
        assert "合计不能超过1 MB" in note
    else:
        note = b.text("#attachments-error")
        assert "监控录像.doc" in note and "1 MB" in note
        assert "不会保留" in b.text("#problems") or "重新选择" in b.text("#problems")
    assert b.page.input_value("#text") == TEXT
    b.shot("files-too-large-text-kept")
    assert tips(app) == 0


@pytest.mark.slow
@pytest.mark.parametrize(("javascript", "width"), MODES)
def test_errors_come_all_at_once_and_the_files_banner_only_with_files(
    javascript: bool, width: int, browse: Callable[..., Browser], served: tuple[str, Flask]
) -> None:
    """Findings 4 and 6: no file chosen, no banner; end-before-start with the rest."""
    b = browse(javascript, width, "all-errors")
    b.page.check("input[name=category][value=fake_docs]")
    b.page.fill("#happened_start", "2024-05-01")
    b.page.fill("#happened_end", "2024-01-01")
    b.page.fill("#amount", "很多")
    send(b)
    assert "结束时间早于开始时间" in b.text("#happened_end-error")
    assert "请填写举报内容" in b.text("#text-error")
    assert b.text("#province-error")
    assert b.text("#amount-error")
    assert b.page.locator("#files-not-kept").count() == 0
    b.shot("every-error-first-round-no-file-banner")


@pytest.mark.slow
@pytest.mark.parametrize(("javascript", "width"), MODES)
def test_details_typed_while_anonymous_are_asked_about(
    javascript: bool, width: int, browse: Callable[..., Browser], served: tuple[str, Flask]
) -> None:
    """Finding 5: a name typed while "anonymous" is chosen is asked about, never dropped."""
    _base, app = served
    b = browse(javascript, width, "anonymous-details")
    b.page.check("input[name=category][value=fake_docs]")
    fill_place(b, javascript)
    b.page.fill("#text", "伪造证明材料领取待遇。")
    if javascript:
        b.page.check("input[name=anonymous][value=no]")
    b.page.fill("#name", "王小明")
    b.page.check("input[name=anonymous][value=yes]")
    assert b.page.is_visible("#name")  # what was written stays in view
    send(b)
    assert "实名" in b.text("#anonymous-error")
    assert b.page.input_value("#name") == "王小明"
    assert b.page.is_visible("#name")
    b.shot("asked-name-or-anonymous")
    assert tips(app) == 0
    b.page.fill("#name", "")
    send(b)
    assert b.page.url.endswith("/report/received")
    assert tips(app) == 1


@pytest.mark.slow
@pytest.mark.parametrize(("javascript", "width"), MODES)
def test_out_of_scope_advice_without_a_description_and_back(
    javascript: bool, width: int, browse: Callable[..., Browser], served: tuple[str, Flask]
) -> None:
    """Findings 8 and 10: official words; advice first, 12393 for 医保, Back keeps all."""
    _base, app = served
    b = browse(javascript, width, "out-of-scope")
    assert "虚构医药服务项目骗取医保基金（如挂床住院、串换药品）" in b.text("#category")
    b.page.check("input[name=fund][value=medical]")
    b.page.check("input[name=category][value=out_of_scope]")
    b.page.fill("#suspect_name", "某某公司")
    b.page.fill("#amount", "3万")
    if javascript:
        assert b.page.is_visible("#out-of-scope-note")
        assert "12393" in b.text("#out-of-scope-note")
    b.shot("form-official-terms")
    send(b)
    assert "12393" in b.text() and "12333" in b.text()
    b.shot("advice-without-description")
    b.page.click("#back-to-form button")
    assert b.page.input_value("#suspect_name") == "某某公司"
    assert b.page.input_value("#amount") == "3万"
    assert b.page.is_checked("input[name=fund][value=medical]")
    b.shot("back-with-entries-kept")
    assert tips(app) == 0


@pytest.mark.slow
@pytest.mark.parametrize(("javascript", "width"), MODES)
def test_rate_limit_and_about_page(
    javascript: bool, width: int, browse: Callable[..., Browser], served: tuple[str, Flask]
) -> None:
    """Findings 11 and 12: the 429 page says how long; the about page from the footer."""
    from tipline.crypto import new_receipt

    b = browse(javascript, width, "limits-about")
    b.page.click("footer a[href='/about']")
    about = b.text()
    for words in ("运营单位", "演示", "隐私", "举报奖励", "保密", "报复陷害", "第二百五十四条"):
        assert words in about, words
    b.shot("about")
    for _ in range(3):
        b.page.goto("/check")
        b.page.fill("#receipt", new_receipt().display)
        b.page.click("form button[type=submit]")
    assert "429" in b.text("h1")
    assert re.search(r"请等待\d+(分钟|秒)后再试", b.text())
    b.shot("too-many-wait")
