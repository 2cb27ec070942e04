"""Least privilege on PostgreSQL: each process logs in with its own role, and the portal's
can do the reporter's work and nothing else (issue 7 item 2; tipline/intake/roles.py).

The database and its roles are made by the real ``tipline init``; the portal, the worker's
job and triage then run with their own logins against it."""

from __future__ import annotations

import datetime as dt
import io
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import errors
from sqlalchemy import func, select

from tests.conftest import (
    PASSPHRASE,
    PG_HOST,
    cli_environment,
    csrf_token,
    make_enrolled,
    pg_admin,
    post_multipart,
    run_cli,
    sign_in_officer,
    submit_report,
    tiny_pdf,
    unavailable,
)
from tipline.crypto import load_private_keyring
from tipline.intake.config import Config
from tipline.intake.db import make_engine, make_sessionmaker, transaction
from tipline.intake.jobs import process_new_tips
from tipline.intake.models import AuditEvent, Base, Deadline, Officer, Tip
from tipline.intake.queue import bind_engine
from tipline.intake.roles import GRANTS, Roles
from tipline.intake.workdays import load_calendar
from tipline.triage import clocks
from tipline.triage.tips import alerts

VALID_ID = "11010519491231002X"

# What a compromised portal would try with its own login. Each must be refused by
# PostgreSQL itself, whatever the portal's code says.
PORTAL_FORBIDDEN = [
    "SELECT * FROM officer",
    "SELECT totp_sealed, password_hash FROM officer",
    "INSERT INTO officer (username, password_hash, role, active, awaiting_approval,"
    " failed_logins, session_epoch) VALUES ('mallory', 'x', 'supervisor', true, false, 0, 0)",
    "UPDATE officer SET role = 'supervisor'",
    "SELECT * FROM api_token",
    "INSERT INTO api_token (officer_id, token_hash, created_on) VALUES (1, 'x', now())",
    "SELECT * FROM audit_event",
    "DELETE FROM audit_event",
    "SELECT * FROM rule_pack",
    "UPDATE rule_pack SET active = false",
    "SELECT * FROM deadline",
    "DELETE FROM deadline",
    "SELECT * FROM note",
    "SELECT * FROM identity_request",
    "SELECT * FROM recusal",
    "SELECT * FROM calendar_override",
    "SELECT * FROM alembic_version",
    "UPDATE tip SET status = 'closed'",
    "UPDATE tip SET bureau = 'labor_inspection', sealed = false",
    "UPDATE tip SET processed = true",
    "DELETE FROM tip",
    "DELETE FROM message",
    "DELETE FROM attachment_chunk",
    "UPDATE message SET body = ''",
    "UPDATE identity SET data = ''",
    "TRUNCATE tip CASCADE",
    # Cases (issue 10): the portal has nothing of them; the reporter follows a case through
    # the tip's own status columns.
    "SELECT id FROM case_file",
    "SELECT details FROM case_file",
    "UPDATE case_file SET stage = 'closed'",
    "SELECT * FROM case_tip",
    "INSERT INTO case_tip (case_id, tip_id, position, joined_on) VALUES ('c', 't', 0, now())",
    "SELECT * FROM case_event",
    "SELECT * FROM case_deadline",
    "UPDATE case_deadline SET escalated = true",
    "SELECT * FROM case_document",
    "SELECT * FROM case_sequence",
    "SELECT * FROM document_template",
    "INSERT INTO document_template (kind, scope, uploaded_on, uploaded_by, sha256, body,"
    " active) VALUES ('x', 'national', now(), 'm', 'x', '', true)",
    "CREATE TABLE mine (x int)",
    "ALTER TABLE tip ADD COLUMN x int",
    "DROP TABLE tip CASCADE",
]


@pytest.fixture(scope="module")
def installation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A database set up by ``tipline init`` with its owner's login (postgres here); the
    tests share it, and the one that writes runs its journey on fresh tips."""
    tmp_path = tmp_path_factory.mktemp("roles")
    name = f"tipline_roles_{secrets.token_hex(4)}"
    try:
        with pg_admin() as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        unavailable("PostgreSQL on 127.0.0.1:5432", exc)
    owner_url = f"postgresql+psycopg://postgres@{PG_HOST}/{name}"
    env = cli_environment(tmp_path / "instance", owner_url)
    try:
        result = run_cli(env, "init")
        assert result.returncode == 0, result.stderr
        roles = Roles(name)
        for process in ("portal", "triage", "worker"):
            assert roles.name(process) in result.stdout
        yield {"name": name, "roles": roles, "env": env, "instance": tmp_path / "instance"}
    finally:
        with pg_admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            for process in GRANTS:
                admin.execute(f'DROP ROLE IF EXISTS "{name}_{process}"')


def url(installation: dict[str, Any], process: str) -> str:
    role = installation["roles"].name(process)
    return f"postgresql+psycopg://{role}@{PG_HOST}/{installation['name']}"


def connect(installation: dict[str, Any], process: str) -> psycopg.Connection[Any]:
    role = installation["roles"].name(process)
    return psycopg.connect(host=PG_HOST, user=role, dbname=installation["name"], autocommit=True)


def test_every_table_is_given_to_someone_on_purpose() -> None:
    """A new table is closed to every process until GRANTS names it; triage works on all
    of them (the reference tables included), so forgetting one fails here."""
    declared = {table for grants in GRANTS.values() for table in grants}
    assert set(Base.metadata.tables) == declared
    assert set(GRANTS["triage"]) == set(Base.metadata.tables)


@pytest.mark.parametrize("statement", PORTAL_FORBIDDEN)
def test_the_portal_role_is_refused(installation: dict[str, Any], statement: str) -> None:
    with connect(installation, "portal") as connection, pytest.raises(
        errors.InsufficientPrivilege
    ):
        connection.execute(statement)


def test_no_login_but_the_three_and_the_owner_may_connect(installation: dict[str, Any]) -> None:
    stranger = f"stranger_{secrets.token_hex(4)}"
    with pg_admin() as admin:
        admin.execute(f'CREATE ROLE "{stranger}" LOGIN')
    try:
        with pytest.raises(psycopg.OperationalError, match="permission denied"):
            psycopg.connect(host=PG_HOST, user=stranger, dbname=installation["name"])
    finally:
        with pg_admin() as admin:
            admin.execute(f'DROP ROLE "{stranger}"')


def test_each_process_does_its_work_with_its_own_role(
    installation: dict[str, Any], keys_dir: Path, public_keys_dir: Path
) -> None:
    """The whole path of a tip, each step under the login of the process that takes it."""
    from tipline.portal import create_app as create_portal
    from tipline.triage import create_app as create_triage

    common: dict[str, Any] = {
        "instance": installation["instance"],
        "secret_key": secrets.token_urlsafe(16),
        "receipt_scrypt_n": 2**10,
        "keyfile_scrypt_n": 2**10,
        "secure_cookies": False,
        # A Redis URL makes the portal leave routing to the worker, as in production; the
        # job is run below by hand, as the worker would run it.
        "redis_url": "redis://127.0.0.1:6379/15",
    }
    portal_app = create_portal(
        Config(database_url=url(installation, "portal"), keys_dir=public_keys_dir, **common)
    )
    portal_app.extensions["portal"].submitter.queue = _NoQueue()
    portal = portal_app.test_client()
    try:
        # The reporter's whole journey: a real-name report with evidence, coming back,
        # a message, more evidence; an anonymous one who adds a name later.
        receipt = submit_report(
            portal, anonymous="no", name="王小明", id_number=VALID_ID, phone="13800138000",
            wants_notice="y",
        )  # fmt: skip
        _sign_in(portal, receipt)
        assert "王**" in portal.get("/my-report").get_data(as_text=True)
        token = csrf_token(portal, "/my-report")
        sent = portal.post("/my-report/messages", data={"csrf_token": token, "text": "补充说明"})
        assert sent.status_code == 302
        added = post_multipart(
            portal, "/my-report/evidence",
            {"csrf_token": token, "attachments": [(io.BytesIO(tiny_pdf()), "发票.pdf")]},
        )  # fmt: skip
        assert added.status_code == 302
        page = portal.get("/my-report").get_data(as_text=True)
        assert "补充说明" in page and "发票.pdf" in page
        other = portal_app.test_client()
        _sign_in(other, submit_report(other))
        named = other.post("/my-report/identity", data={
            "csrf_token": csrf_token(other, "/my-report"), "name": "李四",
            "id_number": VALID_ID, "phone": "13800138000",
        })  # fmt: skip
        assert named.status_code == 302
    finally:
        portal_app.extensions["portal"].engine.dispose()

    # The worker's job, with the worker's login and the private keys.
    engine = make_engine(url(installation, "worker"))
    try:
        bind_engine(engine, load_private_keyring(keys_dir, PASSPHRASE))
        assert process_new_tips() >= 2
        with transaction(make_sessionmaker(engine)) as session:
            assert session.scalar(select(func.count()).where(Tip.processed.is_(False))) == 0
            rules = session.scalars(select(Deadline.rule).order_by(Deadline.rule)).all()
            assert rules.count("T1") >= 2 and rules.count("T2") >= 1
        # The morning sweep, a month on: everything overdue, escalated, notices counted.
        with transaction(make_sessionmaker(engine)) as session:
            later = dt.date.today() + dt.timedelta(days=40)
            result = clocks.sweep(session, later, load_calendar(session))
            assert result.escalated
            clocks.recipients(session, result)
        # The alert digest reads what it needs with the worker's login (triage/tips/alerts.py).
        with transaction(make_sessionmaker(engine)) as session:
            alerts.digest_counts(session)
    finally:
        engine.dispose()

    # Triage, with its own login: the command creates an officer, the inbox, a tip.
    env = {**installation["env"], "TIPLINE_DATABASE_URL": url(installation, "triage")}
    created = run_cli(
        env, "users", "add", "desk2", "--role", "triage_officer",
        "--bureau", "hrss_fund_supervision", "--region", "441500",
        stdin="a long test password\n",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    triage_app = create_triage(
        Config(
            database_url=url(installation, "triage"), keys_dir=keys_dir,
            key_passphrase=PASSPHRASE, **{**common, "redis_url": None},
        )
    )  # fmt: skip
    services = triage_app.extensions["triage"]
    with transaction(services.sessions) as session:
        _, secret = make_enrolled(
            session, services.officer_secrets, "desk", role="triage_officer",
            bureau="hrss_fund_supervision", region="441500",
        )  # fmt: skip
    try:
        with triage_app.extensions["triage"].sessions() as session:
            tip_ids = session.scalars(select(Tip.id)).all()
        assert len(tip_ids) >= 2
        client = sign_in_officer(triage_app, "desk", secret)
        inbox = client.get("/")
        assert inbox.status_code == 200
        assert all(tip_id in inbox.get_data(as_text=True) for tip_id in tip_ids)
        assert client.get(f"/tips/{tip_ids[0]}").status_code == 200
        assert client.get("/alerts").status_code == 200  # and marks them seen
        # A supervisor with an address waits on an identity request: the digest reads the
        # request's day, never its reason, with the worker's login (triage/tips/alerts.py).
        with transaction(services.sessions) as session:
            make_enrolled(
                session, services.officer_secrets, "chief", role="supervisor",
                bureau="hrss_fund_supervision", region="441500", email="chief@example.org",
            )  # fmt: skip
            real_id = session.scalars(select(Tip.id).where(Tip.real_name.is_(True))).first()
        asked = client.post(f"/tips/{real_id}/identity-requests", data={
            "csrf_token": csrf_token(client, f"/tips/{real_id}"), "identity-reason": "核实身份",
        })  # fmt: skip
        assert asked.status_code == 302, asked.get_data(as_text=True)
        worker = make_engine(url(installation, "worker"))
        try:
            with transaction(make_sessionmaker(worker)) as session:
                assert alerts.digest_counts(session).get("chief@example.org")
        finally:
            worker.dispose()
        # The desk transfers the real-name tip to 城区's labour inspection.
        with triage_app.extensions["triage"].sessions() as session:
            named_id = session.scalars(select(Tip.id).where(Tip.wants_notice.is_(True))).first()
        moved = client.post(f"/tips/{named_id}/transfer", data={
            "csrf_token": csrf_token(client, f"/tips/{named_id}"),
            "transfer-bureau": "labor_inspection", "transfer-region": "441502",
            "confirm": "1",  # the confirmed second step (test_safe_decisions.py)
        })  # fmt: skip
        assert moved.status_code == 302, moved.get_data(as_text=True)
    finally:
        triage_app.extensions["triage"].engine.dispose()

    # The reporter's pages, with the portal's login, can say which office received it
    # (the tip_event row of the transfer: bureau and region; domain.md T1).
    portal_app = create_portal(
        Config(database_url=url(installation, "portal"), keys_dir=public_keys_dir, **common)
    )
    try:
        own = portal_app.test_client().get(
            "/api/v1/reports/self", headers={"Authorization": f"Receipt {receipt}"}
        )
        assert own.status_code == 200, own.get_json()
        assert own.get_json()["transferred_to"]["region"] == "441502"
        assert own.get_json()["transferred_to"]["bureau"] == "labor_inspection"
    finally:
        portal_app.extensions["portal"].engine.dispose()


@pytest.mark.parametrize(
    ("suspect_kind", "category", "sealed_bureau"),
    [("individual", "fake_docs", None), ("agency_staff", "fake_docs", "discipline_inspection"),
     ("individual", "internal_embezzlement", "discipline_inspection")],
)  # fmt: skip
def test_a_tip_the_portal_inserts_arrives_unrouted_whatever_it_says(
    installation: dict[str, Any], suspect_kind: str, category: str, sealed_bureau: str | None
) -> None:
    """A compromised portal may insert tips, but not routed, decided or unsealed ones: the
    owner's trigger resets what only routing and decisions may set."""
    tip_id = secrets.token_hex(8)
    with connect(installation, "portal") as connection:
        connection.execute(
            "INSERT INTO tip (id, received_on, channel, category, region, suspect_kind, status,"
            " status_detail, bureau, suggested_bureau, handling_region, handling_city,"
            " handling_province, sealed, flags, processed, real_name, wants_notice,"
            " format_version, key_id, key_envelope, internal_envelope, report, next_due,"
            " co_bureaus, unit_level)"
            " VALUES (%s, current_date, 'web', %s, '441502', %s, 'closed', 'done',"
            " 'labor_inspection', 'labor_inspection', '440300', '4403', '44', false,"
            " 'criminal_referral_candidate', true, false, false, 1, 'k', '', '', '',"
            " current_date, ',public_security,', 'city')",
            (tip_id, category, suspect_kind),
        )
    with psycopg.connect(host=PG_HOST, user="postgres", dbname=installation["name"]) as owner:
        row = owner.execute(
            "SELECT processed, status, status_detail, bureau, suggested_bureau, sealed,"
            " handling_region, flags, next_due, co_bureaus, unit_level FROM tip WHERE id = %s",
            (tip_id,),
        ).fetchone()  # fmt: skip
    # Who handles a tip beside its lead is routing's to say too; the unit's level is the
    # reporter's, like the region, and stays.
    assert row == (False, "received", None, sealed_bureau, None, sealed_bureau is not None,
                   "441502", "", None, "", "city")  # fmt: skip


def test_the_worker_reads_no_more_of_an_officer_than_a_notice_needs(
    installation: dict[str, Any],
) -> None:
    with connect(installation, "worker") as connection:
        connection.execute("SELECT id, role, email, bureau, region, active FROM officer")
        for column in ("password_hash", "totp_sealed", "activation_hash", "username"):
            with pytest.raises(errors.InsufficientPrivilege):
                connection.execute(f"SELECT {column} FROM officer")


# What a compromised worker would try on cases: the sweep reads clocks and the columns that
# decide who sees a case, and may mark a clock's state; nothing of a case's contents.
WORKER_FORBIDDEN_ON_CASES = [
    "SELECT details FROM case_file",
    "SELECT key_envelope FROM case_file",
    "SELECT * FROM case_file",
    "SELECT data FROM case_event",
    "SELECT * FROM case_event",
    "SELECT docx FROM case_document",
    "SELECT pdf FROM case_document",
    "SELECT id FROM case_document",
    "SELECT body FROM document_template",
    "SELECT * FROM case_sequence",
    "UPDATE case_file SET stage = 'closed'",
    "UPDATE case_deadline SET due_on = current_date",
    "UPDATE case_deadline SET met_at = now()",
    "DELETE FROM case_deadline",
    "INSERT INTO case_tip (case_id, tip_id, position, joined_on) VALUES ('c', 't', 0, now())",
    "DELETE FROM case_tip",
]


@pytest.mark.parametrize("statement", WORKER_FORBIDDEN_ON_CASES)
def test_the_worker_reads_nothing_of_a_case_s_contents(
    installation: dict[str, Any], statement: str
) -> None:
    with connect(installation, "worker") as connection, pytest.raises(
        errors.InsufficientPrivilege
    ):
        connection.execute(statement)


def test_triage_works_a_case_and_the_worker_sweeps_its_clocks(
    installation: dict[str, Any], keys_dir: Path
) -> None:
    """A case opened and handed over by triage with its own login; its overdue receipt
    (T5) swept, escalated and counted for a notice by the worker with its own."""
    from tests.caseworld import at, build
    from tipline.triage import create_app as create_triage

    # The rows a test above inserted as a compromised portal carry no real key: they are
    # no tips to route (the job would stop on them), so the owner removes them first.
    with psycopg.connect(host=PG_HOST, user="postgres", dbname=installation["name"]) as owner:
        owner.execute("DELETE FROM tip WHERE length(key_envelope) = 0")

    triage_app = create_triage(
        Config(
            database_url=url(installation, "triage"), keys_dir=keys_dir,
            key_passphrase=PASSPHRASE, instance=installation["instance"],
            secret_key=secrets.token_urlsafe(16), receipt_scrypt_n=2**10,
            keyfile_scrypt_n=2**10, secure_cookies=False,
        )
    )  # fmt: skip
    try:
        world = build(triage_app, received=dt.date(2025, 9, 1), count=1)
        case_id = world.open_case(when=at("2025-09-10 09:00"))
        world.step(case_id, "hand_over", "agency", at("2025-09-29 15:00"),
                   to_bureau="labor_inspection", findings="冒领属实。", verified_loss="50000")
        world.step(case_id, "sign_receipt", "inspector", at("2025-09-30 09:00"))
        world.step(case_id, "file", "inspector", at("2025-10-13 11:00"), findings="立案。")
        with transaction(world.services.sessions) as session:
            head = session.scalar(select(Officer).where(Officer.username == "liuyang"))
            assert head is not None
            head.email = "head@hrss.example"
    finally:
        triage_app.extensions["triage"].engine.dispose()
    engine = make_engine(url(installation, "worker"))
    try:
        with transaction(make_sessionmaker(engine)) as session:
            # T8 (90 days from the filing) has run out by the end of January 2026.
            result = clocks.sweep(session, dt.date(2026, 1, 20), load_calendar(session))
            assert case_id in result.cases_escalated
        with transaction(make_sessionmaker(engine)) as session:
            found = clocks.waiting(session, dt.date(2026, 1, 20))
            assert case_id in found.cases_escalated
            assert clocks.recipients(session, found).get("head@hrss.example")
    finally:
        engine.dispose()


@pytest.mark.parametrize("process", ["triage", "worker"])
def test_the_audit_log_is_append_only_even_for_triage(
    installation: dict[str, Any], process: str
) -> None:
    with connect(installation, process) as connection:
        for statement in ("UPDATE audit_event SET detail = ''", "DELETE FROM audit_event",
                          "TRUNCATE audit_event"):  # fmt: skip
            with pytest.raises(errors.InsufficientPrivilege):
                connection.execute(statement)
        # Appending and reading the chain's head are what they need.
        connection.execute("SELECT hash FROM audit_event ORDER BY id DESC LIMIT 1")
    assert AuditEvent.__tablename__ == "audit_event"


def test_roles_sql_is_printed_for_a_dba(installation: dict[str, Any]) -> None:
    result = run_cli(installation["env"], "db", "roles", "--sql")
    assert result.returncode == 0, result.stderr
    portal = installation["roles"].name("portal")
    assert f'CREATE ROLE "{portal}" LOGIN' in result.stdout
    assert f'ON "officer" TO "{portal}"' not in result.stdout
    assert f'GRANT SELECT, INSERT ON "message" TO "{portal}";' in result.stdout


class _NoQueue:
    """Stands for Redis in the portal: the job is run by hand afterwards, as the worker
    would, so that this test needs no worker process."""

    def enqueue(self, func: Any, *args: Any) -> str:
        return "queued"


def _sign_in(client: Any, receipt: str) -> None:
    response = client.post(
        "/check", data={"csrf_token": csrf_token(client, "/check"), "receipt": receipt}
    )
    assert response.status_code == 302
