"""No raw codes in the Chinese UI (issue 9): every page of the triage site, in Chinese, for
every role, in every state of a tip (the world and crawler of tests/workspace.py, with the
pages that answer a form: confirmations and errors), shows words and never a code.

What counts as a code: a snake_case word, a dotted code (tip.read), JSON braces, any code of
the reference tables (statuses, channels, categories, funds, bureaus, refusal reasons, kinds
of suspect, unit levels, roles, notice channels), the deadline states, units, request states
and timeline kinds, and any Latin word of three letters or more: the Chinese UI has none
but the people's user names (data) and a few abbreviations that are Chinese usage too.
What is read: the text, and the attributes a reader meets (title, placeholder, alt,
aria-label); not what is marked as English (lang="en": the language switch), nor data
marked translate="no" (an activation code to read out, a rule pack's identifier).
"""

from __future__ import annotations

import re
import shutil
from collections import defaultdict
from html.parser import HTMLParser
from pathlib import Path

import pytest
from flask import Flask

from tests.workspace import FILL, USERNAMES, Visit, World, build_world, crawl_all
from tipline.intake import reference
from tipline.triage.accounts import ROLE_TERMS
from tipline.triage.tips import notices

TABLES = (reference.STATUSES, reference.CHANNELS, reference.CATEGORIES, reference.FUNDS,
          reference.BUREAUS, reference.REFUSAL_REASONS, reference.SUSPECT_KINDS,
          reference.UNIT_LEVELS, ROLE_TERMS, notices.CHANNELS)  # fmt: skip
# The codes that are no table's: deadline states, units, request states, timeline kinds.
OTHER_CODES = ("open", "met", "met_late", "overdue", "working_days", "calendar_days", "days",
               "pending", "approved", "refused", "sealed", "received", "screened", "accepted",
               "not_accepted", "transferred_out", "duplicate", "co_accepted", "notice_given",
               "message", "officer", "reporter", "true", "false", "null", "None")  # fmt: skip
CODES = frozenset({t.code for table in TABLES for t in table} | set(OTHER_CODES))
# Latin words the Chinese UI may show: people's user names (data), and abbreviations
# Chinese usage writes in Latin letters.
ALLOWED_WORDS = frozenset(USERNAMES.values()) | {FILL["username"]} | {
    "TOTP", "PDF", "DOCX", "ZIP", "CSV", "QR", "JSON", "Ctrl", "Excel",
    "test"}  # tests/conftest.py's name for whoever asked for and approved an account

SNAKE = re.compile(r"(?<![\w.])[a-z][a-z0-9]*(?:_[a-z0-9]+)+(?![\w])")
DOTTED = re.compile(r"(?<![\w.@/])[a-z]+(?:\.[a-z_]+)+(?![\w@])")
WORD = re.compile(r"(?<![A-Za-z0-9_])[A-Za-z]{3,}(?![A-Za-z0-9_])")
CODE = re.compile(r"(?<![A-Za-z0-9_])[A-Za-z_]+(?![A-Za-z0-9_])")
BRACES = re.compile(r"[{}]")

READ_ATTRIBUTES = ("title", "placeholder", "alt", "aria-label")
SKIPPED = ("script", "style")
VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
                  "source", "track", "wbr"})  # fmt: skip


class Reader(HTMLParser):
    """What a Chinese reader meets on the page: text and read attributes, leaving out what
    is marked as English and what is not shown."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.stack: list[tuple[str, bool]] = []  # tag, skipped

    def _skipping(self) -> bool:
        return any(skipped for _, skipped in self.stack)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        # translate="no" marks data that has no words: an activation code to read out.
        skipped = (tag in SKIPPED or a.get("lang", "").startswith("en") or "hidden" in a
                   or a.get("translate") == "no")  # fmt: skip
        if tag == "input" and a.get("type") == "hidden":
            skipped = True
        if not skipped and not self._skipping():
            self.parts.extend(a[name] for name in READ_ATTRIBUTES if a.get(name))
        if tag not in VOID:
            self.stack.append((tag, skipped))

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self.stack) - 1, -1, -1):
            if self.stack[index][0] == tag:
                del self.stack[index:]
                return

    def handle_data(self, data: str) -> None:
        if not self._skipping():
            self.parts.append(data)


def seen_text(body: str) -> str:
    reader = Reader()
    reader.feed(body)
    return re.sub(r"\s+", " ", " ".join(reader.parts))


def codes_in(text: str) -> set[str]:
    found = set(SNAKE.findall(text)) | set(DOTTED.findall(text)) | set(BRACES.findall(text))
    found |= {w for w in CODE.findall(text) if w in CODES}
    found |= {w for w in WORD.findall(text) if w not in ALLOWED_WORDS}
    return found


@pytest.fixture
def database_url(tmp_path: Path, sqlite_template: Path) -> str:
    """SQLite only: the words on the pages do not depend on the database."""
    path = tmp_path / "tipline.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def world(triage_app: Flask, database_url: str) -> World:
    return build_world(triage_app, database_url)


def page_name(visit: Visit) -> str:
    return visit.endpoint or visit.url


def test_the_reader_sees_text_not_markup() -> None:
    body = ('<p title="提示">办理状态 <code>{"a": 1}</code></p><a lang="en">English</a>'
            '<script>var x_y = 1;</script><input type="hidden" value="tip.read">')  # fmt: skip
    assert codes_in(seen_text(body)) == {"{", "}"}
    assert codes_in("5 working_days · tip.read · 已逾期 met") >= {"working_days", "tip.read", "met"}
    assert codes_in("举报人 zhangwei 已受理 TOTP") == set()


def test_no_page_shows_a_code_in_chinese(world: World) -> None:
    signed_out = world.app.test_client().get("/login", headers={"Accept-Language": "zh"})
    visits = [Visit("signed out", "GET", "/login", "auth.login", 200,
                    signed_out.get_data(as_text=True))]  # fmt: skip
    for crawler in crawl_all(world):
        visits.extend(crawler.visits)
    assert len({page_name(v) for v in visits}) >= 15  # the crawl reached the site

    failing: dict[tuple[str, str], set[str]] = defaultdict(set)
    for visit in visits:
        assert 'lang="zh-Hans"' in visit.body, visit.url
        for code in codes_in(seen_text(visit.body)):
            failing[(page_name(visit), code)].add(f"{visit.role} {visit.method} {visit.url}")
    assert not failing, "codes in the Chinese UI:\n" + "\n".join(
        f"  {page} shows {code!r} ({sorted(where)[0]})"
        for (page, code), where in sorted(failing.items())
    )
