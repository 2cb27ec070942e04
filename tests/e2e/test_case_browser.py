"""The whole chain of a case through the pages, in a real browser, in Chinese, without
JavaScript (issue 10): a tip becomes a case on its page, the agency hands it over, labour
inspection signs the receipt, files it and fines, reports a referral that its head approves,
refers it to the police (confirmed, with the five attachments of 令310 art.6), records the
police's receipt and refusal, asks for 复议, proposes the procuratorate's supervision, and
records the police's filing, the exhibits, the prosecution, the judgment, and closes it.

Times the paper gives are entered in the ``at`` field (datetime-local, China time). The
server refuses a time in the future and stamps the other steps with the present, so the
chain runs now: the hour clocks (T11, T12) cross midnight in China time whenever the test
runs after 00:00 UTC, and the clocks that fall in a year the holiday calendar does not know
yet carry the Monday-to-Friday note (checked below when they do). The services walk
(tests/cases/test_lifecycle_walk.py) checks the clocks against the 2025 National Day and
the 2026 Spring Festival. Screenshots land in ``test-artifacts/e2e/cases/``."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable, Iterator
from typing import Any

import pyotp
import pytest
from flask import Flask

from tests.caseworld import USERNAMES, CaseWorld, build
from tests.e2e.conftest import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    once_on_the_embedded_default,
    require_chromium,
    serving,
)
from tipline.intake.config import Config
from tipline.intake.submit import CHINA, today
from tipline.triage import create_app

playwright_sync = pytest.importorskip("playwright.sync_api")
# Words that must never reach a Chinese case page: codes of the lifecycle and the packs.
CODES = ("verifying", "handed_over", "police_declined", "labor_inspection", "si_agency",
         "referral_letter", "met_late", "calendar_days", "working_days", "None")  # fmt: skip


@pytest.fixture
def served_world(
    make_config: Callable[..., Config], database_url: str
) -> Iterator[tuple[str, CaseWorld]]:
    once_on_the_embedded_default(database_url)
    app: Flask = create_app(make_config())
    world = build(app, count=1)
    with serving(app, "triage") as base:
        yield base, world


def china_now() -> str:
    """The present, China time, as a datetime-local field takes it (to the minute)."""
    return dt.datetime.now(CHINA).strftime("%Y-%m-%dT%H:%M")


@pytest.mark.slow
def test_the_whole_chain_through_the_case_pages(served_world: tuple[str, CaseWorld]) -> None:
    require_chromium()
    base, world = served_world
    shots = ARTIFACTS / "cases"
    shutil.rmtree(shots, ignore_errors=True)
    shots.mkdir(parents=True)
    day = today().isoformat()

    with playwright_sync.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)

        def signed_in(name: str) -> Any:
            context = browser.new_context(locale="zh-CN", java_script_enabled=False,
                                          viewport={"width": 1440, "height": 900})  # fmt: skip
            page = context.new_page()
            page.goto(base + "/login")
            page.fill("#username", USERNAMES[name])
            page.fill("#password", "a long test password")
            page.fill("#code", pyotp.TOTP(world.secrets[name]).now())
            page.click("button[type=submit]")
            return page

        def shot(page: Any, name: str) -> None:
            page.screenshot(path=str(shots / f"{name}.png"), full_page=True)

        def stage_is(page: Any, words: str) -> None:
            assert page.locator("#case-stage").inner_text().startswith(words), (
                page.locator("#case-stage").inner_text(),
                page.locator("#case-error").all_inner_texts(),
            )  # fmt: skip
            text = page.locator("main").inner_text()
            for code in CODES:
                assert code not in text, code

        def take(page: Any, action: str, fields: dict[str, str] | None = None, *,
                 checks: tuple[str, ...] | list[str] = (),
                 confirm: bool = False) -> None:  # fmt: skip
            """Fill the step's form as drawn (text, selects, date, checkboxes) and send it."""
            form = page.locator(f"#form-{action}")
            assert form.count() == 1, f"no form for {action}"
            for name, value in (fields or {}).items():
                field = page.locator(f"#{action}-{name}")
                if field.evaluate("e => e.tagName") == "SELECT":
                    field.select_option(value)
                else:
                    field.fill(value)
            for check in checks:
                # "name" ticks every box of the list, "name:a,b" only those values.
                name, _, values = check.partition(":")
                for box in form.locator(f"input[name='{action}-{name}']").all():
                    if not values or box.get_attribute("value") in values.split(","):
                        box.check()
            form.locator("button[type=submit]").click()
            if confirm:
                assert page.locator("#confirm").is_visible()
                page.click("#confirm-form button[type=submit]")

        # The tip page of an accepted tip: 立案核查 by the agency.
        agency = signed_in("agency")
        agency.goto(f"{base}/tips/{world.tips[0]}")
        assert "立案核查" in agency.locator("#open-case").inner_text()
        agency.select_option("#open_case-subject_kind", "unit")
        agency.fill("#open_case-name", "汕尾市某某人力资源服务有限公司")
        agency.fill("#open_case-identifier", "91110000600037341L")
        agency.fill("#open_case-period_from", "2024-01-01")
        agency.fill("#open_case-period_to", "2025-06-30")
        agency.fill("#open_case-findings", "核查发现该公司为已故人员冒领养老金。")
        agency.click("#open-case-form button[type=submit]")
        stage_is(agency, "核查和追回")
        case_url = agency.url
        assert "城区社保立字" in agency.locator("#case-number").inner_text()
        assert "91110000600037341L" in agency.locator("#subject").inner_text()
        assert agency.locator("#case-clocks").inner_text().count("采取追回措施") == 1  # T7
        shot(agency, "01-opened")
        take(agency, "record_recovery",
             {"measures": "已停发待遇并追回部分款项。", "recovered": "12000"})  # fmt: skip
        take(agency, "hand_over", {"to_bureau": "labor_inspection", "findings": "冒领属实。",
                                   "verified_loss": "50000"})  # fmt: skip
        stage_is(agency, "已移交，待签收回执")
        assert agency.locator("#form-hand_over").count() == 0  # done: not offered again
        # The receipt, filing and the penalty by labour inspection.
        inspector = signed_in("inspector")
        inspector.goto(case_url)
        take(inspector, "sign_receipt")
        stage_is(inspector, "行政部门已签收")
        take(inspector, "file", {"findings": "立案调查。"})
        stage_is(inspector, "已立案")
        assert "必须移送公安机关" in inspector.locator("#crime").inner_text()
        assert inspector.locator("#form-close").count() == 0  # 以罚代刑: no close to draw
        shot(inspector, "02-filed")
        take(inspector, "penalise", {"fine": "100000", "decided_on": day})
        # No kind of penalty ticked: the form comes back with its message and what was typed.
        assert inspector.locator("#step-penalise .error").count() >= 1
        assert inspector.locator("#penalise-fine").input_value() == "100000"
        inspector.locator("input[name='penalise-penalty_kinds'][value='fine']").check()
        inspector.locator("#form-penalise button[type=submit]").click()
        stage_is(inspector, "已作出行政处罚决定")
        # The referral: a team of two reports, the head approves (confirmed).
        # The team is the two inspectors: the head who approves is not on it (令310 art.5).
        take(inspector, "report_referral", {"reason": "涉嫌诈骗罪，数额较大。"},
             checks=["team:wangfang,zhaolei"])
        stage_is(inspector, "已向负责人报告移送")
        assert inspector.locator("#form-approve_referral").count() == 0  # the head's
        head = signed_in("head")
        head.goto(case_url)
        take(head, "approve_referral", confirm=True)
        stage_is(head, "已批准移送")
        clocks = head.locator("#case-clocks").inner_text()
        assert "向同级公安机关移送" in clocks and "24小时" in clocks  # T11, an hour clock
        inspector.goto(case_url)
        take(inspector, "refer", {"police_unit": "汕尾市公安局城区分局"}, checks=["attachments"])
        # The referral cannot be undone: the confirmation names the attachments enclosed.
        assert "涉案物品清单" in inspector.locator("#confirm").inner_text()
        shot(inspector, "03-refer-confirm")
        inspector.click("#cancel")
        stage_is(inspector, "已批准移送")
        take(inspector, "refer", {"police_unit": "汕尾市公安局城区分局"}, checks=["attachments"],
             confirm=True)
        stage_is(inspector, "已移送公安机关")
        shot(inspector, "04-referred")
        # The police's paper, as it arrives.
        take(inspector, "police_receive", {"at": china_now()})
        stage_is(inspector, "公安机关已签收回执")
        take(inspector, "police_decline", {"reason": "认为不构成犯罪。", "decided_on": day,
                                           "at": china_now()})  # fmt: skip
        stage_is(inspector, "公安机关决定不予立案")
        shot(inspector, "05-police-declined")
        take(inspector, "ask_reconsideration", {"reason": "冒领数额已达追诉标准。"})
        stage_is(inspector, "已提请公安机关复议")
        take(inspector, "reconsideration_refused", {"decided_on": day, "at": china_now()})
        take(inspector, "propose_supervision", {"supervisor_body": "procuratorate",
                                                "reason": "请求检察院立案监督。"})  # fmt: skip
        stage_is(inspector, "已提请立案监督")
        take(inspector, "police_file", {"decided_on": day, "at": china_now()})
        stage_is(inspector, "公安机关已立案")
        take(inspector, "hand_exhibits", {"measures": "移交涉案物品及材料。"})
        take(inspector, "sent_for_prosecution", {"at": china_now()})
        take(inspector, "prosecute", {"decided_on": day})
        stage_is(inspector, "已提起公诉")
        take(inspector, "judgment", {"sentence": "判处有期徒刑一年，并处罚金二万元。",
                                     "decided_on": day, "court_fine": "1"})  # fmt: skip
        stage_is(inspector, "已判决")
        # The fine came before the court's 罚金 (art.11¶3: offset), so a fine is still offered.
        shot(inspector, "06-judged")
        take(inspector, "close", {"findings": "判决生效，结案。"}, confirm=True)
        stage_is(inspector, "已办结")
        assert inspector.locator("#no-steps").is_visible()
        timeline = inspector.locator("#case-timeline").inner_text()
        for words in ("立案核查", "移交行政部门", "签收移交回执", "批准移送", "移送公安机关",
                      "提请公安机关复议", "提请立案监督", "登记判决", "结案", "wangfang",
                      "liuyang", "涉案物品清单"):  # fmt: skip
            assert words in timeline, words
        # Every clock met, and in time (the chain ran without delay).
        assert inspector.locator("#case-clocks tr.clock").count() >= 10
        assert inspector.locator("#case-clocks tr.clock.met").count() == inspector.locator(
            "#case-clocks tr.clock"
        ).count()
        shot(inspector, "07-closed")
        # The board of the head: the case is closed, nothing of it is left waiting.
        head.goto(f"{base}/board")
        assert "督办看板" in head.locator("h1").inner_text()
        shot(head, "08-board")
        browser.close()
