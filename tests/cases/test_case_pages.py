"""The case pages (issue 10, "Interfaces"): a case opened from the tip page, its steps taken
through the page's forms, each refusal shown in the officer's words with what was typed
kept, and the case pages scoped as the tips are (404 outside the bureau and the district; a
discipline sub-case for discipline inspection only)."""

from __future__ import annotations

import datetime as dt
import re

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.datastructures import MultiDict
from werkzeug.test import TestResponse

from tests.caseworld import CaseWorld, build
from tests.conftest import visible
from tests.workspace import parse
from tipline.intake.models import AuditEvent, Case, CaseEvent
from tipline.intake.submit import CHINA

ALL_FIVE = ["referral_letter", "investigation_report", "exhibit_list", "expert_report",
            "other_materials"]  # fmt: skip
ZH = {"Accept-Language": "zh"}


_SIGNED_IN: dict[tuple[int, str], FlaskClient] = {}


def client(world: CaseWorld, name: str) -> FlaskClient:
    """One sign-in per officer and world: a one-time code is not accepted twice."""
    key = (id(world), name)
    if key not in _SIGNED_IN:
        _SIGNED_IN[key] = world.client(name)
    return _SIGNED_IN[key]


def token(client: FlaskClient, path: str) -> str:
    match = re.search(r'name="[a-z_]*-?csrf_token"[^>]*value="([^"]+)"',
                      client.get(path).get_data(as_text=True))  # fmt: skip
    assert match, f"no form on {path}"
    return match.group(1)


def step(client: FlaskClient, case_id: str, action: str, **fields: object) -> TestResponse:
    """Send the page's form of ``action`` as a browser does (prefixed fields, lists as
    repeated values)."""
    data: list[tuple[str, str]] = [
        (f"{action}-csrf_token", token(client, f"/cases/{case_id}"))
    ]
    for name, value in fields.items():
        key = name if name == "confirm" else f"{action}-{name}"
        for v in value if isinstance(value, list) else [value]:
            data.append((key, str(v)))
    return client.post(f"/cases/{case_id}/steps/{action}", data=MultiDict(data), headers=ZH)


def confirmed(client: FlaskClient, case_id: str, action: str, **fields: object) -> TestResponse:
    """An irreversible step: the confirmation page first, then its own form, as drawn."""
    first = step(client, case_id, action, **fields)
    assert first.status_code == 200, visible(first.get_data(as_text=True))[:2000]
    [form] = [f for f in parse(first.get_data(as_text=True)).forms
              if f.action.endswith(f"/steps/{action}")]  # fmt: skip
    assert ("confirm", "1") in form.fields
    return client.post(form.action, data=MultiDict(form.fields), headers=ZH)


def error_of(response: TestResponse) -> str:
    found = re.findall(r'<p class="error"[^>]*>(.*?)</p>', response.get_data(as_text=True), re.S)
    return " ".join(re.sub(r"<[^>]+>", "", f).strip() for f in found)


def case_of(world: CaseWorld, case_id: str) -> Case:
    return world.case(case_id)


def open_from_tip(world: CaseWorld) -> str:
    agency = client(world, "agency")
    tip_id = world.tips[0]
    page = agency.get(f"/tips/{tip_id}", headers=ZH).get_data(as_text=True)
    assert "立案核查" in page and 'id="open-case-form"' in page
    response = agency.post(f"/tips/{tip_id}/case", headers=ZH, data={
        "open_case-csrf_token": token(agency, f"/tips/{tip_id}"),
        "open_case-subject_kind": "unit", "open_case-name": "汕尾市某某人力资源服务有限公司",
        "open_case-identifier": "91110000600037341L", "open_case-period_from": "2024-01-01",
        "open_case-period_to": "2025-06-30", "open_case-findings": "核查发现冒领养老金。",
    })  # fmt: skip
    assert response.status_code == 302, error_of(response)
    case_id = response.headers["Location"].rsplit("/", 1)[1]
    return case_id


def test_open_a_case_from_the_tip_page_and_join_the_second_tip(triage_app: Flask) -> None:
    world = build(triage_app)
    case_id = open_from_tip(world)
    agency = client(world, "agency")
    page = agency.get(f"/cases/{case_id}", headers=ZH)
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "汕尾市某某人力资源服务有限公司" in body and "91110000600037341L" in body
    assert "核实和追回" in visible(body) or "核查" in visible(body)
    # The tip page names the case, with its link; the second tip may join it.
    tip_page = agency.get(f"/tips/{world.tips[0]}", headers=ZH).get_data(as_text=True)
    assert f'href="/cases/{case_id}"' in tip_page and 'id="open-case-form"' not in tip_page
    second = agency.get(f"/tips/{world.tips[1]}", headers=ZH).get_data(as_text=True)
    assert 'id="join-case-form"' in second and f'value="{case_id}"' in second
    joined = agency.post(f"/tips/{world.tips[1]}/join", headers=ZH, data={
        "join_case-csrf_token": token(agency, f"/tips/{world.tips[1]}"),
        "join_case-case": case_id,
    })  # fmt: skip
    assert joined.status_code == 302
    case = world.case(case_id)
    assert [link.tip_id for link in case.tips] == world.tips
    # Opening the page is a read of the sealed contents: audited.
    with triage_app.extensions["triage"].sessions() as session:
        reads = session.scalars(select(AuditEvent).where(AuditEvent.action == "case.read")).all()
        assert reads
    # The list shows it; the desk (intake) sees it but has no step to take.
    listing = agency.get("/cases", headers=ZH).get_data(as_text=True)
    assert case.number in listing
    desk = client(world, "desk").get(f"/cases/{case_id}", headers=ZH).get_data(as_text=True)
    assert 'id="no-steps"' in desk and "/steps/" not in desk


def test_a_bad_subject_is_refused_on_the_tip_page_and_nothing_is_written(
    triage_app: Flask,
) -> None:  # fmt: skip
    world = build(triage_app, count=1)
    agency = client(world, "agency")
    tip_id = world.tips[0]
    response = agency.post(f"/tips/{tip_id}/case", headers=ZH, data={
        "open_case-csrf_token": token(agency, f"/tips/{tip_id}"),
        "open_case-subject_kind": "unit", "open_case-name": "某公司",
        "open_case-identifier": "91110000600037341X", "open_case-findings": "核查。",
    })  # fmt: skip
    assert response.status_code == 400
    assert "统一社会信用代码" in error_of(response)
    assert 'value="某公司"' in response.get_data(as_text=True)  # what was typed is kept
    with triage_app.extensions["triage"].sessions() as session:
        assert session.scalars(select(Case)).all() == []


def _to_filed(world: CaseWorld) -> str:
    """Through the pages: handover by the agency, receipt and filing by labour inspection."""
    case_id = open_from_tip(world)
    agency, inspector = client(world, "agency"), client(world, "inspector")
    r = step(agency, case_id, "hand_over", to_bureau="labor_inspection", findings="冒领属实。",
             verified_loss="50000")
    assert r.status_code == 302, error_of(r)
    assert step(inspector, case_id, "sign_receipt").status_code == 302
    r = step(inspector, case_id, "file", findings="立案调查。")
    assert r.status_code == 302, error_of(r)
    return case_id


def test_steps_through_the_pages_and_the_refusals_in_words(triage_app: Flask) -> None:
    world = build(triage_app)
    case_id = _to_filed(world)
    inspector, head = client(world, "inspector"), client(world, "head")
    body = inspector.get(f"/cases/{case_id}", headers=ZH).get_data(as_text=True)
    assert world.case(case_id).stage == "filed"
    assert 'id="form-penalise"' in body and 'id="form-report_referral"' in body
    # A step out of order: the police's receipt before any referral.
    r = step(inspector, case_id, "police_receive")
    assert r.status_code == 400 and "当前阶段" in error_of(r), error_of(r)
    # 以罚代刑: a crime is suspected (the verified loss reaches the threshold); closing with
    # a penalty in its place is refused, and the form keeps what was typed.
    r = step(inspector, case_id, "penalise", penalty_kinds=["fine"], fine="100000",
             decided_on="2025-12-01")
    assert r.status_code == 302, error_of(r)
    r = step(inspector, case_id, "close", findings="罚款后结案。")
    assert r.status_code == 400, error_of(r)
    assert "以罚代刑" in error_of(r)
    # The rules refuse it from the stage and the case alone: the page draws no close form.
    assert 'id="form-close"' not in r.get_data(as_text=True)
    assert 'id="form-close"' not in client(world, "inspector").get(f"/cases/{case_id}").get_data(
        as_text=True
    )
    assert world.case(case_id).stage == "penalised"
    # The head reports the referral and may not approve it himself (令310 art.5).
    r = step(head, case_id, "report_referral", team=["wangfang", "zhaolei"], reason="涉嫌诈骗罪。")
    assert r.status_code == 302, error_of(r)
    head_page = head.get(f"/cases/{case_id}", headers=ZH).get_data(as_text=True)
    assert 'id="form-approve_referral"' not in head_page  # no dead control
    r = step(head, case_id, "approve_referral", confirm="1")
    assert r.status_code == 400 and "未提出报告的负责人" in error_of(r), error_of(r)
    assert world.case(case_id).stage == "referral_reported"
    with triage_app.extensions["triage"].sessions() as session:
        assert session.scalar(
            select(CaseEvent).where(CaseEvent.case_id == case_id,
                                    CaseEvent.action == "approve_referral")
        ) is None  # fmt: skip


def test_no_fine_after_the_courts_fine(triage_app: Flask) -> None:
    """行政处罚法 art.35: the court imposed 罚金 and no fine came before; the page refuses a
    later fine, in words."""
    world = build(triage_app)
    case_id = _to_filed(world)
    # To judgment through the services (the browser test walks these through the pages).
    inspector, name = client(world, "inspector"), "inspector"
    # After the page's own steps (the timeline runs forward), and never in the future.
    now = dt.datetime.now(CHINA)
    world.step(case_id, "report_referral", name, now, team=["wangfang", "zhaolei"], reason="涉嫌。")
    world.step(case_id, "approve_referral", "head", now)
    world.step(case_id, "refer", name, now, police_unit="城区分局", attachments=ALL_FIVE)
    world.step(case_id, "police_receive", name, now)
    day = now.date().isoformat()
    world.step(case_id, "police_file", name, now, decided_on=day)
    world.step(case_id, "hand_exhibits", name, now, measures="移交。")
    world.step(case_id, "sent_for_prosecution", name, now)
    world.step(case_id, "prosecute", name, now, decided_on=day)
    world.step(case_id, "judgment", name, now, decided_on=day, sentence="有期徒刑一年，并处罚金。",
               court_fine=True)
    r = step(inspector, case_id, "penalise", penalty_kinds=["fine"], fine="1000", decided_on=day)
    assert r.status_code == 400
    assert "行政处罚法" in error_of(r) and "罚金" in error_of(r)
    assert world.case(case_id).fine is None
    assert 'name="penalise-fine" type="text" value="1000"' in r.get_data(as_text=True)
    # A warning is still possible (art.35 bars only the fine).
    r = step(inspector, case_id, "penalise", penalty_kinds=["warning"], decided_on=day)
    assert r.status_code == 302, error_of(r)


def test_case_pages_are_scoped_like_tips(triage_app: Flask) -> None:
    world = build(triage_app)
    case_id = open_from_tip(world)
    # Another bureau (healthcare security), another district: 404, as for a hidden tip.
    assert client(world, "medical").get(f"/cases/{case_id}").status_code == 404
    assert client(world, "elsewhere").get(f"/cases/{case_id}").status_code == 404
    assert client(world, "elsewhere").post(f"/cases/{case_id}/steps/file").status_code in (400, 404)
    number = world.case(case_id).number
    assert number not in client(world, "elsewhere").get("/cases").get_data(as_text=True)
    # A staff matter: a sealed sub-case that only discipline inspection sees.
    agency = client(world, "agency")
    r = confirmed(agency, case_id, "refer_discipline", findings="经办人员涉嫌内外勾结。")
    assert r.status_code == 302, error_of(r)
    with triage_app.extensions["triage"].sessions() as session:
        sub = session.scalar(select(Case).where(Case.parent_id == case_id))
        assert sub is not None and sub.sealed
        sub_id, sub_number = sub.id, sub.number
    discipline = client(world, "discipline")
    page = discipline.get(f"/cases/{sub_id}", headers=ZH)
    assert page.status_code == 200 and "经办人员涉嫌内外勾结。" in page.get_data(as_text=True)
    assert sub_number in discipline.get("/cases").get_data(as_text=True)
    for name in ("agency", "agency_head", "desk", "inspector", "head"):
        officer = client(world, name)
        assert officer.get(f"/cases/{sub_id}").status_code == 404, name
        assert sub_number not in officer.get("/cases").get_data(as_text=True), name
        assert sub_number not in officer.get(f"/cases/{case_id}").get_data(as_text=True), name


def test_the_board_and_the_english_page(triage_app: Flask) -> None:
    """挂牌督办 by the head puts the case on the board of its jurisdiction (and of no other
    office); the board's clocks are the case's; the page is complete in English too."""
    world = build(triage_app)
    case_id = _to_filed(world)
    head = client(world, "head")
    r = step(head, case_id, "supervise", reason="九十日内未采取追回措施。")
    assert r.status_code == 302, error_of(r)
    board = head.get("/board", headers=ZH).get_data(as_text=True)
    number = world.case(case_id).number
    supervised = board.split('id="board-supervised"')[1]
    assert number in supervised and "挂牌督办" in board
    assert number not in client(world, "elsewhere").get("/board").get_data(as_text=True)
    assert number not in client(world, "medical").get("/board").get_data(as_text=True)
    page = head.get(f"/cases/{case_id}", headers={"Accept-Language": "en"})
    text = visible(page.get_data(as_text=True))
    assert "Case filed" in text and "Under the head's supervision" in text
    assert "Administrative penalty decision" in text  # T8, running from the filing
