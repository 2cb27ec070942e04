"""Safe decisions (issue 9): no risky defaults, a confirmation step for what cannot be
undone, that works without JavaScript, and after a decision only what is left.

Through the pages as a browser sends them (test client), on SQLite and PostgreSQL: the
confirmation step tries the decision and rolls it back, so on both nothing may change
before the officer confirms."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from tests.conftest import visible
from tests.workspace import USERNAMES, World, build_world, parse
from tipline.intake.db import transaction
from tipline.intake.models import AuditEvent, IdentityRequest, Tip
from tipline.triage import api


def world_of(app: Flask, database_url: str) -> World:
    return build_world(app, database_url)


def token(client: FlaskClient, path: str) -> str:
    match = re.search(r'name="[a-z]*-?csrf_token"[^>]*value="([^"]+)"',
                      client.get(path).get_data(as_text=True))  # fmt: skip
    assert match
    return match.group(1)


def send(client: FlaskClient, tip_id: str, action: str, **fields: str) -> TestResponse:
    data = {"csrf_token": token(client, f"/tips/{tip_id}")}
    data.update({(k if k == "confirm" else f"{action}-{k}"): v for k, v in fields.items()})
    return client.post(f"/tips/{tip_id}/{action}", data=data)


def confirm(client: FlaskClient, page: TestResponse) -> TestResponse:
    """Press the confirmation page's button: its own form, as drawn."""
    body = page.get_data(as_text=True)
    [form] = [f for f in parse(body).forms if f.action and "logout" not in f.action]
    return client.post(form.action, data=dict(form.fields))


def status(app: Flask, tip_id: str) -> str:
    with app.extensions["triage"].sessions() as session:
        tip = session.get(Tip, tip_id)
        assert tip is not None
        return tip.status


def audits(app: Flask, action: str) -> int:
    with app.extensions["triage"].sessions() as session:
        return session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
        ) or 0


def selected(body: str, name: str) -> str:
    select_html = body.split(f'name="{name}"')[1].split("</select>")[0]
    found = re.search(
        r'<option selected value="([^"]*)"|<option value="([^"]*)" selected', select_html
    )
    return next(g for g in found.groups() if g is not None) if found else ""


def test_the_route_form_starts_on_the_suggested_bureau_and_refusal_has_no_default(
    triage_app: Flask, database_url: str
) -> None:
    world = world_of(triage_app, database_url)
    desk = world.client("desk")
    tip_id = world.tips["received"]
    body = desk.get(f"/tips/{tip_id}").get_data(as_text=True)
    with triage_app.extensions["triage"].sessions() as session:
        suggested = session.get(Tip, tip_id).suggested_bureau  # type: ignore[union-attr]
    assert suggested and selected(body, "route-bureau") == suggested
    assert selected(body, "refuse-reason") == ""  # a blank first choice
    assert selected(body, "transfer-bureau") == ""
    assert "请选择理由" in visible(body)

    # Left blank: refused in words, nothing asked to be confirmed, nothing changed.
    answer = send(desk, tip_id, "refuse", reason="")
    assert answer.status_code == 400
    assert "请选择不予受理的理由。" in visible(answer.get_data(as_text=True))
    assert 'id="confirm-form"' not in answer.get_data(as_text=True)
    answer = send(desk, tip_id, "transfer", bureau="")
    assert answer.status_code == 400
    assert "请选择转办的部门。" in visible(answer.get_data(as_text=True))
    assert status(triage_app, tip_id) == "received"


def test_refusing_takes_a_confirmation_that_changes_nothing_until_confirmed(
    triage_app: Flask, database_url: str
) -> None:
    world = world_of(triage_app, database_url)
    agency = world.client("agency")
    tip_id = world.tips["routed"]
    before = audits(triage_app, "tip.refuse")
    step = send(agency, tip_id, "refuse", reason="no_clear_target", text="请补充具体情况。")
    assert step.status_code == 200
    body = step.get_data(as_text=True)
    text = visible(body)
    assert f"对举报 {tip_id} 不予受理？" in text
    assert "未说清楚" in text or "不够" in text or "谁" in text  # the reason, in words
    assert "请补充具体情况。" in text and "此操作无法撤销。" in text
    # Without JavaScript: a plain form with the same fields, confirm=1 and the CSRF token,
    # and a link back.
    [form] = [f for f in parse(body).forms if f.action.endswith("/refuse")]
    fields = dict(form.fields)
    assert fields["confirm"] == "1" and fields["refuse-reason"] == "no_clear_target"
    assert fields["refuse-csrf_token"] and "<script" not in body
    assert f"/tips/{tip_id}" in parse(body).links
    assert 'class="danger"' in body
    assert status(triage_app, tip_id) == "screened"
    assert audits(triage_app, "tip.refuse") == before

    done = confirm(agency, step)
    assert done.status_code == 302 and status(triage_app, tip_id) == "not_accepted"
    assert audits(triage_app, "tip.refuse") == before + 1
    # The page shows the new state and no decision left.
    after = agency.get(f"/tips/{tip_id}").get_data(as_text=True)
    assert "已决定：不予受理。" in visible(after)
    for form_id in ("accept-form", "refuse-form", "transfer-form", "duplicate-form"):
        assert f'id="{form_id}"' not in after
    # Sent again (a stale page): refused at the first step, not asked to be confirmed.
    again = send(agency, tip_id, "refuse", reason="no_clear_target")
    assert again.status_code == 400
    assert "该举报已作出办理决定。" in visible(again.get_data(as_text=True))


def test_transferring_and_recusing_are_confirmed_first(
    triage_app: Flask, database_url: str
) -> None:
    world = world_of(triage_app, database_url)
    agency = world.client("agency")
    tip_id = world.tips["routed"]
    step = send(agency, tip_id, "transfer", bureau="labor_inspection", region="441502")
    assert step.status_code == 200
    text = visible(step.get_data(as_text=True))
    assert f"转办举报 {tip_id}？" in text and "城区" in text
    assert status(triage_app, tip_id) == "screened"
    assert confirm(agency, step).status_code == 302
    assert status(triage_app, tip_id) == "transferred_out"

    desk = world.client("desk")
    other = world.tips["received"]
    step = send(desk, other, "recuse")
    assert step.status_code == 200 and "申请回避" in visible(step.get_data(as_text=True))
    assert desk.get(f"/tips/{other}").status_code == 200  # nothing changed yet
    done = confirm(desk, step)
    assert done.status_code == 302 and done.location.endswith("/")
    assert desk.get(f"/tips/{other}").status_code == 404


def test_a_supervisor_decides_an_identity_request_seeing_who_asked_and_why(
    triage_app: Flask, database_url: str
) -> None:
    world = world_of(triage_app, database_url)
    boss = world.client("boss")
    tip_id = world.tips["routed"]
    page = boss.get(f"/tips/{tip_id}").get_data(as_text=True)
    section = page.split('class="identity-decision"')[1].split("</form>")[0]
    text = visible(section)
    assert USERNAMES["desk"] in text and "需要核实举报人身份以便回访。" in text
    assert "批准申请" in text and "驳回申请" in text
    assert "<select" not in section  # two buttons, no default choice
    with triage_app.extensions["triage"].sessions() as session:
        pending = {r.requester_id: r.id for r in session.scalars(
            select(IdentityRequest).where(IdentityRequest.tip_id == tip_id))}  # fmt: skip
    desk_request = pending[world.officer("desk").id]
    url = f"/tips/{tip_id}/identity-requests/{desk_request}"

    # No decision sent: refused in words.
    blank = boss.post(url, data={"csrf_token": token(boss, f"/tips/{tip_id}")})
    assert blank.status_code == 400
    assert "请选择批准或驳回该申请。" in visible(blank.get_data(as_text=True))
    # Approve: the confirmation says what it opens, and who asked why.
    step = boss.post(url, data={"csrf_token": token(boss, f"/tips/{tip_id}"),
                                "decide-decision": "approve"})  # fmt: skip
    assert step.status_code == 200
    text = visible(step.get_data(as_text=True))
    assert "需要核实举报人身份以便回访。" in text and "居民身份证号码" in text
    assert _state(triage_app, desk_request) == "pending"
    assert confirm(boss, step).status_code == 302
    assert _state(triage_app, desk_request) == "approved"

    # Rejecting can be asked again: one step.
    with transaction(triage_app.extensions["triage"].sessions) as session:
        from tipline.intake.reading import open_tip
        from tipline.triage.tips import decisions

        tip = session.get(Tip, tip_id)
        agency = world.officer("agency")
        again = decisions.request_identity(
            session, open_tip(tip, triage_app.extensions["triage"].keyring), agency, "再次核实。"
        )  # type: ignore[arg-type]
        again_id = again.id
    rejected = boss.post(f"/tips/{tip_id}/identity-requests/{again_id}",
                         data={"csrf_token": token(boss, f"/tips/{tip_id}"),
                               "decide-decision": "refuse"})  # fmt: skip
    assert rejected.status_code == 302 and _state(triage_app, again_id) == "refused"


def _state(app: Flask, request_id: int) -> str:
    with app.extensions["triage"].sessions() as session:
        found = session.get(IdentityRequest, request_id)
        assert found is not None
        return found.state


def test_the_api_lists_who_asked_and_why_and_needs_an_explicit_decision(
    triage_app: Flask, database_url: str
) -> None:
    world = world_of(triage_app, database_url)
    with transaction(triage_app.extensions["triage"].sessions) as session:
        issued = api.issue_token(session, USERNAMES["boss"], actor="test")
    bearer = {"Authorization": f"Bearer {issued}"}
    client = triage_app.test_client()
    tip_id = world.tips["routed"]
    detail: dict[str, Any] = client.get(f"/api/v1/tips/{tip_id}", headers=bearer).get_json()
    asked = {(r.get("requested_by"), r.get("reason")) for r in detail["identity_requests"]}
    assert (USERNAMES["desk"], "需要核实举报人身份以便回访。") in asked
    request_id = next(
        r["id"] for r in detail["identity_requests"] if r.get("requested_by") == USERNAMES["desk"]
    )
    # Who asked and why go only to a supervisor who may decide, as on the page: not to the
    # officers reading the tip, the requester included.
    readers = 0
    for reader in ("desk", "agency"):
        with transaction(triage_app.extensions["triage"].sessions) as session:
            other = api.issue_token(session, USERNAMES[reader], actor="test")
        seen = client.get(f"/api/v1/tips/{tip_id}", headers={"Authorization": f"Bearer {other}"})
        if seen.status_code == 200:
            readers += 1
            requests = seen.get_json()["identity_requests"]
            assert requests and not any("reason" in r for r in requests), reader
    assert readers  # the desk, at least, reads the tip
    url = f"/api/v1/tips/{tip_id}/identity-requests/{request_id}"
    missing = client.post(url, json={}, headers=bearer)
    assert missing.status_code == 400
    assert _state(triage_app, request_id) == "pending"
