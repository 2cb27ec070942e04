"""Alerts (待办提醒): a new tip, a reporter's reply, an identity request, a deadline, counted
in the menu, listed on their page and in the API, always within the officer's scope; and the
e-mail digest the worker sends, which says how many and where, nothing more."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import io
import json
import re
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from tests.conftest import (
    cli_environment,
    csrf_token,
    make_enrolled,
    post_multipart,
    run_cli,
    sign_in_officer,
    submit_report,
    tiny_pdf,
    visible,
)
from tipline.intake.config import Config
from tipline.intake.db import transaction
from tipline.intake.models import AuditEvent, Officer, Recusal, Tip
from tipline.intake.queue import RedisQueue, bind_engine
from tipline.intake.submit import today
from tipline.intake.workdays import Calendar
from tipline.triage import api, clocks, jobs
from tipline.triage.tips import alerts
from tipline.triage.worker import JOBS, DeclaredJob

DESK = "hrss_fund_supervision"
VALID_ID = "11010519491231002X"
NAMED = {"anonymous": "no", "name": "王小明", "id_number": VALID_ID, "phone": "13800138000"}


@dataclass
class Staff:
    name: str
    client: FlaskClient
    bearer: dict[str, str]


def officer(
    app: Flask, name: str, role: str = "triage_officer", region: str = "441500",
    bureau: str = DESK, email: str | None = None,
) -> Staff:  # fmt: skip
    services = app.extensions["triage"]
    with transaction(services.sessions) as session:
        created, secret = make_enrolled(
            session, services.officer_secrets, name, role=role, region=region, bureau=bureau
        )
        created.email = email
        token = api.issue_token(session, name, actor="test")
    return Staff(name, sign_in_officer(app, name, secret), {"Authorization": f"Bearer {token}"})


def nav_link(client: FlaskClient) -> str:
    """The alerts link of the menu, as read on the inbox in Chinese."""
    page = client.get("/", headers={"Accept-Language": "zh"}).get_data(as_text=True)
    match = re.search(r'<a href="/alerts" id="alerts-link">([^<]*)</a>', page)
    assert match, "no alerts link in the menu"
    return match.group(1)


def listed(who: Staff) -> list[tuple[str, str, bool]]:
    """(tip, kind, seen) through the API, which marks nothing."""
    response = who.client.get("/api/v1/alerts", headers=who.bearer)
    assert response.status_code == 200
    body = response.get_json()
    assert body["unseen"] == sum(not a["seen"] for a in body["alerts"])
    return [(a["tip_id"], a["kind"], a["seen"]) for a in body["alerts"]]


def tip_ids(app: Flask) -> list[str]:
    with app.extensions["triage"].sessions() as session:
        return list(session.scalars(select(Tip.id).order_by(Tip.id)))


def portal_sign_in(portal: FlaskClient, receipt: str) -> None:
    response = portal.post(
        "/check", data={"csrf_token": csrf_token(portal, "/check"), "receipt": receipt}
    )
    assert response.status_code == 302


def test_a_new_tip_is_counted_listed_then_seen_and_ends_when_opened(
    portal: FlaskClient, triage_app: Flask
) -> None:
    desk = officer(triage_app, "desk")
    elsewhere = officer(triage_app, "elsewhere", region="440300")  # Shenzhen: not its tip
    bureau = officer(triage_app, "medical", "bureau_officer", bureau="healthcare_security")
    submit_report(portal)
    assert nav_link(desk.client) == "待办提醒（1）"  # the first request routes the tip
    [tip_id] = tip_ids(triage_app)
    assert nav_link(elsewhere.client) == "待办提醒"
    assert listed(elsewhere) == [] and listed(bureau) == []  # not routed to it yet
    assert listed(desk) == [(tip_id, "new_tip", False)]

    page = desk.client.get("/alerts", headers={"Accept-Language": "zh"})
    assert page.status_code == 200
    text = visible(page.get_data(as_text=True))
    assert "新线索" in text and tip_id in text and "未读" in text
    assert "new_tip" not in text  # words, never codes
    # Opening the page marked it seen: no count (on that page already), still listed
    # until the tip is opened.
    assert re.search(r'id="alerts-link">待办提醒<', page.get_data(as_text=True))
    assert nav_link(desk.client) == "待办提醒"
    assert listed(desk) == [(tip_id, "new_tip", True)]
    assert "已读" in visible(desk.client.get("/alerts").get_data(as_text=True))
    assert desk.client.get(f"/tips/{tip_id}").status_code == 200
    assert listed(desk) == []
    # Through the API, reading the tip is opening it too.
    colleague = officer(triage_app, "colleague")
    assert listed(colleague) == [(tip_id, "new_tip", False)]
    read = colleague.client.get(f"/api/v1/tips/{tip_id}", headers=colleague.bearer)
    assert read.status_code == 200
    assert listed(colleague) == []


def test_a_routed_tip_is_new_to_its_bureau_and_no_longer_the_desks(
    portal: FlaskClient, triage_app: Flask
) -> None:
    desk = officer(triage_app, "desk")
    colleague = officer(triage_app, "colleague")
    bureau = officer(triage_app, "medical", "bureau_officer", bureau="healthcare_security")
    submit_report(portal)
    [tip_id] = [t for t, _k, _s in listed(desk)]
    routed = desk.client.post(
        f"/api/v1/tips/{tip_id}/route", json={"bureau": "healthcare_security"},
        headers=desk.bearer,
    )  # fmt: skip
    assert routed.status_code == 200, routed.get_json()
    assert listed(colleague) == []  # a bureau leads it now
    assert listed(bureau) == [(tip_id, "new_tip", False)]


def test_a_reporters_reply_alerts_until_opened_or_answered(
    portal: FlaskClient, triage_app: Flask
) -> None:
    desk = officer(triage_app, "desk")
    receipt = submit_report(portal)
    [(tip_id, _kind, _seen)] = listed(desk)
    assert desk.client.get(f"/tips/{tip_id}").status_code == 200
    assert listed(desk) == []
    portal_sign_in(portal, receipt)
    token = csrf_token(portal, "/my-report")
    sent = portal.post("/my-report/messages", data={"csrf_token": token, "text": "补充说明"})
    assert sent.status_code == 302
    assert listed(desk) == [(tip_id, "reply", False)]
    assert nav_link(desk.client) == "待办提醒（1）"
    page = visible(desk.client.get("/alerts").get_data(as_text=True))
    assert "举报人有新留言或补充了证据材料" in page
    assert "补充说明" not in page  # the page says what waits, never what was written
    assert desk.client.get(f"/tips/{tip_id}").status_code == 200
    assert listed(desk) == []
    # Evidence is a reply too; an officer's answer ends it for every officer.
    added = post_multipart(
        portal, "/my-report/evidence",
        {"csrf_token": token, "attachments": [(io.BytesIO(tiny_pdf()), "发票.pdf")]},
    )  # fmt: skip
    assert added.status_code == 302
    colleague = officer(triage_app, "colleague")
    assert (tip_id, "reply", False) in listed(colleague)
    assert listed(desk) == [(tip_id, "reply", False)]
    answered = desk.client.post(
        f"/api/v1/tips/{tip_id}/messages", json={"text": "收到"}, headers=desk.bearer
    )
    assert answered.status_code in (200, 201), answered.get_json()
    assert listed(desk) == []
    assert [k for _t, k, _s in listed(colleague)] == ["new_tip"]  # never opened by them


def test_an_identity_request_alerts_the_supervisors_who_may_decide_it(
    portal: FlaskClient, triage_app: Flask
) -> None:
    asker = officer(triage_app, "asker", "supervisor")
    boss = officer(triage_app, "boss", "supervisor")
    desk = officer(triage_app, "desk")
    far = officer(triage_app, "far", "supervisor", region="440300")
    submit_report(portal, **NAMED)
    [tip_id] = [t for t, _k, _s in listed(asker)]
    asked = asker.client.post(
        f"/api/v1/tips/{tip_id}/identity-requests", json={"reason": "核实举报人身份以便奖励"},
        headers=asker.bearer,
    )  # fmt: skip
    assert asked.status_code == 201, asked.get_json()
    kinds = {who.name: {k for _t, k, _s in listed(who)} for who in (asker, boss, desk, far)}
    assert kinds == {
        "asker": {"new_tip"},  # nobody decides their own request
        "boss": {"new_tip", "identity"},
        "desk": {"new_tip"},  # not a supervisor
        "far": set(),
    }
    assert "有身份查阅申请待您审批" in visible(boss.client.get("/alerts").get_data(as_text=True))
    decided = boss.client.post(
        f"/api/v1/tips/{tip_id}/identity-requests/{asked.get_json()['id']}",
        json={"approve": False}, headers=boss.bearer,
    )  # fmt: skip
    assert decided.status_code == 200, decided.get_json()
    assert "identity" not in {k for _t, k, _s in listed(boss)}


def test_a_deadline_due_soon_then_overdue_alerts_again(
    portal: FlaskClient, triage_app: Flask
) -> None:
    desk = officer(triage_app, "desk")
    submit_report(portal)
    [(tip_id, _kind, _seen)] = listed(desk)
    assert desk.client.get(f"/tips/{tip_id}").status_code == 200
    sessions = triage_app.extensions["triage"].sessions
    with transaction(sessions) as session:
        tip = session.get(Tip, tip_id)
        assert tip is not None
        due = min(d.due_on for d in tip.deadlines)
        clocks.sweep(session, due, Calendar())  # the sweep's morning on the due day
    assert listed(desk) == [(tip_id, "deadline", False)]
    desk.client.get("/alerts")
    assert listed(desk) == [(tip_id, "deadline", True)]
    body = desk.client.get("/api/v1/alerts", headers=desk.bearer).get_json()
    assert body["alerts"][0]["state"] == "due_soon" and body["alerts"][0]["rule"] == "T1"
    with transaction(sessions) as session:
        clocks.sweep(session, due + dt.timedelta(days=1), Calendar())
    # Gone overdue: a new version of the alert, unseen again.
    assert listed(desk) == [(tip_id, "deadline", False)]
    page = visible(desk.client.get("/alerts").get_data(as_text=True))
    assert "办理时限即将到期或已超期：受理审查 已逾期" in page  # the rule in words


def test_a_sealed_staff_tip_alerts_discipline_inspection_only(
    portal: FlaskClient, triage_app: Flask
) -> None:
    desk = officer(triage_app, "desk")
    boss = officer(triage_app, "boss", "supervisor")
    medical = officer(triage_app, "medical", "bureau_officer", bureau="healthcare_security")
    inspector = officer(triage_app, "inspector", "bureau_officer", bureau="discipline_inspection")
    submit_report(portal, suspect_kind="agency_staff", category="fake_docs", **NAMED)
    [tip_id] = [t for t, _k, _s in listed(inspector)]
    with triage_app.extensions["triage"].sessions() as session:
        assert session.get(Tip, tip_id).sealed  # type: ignore[union-attr]
    assert listed(desk) == listed(boss) == listed(medical) == []
    assert nav_link(desk.client) == "待办提醒"
    # Even a pending identity request or an overdue clock on it reaches nobody else.
    asked = inspector.client.post(
        f"/api/v1/tips/{tip_id}/identity-requests", json={"reason": "核实"},
        headers=inspector.bearer,
    )  # fmt: skip
    assert asked.status_code == 201
    with transaction(triage_app.extensions["triage"].sessions) as session:
        clocks.sweep(session, today() + dt.timedelta(days=60), Calendar())
    assert listed(desk) == listed(boss) == listed(medical) == []


def test_recusal_and_transfer_take_alerts_away(portal: FlaskClient, triage_app: Flask) -> None:
    desk = officer(triage_app, "desk")
    colleague = officer(triage_app, "colleague")
    submit_report(portal)
    submit_report(portal, text="另一家医院挂床住院。")
    first, second = tip_ids(triage_app)
    assert {t for t, _k, _s in listed(desk)} == {first, second}
    with transaction(triage_app.extensions["triage"].sessions) as session:
        desk_id = session.scalar(select(Officer.id).where(Officer.username == "desk"))
        session.add(Recusal(officer_id=desk_id, tip_id=first, declared_on=today()))
    assert {t for t, _k, _s in listed(desk)} == {second}
    # Sent to another city's office: out of this desk's jurisdiction, and of its alerts.
    moved = colleague.client.post(
        f"/api/v1/tips/{second}/transfer", json={"bureau": DESK, "region": "440300"},
        headers=colleague.bearer,
    )  # fmt: skip
    assert moved.status_code == 200, moved.get_json()
    assert listed(desk) == [] and {t for t, _k, _s in listed(colleague)} == {first}
    shenzhen = officer(triage_app, "shenzhen", region="440300")
    assert {t for t, _k, _s in listed(shenzhen)} == {second}


def test_the_api_marks_seen_and_answers_only_reader_roles(
    portal: FlaskClient, triage_app: Flask
) -> None:
    desk = officer(triage_app, "desk")
    submit_report(portal)
    [(tip_id, kind, seen)] = listed(desk)
    assert not seen
    marked = desk.client.post("/api/v1/alerts/seen", headers=desk.bearer)
    assert marked.status_code == 200
    assert marked.get_json() == {
        "alerts": [{"tip_id": tip_id, "kind": kind, "on": today().isoformat(), "seen": True}],
        "unseen": 0,
    }
    refused = desk.client.post("/api/v1/alerts/seen", json={"tip": tip_id}, headers=desk.bearer)
    assert refused.status_code == 400
    for role in ("admin", "auditor"):
        other = officer(triage_app, role, role)
        assert other.client.get("/api/v1/alerts", headers=other.bearer).status_code == 403
        assert other.client.get("/alerts").status_code == 403
    assert triage_app.test_client().get("/api/v1/alerts").status_code == 401


# The digest.


class Sink:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[str, Sink]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield f"smtp://127.0.0.1:{port}", sink
    finally:
        controller.stop()


def _run_in_worker(redis_url: str) -> None:
    from rq import Queue as RqQueue
    from rq import SimpleWorker
    from rq.serializers import JSONSerializer

    queue = RedisQueue(redis_url, "test-digest", JOBS)
    try:
        queue.enqueue(jobs.send_alert_digest)
        declared = RqQueue(
            "test-digest", connection=queue.connection, serializer=JSONSerializer,
            job_class=DeclaredJob,
        )  # fmt: skip
        SimpleWorker(
            [declared], connection=queue.connection, serializer=JSONSerializer,
            job_class=DeclaredJob,
        ).work(burst=True)  # fmt: skip
    finally:
        queue.connection.close()


@pytest.mark.parametrize("mode", ["inline", "redis"])
def test_the_digest_says_how_many_and_where_once_per_period(
    mode: str,
    portal: FlaskClient,
    triage_app: Flask,
    smtp: tuple[str, Sink],
    monkeypatch: pytest.MonkeyPatch,
    make_config: Callable[..., Config],
    request: pytest.FixtureRequest,
) -> None:
    smtp_url, sink = smtp
    desk = officer(triage_app, "desk", email="desk@hrss.example")
    officer(triage_app, "far", region="440300", email="far@hrss.example")  # nothing in scope
    officer(triage_app, "quiet")  # no address: no mail
    gone = officer(triage_app, "gone", email="gone@hrss.example")
    inspector = officer(
        triage_app, "inspector", "bureau_officer", bureau="discipline_inspection",
        email="inspector@hrss.example",
    )  # fmt: skip
    officer(triage_app, "admin", "admin", email="admin@hrss.example")
    submit_report(portal)
    submit_report(portal, text="另一家医院挂床住院。")
    submit_report(portal, suspect_kind="agency_staff", category="fake_docs", **NAMED)
    listed(desk)  # the first officer's request routes the tips (no worker here)
    with transaction(triage_app.extensions["triage"].sessions) as session:
        session.scalars(select(Officer).where(Officer.username == "gone")).one().active = False
    del gone
    # The inspector has seen theirs: nothing unseen, no mail.
    inspector.client.get("/alerts")
    engine = triage_app.extensions["triage"].engine
    monkeypatch.setenv("TIPLINE_SMTP_URL", smtp_url)
    monkeypatch.setenv("TIPLINE_DATABASE_URL", engine.url.render_as_string(False))
    monkeypatch.setenv("TIPLINE_TRIAGE_URL", "https://triage.hrss.example")
    monkeypatch.setenv("TIPLINE_ALERT_DIGEST_HOURS", "24")
    bind_engine(engine)
    if mode == "redis":
        redis_url: str = request.getfixturevalue("redis_url")
        monkeypatch.setenv("TIPLINE_REDIS_URL", redis_url)
        monkeypatch.setenv("TIPLINE_QUEUE", "test-digest")
        _run_in_worker(redis_url)
        from rq.registry import ScheduledJobRegistry

        queue = RedisQueue(redis_url, "test-digest", JOBS)
        try:
            booked = ScheduledJobRegistry(queue=queue.queue).get_job_ids()
            nxt = alerts.next_digest_time(dt.datetime.now(dt.UTC), 24)
            assert booked == [f"alert-digest-{nxt:%Y%m%d%H}"]
            # Nothing in Redis names a tip.
            for key in queue.connection.keys("*"):
                dump = b"".join(
                    str(v).encode() for v in (
                        queue.connection.hgetall(key).values()
                        if queue.connection.type(key) == b"hash" else []
                    )
                )  # fmt: skip
                assert not any(t.encode() in dump for t in tip_ids(triage_app))
        finally:
            queue.connection.close()
        _run_in_worker(redis_url)  # a second run in the period sends nothing
    else:
        monkeypatch.delenv("TIPLINE_REDIS_URL", raising=False)
        assert jobs.send_alert_digest() == 1
        assert jobs.send_alert_digest() == 0
    assert [m.rcpt_tos for m in sink.messages] == [["desk@hrss.example"]]
    mail = email.message_from_bytes(sink.messages[0].content, policy=email.policy.default)
    text = f"{mail['Subject']}\n{mail.get_content()}"  # type: ignore[attr-defined]
    assert "您有 2 项待办提醒" in text and "https://triage.hrss.example" in text
    for secret in (*tip_ids(triage_app), "fake_treatment", "医院", "挂床", "medical"):
        assert secret not in text
    with triage_app.extensions["triage"].sessions() as session:
        [entry] = session.scalars(
            select(AuditEvent).where(AuditEvent.action == alerts.DIGEST_SENT)
        ).all()
        assert "desk" not in entry.detail and entry.tip_id is None


def test_no_digest_when_turned_off(
    portal: FlaskClient, triage_app: Flask, smtp: tuple[str, Sink],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    smtp_url, sink = smtp
    desk = officer(triage_app, "desk", email="desk@hrss.example")
    submit_report(portal)
    listed(desk)
    engine = triage_app.extensions["triage"].engine
    monkeypatch.setenv("TIPLINE_SMTP_URL", smtp_url)
    monkeypatch.setenv("TIPLINE_DATABASE_URL", engine.url.render_as_string(False))
    monkeypatch.setenv("TIPLINE_ALERT_DIGEST_HOURS", "0")
    monkeypatch.delenv("TIPLINE_REDIS_URL", raising=False)
    bind_engine(engine)
    assert jobs.send_alert_digest() == 0 and sink.messages == []


def test_digest_periods_start_at_eight_in_beijing() -> None:
    late = dt.datetime(2026, 3, 2, 23, 30, tzinfo=dt.UTC)  # 07:30 on the 3rd in Beijing
    assert alerts.digest_slot(late, 24) == dt.datetime(2026, 3, 2, 0, 0, tzinfo=dt.UTC)
    assert alerts.next_digest_time(late, 24) == dt.datetime(2026, 3, 3, 0, 0, tzinfo=dt.UTC)
    assert alerts.next_digest_time(late, 4) == dt.datetime(2026, 3, 3, 0, 0, tzinfo=dt.UTC)
    assert alerts.digest_slot(late, 4) == dt.datetime(2026, 3, 2, 20, 0, tzinfo=dt.UTC)


def test_the_digest_hours_are_checked() -> None:
    from tipline.intake.config import ConfigError

    assert Config.from_env({}, need_secret=False).alert_digest_hours == 24
    assert Config.from_env(
        {"TIPLINE_ALERT_DIGEST_HOURS": "6"}, need_secret=False
    ).alert_digest_hours == 6  # fmt: skip
    with pytest.raises(ConfigError, match="TIPLINE_ALERT_DIGEST_HOURS"):
        Config.from_env({"TIPLINE_ALERT_DIGEST_HOURS": "-1"}, need_secret=False)


def test_the_command_sends_the_digest_where_there_is_no_worker(
    tmp_path: Path, database_url: str, smtp: tuple[str, Sink]
) -> None:
    """Without Redis, cron runs `tipline alerts digest`: the same job, once per period."""
    smtp_url, sink = smtp
    env = {
        **cli_environment(tmp_path / "instance", database_url),
        "TIPLINE_SMTP_URL": smtp_url,
    }
    assert run_cli(env, "init").returncode == 0
    added = run_cli(
        env, "users", "add", "desk", "--role", "triage_officer", "--bureau", DESK,
        "--region", "441500", "--email", "desk@hrss.example", stdin="a long test password\n",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    tips = tmp_path / "tips.jsonl"
    letter = {
        "channel": "letter", "received_on": today().isoformat(), "category": "fake_treatment",
        "region": "441521", "text": "举报信：某医院挂床住院。",
    }  # fmt: skip
    tips.write_text(json.dumps(letter, ensure_ascii=False) + "\n", encoding="utf-8")
    imported = run_cli(env, "tips", "import", str(tips))
    assert imported.returncode == 0, imported.stderr
    sent = run_cli(env, "alerts", "digest")
    assert sent.returncode == 0, sent.stderr
    assert sent.stdout.strip() == "digests sent: 1"
    assert run_cli(env, "alerts", "digest").stdout.strip() == "digests sent: 0"
    assert [m.rcpt_tos for m in sink.messages] == [["desk@hrss.example"]]
