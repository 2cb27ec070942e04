"""The reporter's status page over HTTP, in Chinese and English (issue 8): problems shown
first as a summary of links, what the add-evidence box accepts, a notice that what was sent
arrived (post/redirect/get), the fund and the dates reported, and where a transfer went."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from tests.conftest import PASSPHRASE, csrf_token, post_multipart, submit_report, tiny_pdf
from tests.test_journey import VALID_ID, only_tip, sign_in
from tipline.crypto import load_private_keyring
from tipline.intake.config import Config
from tipline.intake.db import transaction
from tipline.intake.models import Message, Tip, TipEvent
from tipline.intake.reading import open_with_keyring
from tipline.intake.scrub import extensions_by_kind
from tipline.portal import create_app
from tipline.triage.tips import decisions

LANGS = {"zh": {"Accept-Language": "zh-CN"}, "en": {"Accept-Language": "en"}}
SUMMARY = re.compile(r'<div class="error-summary" id="errors"[^>]*>(.*?)</div>', re.S)


def signed_in(portal: FlaskClient, **fields: str) -> None:
    assert sign_in(portal, submit_report(portal, **fields)) == 302


def page_of(portal: FlaskClient, lang: str) -> str:
    return portal.get("/my-report", headers=LANGS[lang]).get_data(as_text=True)


# Each form of the status page, posted wrong in a few ways: the field the summary must link.
WRONG = [
    ("messages", {"text": ""}, "text"),
    ("messages", {"text": "   \n "}, "text"),
    ("messages", {"text": "长" * 5001}, "text"),
    ("evidence", {}, "attachments"),
    ("evidence", {"attachments": [(b"MZ\x90\x00not a document", "a.exe")]}, "attachments"),
    ("evidence", {"attachments": [(b"", "empty.pdf")]}, "attachments"),
    (
        "identity",
        {"name": "王小明", "id_number": "110105194912310021", "phone": ""},
        "id_number",
    ),  # fmt: skip
    ("identity", {"name": "", "id_number": "", "phone": ""}, "name"),
]


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize(("form", "data", "field"), WRONG)
def test_a_problem_is_summarised_first_with_a_link_to_its_field(
    portal_app: Flask, portal: FlaskClient, lang: str, form: str, data: dict, field: str
) -> None:
    signed_in(portal)
    before = page_of(portal, lang)
    assert 'id="errors"' not in before
    # Every form sends the browser back to the summary (no JavaScript needed).
    assert f'action="/my-report/{form}#errors"' in before
    token = csrf_token(portal, "/my-report")
    files = {k: [(io.BytesIO(raw), name) for raw, name in v] for k, v in data.items()
             if isinstance(v, list)}  # fmt: skip
    fields = {"csrf_token": token, **data, **files}
    response = post_multipart(portal, f"/my-report/{form}", fields, headers=LANGS[lang])
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    summary = SUMMARY.search(body)
    assert summary, body
    # First on the page, before the status, focused on load, announced.
    assert body.index('id="errors"') < body.index('id="status"')
    opening = body[body.index('<div class="error-summary"') :].split(">", 1)[0]
    assert "autofocus" in opening and 'tabindex="-1"' in opening and 'role="alert"' in opening
    links = re.findall(r'<a href="#([^"]+)">([^<]+)</a>', summary.group(1))
    assert field in [target for target, _text in links]
    assert f'id="{field}"' in body  # the link leads somewhere
    # The words of the field's own error message, in the summary too.
    error = re.search(rf'id="{field}-error">([^<]+)<', body)
    assert error and error.group(1).strip() in summary.group(1)
    title = "有问题需要改正" if lang == "zh" else "There is a problem"
    assert title in summary.group(1)
    if lang == "zh":
        words = re.sub(r"<[^>]+>", "", summary.group(1))
        for _content, name in data.get("attachments", []):
            words = words.replace(name, "")  # a file's own name is named, as it is
        assert not re.search(r"[A-Za-z]{4,}", words)
    assert 'id="notice"' not in body
    with portal_app.extensions["portal"].sessions() as session:
        assert session.scalars(select(Message)).all() == []


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize(("each", "total"), [(20, 50), (3, 7)])
def test_the_evidence_box_says_what_it_accepts_from_the_limits(
    make_config: Callable[..., Config], public_keys_dir: Path, lang: str, each: int, total: int
) -> None:
    app = create_app(make_config(keys_dir=public_keys_dir, key_passphrase=None,
                                 max_file_bytes=each * 1048576,
                                 max_upload_bytes=total * 1048576))  # fmt: skip
    try:
        portal = app.test_client()
        signed_in(portal)
        body = page_of(portal, lang)
        hint = re.search(r'<p class="hint" id="attachments-hint">([^<]+)</p>', body)
        assert hint, body
        text = hint.group(1)
        assert f"{each} MB" in text and f"{total} MB" in text
        for extensions in extensions_by_kind().values():
            for extension in extensions:
                assert extension.upper() in text
        assert "10" in text
        if lang == "zh":
            assert "每个文件不超过" in text and "图片" in text
        else:
            assert "Each file up to" in text and "pictures" in text
        assert 'aria-describedby="attachments-hint' in body
        # The count left follows what is stored.
        token = csrf_token(portal, "/my-report")
        post_multipart(portal, "/my-report/evidence", {
            "csrf_token": token, "attachments": [(io.BytesIO(tiny_pdf()), "a.pdf"),
                                                 (io.BytesIO(tiny_pdf()), "b.pdf")]})  # fmt: skip
        body = page_of(portal, lang)
        left = "还可以添加 8 个文件" if lang == "zh" else "up to 8 more files"
        assert left in body
    finally:
        app.extensions["portal"].engine.dispose()


ARRIVED: dict[str, tuple[Callable[[], dict], str, str]] = {
    "messages": (
        lambda: {"text": "九月一日到九月十五日。"},
        "您的留言已收到",
        "Your message has arrived",
    ),
    "evidence": (
        lambda: {"attachments": [(io.BytesIO(tiny_pdf()), "发票.pdf")]},
        "您的文件已收到",
        "Your files have arrived",
    ),  # fmt: skip
    "identity": (
        lambda: {"name": "王小明", "id_number": VALID_ID, "phone": "13800138000"},
        "您的身份信息已密封加入",
        "Your name has been added",
    ),  # fmt: skip
}


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("form", ARRIVED)
def test_what_was_sent_is_said_to_have_arrived_once(
    portal_app: Flask, portal: FlaskClient, lang: str, form: str
) -> None:
    make_data, zh, en = ARRIVED[form]
    data = make_data()
    words = zh if lang == "zh" else en
    signed_in(portal)
    assert words not in page_of(portal, lang)
    token = csrf_token(portal, "/my-report")
    response = post_multipart(portal, f"/my-report/{form}", {"csrf_token": token, **data})
    # Post/redirect/get: a reload of the page shown afterwards sends nothing again.
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/my-report#notice")
    body = page_of(portal, lang)
    assert words in body
    assert body.index('id="notice"') < body.index('id="status"')
    assert 'id="errors"' not in body
    again = page_of(portal, lang)
    assert words not in again  # said once
    tip = only_tip(portal_app)
    kind = {"messages": "message.reporter", "evidence": "evidence_added",
            "identity": "identity_added"}[form]  # fmt: skip
    assert [e.kind for e in tip.events].count(kind) == 1


WHEN = [
    ({"happened_start": "2025-03-01", "happened_end": "2025-06-30"},
     "2025年3月1日至2025年6月30日。", "From March 1, 2025 to June 30, 2025."),
    ({"happened_start": "2025-03-01", "ongoing": "y"},
     "自2025年3月1日起，至今仍在继续。", "Since March 1, 2025, and it is still going on."),
    ({"happened_start": "2025-03-01"}, "自2025年3月1日起。", "From March 1, 2025."),
    ({"happened_end": "2025-06-30"}, "至2025年6月30日止。", "Until June 30, 2025."),
    ({"happened_start": "2025-06-30", "happened_end": "2025-06-30"}, "2025年6月30日。",
     "On June 30, 2025."),
    ({"ongoing": "y"}, "至今仍在继续。", "It is still going on."),
    ({}, "未填写。", "You did not say."),
]  # fmt: skip


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize(("fields", "zh", "en"), WHEN)
def test_the_dates_reported_are_shown_in_plain_words(
    portal: FlaskClient, lang: str, fields: dict, zh: str, en: str
) -> None:
    signed_in(portal, **fields)
    body = page_of(portal, lang)
    when = re.search(r'<dd id="fact-when">([^<]+)</dd>', body)
    assert when and when.group(1) == (zh if lang == "zh" else en)


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize(
    ("fund", "zh", "en"),
    [("pension", "养老保险", "Pension insurance"), ("medical", "医疗保险", "Medical insurance"),
     ("", "未填写。", "You did not say.")],
)  # fmt: skip
def test_the_fund_category_and_place_are_shown(
    portal: FlaskClient, lang: str, fund: str, zh: str, en: str
) -> None:
    signed_in(portal, fund=fund, category="fake_treatment")
    body = page_of(portal, lang)
    shown = re.search(r'<dd id="fact-fund">([^<]+)</dd>', body)
    assert shown and zh in shown.group(1) if lang == "zh" else en in shown.group(1)  # type: ignore[union-attr]
    assert "汕尾市城区" in body  # the place, in its own (Chinese) name
    category = "fictitious medical services" if lang == "en" else "挂床住院"
    assert category.lower() in body.lower()


@dataclass(frozen=True)
class Officer:
    id: int = 1
    role: str = "supervisor"
    bureau: str | None = "hrss_fund_supervision"
    region: str | None = "440000"


def transfer(app: Flask, keys_dir: Path, bureau: str, region: str | None) -> None:
    """A transfer made the way triage makes it (decisions.transfer)."""
    keyring = load_private_keyring(keys_dir, PASSPHRASE)
    with transaction(app.extensions["portal"].sessions) as session:
        tip_id = session.scalars(select(Tip.id)).one()
        opened = open_with_keyring(session, tip_id, keyring)
        assert opened is not None
        decisions.transfer(session, opened, Officer(), bureau, region)


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize(
    ("bureau", "region", "zh", "en"),
    [
        ("labor_inspection", "441521", "已转交至广东省汕尾市海丰县劳动保障监察机构。",
         "Transferred to Labour inspection in 广东省汕尾市海丰县."),
        ("healthcare_security", None, "已转交至广东省汕尾市城区医疗保障行政部门。",
         "Transferred to Healthcare security administration in 广东省汕尾市城区."),
    ],
)  # fmt: skip
def test_a_transfer_names_the_office(
    portal_app: Flask,
    portal: FlaskClient,
    keys_dir: Path,
    lang: str,
    bureau: str,
    region: str | None,
    zh: str,
    en: str,
) -> None:
    signed_in(portal)
    transfer(portal_app, keys_dir, bureau, region)
    body = page_of(portal, lang)
    words = zh if lang == "zh" else en
    status = re.search(r'<p class="status" id="status">(.*?)</p>', body, re.S)
    assert status and words in status.group(1)
    timeline = re.search(r'<ol class="timeline">(.*?)</ol>', body, re.S)
    assert timeline and words in timeline.group(1)
    assert "another office" not in body and "其他部门" not in body


def test_each_transfer_names_the_office_it_recorded(
    portal_app: Flask, portal: FlaskClient
) -> None:
    """A transfer event records the receiving office's region (tip_event.region): an earlier
    transfer keeps the office it went to, whatever the tip's region is now."""
    signed_in(portal)
    with transaction(portal_app.extensions["portal"].sessions) as session:
        tip = session.scalars(select(Tip)).one()
        session.add(TipEvent(tip_id=tip.id, on=tip.received_on, kind="transferred_out",
                             detail="labor_inspection", region="441581"))  # fmt: skip
        tip.status, tip.status_detail = "screened", None
    body = page_of(portal, "zh")
    assert "已转交至广东省汕尾市陆丰市劳动保障监察机构。" in body
