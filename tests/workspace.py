"""A small world of the triage site and a crawler over it, for the tests that look at every
page as every role sees it (test_controls.py: no control answers 403 or a refusal;
test_no_raw_codes.py: no code in the Chinese text).

The world, in 汕尾 (441500): the intake desk, the lead bureau (the social-insurance agency),
a co-handling bureau (labour inspection), a supervisor of the intake desk, an administrator
and an auditor; pension-impostor tips in each state (received, routed and co-handled,
accepted, not accepted with its notice owed, notice given, transferred), with identity
requests pending (one the supervisor's own), approved and refused.

The crawler signs in as one role, follows every link of the site from its start page and
submits every form it finds, each submission on a copy of the database that is put back
afterwards (SQLite's backup API), so one form's decision does not change the next one's
page.
"""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.test import TestResponse

from tests.conftest import make_enrolled, sign_in_officer
from tipline.intake.db import transaction
from tipline.intake.jobs import process_new_tips
from tipline.intake.models import Officer, Tip
from tipline.intake.queue import InlineQueue
from tipline.intake.reading import open_tip
from tipline.intake.submit import Report, ReporterIdentity, parse_amount, today
from tipline.triage import access
from tipline.triage.cases import services as case_services
from tipline.triage.cases.lifecycle import REFERRAL_ATTACHMENTS
from tipline.triage.cases.services import Subject
from tipline.triage.tips import decisions, notices

REGION = "441500"
ID = ReporterIdentity(name="王小明", id_number="11010519491231002X", phone="13800138000")

# name: (role, bureau). The user names are data shown on the pages (the signed-in name, who
# asked, who told the reporter): plain words, neither codes nor English vocabulary.
STAFF: dict[str, tuple[str, str | None]] = {
    "desk": ("triage_officer", "hrss_fund_supervision"),
    "agency": ("bureau_officer", "si_agency"),
    "labour": ("bureau_officer", "labor_inspection"),
    "boss": ("supervisor", "hrss_fund_supervision"),
    "admin": ("admin", None),
    "auditor": ("auditor", None),
}
# Officers of the world who are not crawled: labour inspection's head (who approves its
# referrals and puts a case under personal supervision) and a second inspector (a referral
# team has two members, 令310 art.5). Their names appear on the case pages.
OTHER_STAFF: dict[str, tuple[str, str | None]] = {
    "labour_head": ("supervisor", "labor_inspection"),
    "labour2": ("bureau_officer", "labor_inspection"),
}
# Their user names: names, as people have (neither a code nor an English word).
USERNAMES = {"desk": "zhangwei", "agency": "lina", "labour": "wangfang", "boss": "liuyang",
             "admin": "chenjing", "auditor": "yangli", "labour_head": "zhoujie",
             "labour2": "sunli"}  # fmt: skip
# Cases of the world, by the stage they are left at (one accepted tip each): the agency
# verifying; handed over to labour inspection; filed there, a crime suspected; referred and
# refused by the police, under the head's supervision; judged with the court's 罚金.
CASE_STAGES = ("case_verifying", "case_handed", "case_filed", "case_declined", "case_judged")
SUBJECT = Subject(kind="unit", name="汕尾市某某人力资源服务有限公司",
                  identifier="91110000600037341L")  # fmt: skip
ALL_FIVE = [t.code for t in REFERRAL_ATTACHMENTS]


@dataclass
class World:
    app: Flask
    db_path: Path
    tips: dict[str, str]  # state name -> tip id
    secrets: dict[str, str]
    snapshots: int = 0

    def client(self, name: str) -> FlaskClient:
        return sign_in_officer(self.app, USERNAMES[name], self.secrets[name])

    def officer(self, name: str) -> Officer:
        with self.app.extensions["triage"].sessions() as session:
            found = session.scalar(select(Officer).where(Officer.username == USERNAMES[name]))
            assert found is not None
            session.expunge(found)
            return found

    # The database as it is now, and put back: each form is sent to the same world.
    def snapshot(self) -> Path:
        assert self.db_path.suffix == ".db", "the crawler puts back a SQLite file"
        self.snapshots += 1  # one file each: a form sent from a page a form answered nests
        copy = self.db_path.with_suffix(f".snapshot{self.snapshots}")
        self.app.extensions["triage"].engine.dispose()
        _copy_sqlite(self.db_path, copy)
        return copy

    def restore(self, copy: Path) -> None:
        self.app.extensions["triage"].engine.dispose()
        _copy_sqlite(copy, self.db_path)
        copy.unlink()


def _copy_sqlite(source: Path, target: Path) -> None:
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    src.close()
    dst.close()


def _submit(app: Flask, text: str, *, identity: bool = True, amount: str | None = None) -> str:
    stored = app.extensions["triage"].submitter.submit(
        Report(category="benefit_impostor", fund="pension", region=REGION, text=text,
               channel="visit", received_on=today(), identity=ID if identity else None,
               wants_notice=identity, amount=parse_amount(amount) if amount else None),
        with_receipt=False,
    )  # fmt: skip
    return stored.tip_id


def build_world(app: Flask, database_url: str) -> World:
    services = app.extensions["triage"]
    secrets: dict[str, str] = {}
    with transaction(services.sessions) as session:
        for name, (role, bureau) in {**STAFF, **OTHER_STAFF}.items():
            _, secrets[name] = make_enrolled(session, services.officer_secrets, USERNAMES[name],
                                             role=role, bureau=bureau, region=REGION)  # fmt: skip
    names = ("received", "routed", "accepted", "refused", "told", "transferred", "anonymous",
             *CASE_STAGES)  # fmt: skip
    tips = {
        # Amounts large enough for the rules to raise a flag on some (shown in the inbox).
        name: _submit(app, f"有人冒领已故亲属的养老金（{index}）。", identity=name != "anonymous",
                      amount="50000" if index % 2 else None)
        for index, name in enumerate(names)
    }
    InlineQueue(services.engine, services.keyring).enqueue(process_new_tips)
    with transaction(services.sessions) as session:
        by_username = {o.username: o for o in session.scalars(select(Officer))}
        staff = {name: by_username[username] for name, username in USERNAMES.items()}

        def opened(name: str) -> Any:
            tip = session.get(Tip, tips[name])
            assert tip is not None
            return open_tip(tip, services.keyring)

        desk, agency, boss = staff["desk"], staff["agency"], staff["boss"]
        for name in ("routed", "accepted", "refused", "told", "transferred", "anonymous",
                     *CASE_STAGES):  # fmt: skip
            decisions.confirm_routing(session, opened(name), desk, "si_agency", "")
        decisions.accept(session, opened("accepted"), agency)
        for name in CASE_STAGES:
            decisions.accept(session, opened(name), agency)
        decisions.refuse(session, opened("refused"), agency, "no_clear_target", "不够具体")
        decisions.refuse(session, opened("told"), agency, "already_handled")
        notices.give(session, opened("told"), agency, "phone", today())
        decisions.transfer(session, opened("transferred"), agency, "si_agency", "441502")
        # Identity requests: the desk's pending (the supervisor decides it), the supervisor's
        # own pending (nobody decides their own), one approved and one refused.
        decisions.request_identity(session, opened("routed"), desk, "需要核实举报人身份以便回访。")
        decisions.request_identity(session, opened("routed"), boss, "督办需要。")
        approved = decisions.request_identity(session, opened("accepted"), desk, "需要联系举报人。")
        decisions.decide_identity(session, boss, approved, True)
        refused = decisions.request_identity(session, opened("refused"), agency, "想知道是谁。")
        decisions.decide_identity(session, boss, refused, False)
    _cases(app, tips)
    return World(app, Path(database_url.removeprefix("sqlite:///")), tips, secrets)


def _cases(app: Flask, tips: dict[str, str]) -> None:
    """The world's cases, walked through services.apply as the pages would."""
    services = app.extensions["triage"]
    with transaction(services.sessions) as session:
        staff = {o.username: o for o in session.scalars(select(Officer))}
        who = {name: staff[username] for name, username in USERNAMES.items()}

        def step(case: Any, action: str, name: str, **raw: Any) -> None:
            case_services.apply(session, services.keyring, case, action, who[name], raw)

        day = today().isoformat()
        cases = {}
        for name in CASE_STAGES:
            tip = session.get(Tip, tips[name])
            cases[name] = case_services.open_case(
                session, services.keyring.public_keyring(), who["agency"], [tip], SUBJECT,
                "核查发现冒领养老金。",
            )  # fmt: skip
        step(cases["case_verifying"], "record_recovery", "agency", measures="已停发待遇。",
             recovered="1200")
        for name in CASE_STAGES[1:]:
            step(cases[name], "hand_over", "agency", to_bureau="labor_inspection",
                 findings="冒领属实。", verified_loss="50000")
        for name in CASE_STAGES[2:]:
            step(cases[name], "sign_receipt", "labour")
            step(cases[name], "file", "labour", findings="立案调查。")
        for name in CASE_STAGES[3:]:
            case = cases[name]
            step(case, "report_referral", "labour", team=["wangfang", "sunli"],
                 reason="涉嫌诈骗罪。")  # fmt: skip
            step(case, "approve_referral", "labour_head")
            step(case, "refer", "labour", police_unit="汕尾市公安局", attachments=ALL_FIVE)
            step(case, "police_receive", "labour")
        step(cases["case_declined"], "police_decline", "labour", reason="认为不构成犯罪。",
             decided_on=day)
        step(cases["case_declined"], "supervise", "labour_head", reason="逾期未追回。")
        judged = cases["case_judged"]
        step(judged, "police_file", "labour", decided_on=day)
        step(judged, "hand_exhibits", "labour", measures="移交涉案物品。")
        step(judged, "sent_for_prosecution", "labour")
        step(judged, "prosecute", "labour", decided_on=day)
        step(judged, "judgment", "labour", decided_on=day, sentence="有期徒刑一年，并处罚金。",
             court_fine=True)


# Reading pages.


@dataclass
class Form:
    method: str
    action: str
    fields: list[tuple[str, str]] = field(default_factory=list)
    # Submit buttons with a name: each is its own submission.
    buttons: list[tuple[str, str]] = field(default_factory=list)
    # Select options by field name (value, selected), text fields by name.
    selects: dict[str, list[tuple[str, bool]]] = field(default_factory=dict)
    texts: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    # Unchecked checkboxes by name: a group of several (the attachments of a referral, a
    # team) is sent all checked when none is, the least a step of several choices takes.
    boxes: dict[str, list[str]] = field(default_factory=dict)


class Page(HTMLParser):
    """The links and forms of a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.forms: list[Form] = []
        self._form: Form | None = None
        self._select: str | None = None
        self._textarea: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag in ("a", "link") and a.get("href"):
            self.links.append(a["href"])
        elif tag == "form":
            self._form = Form(a.get("method", "get").lower(), a.get("action", ""))
            self.forms.append(self._form)
        elif self._form is None:
            return
        elif tag == "input":
            kind = a.get("type", "text").lower()
            name = a.get("name")
            if not name:
                return
            if kind == "submit":
                self._form.buttons.append((name, a.get("value", "")))
            elif kind == "file":
                self._form.files.append(name)
            elif kind == "checkbox":
                if "checked" in a:
                    self._form.fields.append((name, a.get("value", "y")))
                else:
                    self._form.boxes.setdefault(name, []).append(a.get("value", "y"))
            else:
                self._form.fields.append((name, a.get("value", "")))
                if kind in ("text", "date", "password", "email", "number", "tel"):
                    self._form.texts.append(name)
        elif tag == "button" and a.get("name") and a.get("type", "submit") == "submit":
            self._form.buttons.append((a["name"], a.get("value", "")))
        elif tag == "select":
            self._select = a.get("name", "")
            self._form.selects[self._select] = []
        elif tag == "option" and self._select is not None:
            self._form.selects[self._select].append((a.get("value", ""), "selected" in a))
        elif tag == "textarea":
            self._textarea = a.get("name", "")
            self._text = []

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea" and self._form is not None and self._textarea is not None:
            self._form.fields.append((self._textarea, "".join(self._text).strip()))
            self._form.texts.append(self._textarea)
            self._textarea = None


def parse(body: str) -> Page:
    page = Page()
    page.feed(body)
    return page


# What a form is filled with when the page leaves a field empty: the least that is valid.
FILL = {
    "region": "441502",
    "received_on": today().isoformat(),
    "given_on": today().isoformat(),
    "day": (today() + dt.timedelta(days=30)).isoformat(),
    "year": str(today().year + 1),
    "username": "zhaolei",
    "password": "a long enough password",
    "email": "zhaolei@example.org",
    # The case pages' forms (cases/forms.py): the least a step takes.
    "name": "某某公司",
    "police_unit": "汕尾市公安局",
    "fine": "1000",
    "recovered": "100",
    "verified_loss": "1000",
    "decided_on": today().isoformat(),
}


def filled(form: Form, other_tip: str | None) -> list[tuple[str, str]]:
    """The form's fields as a browser sends them, each empty one given the least valid value
    (a select keeps its chosen option, else takes the first real one)."""
    data: list[tuple[str, str]] = []
    for name, value in form.fields:
        short = name.rpartition("-")[2]
        if not value and name in form.texts:
            if short == "other" and other_tip:
                value = other_tip
            elif short in FILL and not (short == "region" and name.startswith("transfer-")):
                value = FILL[short]
            elif short in ("text", "reason", "body", "note", "measures", "findings", "sentence"):
                value = "测试内容。"
        data.append((name, value))
    for name, options in form.selects.items():
        chosen = [v for v, selected in options if selected]
        value = chosen[0] if chosen and chosen[0] else next((v for v, _ in options if v), "")
        data.append((name, value))
    checked = {name for name, _ in form.fields}
    for name, values in form.boxes.items():
        if len(values) > 1 and name not in checked:
            data.extend((name, value) for value in values)
    return data


@dataclass
class Visit:
    """One page seen: where, how it was reached, and what it said."""

    role: str
    method: str
    url: str
    endpoint: str
    status: int
    body: str


@dataclass
class Finding:
    role: str
    page: str
    control: str
    endpoint: str
    status: int
    detail: str = ""


def endpoint_of(app: Flask, url: str, method: str = "GET") -> tuple[str, dict[str, Any]]:
    adapter = app.url_map.bind("localhost")
    try:
        endpoint, args = adapter.match(urlsplit(url).path, method=method.upper())
    except (NotFound, MethodNotAllowed):
        return "", {}
    return endpoint, args


def is_html(response: TestResponse) -> bool:
    return response.mimetype == "text/html"


# The tip-page forms that carry a decision or an action on a tip: drawn, they must be
# accepted (a redirect, or the confirmation step), never refused.
TIP_ACTIONS = frozenset(
    f"triage.{name}"
    for name in ("route", "accept", "refuse", "transfer", "duplicate", "identity_request",
                 "identity_decision", "recuse", "give_notice", "note", "send_message")
) | {"cases.step", "cases.open_case", "cases.join_case"}  # fmt: skip


class Crawler:
    """Every page a role reaches, and every control on it tried."""

    def __init__(self, world: World, role: str, client: FlaskClient | None = None) -> None:
        self.world = world
        self.role = role
        self.client = client or world.client(role)
        self.app = world.app
        self.visits: list[Visit] = []
        self.findings: list[Finding] = []
        self.seen: set[str] = set()
        self.tips_seen: list[str] = []
        self.logout: tuple[str, Form] | None = None
        # Every form sent: (endpoint, address, status).
        self.sent: list[tuple[str, str, int]] = []
        self.officer = world.officer(role) if role in STAFF else None

    def _other_tip(self, current: str | None) -> str | None:
        """A tip this officer may link the current one with (the rules of link_duplicate)."""
        with self.app.extensions["triage"].sessions() as session:
            for tip_id in self.tips_seen:
                tip = session.get(Tip, tip_id)
                if (
                    tip_id != current and tip is not None and self.officer is not None
                    and access.refusal("triage.duplicate", tip, self.officer) is None
                ):  # fmt: skip
                    return tip_id
        return None

    def get(self, url: str) -> TestResponse:
        response = self.client.get(url, headers={"Accept-Language": "zh"})
        response.close()  # a download's file, read or not
        return response

    def crawl(self, start: str, *, forms: bool = True) -> None:
        queue = [start]
        while queue:
            url = queue.pop(0)
            if url in self.seen:
                continue
            self.seen.add(url)
            response = self.get(url)
            endpoint, args = endpoint_of(self.app, url)
            if endpoint == "triage.tip" and args["tip_id"] not in self.tips_seen:
                self.tips_seen.append(args["tip_id"])
            self._check(url, f"GET {url}", endpoint, response.status_code)
            if response.status_code != 200 or not is_html(response):
                continue
            body = response.get_data(as_text=True)
            self.visits.append(Visit(self.role, "GET", url, endpoint, 200, body))
            page = parse(body)
            for link in page.links:
                target = self._local(link)
                if target is None:
                    continue
                link_endpoint, _ = endpoint_of(self.app, target)
                if link_endpoint in ("language", "static"):
                    # Public (access.PUBLIC); following it would change the page's language.
                    self._check(url, f"link {link}", link_endpoint, 200)
                    continue
                queue.append(target)
            if forms:
                for form in page.forms:
                    self.try_form(url, form)

    def _local(self, link: str) -> str | None:
        parts = urlsplit(link)
        if parts.scheme or parts.netloc or not parts.path:
            return None
        return parts.path + (f"?{parts.query}" if parts.query else "")

    def _check(self, page: str, control: str, endpoint: str, status: int, detail: str = "") -> None:
        role = self.officer.role if self.officer is not None else None
        allowed = endpoint in access.PUBLIC or (
            role is not None and role in access.ALLOWED.get(endpoint, frozenset())
        )
        if not allowed or status == 403:
            self.findings.append(Finding(self.role, page, control, endpoint, status, detail))

    def try_form(self, page_url: str, form: Form, depth: int = 0) -> None:
        action = self._local(form.action) or urlsplit(page_url).path
        endpoint, args = endpoint_of(self.app, action, form.method)
        control = f"{form.method.upper()} {action}"
        if form.method == "get":
            query = urlencode(filled(form, None))
            target = f"{action}?{query}" if query else action
            self._check(page_url, control, endpoint, self.get(target).status_code)
            return
        if endpoint == "auth.logout":
            self._check(page_url, control, endpoint, 200)
            self.logout = (page_url, form)  # sent last: it ends the session
            return
        data = filled(form, self._other_tip(args.get("tip_id")))
        for button in form.buttons or [None]:
            sent = data + ([button] if button else [])
            copy = self.world.snapshot()
            try:
                response = self.client.post(action, data=MultiDict(sent),
                                            headers={"Accept-Language": "zh"})  # fmt: skip
                status = response.status_code
                body = response.get_data(as_text=True) if is_html(response) else ""
                label = control + (f" [{button[0]}={button[1]}]" if button else "")
                self.sent.append((endpoint, action, status))
                self._check(page_url, label, endpoint, status)
                if endpoint in TIP_ACTIONS and status not in (200, 302):
                    self.findings.append(Finding(self.role, page_url, label, endpoint, status,
                                                 _errors(body)))  # fmt: skip
                if is_html(response) and status != 302:
                    self.visits.append(Visit(self.role, "POST", action, endpoint, status, body))
                # A page answered to a POST (the confirmation step): its controls too.
                if status == 200 and is_html(response) and depth < 2:
                    inner = parse(body)
                    for link in inner.links:
                        target = self._local(link)
                        if target is not None:
                            link_endpoint, _ = endpoint_of(self.app, target)
                            if link_endpoint in ("language", "static"):
                                continue
                            status = self.get(target).status_code
                            self._check(action, f"link {link}", link_endpoint, status)
                    for inner_form in inner.forms:
                        if endpoint_of(self.app, self._local(inner_form.action) or action,
                                       inner_form.method)[0] != "auth.logout":  # fmt: skip
                            self.try_form(action, inner_form, depth + 1)
            finally:
                self.world.restore(copy)

    def finish(self) -> None:
        """Sign out last, with the form the pages drew."""
        if self.logout is None:
            return
        page_url, form = self.logout
        response = self.client.post(form.action, data=MultiDict(filled(form, None)))
        self._check(page_url, "POST sign-out", "auth.logout", response.status_code)


def _errors(body: str) -> str:
    found = re.findall(r'<p class="error"[^>]*>(.*?)</p>', body, re.S)
    return " | ".join(re.sub(r"<[^>]+>", "", f).strip() for f in found)


def start_page(app: Flask, role: str) -> str:
    """Where signing in leads the role (auth.HOME)."""
    from flask import url_for

    from tipline.triage.auth import HOME

    with app.test_request_context():
        return url_for(HOME.get(STAFF[role][0], "triage.inbox"))


def crawl_all(world: World, *, forms: bool = True) -> Iterator[Crawler]:
    """Each role's crawl: its start page, and every tip page of the world (a tip it may not
    see answers 404, and is not a control of any page)."""
    for role in STAFF:
        crawler = Crawler(world, role)
        visible = [t for t in world.tips.values() if crawler.get(f"/tips/{t}").status_code == 200]
        crawler.tips_seen.extend(visible)  # candidates for the duplicate form's other tip
        crawler.crawl(start_page(world.app, role), forms=forms)
        for tip_id in visible:
            crawler.crawl(f"/tips/{tip_id}", forms=forms)
        crawler.finish()
        yield crawler


def query_of(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))
