"""The reporter's status follows the case in plain words (issue 10, "Interfaces"): 立案,
移送公安机关, 公安机关已立案, 已提起公诉, 已判决, then closed with the outcome; in Chinese and
in English, on the status page and the portal's API. Never the case number, the police unit,
the police's refusal or the dispute that followed it (domain.md section 7)."""

from __future__ import annotations

import datetime as dt

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from tests.caseworld import CaseWorld, at, build
from tests.conftest import submit_report, visible
from tests.test_journey import sign_in
from tipline.intake.db import transaction
from tipline.intake.jobs import process_new_tips
from tipline.intake.models import Tip, TipEvent
from tipline.intake.queue import InlineQueue
from tipline.intake.reading import open_tip
from tipline.triage.tips import decisions

ALL_FIVE = ["referral_letter", "investigation_report", "exhibit_list", "expert_report",
            "other_materials"]  # fmt: skip
LANGS = {"zh": {"Accept-Language": "zh-CN"}, "en": {"Accept-Language": "en"}}
POLICE = "汕尾市公安局城区分局"
# What the reporter must never read: the refusal and what the office did about it.
NEVER = {
    "zh": ("不予立案", "不立案", "复议", "立案监督", "检察院", POLICE, "社保立字", "劳动保障监察"),
    "en": ("not to file", "refus", "reconsider", "supervision", "procuratorate", POLICE),
}


def status(portal: FlaskClient, lang: str) -> tuple[str, str]:
    """The status line and the whole page's text."""
    page = visible(portal.get("/my-report", headers=LANGS[lang]).get_data(as_text=True))
    line = page.split("Status:" if lang == "en" else "状态：", 1)[1].split("Messages" if lang
                                                                       == "en" else "留言")[0]
    return line.strip(), page


def reporter_and_case(
    portal_app: Flask, triage_app: Flask
) -> tuple[CaseWorld, FlaskClient, str, str]:
    world = build(triage_app, received=dt.date(2025, 9, 1), count=0)
    portal = portal_app.test_client()
    receipt = submit_report(
        portal, category="benefit_impostor", fund="pension", suspect_kind="unit",
        amount="50000", text="某公司为已故人员冒领养老金。",
    )  # fmt: skip
    assert sign_in(portal, receipt) == 302
    services = world.services
    InlineQueue(services.engine, services.keyring).enqueue(process_new_tips)
    with transaction(services.sessions) as session:
        [tip] = session.scalars(select(Tip)).all()
        opened = open_tip(tip, services.keyring)
        decisions.confirm_routing(session, opened, world.officer("desk"), "si_agency", "")
        decisions.accept(session, opened, world.officer("agency"))
        tip_id = tip.id
    case_id = world.open_case(tips=[tip_id], when=at("2025-09-10 09:00"))
    return world, portal, case_id, receipt


def test_the_reporter_follows_the_case_in_plain_words(
    portal_app: Flask, triage_app: Flask
) -> None:
    world, portal, case_id, _receipt = reporter_and_case(portal_app, triage_app)
    number = world.case(case_id).number
    seen: dict[str, list[str]] = {"zh": [], "en": []}

    def check(zh: str, en: str) -> None:
        for lang, words in (("zh", zh), ("en", en)):
            line, page = status(portal, lang)
            assert words in line, (lang, line)
            for secret in (*NEVER[lang], number, case_id):
                assert secret not in page, (lang, secret)
            seen[lang].append(line)

    check("承办部门正在调查核实您举报的事项", "The responsible office is investigating")
    step = world.step
    step(case_id, "record_recovery", "agency", at("2025-09-12 10:00"), measures="停发。",
         recovered="12000")
    step(case_id, "hand_over", "agency", at("2025-09-29 15:00"), to_bureau="labor_inspection",
         findings="冒领属实。", verified_loss="50000")
    # A handover between offices is not the reporter's business: nothing changes.
    check("承办部门正在调查核实您举报的事项", "The responsible office is investigating")
    step(case_id, "sign_receipt", "inspector", at("2025-09-29 16:00"))
    step(case_id, "file", "inspector", at("2025-10-13 11:00"), findings="立案。")
    check("您举报的事项已立案", "A case has been filed (立案)")
    step(case_id, "report_referral", "inspector", at("2026-02-13 17:00"),
         team=["wangfang", "zhaolei"], reason="涉嫌诈骗罪。")
    step(case_id, "approve_referral", "head", at("2026-02-14 10:00"))
    step(case_id, "refer", "inspector", at("2026-02-15 09:59"), police_unit=POLICE,
         attachments=ALL_FIVE)
    check("本案已移送公安机关", "referred to the police (移送公安机关)")
    step(case_id, "police_receive", "inspector", at("2026-02-15 23:30"))
    step(case_id, "police_decline", "inspector", at("2026-02-18 10:00"), reason="不构成犯罪。",
         decided_on="2026-02-17")
    step(case_id, "ask_reconsideration", "inspector", at("2026-02-20 10:00"),
         reason="数额已达标准。")
    step(case_id, "reconsideration_refused", "inspector", at("2026-02-23 10:00"),
         decided_on="2026-02-23")
    step(case_id, "propose_supervision", "inspector", at("2026-02-25 10:00"),
         supervisor_body="procuratorate", reason="请求立案监督。")
    # The refusal, the reconsideration and the supervision are not told: still "referred".
    check("本案已移送公安机关", "referred to the police (移送公安机关)")
    step(case_id, "filing_ordered", "inspector", at("2026-03-01 10:00"))
    step(case_id, "police_file", "inspector", at("2026-03-05 10:00"), decided_on="2026-03-04")
    check("公安机关已立案", "The police have opened a criminal case")
    step(case_id, "hand_exhibits", "inspector", at("2026-03-06 10:00"), measures="移交物证。")
    step(case_id, "sent_for_prosecution", "inspector", at("2026-04-01 10:00"))
    step(case_id, "prosecute", "inspector", at("2026-04-20 10:00"), decided_on="2026-04-20")
    check("已向人民法院提起公诉", "A prosecution has been brought")
    step(case_id, "judgment", "inspector", at("2026-06-10 10:00"), decided_on="2026-06-10",
         sentence="有期徒刑一年，并处罚金。", court_fine=True)
    check("人民法院已作出判决", "The court has given its judgment")
    step(case_id, "close", "inspector", at("2026-06-15 10:00"), findings="结案。")
    check("已办结", "Closed.")
    assert "The case went to the courts." in status(portal, "en")[0]

    # The timeline names each public step once, in order; nothing of the refusal.
    _, page = status(portal, "en")
    timeline = page.split("Timeline", 1)[1].split("What you reported", 1)[0]
    steps = ["Taken up for investigation", "Case filed (立案)", "Referred to the police",
             "Police opened a criminal case", "Prosecution brought", "Judgment given", "Closed"]
    positions = [timeline.find(words) for words in steps]
    assert -1 not in positions and positions == sorted(positions), timeline
    _, page = status(portal, "zh")
    zh_timeline = page.split("办理进程", 1)[-1]
    for words in ("已进入调查处理", "已立案", "已移送公安机关", "公安机关已立案侦查", "已提起公诉",
                  "已判决"):  # fmt: skip
        assert words in zh_timeline, words


def test_the_portal_api_tells_the_stage_and_nothing_more(
    portal_app: Flask, triage_app: Flask
) -> None:
    world, portal, case_id, receipt = reporter_and_case(portal_app, triage_app)
    world.step(case_id, "file", "agency", at("2025-10-13 11:00"), findings="立案。")
    for lang, words in (("zh", "您举报的事项已立案"), ("en", "A case has been filed")):
        own = portal_app.test_client().get("/api/v1/reports/self", headers={
            "Authorization": f"Receipt {receipt}", **LANGS[lang],
        })  # fmt: skip
        assert own.status_code == 200, own.get_json()
        body = own.get_json()
        assert (body["status"], body["case_stage"]) == ("in_case", "filed")
        assert words in body["status_text"]
        assert world.case(case_id).number not in str(body) and case_id not in str(body)
    with world.services.sessions() as session:
        [tip] = session.scalars(select(Tip)).all()
        assert (tip.status, tip.status_detail) == ("in_case", "filed")
    with world.services.sessions() as session:
        kinds = [(e.kind, e.detail, e.shown_to_reporter)
                 for e in session.scalars(select(TipEvent).order_by(TipEvent.id))]  # fmt: skip
    assert ("case_opened", None, True) in kinds and ("case_stage", "filed", True) in kinds
    # The officer's tip page words: the status with its stage, the timeline in words.
    page = world.client("agency").get(f"/tips/{tip.id}", headers=LANGS["zh"]).get_data(
        as_text=True
    )
    assert "案件办理中（已立案）" in page and "已并入案件" in page
