"""The tip page as an officer reads it (issue 9): everything the reporter gave, in words; no
raw codes; who wrote each note and message and when; and a linked duplicate whose clocks
close and whose reporter is told, through the pages, the internal API and the portal."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from tests.conftest import csrf_token, new_officer, submit_report, visible
from tests.test_journey import sign_in as reporter_signs_in
from tipline.crypto import Receipt
from tipline.intake.db import transaction
from tipline.intake.models import AuditEvent, Deadline, Message, Note, Tip
from tipline.intake.queue import bind_engine
from tipline.intake.submit import Report, ReporterIdentity
from tipline.triage import api, jobs

ZH = {"Accept-Language": "zh-CN"}
EN = {"Accept-Language": "en"}
# 2025-09-30: T1 (5 working days after National Day) fell due on 2025-10-14, long ago.
RECEIVED = dt.date(2025, 9, 30)
ID = ReporterIdentity(name="王小明", id_number="11010519491231002X", phone="13800138000")
# Codes that must never reach the Chinese page's visible text.
RAW = re.compile(
    r"\b(working_days|calendar_days|due_soon|met_late|overdue|open|met|T1|T2|national@"
    r"|criminal_referral_candidate|sealed|not_accepted|already_handled|fake_treatment"
    r"|message\.officer|message\.reporter|evidence_added|duplicate|merged|screened"
    r"|routing_reason|insider|witnessed|medical_institution|441502|441500)\b"
)


def desk(app: Flask, name: str = "desk") -> FlaskClient:
    return new_officer(app, name, role="triage_officer", bureau="hrss_fund_supervision",
                       region="441500")  # fmt: skip


def post(client: FlaskClient, tip_id: str, action: str, **data: Any) -> Any:
    data["csrf_token"] = csrf_token(client, f"/tips/{tip_id}")
    return client.post(f"/tips/{tip_id}/{action}", data=data)


def entered(app: Flask, region: str = "441502", **extra: Any) -> tuple[str, Receipt | None]:
    """A tip as a reporter with a receipt would leave it, received on RECEIVED."""
    values: dict[str, Any] = {
        "category": "fake_treatment", "region": region, "text": "某医院挂床住院，骗取医保基金。",
        "channel": "web", "received_on": RECEIVED, "fund": "medical",
        "suspect_kind": "medical_institution", "amount": 12000,
    }  # fmt: skip
    values.update(extra)
    stored = app.extensions["triage"].submitter.submit(Report(**values), with_receipt=True)
    return stored.tip_id, stored.receipt


def page(client: FlaskClient, tip_id: str, headers: dict[str, str] = ZH) -> str:
    response = client.get(f"/tips/{tip_id}", headers=headers)
    assert response.status_code == 200
    return visible(response.get_data(as_text=True))


def test_everything_the_reporter_gave_is_shown_in_words(
    triage_app: Flask, portal: FlaskClient
) -> None:
    submit_report(
        portal, happened_start="2025-03-01", happened_end="2025-06-30", ongoing="y",
        how_known="insider", suspect_name="城区某医院", unit_level="city",
    )  # fmt: skip
    officer = desk(triage_app)
    with triage_app.extensions["triage"].sessions() as session:
        tip_id = session.scalars(select(Tip.id)).one()
    text = page(officer, tip_id)
    assert "举报人提供的情况" in text
    assert "2025年3月1日至2025年6月30日，至今仍在继续。" in text
    assert "我在那里工作或工作过" in text  # how the reporter knows
    assert "城区某医院" in text and "医药机构（医院、诊所或药店）" in text
    english = page(officer, tip_id, EN)
    assert "From March 1, 2025 to June 30, 2025, and it is still going on." in english
    assert "I work there or worked there" in english

    # The API gives the codes, and the page's words beside them in the caller's language.
    with transaction(triage_app.extensions["triage"].sessions) as session:
        token = api.issue_token(session, "desk", actor="test")
    headers = {"Authorization": f"Bearer {token}"}
    body = officer.get(f"/api/v1/tips/{tip_id}", headers={**headers, **ZH}).get_json()
    assert (body["happened_start"], body["happened_end"], body["ongoing"], body["how_known"]) == (
        "2025-03-01", "2025-06-30", True, "insider",
    )  # fmt: skip
    assert body["labels"]["how_known"] == "我在那里工作或工作过"
    assert body["labels"]["happened"] == "2025年3月1日至2025年6月30日，至今仍在继续。"
    assert body["labels"]["region"] == "广东省汕尾市城区"
    english_body = officer.get(f"/api/v1/tips/{tip_id}", headers={**headers, **EN}).get_json()
    assert english_body["labels"]["how_known"] == "I work there or worked there"


def test_a_tip_that_says_little_reads_not_given(triage_app: Flask) -> None:
    tip_id, _receipt = entered(triage_app, fund=None, suspect_kind=None, amount=None)
    text = page(desk(triage_app), tip_id)
    assert text.count("未填写") >= 4  # fund, who, name, when, amount, how known


def test_the_chinese_page_shows_no_raw_codes(triage_app: Flask) -> None:
    tip_id, _receipt = entered(triage_app, how_known="witnessed", ongoing=True,
                               happened_start=dt.date(2025, 1, 5))  # fmt: skip
    later, _ = entered(triage_app, received_on=RECEIVED + dt.timedelta(days=1))
    officer = desk(triage_app)
    assert post(officer, tip_id, "route", **{"route-bureau": "labor_inspection",
                "route-reason": "由劳动监察核查"}).status_code == 302  # fmt: skip
    refused = post(
        officer, tip_id, "refuse", **{"refuse-reason": "already_handled", "confirm": "1"}
    )
    assert refused.status_code == 302
    assert post(officer, tip_id, "notes", **{"note-text": "已电话核实"}).status_code == 302
    assert post(officer, tip_id, "messages", **{"message-text": "请补充票据"}).status_code == 302
    assert post(officer, later, "duplicate", **{"duplicate-other": tip_id}).status_code == 302
    for shown in (tip_id, later):
        text = page(officer, shown)
        assert RAW.findall(text) == [], shown
    text = page(officer, tip_id)
    # Flags, the clock, its length, its state and what closed it, and the rules, in words.
    assert "金额可能达到诈骗罪立案标准" in text
    assert "受理审查" in text and "5个工作日" in text and "全国规则（2026.1版）" in text
    assert "不予受理（该事项已经处理过。）" in text
    assert "决定不予受理" in text  # what met T1
    assert "另一件后收到的举报作为重复举报并入本举报" in text
    assert "广东省汕尾市城区" in text


def test_notes_and_messages_say_who_wrote_them_and_when(
    triage_app: Flask, portal: FlaskClient
) -> None:
    tip_id, receipt = entered(triage_app)
    officer = desk(triage_app, "zhang_wei")
    assert post(officer, tip_id, "route", **{"route-bureau": "labor_inspection",
                "route-reason": "涉及用人单位"}).status_code == 302  # fmt: skip
    assert post(officer, tip_id, "notes", **{"note-text": "已电话核实"}).status_code == 302
    assert post(officer, tip_id, "messages", **{"message-text": "请补充票据"}).status_code == 302
    assert receipt is not None and reporter_signs_in(portal, receipt.code) == 302
    reply = portal.post("/my-report/messages", data={
        "csrf_token": csrf_token(portal, "/my-report"), "text": "票据已上传",
    })  # fmt: skip
    assert reply.status_code == 302
    with triage_app.extensions["triage"].sessions() as session:
        notes = session.scalars(select(Note).order_by(Note.id)).all()
        messages = {m.author: m for m in session.scalars(select(Message))}
    assert [n.kind for n in notes] == ["routing_reason", None]
    assert all(n.written_at is not None for n in notes)
    # A reporter's message keeps its day only (DESIGN.md, "Anonymity").
    assert messages["officer"].sent_at is not None and messages["reporter"].sent_at is None

    text = page(officer, tip_id)
    time = r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}"
    assert re.search(rf"分办理由 · zhang_wei · {time} 涉及用人单位", text), text
    assert re.search(rf"zhang_wei · {time} 已电话核实", text)
    assert re.search(rf"工作人员 zhang_wei · {time} 请补充票据", text)
    assert re.search(r"举报人 · \d{4}-\d{2}-\d{2} 票据已上传", text)
    assert not re.search(rf"举报人 · {time}", text)

    with transaction(triage_app.extensions["triage"].sessions) as session:
        token = api.issue_token(session, "zhang_wei", actor="test")
    body = officer.get(f"/api/v1/tips/{tip_id}",
                       headers={"Authorization": f"Bearer {token}"}).get_json()  # fmt: skip
    assert [(n["officer"], n["kind"]) for n in body["notes"]] == [
        ("zhang_wei", "routing_reason"), ("zhang_wei", None),
    ]  # fmt: skip
    by_author = {m["author"]: m for m in body["messages"]}
    assert by_author["officer"]["officer"] == "zhang_wei" and by_author["officer"]["sent_at"]
    assert by_author["reporter"]["officer"] is None and by_author["reporter"]["sent_at"] is None


def test_the_database_refuses_a_time_of_day_on_a_reporters_message(triage_app: Flask) -> None:
    tip_id, _receipt = entered(triage_app)
    sessions = triage_app.extensions["triage"].sessions
    with pytest.raises(IntegrityError), transaction(sessions) as session:
        session.add(Message(tip_id=tip_id, author="reporter", sent_on=RECEIVED,
                            sent_at=dt.datetime.now(dt.UTC), body=b"x"))  # fmt: skip


def _clocks(app: Flask, tip_id: str) -> tuple[list[Deadline], Tip]:
    with app.extensions["triage"].sessions() as session:
        tip = session.get(Tip, tip_id)
        assert tip is not None
        rows = session.scalars(select(Deadline).where(Deadline.tip_id == tip_id)).all()
        session.expunge_all()
        return list(rows), tip


def _sweep(app: Flask, monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """The worker's morning sweep, run inline as cron runs it; the tips it escalated."""
    services = app.extensions["triage"]
    monkeypatch.delenv("TIPLINE_REDIS_URL", raising=False)
    monkeypatch.delenv("TIPLINE_SMTP_URL", raising=False)
    monkeypatch.setenv("TIPLINE_DATABASE_URL", services.engine.url.render_as_string(False))
    bind_engine(services.engine, services.keyring)
    jobs.sweep_deadlines()
    with services.sessions() as session:
        return set(session.scalars(
            select(AuditEvent.tip_id).where(AuditEvent.action == "deadline.escalate")
        ))  # fmt: skip


@pytest.mark.parametrize("through", ["page", "api"])
def test_a_linked_duplicate_keeps_no_clocks_and_its_reporter_is_told(
    triage_app: Flask, portal: FlaskClient, monkeypatch: pytest.MonkeyPatch, through: str
) -> None:
    first, _ = entered(triage_app)
    later, receipt = entered(triage_app, received_on=RECEIVED + dt.timedelta(days=1),
                             identity=ID, wants_notice=True)  # fmt: skip
    control, _ = entered(triage_app, received_on=RECEIVED + dt.timedelta(days=1))
    # A tip the desk of 汕尾 cannot see (深圳): linking to it is refused as a missing tip.
    elsewhere, _ = entered(triage_app, region="440305")
    officer = desk(triage_app)
    with transaction(triage_app.extensions["triage"].sessions) as session:
        token = api.issue_token(session, "desk", actor="test")
    headers = {"Authorization": f"Bearer {token}", **ZH}

    def link(tip_id: str, other: str) -> Any:
        if through == "page":
            return post(officer, tip_id, "duplicate", **{"duplicate-other": other})
        return officer.post(f"/api/v1/tips/{tip_id}/duplicate", json={"other": other},
                            headers=headers)  # fmt: skip

    answers = []
    for other in (elsewhere, "0" * 16):
        refused = link(later, other)
        assert refused.status_code == 400
        if through == "page":
            said = visible(refused.get_data(as_text=True))
            assert "没有您可查看的该编号举报。" in said
            answers.append(said.replace(other, ""))
        else:
            assert [p["field"] for p in refused.get_json()["problems"]] == ["other"]
            answers.append(refused.get_json())
    assert answers[0] == answers[1]  # out of scope and missing are one answer
    assert officer.get(f"/api/v1/tips/{elsewhere}", headers=headers).status_code == 404
    assert _clocks(triage_app, later)[1].duplicate_of is None

    # Linked from the earlier tip's page: the later one is the duplicate.
    linked = link(first, later)
    assert linked.status_code in (200, 302)
    deadlines, tip = _clocks(triage_app, later)
    assert tip.duplicate_of == first and tip.next_due is None
    assert {(d.rule, d.closed_by) for d in deadlines} == {("T1", "duplicate"), ("T2", "duplicate")}
    assert all(d.met_on is not None for d in deadlines)
    assert _clocks(triage_app, first)[1].next_due is not None  # the first keeps its own
    again = link(first, later)
    assert again.status_code == (400 if through == "page" else 409)

    # The morning sweep escalates the control tip, long overdue, and not the duplicate.
    escalated = _sweep(triage_app, monkeypatch)
    assert control in escalated and first in escalated and later not in escalated

    # The officer reads why; the API says it as codes and in words.
    text = page(officer, later)
    assert "并入该举报办理，本举报的各项时限已结束。" in text
    assert "作为重复举报合并" in text and "已告知举报人：该举报与另一件举报合并办理" in text
    body = officer.get(f"/api/v1/tips/{later}", headers=headers).get_json()
    assert {d["closed_by"] for d in body["deadlines"]} == {"duplicate"}
    assert {d["closed_by"] for d in body["labels"]["deadlines"]} == {"作为重复举报合并"}

    # The reporter is told in plain words, and never which report it was merged with.
    assert receipt is not None and reporter_signs_in(portal, receipt.code) == 302
    status = portal.get("/my-report", headers=ZH).get_data(as_text=True)
    assert "您的举报已与反映同一事实的另一件举报合并，两件举报将一并办理。" in visible(status)
    assert "与反映同一事实的另一件举报合并办理" in visible(status)  # on the timeline
    assert first not in status
    english = visible(portal.get("/my-report", headers=EN).get_data(as_text=True))
    assert "Your report has been merged with another report about the same facts." in english
