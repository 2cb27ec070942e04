"""The T2 notice (domain.md T2) through the pages: a decision does not meet it, giving the
notice does, on the portal and on the reporter's channel; the printable 告知书 carries the
reporter's name, and opening it is audited."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from tests.conftest import csrf_token, new_officer, visible
from tipline.crypto import Receipt
from tipline.intake.config import Config
from tipline.intake.models import AuditEvent, Deadline, Message, Notice
from tipline.intake.submit import Report, ReporterIdentity, today
from tipline.triage import create_app

ID = ReporterIdentity(name="王小明", id_number="11010519491231002X", phone="13800138000")
# Tuesday 2025-09-30, the day before the National Day holidays (2025-10-01..08; Saturday
# 10-11 was a make-up working day). The day received is not counted (刑诉法 art.105).
# T1, 5 working days: Oct 9, 10, 11 (Sat, worked), 13, 14 -> 2025-10-14.
# T2, 10 working days: ... 14 (5), 15, 16, 17, 20, 21 -> 2025-10-21.
RECEIVED = dt.date(2025, 9, 30)
T2_DUE = dt.date(2025, 10, 21)


def desk(app: Flask, name: str = "desk", role: str = "triage_officer") -> FlaskClient:
    return new_officer(app, name, role=role, bureau="hrss_fund_supervision", region="441500")


def real_name_tip(app: Flask, *, with_receipt: bool = True) -> tuple[str, Receipt | None]:
    stored = app.extensions["triage"].submitter.submit(
        Report(category="fake_docs", region="441502", text="伪造材料领取待遇", channel="web",
               received_on=RECEIVED, identity=ID, wants_notice=True),
        with_receipt=with_receipt,
    )  # fmt: skip
    return stored.tip_id, stored.receipt


def t2(app: Flask, tip_id: str) -> Deadline:
    with app.extensions["triage"].sessions() as session:
        return session.scalars(
            select(Deadline).where(Deadline.tip_id == tip_id, Deadline.rule == "T2")
        ).one()


def actions(app: Flask, action: str) -> list[AuditEvent]:
    with app.extensions["triage"].sessions() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def post(client: FlaskClient, path: str, page: str, **data: str) -> int:
    data["csrf_token"] = csrf_token(client, page)
    return client.post(path, data=data).status_code


def test_a_decision_leaves_t2_open_until_the_reporter_is_told(
    triage_app: Flask, portal: FlaskClient
) -> None:
    tip_id, receipt = real_name_tip(triage_app)
    officer = desk(triage_app)
    page = officer.get(f"/tips/{tip_id}").get_data(as_text=True)
    assert "作出决定后须告知" in visible(page)  # not due before a decision
    assert t2(triage_app, tip_id).due_on == T2_DUE
    assert 'id="notices-due"' not in officer.get("/").get_data(as_text=True)

    assert post(officer, f"/tips/{tip_id}/accept", f"/tips/{tip_id}", **{}) == 302
    assert t2(triage_app, tip_id).met_on is None  # the decision told nobody
    board = officer.get("/").get_data(as_text=True)
    [due] = re.findall(r'<tr[^>]*data-tip="' + tip_id + r'">(.*?)</tr>', board, re.S)
    assert T2_DUE.isoformat() in due and "逾期" in visible(due)  # listed with its deadline

    # The 告知书: the decision, the dates, the office, and the reporter's name.
    reads_before = len(actions(triage_app, "identity.read"))
    document = officer.get(f"/tips/{tip_id}/notice")
    assert document.status_code == 200
    text = visible(document.get_data(as_text=True))
    assert "举报受理告知书" in text and "王小明：" in text
    assert "您于2025年9月30日提交的举报已收悉" in text
    decided = today()
    assert f"本机关于{decided.year}年{decided.month}月{decided.day}日决定予以受理" in text
    assert "汕尾市" in text and "13800138000" in text  # the office; how to reach them
    [read] = actions(triage_app, "identity.read")[reads_before:]
    assert (read.actor, read.tip_id) == ("desk", tip_id) and '"purpose": "notice"' in read.detail

    # Bad input changes nothing: each refusal is said in Chinese, T2 stays open.
    tomorrow = (today() + dt.timedelta(days=1)).isoformat()
    for fields, said in (
        ({"notice-channel": "phone", "notice-given_on": tomorrow}, "告知日期不能晚于今天"),
        ({"notice-channel": "phone", "notice-given_on": "2025-09-01"},
         "告知日期不能早于作出决定的日期"),
        ({"notice-channel": "pigeon", "notice-given_on": today().isoformat()}, ""),
        ({"notice-channel": "phone", "notice-given_on": ""}, "请填写告知举报人的日期"),
    ):  # fmt: skip
        refused = officer.post(f"/tips/{tip_id}/notice", data={
            "notice-csrf_token": csrf_token(officer, f"/tips/{tip_id}"), **fields,
        })  # fmt: skip
        assert refused.status_code == 400, fields
        assert said in refused.get_data(as_text=True)
        assert t2(triage_app, tip_id).met_on is None

    given = officer.post(f"/tips/{tip_id}/notice", data={
        "notice-csrf_token": csrf_token(officer, f"/tips/{tip_id}"),
        "notice-channel": "phone", "notice-given_on": today().isoformat(),
    })  # fmt: skip
    assert given.status_code == 302
    clock = t2(triage_app, tip_id)
    # Told today, long after 2025-10-21: met, and on record as late.
    assert clock.met_on == today() and clock.state == "met_late"
    [entry] = actions(triage_app, "notice.give")
    assert entry.tip_id == tip_id and '"channel": "phone"' in entry.detail
    assert 'id="notices-due"' not in officer.get("/").get_data(as_text=True)
    page = visible(officer.get(f"/tips/{tip_id}").get_data(as_text=True))
    assert "已同时在举报网站上告知" in page
    again = officer.post(f"/tips/{tip_id}/notice", data={
        "notice-csrf_token": csrf_token(officer, f"/tips/{tip_id}"),
        "notice-channel": "phone", "notice-given_on": today().isoformat(),
    })  # fmt: skip
    assert again.status_code == 400 and "该线索目前无须告知" in again.get_data(as_text=True)
    assert len(actions(triage_app, "notice.give")) == 1

    # The reporter reads it on the status page, through the receipt, as a sealed message.
    assert receipt is not None
    with triage_app.extensions["triage"].sessions() as session:
        [message] = session.scalars(select(Message).where(Message.tip_id == tip_id)).all()
        assert "受理".encode() not in message.body  # sealed at rest
    signed_in = portal.post("/check", data={
        "csrf_token": csrf_token(portal, "/check"), "receipt": receipt.code,
    })  # fmt: skip
    assert signed_in.status_code == 302, signed_in.get_data(as_text=True)
    status_page = visible(portal.get(signed_in.headers["Location"]).get_data(as_text=True))
    assert "举报受理告知书" in status_page and "决定予以受理" in status_page


def test_a_refusal_notice_gives_the_reason_and_the_english_screen_still_works(
    triage_app: Flask,
) -> None:
    tip_id, _ = real_name_tip(triage_app)
    officer = desk(triage_app)
    officer.get("/")
    # confirm=1: the second step of an irreversible decision (test_safe_decisions.py).
    assert post(officer, f"/tips/{tip_id}/refuse", f"/tips/{tip_id}",
                **{"refuse-reason": "no_clear_target", "confirm": "1"}) == 302  # fmt: skip
    english = officer.get(f"/tips/{tip_id}/notice", headers={"Accept-Language": "en"})
    assert english.status_code == 200
    text = visible(english.get_data(as_text=True))
    # The screen is in English; the document stays in the official language.
    assert "Notice to the reporter" in text and "Back to the tip" in text
    assert "举报不予受理告知书" in text and "王小明：" in text
    assert "理由：举报内容不够清楚，无法确定是谁做了什么。" in text
    board = officer.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Notices to give (T2)" in board and tip_id in board


def test_without_a_receipt_the_notice_is_given_on_the_channel_only(triage_app: Flask) -> None:
    tip_id, receipt = real_name_tip(triage_app, with_receipt=False)
    assert receipt is None
    officer = desk(triage_app)
    officer.get("/")
    assert post(officer, f"/tips/{tip_id}/accept", f"/tips/{tip_id}") == 302
    given = officer.post(f"/tips/{tip_id}/notice", data={
        "notice-csrf_token": csrf_token(officer, f"/tips/{tip_id}"),
        "notice-channel": "letter", "notice-given_on": today().isoformat(),
    })  # fmt: skip
    assert given.status_code == 302
    with triage_app.extensions["triage"].sessions() as session:
        [notice] = session.scalars(select(Notice).where(Notice.tip_id == tip_id)).all()
        assert notice.message_id is None and notice.channel == "letter"
        assert not session.scalars(select(Message).where(Message.tip_id == tip_id)).all()
    assert t2(triage_app, tip_id).met_on == today()


def test_no_notice_document_before_a_decision_and_no_identity_opened(triage_app: Flask) -> None:
    tip_id, _ = real_name_tip(triage_app)
    plain = triage_app.extensions["triage"].submitter.submit(
        Report(category="fake_docs", region="441502", text="x", received_on=RECEIVED),
        with_receipt=False,
    )  # fmt: skip
    officer = desk(triage_app)
    officer.get("/")
    early = officer.get(f"/tips/{tip_id}/notice")
    assert early.status_code == 409 and "尚未作出可告知的决定" in early.get_data(as_text=True)
    assert post(officer, f"/tips/{plain.tip_id}/accept", f"/tips/{plain.tip_id}") == 302
    anonymous = officer.get(f"/tips/{plain.tip_id}/notice")
    assert anonymous.status_code == 409
    assert "该举报人未要求告知" in anonymous.get_data(as_text=True)
    assert actions(triage_app, "identity.read") == []
    # Other offices and other roles do not reach it at all.
    assert desk(triage_app, "root", "admin").get(f"/tips/{tip_id}/notice").status_code == 403


def test_a_locality_replaces_the_document_template(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    folder = tmp_path / "documents"
    folder.mkdir()
    (folder / "acceptance_notice.html").write_text(
        '<article id="notice-document">汕尾市人社局告知书 致{{ doc.reporter_name }}'
        "（{{ long_date(doc.received_on) }}）</article>",
        encoding="utf-8",
    )
    app = create_app(make_config(document_templates=folder))
    try:
        tip_id, _ = real_name_tip(app)
        officer = desk(app)
        officer.get("/")
        assert post(officer, f"/tips/{tip_id}/accept", f"/tips/{tip_id}") == 302
        text = visible(officer.get(f"/tips/{tip_id}/notice").get_data(as_text=True))
        assert "汕尾市人社局告知书 致王小明（2025年9月30日）" in text
        # The portal message keeps the shipped template: only the file given is replaced.
        assert officer.post(f"/tips/{tip_id}/notice", data={
            "notice-csrf_token": csrf_token(officer, f"/tips/{tip_id}"),
            "notice-channel": "phone", "notice-given_on": today().isoformat(),
        }).status_code == 302  # fmt: skip
    finally:
        app.extensions["triage"].engine.dispose()


@pytest.mark.parametrize("value", ["", "/no/such/folder"])
def test_the_template_folder_setting_is_checked(value: str, tmp_path: Path) -> None:
    from tipline.intake.config import ConfigError

    env = {"TIPLINE_SECRET_KEY": "s", "TIPLINE_DOCUMENT_TEMPLATES": value}
    if value:
        with pytest.raises(ConfigError, match="TIPLINE_DOCUMENT_TEMPLATES"):
            Config.from_env(env)
    else:
        assert Config.from_env(env).document_templates is None
