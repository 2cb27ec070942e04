"""Fixtures: fresh state per test, on SQLite and on the real PostgreSQL and Redis.

With ``CI`` set, a PostgreSQL or Redis that cannot be reached fails the run; elsewhere the
tests that need it are skipped with the reason.
"""

from __future__ import annotations

import io
import os
import re
import secrets
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import TestResponse, encode_multipart

from tipline.crypto import OfficerSecrets, generate_key, write_key_files
from tipline.intake.config import Config
from tipline.intake.db import (
    load_reference_data,
    make_engine,
    make_sessionmaker,
    migrate,
    transaction,
)
from tipline.intake.models import Base, Officer
from tipline.triage.accounts import add_officer, enrol_now

PG_HOST = os.environ.get("TIPLINE_TEST_PGHOST", "127.0.0.1")
REDIS_URL = os.environ.get("TIPLINE_TEST_REDIS_URL", "redis://127.0.0.1:6379/14")
PASSPHRASE = "a test passphrase, never used outside tests"
FAST_SCRYPT = 2**10


def unavailable(what: str, error: Exception) -> None:
    message = f"{what} is not reachable: {error}"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("keys")
    write_key_files(directory, generate_key(), PASSPHRASE, scrypt_n=FAST_SCRYPT)
    return directory


@pytest.fixture(scope="session")
def public_keys_dir(keys_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The keys folder a portal server gets: public key files only."""
    directory = tmp_path_factory.mktemp("public-keys")
    for path in keys_dir.glob("*.pub.json"):
        shutil.copy(path, directory / path.name)
    return directory


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "tipline.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    with transaction(make_sessionmaker(engine)) as session:
        load_reference_data(session)
    engine.dispose()
    return path


def pg_admin() -> psycopg.Connection[Any]:
    return psycopg.connect(host=PG_HOST, user="postgres", dbname="postgres", autocommit=True)


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this run, migrated; dropped at the end."""
    name = f"tipline_test_{secrets.token_hex(4)}"
    try:
        with pg_admin() as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        unavailable("PostgreSQL on 127.0.0.1:5432", exc)
    url = f"postgresql+psycopg://postgres@{PG_HOST}/{name}"
    engine = make_engine(url)
    migrate(engine)
    with transaction(make_sessionmaker(engine)) as session:
        load_reference_data(session)
    engine.dispose()
    yield url
    with pg_admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


_REFERENCE_TABLES = {"region", "category", "bureau", "alembic_version"}


def _empty(engine: Engine) -> None:
    tables = [t.name for t in Base.metadata.sorted_tables if t.name not in _REFERENCE_TABLES]
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "tipline.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("pg_database")
    engine = make_engine(url)
    _empty(engine)
    engine.dispose()
    return url


@pytest.fixture
def redis_url() -> str:
    connection = redis.Redis.from_url(REDIS_URL)
    try:
        connection.flushdb()
    except redis.ConnectionError as exc:
        unavailable("Redis on 127.0.0.1:6379", exc)
    finally:
        connection.close()
    return REDIS_URL


@pytest.fixture
def make_config(tmp_path: Path, database_url: str, keys_dir: Path) -> Callable[..., Config]:
    """A config factory: fresh secret, fast scrypt, this test's database."""

    def make(**overrides: Any) -> Config:
        values: dict[str, Any] = {
            "instance": tmp_path / "instance",
            "database_url": database_url,
            "secret_key": secrets.token_urlsafe(16),
            "keys_dir": keys_dir,
            "key_passphrase": PASSPHRASE,
            "receipt_scrypt_n": FAST_SCRYPT,
            "keyfile_scrypt_n": FAST_SCRYPT,
            "secure_cookies": False,
            "queue_name": f"test-{secrets.token_hex(4)}",
        }
        values.update(overrides)
        return Config(**values)

    return make


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def portal_app(make_config: Callable[..., Config], public_keys_dir: Path) -> Iterator[Flask]:
    from tipline.portal import create_app

    app = create_app(make_config(keys_dir=public_keys_dir, key_passphrase=None))
    yield app
    app.extensions["portal"].engine.dispose()


@pytest.fixture
def portal(portal_app: Flask) -> FlaskClient:
    return portal_app.test_client()


@pytest.fixture
def triage_app(make_config: Callable[..., Config]) -> Iterator[Flask]:
    from tipline.triage import create_app

    app = create_app(make_config())
    yield app
    app.extensions["triage"].engine.dispose()


@pytest.fixture
def triage(triage_app: Flask) -> FlaskClient:
    return triage_app.test_client()


CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
RECEIPT = re.compile(r'id="receipt">([\d ]+)<')


def csrf_token(client: FlaskClient, path: str) -> str:
    page = client.get(path)
    match = CSRF.search(page.get_data(as_text=True))
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def post_multipart(
    client: FlaskClient, path: str, data: dict[str, Any], **kwargs: Any
) -> TestResponse:
    """POST a multipart form encoded in memory (the test client would spool big bodies to
    a temporary file that it never closes when the app answers without reading it)."""
    fields = {
        name: [FileStorage(stream, filename=filename) for stream, filename in value]
        if isinstance(value, list)
        else value
        for name, value in data.items()
    }
    boundary, body = encode_multipart(MultiDict(fields))
    return client.post(
        path, data=body, content_type=f"multipart/form-data; boundary={boundary}", **kwargs
    )


def submit_report(client: FlaskClient, **fields: Any) -> str:
    """Submit the public form; returns the receipt code shown."""
    data: dict[str, Any] = {
        "csrf_token": csrf_token(client, "/report"),
        "category": "fake_treatment",
        "province": "440000",
        "city": "441500",
        "county": "441502",
        "anonymous": "yes",
        "fund": "medical",
        "suspect_kind": "medical_institution",
        "amount": "12000",
        "text": "某医院挂床住院，骗取医保基金。",
    }
    data.update(fields)
    # Post/redirect/get: the receipt is on the page the POST redirects to.
    response = post_multipart(client, "/report", data, follow_redirects=True)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.request.path == "/report/received"
    match = RECEIPT.search(response.get_data(as_text=True))
    assert match, "no receipt on the page"
    return match.group(1)


OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def legacy_doc(payload: bytes) -> bytes:
    """A legacy Word file as far as type detection goes: it passes scrubbing unchanged, so
    its bytes can be followed through the pipeline."""
    return OLE2_MAGIC + bytes(504) + payload


def tiny_pdf(text: str = "evidence") -> bytes:
    """A small valid PDF (the pipeline parses PDFs to strip their metadata)."""
    import pikepdf

    document = pikepdf.new()
    document.add_blank_page()
    document.docinfo["/Title"] = text
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def visible(body: str) -> str:
    """The text a reader sees on a page: tags and attribute values left out."""
    parser = _Text()
    parser.feed(body)
    return re.sub(r"\s+", " ", " ".join(parser.parts))


OFFICER_PASSWORD = "a long test password"


def make_enrolled(
    session: Session,
    vault: OfficerSecrets,
    name: str,
    password: str = OFFICER_PASSWORD,
    **account: Any,
) -> tuple[Officer, str]:
    """An approved account with an authenticator already enrolled, as the demo makes them
    (the real way, through /enrol, is tested in test_accounts.py): the officer and the TOTP
    secret."""
    created = add_officer(
        session, name, password, requested_by="test", approved_by="test", **account
    )
    return created.officer, enrol_now(created.officer, vault)


def sign_in_officer(
    app: Flask, name: str, secret: str, password: str = OFFICER_PASSWORD
) -> FlaskClient:
    """A triage client signed in as ``name`` with its password and current one-time code."""
    import pyotp

    client = app.test_client()
    response = client.post(
        "/login",
        data={
            "csrf_token": csrf_token(client, "/login"),
            "username": name,
            "password": password,
            "code": pyotp.TOTP(secret).now(),
        },
    )
    assert response.status_code == 302
    return client


def new_officer(app: Flask, name: str, **account: Any) -> FlaskClient:
    """A triage client signed in as a new, enrolled officer of ``account`` (role, bureau,
    region)."""
    services = app.extensions["triage"]
    with transaction(services.sessions) as session:
        _, secret = make_enrolled(session, services.officer_secrets, name, **account)
    return sign_in_officer(app, name, secret)


def cli_environment(instance: Path, database_url: str) -> dict[str, str]:
    """The environment the `tipline` command runs with in tests: no TIPLINE_* of the host."""
    values = {key: value for key, value in os.environ.items() if not key.startswith("TIPLINE_")}
    values.update(
        TIPLINE_INSTANCE=str(instance),
        TIPLINE_DATABASE_URL=database_url,
        TIPLINE_KEY_PASSPHRASE="cli test passphrase",
        TIPLINE_KEYFILE_SCRYPT_N="1024",
        TIPLINE_RECEIPT_SCRYPT_N="1024",
    )
    return values


def run_cli(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tipline.triage.cli", *args],
        env=env, input=stdin, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
