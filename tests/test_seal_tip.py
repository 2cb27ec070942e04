"""Sealing a tip after intake (issue 10: "a tip whose staff angle appears only after intake
can be sealed by a decision"): from then on only discipline inspection sees it, in pages,
the API, the inbox and its counts (domain.md section 2)."""

from __future__ import annotations

import datetime as dt
import json
import re

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from tests.caseworld import CaseWorld, build
from tests.conftest import csrf_token
from tipline.intake.db import transaction
from tipline.intake.models import AuditEvent, Deadline, Tip
from tipline.triage.api import issue_token

REASON = "核查中发现经办人员与冒领人串通。"
ZH = {"Accept-Language": "zh-CN"}


def token(world: CaseWorld, name: str) -> str:
    with transaction(world.services.sessions) as session:
        return issue_token(session, world.officer(name).username, actor="test")


def api(world: CaseWorld, name: str, method: str, path: str, body: object = None) -> TestResponse:
    client = world.app.test_client()
    headers = {"Authorization": f"Bearer {token(world, name)}", **ZH}
    return client.open(f"/api/v1{path}", method=method, json=body, headers=headers)


def inbox_ids(client: FlaskClient) -> tuple[set[str], str]:
    page = client.get("/", headers=ZH).get_data(as_text=True)
    return set(re.findall(r'href="/tips/([0-9a-f]{16})"', page)), page


def co_handled(world: CaseWorld, tip_id: str) -> None:
    """Labour inspection co-handles the tip (the pack makes it so for an impostor: the
    agency stops payment, labour inspection investigates), with a review clock of its own
    long overdue besides the pack's, and the tip is assigned to an officer."""
    with transaction(world.services.sessions) as session:
        tip = session.get(Tip, tip_id)
        assert tip is not None
        tip.set_co_bureaus(["labor_inspection"])
        tip.assigned_to = world.officer("agency").id
        session.add(Deadline(
            tip_id=tip_id, rule="T1", bureau="labor_inspection", starts_on=dt.date(2025, 9, 2),
            due_on=dt.date(2025, 9, 9), unit="working_days", amount=5,
            rule_pack="national@2026.1", met_by="accepted", state="overdue",
        ))  # fmt: skip


def test_a_sealed_tip_is_seen_by_discipline_inspection_only(triage_app: Flask) -> None:
    world = build(triage_app, received=dt.date(2025, 9, 1))
    tip_id = world.tips[0]
    co_handled(world, tip_id)
    agency, desk = world.client("agency"), world.client("desk")
    inspector = world.client("inspector")
    assert tip_id in inbox_ids(inspector)[0]  # the co-handling bureau sees it
    page = agency.get(f"/tips/{tip_id}", headers=ZH).get_data(as_text=True)
    assert 'id="seal-form"' in page and "密封并转纪检监察" in page
    # Without a reason: refused in words, nothing changes.
    empty = agency.post(f"/tips/{tip_id}/seal", headers=ZH, data={
        "seal-csrf_token": csrf_token(agency, f"/tips/{tip_id}"), "seal-reason": " ",
    })  # fmt: skip
    assert empty.status_code == 400
    assert "请说明该举报涉及工作人员的理由" in empty.get_data(as_text=True)
    # The first step shows what will happen and changes nothing.
    step = agency.post(f"/tips/{tip_id}/seal", headers=ZH, data={
        "seal-csrf_token": csrf_token(agency, f"/tips/{tip_id}"), "seal-reason": REASON,
    })  # fmt: skip
    text = step.get_data(as_text=True)
    assert step.status_code == 200 and 'id="confirm-form"' in text and REASON in text
    assert "此操作不可撤销" in text
    assert agency.get(f"/tips/{tip_id}").status_code == 200
    done = agency.post(f"/tips/{tip_id}/seal", data={
        "seal-csrf_token": csrf_token(agency, f"/tips/{tip_id}"), "seal-reason": REASON,
        "confirm": "1",
    })  # fmt: skip
    assert done.status_code == 302 and done.headers["Location"].endswith("/")

    # The lead bureau, the intake desk and the co-handling bureau: 404, absent, not counted.
    for name, client in (("agency", agency), ("desk", desk), ("inspector", inspector)):
        assert client.get(f"/tips/{tip_id}").status_code == 404, name
        listed, page = inbox_ids(client)
        assert tip_id not in listed and tip_id not in page, name
        response = api(world, name, "GET", f"/tips/{tip_id}")
        assert response.status_code == 404, name
        tips = api(world, name, "GET", "/tips").get_json()
        assert tip_id not in {t["id"] for t in tips["tips"]}, name
    # The desk counted two accepted tips before; one now.
    assert api(world, "desk", "GET", "/tips").get_json()["total"] == 1
    _, page = inbox_ids(desk)
    assert 'data-status="accepted">1<' in page

    # Discipline inspection sees it, with the reason as a sealed note.
    discipline = world.client("discipline")
    assert tip_id in inbox_ids(discipline)[0]
    page = discipline.get(f"/tips/{tip_id}", headers=ZH).get_data(as_text=True)
    assert REASON in page and "密封理由" in page
    assert 'id="seal-form"' not in page  # sealed already, and discipline's own
    with world.services.sessions() as session:
        tip = session.get(Tip, tip_id)
        assert tip is not None
        assert (tip.sealed, tip.bureau, tip.co_bureaus, tip.assigned_to) == (
            True, "discipline_inspection", "", None,
        )  # fmt: skip
        clocks = session.scalars(select(Deadline).where(Deadline.tip_id == tip_id)).all()
        # The co-handling bureau's clocks (the pack's, from routing, and the one added here,
        # long overdue) close with the sealing; the late one stays on record as late.
        co = sorted((d for d in clocks if d.bureau == "labor_inspection"), key=lambda d: d.due_on)
        assert [(d.closed_by, d.state) for d in co] == [("sealed", "met_late"), ("sealed", "met")]
        # The tip's own clocks run on for discipline inspection (the notice is still owed).
        assert any(d.bureau is None and d.met_on is None for d in clocks)
        [entry] = session.scalars(select(AuditEvent).where(AuditEvent.action == "tip.seal"))
        assert entry.tip_id == tip_id and entry.actor == world.officer("agency").username
        assert json.loads(entry.detail) == {"was_bureau": "si_agency", "closed": "T1"}
    # The reporter is told nothing of it (the event is not shown on the portal).
    with world.services.sessions() as session:
        tip = session.get(Tip, tip_id)
        assert tip is not None
        assert [e.shown_to_reporter for e in tip.events if e.kind == "sealed"] == [False]
    # The audit log says it in words.
    log = world.client("auditor").get("/audit?action=tip.seal", headers=ZH).get_data(as_text=True)
    assert "密封涉及工作人员的举报" in log and tip_id not in log


def test_sealing_through_the_api_and_its_refusals(triage_app: Flask) -> None:
    world = build(triage_app, received=dt.date(2025, 9, 1))
    first, second = world.tips
    # Discipline inspection cannot seal what it does not see (404), nor seal at all.
    assert api(world, "discipline", "POST", f"/tips/{first}/seal",
               {"reason": REASON}).status_code == 404
    # A bad body: every problem, nothing done.
    bad = api(world, "desk", "POST", f"/tips/{first}/seal", {"reason": "", "x": 1})
    assert bad.status_code == 400
    assert {p["field"] for p in bad.get_json()["problems"]} >= {"x"}
    sealed = api(world, "desk", "POST", f"/tips/{first}/seal", {"reason": REASON})
    assert sealed.status_code == 200
    assert sealed.get_json() == {"id": first, "sealed": True}
    for name in ("desk", "agency"):
        assert api(world, name, "GET", f"/tips/{first}").status_code == 404
        again = api(world, name, "POST", f"/tips/{first}/seal", {"reason": REASON})
        assert again.status_code == 404
    assert api(world, "discipline", "GET", f"/tips/{first}").status_code == 200
    # Discipline inspection, now seeing it, is refused in words (409): nothing to seal from.
    own = api(world, "discipline", "POST", f"/tips/{first}/seal", {"reason": REASON})
    assert own.status_code == 409
    assert "已密封" in own.get_json()["problems"][0]["message"]

    # A tip in a case: its staff matter goes through the case (a sealed sub-case).
    world.open_case(tips=[second])
    page = world.client("agency").get(f"/tips/{second}").get_data(as_text=True)
    assert 'id="seal-form"' not in page
    refused = api(world, "agency", "POST", f"/tips/{second}/seal", {"reason": REASON})
    assert refused.status_code == 409
    assert "请在案件中" in refused.get_json()["problems"][0]["message"]
    with world.services.sessions() as session:
        tip = session.get(Tip, second)
        assert tip is not None and not tip.sealed
