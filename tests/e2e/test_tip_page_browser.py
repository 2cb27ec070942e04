"""A rich tip page in a real browser, in Chinese, at 1440 and 1024 px (issue 9): a named
reporter whose identity a supervisor approved, evidence, messages both ways, notes with their
authors, the routing reason, deadlines, the timeline and a linked duplicate. Screenshots land
in ``test-artifacts/e2e/tip-page/``."""

from __future__ import annotations

import datetime as dt
import io
import re
import shutil
from collections.abc import Callable, Iterator

import pyotp
import pytest
from flask import Flask
from sqlalchemy import select

from tests.conftest import make_enrolled, tiny_pdf
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
from tipline.intake.models import IdentityRequest, Tip
from tipline.intake.reading import open_with_keyring
from tipline.intake.submit import Report, ReporterIdentity, Upload
from tipline.triage import create_app
from tipline.triage.auth import SignedIn
from tipline.triage.tips import decisions

playwright_sync = pytest.importorskip("playwright.sync_api")
PASSWORD = "a long test password"
RECEIVED = dt.date(2025, 9, 30)
RAW = re.compile(r"\b(working_days|due_soon|met_late|T1|T2|national@|sealed|duplicate|"
                 r"criminal_referral_candidate|message\.officer|insider|441502)\b")  # fmt: skip


@pytest.fixture
def served_triage(
    make_config: Callable[..., Config], database_url: str
) -> Iterator[tuple[str, Flask]]:
    once_on_the_embedded_default(database_url)
    app = create_app(make_config())
    with serving(app, "triage") as base:
        yield base, app


def _rich_tip(app: Flask) -> tuple[str, str, dict[str, str]]:
    """The tip, its later duplicate, and the officers' TOTP secrets."""
    services = app.extensions["triage"]
    secrets: dict[str, str] = {}
    officers: dict[str, SignedIn] = {}
    with transaction(services.sessions) as session:
        for name, role in (("li_na", "triage_officer"), ("wang_qiang", "supervisor")):
            officer, secrets[name] = make_enrolled(
                session, services.officer_secrets, name, PASSWORD, role=role,
                bureau="hrss_fund_supervision", region="441500",
            )  # fmt: skip
            session.flush()
            officers[name] = SignedIn(officer.id, name, role, "hrss_fund_supervision", "441500")
    tip_id = services.submitter.submit(Report(
        category="fake_treatment", region="441502", channel="web", received_on=RECEIVED,
        text="城区某医院长期挂床住院，虚开住院天数，骗取医保基金。\n病人实际每天只来打针后就回家。",
        fund="medical", suspect_kind="medical_institution", unit_level="county",
        suspect_name="城区某医院", amount=86000, how_known="insider",
        happened_start=dt.date(2025, 3, 1), ongoing=True, wants_notice=True,
        identity=ReporterIdentity(name="王小明", id_number="11010519491231002X",
                                  phone="13800138000"),
        uploads=[Upload("住院清单.pdf", "application/pdf", io.BytesIO(tiny_pdf("清单")))],
    )).tip_id  # fmt: skip
    later = services.submitter.submit(Report(
        category="fake_treatment", region="441502", channel="phone",
        received_on=RECEIVED + dt.timedelta(days=2), text="城区某医院挂床住院。",
    ), with_receipt=False).tip_id  # fmt: skip
    with transaction(services.sessions) as session:
        opened = open_with_keyring(session, tip_id, services.keyring)
        assert opened is not None
        desk, boss = officers["li_na"], officers["wang_qiang"]
        decisions.confirm_routing(session, opened, desk, "labor_inspection",
                                  "医院涉及用人单位虚构劳动关系，由劳动监察核查")  # fmt: skip
        add_message(session, opened, "请问挂床的病区是哪一个？", author="officer",
                    officer_id=desk.id, asks_reply=True)  # fmt: skip
        add_message(session, opened, "是三楼内科病区。", author="reporter")
        request = decisions.request_identity(session, opened, desk, "需当面核实举报人身份")
        session.flush()
        decisions.decide_identity(session, boss, request, True)
        other = session.get(Tip, later)
        assert other is not None
        decisions.link_duplicate(session, desk, opened.tip, other)
    with services.sessions() as session:
        assert session.scalars(select(IdentityRequest)).one().state == "approved"
    return tip_id, later, secrets


@pytest.mark.slow
def test_a_rich_tip_page_in_chinese(served_triage: tuple[str, Flask]) -> None:
    require_chromium()
    base, app = served_triage
    tip_id, later, secrets = _rich_tip(app)
    shots = ARTIFACTS / "tip-page"
    shutil.rmtree(shots, ignore_errors=True)
    shots.mkdir(parents=True)

    with playwright_sync.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(locale="zh-CN", viewport={"width": 1440, "height": 900})
        page = context.new_page()
        # Signed in once: a one-time code cannot be used twice.
        page.goto(base + "/login")
        page.fill("#username", "li_na")
        page.fill("#password", PASSWORD)
        page.fill("#code", pyotp.TOTP(secrets["li_na"]).now())
        page.click("button[type=submit]")
        page.wait_for_url(base + "/")
        for width in (1440, 1024):
            page.set_viewport_size({"width": width, "height": 900})
            page.goto(f"{base}/tips/{tip_id}")
            if width == 1440:
                # A note written through the page, signed with the officer's name and time.
                page.fill("#note-text", "已与医保局电话沟通，拟联合检查。")
                page.click("#note-form button")
                page.wait_for_load_state("networkidle")
            text = page.locator("main").inner_text()
            assert "举报人提供的情况" in text and "2025年3月1日起，至今仍在继续。" in text
            assert "我在那里工作或工作过" in text and "王小明" in text
            assert "住院清单.pdf" in text and "分办理由" in text
            assert re.search(r"工作人员 li_na · \d{4}-\d{2}-\d{2} \d{2}:\d{2}", text)
            assert "受理审查" in text and "5个工作日" in text
            assert later in page.locator("#duplicates").inner_text()
            assert RAW.findall(text) == []
            page.screenshot(path=str(shots / f"tip-{width}.png"), full_page=True)
            page.goto(f"{base}/tips/{later}")
            text = page.locator("main").inner_text()
            assert "作为重复举报合并" in text and "并入该举报办理" in text
            assert RAW.findall(text) == []
            page.screenshot(path=str(shots / f"duplicate-{width}.png"), full_page=True)
        context.close()
        browser.close()
