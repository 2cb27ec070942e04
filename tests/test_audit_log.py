"""The auditor's audit log (issue 9): one entry per view, words not codes, China's time,
filters with clear refusals, and a CSV export that Excel opens and cannot be made to run."""

from __future__ import annotations

import ast
import csv
import datetime as dt
import io
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from tests.conftest import csrf_token, new_officer, tiny_pdf, visible
from tipline.intake.db import transaction
from tipline.intake.models import AuditEvent
from tipline.intake.submit import Report, ReporterIdentity, Upload
from tipline.triage import api
from tipline.triage.audit import entry_hash, record
from tipline.triage.audit_terms import ACTION_CODES, DETAIL_KEYS
from tipline.triage.localtime import local_time

ID = ReporterIdentity(name="王小明", id_number="11010519491231002X", phone="13800138000")
ZH = {"Accept-Language": "zh"}
EN = {"Accept-Language": "en"}


def staff(app: Flask, name: str, role: str = "triage_officer") -> FlaskClient:
    return new_officer(app, name, role=role, bureau="hrss_fund_supervision", region="441500")


def auditor(app: Flask) -> FlaskClient:
    return staff(app, "eve", "auditor")


def real_name_tip(app: Flask) -> str:
    stored = app.extensions["triage"].submitter.submit(
        Report(
            category="fake_docs", region="441502", text="伪造材料领取待遇", channel="web",
            received_on=dt.date(2025, 9, 30), identity=ID, wants_notice=True,
            uploads=[Upload("票据.pdf", "application/pdf", io.BytesIO(tiny_pdf("票据")))],
        ),
        with_receipt=False,
    )  # fmt: skip
    return stored.tip_id


def newest_id(app: Flask) -> int:
    with app.extensions["triage"].sessions() as session:
        return session.scalar(select(func.max(AuditEvent.id))) or 0


def entries_since(app: Flask, after: int) -> list[AuditEvent]:
    with app.extensions["triage"].sessions() as session:
        return list(
            session.scalars(
                select(AuditEvent).where(AuditEvent.id > after).order_by(AuditEvent.id)
            )
        )


def recorded(app: Flask, request: Callable[[], Any]) -> list[str]:
    """The actions that one request recorded."""
    before = newest_id(app)
    request()
    return [event.action for event in entries_since(app, before)]


def write(app: Flask, action: str, *, at: dt.datetime | None = None, **fields: Any) -> None:
    """Append an entry; with ``at``, dated then (the newest entry re-hashed, so the chain
    stays intact: only the head is rewritten)."""
    sessions = app.extensions["triage"].sessions
    with transaction(sessions) as session:
        record(session, action, **fields)
    if at is None:
        return
    with transaction(sessions) as session:
        event = session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
        assert event is not None
        event.at = at
        event.hash = entry_hash(
            at=at, actor=event.actor, action=event.action, tip_id=event.tip_id,
            detail=event.detail, prev_hash=event.prev_hash,
        )  # fmt: skip


# One entry per view.


@pytest.fixture
def desk(triage_app: Flask) -> FlaskClient:
    return staff(triage_app, "desk")


def test_each_view_of_contents_is_one_entry(triage_app: Flask, desk: FlaskClient) -> None:
    """The rule: a request that shows contents records one reading; a decision records the
    decision alone; the page its redirect opens is a new view with its one reading."""
    tip_id = real_name_tip(triage_app)
    token = csrf_token(desk, "/")  # the inbox decrypts nothing and records nothing
    page = f"/tips/{tip_id}"

    body: list[str] = []
    assert recorded(triage_app, lambda: body.append(desk.get(page).get_data(as_text=True))) == [
        "tip.read"
    ]
    [attachment] = re.findall(rf'href="/tips/{tip_id}/attachments/([0-9a-f]+)"', body[0])
    download = f"/tips/{tip_id}/attachments/{attachment}"
    assert recorded(triage_app, lambda: desk.get(download).close()) == ["attachment.read"]

    # A decision: its entry only, then one reading for the page after the redirect.
    accept = lambda: desk.post(f"/tips/{tip_id}/accept", data={"csrf_token": token})  # noqa: E731
    assert recorded(triage_app, accept) == ["tip.accept"]
    assert recorded(triage_app, lambda: desk.get(page)) == ["tip.read"]
    followed = lambda: desk.post(  # noqa: E731
        f"/tips/{tip_id}/notes", data={"csrf_token": token, "note-text": "已电话核实"},
        follow_redirects=True,
    )  # fmt: skip
    assert recorded(triage_app, followed) == ["note.add", "tip.read"]
    message = lambda: desk.post(  # noqa: E731
        f"/tips/{tip_id}/messages", data={"csrf_token": token, "message-text": "请补充材料"}
    )
    assert recorded(triage_app, message) == ["message.send"]
    # A refused form shows the page again: one reading, nothing else.
    refused = lambda: desk.post(f"/tips/{tip_id}/notes", data={"csrf_token": token})  # noqa: E731
    assert recorded(triage_app, refused) == ["tip.read"]

    # The 告知书 opens the reporter's name: that opening is the one entry.
    notice = lambda: desk.get(f"/tips/{tip_id}/notice")  # noqa: E731
    assert recorded(triage_app, notice) == ["identity.read"]


def test_a_page_that_shows_the_identity_is_one_identity_reading(
    triage_app: Flask, desk: FlaskClient
) -> None:
    tip_id = real_name_tip(triage_app)
    chief = staff(triage_app, "chief", "supervisor")
    token = csrf_token(desk, "/")
    asked = lambda: desk.post(  # noqa: E731
        f"/tips/{tip_id}/identity-requests",
        data={"csrf_token": token, "identity-reason": "核实举报人身份以便约谈"},
    )
    assert recorded(triage_app, asked) == ["identity.request"]
    requests = re.findall(
        rf'action="/tips/{tip_id}/identity-requests/(\d+)"',
        chief.get(f"/tips/{tip_id}").get_data(as_text=True),
    )
    assert requests, "the supervisor sees the request to decide"
    decide = lambda: chief.post(  # noqa: E731
        f"/tips/{tip_id}/identity-requests/{requests[0]}",
        data={"csrf_token": csrf_token(chief, "/"), "decide-decision": "approve", "confirm": "1"},
    )
    assert recorded(triage_app, decide) == ["identity.approve"]
    before = newest_id(triage_app)
    shown = desk.get(f"/tips/{tip_id}").get_data(as_text=True)
    assert "王小明" in shown
    [entry] = entries_since(triage_app, before)
    assert (entry.action, entry.actor, entry.tip_id) == ("identity.read", "desk", tip_id)
    assert json.loads(entry.detail) == {"purpose": "tip"}


def test_the_api_reads_a_tip_in_one_entry_and_decides_in_one(
    triage_app: Flask, desk: FlaskClient
) -> None:
    tip_id = real_name_tip(triage_app)
    with transaction(triage_app.extensions["triage"].sessions) as session:
        bearer = {"Authorization": f"Bearer {api.issue_token(session, 'desk', actor='test')}"}
    client = triage_app.test_client()
    read = lambda: client.get(f"/api/v1/tips/{tip_id}", headers=bearer)  # noqa: E731
    assert recorded(triage_app, read) == ["tip.read"]
    note = lambda: client.post(  # noqa: E731
        f"/api/v1/tips/{tip_id}/notes", json={"text": "接口备注"}, headers=bearer
    )
    assert recorded(triage_app, note) == ["note.add"]
    listing = lambda: client.get("/api/v1/tips", headers=bearer)  # noqa: E731
    assert recorded(triage_app, listing) == []


# Words, not codes.


def _record_calls() -> Iterator[tuple[Path, ast.Call, dict[str, str]]]:
    root = Path(__file__).parents[1] / "tipline"
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        # A module's string constants, and its maps of them (an action chosen by outcome:
        # admin._CHANGE_ACTIONS): a name stands for every value it may hold.
        constants: dict[str, list[str]] = {}
        for node in tree.body:
            if not isinstance(node, ast.Assign):
                continue
            values = node.value.values if isinstance(node.value, ast.Dict) else [node.value]
            if all(isinstance(v, ast.Constant) and isinstance(v.value, str) for v in values):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        constants[target.id] = [v.value for v in values]  # type: ignore[union-attr]
        # A module's own wrapper of record (cli._audited(action, officer, **details)) passes
        # its first parameter on as the action: its callers are read instead.
        wrappers = {
            node.name
            for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef) and node.args.args
            and node.args.args[0].arg == "action" and node.name != "record"
            and any(isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
                    and call.func.id == "record" and len(call.args) >= 2
                    and isinstance(call.args[1], ast.Name) and call.args[1].id == "action"
                    for call in ast.walk(node))
        }  # fmt: skip
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                continue
            if node.func.id == "record" and len(node.args) >= 2:
                if isinstance(node.args[1], ast.Name) and node.args[1].id == "action":
                    continue  # inside a wrapper: its callers are checked
                yield path, node, constants
            elif node.func.id in wrappers and node.args:
                # The wrapper's call as record's would be: (session, action, ...).
                call = ast.Call(func=node.func, args=[ast.Constant(None), *node.args],
                                keywords=node.keywords)  # fmt: skip
                ast.copy_location(call, node)
                yield path, call, constants


def test_every_recorded_action_and_detail_has_words() -> None:
    keys = {key.code for key in DETAIL_KEYS}
    actions, missing = set(), []
    for path, call, constants in _record_calls():
        action = call.args[1]
        names = [n.value for n in ast.walk(action) if isinstance(n, ast.Constant)]
        names += [value for n in ast.walk(action) if isinstance(n, ast.Name)
                  for value in constants.get(n.id, [])]  # fmt: skip
        assert names, f"{path}:{call.lineno}: an action the test cannot read"
        actions.update(str(name) for name in names)
        for keyword in call.keywords:
            if keyword.arg is not None and keyword.arg not in ("actor", "tip_id", *keys):
                missing.append(f"{path.name}:{call.lineno} detail {keyword.arg}")
    missing += [f"action {a}" for a in sorted(actions - ACTION_CODES)]
    assert not missing, missing
    assert len(actions) > 30  # the walk found the calls


def test_the_log_reads_as_words_in_chinese_and_english(triage_app: Flask) -> None:
    write(triage_app, "tip.refuse", actor="desk", tip_id="0123456789abcdef",
          reason="no_clear_target")  # fmt: skip
    write(triage_app, "tip.route", actor="desk", tip_id="0123456789abcdef",
          bureau="si_agency", suggested="labor_inspection", changed=1)  # fmt: skip
    write(triage_app, "user.add", actor="root", username="li.wei", role="bureau_officer",
          region="441502", bureau="labor_inspection")  # fmt: skip
    write(triage_app, "calendar.change", actor="root", day="2025-10-13", workday=0)
    write(triage_app, "export.zip", actor="desk", words=3, some_flag="x")  # not in the table
    eve = auditor(triage_app)
    zh = visible(eve.get("/audit", headers=ZH).get_data(as_text=True))
    expected = [
        "不予受理", "举报内容不够清楚，无法确定是谁做了什么", "确认承办部门",
        "社会保险经办机构", "建议部门：劳动保障监察机构", "是", "新增账户", "承办人",
        "汕尾市城区", "更正工作日历", "工作日：否", "其他操作（export.zip）", "words：3",
        "some flag：x",
    ]  # fmt: skip
    for words in expected:
        assert words in zh, words
    for code in ("tip.refuse", "tip.route", "no_clear_target", "si_agency", "bureau_officer",
                 "user.add", "calendar.change", "{", "}", '"'):  # fmt: skip
        assert code not in zh, code
    en = visible(eve.get("/audit", headers=EN).get_data(as_text=True))
    for words in ("Did not accept a tip", "Confirmed the bureau", "Suggested bureau:",
                  "Account added", "Working day:No"):  # fmt: skip
        assert words in en, words


# China's time.


def test_times_are_shown_in_china_time(triage_app: Flask) -> None:
    late = dt.datetime(2026, 12, 3, 23, 30, tzinfo=dt.UTC)
    assert local_time(late) == "2026-12-04 07:30:00"
    assert local_time(late.replace(tzinfo=None)) == "2026-12-04 07:30:00"  # SQLite's naive
    assert local_time(late, "iso") == "2026-12-04T07:30:00+0800"
    assert local_time(None) == ""
    write(triage_app, "signin", actor="desk", at=late)
    eve = auditor(triage_app)
    page = eve.get("/audit").get_data(as_text=True)
    assert "2026-12-04 07:30:00" in page and "2026-12-03 23:30" not in page
    assert '<time datetime="2026-12-04T07:30:00+0800">' in page
    assert "北京时间" in visible(page)
    verified = eve.get("/audit/verify").get_data(as_text=True)
    assert "哈希链完整" in visible(verified)
    rows = list(csv.reader(io.StringIO(eve.get("/audit.csv").get_data(as_text=True))))
    assert [r[1] for r in rows[1:] if r[3] == "登录"][-1] == "2026-12-04 07:30:00"


def test_the_verify_page_dates_the_newest_entry(triage_app: Flask) -> None:
    write(triage_app, "signin", actor="desk", at=dt.datetime(2026, 12, 3, 23, 30, tzinfo=dt.UTC))
    eve = auditor(triage_app)  # its own sign-in is newest now; date that one instead
    with triage_app.extensions["triage"].sessions() as session:
        newest = session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
        assert newest is not None
    page = visible(eve.get("/audit/verify").get_data(as_text=True))
    assert f"#{newest.id} · {local_time(newest.at)}" in page and "检查时间：" in page


# Filters.


@pytest.fixture
def dated_log(triage_app: Flask) -> FlaskClient:
    """Entries on two China days, by two officers, about two tips; then the auditor."""
    write(triage_app, "tip.read", actor="desk", tip_id="aaaaaaaaaaaaaaaa",
          at=dt.datetime(2026, 12, 3, 15, 0, tzinfo=dt.UTC))  # 12-03 23:00 in China
    write(triage_app, "tip.accept", actor="desk", tip_id="aaaaaaaaaaaaaaaa",
          at=dt.datetime(2026, 12, 3, 23, 30, tzinfo=dt.UTC))  # 12-04 07:30 in China
    write(triage_app, "tip.read", actor="agency", tip_id="bbbbbbbbbbbbbbbb",
          at=dt.datetime(2026, 12, 4, 2, 0, tzinfo=dt.UTC))  # 12-04 10:00 in China
    return auditor(triage_app)


def shown(client: FlaskClient, query: str) -> list[tuple[str, str, str]]:
    page = client.get(f"/audit?{query}")
    assert page.status_code == 200, page.get_data(as_text=True)
    rows = re.findall(
        r'<tr data-entry="\d+" data-action="([^"]+)"><td>\d+</td><td class="when"><time '
        r'datetime="[^"]+">([^<]+)</time></td><td>([^<]*)</td>',
        page.get_data(as_text=True),
    )
    return [(action, when, who) for action, when, who in rows if who != "eve"]


def test_filters_by_actor_action_tip_and_china_days(dated_log: FlaskClient) -> None:
    assert [r[0] for r in shown(dated_log, "actor=desk")] == ["tip.accept", "tip.read"]
    assert [r[2] for r in shown(dated_log, "action=tip.read")] == ["agency", "desk"]
    assert [r[2] for r in shown(dated_log, "tip=BBBBBBBBBBBBBBBB")] == ["agency"]
    # A day is China's day: 23:30 UTC on the 3rd is the morning of the 4th.
    assert [r[1] for r in shown(dated_log, "start=2026-12-04&end=2026-12-04")] == [
        "2026-12-04 10:00:00", "2026-12-04 07:30:00",
    ]  # fmt: skip
    assert [r[1] for r in shown(dated_log, "end=2026-12-03")] == ["2026-12-03 23:00:00"]
    assert shown(dated_log, "actor=desk&action=tip.read&start=2026-12-04") == []
    page = dated_log.get("/audit?actor=desk&start=2026-12-01").get_data(as_text=True)
    assert 'value="desk"' in page and 'value="2026-12-01"' in page  # the search stays shown


@pytest.mark.parametrize(
    ("query", "said"),
    [
        ("action=tip.delete", "请从列表中选择操作。"),
        ("tip=xyz", "举报编号为16位"),
        ("start=2026-13-01", "请按“年-月-日”填写日期"),
        ("start=4.12.2026", "请按“年-月-日”填写日期"),
        ("start=2026-12-05&end=2026-12-04", "截止日期早于起始日期。"),
        ("start=0001-01-01", "2000-01-01至2999-12-31"),
        ("end=9999-12-31", "2000-01-01至2999-12-31"),
        ("actor=" + "x" * 65, "账号名最多64个字符"),
        ("page=0", "页码"),
        ("page=x", "页码"),
    ],
)
def test_a_bad_search_is_refused_with_a_reason(
    triage_app: Flask, query: str, said: str
) -> None:
    eve = auditor(triage_app)
    for path in ("/audit", "/audit.csv") if not query.startswith("page") else ("/audit",):
        answer = eve.get(f"{path}?{query}")
        assert answer.status_code == 400, (path, query)
        assert said in visible(answer.get_data(as_text=True)), (path, query)
    english = eve.get(f"/audit?{query}", headers=EN)
    assert english.status_code == 400 and "search cannot be made" in english.get_data(
        as_text=True
    )


def test_the_log_is_paged_and_pages_keep_the_search(triage_app: Flask) -> None:
    sessions = triage_app.extensions["triage"].sessions
    with transaction(sessions) as session:
        for n in range(105):
            record(session, "tip.read", actor="desk", tip_id=f"{n:016x}")
    eve = auditor(triage_app)
    first = eve.get("/audit?actor=desk").get_data(as_text=True)
    assert first.count('data-action="tip.read"') == 100 and "1 / 2" in first
    assert 'href="/audit?page=2&amp;actor=desk"' in first
    second = eve.get("/audit?actor=desk&page=2").get_data(as_text=True)
    assert second.count('data-action="tip.read"') == 5
    assert eve.get("/audit?actor=desk&page=9").status_code == 200  # past the end: empty


def test_a_sealed_tip_is_masked_and_cannot_be_searched_for(triage_app: Flask) -> None:
    submitter = triage_app.extensions["triage"].submitter
    staff_tip = submitter.submit(Report(category="internal_embezzlement", region="441502",
                                        text="x"), with_receipt=False).tip_id  # fmt: skip
    write(triage_app, "tip.route", actor="discipline", tip_id=staff_tip,
          bureau="discipline_inspection")  # fmt: skip
    eve = auditor(triage_app)
    page = eve.get("/audit").get_data(as_text=True)
    assert staff_tip not in page and "（已密封）" in page and "纪检监察" not in visible(page)
    assert shown(eve, f"tip={staff_tip}") == []
    assert staff_tip not in eve.get("/audit.csv").get_data(as_text=True)


# The CSV export.


def test_the_csv_opens_in_excel_in_the_auditors_language(triage_app: Flask) -> None:
    write(triage_app, "tip.refuse", actor="desk", tip_id="0123456789abcdef",
          reason="no_clear_target")  # fmt: skip
    eve = auditor(triage_app)
    answer = eve.get("/audit.csv?actor=desk")
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert answer.headers["Content-Disposition"].startswith("attachment; filename=audit-log-")
    data = answer.get_data()
    assert data.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs to read UTF-8
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0] == ["编号", "时间（北京时间）", "操作人", "操作", "举报", "详情"]
    [entry] = rows[1:]
    assert entry[2:] == ["desk", "不予受理", "0123456789abcdef",
                         "理由：举报内容不够清楚，无法确定是谁做了什么。"]  # fmt: skip
    english = list(csv.reader(io.StringIO(
        eve.get("/audit.csv?actor=desk", headers=EN).get_data().decode("utf-8-sig"))))  # fmt: skip
    assert english[0] == ["Entry", "When (China time)", "Who", "What", "Tip", "Detail"]
    assert english[1][3] == "Did not accept a tip"


def test_the_export_is_audited_and_not_in_its_own_file(triage_app: Flask) -> None:
    write(triage_app, "tip.read", actor="desk", tip_id="0123456789abcdef")
    eve = auditor(triage_app)
    before = newest_id(triage_app)
    exported = eve.get("/audit.csv?action=tip.read&start=2020-01-01").get_data()
    rows = list(csv.reader(io.StringIO(exported.decode("utf-8-sig"))))
    [export] = entries_since(triage_app, before)
    assert (export.action, export.actor) == ("audit.export", "eve")
    assert json.loads(export.detail) == {"count": 1, "of_action": "tip.read",
                                         "of_start": "2020-01-01"}  # fmt: skip
    assert len(rows) == 2 and str(export.id) not in [r[0] for r in rows]
    page = visible(eve.get("/audit?action=audit.export").get_data(as_text=True))
    assert "导出审计日志" in page and "按操作筛选：查阅举报" in page


@pytest.mark.parametrize("formula", ["=HYPERLINK(\"http://x\")", "+1+1", "-2+3", "@SUM(A1)"])
def test_the_csv_cannot_carry_a_formula(triage_app: Flask, formula: str) -> None:
    write(triage_app, "signin.failed", actor=formula)
    write(triage_app, "calendar.notice", actor="root", year=2027, days_off=1, working_days=0,
          reference=formula)  # fmt: skip
    rows = list(csv.reader(io.StringIO(
        auditor(triage_app).get("/audit.csv").get_data().decode("utf-8-sig"))))  # fmt: skip
    cells = [cell for row in rows for cell in row]
    assert "'" + formula in cells
    assert not any(cell.startswith(("=", "+", "-", "@")) for cell in cells)
    assert any(cell.endswith("通知：" + formula) for cell in cells)


def test_only_auditors_export(triage_app: Flask) -> None:
    for name, role in (("root", "admin"), ("desk", "triage_officer"), ("chief", "supervisor")):
        assert staff(triage_app, name, role).get("/audit.csv").status_code == 403, role


def test_an_export_too_large_is_refused_with_the_count(
    triage_app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tipline.triage import audit_views

    for n in range(3):
        write(triage_app, "tip.read", actor="desk", tip_id=f"{n:016x}")
    monkeypatch.setattr(audit_views, "MAX_EXPORT", 2)
    eve = auditor(triage_app)
    before = newest_id(triage_app)
    refused = eve.get("/audit.csv?actor=desk")
    assert refused.status_code == 400
    assert "共找到3条记录，一个文件最多2条" in visible(refused.get_data(as_text=True))
    assert entries_since(triage_app, before) == []  # nothing was exported
    assert eve.get("/audit.csv?actor=desk&action=tip.read&tip=0000000000000001").status_code == 200
