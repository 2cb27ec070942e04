"""The inbox (issue 9): rows that tell tips apart, read marks, search, assignment.

Everything through the real interfaces: the triage pages with the test client, the internal
API with bearer tokens, and the portal for the reporter's reply.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Date, Integer, select
from werkzeug.test import TestResponse

from tests.conftest import (
    csrf_token,
    make_enrolled,
    post_multipart,
    sign_in_officer,
    submit_report,
    tiny_pdf,
    visible,
)
from tipline.intake.db import transaction
from tipline.intake.models import AuditEvent, Tip, TipRead
from tipline.intake.submit import Report, ReporterIdentity
from tipline.triage import api

ZH = {"Accept-Language": "zh"}
OFFICERS = {
    # name: role, bureau, region
    "desk": ("triage_officer", "hrss_fund_supervision", "441500"),
    "desk2": ("triage_officer", "hrss_fund_supervision", "441500"),
    "boss": ("supervisor", "hrss_fund_supervision", "441500"),
    "county_desk": ("triage_officer", "hrss_fund_supervision", "441502"),
    "province_desk": ("triage_officer", "hrss_fund_supervision", "440000"),
    "labour": ("bureau_officer", "labor_inspection", "441500"),
    "labour_boss": ("supervisor", "labor_inspection", "441500"),
}
Headers = dict[str, str]


@pytest.fixture
def world(triage_app: Flask) -> dict[str, str]:
    """Tips that differ in every column the inbox shows, entered as officers enter them."""
    submitter = triage_app.extensions["triage"].submitter

    def tip(category: str, region: str, **extra: Any) -> str:
        fields: dict[str, Any] = {"channel": "letter", "received_on": dt.date(2025, 9, 30)}
        fields.update(extra)
        report = Report(category=category, region=region, text=f"举报 {region}", **fields)
        return submitter.submit(report, with_receipt=False).tip_id

    return {
        # 城区: a letter, anonymous, ¥12,000 of medical insurance.
        "letter": tip("fake_treatment", "441502", fund="medical", amount=Decimal(12_000)),
        # 海丰县: a phone call under a real name, ¥200,000 of pension, a later day.
        "phone": tip(
            "fake_docs",
            "441521",
            channel="phone",
            fund="pension",
            amount=Decimal(200_000),
            received_on=dt.date(2025, 10, 20),
            identity=ReporterIdentity("张三", "11010519491231002X", "13800138000"),
        ),  # fmt: skip
        # Outside the city's jurisdiction (深圳).
        "shenzhen": tip("fake_docs", "440305", amount=Decimal(12_000)),
        # About staff: sealed, discipline inspection only.
        "staff": tip("benefit_impostor", "441502", suspect_kind="agency_staff"),
    }


@pytest.fixture
def people(triage_app: Flask) -> dict[str, tuple[Headers, str, int]]:
    """Every officer of OFFICERS: their API header, TOTP secret and id."""
    services = triage_app.extensions["triage"]
    found = {}
    with transaction(services.sessions) as session:
        for name, (role, bureau, region) in OFFICERS.items():
            officer, secret = make_enrolled(
                session, services.officer_secrets, name, role=role, bureau=bureau, region=region
            )
            token = api.issue_token(session, name, actor="test")
            found[name] = ({"Authorization": f"Bearer {token}"}, secret, officer.id)
    return found


def page_of(app: Flask, people: dict[str, tuple[Headers, str, int]], name: str) -> FlaskClient:
    return sign_in_officer(app, name, people[name][1])


def listed(client: FlaskClient, query: str = "") -> list[str]:
    response = client.get("/" + query, headers=ZH)
    assert response.status_code == 200, visible(response.get_data(as_text=True))[:2000]
    return re.findall(r'<tr data-tip="([0-9a-f]{16})"', response.get_data(as_text=True))


def listed_by_api(client: FlaskClient, headers: Headers, query: str = "") -> list[str]:
    response = client.get(f"/api/v1/tips{query}", headers=headers)
    assert response.status_code == 200, response.get_json()
    return [item["id"] for item in response.get_json()["tips"]]


def row(body: str, tip_id: str) -> str:
    """The visible text of one inbox row."""
    match = re.search(rf'<tr data-tip="{tip_id}".*?</tr>', body, re.S)
    assert match, f"no row for {tip_id}"
    return visible(match.group(0))


def audit(app: Flask, action: str) -> list[AuditEvent]:
    with app.extensions["triage"].sessions() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def holder(app: Flask, tip_id: str) -> int | None:
    with app.extensions["triage"].sessions() as session:
        found = session.get(Tip, tip_id)
        assert found is not None
        return found.assigned_to


# Rows.


def test_each_row_tells_the_tip_apart_in_words(
    triage_app: Flask, world: dict[str, str], people: Any
) -> None:
    desk = page_of(triage_app, people, "desk")
    body = desk.get("/", headers=ZH).get_data(as_text=True)
    letter, phone = row(body, world["letter"]), row(body, world["phone"])
    # The place below the officer's own city, the whole name in its title.
    assert 'title="广东省汕尾市城区">城区<' in body
    for words in ("城区", "医疗保险", "1万–3万元", "信件", "匿名", "已收到"):
        assert words in letter, (words, letter)
    for words in ("海丰县", "养老保险", "10万–50万元", "电话", "实名"):
        assert words in phone, (words, phone)
    # Age and the nearest deadline, in words: which rule, when, how far.
    assert re.search(r"已收到 \d+ 个工作日（\d+ 天）", letter), letter
    assert "决定是否受理" in letter and re.search(r"已超期 \d+ 个工作日", letter), letter
    # Lead bureau not chosen yet: the suggestion, in words; nobody holds it.
    assert "建议" in letter and "尚未分派" in letter
    # No code in the Chinese rows.
    for code in ("fake_treatment", "medical", "letter", "10k-30k", "T1", "working_days"):
        assert code not in letter, code
    # The screen's width.
    assert 'class="wide inbox"' in body


def test_the_english_rows_use_words_too(
    triage_app: Flask, world: dict[str, str], people: Any
) -> None:
    desk = page_of(triage_app, people, "desk")
    body = desk.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    letter = row(body, world["letter"])
    for words in ("10,000 to 30,000 yuan", "Letter", "Anonymous", "Decide whether to accept"):
        assert words in letter, (words, letter)
    assert re.search(r"\d+ working days \(\d+ days\) since receipt", letter), letter


# Read marks.


def test_a_tip_is_unread_until_the_officer_opens_it(
    triage_app: Flask, world: dict[str, str], people: Any
) -> None:
    desk, desk2 = page_of(triage_app, people, "desk"), page_of(triage_app, people, "desk2")
    body = desk.get("/", headers=ZH).get_data(as_text=True)
    assert "未读" in row(body, world["letter"])
    unread = int(re.search(r'id="unread-count">(\d+)<', body).group(1))  # type: ignore[union-attr]
    assert desk.get(f"/tips/{world['letter']}").status_code == 200
    body = desk.get("/", headers=ZH).get_data(as_text=True)
    assert "未读" not in row(body, world["letter"]) and "未读" in row(body, world["phone"])
    assert f'id="unread-count">{unread - 1}<' in body
    # Per officer: the other desk officer has not read it.
    assert "未读" in row(desk2.get("/", headers=ZH).get_data(as_text=True), world["letter"])


def test_read_marks_hold_no_time_of_day(triage_app: Flask) -> None:
    """Only the officer's day and a timeline id: nothing dates the reporter more finely."""
    kinds = {c.name: type(c.type) for c in TipRead.__table__.columns}
    assert kinds == {"officer_id": Integer, "tip_id": kinds["tip_id"], "read_on": Date,
                     "seen_event": Integer}  # fmt: skip


def test_a_reporters_reply_and_evidence_show_as_new_from_the_reporter(
    triage_app: Flask, portal_app: Flask, people: Any
) -> None:
    reporter = portal_app.test_client()
    receipt = submit_report(reporter, text="某诊所串换药品")
    with triage_app.extensions["triage"].sessions() as session:
        tip_id = session.scalars(select(Tip.id)).one()
    desk = page_of(triage_app, people, "desk")
    assert desk.get(f"/tips/{tip_id}").status_code == 200
    assert "举报人有新消息" not in row(desk.get("/", headers=ZH).get_data(as_text=True), tip_id)
    # The officer writes; that is no news from the reporter.
    token = csrf_token(desk, f"/tips/{tip_id}")
    sent = desk.post(
        f"/tips/{tip_id}/messages",
        data={"message-csrf_token": token, "message-text": "是哪一家诊所？"},
    )
    assert sent.status_code == 302
    assert "举报人有新消息" not in row(desk.get("/", headers=ZH).get_data(as_text=True), tip_id)
    # The reporter answers through the portal.
    checked = reporter.post(
        "/check", data={"csrf_token": csrf_token(reporter, "/check"), "receipt": receipt}
    )
    assert checked.status_code == 302
    portal_token = csrf_token(reporter, "/my-report")
    answered = reporter.post(
        "/my-report/messages", data={"csrf_token": portal_token, "text": "城区某诊所"}
    )
    assert answered.status_code == 302
    body = desk.get("/", headers=ZH).get_data(as_text=True)
    assert "举报人有新消息" in row(body, tip_id) and "未读" not in row(body, tip_id)
    # An officer who never opened it sees it unread, not "new".
    boss = page_of(triage_app, people, "boss")
    boss_row = row(boss.get("/", headers=ZH).get_data(as_text=True), tip_id)
    assert "未读" in boss_row and "举报人有新消息" not in boss_row
    # Opening the tip clears the mark; evidence the reporter adds raises it again.
    desk.get(f"/tips/{tip_id}")
    assert "举报人有新消息" not in row(desk.get("/", headers=ZH).get_data(as_text=True), tip_id)
    added = post_multipart(
        reporter, "/my-report/evidence",
        {"csrf_token": portal_token, "attachments": [(io.BytesIO(tiny_pdf()), "发票.pdf")]},
    )  # fmt: skip
    assert added.status_code == 302
    assert "举报人有新消息" in row(desk.get("/", headers=ZH).get_data(as_text=True), tip_id)


# Search: every filter, on the page and in the API, with the same answer.


def both(
    client: FlaskClient, headers: Headers, page_query: str, api_query: str
) -> tuple[set[str], set[str]]:
    return set(listed(client, page_query)), set(listed_by_api(client, headers, api_query))


@pytest.mark.parametrize(
    ("page_query", "api_query", "expected"),
    [
        ("", "", {"letter", "phone"}),
        ("?tip_id={letter}", "?id={letter}", {"letter"}),
        ("?tip_id={letter_prefix}", "?id={letter_prefix}", {"letter"}),
        ("?received_from=2025-10-01", "?received_from=2025-10-01", {"phone"}),
        ("?received_to=2025-10-01", "?received_to=2025-10-01", {"letter"}),
        (
            "?received_from=2025-09-30&received_to=2025-10-20",
            "?received_from=2025-09-30&received_to=2025-10-20",
            {"letter", "phone"},
        ),
        ("?county=441521", "?region=441521", {"phone"}),
        ("?amount_band=10k-30k", "?amount_band=10k-30k", {"letter"}),
        ("?channel=phone", "?channel=phone", {"phone"}),
        ("?real_name=yes", "?real_name=true", {"phone"}),
        ("?real_name=no", "?real_name=false", {"letter"}),
        ("?category=fake_docs", "?category=fake_docs", {"phone"}),
        ("?status=received", "?status=received", {"letter", "phone"}),
        ("?overdue=y", "?overdue=true", {"letter", "phone"}),
        ("?mine=y", "?mine=true", set()),
        ("?channel=letter&real_name=yes", "?channel=letter&real_name=true", set()),
    ],
)
def test_every_filter_finds_the_same_tips_on_the_page_and_in_the_api(
    triage_app: Flask,
    world: dict[str, str],
    people: Any,
    page_query: str,
    api_query: str,
    expected: set[str],
) -> None:
    values = {**world, "letter_prefix": world["letter"][:6]}
    desk = page_of(triage_app, people, "desk")
    on_page, by_api = both(
        desk, people["desk"][0], page_query.format(**values), api_query.format(**values)
    )
    wanted = {world[name] for name in expected}
    assert on_page == wanted and by_api == wanted


def test_bureau_and_mine_filters_follow_routing_and_assignment(
    triage_app: Flask, world: dict[str, str], people: Any
) -> None:
    client = triage_app.test_client()
    routed = client.post(
        f"/api/v1/tips/{world['phone']}/route", headers=people["desk"][0],
        json={"bureau": "labor_inspection", "reason": "劳动关系"},
    )  # fmt: skip
    assert routed.status_code == 200, routed.get_json()
    desk = page_of(triage_app, people, "desk")
    assert both(desk, people["desk"][0], "?bureau=labor_inspection",
                "?bureau=labor_inspection") == ({world["phone"]}, {world["phone"]})  # fmt: skip
    assert both(desk, people["desk"][0], "?status=screened", "?status=screened") == (
        {world["phone"]}, {world["phone"]},
    )  # fmt: skip
    assigned = client.post(
        f"/api/v1/tips/{world['letter']}/assign", headers=people["boss"][0],
        json={"officer": "desk"},
    )  # fmt: skip
    assert assigned.status_code == 200, assigned.get_json()
    assert both(desk, people["desk"][0], "?mine=y", "?mine=true") == (
        {world["letter"]}, {world["letter"]},
    )  # fmt: skip
    assert 'id="mine-count">1<' in desk.get("/", headers=ZH).get_data(as_text=True)


def test_a_province_officer_picks_a_city_then_a_county_without_javascript(
    triage_app: Flask, world: dict[str, str], people: Any
) -> None:
    province = page_of(triage_app, people, "province_desk")
    body = province.get("/", headers=ZH).get_data(as_text=True)
    assert 'name="city"' in body and "汕尾市" in body and "深圳市" in body
    assert 'name="county"' not in body  # no city chosen yet
    # Choosing the city and asking for its counties reloads the form with them.
    body = province.get("/?city=441500&refine=city", headers=ZH).get_data(as_text=True)
    assert 'name="county"' in body and "海丰县" in body and "福田区" not in body
    assert set(listed(province, "?city=441500")) == {world["letter"], world["phone"]}
    assert set(listed(province, "?city=440300")) == {world["shenzhen"]}
    assert set(listed(province, "?city=441500&county=441502")) == {world["letter"]}
    # A county left over from another city is dropped when the city changes.
    assert set(listed(province, "?city=440300&county=441502")) == {world["shenzhen"]}
    assert set(listed_by_api(province, people["province_desk"][0], "?region=440300")) == {
        world["shenzhen"]
    }


# Filters offer only what applies to the viewer.


def select_options(body: str, name: str) -> list[str] | None:
    match = re.search(rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', body, re.S)
    return re.findall(r'value="([^"]*)"', match.group(1)) if match else None


def test_filters_offer_only_what_applies_to_each_role(
    triage_app: Flask, world: dict[str, str], people: Any
) -> None:
    client = triage_app.test_client()
    client.post(f"/api/v1/tips/{world['phone']}/route", headers=people["desk"][0],
                json={"bureau": "labor_inspection", "reason": "劳动关系"})  # fmt: skip
    desk = page_of(triage_app, people, "desk").get("/", headers=ZH).get_data(as_text=True)
    # The intake desk: the bureaus its tips are with, the statuses they have, the counties
    # of its city; channels and amounts its tips came with.
    assert select_options(desk, "bureau") == ["", "labor_inspection"]
    assert select_options(desk, "status") == ["", "received", "screened"]
    counties = select_options(desk, "county") or []
    assert "441502" in counties and "441521" in counties and "440305" not in counties
    assert select_options(desk, "city") is None
    assert select_options(desk, "channel") == ["", "phone", "letter"]
    assert select_options(desk, "amount_band") == ["", "10k-30k", "100k-500k"]
    # A bureau officer: no bureau filter (their own bureau's tips only).
    labour = page_of(triage_app, people, "labour").get("/", headers=ZH).get_data(as_text=True)
    assert select_options(labour, "bureau") is None
    assert select_options(labour, "status") == ["", "screened"]  # the statuses it has
    # A county's officer: no region to choose within one county.
    county = page_of(triage_app, people, "county_desk").get("/", headers=ZH)
    body = county.get_data(as_text=True)
    assert select_options(body, "county") is None and select_options(body, "city") is None
    # The supervisor of the intake desk sees the same lists as its officers.
    boss = page_of(triage_app, people, "boss").get("/", headers=ZH).get_data(as_text=True)
    assert select_options(boss, "bureau") == ["", "labor_inspection"]


# Scoping: a search never reveals a tip out of scope.


def test_a_search_never_reveals_a_tip_out_of_scope(
    triage_app: Flask, world: dict[str, str], people: Any
) -> None:
    desk = page_of(triage_app, people, "desk")
    headers = people["desk"][0]
    for hidden in ("shenzhen", "staff"):
        assert listed(desk, f"?tip_id={world[hidden]}") == []
        assert listed_by_api(desk, headers, f"?id={world[hidden]}") == []
        # The same answer as for a tip that does not exist.
        assert listed(desk, "?tip_id=0123456789abcdef") == []
    # A region outside the jurisdiction is refused, not searched.
    outside = desk.get("/?county=440305", headers=ZH)
    assert outside.status_code == 400 and world["shenzhen"] not in outside.get_data(as_text=True)
    response = desk.get("/api/v1/tips?region=440305", headers=headers)
    assert response.status_code == 400
    assert response.get_json()["problems"][0]["field"] == "region"
    # A bureau officer filtering by another lead bureau finds only what it co-handles.
    labour = page_of(triage_app, people, "labour")
    assert listed(labour, "?bureau=si_agency") == []
    assert listed_by_api(labour, people["labour"][0], "?bureau=si_agency") == []
    # Searches for the county officer never reach 海丰县.
    county = page_of(triage_app, people, "county_desk")
    assert listed(county, f"?tip_id={world['phone']}") == []
    wider = county.get("/api/v1/tips?region=441500", headers=people["county_desk"][0])
    assert wider.status_code == 400


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("?received_from=2025-13-01", "请按“年-月-日”填写日期"),
        ("?received_from=2025-10-20&received_to=2025-10-01", "截止日期早于起始日期"),
        ("?tip_id=xyz", "举报编号由4至16位"),
        ("?channel=pigeon", "请从列表中选择举报渠道"),
        ("?amount_band=lots", "请从列表中选择金额区间"),
        ("?real_name=maybe", "请从列表中选择"),
        ("?status=closed", "请从列表中选择"),
        ("?county=999999", "请从列表中选择区县"),
        ("?category=nonsense", "请从列表中选择违法违规类型"),
    ],
)
def test_bad_search_input_is_a_400_with_a_message(
    triage_app: Flask, world: dict[str, str], people: Any, query: str, words: str
) -> None:
    desk = page_of(triage_app, people, "desk")
    response = desk.get("/" + query, headers=ZH)
    assert response.status_code == 400
    text = visible(response.get_data(as_text=True))
    assert "检索条件有误" in text and words in text, text[:1500]
    # Nothing is listed while the search is wrong.
    assert not re.findall(r'<tr data-tip="', response.get_data(as_text=True))


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?received_from=2025-13-01", "received_from"),
        ("?received_from=20251001", "received_from"),
        ("?received_from=2025-10-20&received_to=2025-10-01", "received_to"),
        ("?id=XYZ", "id"),
        ("?id=abc", "id"),
        ("?region=44", "region"),
        ("?region=000000", "region"),
        ("?channel=pigeon", "channel"),
        ("?amount_band=lots", "amount_band"),
        ("?real_name=yes", "real_name"),
        ("?mine=1", "mine"),
    ],
)
def test_bad_api_search_input_is_a_400_naming_the_field(
    triage_app: Flask, people: Any, query: str, field: str
) -> None:
    response = triage_app.test_client().get(
        f"/api/v1/tips{query}", headers={**people["desk"][0], **ZH}
    )
    assert response.status_code == 400
    [found] = response.get_json()["problems"]
    assert found["field"] == field and found["message"]


# Assignment.


def post_assign(client: FlaskClient, tip_id: str, officer: str | int) -> TestResponse:
    token = csrf_token(client, f"/tips/{tip_id}")
    return client.post(
        f"/tips/{tip_id}/assign",
        data={"assign-csrf_token": token, "assign-officer": str(officer)},
        headers=ZH,
    )


def test_a_supervisor_assigns_a_tip_to_an_officer_who_can_see_it(
    triage_app: Flask, world: dict[str, str], people: Any
) -> None:
    boss = page_of(triage_app, people, "boss")
    page = boss.get(f"/tips/{world['phone']}", headers=ZH).get_data(as_text=True)
    options = select_options(page, "assign-officer") or []
    # Officers of the intake desk who see 海丰县; not the county's officer, not labour.
    assert str(people["desk"][2]) in options and str(people["boss"][2]) in options
    assert str(people["county_desk"][2]) not in options
    assert str(people["labour"][2]) not in options
    assert post_assign(boss, world["phone"], people["desk"][2]).status_code == 302
    assert holder(triage_app, world["phone"]) == people["desk"][2]
    [entry] = audit(triage_app, "tip.assign")
    assert entry.actor == "boss" and entry.tip_id == world["phone"] and "desk" in entry.detail
    page = boss.get(f"/tips/{world['phone']}", headers=ZH).get_data(as_text=True)
    assert 'id="assigned-to">desk<' in page
    # The tip's officer sees it as theirs, in the row and on the page.
    desk = page_of(triage_app, people, "desk")
    assert "我" in row(desk.get("/", headers=ZH).get_data(as_text=True), world["phone"])
    assert "您本人（desk）" in visible(desk.get(f"/tips/{world['phone']}", headers=ZH)
                                     .get_data(as_text=True))  # fmt: skip
    # An officer who cannot see the tip cannot be given it.
    refused = post_assign(boss, world["phone"], people["county_desk"][2])
    assert refused.status_code == 400
    assert "请选择承办部门中能查看该举报的工作人员" in visible(refused.get_data(as_text=True))
    assert holder(triage_app, world["phone"]) == people["desk"][2]
    # The supervisor takes it back to nobody.
    assert post_assign(boss, world["phone"], "").status_code == 302
    assert holder(triage_app, world["phone"]) is None


def test_an_officer_takes_a_tip_on_and_gives_it_back_but_assigns_nobody_else(
    triage_app: Flask, world: dict[str, str], people: Any
) -> None:
    desk = page_of(triage_app, people, "desk")
    page = desk.get(f"/tips/{world['letter']}", headers=ZH).get_data(as_text=True)
    assert 'id="take-form"' in page and 'id="assign-form"' not in page
    # Not someone else.
    refused = post_assign(desk, world["letter"], people["desk2"][2])
    assert refused.status_code == 400
    assert "只有承办部门的负责人才能将举报分派给他人" in visible(refused.get_data(as_text=True))
    assert post_assign(desk, world["letter"], people["desk"][2]).status_code == 302
    assert holder(triage_app, world["letter"]) == people["desk"][2]
    page = desk.get(f"/tips/{world['letter']}", headers=ZH).get_data(as_text=True)
    assert 'id="release-form"' in page and 'id="take-form"' not in page
    # Another officer can no longer take it, nor give it back.
    desk2 = page_of(triage_app, people, "desk2")
    page = desk2.get(f"/tips/{world['letter']}", headers=ZH).get_data(as_text=True)
    assert 'id="take-form"' not in page and 'id="release-form"' not in page
    assert post_assign(desk2, world["letter"], people["desk2"][2]).status_code == 400
    assert post_assign(desk2, world["letter"], "").status_code == 400
    assert post_assign(desk, world["letter"], "").status_code == 302
    assert holder(triage_app, world["letter"]) is None
    assert [e.actor for e in audit(triage_app, "tip.assign")] == ["desk", "desk"]


def test_assignment_stays_within_the_lead_bureau(
    triage_app: Flask, world: dict[str, str], people: Any
) -> None:
    client = triage_app.test_client()
    boss = page_of(triage_app, people, "boss")
    assert post_assign(boss, world["phone"], people["desk"][2]).status_code == 302
    # Routed to labour inspection: the intake desk's assignment ends there.
    routed = client.post(f"/api/v1/tips/{world['phone']}/route", headers=people["desk"][0],
                         json={"bureau": "labor_inspection", "reason": "劳动关系"})  # fmt: skip
    assert routed.status_code == 200
    assert holder(triage_app, world["phone"]) is None
    # Now labour inspection's supervisor assigns it; the intake desk's supervisor does not.
    page = boss.get(f"/tips/{world['phone']}", headers=ZH).get_data(as_text=True)
    assert 'id="assign-form"' not in page and 'id="take-form"' not in page
    assert post_assign(boss, world["phone"], people["desk"][2]).status_code == 400
    labour_boss = page_of(triage_app, people, "labour_boss")
    page = labour_boss.get(f"/tips/{world['phone']}", headers=ZH).get_data(as_text=True)
    assert select_options(page, "assign-officer") == [
        "", str(people["labour"][2]), str(people["labour_boss"][2])
    ]  # fmt: skip
    assert post_assign(labour_boss, world["phone"], people["labour"][2]).status_code == 302
    labour = page_of(triage_app, people, "labour")
    assert listed(labour, "?mine=y") == [world["phone"]]


def test_recusal_unassigns_the_recusing_officer(
    triage_app: Flask, world: dict[str, str], people: Any
) -> None:
    desk = page_of(triage_app, people, "desk")
    assert post_assign(desk, world["letter"], people["desk"][2]).status_code == 302
    token = csrf_token(desk, f"/tips/{world['letter']}")
    recused = desk.post(
        f"/tips/{world['letter']}/recuse", data={"recuse-csrf_token": token, "confirm": "1"}
    )
    assert recused.status_code == 302
    assert holder(triage_app, world["letter"]) is None
    assert listed(desk, "?mine=y") == []


def test_assignment_through_the_api(triage_app: Flask, world: dict[str, str], people: Any) -> None:
    client = triage_app.test_client()

    def assign(by: str, officer: Any, tip: str = "letter") -> TestResponse:
        return client.post(f"/api/v1/tips/{world[tip]}/assign", headers=people[by][0],
                           json={"officer": officer})  # fmt: skip

    done = assign("boss", "desk")
    assert done.status_code == 200 and done.get_json()["assigned_to"] == "desk"
    listed_tips = client.get("/api/v1/tips?mine=true", headers=people["desk"][0]).get_json()
    assert [t["id"] for t in listed_tips["tips"]] == [world["letter"]]
    assert listed_tips["tips"][0]["assigned_to"] == "desk"
    # An officer assigns nobody else; an officer who cannot see it is not eligible.
    assert assign("desk", "desk2").status_code == 409
    refused = assign("boss", "county_desk", tip="phone")
    assert refused.status_code == 400 and refused.get_json()["problems"][0]["field"] == "officer"
    assert assign("boss", "no-such-officer").status_code == 400
    # Out of scope is 404, as for every tip the officer cannot see.
    assert assign("boss", "boss", tip="shenzhen").status_code == 404
    assert assign("labour", "labour").status_code == 404
    # Bad bodies.
    assert assign("boss", 7).status_code == 400
    missing = client.post(f"/api/v1/tips/{world['letter']}/assign", headers=people["boss"][0],
                          json={})  # fmt: skip
    assert missing.status_code == 400
    # The holder gives it back.
    back = assign("desk", None)
    assert back.status_code == 200 and back.get_json()["assigned_to"] is None
    assert [e.actor for e in audit(triage_app, "tip.assign")] == ["boss", "desk"]


def test_roles_without_tips_may_not_assign(triage_app: Flask, world: dict[str, str]) -> None:
    from tipline.triage import access

    assert (
        access.ALLOWED["triage.assign"]
        == access.ALLOWED["api.assign"]
        == frozenset({"triage_officer", "bureau_officer", "supervisor"})
    )
