"""Co-handling bureaus (domain.md section 2) through the pages and the internal API: a
bureau beside the lead takes up its own part and nothing else. The lead's decisions (route,
refuse, transfer, duplicate, the T2 notice) are refused to it and not drawn for it, it takes
up its part only of a tip neither refused nor sent away, and the 告知书 with the reporter's
contact is the lead's and the intake desk's, never with the ID number in it."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from tests.conftest import csrf_token, make_enrolled, sign_in_officer, visible
from tipline.intake.db import transaction
from tipline.intake.models import AuditEvent, Deadline, Tip
from tipline.intake.submit import Report, ReporterIdentity, today
from tipline.triage import api

ID = ReporterIdentity(name="王小明", id_number="11010519491231002X", phone="13800138000")
# Someone draws a dead relative's pension, somewhere in 汕尾: the city agency stops payment
# (the lead), the city labour inspection investigates beside it.
OFFICERS = {
    "desk": ("triage_officer", "hrss_fund_supervision"),
    "agency": ("bureau_officer", "si_agency"),
    "labour": ("bureau_officer", "labor_inspection"),
    # A supervisor of the co-handling bureau: one who may route tips (access.py), though
    # not this one.
    "labour_chief": ("supervisor", "labor_inspection"),
}
REFUSED = "此项由主办部门决定；本部门负责协办部分。"
REFUSED_EN = "Only the lead bureau decides this; your bureau handles its own part."


class Officer:
    def __init__(self, page: FlaskClient, token: str) -> None:
        self.page = page
        self.bearer = {"Authorization": f"Bearer {token}"}

    def post(self, tip_id: str, action: str, **fields: str) -> Any:
        """A form of the tip page, sent with its prefix, as the browser sends it."""
        token = csrf_token(self.page, f"/tips/{tip_id}")
        # confirm=1: an irreversible decision's second step, as if confirmed at once.
        data = {"csrf_token": token, f"{action}-csrf_token": token, "confirm": "1"}
        data.update({f"{action}-{name}": value for name, value in fields.items()})
        return self.page.post(f"/tips/{tip_id}/{action}", data=data)


@pytest.fixture
def staff(triage_app: Flask) -> dict[str, Officer]:
    services = triage_app.extensions["triage"]
    secrets, tokens = {}, {}
    with transaction(services.sessions) as session:
        for name, (role, bureau) in OFFICERS.items():
            _, secrets[name] = make_enrolled(session, services.officer_secrets, name, role=role,
                                             bureau=bureau, region="441500")  # fmt: skip
            tokens[name] = api.issue_token(session, name, actor="test")
    return {name: Officer(sign_in_officer(triage_app, name, secrets[name]), tokens[name])
            for name in OFFICERS}  # fmt: skip


def pension_tip(app: Flask, text: str = "有人冒领已故亲属的养老金。") -> str:
    stored = app.extensions["triage"].submitter.submit(
        Report(category="benefit_impostor", fund="pension", region="441500", text=text,
               channel="visit", received_on=today(), identity=ID, wants_notice=True),
        with_receipt=False,
    )  # fmt: skip
    return stored.tip_id


def state(app: Flask, tip_id: str) -> tuple[str, str | None, list[tuple[str, str, bool]]]:
    with app.extensions["triage"].sessions() as session:
        tip = session.get(Tip, tip_id)
        assert tip is not None
        clocks = sorted((d.rule, d.bureau or "", d.met_on is not None) for d in tip.deadlines)
        return tip.status, tip.bureau, clocks  # type: ignore[return-value]


def identity_reads(app: Flask, actor: str) -> int:
    with app.extensions["triage"].sessions() as session:
        return len(session.scalars(select(AuditEvent).where(
            AuditEvent.action == "identity.read", AuditEvent.actor == actor)).all())  # fmt: skip


LEAD_FORMS = ("route-form", "refuse-form", "transfer-form", "duplicate-form",
              "give-notice-form")  # fmt: skip


def test_a_co_handler_cannot_make_the_leads_decisions(
    triage_app: Flask, staff: dict[str, Officer]
) -> None:
    tip_id, other_id = pension_tip(triage_app), pension_tip(triage_app, "另一人冒领养老金。")
    desk, labour = staff["desk"], staff["labour"]
    for each in (tip_id, other_id):
        assert desk.post(each, "route", bureau="si_agency").status_code == 302
    before = state(triage_app, tip_id)
    assert before[:2] == ("screened", "si_agency")

    # The page draws none of the lead's controls for the co-handler; its own part it has.
    for who in (labour, staff["labour_chief"]):
        page = who.page.get(f"/tips/{tip_id}").get_data(as_text=True)
        assert 'id="accept-form"' in page
        for form in LEAD_FORMS:
            assert f'id="{form}"' not in page, form
    # The lead sees them all, but routing: that is the intake desk's and the supervisors'
    # (access.ALLOWED), and a bureau officer is drawn no control the guard would refuse.
    lead_page = staff["agency"].page.get(f"/tips/{tip_id}").get_data(as_text=True)
    for form in ("refuse-form", "transfer-form", "duplicate-form"):
        assert f'id="{form}"' in lead_page, form
    assert 'id="route-form"' not in lead_page

    # Posted all the same (a stale page, a hand-made request): refused, with the reason in
    # Chinese and English, and nothing changes.
    decisions = {  # the lead's decisions, and what each one needs
        "route": {"bureau": "labor_inspection", "reason": "我们来牵头"},
        "refuse": {"reason": "no_clear_target"},
        "transfer": {"bureau": "labor_inspection", "region": "441502"},
        "duplicate": {"other": other_id},
    }
    for action, fields in decisions.items():
        who = staff["labour_chief"] if action == "route" else labour
        answer = who.post(tip_id, action, **fields)
        assert answer.status_code == 400, action
        assert REFUSED in visible(answer.get_data(as_text=True)), action
        assert state(triage_app, tip_id) == before, action
    english = labour.page.post(f"/tips/{tip_id}/refuse", headers={"Accept-Language": "en"},
                               data={"csrf_token": csrf_token(labour.page, f"/tips/{tip_id}"),
                                     "refuse-reason": "no_clear_target"})  # fmt: skip
    assert english.status_code == 400 and REFUSED_EN in english.get_data(as_text=True)

    client = triage_app.test_client()
    for action, body in decisions.items():
        who = staff["labour_chief"] if action == "route" else labour
        answer = client.post(f"/api/v1/tips/{tip_id}/{action}", json=body,
                             headers={**who.bearer, "Accept-Language": "zh"})  # fmt: skip
        assert answer.status_code == 409, (action, answer.get_json())
        assert [p["message"] for p in answer.get_json()["problems"]] == [REFUSED], action
        assert state(triage_app, tip_id) == before, action
    # Linking from the lead's own tip to one the actor co-handles is refused too.
    with triage_app.extensions["triage"].sessions() as session:
        linked = session.scalars(select(Tip.duplicate_of).where(Tip.duplicate_of.is_not(None)))
        assert list(linked) == []

    # Its own part it takes up: its T1 is met, the tip stays the lead's to decide.
    assert labour.post(tip_id, "accept").status_code == 302
    status, bureau, clocks = state(triage_app, tip_id)
    assert (status, bureau) == ("screened", "si_agency")
    assert ("T1", "labor_inspection", True) in clocks and ("T1", "", False) in clocks
    # And the lead still decides.
    assert staff["agency"].post(tip_id, "refuse", reason="no_clear_target").status_code == 302
    assert state(triage_app, tip_id)[0] == "not_accepted"


@pytest.mark.parametrize("decision", ["refuse", "transfer"])
def test_a_co_handler_takes_up_no_part_of_a_refused_or_transferred_tip(
    triage_app: Flask, staff: dict[str, Officer], decision: str
) -> None:
    tip_id = pension_tip(triage_app)
    assert staff["desk"].post(tip_id, "route", bureau="si_agency").status_code == 302
    fields = {"refuse": {"reason": "no_clear_target"},
              "transfer": {"bureau": "si_agency", "region": "441502"}}[decision]  # fmt: skip
    assert staff["agency"].post(tip_id, decision, **fields).status_code == 302
    labour = staff["labour"]
    before = state(triage_app, tip_id)
    page = labour.page.get(f"/tips/{tip_id}").get_data(as_text=True)
    # No control that would answer an error: the page says why instead.
    assert 'id="accept-form"' not in page and "该举报已作出办理决定。" in visible(page)
    assert labour.post(tip_id, "accept").status_code == 400
    answer = triage_app.test_client().post(f"/api/v1/tips/{tip_id}/accept", headers=labour.bearer)
    assert answer.status_code == 409
    assert state(triage_app, tip_id) == before


def test_the_notice_and_the_reporters_contact_are_the_leads(
    triage_app: Flask, staff: dict[str, Officer]
) -> None:
    tip_id = pension_tip(triage_app)
    assert staff["desk"].post(tip_id, "route", bureau="si_agency").status_code == 302
    agency, labour = staff["agency"], staff["labour"]
    assert agency.post(tip_id, "accept").status_code == 302

    # The co-handler: no document, no contact, no link, no form; nothing opened.
    assert labour.page.get(f"/tips/{tip_id}/notice").status_code == 403
    page = labour.page.get(f"/tips/{tip_id}").get_data(as_text=True)
    assert f"/tips/{tip_id}/notice" not in page and 'id="give-notice-form"' not in page
    assert "由主办部门告知举报人。" in visible(page)
    given = labour.post(tip_id, "notice", channel="phone", given_on=today().isoformat())
    assert given.status_code == 400 and REFUSED in visible(given.get_data(as_text=True))
    with triage_app.extensions["triage"].sessions() as session:
        t2 = session.scalars(select(Deadline).where(Deadline.tip_id == tip_id,
                                                    Deadline.rule == "T2")).one()  # fmt: skip
        assert t2.met_on is None
    assert identity_reads(triage_app, "labour") == 0

    # The lead and the intake desk: the name and the telephone, never the ID number; each
    # opening audited.
    for name in ("agency", "desk"):
        document = staff[name].page.get(f"/tips/{tip_id}/notice")
        assert document.status_code == 200, name
        text = document.get_data(as_text=True)
        assert "王小明" in text and "13800138000" in text, name
        assert ID.id_number not in text and ID.id_number.lower() not in text, name
        assert identity_reads(triage_app, name) == 1, name
    # The lead gives the notice; T2 is met.
    assert agency.post(tip_id, "notice", channel="phone",
                       given_on=today().isoformat()).status_code == 302  # fmt: skip
    assert ("T2", "", True) in state(triage_app, tip_id)[2]
