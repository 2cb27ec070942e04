"""No dead controls (issue 9): every page of the triage site, as every role sees it, draws
only links and forms the role may use.

Each role signs in and the crawler (tests/workspace.py) follows every link from its start
page and from every tip page it can open, in every state a tip can be in (received, routed
with a co-handling bureau, accepted, not accepted with the notice owed, notice given,
transferred; identity requests pending, the supervisor's own, approved, refused), and sends
every form with its CSRF token and the least valid data, each on a copy of the database put
back afterwards. None may answer 403, nor be a control the access table closes to the role;
and a decision drawn on a tip page is taken (a redirect, or its confirmation step, whose own
form is then sent too), never refused by the rules of decisions.py."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from flask import Flask

from tests.workspace import STAFF, USERNAMES, Crawler, World, build_world, crawl_all, parse


@pytest.fixture
def database_url(tmp_path: Path, sqlite_template: Path) -> str:
    """SQLite only: the pages do not depend on the database, and the crawler puts the file
    back after each form it sends."""
    path = tmp_path / "tipline.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def world(triage_app: Flask, database_url: str) -> World:
    return build_world(triage_app, database_url)


def test_no_control_answers_403_or_a_refusal(world: World) -> None:
    crawlers = list(crawl_all(world))
    findings = [f for c in crawlers for f in c.findings]
    assert findings == [], "\n".join(
        f"{f.role} on {f.page}: {f.control} ({f.endpoint}) answered {f.status} {f.detail}"
        for f in findings
    )
    # The crawl reached what it should: each role's pages, and the tips in every state.
    by_role = {c.role: c for c in crawlers}
    assert set(by_role["desk"].tips_seen) >= set(world.tips.values())
    assert world.tips["routed"] in by_role["labour"].tips_seen  # as the co-handler
    forms_sent = {
        v.endpoint for c in crawlers for v in c.visits if v.method == "POST" and v.status == 200
    }
    # The confirmation steps were drawn and their forms sent.
    assert {"triage.refuse", "triage.transfer", "triage.recuse",
            "triage.identity_decision"} <= forms_sent  # fmt: skip
    for role in ("admin", "auditor"):
        assert not any(v.endpoint.startswith("triage.") for v in by_role[role].visits), role
    # The case pages (issue 10) in every stage of the world: each role that reads cases
    # opened them, and the steps drawn there were taken (a redirect, or the confirmation
    # step whose own form was sent too), from the agency's and labour inspection's pages.
    for role in ("desk", "agency", "labour", "boss"):
        assert any(v.endpoint == "cases.case" for v in by_role[role].visits), role
        assert any(v.endpoint == "cases.board" for v in by_role[role].visits), role
    steps = {(c.role, url.rsplit("/", 1)[1]) for c in crawlers
             for endpoint, url, status in c.sent if endpoint == "cases.step"}  # fmt: skip
    assert {("agency", "hand_over"), ("agency", "record_recovery"), ("labour", "sign_receipt"),
            ("labour", "penalise"), ("labour", "report_referral"),
            ("labour", "ask_reconsideration"), ("labour", "propose_supervision"),
            ("labour", "close"), ("agency", "find_unfounded")} <= steps, sorted(steps)
    assert "cases.step" in forms_sent  # the confirmation of an irreversible step
    assert any(e == "cases.open_case" for c in crawlers for e, _u, _s in c.sent)


def controls(crawler: Crawler, url: str) -> tuple[set[str], set[str]]:
    page = parse(crawler.get(url).get_data(as_text=True))
    return set(page.links), {f.action for f in page.forms}


def test_a_bureau_officer_is_not_drawn_entry_nor_routing(world: World) -> None:
    """The two dead controls the issue found: 录入举报 and 确认承办部门 for a bureau officer."""
    agency = Crawler(world, "agency")
    links, actions = controls(agency, f"/tips/{world.tips['received']}")
    assert "/tips/new" not in links
    assert not any(a.endswith("/route") for a in actions)
    assert agency.get("/tips/new").status_code == 403  # and the guard agrees
    desk = Crawler(world, "desk")
    links, actions = controls(desk, f"/tips/{world.tips['received']}")
    assert "/tips/new" in links and any(a.endswith("/route") for a in actions)


def test_a_decided_tip_draws_only_what_is_left(world: World) -> None:
    agency = Crawler(world, "agency")
    refused = agency.get(f"/tips/{world.tips['refused']}").get_data(as_text=True)
    for form in ("route-form", "accept-form", "refuse-form", "transfer-form", "duplicate-form"):
        assert f'id="{form}"' not in refused, form
    assert "已决定：不予受理。" in refused
    accepted = agency.get(f"/tips/{world.tips['accepted']}").get_data(as_text=True)
    for form in ("accept-form", "refuse-form", "transfer-form"):
        assert f'id="{form}"' not in accepted, form
    routed = agency.get(f"/tips/{world.tips['routed']}").get_data(as_text=True)
    for form in ("accept-form", "refuse-form", "transfer-form", "duplicate-form"):
        assert f'id="{form}"' in routed, form


def test_only_a_supervisor_deciding_anothers_request_is_drawn_the_decision(world: World) -> None:
    tip = f"/tips/{world.tips['routed']}"
    boss = Crawler(world, "boss").get(tip).get_data(as_text=True)
    # Two pending requests on the tip: the desk's, which the supervisor decides, and the
    # supervisor's own, which nobody decides by themselves.
    assert boss.count('class="identity-decision"') == 1
    assert "需要核实举报人身份以便回访。" in boss and USERNAMES["desk"] in boss
    assert "督办需要。" not in boss
    for name in ("desk", "agency", "labour"):
        assert 'class="identity-decision"' not in Crawler(world, name).get(tip).get_data(
            as_text=True
        ), name


def test_the_nav_follows_the_access_table(world: World) -> None:
    expected = {
        "desk": {"/", "/tips/new"},
        "agency": {"/"},
        "labour": {"/"},
        "boss": {"/", "/tips/new", "/approvals", "/stats"},
        "admin": {"/admin/users", "/admin/rules", "/admin/calendar"},
        "auditor": {"/audit", "/stats"},
    }
    every = set().union(*expected.values())
    for role in STAFF:
        crawler = Crawler(world, role)
        page = crawler.get("/" if role not in ("admin", "auditor") else
                           {"admin": "/admin/users", "auditor": "/audit"}[role])  # fmt: skip
        nav = page.get_data(as_text=True).split('<nav aria-label="账号">')[1].split("</nav>")[0]
        drawn = {link for link in parse(nav).links} & every
        assert drawn == expected[role], role
