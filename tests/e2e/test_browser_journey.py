"""A citizen's whole journey in a real browser (Debian's chromium driven by Playwright), once
with JavaScript and once without: report in Chinese with two attachments (one a JPEG with
GPS EXIF), keep the receipt, come back, read an officer's reply, answer it, add evidence.
Screenshots of every step land in ``test-artifacts/e2e/<mode>/``.
"""

from __future__ import annotations

import io
import re
import shutil
from pathlib import Path

import pytest
from flask import Flask
from PIL import Image
from sqlalchemy import select

from tests.conftest import PASSPHRASE, tiny_pdf
from tests.e2e.conftest import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    require_chromium,
)
from tests.test_submit import jpeg_with_gps
from tipline.crypto import load_private_keyring
from tipline.intake.db import transaction
from tipline.intake.followup import add_message
from tipline.intake.models import Tip
from tipline.intake.reading import open_with_keyring

playwright_sync = pytest.importorskip("playwright.sync_api")


def officer_replies(app: Flask, keys_dir: Path, text: str) -> None:
    keyring = load_private_keyring(keys_dir, PASSPHRASE)
    with transaction(app.extensions["portal"].sessions) as session:
        tip_id = session.scalars(select(Tip.id)).one()
        opened = open_with_keyring(session, tip_id, keyring)
        assert opened is not None
        add_message(session, opened, text, author="officer", asks_reply=True)


@pytest.mark.slow
@pytest.mark.parametrize("javascript", [True, False], ids=["js", "nojs"])
def test_whole_journey_in_a_browser(
    javascript: bool,
    served_portal: tuple[str, Flask],
    keys_dir: Path,
    tmp_path: Path,
) -> None:
    require_chromium()
    base, app = served_portal
    shots = ARTIFACTS / ("js" if javascript else "nojs")
    shutil.rmtree(shots, ignore_errors=True)
    shots.mkdir(parents=True)
    photo = tmp_path / "现场照片.jpg"
    photo.write_bytes(jpeg_with_gps())
    ledger = tmp_path / "账目.pdf"
    ledger.write_bytes(tiny_pdf("账目"))
    more = tmp_path / "补充材料.png"
    Image.new("RGB", (8, 8), (0, 128, 0)).save(more)

    with playwright_sync.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(
            java_script_enabled=javascript, locale="zh-CN", viewport={"width": 320, "height": 720}
        )
        page = context.new_page()
        step = iter(range(1, 100))

        def shot(name: str) -> None:
            page.screenshot(path=str(shots / f"{next(step):02d}-{name}.png"), full_page=True)
            # Works at 320 px: nothing sticks out sideways.
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, (name, overflow)

        page.goto(base + "/")
        assert page.locator("html").get_attribute("lang") == "zh-Hans"
        shot("start")
        page.click("a[href='/report']")
        page.check("input[name=fund][value=medical]")
        page.check("input[name=category][value=fake_treatment]")
        page.check("input[name=suspect_kind][value=medical_institution]")
        page.fill("#suspect_name", "城区某民营医院")
        page.fill(
            "#text", "该医院组织老人挂床住院，每人每天签到后回家，医院以住院名义结算医保基金。"
        )
        page.fill("#amount", "150000")
        page.check("input[name=how_known][value=witnessed]")
        shot("report-what")
        page.select_option("#province", "440000")
        if not javascript:
            page.click("button[name=refine][value=province]")
        page.wait_for_selector("#city option[value='441500']", state="attached")
        page.select_option("#city", "441500")
        if not javascript:
            page.click("button[name=refine][value=city]")
        page.wait_for_selector("#county option[value='441502']", state="attached")
        page.select_option("#county", "441502")
        # What was typed before the lists were refreshed is still there.
        assert "挂床住院" in page.input_value("#text")
        page.set_input_files("#attachments", [str(photo), str(ledger)])
        page.check("input[name=anonymous][value=yes]")
        shot("report-ready")
        page.click("#report-form button[type=submit]:not([name])")

        receipt = page.inner_text("#receipt").strip()
        assert re.fullmatch(r"(\d{4} ){5}\d{4}", receipt)
        shot("receipt")
        page.check("#written_down")
        page.click("#receipt-done button[type=submit]")
        assert page.url.endswith("/check")

        officer_replies(app, keys_dir, "请问您看到的住院日期是哪几天？")
        page.fill("#receipt", receipt.replace(" ", ""))
        shot("come-back")
        page.click("form button[type=submit]")
        assert page.url.endswith("/my-report")
        assert "请问您看到的住院日期是哪几天？" in page.inner_text(".messages")
        shot("officer-reply")
        page.fill("#message-form textarea", "九月一日到九月十五日，每天上午。")
        page.click("#message-form button[type=submit]")
        assert "九月一日到九月十五日" in page.inner_text(".messages")
        page.set_input_files("#evidence-form input[type=file]", [str(more)])
        page.click("#evidence-form button[type=submit]")
        assert "补充材料.png" in page.content()
        shot("evidence-added")
        page.click(".sign-out button")
        assert page.url.rstrip("/") == base
        context.close()
        browser.close()

    keyring = load_private_keyring(keys_dir, PASSPHRASE)
    with app.extensions["portal"].sessions() as session:
        tip_id = session.scalars(select(Tip.id)).one()
        opened = open_with_keyring(session, tip_id, keyring)
        assert opened is not None
        files = {a.filename: a for a in opened.attachments()}
        assert set(files) == {"现场照片.jpg", "账目.pdf", "补充材料.png"}
        stored = b"".join(opened.attachment_content(session, files["现场照片.jpg"].id))
    assert b"SecretPhone" not in stored
    with Image.open(io.BytesIO(stored)) as image:
        assert not image.getexif()
        assert image.size == (64, 48)
    assert len(list(shots.glob("*.png"))) == 7
