"""A world for the cases tests: an agency, the labour-inspection team that files and refers,
its head, the intake desk, discipline inspection and an office in another district, in
汕尾市城区 (441502); accepted tips about one pension impostor, ready to become a case.

``CaseWorld.step`` takes one step of the lifecycle through ``services.apply`` as a named
officer, at a chosen instant, so a test can walk the chain across real holidays.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from tests.conftest import make_enrolled, sign_in_officer
from tipline.intake.db import transaction
from tipline.intake.jobs import process_new_tips
from tipline.intake.models import Case, Officer, Tip
from tipline.intake.queue import InlineQueue
from tipline.intake.reading import open_tip
from tipline.intake.submit import CHINA, Report, ReporterIdentity, parse_amount, today
from tipline.triage.cases import services
from tipline.triage.tips import decisions

REGION = "441502"
OTHER_REGION = "441581"  # 陆丰市: the same city, another office
ID = ReporterIdentity(name="王小明", id_number="11010519491231002X", phone="13800138000")
# The subject of the case: a unit with a valid 统一社会信用代码.
SUBJECT = services.Subject(
    kind="unit", name="汕尾市某某人力资源服务有限公司", identifier="91110000600037341L",
    period_from=dt.date(2024, 1, 1), period_to=dt.date(2025, 6, 30),
)  # fmt: skip

# name: (role, bureau, region). User names are plain names, as on the tips pages.
STAFF: dict[str, tuple[str, str | None, str]] = {
    "desk": ("triage_officer", "hrss_fund_supervision", REGION),
    "agency": ("bureau_officer", "si_agency", REGION),
    "agency_head": ("supervisor", "si_agency", REGION),
    "inspector": ("bureau_officer", "labor_inspection", REGION),
    "inspector2": ("bureau_officer", "labor_inspection", REGION),
    "head": ("supervisor", "labor_inspection", REGION),
    "discipline": ("bureau_officer", "discipline_inspection", REGION),
    "elsewhere": ("bureau_officer", "labor_inspection", OTHER_REGION),
    "medical": ("bureau_officer", "healthcare_security", REGION),
    "admin": ("admin", None, REGION),
    "auditor": ("auditor", None, REGION),
}
USERNAMES = {
    "desk": "zhangwei", "agency": "lina", "agency_head": "zhouqiang", "inspector": "wangfang",
    "inspector2": "zhaolei", "head": "liuyang", "discipline": "sunli", "elsewhere": "hema",
    "medical": "xuting", "admin": "chenjing", "auditor": "yangli",
}  # fmt: skip


def at(text: str) -> dt.datetime:
    """A China-time instant, e.g. at("2025-09-30 16:00")."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=CHINA)


@dataclass
class CaseWorld:
    app: Flask
    secrets: dict[str, str]
    tips: list[str]

    @property
    def services(self) -> Any:
        return self.app.extensions["triage"]

    def client(self, name: str) -> FlaskClient:
        return sign_in_officer(self.app, USERNAMES[name], self.secrets[name])

    def officer(self, name: str) -> Officer:
        with self.services.sessions() as session:
            found = session.scalar(select(Officer).where(Officer.username == USERNAMES[name]))
            assert found is not None
            session.expunge(found)
            return found

    def open_case(self, name: str = "agency", *, when: dt.datetime | None = None,
                  tips: list[str] | None = None) -> str:  # fmt: skip
        with transaction(self.services.sessions) as session:
            rows = [session.get(Tip, tip_id) for tip_id in (tips or self.tips)]
            case = services.open_case(
                session, self.services.keyring.public_keyring(), self.officer(name),
                [row for row in rows if row is not None], SUBJECT, "核查发现冒领养老金。",
                now=when.astimezone(dt.UTC) if when else None,
            )  # fmt: skip
            return case.id

    def step(self, case_id: str, action: str, name: str, when: dt.datetime,
             **raw: Any) -> None:  # fmt: skip
        with transaction(self.services.sessions) as session:
            case = session.get(Case, case_id)
            assert case is not None
            services.apply(session, self.services.keyring, case, action, self.officer(name), raw,
                           now=when.astimezone(dt.UTC))  # fmt: skip

    def case(self, case_id: str) -> Case:
        with self.services.sessions() as session:
            case = session.get(Case, case_id)
            assert case is not None
            for relation in (case.deadlines, case.events, case.tips, case.documents):
                list(relation)
            session.expunge_all()
            return case


def submit(app: Flask, text: str, *, received: dt.date | None = None,
           category: str = "benefit_impostor", fund: str = "pension",
           amount: str | None = "50000", identity: bool = True) -> str:  # fmt: skip
    stored = app.extensions["triage"].submitter.submit(
        Report(category=category, fund=fund, region=REGION, text=text, channel="visit",
               received_on=received or today(), identity=ID if identity else None,
               wants_notice=identity, amount=parse_amount(amount) if amount else None),
        with_receipt=False,
    )  # fmt: skip
    return str(stored.tip_id)


def build(app: Flask, *, received: dt.date | None = None, count: int = 2) -> CaseWorld:
    """Officers, and ``count`` accepted tips about the same facts routed to the agency (the
    second received a day later: the first stays first)."""
    services_ = app.extensions["triage"]
    secrets: dict[str, str] = {}
    with transaction(services_.sessions) as session:
        for name, (role, bureau, region) in STAFF.items():
            _, secrets[name] = make_enrolled(session, services_.officer_secrets, USERNAMES[name],
                                             role=role, bureau=bureau, region=region)  # fmt: skip
    start = received or today() - dt.timedelta(days=3)
    tips = [
        submit(app, f"有人冒领已故亲属的养老金（{n}）。", received=start + dt.timedelta(days=n))
        for n in range(count)
    ]
    InlineQueue(services_.engine, services_.keyring).enqueue(process_new_tips)
    with transaction(services_.sessions) as session:
        staff = {o.username: o for o in session.scalars(select(Officer))}
        desk, agency = staff[USERNAMES["desk"]], staff[USERNAMES["agency"]]
        for tip_id in tips:
            tip = session.get(Tip, tip_id)
            assert tip is not None
            opened = open_tip(tip, services_.keyring)
            decisions.confirm_routing(session, opened, desk, "si_agency", "")
            decisions.accept(session, opened, agency)
    return CaseWorld(app, secrets, tips)
