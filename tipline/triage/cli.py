"""The ``tipline`` command: set up, keys, users, tips, serving, the worker and the demo.

Each sub-command builds its configuration from ``TIPLINE_*`` variables when it runs.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import os
import secrets
import signal
import smtplib
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from decimal import Decimal, InvalidOperation
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

import click
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, object_session, sessionmaker

from tipline.crypto import (
    CryptoError,
    OfficerSecrets,
    PrivateKeyring,
    ReceiptKdf,
    export_public,
    generate_key,
    load_public_keyring,
    write_key_files,
)
from tipline.intake import roles
from tipline.intake.config import Config, ConfigError
from tipline.intake.db import (
    load_reference_data,
    make_engine,
    make_sessionmaker,
    migrate,
    transaction,
)
from tipline.intake.models import Officer, Tip
from tipline.intake.queue import make_queue
from tipline.intake.reading import open_with_keyring
from tipline.intake.submit import Report, ReporterIdentity, Submitter, validate
from tipline.triage import accounts, load_keyring
from tipline.triage.accounts import (
    ROLES,
    AccountError,
    add_officer,
    enrol_now,
    reset_credentials,
)
from tipline.triage.audit import record
from tipline.triage.audit_cli import audit

if TYPE_CHECKING:
    from tipline.triage.clocks import Moved

IMPORT_FIELDS = {"channel", "received_on", "category", "region", "text"}
IMPORT_OPTIONAL = {"amount", "suspect_kind", "fund", "unit_level", "identity", "wants_notice"}
IDENTITY_FIELDS = ("name", "id_number", "phone")


def fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def config(*, need_secret: bool = False) -> Config:
    try:
        return Config.from_env(need_secret=need_secret)
    except ConfigError as exc:
        fail(str(exc))


def cli_actor() -> str:
    return f"cli:{getpass.getuser()}"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """tipline: 社会保险基金监督举报平台 (social insurance fund fraud reports)."""


def _has_keys(keys_dir: Path) -> bool:
    return keys_dir.is_dir() and any(keys_dir.glob("*.key.json"))


def _passphrase(cfg: Config) -> str:
    if not cfg.key_passphrase:
        fail("set TIPLINE_KEY_PASSPHRASE or TIPLINE_KEY_PASSPHRASE_FILE to the key passphrase")
    return cfg.key_passphrase


def _new_key(cfg: Config) -> str:
    key = generate_key()
    try:
        write_key_files(cfg.keys_dir, key, _passphrase(cfg), scrypt_n=cfg.keyfile_scrypt_n)
    except CryptoError as exc:
        fail(str(exc))
    return key.kid


@main.command()
@click.option(
    "--no-roles", is_flag=True,
    help="Leave the PostgreSQL roles alone (a DBA runs 'tipline db roles --sql' instead).",
)  # fmt: skip
def init(no_roles: bool) -> None:
    """Create or migrate the database, create keys if absent, load reference data.

    On PostgreSQL, also create one login role per process (portal, triage, worker) and
    give each exactly the privileges it needs; run it with the login that owns the tables
    (it needs CREATEROLE), then serve each process with its own role."""
    cfg = config()
    engine = make_engine(cfg.database_url)
    migrate(engine)
    if not _has_keys(cfg.keys_dir):
        click.echo(f"created intake key {_new_key(cfg)} in {cfg.keys_dir}")
    with transaction(make_sessionmaker(engine)) as session:
        load_reference_data(session)
    if engine.dialect.name == "postgresql" and not no_roles:
        _apply_roles(engine)
    click.echo("database ready")


def _apply_roles(engine: Engine) -> None:
    try:
        applied = roles.apply(engine)
    except DBAPIError as exc:
        fail(f"cannot set up the database roles ({exc.orig}); run 'tipline init --no-roles' "
             "and have a DBA run the output of 'tipline db roles --sql'")  # fmt: skip
    for process in roles.PROCESSES:
        click.echo(f"role for the {process}: {applied.name(process)}")
    click.echo(
        "give each role a password (ALTER ROLE ... PASSWORD) or a pg_hba.conf entry, and set "
        "each process's TIPLINE_DATABASE_URL to its own role"
    )


@main.group()
def db() -> None:
    """The database and its roles."""


@db.command("roles")
@click.option("--sql", "as_sql", is_flag=True, help="Print the statements instead of running them.")
def db_roles(as_sql: bool) -> None:
    """Create the portal, triage and worker roles and set their privileges (PostgreSQL)."""
    cfg = config()
    engine = make_engine(cfg.database_url)
    if engine.dialect.name != "postgresql":
        fail("database roles are for PostgreSQL; SQLite has no logins")
    if not as_sql:
        _apply_roles(engine)
        return
    tables, sequences = roles.declared_schema()
    for statement in roles.statements(roles.Roles.of(cfg.database_url), tables, sequences):
        click.echo(f"{statement};")


@main.group()
def keys() -> None:
    """Intake key pairs: generate, rotate, export the public key."""


@keys.command("generate")
def keys_generate() -> None:
    """Write the first key pair (the private file encrypted under the passphrase)."""
    cfg = config()
    if _has_keys(cfg.keys_dir):
        fail(f"{cfg.keys_dir} already holds keys; use 'tipline keys rotate' to add one")
    click.echo(_new_key(cfg))


@keys.command("rotate")
def keys_rotate() -> None:
    """Add a new key pair: new tips use it, old tips still open with the old ones."""
    cfg = config()
    load_keyring(cfg) if _has_keys(cfg.keys_dir) else None  # the passphrase must open them
    click.echo(_new_key(cfg))


@keys.command("export-public")
def keys_export_public() -> None:
    """Print the current public key file, for the portal's keys folder."""
    cfg = config()
    try:
        click.echo(export_public(cfg.keys_dir))
    except CryptoError as exc:
        fail(str(exc))


@main.group()
def users() -> None:
    """Officer accounts."""


def _open_keyring_or_fail(cfg: Config) -> PrivateKeyring:
    """The private key ring: the proof that this operator is on the server with the key
    passphrase, which the two-person rule accepts in place of a second person."""
    try:
        return load_keyring(cfg)
    except (ConfigError, CryptoError) as exc:
        fail(f"{exc} (granting an account needs the key passphrase)")


@users.command("add")
@click.argument("username")
@click.option("--role", required=True, type=click.Choice(ROLES))
@click.option("--bureau", help="Bureau identifier from domain.md section 1.")
@click.option("--region", help="GB/T 2260 code of the officer's jurisdiction.")
@click.option("--email", help="Address for notices that something is waiting (never what).")
def users_add(
    username: str, role: str, bureau: str | None, region: str | None, email: str | None
) -> None:
    """Create an officer; the password is read from standard input.

    Needs the key passphrase (TIPLINE_KEY_PASSPHRASE or _FILE): this command grants any
    role, including those that read tips, without a second person. Prints a one-time
    activation code: hand it to the officer with the password. At the first sign-in they
    set up their authenticator themselves; nobody else ever sees its secret.
    """
    password = sys.stdin.readline().rstrip("\n")
    cfg = config()
    _open_keyring_or_fail(cfg)
    try:
        with transaction(make_sessionmaker(make_engine(cfg.database_url))) as session:
            created = add_officer(
                session, username, password, role=role, bureau=bureau, region=region,
                email=email, requested_by=cli_actor(), approved_by=cli_actor(),
            )  # fmt: skip
            record(session, "user.add", actor=cli_actor(), username=username, role=role,
                   bureau=bureau, region=region)  # fmt: skip
            code = created.activation_code
    except AccountError as exc:
        fail(str(exc))
    click.echo(f"activation code: {code}")
    click.echo(f"{username} signs in with the password and this code once, then enrols an")
    click.echo("authenticator app; the code is shown only now.")


@users.command("reset")
@click.argument("username")
def users_reset(username: str) -> None:
    """New password (read from standard input) and activation code for USERNAME.

    For a lost phone or a forgotten password: the officer's sessions end and their
    authenticator must be enrolled again at the next sign-in. Needs the key passphrase.
    """
    password = sys.stdin.readline().rstrip("\n")
    cfg = config()
    _open_keyring_or_fail(cfg)
    try:
        with transaction(make_sessionmaker(make_engine(cfg.database_url))) as session:
            officer = session.scalar(select(Officer).where(Officer.username == username))
            if officer is None:
                fail(f"no user named {username!r}")
            if officer.awaiting_approval:
                fail(f"{username} waits for a supervisor's approval; it has nothing to reset")
            code = reset_credentials(officer, password).activation_code
            record(session, "user.reset", actor=cli_actor(), username=username)
    except AccountError as exc:
        fail(str(exc))
    click.echo(f"activation code: {code}")


def _account_command(username: str, change: Callable[[Officer], str | None]) -> str | None:
    """Run one change of accounts.py on USERNAME in a transaction; refusals in English."""
    cfg = config()
    try:
        with transaction(make_sessionmaker(make_engine(cfg.database_url))) as session:
            officer = accounts.lookup(session, username=username)
            said = change(officer)
            session.flush()
            return said
    except AccountError as exc:
        fail(str(exc))


def _audited(action: str, officer: Officer, **details: Any) -> None:
    session = object_session(officer)
    assert session is not None
    record(session, action, actor=cli_actor(), username=officer.username, **details)


@users.command("unlock")
@click.argument("username")
def users_unlock(username: str) -> None:
    """End USERNAME's lock-out after failed sign-ins now."""

    def change(officer: Officer) -> str:
        was = accounts.unlock(officer)
        _audited("user.unlock", officer, was_locked=was)
        return f"{username} unlocked" if was else f"{username} was not locked; counter reset"

    click.echo(_account_command(username, change))


@users.command("reset-password")
@click.argument("username")
def users_reset_password(username: str) -> None:
    """A forgotten password: USERNAME signs in with the printed activation code in place of
    the password and a code from their authenticator, then chooses a new password."""

    def change(officer: Officer) -> str:
        code = accounts.reset_password(officer, actor_id=None)
        _audited("user.reset_password", officer)
        return f"activation code: {code}"

    click.echo(_account_command(username, change))


@users.command("reset-totp")
@click.argument("username")
def users_reset_totp(username: str) -> None:
    """A lost phone: USERNAME signs in with their password and the printed activation code,
    then sets up an authenticator again."""

    def change(officer: Officer) -> str:
        code = accounts.reset_totp(officer, actor_id=None)
        _audited("user.reset_totp", officer)
        return f"activation code: {code}"

    click.echo(_account_command(username, change))


@users.command("change")
@click.argument("username")
@click.option("--role", type=click.Choice(ROLES), help="New role (default: unchanged).")
@click.option("--bureau", help="New bureau (default: unchanged).")
@click.option("--region", help="New jurisdiction, GB/T 2260 (default: unchanged).")
def users_change(username: str, role: str | None, bureau: str | None, region: str | None) -> None:
    """Change USERNAME's role, bureau or jurisdiction, in force now.

    Needs the key passphrase, like 'users add': on the server, the operator holding it
    stands in for the supervisor whose approval a change that widens a reader needs."""
    cfg = config()
    _open_keyring_or_fail(cfg)

    def change(officer: Officer) -> str:
        done = accounts.request_change(
            officer, role=role or officer.role, bureau=bureau or officer.bureau,
            region=region or officer.region, actor=cli_actor(), actor_id=None,
            approved_by=cli_actor(),
        )  # fmt: skip
        if done.outcome == "unchanged":
            return f"{username}: nothing to change"
        _audited("user.change", officer, role=officer.role, bureau=officer.bureau,
                 region=officer.region, was_role=done.was[0], was_bureau=done.was[1],
                 was_region=done.was[2])  # fmt: skip
        return f"{username}: {officer.role} {officer.bureau or '-'} {officer.region or '-'}"

    click.echo(_account_command(username, change))


@users.command("deactivate")
@click.argument("username")
def users_deactivate(username: str) -> None:
    """Close USERNAME's account: their sessions end and they cannot sign in."""

    def change(officer: Officer) -> str:
        accounts.set_active(officer, False, actor_id=None)
        _audited("user.deactivate", officer)
        return f"{username} deactivated"

    click.echo(_account_command(username, change))


@users.command("activate")
@click.argument("username")
def users_activate(username: str) -> None:
    """Open USERNAME's account again."""

    def change(officer: Officer) -> str:
        accounts.set_active(officer, True, actor_id=None)
        _audited("user.activate", officer)
        return f"{username} activated"

    click.echo(_account_command(username, change))


@users.command("token")
@click.argument("username")
def users_token(username: str) -> None:
    """Issue a bearer token for the internal API, acting as USERNAME.

    The token is printed once and only its SHA-256 is kept: hand it to the system that will
    use it now. Revoke it with 'tipline users revoke-token'.
    """
    from tipline.triage.api import TokenError, issue_token

    cfg = config()
    try:
        with transaction(make_sessionmaker(make_engine(cfg.database_url))) as session:
            token = issue_token(session, username, actor=cli_actor())
    except TokenError as exc:
        fail(str(exc))
    click.echo(token)


@users.command("revoke-token")
@click.argument("username")
def users_revoke_token(username: str) -> None:
    """Revoke every internal API token of USERNAME."""
    from tipline.triage.api import TokenError, revoke_tokens

    cfg = config()
    try:
        with transaction(make_sessionmaker(make_engine(cfg.database_url))) as session:
            revoked = revoke_tokens(session, username, actor=cli_actor())
    except TokenError as exc:
        fail(str(exc))
    click.echo(f"revoked {revoked} token(s) of {username}")


@main.group()
def tips() -> None:
    """Tips: import those that came by phone, letter, fax or e-mail; show one."""


def _parse_import_line(number: int, line: str) -> tuple[Report | None, list[str]]:
    try:
        item = json.loads(line)
    except json.JSONDecodeError as exc:
        return None, [f"line {number}: not valid JSON ({exc.msg})"]
    if not isinstance(item, dict):
        return None, [f"line {number}: expected a JSON object"]
    problems = [
        f"line {number}: missing field {name!r}" for name in sorted(IMPORT_FIELDS - item.keys())
    ]
    problems += [
        f"line {number}: unknown field {name!r}"
        for name in sorted(item.keys() - IMPORT_FIELDS - IMPORT_OPTIONAL)
    ]
    for name in ("channel", "category", "region", "text", "suspect_kind", "fund", "unit_level"):
        if name in item and item[name] is not None and not isinstance(item[name], str):
            problems.append(f"line {number}: {name!r} must be a string")
    identity, found = _import_identity(number, item.get("identity"))
    problems += found
    wants_notice = item.get("wants_notice", False)
    if not isinstance(wants_notice, bool):
        problems.append(f"line {number}: 'wants_notice' must be true or false")
    received_on = None
    if "received_on" in item:
        try:
            received_on = dt.date.fromisoformat(str(item["received_on"]))
        except ValueError:
            problems.append(f"line {number}: 'received_on' must be a date as YYYY-MM-DD")
    amount = None
    if item.get("amount") is not None:
        try:
            if isinstance(item["amount"], bool):
                raise InvalidOperation
            amount = Decimal(str(item["amount"]))
        except InvalidOperation:
            problems.append(f"line {number}: 'amount' must be a number of yuan")
    if problems:
        return None, problems
    return (
        Report(
            category=item["category"],
            region=item["region"],
            text=item["text"],
            channel=item["channel"],
            received_on=received_on,
            fund=item.get("fund"),
            suspect_kind=item.get("suspect_kind"),
            unit_level=item.get("unit_level"),
            amount=amount,
            identity=identity,
            wants_notice=wants_notice,
        ),
        [],
    )


def _import_identity(number: int, raw: object) -> tuple[ReporterIdentity | None, list[str]]:
    """A real-name reporter who wrote, phoned or came in: name, ID number and phone, sealed
    like the portal's (its own envelope), and checked by the same validator."""
    if raw is None:
        return None, []
    if not isinstance(raw, dict):
        return None, [f"line {number}: 'identity' must be an object with name, id_number, phone"]
    problems = [
        f"line {number}: identity: missing field {name!r}"
        for name in IDENTITY_FIELDS
        if name not in raw
    ]
    problems += [
        f"line {number}: identity: unknown field {name!r}"
        for name in sorted(raw.keys() - set(IDENTITY_FIELDS))
    ]
    problems += [
        f"line {number}: identity: {name!r} must be a string"
        for name in IDENTITY_FIELDS
        if name in raw and not isinstance(raw[name], str)
    ]
    if problems:
        return None, problems
    return ReporterIdentity(**{name: raw[name] for name in IDENTITY_FIELDS}), []


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    with path.open(encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                yield number, line


def submitter(cfg: Config) -> Submitter:
    engine = make_engine(cfg.database_url)
    try:
        keyring = load_public_keyring(cfg.keys_dir)
    except CryptoError as exc:
        fail(f"{exc} (run 'tipline init' first)")
    # With the passphrase the tips are routed at once; without it they wait for the worker
    # or for triage, like the portal's.
    private = _keyring_or_fail(cfg) if cfg.key_passphrase else None
    return Submitter(
        make_sessionmaker(engine),
        keyring=keyring,
        queue=make_queue(cfg.redis_url, cfg.queue_name, engine, private),
        kdf=ReceiptKdf(n=cfg.receipt_scrypt_n),
        limits=cfg.limits,
    )


@tips.command("process")
def tips_process() -> None:
    """Route the tips still waiting for their post-submission job, and start their clocks.

    The worker does this after every submission and every morning; run it from cron where
    there is no Redis, or after the queue was down."""
    from tipline.intake.jobs import process_new_tips
    from tipline.intake.queue import bind_engine

    cfg = config()
    bind_engine(make_engine(cfg.database_url), _keyring_or_fail(cfg))
    click.echo(f"tips routed: {process_new_tips()}")


@tips.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def tips_import(file: Path) -> None:
    """Import tips from a JSON Lines FILE, all or none; prints one tip id per line.

    Each line is an object with channel, received_on (YYYY-MM-DD), category, region and
    text, and optionally amount, suspect_kind, fund and unit_level (provincial, city,
    county, township or unknown; codes from domain.md section 8). A real-name reporter's
    identity is an object {"name", "id_number", "phone"}, sealed in its own envelope; with
    "wants_notice": true they are told within 10 working days whether it was accepted
    (domain.md T2). An out_of_scope tip is stored as not accepted, with that reason, so the
    written answer can be given (社保法 art.82).
    """
    cfg = config()
    reports: list[Report] = []
    problems: list[str] = []
    numbers: list[int] = []
    try:
        for number, line in _lines(file):
            report, found = _parse_import_line(number, line)
            problems += found
            if report is not None:
                reports.append(report)
                numbers.append(number)
    except UnicodeDecodeError:
        fail(f"{file}: not UTF-8 text")
    service = submitter(cfg)
    for number, report in zip(numbers, reports, strict=True):
        _, invalid = validate(report, limits=service.limits)
        problems += [f"line {number}: {p.field}: {p.english}" for p in invalid]
    if problems:
        for problem in problems:
            click.echo(problem, err=True)
        fail(f"nothing imported from {file}: {len(problems)} problem(s)")
    if not reports:
        fail(f"{file} holds no tips")
    stored = service.submit_many(reports, with_receipt=False)
    with transaction(service.factory) as session:
        record(session, "tips.import", actor=cli_actor(), count=len(stored))
    for item in stored:
        click.echo(item.tip_id)


@tips.command("show")
@click.argument("tip_id")
def tips_show(tip_id: str) -> None:
    """Decrypt and print a tip (the reading is audited)."""
    cfg = config()
    try:
        keyring = load_keyring(cfg)
    except (ConfigError, CryptoError) as exc:
        fail(str(exc))
    with transaction(make_sessionmaker(make_engine(cfg.database_url))) as session:
        opened = open_with_keyring(session, tip_id, keyring)
        if opened is None:
            fail(f"no tip {tip_id}")
        record(session, "tip.read", actor=cli_actor(), tip_id=tip_id)
        tip = opened.tip
        attachments = opened.attachments()
    click.echo(f"tip:          {tip.id}")
    click.echo(f"received_on:  {tip.received_on.isoformat()}")
    click.echo(f"channel:      {tip.channel}")
    click.echo(f"category:     {tip.category}")
    click.echo(f"fund:         {tip.fund or '-'}")
    click.echo(f"region:       {tip.region}")
    click.echo(f"suspect_kind: {tip.suspect_kind or '-'}")
    click.echo(f"unit_level:   {tip.unit_level or '-'}")
    click.echo(f"amount:       {opened.amount or '-'}")
    click.echo(f"status:       {tip.status}")
    click.echo(f"bureau:       {tip.bureau or '-'}")
    click.echo(f"co_bureaus:   {' '.join(tip.co_bureau_codes) or '-'}")
    for attachment in attachments:
        click.echo(f"attachment:   {attachment.filename} ({attachment.size} bytes)")
    click.echo("")
    click.echo(opened.text)


APPS = {"portal": "tipline.portal:create_app()", "triage": "tipline.triage:create_app()"}


def gunicorn_command(site: str, host: str, port: int, workers: int) -> list[str]:
    # No access log: it would record reporters' addresses (DESIGN.md, "Anonymity").
    return [
        sys.executable, "-m", "gunicorn",
        "--bind", f"{host}:{port}",
        "--workers", str(workers),
        "--worker-class", "gthread",
        "--threads", "4",
        "--graceful-timeout", "5",
        # Two sites on one machine would share the default control socket; neither needs it.
        "--no-control-socket",
        APPS[site],
    ]  # fmt: skip


@main.command()
@click.argument("site", type=click.Choice(sorted(APPS)))
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int)
def serve(site: str, host: str, port: int, workers: int) -> None:
    """Serve the public portal or the internal triage site with gunicorn."""
    cfg = config(need_secret=True)
    try:
        cfg.session_cookie_name(site)
    except ConfigError as exc:
        fail(str(exc))
    if site == "triage":
        try:
            load_keyring(cfg)
        except (ConfigError, CryptoError) as exc:
            fail(str(exc))
    # The arguments are this program's own, not input from anyone else.
    os.execv(sys.executable, gunicorn_command(site, host, port, workers))  # noqa: S606


@main.command()
@click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
def worker(burst: bool) -> None:
    """Run the rq worker (beside triage: jobs may need the private keys).

    It runs only the jobs it declares, with checked arguments; any other job in Redis is
    refused and recorded as failed, and the worker goes on."""
    from tipline.intake.queue import bind_engine
    from tipline.triage.worker import run_worker

    cfg = config()
    if not cfg.redis_url:
        fail("TIPLINE_REDIS_URL is not set: without Redis, jobs run inline in the sites")
    bind_engine(make_engine(cfg.database_url), _keyring_or_fail(cfg))
    run_worker(cfg.redis_url, cfg.queue_name, burst=burst, digest_hours=cfg.alert_digest_hours)


@main.group()
def alerts() -> None:
    """Officers' alerts (待办提醒)."""


@alerts.command("digest")
def alerts_digest() -> None:
    """E-mail officers how many alerts wait for them (a count and the site's address only),
    at most once per TIPLINE_ALERT_DIGEST_HOURS. With Redis the worker does this; without
    it, run this from cron."""
    from tipline.intake.queue import bind_engine
    from tipline.triage.clocks import MailError
    from tipline.triage.jobs import send_alert_digest

    cfg = config()
    bind_engine(make_engine(cfg.database_url), _keyring_or_fail(cfg))
    try:
        click.echo(f"digests sent: {send_alert_digest()}")
    except (MailError, smtplib.SMTPException, OSError) as exc:
        fail(f"the alert digest was not sent: {exc}")


@main.group()
def deadlines() -> None:
    """The statutory clocks."""


@deadlines.command("sweep")
def deadlines_sweep() -> None:
    """Mark deadlines due soon and overdue, escalate, e-mail officers that items wait.

    With Redis the worker does this every morning; without it, run this from cron."""
    from tipline.intake.queue import bind_engine
    from tipline.triage.clocks import MailError
    from tipline.triage.jobs import sweep_deadlines

    cfg = config()
    bind_engine(make_engine(cfg.database_url), _keyring_or_fail(cfg))
    try:
        click.echo(f"notices sent: {sweep_deadlines()}")
    except (MailError, smtplib.SMTPException, OSError) as exc:
        # The deadlines are marked and committed already; only the e-mail failed.
        fail(f"deadlines swept, but the notices were not sent: {exc}")


@main.group()
def calendar() -> None:
    """The working-day calendar: corrections and each year's State Council holiday notice.

    Every change recomputes the due date of every open clock; met clocks stay as they are."""


def _both_languages(message: str, params: dict[str, str]) -> str:
    """A catalogued message in English and in Chinese, for an operator at a terminal."""
    from babel.support import Translations

    folder = Path(__file__).parents[1] / "translations"
    chinese = Translations.load(str(folder), ["zh"], domain="messages").gettext(message)
    return f"{message % params} / {chinese % params}"


def _report_moved(moved: list[Moved], missing: list[int]) -> None:
    click.echo(f"open deadlines recomputed: {len(moved)} moved")
    for item in moved:
        click.echo(
            f"  {item.subject} {item.rule}: {item.was} -> {item.now}"
            + (" (Monday-Friday assumed)" if item.fallback else "")
        )
    if missing:
        click.echo(
            "warning: open deadlines still rest on Monday-Friday in "
            + ", ".join(str(y) for y in missing)
            + ": enter that year's notice (tipline calendar notice YEAR FILE)",
            err=True,
        )


@calendar.command("set")
@click.argument("day", type=click.DateTime(formats=["%Y-%m-%d"]))
@click.option("--workday/--holiday", required=True, help="What the day is.")
@click.option("--note", default="", help="Why (e.g. a local holiday).")
def calendar_set(day: dt.datetime, workday: bool, note: str) -> None:
    """Make DAY (YYYY-MM-DD) a working day or not."""
    from tipline.intake.workdays import load_calendar
    from tipline.triage import clocks, holidays

    cfg = config()
    with transaction(make_sessionmaker(make_engine(cfg.database_url))) as session:
        moved = holidays.correct_day(session, day.date(), workday, note, cli_actor())
        missing = clocks.fallback_years(session, load_calendar(session))
    _report_moved(moved, missing)


@calendar.command("notice")
@click.argument("year")
@click.argument("file", type=click.File(encoding="utf-8-sig"))
@click.option("--reference", default="", help="The notice's number or title.")
def calendar_notice(year: str, file: TextIO, reference: str) -> None:
    """Enter YEAR's State Council holiday notice from FILE (- for standard input).

    FILE has lines "off: DAYS" (放假) and "work: DAYS" (调休上班); DAYS are dates
    (2027-01-01) or ranges (2027-01-01..2027-01-03) separated by spaces or commas; lines
    starting with # are ignored. Entering a year again replaces its earlier entry."""
    from tipline.intake.workdays import NoticeError, load_calendar, parse_notice_file
    from tipline.triage import clocks, holidays

    try:
        notice = parse_notice_file(year, file.read())
    except NoticeError as error:
        for _field, message, params in error.problems:
            click.echo(f"error: {_both_languages(message, params)}", err=True)
        sys.exit(1)
    except UnicodeDecodeError:
        fail("FILE is not UTF-8 text")
    cfg = config()
    with transaction(make_sessionmaker(make_engine(cfg.database_url))) as session:
        moved = holidays.enter_notice(session, notice, reference, cli_actor())
        missing = clocks.fallback_years(session, load_calendar(session))
    click.echo(
        f"{notice.year}: {len(notice.days_off)} days off, "
        f"{len(notice.working_days)} make-up working days entered"
    )
    _report_moved(moved, missing)


@calendar.command("status")
def calendar_status() -> None:
    """Which years have an official calendar, and what rests on a guess."""
    from tipline.intake.workdays import load_calendar, package_knows
    from tipline.triage import clocks

    cfg = config()
    with make_sessionmaker(make_engine(cfg.database_url))() as session:
        calendar = load_calendar(session)
        missing = clocks.fallback_years(session, calendar)
    this_year = dt.date.today().year
    click.echo(calendar.source)
    for year in range(this_year - 1, this_year + 3):
        kind = (
            "chinesecalendar" if package_knows(year)
            else "notice entered" if calendar.knows(year)
            else "NOT KNOWN: Monday-Friday assumed"
        )  # fmt: skip
        click.echo(f"{year}: {kind}")
    if missing:
        click.echo("open deadlines resting on Monday-Friday in: "
                   + ", ".join(str(y) for y in missing))  # fmt: skip


def _keyring_or_fail(cfg: Config) -> PrivateKeyring:
    try:
        return load_keyring(cfg)
    except (ConfigError, CryptoError) as exc:
        fail(str(exc))


DEMO_OFFICERS = (
    ("triage", "triage_officer", "hrss_fund_supervision", "441500"),
    ("agency", "bureau_officer", "si_agency", "441502"),
    ("inspector", "bureau_officer", "labor_inspection", "441502"),
    ("inspector2", "bureau_officer", "labor_inspection", "441502"),
    ("head", "supervisor", "labor_inspection", "441502"),
    ("supervisor", "supervisor", "hrss_fund_supervision", "440000"),
    ("discipline", "bureau_officer", "discipline_inspection", "441500"),
    ("admin", "admin", "hrss_fund_supervision", "440000"),
    ("auditor", "auditor", "hrss_fund_supervision", "440000"),
)


@main.command()
@click.option("--portal-port", default=8080, show_default=True, type=int)
@click.option("--triage-port", default=8081, show_default=True, type=int)
@click.option("--no-serve", is_flag=True, help="Set up only; do not start the sites.")
def demo(portal_port: int, triage_port: int, no_serve: bool) -> None:
    """Set up a demo under instance/ (SQLite, demo keys) and serve both sites locally.

    The passphrase file it writes is for the demo only: a real installation keeps its
    passphrase out of the instance folder.
    """
    instance = Path(os.environ.get("TIPLINE_INSTANCE") or "instance").resolve()
    instance.mkdir(parents=True, exist_ok=True)
    passphrase_file = instance / "DEMO-ONLY-key-passphrase.txt"
    if not passphrase_file.exists():
        passphrase_file.write_text(secrets.token_urlsafe(24), encoding="utf-8")
        passphrase_file.chmod(0o600)
    (instance / "README-DEMO-ONLY.txt").write_text(
        "This folder was made by `tipline demo`. Its key passphrase sits beside the keys, so\n"
        "it protects nothing: never put real reports into it.\n",
        encoding="utf-8",
    )
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"TIPLINE_DATABASE_URL", "TIPLINE_REDIS_URL", "TIPLINE_KEYS_DIR"}
        and not key.startswith("TIPLINE_KEY_PASSPHRASE")
    }
    env.update(
        TIPLINE_INSTANCE=str(instance),
        TIPLINE_KEY_PASSPHRASE_FILE=str(passphrase_file),
        # Generated for this run and handed to the children in memory only.
        TIPLINE_SECRET_KEY=secrets.token_urlsafe(32),
        TIPLINE_INSECURE_COOKIES="1",  # served over plain http on 127.0.0.1
    )
    os.environ.update(env)
    cfg = config()
    engine = make_engine(cfg.database_url)
    migrate(engine)
    if not _has_keys(cfg.keys_dir):
        _new_key(cfg)
    sessions = make_sessionmaker(engine)
    vault = OfficerSecrets(_open_keyring_or_fail(cfg))
    credentials = []
    with transaction(sessions) as session:
        load_reference_data(session)
        for username, role, bureau, region in DEMO_OFFICERS:
            existing = session.scalar(select(Officer).where(Officer.username == username))
            password = secrets.token_urlsafe(12)
            if existing is None:
                created = add_officer(
                    session, username, password, role=role, bureau=bureau, region=region,
                    requested_by="demo", approved_by="demo",
                )  # fmt: skip
            else:
                # Kept (their messages and audit entries point at them): new credentials.
                created = reset_credentials(existing, password)
            # Pre-enrolled so the demo opens at once; a real account enrols at first sign-in.
            credentials.append((username, role, password, enrol_now(created.officer, vault)))
        has_tips = (session.scalar(select(func.count()).select_from(Tip)) or 0) > 0
    if not has_tips:
        samples = files("tipline.demo") / "sample_tips.jsonl"
        reports = [
            _parse_import_line(n, line)[0]
            for n, line in enumerate(samples.read_text(encoding="utf-8").splitlines(), start=1)
            if line.strip()
        ]
        stored = submitter(cfg).submit_many(
            [r for r in reports if r is not None], with_receipt=False
        )
        _demo_case(engine, sessions, _keyring_or_fail(cfg), stored[0].tip_id)
    click.echo("DEMO ONLY: these accounts and keys protect nothing real.\n")
    for username, role, password, totp_secret in credentials:
        click.echo(
            f"  {username:<11} {role:<15} password {password}  DEMO-ONLY TOTP secret {totp_secret}"
        )
    click.echo(
        "\n  current one-time code: .venv/bin/python -c "
        "\"import pyotp; print(pyotp.TOTP('SECRET').now())\""
    )
    click.echo(f"\n  portal: http://127.0.0.1:{portal_port}/")
    click.echo(f"  triage: http://127.0.0.1:{triage_port}/\n")
    if no_serve:
        return
    # The portal gets what a real public server gets: the public key files only, no
    # passphrase, and a secret of its own (both sites share 127.0.0.1, and browsers do not
    # keep cookies apart by port).
    portal_keys = instance / "portal-keys"
    portal_keys.mkdir(exist_ok=True)
    for public in cfg.keys_dir.glob("*.pub.json"):
        (portal_keys / public.name).write_bytes(public.read_bytes())
    portal_env = {k: v for k, v in env.items() if not k.startswith("TIPLINE_KEY_PASSPHRASE")}
    portal_env.update(
        TIPLINE_KEYS_DIR=str(portal_keys), TIPLINE_SECRET_KEY=secrets.token_urlsafe(32)
    )
    serve_demo(
        [
            gunicorn_command("portal", "127.0.0.1", portal_port, 2),
            gunicorn_command("triage", "127.0.0.1", triage_port, 2),
        ],
        [portal_env, env],
    )


def _demo_case(
    engine: Engine, sessions: sessionmaker[Session], keyring: PrivateKeyring, tip_id: str
) -> None:
    """The first sample tip (a pension impostor in 城区), accepted by the agency, made a case,
    its recovery recorded and handed over to labour inspection: the demo's case area starts
    with a handover waiting for its receipt (domain.md T5)."""
    from tipline.intake.jobs import process_new_tips
    from tipline.intake.queue import InlineQueue
    from tipline.triage.cases import services as cases
    from tipline.triage.tips import decisions

    InlineQueue(engine, keyring).enqueue(process_new_tips)
    with transaction(sessions) as session:
        tip = session.get(Tip, tip_id)
        desk = session.scalar(select(Officer).where(Officer.username == "triage"))
        agency = session.scalar(select(Officer).where(Officer.username == "agency"))
        opened = open_with_keyring(session, tip_id, keyring)
        if tip is None or opened is None or desk is None or agency is None:
            return
        if tip.suggested_bureau != "si_agency":
            return  # the packs route it elsewhere: no demo case
        decisions.confirm_routing(session, opened, desk, "si_agency", "")
        decisions.accept(session, opened, agency)
        subject = cases.Subject(kind="individual", name="陈某某", period_from=dt.date(2023, 3, 1))
        case = cases.open_case(session, keyring.public_keyring(), agency, [tip], subject,
                               "经核查，死亡后仍领取养老金。")  # fmt: skip
        for action, raw in (
            ("stop_payment", {"measures": "已停发养老金。"}),
            ("record_recovery", {"measures": "已责令退回。", "recovered": "20000"}),
            ("hand_over", {"to_bureau": "labor_inspection", "findings": "冒领属实。",
                           "verified_loss": "86400"}),
        ):  # fmt: skip
            cases.apply(session, keyring, case, action, agency, raw)


class _Stop(Exception):
    """SIGTERM or SIGHUP reached `tipline demo`: stop as Ctrl-C does."""


def _raise_stop(signum: int, _frame: object) -> None:
    raise _Stop(signum)


# How long a site has to finish its requests after SIGTERM before it is killed.
DEMO_STOP_SECONDS = 10


def serve_demo(commands: list[list[str]], envs: list[dict[str, str]]) -> None:
    """Run the demo's servers until one stops, Ctrl-C, SIGTERM or SIGHUP (a closed
    terminal), then stop them all: `kill` of the demo must not leave servers behind."""
    stops = (signal.SIGTERM, signal.SIGHUP)
    before = {signum: signal.signal(signum, _raise_stop) for signum in stops}
    children: list[subprocess.Popen[bytes]] = []
    try:
        for command, site_env in zip(commands, envs, strict=True):
            children.append(subprocess.Popen(command, env=site_env))  # noqa: S603
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
    except (KeyboardInterrupt, _Stop):
        pass
    finally:
        # A second signal while stopping must not cut the clean-up short.
        for signum in stops:
            signal.signal(signum, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=DEMO_STOP_SECONDS)
            except subprocess.TimeoutExpired:
                child.kill()  # gunicorn's workers die with their arbiter
                child.wait()
        for signum, handler in before.items():
            signal.signal(signum, handler)
        signal.signal(signal.SIGINT, signal.default_int_handler)


main.add_command(audit)


if __name__ == "__main__":
    main()
