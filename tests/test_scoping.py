"""Officers of several bureaus and regions, and staff-suspect tips: the inbox list, its
counts, filtered searches and the tip pages all agree on who sees what."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from tests.conftest import csrf_token, make_enrolled, sign_in_officer
from tipline.crypto import ReceiptKdf, load_private_keyring, load_public_keyring
from tipline.intake.db import transaction
from tipline.intake.jobs import process_new_tips
from tipline.intake.models import Officer, Tip
from tipline.intake.queue import InlineQueue
from tipline.intake.reading import open_tip
from tipline.intake.submit import Report, Submitter
from tipline.triage import scope
from tipline.triage.tips import decisions

from .conftest import PASSPHRASE

PASSWORD = "a long test password"
OFFICERS = {
    # name: role, bureau, region
    "desk_city": ("triage_officer", "hrss_fund_supervision", "441500"),
    "desk_district": ("triage_officer", "hrss_fund_supervision", "441502"),
    "desk_province": ("supervisor", "hrss_fund_supervision", "440000"),
    "labour_city": ("bureau_officer", "labor_inspection", "441500"),
    "labour_shenzhen": ("bureau_officer", "labor_inspection", "440300"),
    "discipline_city": ("bureau_officer", "discipline_inspection", "441500"),
    "agency_boss": ("supervisor", "si_agency", "441500"),
}


def sign_in(app: Flask, name: str, secret: str) -> FlaskClient:
    return sign_in_officer(app, name, secret, PASSWORD)


def listed(client: FlaskClient, query: str = "") -> tuple[set[str], int]:
    page = client.get("/" + query).get_data(as_text=True)
    ids = set(re.findall(r'href="/tips/([0-9a-f]{16})"', page))
    total = int(re.search(r'data-total="(\d+)"', page).group(1))  # type: ignore[union-attr]
    return ids, total


@pytest.fixture
def world(triage_app: Flask, keys_dir: Path) -> dict[str, str]:
    services = triage_app.extensions["triage"]
    submitter = Submitter(
        services.sessions,
        keyring=load_public_keyring(keys_dir),
        queue=InlineQueue(services.engine, services.keyring),
        kdf=ReceiptKdf(n=2**10),
        limits=services.config.limits,
    )

    def tip(category: str, region: str, **extra: object) -> str:
        report = Report(
            category=category,
            region=region,
            text=f"{category} {region}",
            received_on=dt.date(2025, 9, 30),
            **extra,
        )  # type: ignore[arg-type]
        return submitter.submit(report, with_receipt=False).tip_id  # fmt: skip

    return {
        "district": tip("fake_docs", "441502"),
        # Shanwei rule: a city-level unit's case goes to 城区 (441502).
        "city_unit": tip("fake_employment_backpay", "441500", suspect_kind="unit",
                         unit_level="city"),
        # domain.md section 2: the agency leads (stops payment), labour inspection beside it.
        "impostor": tip("benefit_impostor", "441502"),
        "staff": tip("benefit_impostor", "441521", suspect_kind="agency_staff"),
        "shenzhen": tip("work_injury_fraud", "440305"),
    }


def test_who_sees_what(triage_app: Flask, world: dict[str, str], keys_dir: Path) -> None:
    services = triage_app.extensions["triage"]
    secrets: dict[str, str] = {}
    with transaction(services.sessions) as session:
        for name, (role, bureau, region) in OFFICERS.items():
            secrets[name] = make_enrolled(session, services.officer_secrets, name, PASSWORD,
                                          role=role, bureau=bureau, region=region)[1]  # fmt: skip
    clients = {name: sign_in(triage_app, name, secret) for name, secret in secrets.items()}
    district, city_unit, staff, shenzhen, impostor = (
        world["district"], world["city_unit"], world["staff"], world["shenzhen"],
        world["impostor"],
    )  # fmt: skip

    expected = {
        "desk_city": {district, city_unit, impostor},
        "desk_district": {district, city_unit, impostor},
        "desk_province": {district, city_unit, shenzhen, impostor},
        # Bureaus see what is assigned to them: nothing yet.
        "labour_city": set(),
        "labour_shenzhen": set(),
        # Only discipline inspection sees the tip about staff, whoever supervises the unit.
        "discipline_city": {staff},
        "agency_boss": set(),
    }

    def agree(name: str, want: set[str]) -> None:
        client = clients[name]
        ids, total = listed(client)
        assert (ids, total) == (want, len(want)), name
        # Searching never finds more than the list.
        for category in ("fake_docs", "benefit_impostor", "work_injury_fraud"):
            found, count = listed(client, f"?category={category}")
            assert found <= want and count == len(found), (name, category)
        for tip_id in world.values():
            status = client.get(f"/tips/{tip_id}").status_code
            assert status == (200 if tip_id in want else 404), (name, tip_id, status)
        # The status counts add up to the visible total: nothing hidden is counted.
        page = client.get("/").get_data(as_text=True)
        counts = re.findall(r'class="status-count" data-status="[a-z_]+">(\d+)<', page)
        assert sum(int(c) for c in counts) == len(want), (name, counts)

    for name, want in expected.items():
        agree(name, want)

    # The intake desk routes the district tip to labour inspection: now the city's labour
    # inspectors see it, and Shenzhen's still do not.
    keyring = load_private_keyring(keys_dir, PASSPHRASE)
    with transaction(services.sessions) as session:
        desk = session.scalar(select(Officer).where(Officer.username == "desk_city"))
        assert desk is not None
        opened = open_tip(session.get(Tip, district), keyring)  # type: ignore[arg-type]
        decisions.confirm_routing(session, opened, desk, "labor_inspection", "")
    agree("labour_city", {district})
    agree("labour_shenzhen", set())

    # The desk confirms the agency as the lead of the impostor tip: the agency sees it, and
    # so does labour inspection of the jurisdiction as its co-handling bureau; Shenzhen's
    # does not, and nobody beside discipline inspection ever sees the staff tip, which has
    # the same category but no co-handling bureau (domain.md section 2).
    with transaction(services.sessions) as session:
        desk = session.scalar(select(Officer).where(Officer.username == "desk_city"))
        opened = open_tip(session.get(Tip, impostor), keyring)  # type: ignore[arg-type]
        decisions.confirm_routing(session, opened, desk, "si_agency", "")  # type: ignore[arg-type]
        assert session.get(Tip, staff).co_bureaus == ""  # type: ignore[union-attr]
    agree("agency_boss", {impostor})
    agree("labour_city", {district, impostor})
    agree("labour_shenzhen", set())
    agree("discipline_city", {staff})

    # A declared conflict of interest hides the tip from that officer from then on.
    clients["desk_city"].post(
        f"/tips/{district}/recuse",
        data={
            "csrf_token": csrf_token(clients["desk_city"], "/"),
            "confirm": "1",  # the confirmed second step (test_safe_decisions.py)
        },
    )
    agree("desk_city", {city_unit, impostor})
    agree("desk_district", {district, city_unit, impostor})


def test_admins_and_auditors_see_no_tips(triage_app: Flask, world: dict[str, str]) -> None:
    services = triage_app.extensions["triage"]
    with transaction(services.sessions) as session:
        secrets = {
            role: make_enrolled(session, services.officer_secrets, role, PASSWORD, role=role,
                                bureau="hrss_fund_supervision", region="440000")[1]
            for role in ("admin", "auditor")
        }  # fmt: skip
    for role in ("admin", "auditor"):
        client = sign_in(triage_app, role, secrets[role])
        assert client.get("/").status_code == 403
        for tip_id in world.values():
            assert client.get(f"/tips/{tip_id}").status_code == 403


@dataclass(frozen=True)
class _Viewer:
    id: int
    role: str
    bureau: str | None
    region: str | None


def test_a_tip_waiting_for_its_job_is_seen_by_nobody(triage_app: Flask, keys_dir: Path) -> None:
    """The portal stores a tip before the rule packs route it (its database role may not
    read them); a pack may yet seal it, so until the job has run no officer sees it."""
    services = triage_app.extensions["triage"]
    deferred = Submitter(
        services.sessions, keyring=load_public_keyring(keys_dir),
        queue=InlineQueue(services.engine),  # no private keys: as in the portal
        kdf=ReceiptKdf(n=2**10), limits=services.config.limits,
    )  # fmt: skip
    tip_id = deferred.submit(
        Report(category="fake_docs", region="441502", text="伪造材料", received_on=dt.date.today()),
        with_receipt=False,
    ).tip_id
    viewers = [_Viewer(0, *values) for values in OFFICERS.values()]
    with services.sessions() as session:
        assert [v for v in viewers if scope.find_visible(session, v, tip_id)] == []
    InlineQueue(services.engine, services.keyring).enqueue(process_new_tips)
    with services.sessions() as session:
        seen = {v.region for v in viewers if scope.find_visible(session, v, tip_id)}
    assert seen == {"441500", "441502", "440000"}  # the intake desks above the district
