"""The citizen's report form, its submission and its receipt (issue 8), through HTTP, in
Chinese and in English: each finding as a class, with several inputs of the class."""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from tests.conftest import RECEIPT, csrf_token, legacy_doc, post_multipart, submit_report, visible
from tipline.crypto import load_private_keyring, new_receipt
from tipline.intake.config import Config
from tipline.intake.models import Identity, Tip
from tipline.intake.reading import open_with_keyring
from tipline.intake.web import yuan

LANGUAGES = {"zh": {"Accept-Language": "zh-CN"}, "en": {"Accept-Language": "en"}}
FORM_TOKEN = re.compile(r'name="form_token"[^>]*value="([^"]+)"')
PLACE = {"province": "440000", "city": "441500", "county": "441502"}


def gb11643(first17: str) -> str:
    """A number with the check character GB 11643 gives its first 17 digits."""
    weights = [2 ** (17 - i) % 11 for i in range(17)]
    total = sum(int(d) * w for d, w in zip(first17, weights, strict=True))
    return first17 + "10X98765432"[total % 11]


# Real-shaped numbers whose district code did not exist (or no longer exists) in the birth
# year: 441502 (城区, Shanwei) dates only from 1988; 440301 and 110101 were merged or renamed.
REAL_IDS = [
    "441502198503121234",
    gb11643("44150219700101123"),
    gb11643("44030119900101123"),
    gb11643("11010119991231001"),
    "11010519491231002X",
    "11010519491231002x",
    "4415 0219 8503 1212 34",
]


def count_tips(app: Flask) -> int:
    with app.extensions["portal"].sessions() as session:
        return session.scalar(select(func.count()).select_from(Tip)) or 0


def form_data(client: FlaskClient, **fields: Any) -> dict[str, Any]:
    page = client.get("/report").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    form_token = FORM_TOKEN.search(page)
    assert token and form_token
    data: dict[str, Any] = {
        "csrf_token": token.group(1),
        "form_token": form_token.group(1),
        "category": "fake_treatment",
        **PLACE,
        "anonymous": "yes",
        "text": "某医院组织挂床住院，骗取医保基金。",
    }
    data.update(fields)
    return data


def real_name(client: FlaskClient, id_number: str, phone: str = "13800138000",
              lang: str = "zh") -> Any:  # fmt: skip
    data = form_data(client, anonymous="no", name="王小明", id_number=id_number, phone=phone)
    return post_multipart(client, "/report", data, headers=LANGUAGES[lang])


# --- 1. real resident ID numbers ------------------------------------------------------


@pytest.mark.parametrize("id_number", REAL_IDS)
def test_real_id_numbers_are_accepted_whatever_became_of_their_district(
    portal_app: Flask, portal: FlaskClient, id_number: str
) -> None:
    response = real_name(portal, id_number)
    assert response.status_code == 303, visible(response.get_data(as_text=True))
    with portal_app.extensions["portal"].sessions() as session:
        assert session.scalar(select(func.count()).select_from(Identity)) == 1


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize(
    ("id_number", "zh", "en"),
    [
        ("", "请填写身份证号", "Give your resident identity card number"),
        ("   ", "请填写身份证号", "Give your resident identity card number"),
        ("4415021985031212", "18位", "18 characters"),
        ("44150219850312123Y", "18位", "18 characters"),
        ("441502198503121235", "校验位", "typing mistake"),
        (gb11643("44150219851312123"), "出生日期", "birth date"),
        (gb11643("44150221000101123"), "出生日期", "birth date"),
        (gb11643("99150219850312123"), "省份代码", "province code"),
        (gb11643("00150219850312123"), "省份代码", "province code"),
    ],
)
def test_wrong_id_numbers_are_explained_and_nothing_is_stored(
    portal_app: Flask, portal: FlaskClient, id_number: str, zh: str, en: str, lang: str
) -> None:
    response = real_name(portal, id_number, lang=lang)
    assert response.status_code == 400
    body = visible(response.get_data(as_text=True))
    assert (zh if lang == "zh" else en) in body
    assert "王小明" in response.get_data(as_text=True)  # what was typed is kept
    assert count_tips(portal_app) == 0


def test_the_same_id_rule_holds_for_adding_a_name_and_for_the_api(
    portal_app: Flask, portal: FlaskClient
) -> None:
    receipt = submit_report(portal)
    portal.post("/check", data={"csrf_token": csrf_token(portal, "/check"), "receipt": receipt})
    added = portal.post("/my-report/identity", data={
        "csrf_token": csrf_token(portal, "/my-report"), "name": "李四",
        "id_number": REAL_IDS[0], "phone": "138-0013-8000",
    })  # fmt: skip
    assert added.status_code == 302
    api = portal.post("/api/v1/reports", json={
        "category": "fake_docs", "region": "441502", "text": "伪造证明",
        "identity": {"name": "张三", "id_number": REAL_IDS[1], "phone": "138 0013 8000"},
    })  # fmt: skip
    assert api.status_code == 201, api.get_json()
    bad = portal.post("/api/v1/reports", json={
        "category": "fake_docs", "region": "441502", "text": "伪造证明",
        "identity": {"name": "张三", "id_number": "441502198503121235", "phone": "13800138000"},
    }, headers=LANGUAGES["en"])  # fmt: skip
    assert bad.status_code == 400
    assert {p["field"] for p in bad.get_json()["problems"]} == {"identity.id_number"}
    with portal_app.extensions["portal"].sessions() as session:
        assert session.scalar(select(func.count()).select_from(Identity)) == 2


# --- 2. a form is stored once ---------------------------------------------------------


def test_the_same_form_sent_again_stores_nothing_and_says_so(
    portal_app: Flask, portal: FlaskClient
) -> None:
    data = form_data(portal)
    first = post_multipart(portal, "/report", data)
    assert first.status_code == 303 and first.headers["Location"] == "/report/received"
    page = portal.get("/report/received").get_data(as_text=True)
    receipt = RECEIPT.search(page)
    assert receipt
    # Reload: the same receipt, nothing stored again.
    again = portal.get("/report/received").get_data(as_text=True)
    assert RECEIPT.search(again) and RECEIPT.search(again).group(1) == receipt.group(1)  # type: ignore[union-attr]
    # Back and send: this browser is shown its receipt again, nothing is stored again.
    resent = post_multipart(portal, "/report", data)
    assert resent.status_code == 303 and resent.headers["Location"] == "/report/received"
    assert count_tips(portal_app) == 1
    # Once written down, the receipt is gone from this browser.
    done = portal.post("/report/done", data={"csrf_token": csrf_token(portal, "/check"),
                                             "receipt": receipt.group(1), "written_down": "y"})
    assert done.status_code == 302
    assert portal.get("/report/received").status_code == 302
    for lang, words in (("zh", "已经提交过"), ("en", "was sent before")):
        resent = post_multipart(portal, "/report", data, headers=LANGUAGES[lang])
        assert resent.status_code == 409
        body = visible(resent.get_data(as_text=True))
        assert words in body
        assert receipt.group(1) not in body
    assert count_tips(portal_app) == 1


def test_back_and_rewrite_is_a_new_report(portal_app: Flask, portal: FlaskClient) -> None:
    """The form's token alone does not make a report the same one: a reporter who goes Back
    and rewrites the form into another matter has that stored too, with its own receipt."""
    data = form_data(portal)
    assert post_multipart(portal, "/report", data).status_code == 303
    first = RECEIPT.search(portal.get("/report/received").get_data(as_text=True))
    rewritten = {**data, "category": "fake_docs", "text": "另一件事：某公司伪造工伤证明。"}
    again = post_multipart(portal, "/report", rewritten)
    assert again.status_code == 303 and count_tips(portal_app) == 2
    second = RECEIPT.search(portal.get("/report/received").get_data(as_text=True))
    assert first and second and first.group(1) != second.group(1)
    # And each is stored once: the rewritten one sent again is recognised.
    assert post_multipart(portal, "/report", rewritten).status_code == 303
    assert count_tips(portal_app) == 2


@pytest.mark.parametrize(("lang", "words"), [("zh", "已经提交过"), ("en", "was sent before")])
def test_a_lost_answer_leaves_the_reporter_a_way_to_a_receipt(
    portal_app: Flask, portal: FlaskClient, lang: str, words: str
) -> None:
    """The first send was stored but its answer never reached the browser (its cookie was
    never updated): the same form sent again stores nothing and says so, and comes back as
    it was with a fresh token, so a reporter who never saw a receipt code can still send it
    as a new report."""
    browser = portal
    data = form_data(browser)
    assert post_multipart(browser, "/report", data).status_code == 303
    with browser.session_transaction() as cookie:  # the answer that set these was lost
        cookie.pop("receipt")
        cookie.pop("sent")
    resent = post_multipart(browser, "/report", data, headers=LANGUAGES[lang])
    assert resent.status_code == 409 and count_tips(portal_app) == 1
    page = resent.get_data(as_text=True)
    assert words in visible(page) and "某医院组织挂床住院" in page
    fresh = FORM_TOKEN.search(page)
    assert fresh and fresh.group(1) != data["form_token"]
    assert 'autocomplete="off"' in page
    again = post_multipart(browser, "/report", {**data, "form_token": fresh.group(1)})
    assert again.status_code == 303 and count_tips(portal_app) == 2
    assert RECEIPT.search(browser.get("/report/received").get_data(as_text=True))


def test_the_form_token_is_unique_in_the_database(portal_app: Flask, portal: FlaskClient) -> None:
    """Two processes racing with the same form: the unique index keeps one tip."""
    from tipline.intake.submit import AlreadyReceived, Report

    data = form_data(portal)
    assert post_multipart(portal, "/report", data).status_code == 303
    submitter = portal_app.extensions["portal"].submitter
    with pytest.raises(AlreadyReceived):
        submitter.submit(Report(category="fake_docs", region="441502", text="x",
                                form_token=data["form_token"]))  # fmt: skip
    with portal_app.extensions["portal"].sessions() as session:
        digests = session.scalars(select(Tip.form_digest)).all()
    assert len(digests) == 1 and digests[0] != data["form_token"]  # only a digest is kept


def test_the_receipt_is_not_readable_from_the_cookie(
    portal_app: Flask, portal: FlaskClient
) -> None:
    receipt = submit_report(portal)
    cookie = portal.get_cookie(portal_app.config["SESSION_COOKIE_NAME"])
    assert cookie is not None
    # What the session cookie holds, as Flask itself reads it (signed, maybe compressed).
    serializer = portal_app.session_interface.get_signing_serializer(portal_app)  # type: ignore[attr-defined]
    assert serializer is not None
    held = repr(serializer.loads(cookie.value))
    assert held != "{}"  # the sealed receipt is there ...
    digits = receipt.replace(" ", "")
    assert digits not in held and receipt not in held  # ... but not readable
    assert digits not in cookie.value


def test_no_receipt_page_without_a_stored_tip(portal: FlaskClient) -> None:
    assert portal.get("/report/received").status_code == 302


# --- 3. over the size limit, the text is kept -------------------------------------------


@pytest.fixture
def small_portal(
    make_config: Callable[..., Config], public_keys_dir: Path
) -> Iterator[tuple[Flask, FlaskClient]]:
    from tipline.portal import create_app

    app = create_app(make_config(keys_dir=public_keys_dir, key_passphrase=None,
                                 max_file_bytes=512 * 1024, max_upload_bytes=1024 * 1024))
    yield app, app.test_client()
    app.extensions["portal"].engine.dispose()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_files_over_the_total_come_back_named_with_the_text_kept(
    small_portal: tuple[Flask, FlaskClient], lang: str
) -> None:
    app, client = small_portal
    text = "这段文字不能丢：医院挂床住院。"
    data = form_data(client, text=text, suspect_name="某医院", attachments=[
        (io.BytesIO(legacy_doc(b"a" * 400_000)), "账本一.doc"),
        (io.BytesIO(legacy_doc(b"b" * 400_000)), "账本二.doc"),
        (io.BytesIO(legacy_doc(b"c" * 400_000)), "录像.doc"),
    ])  # fmt: skip
    response = post_multipart(client, "/report", data, headers=LANGUAGES[lang])
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    body = visible(html)
    assert text in html and "某医院" in html
    assert "“录像.doc”" in body
    assert ("1 MB" in body) if lang == "en" else ("合计不能超过1 MB" in body)
    assert ("not kept" in body) if lang == "en" else ("不会保留" in body or "重新选择" in body)
    assert count_tips(app) == 0


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_file_over_its_own_limit_is_named_with_its_limit(
    small_portal: tuple[Flask, FlaskClient], lang: str
) -> None:
    app, client = small_portal
    data = form_data(client, attachments=[(io.BytesIO(legacy_doc(b"x" * 700_000)), "大.doc")])
    body = visible(post_multipart(client, "/report", data, headers=LANGUAGES[lang])
                   .get_data(as_text=True))  # fmt: skip
    expected = "“大.doc” is 0.7 MB: each file may be at most 0.5 MB" if lang == "en" else (
        "“大.doc”为0.7 MB，每个文件不能超过0.5 MB")
    assert expected in body
    assert count_tips(app) == 0


def test_far_over_the_ceiling_the_page_explains(small_portal: tuple[Flask, FlaskClient]) -> None:
    _app, client = small_portal
    data = form_data(client, attachments=[(io.BytesIO(b"x" * 4 * 1024 * 1024), "huge.doc")])
    response = post_multipart(client, "/report", data, headers=LANGUAGES["en"])
    assert response.status_code == 413
    assert "larger than this site accepts" in visible(response.get_data(as_text=True))


def test_evidence_added_later_names_the_file_too(small_portal: tuple[Flask, FlaskClient]) -> None:
    _app, client = small_portal
    receipt = submit_report(client)
    client.post("/check", data={"csrf_token": csrf_token(client, "/check"), "receipt": receipt})
    response = post_multipart(client, "/my-report/evidence", {
        "csrf_token": csrf_token(client, "/my-report"),
        "attachments": [(io.BytesIO(legacy_doc(b"x" * 700_000)), "补充.doc")],
    }, headers=LANGUAGES["en"])  # fmt: skip
    assert response.status_code == 400
    assert "“补充.doc” is 0.7 MB" in visible(response.get_data(as_text=True))


# --- 4. the "files are not kept" banner -----------------------------------------------


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_files_banner_shows_only_when_files_were_chosen(
    portal: FlaskClient, lang: str
) -> None:
    no_file = form_data(portal, text="", attachments=[(io.BytesIO(b""), "")])
    page = post_multipart(portal, "/report", no_file, headers=LANGUAGES[lang])
    assert page.status_code == 400
    assert 'id="files-not-kept"' not in page.get_data(as_text=True)
    with_file = form_data(portal, text="", attachments=[(io.BytesIO(legacy_doc(b"x")), "a.doc")])
    page = post_multipart(portal, "/report", with_file, headers=LANGUAGES[lang])
    assert page.status_code == 400
    assert 'id="files-not-kept"' in page.get_data(as_text=True)


# --- 5. details typed while anonymous ------------------------------------------------


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize(
    "details",
    [{"name": "王小明"}, {"id_number": REAL_IDS[0]}, {"phone": "13800138000"},
     {"wants_notice": "y"}],
)  # fmt: skip
def test_details_typed_while_anonymous_are_asked_about_not_dropped(
    portal_app: Flask, portal: FlaskClient, details: dict[str, str], lang: str
) -> None:
    data = form_data(portal, anonymous="yes", **details)
    response = post_multipart(portal, "/report", data, headers=LANGUAGES[lang])
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    body = visible(html)
    assert ("report under your real name" in body) if lang == "en" else ("实名" in body)
    for value in details.values():
        if value != "y":
            assert f'value="{value}"' in html
    assert count_tips(portal_app) == 0


def test_anonymous_without_details_is_stored_anonymously(
    portal_app: Flask, portal: FlaskClient
) -> None:
    response = post_multipart(portal, "/report", form_data(portal, anonymous="yes", name="  "))
    assert response.status_code == 303
    with portal_app.extensions["portal"].sessions() as session:
        assert session.scalar(select(func.count()).select_from(Identity)) == 0


# --- 6. every error in the first round ------------------------------------------------


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_error_is_reported_in_the_first_round(portal: FlaskClient, lang: str) -> None:
    data = form_data(portal, text="", province="", city="", county="", amount="很多",
                     happened_start="2024-05-01", happened_end="2024-01-01")  # fmt: skip
    response = post_multipart(portal, "/report", data, headers=LANGUAGES[lang])
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    for field in ("happened_end", "text", "province", "amount"):
        assert f'id="{field}-error"' in html, field
    body = visible(html)
    expected = (
        ["The end comes before the start", "Describe what happened", "Choose the place",
         "as a number"]
        if lang == "en"
        else ["早于开始", "请填写举报内容", "请选择", "数字"]
    )
    for words in expected:
        assert words in body, words


# --- 7. forgiving input, amounts shown with separators -----------------------------------


@pytest.mark.parametrize(
    ("typed", "stored"),
    [("15万", "150000"), ("1.5万元", "15000"), ("150,000", "150000"), ("¥150,000", "150000"),
     ("１５万", "150000"), ("￥1,500.50", "1500.50"), ("150000元", "150000"), ("12 000", "12000")],
)  # fmt: skip
def test_amounts_are_read_as_people_write_them(
    portal_app: Flask, portal: FlaskClient, keys_dir: Path, typed: str, stored: str
) -> None:
    from tests.conftest import PASSPHRASE

    receipt = submit_report(portal, amount=typed)
    assert receipt
    keyring = load_private_keyring(keys_dir, PASSPHRASE)
    with portal_app.extensions["portal"].sessions() as session:
        tip_id = session.scalars(select(Tip.id)).one()
        opened = open_with_keyring(session, tip_id, keyring)
        assert opened is not None and opened.amount == stored
    portal.post("/check", data={"csrf_token": csrf_token(portal, "/check"), "receipt": receipt})
    assert yuan(stored) in visible(portal.get("/my-report").get_data(as_text=True))


@pytest.mark.parametrize(
    ("amount", "shown"),
    [("150000", "¥150,000"), ("1500.50", "¥1,500.50"), ("1.5万", "¥15,000"), (None, ""),
     ("12000", "¥12,000"), ("not a number", "not a number")],
)  # fmt: skip
def test_the_yuan_filter_shows_separators(amount: str | None, shown: str) -> None:
    assert yuan(amount) == shown


@pytest.mark.parametrize("phone", ["138 0013 8000", "138-0013-8000", "(0755) 8888-6666",
                                   "+86 138 0013 8000", "０７５５－８８８８６６６６"])
def test_phone_numbers_with_spaces_or_dashes_are_accepted(
    portal_app: Flask, portal: FlaskClient, phone: str
) -> None:
    response = real_name(portal, REAL_IDS[0], phone=phone)
    assert response.status_code == 303, visible(response.get_data(as_text=True))


@pytest.mark.parametrize(("amount", "expected"), [("15万", "150000"), ("¥150,000", "150000"),
                                                  (45000, "45000")])
def test_the_api_reads_amounts_given_as_strings(
    portal_app: Flask, portal: FlaskClient, keys_dir: Path, amount: Any, expected: str
) -> None:
    from tests.conftest import PASSPHRASE

    response = portal.post("/api/v1/reports", json={
        "category": "fake_docs", "region": "441502", "text": "伪造证明", "amount": amount})
    assert response.status_code == 201, response.get_json()
    keyring = load_private_keyring(keys_dir, PASSPHRASE)
    with portal_app.extensions["portal"].sessions() as session:
        opened = open_with_keyring(session, session.scalars(select(Tip.id)).one(), keyring)
        assert opened is not None and opened.amount == expected


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_api_names_an_unreadable_amount_with_the_other_problems(lang: str,
                                                                    portal: FlaskClient) -> None:
    response = portal.post("/api/v1/reports", json={
        "category": "fake_docs", "region": "999999", "text": "x", "amount": "很多"},
        headers=LANGUAGES[lang])  # fmt: skip
    assert response.status_code == 400
    fields = {p["field"]: p["message"] for p in response.get_json()["problems"]}
    assert set(fields) == {"amount", "region"}
    assert ("12000" in fields["amount"]) and (
        ("数字" in fields["amount"]) if lang == "zh" else ("number" in fields["amount"]))


# --- 8. words --------------------------------------------------------------------------

ASCII_PUNCTUATION_BY_CJK = re.compile(r"[\u4e00-\u9fff][:;,?!()]|[:;,?!()][\u4e00-\u9fff]")


def test_categories_read_as_the_official_terms(portal: FlaskClient) -> None:
    body = visible(portal.get("/report", headers=LANGUAGES["zh"]).get_data(as_text=True))
    for words in ("虚构医药服务项目骗取医保基金（如挂床住院、串换药品）", "冒领社会保险待遇",
                  "工作人员贪污、侵占、挪用社会保险基金", "一案双赔"):
        assert words in body


@pytest.mark.parametrize("path", ["/", "/report", "/about", "/check"])
def test_chinese_pages_use_full_width_punctuation(portal: FlaskClient, path: str) -> None:
    body = visible(portal.get(path, headers=LANGUAGES["zh"]).get_data(as_text=True))
    assert not ASCII_PUNCTUATION_BY_CJK.findall(body), ASCII_PUNCTUATION_BY_CJK.findall(body)


def test_chinese_receipt_page_uses_full_width_punctuation(portal: FlaskClient) -> None:
    submit_report(portal)
    body = visible(portal.get("/report/received").get_data(as_text=True))
    assert "日期：" in body and "您的回执码：" in body
    assert not ASCII_PUNCTUATION_BY_CJK.findall(body)


def test_the_stylesheet_puts_a_cjk_font_first(portal: FlaskClient) -> None:
    response = portal.get("/static/style.css")
    css = response.get_data(as_text=True)
    response.close()
    stack = re.search(r"body \{[^}]*font-family: ([^;]+);", css)
    assert stack and stack.group(1).split(",")[0].strip().strip('"') in {
        "Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei"}


# --- 9. what happens next ------------------------------------------------------------


@pytest.mark.parametrize(
    ("lang", "words"), [("zh", "5个工作日内"), ("en", "within 5 working days")]
)
def test_the_receipt_page_says_what_happens_next(
    portal: FlaskClient, lang: str, words: str
) -> None:
    portal.set_cookie("lang", lang)
    submit_report(portal)
    body = visible(portal.get("/report/received").get_data(as_text=True))
    assert words in body
    assert ("提问" in body and "回执码" in body) if lang == "zh" else (
        "ask you questions" in body and "Come back with your receipt code" in body)


def test_the_review_time_comes_from_the_rule_pack(
    portal: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dataclasses
    import json

    from tipline.intake import rules
    from tipline.portal import views

    def packs() -> tuple[rules.Pack, ...]:
        changed = []
        for pack in rules.shipped_packs():
            deadlines = [dict(d, amount=7) if d["rule"] == "T1" else d for d in pack.deadlines]
            changed.append(dataclasses.replace(pack, deadlines=json.loads(json.dumps(deadlines))))
        return tuple(changed)

    monkeypatch.setattr(views, "shipped_packs", packs)
    portal.set_cookie("lang", "en")
    submit_report(portal)
    body = visible(portal.get("/report/received").get_data(as_text=True))
    assert "within 7 working days" in body and "within 5 working days" not in body


# --- 10. out of scope ------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_out_of_scope_advice_needs_no_description_and_back_keeps_everything(
    portal_app: Flask, portal: FlaskClient, lang: str
) -> None:
    data = form_data(portal, category="out_of_scope", text="", fund="medical",
                     suspect_name="某单位", amount="3万", happened_start="2024-01-01")
    advice = post_multipart(portal, "/report", data, headers=LANGUAGES[lang])
    assert advice.status_code == 200
    html = advice.get_data(as_text=True)
    assert "12393" in visible(html) and "12333" in visible(html)
    form = html[html.index('id="back-to-form"'):]
    hidden = {
        re.search(r'name="([^"]+)"', tag).group(1): re.search(r'value="([^"]*)"', tag).group(1)  # type: ignore[union-attr]
        for tag in re.findall(r'<input[^>]*type="hidden"[^>]*>', form)
    }
    assert hidden["category"] == "out_of_scope" and "csrf_token" in hidden
    back = portal.post("/report", data={**hidden, "refine": "back"}, headers=LANGUAGES[lang])
    assert back.status_code == 200
    page = back.get_data(as_text=True)
    for value in ('value="某单位"', 'value="3万"', 'value="2024-01-01"',
                  f'value="{data["form_token"]}"'):
        assert value in page, value
    assert re.search(r'value="out_of_scope"[^>]*checked|checked[^>]*value="out_of_scope"', page)
    assert count_tips(portal_app) == 0


# --- 11. rate limits say how long to wait --------------------------------------------


@pytest.fixture
def limited_portal(
    make_config: Callable[..., Config], public_keys_dir: Path
) -> Iterator[FlaskClient]:
    from tipline.portal import create_app

    app = create_app(make_config(keys_dir=public_keys_dir, key_passphrase=None,
                                 submit_limit="1 per minute", receipt_limit="1 per hour"))
    yield app.test_client()
    app.extensions["portal"].engine.dispose()


@pytest.mark.parametrize(("lang", "words"), [("zh", "请等待"), ("en", "Please wait")])
def test_the_429_page_says_how_long_to_wait(
    limited_portal: FlaskClient, lang: str, words: str
) -> None:
    client = limited_portal
    client.set_cookie("lang", lang)
    wrong = new_receipt().display  # well formed, answers to no report: counted
    answers = []
    for _ in range(3):
        answers.append(client.post("/check", data={"csrf_token": csrf_token(client, "/check"),
                                                   "receipt": wrong}))  # fmt: skip
    refused = [a for a in answers if a.status_code == 429]
    assert refused, [a.status_code for a in answers]
    body = visible(refused[0].get_data(as_text=True))
    wait = int(refused[0].headers["Retry-After"])
    assert 1 <= wait <= 3600
    assert words in body
    assert re.search(r"\d+\s?(分钟|秒|minutes|seconds)|1分钟|one minute", body)


def test_the_api_sets_retry_after(limited_portal: FlaskClient) -> None:
    body = {"category": "fake_docs", "region": "441502", "text": "伪造证明"}
    assert limited_portal.post("/api/v1/reports", json=body).status_code == 201
    refused = limited_portal.post("/api/v1/reports", json=body, headers=LANGUAGES["en"])
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 61  # a minute's window, rounded up
    message = refused.get_json()["problems"][0]["message"]
    assert "Please wait" in message and re.search(r"seconds|minute", message)


# --- 12. about this site -----------------------------------------------------------------


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_about_page_is_linked_and_says_who_and_what(portal: FlaskClient, lang: str) -> None:
    start = portal.get("/", headers=LANGUAGES[lang]).get_data(as_text=True)
    assert 'href="/about"' in start
    body = visible(portal.get("/about", headers=LANGUAGES[lang]).get_data(as_text=True))
    for words in (("演示", "保密", "报复陷害", "第二百五十四条", "奖励", "12393")
                  if lang == "zh" else
                  ("demonstration", "confidential", "报复陷害", "254", "Rewards", "12393")):
        assert words in body, words


def test_the_operator_is_configured_not_hard_coded(
    make_config: Callable[..., Config], public_keys_dir: Path
) -> None:
    from tipline.portal import create_app

    config = make_config(keys_dir=public_keys_dir, key_passphrase=None,
                         site_name="汕尾市社保基金监督举报",
                         operator_name="汕尾市人力资源和社会保障局",
                         operator_contact="0660-1234567", operator_address="汕尾市城区某路1号")
    app = create_app(config)
    try:
        body = visible(app.test_client().get("/about").get_data(as_text=True))
    finally:
        app.extensions["portal"].engine.dispose()
    assert "汕尾市社保基金监督举报" in body
    assert "本网站由汕尾市人力资源和社会保障局运营" in body
    assert "0660-1234567" in body and "汕尾市城区某路1号" in body
    assert "演示" not in body


def test_operator_settings_come_from_the_environment(tmp_path: Path) -> None:
    env = {"TIPLINE_SECRET_KEY": "s", "TIPLINE_INSTANCE": str(tmp_path),
           "TIPLINE_SITE_NAME": "站名", "TIPLINE_OPERATOR_NAME": "某局",
           "TIPLINE_OPERATOR_CONTACT": "12333", "TIPLINE_OPERATOR_ADDRESS": "某路"}
    config = Config.from_env(env)
    assert (config.site_name, config.operator_name, config.operator_contact,
            config.operator_address) == ("站名", "某局", "12333", "某路")
    assert Config.from_env({"TIPLINE_SECRET_KEY": "s"}).operator_name is None
