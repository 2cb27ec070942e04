"""Serve the portal (and triage beside it) for real: a fresh PostgreSQL database,
``tipline init``, gunicorn.

Plain functions and classes, no pytest fixtures, so tests and ``bench/`` can share them::

    name = create_database()
    try:
        with ServedPortal.start(tmp_path / "instance", name, workers=3) as served:
            with PortalClient(served.url) as client:
                receipt = client.submit("what happened")
    finally:
        drop_database(name)

Triage is served from the same instance, with the private keys and the passphrase::

        with ServedTriage.beside(served) as internal:
            secret = add_officer(served.init_env, "reader")
            with TriageClient(internal.url) as officer:
                officer.sign_in("reader", secret)

Everything the portal is told comes from ``TIPLINE_*`` variables (tipline/intake/config.py).
Servers run in their own process group so that stopping one also stops its workers.
"""

from __future__ import annotations

import contextlib
import html
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TypeVar

import psycopg
import requests
from flask import Flask
from psycopg import sql
from werkzeug.serving import make_server

PG_HOST = os.environ.get("TIPLINE_TEST_PGHOST", "127.0.0.1")  # as tests/conftest.py
PG_PORT = int(os.environ.get("TIPLINE_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("TIPLINE_TEST_PG_USER", "postgres")
ADMIN_DATABASE = "postgres"

RECEIPT = re.compile(r'<p class="receipt" id="receipt">\s*([0-9 ]+?)\s*</p>')
RECEIPT_DISPLAY = re.compile(r"^\d{4}( \d{4}){5}$")
CSRF_INPUT = re.compile(r'<input[^>]*\bname="csrf_token"[^>]*>')
VALUE_ATTR = re.compile(r'\bvalue="([^"]*)"')

@contextlib.contextmanager
def in_a_thread(app: Flask, site: str | None = None) -> Iterator[str]:
    """``app`` served by werkzeug on a free loopback port in a thread of this process (for a
    browser, or where no gunicorn is needed); the base URL. ``site`` ("portal", "triage")
    names the extension whose engine is disposed afterwards."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        if site is not None:
            app.extensions[site].engine.dispose()


# Same arguments as `tipline serve` (tipline/triage/cli.py, gunicorn_command).
THREADS_PER_WORKER = 4


# --- PostgreSQL ----------------------------------------------------------------------


def pg_conninfo(database: str = ADMIN_DATABASE) -> str:
    return f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}"


def sqlalchemy_url(database: str, role: str = PG_USER) -> str:
    return f"postgresql+psycopg://{role}@{PG_HOST}:{PG_PORT}/{database}"


def pg_unavailable(timeout: int = 3) -> str | None:
    """None when PostgreSQL answers, otherwise why it does not."""
    try:
        with psycopg.connect(pg_conninfo(), connect_timeout=timeout, autocommit=True) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"PostgreSQL at {PG_HOST}:{PG_PORT} is unreachable: {exc}".strip()
    return None


def create_database(prefix: str = "tipline_test") -> str:
    """Create an empty database with a random name and return the name."""
    name = f"{prefix}_{secrets.token_hex(6)}"
    with psycopg.connect(pg_conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return name


def drop_database(name: str) -> None:
    """Drop a database, disconnecting whoever still uses it; absent is fine."""
    with psycopg.connect(pg_conninfo(), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        # `tipline init` made a login role per process for it (tipline/intake/roles.py).
        for process in ("portal", "triage", "worker"):
            conn.execute(
                sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(f"{name}_{process}"))
            )


def count_rows(database: str, table: str) -> int:
    with psycopg.connect(pg_conninfo(database), autocommit=True) as conn:
        row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))
        found = row.fetchone()
    assert found is not None
    return int(found[0])


# --- processes -----------------------------------------------------------------------


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def venv_script(name: str) -> str:
    """A console script installed beside this interpreter (the project's venv)."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"no {name} script beside {sys.executable} or on PATH")
    return found


def gunicorn_command(
    app: str, host: str, port: int, workers: int, *, pythonpath: str | None = None
) -> list[str]:
    """gunicorn with the worker settings `tipline serve` uses, for any WSGI app."""
    command = [
        sys.executable, "-m", "gunicorn",
        "--bind", f"{host}:{port}",
        "--workers", str(workers),
        "--worker-class", "gthread",
        "--threads", str(THREADS_PER_WORKER),
        "--graceful-timeout", "5",
    ]  # fmt: skip
    if pythonpath:
        command += ["--pythonpath", pythonpath]
    return [*command, app]


def clean_env(extra: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without any TIPLINE_* setting, plus ``extra``.

    gunicorn >= 25 opens a control socket at ~/.gunicorn/gunicorn.ctl by default, one path
    for every server of the user: each new master unlinks the last one's socket. Servers
    started here turn it off (through GUNICORN_CMD_ARGS, which `tipline serve` passes on),
    so they neither take over nor remove the socket of a server someone else runs.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIPLINE_")}
    env["GUNICORN_CMD_ARGS"] = "--no-control-socket"
    env.update(extra)
    return env


def _stat_fields(pid: str) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    return raw[raw.rindex(")") + 2 :].split()


def group_pids(pgid: int) -> list[int]:
    """Live processes whose process group is ``pgid`` (a server and its workers)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(entry)
            if fields is not None and int(fields[2]) == pgid and fields[0] != "Z":
                pids.append(int(entry))
    return pids


def group_cpu_seconds(pgid: int) -> float:
    """utime + stime of every live process in the group, in seconds (from /proc)."""
    ticks = 0
    for pid in group_pids(pgid):
        fields = _stat_fields(str(pid))
        if fields is not None:
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


@dataclass
class Server:
    """A command serving HTTP on ``port``, run in its own process group."""

    command: Sequence[str]
    env: Mapping[str, str]
    port: int
    log_path: Path
    host: str = "127.0.0.1"
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pgid(self) -> int:
        assert self.process is not None
        return self.process.pid  # start_new_session: the leader's pid is the group id

    def start(self, *, ready_path: str = "/", timeout: float = 60) -> Server:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                list(self.command),
                env=dict(self.env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            self._wait_ready(ready_path, timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, path: str, timeout: float) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"server exited with {self.process.returncode} before answering:\n"
                    + self.log_tail()
                )
            try:
                with requests.get(self.url + path, timeout=2) as response:
                    if response.status_code == 200:
                        return
                    last = response.status_code
            except requests.RequestException as exc:
                last = exc
            time.sleep(0.1)
        raise TimeoutError(f"{self.url}{path} did not answer 200 ({last}):\n" + self.log_tail())

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def cpu_seconds(self) -> float:
        return group_cpu_seconds(self.pgid)

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM to the whole group, wait, then SIGKILL if it lingers."""
        process, self.process = self.process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=timeout)
        # Workers orphaned by a dead master would still hold the port and the database.
        # While any of them lives, the group id cannot have been reused by someone else.
        if group_pids(process.pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)

    def __enter__(self) -> Server:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self.stop()


# --- the portal ----------------------------------------------------------------------


def portal_env(
    instance: Path,
    database: str,
    *,
    receipt_scrypt_n: int | None = None,
    keyfile_scrypt_n: int = 1024,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    env = {
        "TIPLINE_INSTANCE": str(instance),
        "TIPLINE_DATABASE_URL": sqlalchemy_url(database),
        "TIPLINE_KEY_PASSPHRASE": secrets.token_urlsafe(16),
        "TIPLINE_SECRET_KEY": secrets.token_urlsafe(32),
        "TIPLINE_INSECURE_COOKIES": "1",
        "TIPLINE_KEYFILE_SCRYPT_N": str(keyfile_scrypt_n),
        # Every client here comes from 127.0.0.1: the per-address limit would measure
        # itself, not the submission.
        "TIPLINE_SUBMIT_LIMIT": "1000000 per minute",
        "TIPLINE_RECEIPT_LIMIT": "1000000 per minute",
    }
    if receipt_scrypt_n is not None:
        env["TIPLINE_RECEIPT_SCRYPT_N"] = str(receipt_scrypt_n)
    env.update(extra or {})
    return clean_env(env)


def tipline_init(env: Mapping[str, str], timeout: float = 120) -> None:
    """Run `tipline init`: migrate, create keys, load reference data."""
    result = subprocess.run(
        [venv_script("tipline"), "init"],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"tipline init failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )


class _ServedSite:
    """A site served for a test: stopped when its ``with`` block ends."""

    server: Server

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self: SiteT) -> SiteT:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self.stop()


SiteT = TypeVar("SiteT", bound=_ServedSite)


@dataclass
class ServedPortal(_ServedSite):
    """An initialised instance and the portal served from it (public keys only).

    ``env`` is the portal's environment; the private key files stay in ``instance/keys``.
    ``init_env`` is the environment ``tipline init`` ran with (the passphrase included, the
    owner's database login), for the `tipline` command; ``worker_env`` is what the worker
    beside triage runs with (keys, passphrase, the worker's own database login).
    """

    instance: Path
    database: str
    env: dict[str, str]
    server: Server
    init_env: dict[str, str] = field(default_factory=dict)
    worker_env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server.url

    @classmethod
    def start(
        cls,
        instance: Path,
        database: str,
        *,
        workers: int = 2,
        receipt_scrypt_n: int | None = None,
        extra_env: Mapping[str, str] | None = None,
        timeout: float = 60,
    ) -> ServedPortal:
        """Initialise ``instance`` against the (existing) ``database`` and serve the portal."""
        instance.mkdir(parents=True, exist_ok=True)
        env = portal_env(instance, database, receipt_scrypt_n=receipt_scrypt_n, extra=extra_env)
        tipline_init(env)
        init_env = dict(env)
        worker_env = {**env, "TIPLINE_DATABASE_URL": sqlalchemy_url(database, f"{database}_worker")}
        # As in production, the public site gets the public key files only, and no
        # passphrase (DESIGN.md, "Encryption at rest").
        public_keys = instance / "portal-keys"
        public_keys.mkdir(exist_ok=True)
        for path in (instance / "keys").glob("*.pub.json"):
            shutil.copy(path, public_keys / path.name)
        env = {k: v for k, v in env.items() if not k.startswith("TIPLINE_KEY_PASSPHRASE")}
        env["TIPLINE_KEYS_DIR"] = str(public_keys)
        # ... and its own database login, which may store submissions and nothing more.
        env["TIPLINE_DATABASE_URL"] = sqlalchemy_url(database, f"{database}_portal")
        port = free_port()
        command = [
            venv_script("tipline"), "serve", "portal",
            "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
        ]  # fmt: skip
        server = Server(command, env, port, instance / "gunicorn.log")
        server.start(timeout=timeout)
        return cls(instance, database, env, server, init_env, worker_env)



# --- triage --------------------------------------------------------------------------

OFFICER_PASSWORD = "a long served test password"
ACTIVATION = re.compile(r"activation code: ([0-9A-Z]{4}(?:-[0-9A-Z]{4}){3})")
ENROL_SECRET = re.compile(r'id="totp-secret"[^>]*>([A-Z2-7 ]+)<')  # shown in groups of four


def add_officer(
    env: Mapping[str, str],
    username: str,
    *,
    role: str = "triage_officer",
    bureau: str = "hrss_fund_supervision",
    region: str = "440000",
    password: str = OFFICER_PASSWORD,
) -> str:
    """`tipline users add`; returns the account's one-time activation code (the owner then
    enrols an authenticator at first sign-in: ``TriageClient.first_sign_in``)."""
    result = subprocess.run(
        [venv_script("tipline"), "users", "add", username, "--role", role,
         "--bureau", bureau, "--region", region],
        env=dict(env), input=password + "\n", capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    found = ACTIVATION.search(result.stdout)
    if result.returncode != 0 or found is None:
        raise RuntimeError(f"tipline users add failed:\n{result.stdout}\n{result.stderr}")
    return found.group(1)


@dataclass
class ServedTriage(_ServedSite):
    """The internal site served from a ServedPortal's instance: same database, the
    private keys and passphrase, a secret key of its own."""

    env: dict[str, str]
    server: Server

    @property
    def url(self) -> str:
        return self.server.url

    @classmethod
    def beside(
        cls,
        portal: ServedPortal,
        *,
        workers: int = 2,
        extra_env: Mapping[str, str] | None = None,
        timeout: float = 60,
    ) -> ServedTriage:
        env = {**portal.init_env, "TIPLINE_SECRET_KEY": secrets.token_urlsafe(32),
               # Triage's own database login (tipline/intake/roles.py).
               "TIPLINE_DATABASE_URL": sqlalchemy_url(portal.database, f"{portal.database}_triage")}
        env.update(extra_env or {})
        port = free_port()
        command = [
            venv_script("tipline"), "serve", "triage",
            "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
        ]  # fmt: skip
        server = Server(command, env, port, portal.instance / "gunicorn-triage.log")
        server.start(ready_path="/login", timeout=timeout)
        return cls(env, server)



class TriageClient:
    """One officer's browser on the internal site."""

    def __init__(self, base_url: str, *, timeout: float = 60) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()

    def _post_login(
        self, username: str, password: str, code: str, *, follow: bool
    ) -> requests.Response:
        with self.session.get(self.base_url + "/login", timeout=self.timeout) as page:
            token = csrf_token(page.text)
        data = {"csrf_token": token, "username": username, "password": password, "code": code}
        return self.session.post(
            self.base_url + "/login", data=data, allow_redirects=follow, timeout=self.timeout
        )

    def sign_in(self, username: str, totp_secret: str, password: str = OFFICER_PASSWORD) -> None:
        import pyotp

        code = pyotp.TOTP(totp_secret).now()
        with self._post_login(username, password, code, follow=False) as response:
            if response.status_code != 302:
                raise PortalError(response.status_code, "POST /login", response.text)

    def first_sign_in(
        self, username: str, activation: str, password: str = OFFICER_PASSWORD
    ) -> str:
        """Password and activation code, then enrol an authenticator; this client stays
        signed in. Returns the TOTP secret the enrolment page showed."""
        import pyotp

        with self._post_login(username, password, activation, follow=True) as page:
            found = ENROL_SECRET.search(page.text)
            if found is None:
                raise PortalError(page.status_code, "first sign-in: no enrolment", page.text)
            token = csrf_token(page.text)
        secret = found.group(1).replace(" ", "")
        confirm = {"csrf_token": token, "code": pyotp.TOTP(secret).now()}
        with self.session.post(
            self.base_url + "/enrol", data=confirm, allow_redirects=False, timeout=self.timeout
        ) as response:
            if response.status_code != 302:
                raise PortalError(response.status_code, "POST /enrol", response.text)
        return secret

    def get(self, path: str, **kwargs: object) -> requests.Response:
        return self.session.get(self.base_url + path, timeout=self.timeout, **kwargs)  # type: ignore[arg-type]

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> TriageClient:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self.close()


# --- a citizen's browser -------------------------------------------------------------


class PortalError(Exception):
    def __init__(self, status: int, message: str, body: str = "") -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.body = body


DEFAULT_FIELDS = {
    "category": "fake_treatment",
    "province": "440000",
    "city": "441500",
    "county": "441502",
    "anonymous": "yes",
    "amount": "12000",
    "fund": "medical",
    "suspect_kind": "individual",
}


def csrf_token(page: str) -> str:
    tag = CSRF_INPUT.search(page)
    value = VALUE_ATTR.search(tag.group(0)) if tag else None
    if value is None:
        raise PortalError(200, "no csrf_token input on the page", page)
    return html.unescape(value.group(1))


def receipt_from(page: str) -> str:
    found = RECEIPT.search(page)
    if found is None or not RECEIPT_DISPLAY.match(found.group(1)):
        raise PortalError(200, "no well-formed receipt on the page", page)
    return found.group(1)


class PortalClient:
    """One reporter: its own cookie jar, so its own session and CSRF token."""

    def __init__(self, base_url: str, *, timeout: float = 60) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        self._token: str | None = None

    def token(self) -> str:
        """GET /report once; the token stays valid for this session."""
        if self._token is None:
            with self.session.get(self.base_url + "/report", timeout=self.timeout) as response:
                if response.status_code != 200:
                    raise PortalError(response.status_code, "GET /report", response.text)
                self._token = csrf_token(response.text)
        return self._token

    def post_report(
        self,
        text: str,
        attachment: tuple[str, bytes, str] | None = None,
        **fields: str,
    ) -> requests.Response:
        """POST /report as multipart/form-data; the caller closes the response."""
        form = {**DEFAULT_FIELDS, **fields, "text": text, "csrf_token": self.token()}
        parts: list[tuple[str, tuple[str | None, str | bytes] | tuple[str, bytes, str]]] = [
            (name, (None, value)) for name, value in form.items()
        ]
        if attachment is not None:
            parts.append(("attachments", attachment))
        return self.session.post(self.base_url + "/report", files=parts, timeout=self.timeout)

    def submit(
        self, text: str, attachment: tuple[str, bytes, str] | None = None, **fields: str
    ) -> str:
        """Send a report and return its receipt as displayed (six groups of four digits)."""
        with self.post_report(text, attachment, **fields) as response:
            if response.status_code != 200:
                raise PortalError(response.status_code, "POST /report", response.text)
            return receipt_from(response.text)

    def check(self, receipt: str) -> str:
        """Sign in with a receipt (POST /check, which leads to /my-report) and return the
        report's page; PortalError if it does not answer 200.

        Signing in starts a new session, so the cached CSRF token is dropped afterwards."""
        data = {"csrf_token": self.token(), "receipt": receipt}
        try:
            with self.session.post(
                self.base_url + "/check", data=data, timeout=self.timeout
            ) as response:
                if response.status_code != 200:
                    raise PortalError(response.status_code, "POST /check", response.text)
                return response.text
        finally:
            self._token = None

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> PortalClient:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self.close()


@contextlib.contextmanager
def fresh_database(prefix: str = "tipline_test") -> Iterator[str]:
    name = create_database(prefix)
    try:
        yield name
    finally:
        drop_database(name)
