"""Officers' notices over SMTP with a login and TLS, against a real SMTP server (aiosmtpd)
with its own certificate; a password never crosses the network in clear."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tipline.triage.clocks import MailError, send_notices, smtp_address

USER, PASSWORD = "notices@hrss.example", "an smtp password"


class Sink:
    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.logins: list[str] = []

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(envelope)
        return "250 OK"


def _authenticate(_server: Any, _session: Any, _envelope: Any, mechanism: str,
                  data: Any) -> AuthResult:  # fmt: skip
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
        USER.encode(), PASSWORD.encode(),
    )  # fmt: skip
    return AuthResult(success=ok, handled=False)


def _certificate(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = directory / "smtp.pem", directory / "smtp.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ))  # fmt: skip
    return cert_path, key_path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[int, Sink, Path]]:
    """STARTTLS required, login required, only over TLS."""
    cert, key = _certificate(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    sink, port = Sink(), _free_port()
    controller = Controller(
        sink, hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True,
        authenticator=_authenticate, auth_required=True, auth_require_tls=True,
    )  # fmt: skip
    controller.start()
    try:
        yield port, sink, cert
    finally:
        controller.stop()


def test_notices_go_out_over_starttls_with_a_login(tls_server: tuple[int, Sink, Path]) -> None:
    port, sink, cert = tls_server
    send_notices(f"smtp://{USER.replace('@', '%40')}@127.0.0.1:{port}", "tipline@hrss.example",
                 {"boss@hrss.example": 2}, password=PASSWORD, ca_file=str(cert))  # fmt: skip
    assert [m.rcpt_tos for m in sink.messages] == [["boss@hrss.example"]]


def test_a_wrong_password_or_an_unknown_certificate_sends_nothing(
    tls_server: tuple[int, Sink, Path],
) -> None:
    port, sink, cert = tls_server
    url = f"smtp://{USER.replace('@', '%40')}@127.0.0.1:{port}"
    with pytest.raises(Exception, match="535|uthentication"):
        send_notices(url, "t@x", {"a@x": 1}, password="wrong", ca_file=str(cert))
    # Without the server's authority the certificate is refused before any login.
    with pytest.raises(ssl.SSLCertVerificationError):
        send_notices(url, "t@x", {"a@x": 1}, password=PASSWORD)
    assert sink.messages == []


def test_a_login_is_never_sent_without_tls() -> None:
    """A remote server that offers no STARTTLS gets neither the password nor the notices;
    so does a local relay, once a user is named."""
    sink, port = Sink(), _free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port, auth_require_tls=False)
    controller.start()
    try:
        with pytest.raises(MailError, match="STARTTLS"):
            send_notices(f"smtp://someone@127.0.0.1:{port}", "t@x", {"a@x": 1}, password="p")
        with pytest.raises(MailError, match="TIPLINE_SMTP_PASSWORD"):
            send_notices(f"smtp://someone:secret@127.0.0.1:{port}", "t@x", {"a@x": 1})
        # A local relay without a login is the one plain case, as on most mail hosts.
        send_notices(f"smtp://127.0.0.1:{port}", "t@x", {"a@x": 1})
    finally:
        controller.stop()
    assert [m.rcpt_tos for m in sink.messages] == [["a@x"]]


@pytest.mark.parametrize(
    ("url", "address"),
    [
        # A relay on this machine listens on 25, as it always did for smtp://localhost.
        ("smtp://localhost", ("localhost", 25)),
        ("smtp://127.0.0.1", ("127.0.0.1", 25)),
        ("smtp://[::1]", ("::1", 25)),
        # A remote server takes submissions on 587, or TLS from the start on 465.
        ("smtp://mail.hrss.example", ("mail.hrss.example", 587)),
        ("smtp://user@localhost", ("localhost", 25)),
        ("smtps://mail.hrss.example", ("mail.hrss.example", 465)),
        ("smtp://mail.hrss.example:2525", ("mail.hrss.example", 2525)),
    ],
)
def test_default_ports(url: str, address: tuple[str, int]) -> None:
    assert smtp_address(url) == address


@pytest.fixture
def self_signed_relays(tmp_path: Path) -> Iterator[tuple[int, Sink]]:
    """A relay that requires STARTTLS with a certificate no authority signed (Debian's
    Postfix with its snakeoil certificate), listening on 127.0.0.1 and on 127.0.0.2: the
    same machine, but 127.0.0.2 is not a name this code knows as local."""
    cert, key = _certificate(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    sink, port = Sink(), _free_port()
    controllers = [
        Controller(sink, hostname=host, port=port, tls_context=context, require_starttls=True)
        for host in ("127.0.0.1", "127.0.0.2")
    ]
    for controller in controllers:
        controller.start()
    try:
        yield port, sink
    finally:
        for controller in controllers:
            controller.stop()


def test_a_local_relay_with_a_self_signed_certificate_takes_notices_without_a_login(
    self_signed_relays: tuple[int, Sink],
) -> None:
    port, sink = self_signed_relays
    send_notices(f"smtp://127.0.0.1:{port}", "t@x", {"a@x": 1})
    assert [m.rcpt_tos for m in sink.messages] == [["a@x"]]
    # Any other host must show a certificate that verifies, login or not ...
    with pytest.raises(ssl.SSLCertVerificationError):
        send_notices(f"smtp://127.0.0.2:{port}", "t@x", {"b@x": 1})
    # ... and so must the local relay once a password would be sent.
    with pytest.raises(ssl.SSLCertVerificationError):
        send_notices(f"smtp://someone@127.0.0.1:{port}", "t@x", {"c@x": 1}, password="p")
    assert [m.rcpt_tos for m in sink.messages] == [["a@x"]]
