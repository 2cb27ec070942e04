"""nginx from Debian in front of the served portal and triage site, as deploy/ ships it.

Issue 7, item 11: a dozen sockets sending their headers byte by byte held every gunicorn
thread and the portal stopped answering. Here the real processes run on ports of their own:
gunicorn (``tipline serve``) on PostgreSQL and Redis, and nginx as the current user with its
prefix, pid file, temporary folders and logs under the test's folder, configured with the
site files rendered by ``deploy/render.py`` (TLS, as in production, with a certificate made
for the test). The main nginx.conf around them mimics Debian's, including its access log
and ``gzip on``, so the site files must win against those defaults.

Every client connects from a loopback address of its own (127.0.0.2 and up) so that the
logs can be searched for them, and so that rate-limit buckets per address can be told apart.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import pwd
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from requests.adapters import HTTPAdapter

try:
    from served import (
        PortalClient,
        PortalError,
        ServedPortal,
        Server,
        create_database,
        drop_database,
        free_port,
        pg_unavailable,
        venv_script,
    )
except ImportError:  # tests/ imported as a package
    from tests.served import (
        PortalClient,
        PortalError,
        ServedPortal,
        Server,
        create_database,
        drop_database,
        free_port,
        pg_unavailable,
        venv_script,
    )

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
RENDER = ROOT / "deploy" / "render.py"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
REDIS_URL = os.environ.get("TIPLINE_TEST_REDIS_URL", "redis://127.0.0.1:6379/14")  # conftest
PORTAL_NAME = "jubao.test"
TRIAGE_NAME = "triage.test"
MAX_UPLOAD_MB = 1  # small, so that bodies above the limits are quick to send
APP_LIMIT = (2 * MAX_UPLOAD_MB + 1) * 1024 * 1024  # tipline/intake/web.py, request_ceiling
RECEIPT_LIMIT = 3
PASSPHRASE = "a test passphrase, never used outside tests"
# The client addresses used here (Linux answers on all of 127.0.0.0/8).
CITIZEN, OTHER_CITIZEN, ATTACKER = "127.0.0.2", "127.0.0.3", "127.0.0.4"
CLIENT_ADDRESSES = (CITIZEN, OTHER_CITIZEN, ATTACKER)
SLOW_HEADERS, SLOW_BODIES = 50, 20
TIMEOUT = 30  # for requests that must succeed: generous, never a measurement


def in_ci() -> bool:
    return bool(os.environ.get("CI"))  # as tests/conftest.py


def require(problem: str | None) -> None:
    if problem is not None:
        if in_ci():
            pytest.fail(problem)
        pytest.skip(problem)


# --- the processes -------------------------------------------------------------------


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for both test names; the clients trust exactly it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, PORTAL_NAME)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(PORTAL_NAME), x509.DNSName(TRIAGE_NAME)]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "site.crt", directory / "site.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@dataclass
class Site:
    name: str
    https_port: int
    http_port: int


def render_site(
    site: str, root: Path, cert: Path, key: Path, upstream: str, server_name: str
) -> Site:
    """deploy/render.py, run as an operator would, with this test's ports and paths."""
    ports = Site(server_name, free_port(), free_port())
    command = [
        sys.executable, str(RENDER), site,
        "--server-name", server_name,
        "--certificate", str(cert), "--certificate-key", str(key),
        "--max-upload-mb", str(MAX_UPLOAD_MB),
        "--upstream", upstream,
        "--listen", "127.0.0.1",
        "--http-port", str(ports.http_port), "--https-port", str(ports.https_port),
        "--error-log", str(root / "logs" / f"{site}.error.log"),
        "--access-log", str(root / "logs" / f"{site}.access.log"),
        "--output", str(root / "sites" / f"{site}.conf"),
    ]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True, timeout=30)
    return ports


def main_conf(root: Path) -> str:
    # Like Debian's /etc/nginx/nginx.conf, but everything under ``root``: the sites must turn
    # off the access log and the gzip it sets for every site, and the process-level log is
    # at "info", the most talkative level short of a debug build.
    # As root, nginx would hand its workers to "nobody"; they run as the current user here.
    user = f"user {pwd.getpwuid(0).pw_name};" if os.geteuid() == 0 else ""
    tmp = root / "tmp"
    return f"""
daemon off;
{user}
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/logs/main.error.log info;
events {{ worker_connections 1024; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3;
    ssl_prefer_server_ciphers on;
    access_log {root}/logs/access.log;
    error_log {root}/logs/http.error.log info;
    gzip on;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    include {root}/sites/*.conf;
}}
"""


@dataclass
class Nginx:
    """nginx in the foreground (``daemon off``), in its own process group."""

    root: Path
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def command(self) -> list[str]:
        return [
            NGINX, "-p", str(self.root), "-c", str(self.root / "nginx.conf"),
            "-e", str(self.root / "logs" / "startup.error.log"),
        ]  # fmt: skip

    def start(self, ports: list[int]) -> None:
        (self.root / "nginx.conf").write_text(main_conf(self.root))
        check = subprocess.run(
            [*self.command, "-t", "-q"], capture_output=True, text=True, timeout=30, check=False
        )
        if check.returncode != 0:
            raise RuntimeError(f"nginx -t failed:\n{check.stdout}{check.stderr}")
        with (self.root / "logs" / "stderr.log").open("ab") as out:
            self.process = subprocess.Popen(
                self.command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 30
        for port in ports:
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError("nginx exited:\n" + self.logs_text())
                with contextlib.suppress(OSError):
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"nginx does not listen on {port}")
                time.sleep(0.05)

    def logs_text(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')}"
            for path in sorted((self.root / "logs").glob("*"))
        )

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGQUIT)  # graceful: workers finish and exit
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)


@dataclass
class Deployment:
    portal: ServedPortal
    triage: Server
    nginx: Nginx
    public: Site
    internal: Site
    certificate: Path

    def client(self, source: str, site: Site | None = None) -> PortalClient:
        """A citizen's browser at ``source``, speaking HTTPS to nginx by the site's name."""
        site = site or self.public
        client = PortalClient(f"https://127.0.0.1:{site.https_port}", timeout=TIMEOUT)
        client.session.mount("https://", PinnedAdapter(source, site.name))
        client.session.headers["Host"] = f"{site.name}:{site.https_port}"
        # Not the environment's CA bundle (REQUESTS_CA_BUNDLE would win over ``verify``,
        # requests#3829) nor its proxies: this certificate, straight to nginx.
        client.session.trust_env = False
        client.session.verify = str(self.certificate)
        return client

    def tls_socket(self, source: str, name: str = PORTAL_NAME) -> ssl.SSLSocket:
        raw = socket.create_connection(
            ("127.0.0.1", self.public.https_port), timeout=TIMEOUT, source_address=(source, 0)
        )
        context = ssl.create_default_context(cafile=str(self.certificate))
        return context.wrap_socket(raw, server_hostname=name)


class PinnedAdapter(HTTPAdapter):
    """Connect from ``source``, send ``server_name`` by SNI and check the certificate for
    it, whatever address the URL names (no resolver entry is needed for the test name)."""

    def __init__(self, source: str, server_name: str) -> None:
        self.source = source
        self.server_name = server_name
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs.update(
            source_address=(self.source, 0),
            server_hostname=self.server_name,
            assert_hostname=self.server_name,
        )
        super().init_poolmanager(*args, **kwargs)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    require(None if Path(NGINX).exists() else "nginx is not installed (make setup)")
    require(pg_unavailable())
    try:
        redis.Redis.from_url(REDIS_URL).flushdb()  # this test run's own database
    except redis.ConnectionError as exc:
        require(f"Redis is not reachable: {exc}")
    base = tmp_path_factory.mktemp("proxy")
    root = base / "nginx"
    for folder in ("logs", "sites", "tmp"):
        (root / folder).mkdir(parents=True)
    database = create_database()
    stack = contextlib.ExitStack()
    try:
        stack.callback(drop_database, database)
        portal = stack.enter_context(
            ServedPortal.start(
                base / "instance",
                database,
                receipt_scrypt_n=2**10,
                extra_env={
                    "TIPLINE_KEY_PASSPHRASE": PASSPHRASE,  # kept for triage only
                    "TIPLINE_REDIS_URL": REDIS_URL,  # rate limits shared by both workers
                    "TIPLINE_QUEUE": "proxy-test",
                    "TIPLINE_PROXY_COUNT": "1",
                    "TIPLINE_MAX_UPLOAD_MB": str(MAX_UPLOAD_MB),
                    "TIPLINE_RECEIPT_LIMIT": f"{RECEIPT_LIMIT} per minute",
                    # gunicorn with the shipped settings file, as the systemd units run it.
                    "GUNICORN_CMD_ARGS": f"--no-control-socket --config {ROOT}/deploy/"
                    "gunicorn.conf.py",
                },
            )
        )
        triage_env = {
            **portal.env,
            "TIPLINE_KEY_PASSPHRASE": PASSPHRASE,
            "TIPLINE_KEYS_DIR": str(portal.instance / "keys"),
        }
        triage_port = free_port()
        triage = Server(
            [venv_script("tipline"), "serve", "triage", "--host", "127.0.0.1",
             "--port", str(triage_port), "--workers", "1"],
            triage_env, triage_port, base / "triage.log",
        )  # fmt: skip
        triage.start(ready_path="/login", timeout=60)
        stack.callback(triage.stop)
        cert, key = make_certificate(base)
        public = render_site(
            "portal", root, cert, key, f"127.0.0.1:{portal.server.port}", PORTAL_NAME
        )
        internal = render_site("triage", root, cert, key, f"127.0.0.1:{triage_port}", TRIAGE_NAME)
        nginx = Nginx(root)
        stack.callback(nginx.stop)
        nginx.start([public.https_port, public.http_port, internal.https_port])
        yield Deployment(portal, triage, nginx, public, internal, cert)
    finally:
        stack.close()
        with contextlib.suppress(redis.ConnectionError):
            redis.Redis.from_url(REDIS_URL).flushdb()


# --- slow clients --------------------------------------------------------------------


class Trickler:
    """Sockets that each send one more byte every half second, from a single thread."""

    def __init__(self, sockets: list[socket.socket], pattern: bytes) -> None:
        self.sockets = sockets
        self.pattern = pattern
        self.dropped = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        position = 0
        while not self._stop.wait(0.5):
            byte = self.pattern[position % len(self.pattern) : position % len(self.pattern) + 1]
            position += 1
            for sock in list(self.sockets):
                try:
                    sock.send(byte)
                except OSError:
                    self.sockets.remove(sock)
                    self.dropped += 1

    def __enter__(self) -> Trickler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        for sock in self.sockets:
            sock.close()


@contextlib.contextmanager
def slow_clients(connect: Callable[[], socket.socket], host: str) -> Iterator[list[Trickler]]:
    """SLOW_HEADERS sockets trickling a header that never ends, and SLOW_BODIES sockets
    trickling a report's body after complete headers."""
    headers, bodies = [], []
    try:
        for _ in range(SLOW_HEADERS):
            sock = connect()
            sock.send(f"GET / HTTP/1.1\r\nHost: {host}\r\n".encode())
            headers.append(sock)
        for _ in range(SLOW_BODIES):
            sock = connect()
            sock.send(
                f"POST /report HTTP/1.1\r\nHost: {host}\r\n"
                "Content-Type: application/x-www-form-urlencoded\r\n"
                "Content-Length: 100000\r\n\r\n".encode()
            )
            bodies.append(sock)
    except BaseException:
        for sock in headers + bodies:
            sock.close()
        raise
    with Trickler(headers, b"X-Slow: a\r\n") as slow_headers, Trickler(bodies, b"a") as slow:
        time.sleep(1)  # a few bytes each, so that the server is reading them
        yield [slow_headers, slow]


def wait_until_served(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with requests.get(url, timeout=5) as response:
                if response.status_code == 200:
                    return
        except requests.RequestException:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.2)


def test_slow_clients_do_not_stop_the_portal_behind_nginx(
    deployment: Deployment, record_property: Callable[[str, object], None]
) -> None:
    gunicorn = deployment.portal.server

    # The contrast, recorded and not asserted: the same attack straight at gunicorn.
    def straight() -> socket.socket:
        return socket.create_connection(
            ("127.0.0.1", gunicorn.port), timeout=TIMEOUT, source_address=(ATTACKER, 0)
        )

    with slow_clients(straight, "127.0.0.1"):
        started = time.monotonic()
        try:
            with requests.get(gunicorn.url + "/", timeout=5) as response:
                outcome = f"answered {response.status_code}"
        except requests.RequestException as exc:
            outcome = f"failed: {type(exc).__name__}"
        outcome += f" after {time.monotonic() - started:.1f} s"
    record_property("straight_at_gunicorn", outcome)
    print(f"\n{SLOW_HEADERS}+{SLOW_BODIES} slow sockets straight at gunicorn: GET / {outcome}")
    wait_until_served(gunicorn.url + "/")  # gunicorn recovers once the sockets close

    def through_nginx() -> socket.socket:
        return deployment.tls_socket(ATTACKER)

    with (
        slow_clients(through_nginx, PORTAL_NAME) as tricklers,
        deployment.client(CITIZEN) as citizen,
    ):
        started = time.monotonic()
        with citizen.session.get(citizen.base_url + "/", timeout=TIMEOUT) as response:
            assert response.status_code == 200, response.text
        receipt = citizen.submit("慢速连接期间提交的举报：某诊所虚构治疗项目")
        assert re.fullmatch(r"\d{4}( \d{4}){5}", receipt)
        elapsed = time.monotonic() - started
        still_open = sum(len(t.sockets) for t in tricklers)
    record_property("through_nginx", f"GET / and a report in {elapsed:.1f} s")
    print(
        f"through nginx: GET / and a full report in {elapsed:.1f} s, "
        f"{still_open} of {SLOW_HEADERS + SLOW_BODIES} slow sockets still open"
    )


def test_nginx_cuts_off_a_header_that_never_ends(deployment: Deployment) -> None:
    """client_header_timeout: the whole header must arrive in time, however it trickles."""
    sock = deployment.tls_socket(ATTACKER)
    sock.settimeout(1)
    sock.send(f"GET / HTTP/1.1\r\nHost: {PORTAL_NAME}\r\n".encode())
    # The portal's header timeout is 10 s; nginx's default, which a slip in the site file
    # would leave in force, is 60 s.
    deadline = time.monotonic() + 30
    closed = False
    with sock:
        while time.monotonic() < deadline and not closed:
            try:
                sock.send(b"X")
                closed = sock.recv(4096) == b""
            except TimeoutError:
                continue
            except (OSError, ssl.SSLError):
                closed = True
    assert closed, "nginx kept a header that never ends open for 30 s"


# --- bodies --------------------------------------------------------------------------


def nginx_limit() -> int:
    sys.path.insert(0, str(RENDER.parent))
    try:
        import render  # deploy/render.py

        return int(render.max_body_mb(MAX_UPLOAD_MB)) * 1024 * 1024
    finally:
        sys.path.remove(str(RENDER.parent))


def read_response(sock: ssl.SSLSocket) -> tuple[int, str, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    headers = head.decode("latin-1")
    length = re.search(r"(?im)^content-length:\s*(\d+)", headers)
    while length and len(body) < int(length.group(1)):
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, headers, body


def test_a_grossly_oversized_body_gets_nginx_413_before_it_is_sent(
    deployment: Deployment,
) -> None:
    # Only the headers go out: nginx must answer from the Content-Length alone. Since nginx
    # passes on nothing before it holds the whole body, gunicorn never sees this request.
    with deployment.tls_socket(ATTACKER) as sock:
        sock.sendall(
            f"POST /report HTTP/1.1\r\nHost: {PORTAL_NAME}\r\n"
            "Content-Type: multipart/form-data; boundary=x\r\n"
            f"Content-Length: {nginx_limit() + 1}\r\n\r\n".encode()
        )
        status, headers, body = read_response(sock)
    assert status == 413
    page = body.decode()
    assert "您提交的内容超过了本网站的接收上限" in page and "far larger" in page  # ours
    assert re.search(r"(?im)^content-type: text/html; charset=utf-8\r?$", headers)
    assert re.search(r"(?im)^server: nginx\r?$", headers)  # no version
    assert re.search(r"(?im)^content-security-policy: default-src 'none'", headers)
    assert re.search(r"(?im)^strict-transport-security: max-age=", headers)


def test_files_over_their_total_come_back_with_the_text_kept(deployment: Deployment) -> None:
    """Through nginx: a file past the files' limit but under the ceiling is dropped as it is
    read; the reporter gets the form back with the text and the file named (issue 8)."""
    length = MAX_UPLOAD_MB * 1024 * 1024 + 256 * 1024
    with deployment.client(CITIZEN) as citizen:
        attachment = ("监控录像.pdf", b"%PDF-1.4\n" + b"0" * length, "application/pdf")
        with citizen.post_report("这段文字不能丢", attachment) as response:
            assert response.status_code == 400, response.text[:500]
            assert "这段文字不能丢" in response.text
            assert "“监控录像.pdf”" in response.text and f"{MAX_UPLOAD_MB} MB" in response.text


@pytest.mark.parametrize("size", ["just above the app's limit", "just below nginx's"])
def test_a_body_somewhat_too_large_gets_the_app_page(deployment: Deployment, size: str) -> None:
    length = APP_LIMIT + 256 * 1024 if size.startswith("just above") else nginx_limit() - 512 * 1024
    with deployment.client(CITIZEN) as citizen:
        attachment = ("evidence.pdf", b"%PDF-1.4\n" + b"0" * length, "application/pdf")
        with citizen.post_report("附件过大的举报", attachment) as response:
            assert response.status_code == 413, response.text[:500]
            assert "提交的内容超过本站上限" in response.text  # the app's own page, in Chinese
            # The app's headers came through, once each, not replaced by nginx's.
            assert response.raw.headers.getlist("Content-Security-Policy") == [
                response.headers["Content-Security-Policy"]
            ]
            assert "script-src 'self'" in response.headers["Content-Security-Policy"]


# --- headers and names ---------------------------------------------------------------


def test_responses_through_nginx_carry_the_security_headers_once(
    deployment: Deployment,
) -> None:
    with (
        deployment.client(CITIZEN) as citizen,
        citizen.session.get(citizen.base_url + "/report", timeout=TIMEOUT) as response,
    ):
        assert response.status_code == 200
        headers = response.raw.headers
        for name in (
            "Strict-Transport-Security",
            "Content-Security-Policy",
            "X-Content-Type-Options",
            "X-Frame-Options",
            "Referrer-Policy",
            "Cache-Control",
        ):
            assert len(headers.getlist(name)) == 1, (name, headers.getlist(name))
        assert headers["Strict-Transport-Security"].startswith("max-age=63072000")
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert headers["Cache-Control"] == "no-store"
        assert headers["Server"] == "nginx"
        assert "Content-Encoding" not in headers  # no gzip next to a CSRF token (BREACH)


def answer_to(sock: socket.socket, request: bytes) -> bytes:
    """What the server sends back before it closes; b"" when it closes (or resets, as
    nginx does for 444 with reset_timedout_connection) without a word."""
    sock.sendall(request)
    try:
        return sock.recv(4096)
    except ConnectionResetError:
        return b""


def test_unknown_host_names_are_refused(deployment: Deployment) -> None:
    # Over TLS, a name that is not ours gets no certificate at all.
    with pytest.raises(ssl.SSLError):
        deployment.tls_socket(ATTACKER, name="other.example").close()
    # Our name on the TLS socket but another Host header: closed without an answer (444).
    with deployment.tls_socket(ATTACKER) as sock:
        assert answer_to(sock, b"GET / HTTP/1.1\r\nHost: other.example\r\n\r\n") == b""
    # Plain HTTP: our name is sent to HTTPS, any other name gets nothing.
    port = deployment.public.http_port
    for host, expected in ((PORTAL_NAME, b"301"), ("other.example", b"")):
        with socket.create_connection(
            ("127.0.0.1", port), timeout=TIMEOUT, source_address=(ATTACKER, 0)
        ) as sock:
            answer = answer_to(sock, f"GET /report HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        assert answer[9:12] == expected, answer
        if expected:
            location = f"https://{PORTAL_NAME}:{deployment.public.https_port}/report"
            assert f"Location: {location}\r\n".encode() in answer


# --- client addresses ----------------------------------------------------------------


def test_each_citizen_gets_their_own_receipt_limit(deployment: Deployment) -> None:
    """With TIPLINE_PROXY_COUNT=1 the app counts the address nginx saw, not nginx's own;
    an address a client writes into X-Forwarded-For itself buys no fresh budget."""
    with deployment.client(CITIZEN) as citizen:
        receipt = citizen.submit("回执码检查次数限制的举报")
        for _ in range(RECEIPT_LIMIT):
            citizen.check(receipt)
        with pytest.raises(PortalError) as refused:
            citizen.check(receipt)
        assert refused.value.status == 429
        citizen.session.headers["X-Forwarded-For"] = "198.51.100.7"
        with pytest.raises(PortalError) as forged:
            citizen.check(receipt)
        assert forged.value.status == 429
    with deployment.client(OTHER_CITIZEN) as other:
        assert "回执码检查次数限制的举报" in other.check(receipt)


def test_the_triage_site_is_served_through_its_own_config(deployment: Deployment) -> None:
    with (
        deployment.client(CITIZEN, deployment.internal) as officer,
        officer.session.get(officer.base_url + "/login", timeout=TIMEOUT) as response,
    ):
        assert response.status_code == 200
        # HSTS once: the app's own (gunicorn trusts nginx's X-Forwarded-Proto), never
        # a second copy from nginx.
        assert len(response.raw.headers.getlist("Strict-Transport-Security")) == 1
        assert response.headers["Server"] == "nginx"
    # nginx writes the line when it finalises the request, which may be just after the
    # client has the whole answer: wait for it a little, rather than race it.
    log = deployment.nginx.root / "logs" / "triage.access.log"
    deadline = time.monotonic() + 10
    while '"GET /login" 200' not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert '"GET /login" 200' in log.read_text()


def test_nginx_writes_no_client_address_anywhere(deployment: Deployment) -> None:
    """Runs last (it stops the portal): by now nginx has cut off slow clients, refused
    bodies, names and TLS handshakes, each of which it would log with "client: <address>"
    at its usual levels."""
    with deployment.tls_socket(ATTACKER) as sock:  # something nginx logs at "info"
        sock.sendall(b"BREW / HTCPCP/1.0\r\n\r\n")
        sock.recv(4096)
    with socket.create_connection(
        ("127.0.0.1", deployment.public.https_port), source_address=(ATTACKER, 0)
    ) as sock:
        sock.sendall(b"\x16\x03\x01\x00\x05hello")  # a broken TLS handshake
        with contextlib.suppress(OSError):
            sock.recv(4096)
    # gunicorn gone: nginx answers with its own page in both languages, and the failed
    # connection (an "error" in nginx's log, with the client's address) is not written.
    deployment.portal.stop()
    with (
        deployment.client(CITIZEN) as citizen,
        citizen.session.get(citizen.base_url + "/", timeout=TIMEOUT) as response,
    ):
        assert response.status_code == 502
        assert "网站暂时无法处理您的请求" in response.text and "try again later" in response.text
        assert response.headers["Cache-Control"] == "no-store"
    deployment.nginx.stop()  # flushes and closes every log
    logs = sorted(
        path
        for path in deployment.nginx.root.rglob("*")
        if path.is_file() and path.suffix == ".log"
    )
    assert logs, "nginx wrote no log files at all"
    assert (deployment.nginx.root / "logs" / "main.error.log").read_text()  # it does log
    for path in logs:
        text = path.read_text(errors="replace")
        assert "client:" not in text, (path.name, text[-2000:])
        for address in CLIENT_ADDRESSES:
            assert address not in text, (path.name, address, text[-2000:])
    assert (
        not (deployment.nginx.root / "logs" / "access.log").exists()
        or not (deployment.nginx.root / "logs" / "access.log").read_text()
    )


@pytest.mark.parametrize(
    "option",
    [
        ["--server-name", "jubao.test; include /etc/shadow"],
        ["--upstream", "127.0.0.1:8000; }"],
        ["--certificate", "/etc/ssl/a.crt\n    return 200"],
        ["--certificate-key", "/etc/ssl/a.key\n"],
        ["--error-log", "relative.log"],
        ["--listen", "0.0.0.0:80 default_server"],
    ],
)
def test_render_refuses_values_that_would_be_nginx_syntax(option: list[str]) -> None:
    command = [
        sys.executable, str(RENDER), "portal", "--server-name", PORTAL_NAME,
        "--certificate", "/etc/ssl/site.crt", "--certificate-key", "/etc/ssl/site.key",
        *option,
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 2
    assert "is not allowed here" in result.stderr and not result.stdout
