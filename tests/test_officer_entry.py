"""The officer's entry form (issue 9): tips that came by telephone, letter, fax, e-mail or a
visit, with the public form's region picker and fields, and a receipt for the reporter.

Everything goes through the triage app's pages as an officer would use them; the receipt
is then used on the public site as the reporter would.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import MetaData, select
from werkzeug.test import TestResponse

from tests.conftest import csrf_token, new_officer, post_multipart, tiny_pdf, visible
from tipline.intake.config import Config
from tipline.intake.models import AuditEvent, Tip
from tipline.intake.reading import open_tip

ZH = {"Accept-Language": "zh"}
EN = {"Accept-Language": "en"}
ID = {"name": "王小明", "id_number": "11010519491231002X", "phone": "138-0013-8000"}
GROUPS = re.compile(r'<span class="digits">(\d{4})</span>')


def full_entry(client: FlaskClient, **fields: Any) -> dict[str, Any]:
    """Every field of the form filled in, as for a visit by a named reporter."""
    data: dict[str, Any] = {
        "csrf_token": csrf_token(client, "/tips/new"),
        "channel": "visit",
        "received_on": "2025-09-30",
        "category": "benefit_impostor",
        "fund": "pension",
        "suspect_kind": "individual",
        "unit_level": "county",
        "suspect_name": "李某（已故）的家属",
        "province": "440000",
        "city": "441500",
        "county": "441502",
        "happened_start": "2023-01-01",
        "happened_end": "2025-08-31",
        "ongoing": "y",
        "amount": "8.64万",
        "text": "来访反映：某人去世后家属继续领取养老金。",
        "how_known": "affected",
        **ID,
        "wants_notice": "y",
    }
    data.update(fields)
    return data


def enter(client: FlaskClient, data: dict[str, Any], **kwargs: Any) -> TestResponse:
    return post_multipart(client, "/tips/new", data, **kwargs)


@pytest.fixture
def desk(triage_app: Flask) -> FlaskClient:
    """An intake-desk officer of 汕尾 (the office where tips are entered)."""
    return new_officer(triage_app, "desk", role="triage_officer",
                       bureau="hrss_fund_supervision", region="441500")  # fmt: skip


def tips(app: Flask) -> list[Tip]:
    with app.extensions["triage"].sessions() as session:
        return list(session.scalars(select(Tip)))


def selected(page: str, name: str) -> str | None:
    """The value chosen in the select ``name`` of a page."""
    select_html = re.search(rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', page, re.S)
    assert select_html, f"no list {name}"
    chosen = re.search(r'<option selected value="([^"]*)"', select_html.group(1))
    return chosen.group(1) if chosen else None


def options(page: str, name: str) -> set[str]:
    select_html = re.search(rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', page, re.S)
    assert select_html, f"no list {name}"
    return set(re.findall(r'value="(\d{6})"', select_html.group(1)))


# -- the region picker ---------------------------------------------------------------------


def test_the_region_picker_starts_at_the_office_and_works_without_javascript(
    triage_app: Flask, desk: FlaskClient
) -> None:
    page = desk.get("/tips/new", headers=ZH).get_data(as_text=True)
    # No typed code: three lists, starting at the officer's own region (汕尾市).
    assert 'name="region"' not in page
    assert (selected(page, "province"), selected(page, "city")) == ("440000", "441500")
    assert "441502" in options(page, "county")  # 城区, under 汕尾
    assert 'name="refine" value="province"' in page and 'name="refine" value="city"' in page

    # Without JavaScript: choose another province and press its button; the next list is
    # filled in, what was typed is kept, nothing is checked or stored.
    data = full_entry(desk, province="110000", city="", county="", refine="province",
                      text="来电反映：北京某诊所骗保。")  # fmt: skip
    shown = enter(desk, data, headers=ZH)
    assert shown.status_code == 200
    page = shown.get_data(as_text=True)
    assert selected(page, "province") == "110000"
    assert "110101" in options(page, "city")  # 东城区 hangs straight under 北京市
    assert "来电反映：北京某诊所骗保。" in page
    assert "error-summary" not in page
    assert tips(triage_app) == []

    # A county within a city: choose the city, press its button, the counties appear.
    data = full_entry(desk, province="440000", city="440300", county="", refine="city")
    page = enter(desk, data, headers=ZH).get_data(as_text=True)
    assert selected(page, "city") == "440300"
    assert "440305" in options(page, "county")  # 南山区, 深圳市

    # The picked place is stored (the county when there is one).
    assert enter(desk, full_entry(desk, city="440300", county="440305")).status_code == 302
    [tip] = tips(triage_app)
    assert tip.region == "440305"


def test_a_region_not_chosen_is_asked_for_at_the_picker(
    triage_app: Flask, desk: FlaskClient
) -> None:
    response = enter(desk, full_entry(desk, province="", city="", county=""), headers=ZH)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert 'id="province-error"' in page and "请选择发生地点。" in page
    assert '<a href="#province">' in page  # the summary leads to the picker
    assert tips(triage_app) == []


# -- validation ----------------------------------------------------------------------------


def test_identity_is_checked_by_the_public_sites_validator(
    triage_app: Flask, desk: FlaskClient
) -> None:
    # The check digit is wrong (…0021 for …002X): the shared validator (ric_problem).
    bad = enter(desk, full_entry(desk, id_number="110105194912310021"), headers=ZH)
    assert bad.status_code == 400
    assert "校验位不符" in visible(bad.get_data(as_text=True))
    assert "请与举报人逐位核对" in visible(bad.get_data(as_text=True))  # the officer's words
    english = enter(desk, full_entry(desk, id_number="110105194912310021"), headers=EN)
    assert "check digit does not match" in english.get_data(as_text=True)

    # Only a name: the ID number and the telephone are asked for in the same round.
    page = enter(desk, full_entry(desk, id_number="", phone=""), headers=EN).get_data(as_text=True)
    assert "Give the reporter&#39;s resident identity card number." in page
    assert "Give a telephone number where the reporter can be reached." in page
    # A birth date that is not a date, a telephone of the wrong length.
    page = enter(desk, full_entry(desk, id_number="110105194913310021", phone="12345"),
                 headers=ZH).get_data(as_text=True)  # fmt: skip
    assert "出生日期" in page and "11 位手机号码" in page
    # Wanting to be told without a name.
    page = enter(desk, full_entry(desk, name="", id_number="", phone=""),
                 headers=ZH).get_data(as_text=True)  # fmt: skip
    assert "举报人如需获知是否受理，须提供姓名、居民身份证号码和电话。" in page
    assert tips(triage_app) == []

    # The telephone as people say it, the amount as people write it: both read.
    assert enter(desk, full_entry(desk, phone="(0660) 3388-1234")).status_code == 302
    with triage_app.extensions["triage"].sessions() as session:
        [tip] = session.scalars(select(Tip)).all()
        assert tip.real_name and tip.amount_band == "30k-100k"  # 8.64万


def test_every_problem_is_shown_in_one_round_and_nothing_typed_is_lost(
    triage_app: Flask, desk: FlaskClient
) -> None:
    data = full_entry(
        desk, channel="", category="", received_on="30/09/2025", amount="很多",
        happened_start="2025-08-31", happened_end="2023-01-01", how_known="",
        suspect_name="某" * 201, id_number="1234", text="   ",
    )  # fmt: skip
    response = enter(desk, data, headers=ZH)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    for field, words in {
        "channel": "请选择举报来源。",
        "category": "请从列表中选择",
        "received_on": "请按“年-月-日”填写日期",
        "amount": "请用数字填写金额",
        "happened_end": "结束时间早于开始时间",
        "suspect_name": "最多 200 字。",
        "id_number": "居民身份证号码为18位",
        "text": "请记录举报人反映的内容。",
    }.items():
        error = re.search(rf'id="{field}-error">(.*?)</p>', page, re.S)
        assert error, f"no message at {field}"
        assert words in error.group(1), (field, error.group(1))
        assert f'<a href="#{field}">' in page  # listed in the summary at the top
    # What was typed comes back.
    assert "1234" in page and "很多" in page and "王小明" in page
    assert selected(page, "county") == "441502"
    # The same in English: no Chinese, every message its own words.
    english = enter(desk, data, headers=EN).get_data(as_text=True)
    assert "Choose how the tip arrived." in english
    assert "Give the date as year-month-day, e.g. 2025-09-30." in english
    assert "The end comes before the start." in english
    assert tips(triage_app) == []


@pytest.mark.parametrize(
    "hostile",
    [
        {"province": "999999", "city": "999999", "county": "999999"},
        {"channel": "web"},
        {"fund": "nonsense"},
        {"how_known": "<script>"},
        {"received_on": "2999-01-01"},
        {"happened_start": "0000-00-00"},
        {"amount": "1e400"},
        {"id_number": "x" * 25},
        {"wants_receipt": "maybe"},
    ],
)
def test_odd_values_are_refused_with_words_never_a_500(
    triage_app: Flask, desk: FlaskClient, hostile: dict[str, str]
) -> None:
    response = enter(desk, full_entry(desk, **hostile), headers=ZH)
    if hostile == {"wants_receipt": "maybe"}:  # a checkbox sent is a checkbox ticked
        assert response.status_code == 303
        return
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    # Told in Chinese, at the field.
    assert re.search(r'class="error" id="[a-z_]+-error">[^<]*[\u4e00-\u9fff]', page)
    assert tips(triage_app) == []


def test_files_are_stored_and_a_form_shown_again_asks_for_them_again(
    triage_app: Flask, desk: FlaskClient
) -> None:
    evidence = [(io.BytesIO(tiny_pdf("来信")), "来信扫描.pdf")]
    again = enter(desk, full_entry(desk, text="", attachments=evidence), headers=ZH)
    assert again.status_code == 400
    assert "表单重新显示时不保留已选文件，请重新选择。" in again.get_data(as_text=True)
    evidence = [(io.BytesIO(tiny_pdf("来信")), "来信扫描.pdf")]
    stored = enter(desk, full_entry(desk, attachments=evidence))
    assert stored.status_code == 302
    page = desk.get(stored.headers["Location"]).get_data(as_text=True)
    assert "来信扫描.pdf" in page


# -- what is stored ------------------------------------------------------------------------


def test_every_field_is_stored_and_opens_for_the_officer(
    triage_app: Flask, desk: FlaskClient
) -> None:
    response = enter(desk, full_entry(desk, channel="phone"))
    assert response.status_code == 302  # no receipt wanted: straight to the tip
    tip_id = response.headers["Location"].rsplit("/", 1)[-1]
    page = visible(desk.get(f"/tips/{tip_id}", headers=ZH).get_data(as_text=True))
    assert "来访反映：某人去世后家属继续领取养老金。" in page
    assert "电话" in page and "广东省汕尾市城区" in page and "李某（已故）的家属" in page
    services = triage_app.extensions["triage"]
    with services.sessions() as session:
        tip = session.get(Tip, tip_id)
        assert tip is not None
        assert (tip.channel, tip.received_on, tip.category, tip.fund, tip.suspect_kind,
                tip.unit_level, tip.region) == (
            "phone", dt.date(2025, 9, 30), "benefit_impostor", "pension", "individual",
            "county", "441502")  # fmt: skip
        assert tip.real_name and tip.wants_notice and tip.identity is not None
        assert tip.reporter_locator is None  # no receipt asked for
        opened = open_tip(tip, services.keyring)
        assert opened.details == {
            "text": "来访反映：某人去世后家属继续领取养老金。",
            "amount": "86400",
            "suspect_name": "李某（已故）的家属",
            "happened_start": "2023-01-01",
            "happened_end": "2025-08-31",
            "ongoing": True,
            "how_known": "affected",
        }
        assert "王小明".encode() not in tip.identity.data  # sealed in its own envelope


# -- the receipt ---------------------------------------------------------------------------


def receipt_of(page: str) -> str:
    groups = GROUPS.findall(page)
    assert len(groups) == 6, page
    return " ".join(groups)


def test_a_receipt_read_out_lets_the_reporter_follow_up_on_the_public_site(
    triage_app: Flask, desk: FlaskClient, portal: FlaskClient
) -> None:
    response = enter(desk, full_entry(desk, channel="phone", wants_receipt="y"))
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/tips/new/receipt")
    shown = desk.get("/tips/new/receipt", headers=ZH)
    assert shown.status_code == 200
    page = shown.get_data(as_text=True)
    code = receipt_of(page)
    words = visible(page)
    assert "此回执码只显示这一次。" in words and "查询举报进度" in words
    [tip] = tips(triage_app)
    assert tip.reporter_locator == code.replace(" ", "")[:8]
    assert f"/tips/{tip.id}" in page  # the officer may go on to the tip

    # The reporter, told the code on the phone, types it in with dashes.
    check = portal.post(
        "/check",
        data={"csrf_token": csrf_token(portal, "/check"), "receipt": code.replace(" ", "-")},
    )
    assert check.status_code == 302 and check.headers["Location"].endswith("/my-report")
    status = visible(portal.get("/my-report", headers=ZH).get_data(as_text=True))
    assert "来访反映：某人去世后家属继续领取养老金。" in status
    assert "至今仍在继续" in status  # the dates the officer took down
    assert "您已实名举报。" in status and "王**" in status  # the sealed name opens for them
    # And they can answer: the public site takes a message on this tip.
    sent = portal.post("/my-report/messages", data={
        "csrf_token": csrf_token(portal, "/my-report"), "text": "补充：他每月领取2400元。",
    })  # fmt: skip
    assert sent.status_code == 302


def test_the_receipt_is_shown_once_and_kept_nowhere(
    triage_app: Flask, desk: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    response = enter(desk, full_entry(desk, channel="letter", wants_receipt="y"))
    assert response.status_code == 303
    cookie = desk.get_cookie("tipline_triage")
    assert cookie is not None
    page = desk.get("/tips/new/receipt", headers=ZH).get_data(as_text=True)
    code = receipt_of(page)
    digits = code.replace(" ", "")
    secret = digits[8:23]

    # Once: a reload, Back or another tab shows only that it was given.
    for _ in range(2):
        again = desk.get("/tips/new/receipt", headers=ZH)
        assert again.status_code == 200
        assert digits[:4] + "</span>" not in again.get_data(as_text=True)
        assert secret not in again.get_data(as_text=True).replace(" ", "")
        assert "已经显示过" in visible(again.get_data(as_text=True))
    # Not in the redirect, nor readable in the cookie that carried it.
    assert secret not in response.headers["Location"]
    assert secret not in cookie.value and digits[:4] + " " not in cookie.value
    # Not in any log line, nor in any row of any table (the audit log included): the tip
    # keeps its locator (the first 8 digits, to find the row) and a verifier only.
    logged = " ".join(record.getMessage() for record in caplog.records)
    assert secret not in logged.replace(" ", "")
    engine = triage_app.extensions["triage"].engine
    metadata = MetaData()
    metadata.reflect(engine)
    with engine.connect() as connection:
        for table in metadata.sorted_tables:
            for row in connection.execute(table.select()):
                text = " ".join(str(value) for value in row).replace(" ", "")
                assert secret not in text, table.name
    with triage_app.extensions["triage"].sessions() as session:
        entries = session.scalars(select(AuditEvent).where(AuditEvent.action == "tip.enter"))
        assert [e.detail for e in entries] == ["{}"]


@pytest.fixture
def named_portal_app(make_config: Callable[..., Config]) -> Iterator[Flask]:
    """The triage site of an installation whose public address and operator are set."""
    from tipline.triage import create_app

    app = create_app(make_config(portal_url="https://jubao.example.cn",
                                 site_name="汕尾市社会保险基金举报", operator_name="汕尾市人社局",
                                 operator_contact="0660-1234567"))  # fmt: skip
    yield app
    app.extensions["triage"].engine.dispose()


def test_the_printed_receipt_says_where_to_go_and_does_not_name_the_reporter(
    named_portal_app: Flask,
) -> None:
    client = new_officer(named_portal_app, "desk", role="supervisor",
                         bureau="hrss_fund_supervision", region="441500")  # fmt: skip
    assert enter(client, full_entry(client, wants_receipt="y")).status_code == 303
    page = client.get("/tips/new/receipt", headers=ZH).get_data(as_text=True)
    slip = re.search(r'<section class="receipt-slip".*?</section>', page, re.S)
    assert slip
    words = visible(slip.group(0))
    assert "https://jubao.example.cn" in words and "查询举报进度" in words
    assert "汕尾市社会保险基金举报" in words and "0660-1234567" in words
    assert "2025-09-30" in words
    for told in ("王小明", "11010519491231002X", "13800138000", "138-0013-8000"):
        assert told not in page
    # The officer's instructions are not printed (no-print), the slip is.
    assert 'class="no-print" id="for-the-officer"' in page
    english = client.get("/tips/new/receipt", headers=EN)  # already shown: gone
    assert "already been shown" in english.get_data(as_text=True)


def test_an_anonymous_reporter_can_have_a_receipt_and_a_bureau_officer_cannot_enter(
    triage_app: Flask, desk: FlaskClient
) -> None:
    data = full_entry(desk, name="", id_number="", phone="", wants_notice="",
                      wants_receipt="y")  # fmt: skip
    assert enter(desk, data).status_code == 303
    assert receipt_of(desk.get("/tips/new/receipt").get_data(as_text=True))
    [tip] = tips(triage_app)
    assert not tip.real_name and tip.reporter_locator is not None
    bureau = new_officer(triage_app, "bureau", role="bureau_officer",
                         bureau="labor_inspection", region="441502")  # fmt: skip
    assert bureau.get("/tips/new").status_code == 403
    assert bureau.get("/tips/new/receipt").status_code == 403
