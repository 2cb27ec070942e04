"""One typed, frozen configuration built from ``TIPLINE_*`` environment variables.

Each app factory and each ``tipline`` command builds its own ``Config``; nothing reads the
environment at import time. A missing secret is an error at start, never a fallback.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

# A cookie name is an RFC 6265 token; these characters are enough and safe everywhere.
_COOKIE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class ConfigError(Exception):
    """The environment does not describe a runnable installation."""


def _read_secret(env: Mapping[str, str], name: str) -> str | None:
    """A secret given directly (``NAME``) or through a file (``NAME_FILE``)."""
    direct = env.get(name)
    path = env.get(f"{name}_FILE")
    if direct and path:
        raise ConfigError(f"set either {name} or {name}_FILE, not both")
    if path:
        try:
            value = Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{name}_FILE: cannot read {path}: {exc.strerror}") from exc
        if not value:
            raise ConfigError(f"{name}_FILE: {path} is empty")
        return value
    return direct or None


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}") from exc


def _hours(env: Mapping[str, str], name: str, default: int) -> int:
    value = _int(env, name, default)
    if not 0 <= value <= 24 * 28:
        raise ConfigError(f"{name} is a number of hours from 0 (never) to 672, not {value}")
    return value


def _folder(env: Mapping[str, str], name: str) -> Path | None:
    raw = env.get(name)
    if not raw:
        return None
    path = Path(raw).resolve()
    if not path.is_dir():
        raise ConfigError(f"{name}: {path} is not a folder")
    return path


@dataclass(frozen=True)
class Limits:
    """Evidence size limits: per file, and all files of one submission together."""

    max_file_bytes: int
    max_total_bytes: int


@dataclass(frozen=True)
class Config:
    instance: Path
    database_url: str
    secret_key: str
    redis_url: str | None = None
    keys_dir: Path = field(default=Path("instance/keys"))
    key_passphrase: str | None = None
    # scrypt cost for receipt verifiers: 2**15 takes ~32 MiB and tens of milliseconds per
    # guess, per tip (each tip has its own salt). Tests lower it.
    receipt_scrypt_n: int = 2**15
    # scrypt cost protecting private key files; only paid at start.
    keyfile_scrypt_n: int = 2**17
    max_file_bytes: int = 20 * 1024 * 1024
    max_upload_bytes: int = 50 * 1024 * 1024
    queue_name: str = "tipline"
    # Rate limits (flask-limiter syntax), per client address, counted under a keyed hash
    # of the address that expires with the window. Sized so that a hotline centre sending
    # from one address is not locked out; receipt checks (the scrypt) are slowed, then
    # refused for a while.
    submit_limit: str = "60 per minute;1000 per hour"
    receipt_limit: str = "10 per minute;60 per hour"
    # How many proxies in front of the portal set X-Forwarded-For (0: none trusted).
    proxy_count: int = 0
    # Where officers' "something is waiting" e-mails go out (smtp://host:port); unset: none.
    smtp_url: str | None = None
    smtp_password: str | None = None
    # Authorities for the SMTP server's certificate, where it is not signed by the system's.
    smtp_ca_file: str | None = None
    mail_from: str = "tipline@localhost"
    # The alert digest (triage/tips/alerts.py): at most one e-mail per officer this many hours
    # apart, saying only how many alerts wait; 0 sends none. The address officers sign in
    # at, for the e-mail to name (unset: the e-mail names none).
    alert_digest_hours: int = 24
    triage_url: str | None = None
    default_locale: str = "zh"
    secure_cookies: bool = True
    # A reporter's session ends this long after signing in with the receipt, however busy.
    reporter_session_minutes: int = 120
    # Each site's session cookie has its own name: browsers do not keep cookies apart by
    # port, so two sites on one host (the demo on 127.0.0.1) would otherwise overwrite
    # each other's session, and signing in to one would sign out of the other.
    portal_cookie_name: str = "tipline_portal"
    triage_cookie_name: str = "tipline_triage"
    # A folder of the locality's own statutory document templates (告知书 ...): a template
    # found there replaces the one under tipline/templates/documents/ of the same name.
    document_templates: Path | None = None
    # Who runs this installation, shown on the public site's header and "about" page
    # (issue 8). Unset: the catalogue's site name, and a notice that this is a
    # demonstration whose operator is not configured. Never a hard-coded authority.
    site_name: str | None = None
    operator_name: str | None = None
    operator_contact: str | None = None
    operator_address: str | None = None
    # The public site's address as people type it (https://jubao.example.gov.cn), printed
    # on the receipt an officer gives a reporter who phoned, wrote or came in.
    portal_url: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, need_secret: bool = True) -> Config:
        env = os.environ if env is None else env
        instance = Path(env.get("TIPLINE_INSTANCE") or "instance").resolve()
        database_url = env.get("TIPLINE_DATABASE_URL") or f"sqlite:///{instance / 'tipline.db'}"
        secret_key = _read_secret(env, "TIPLINE_SECRET_KEY")
        if need_secret and not secret_key:
            raise ConfigError(
                "TIPLINE_SECRET_KEY (or TIPLINE_SECRET_KEY_FILE) is not set: it signs sessions "
                "and CSRF tokens. Generate one with: python -c 'import secrets; "
                "print(secrets.token_urlsafe(32))'"
            )
        keys_dir = env.get("TIPLINE_KEYS_DIR")
        return cls(
            instance=instance,
            database_url=database_url,
            secret_key=secret_key or "",
            # The URL may hold the process's Redis password (deploy/redis/users.acl.in).
            redis_url=_read_secret(env, "TIPLINE_REDIS_URL"),
            keys_dir=Path(keys_dir).resolve() if keys_dir else instance / "keys",
            key_passphrase=_read_secret(env, "TIPLINE_KEY_PASSPHRASE"),
            receipt_scrypt_n=_int(env, "TIPLINE_RECEIPT_SCRYPT_N", 2**15),
            keyfile_scrypt_n=_int(env, "TIPLINE_KEYFILE_SCRYPT_N", 2**17),
            max_file_bytes=_int(env, "TIPLINE_MAX_FILE_MB", 20) * 1024 * 1024,
            max_upload_bytes=_int(env, "TIPLINE_MAX_UPLOAD_MB", 50) * 1024 * 1024,
            queue_name=env.get("TIPLINE_QUEUE") or "tipline",
            submit_limit=env.get("TIPLINE_SUBMIT_LIMIT") or cls.submit_limit,
            receipt_limit=env.get("TIPLINE_RECEIPT_LIMIT") or cls.receipt_limit,
            proxy_count=_int(env, "TIPLINE_PROXY_COUNT", 0),
            smtp_url=env.get("TIPLINE_SMTP_URL") or None,
            smtp_password=_read_secret(env, "TIPLINE_SMTP_PASSWORD"),
            smtp_ca_file=env.get("TIPLINE_SMTP_CA_FILE") or None,
            mail_from=env.get("TIPLINE_MAIL_FROM") or cls.mail_from,
            alert_digest_hours=_hours(env, "TIPLINE_ALERT_DIGEST_HOURS", cls.alert_digest_hours),
            triage_url=env.get("TIPLINE_TRIAGE_URL") or None,
            secure_cookies=env.get("TIPLINE_INSECURE_COOKIES") != "1",
            reporter_session_minutes=_int(env, "TIPLINE_REPORTER_SESSION_MINUTES", 120),
            portal_cookie_name=env.get("TIPLINE_PORTAL_COOKIE_NAME") or cls.portal_cookie_name,
            triage_cookie_name=env.get("TIPLINE_TRIAGE_COOKIE_NAME") or cls.triage_cookie_name,
            document_templates=_folder(env, "TIPLINE_DOCUMENT_TEMPLATES"),
            site_name=env.get("TIPLINE_SITE_NAME") or None,
            operator_name=env.get("TIPLINE_OPERATOR_NAME") or None,
            operator_contact=env.get("TIPLINE_OPERATOR_CONTACT") or None,
            operator_address=env.get("TIPLINE_OPERATOR_ADDRESS") or None,
            portal_url=env.get("TIPLINE_PORTAL_URL") or None,
        )

    def session_cookie_name(self, site: str) -> str:
        """The session cookie's name for ``site`` ("portal" or "triage"), checked."""
        name = self.portal_cookie_name if site == "portal" else self.triage_cookie_name
        variable = f"TIPLINE_{site.upper()}_COOKIE_NAME"
        if not _COOKIE_NAME.fullmatch(name):
            raise ConfigError(
                f"{variable} must be letters, digits and - _ . only (at most 64), not {name!r}"
            )
        if self.portal_cookie_name == self.triage_cookie_name:
            raise ConfigError(
                "TIPLINE_PORTAL_COOKIE_NAME and TIPLINE_TRIAGE_COOKIE_NAME must differ: sites "
                "on one host would share the cookie and sign each other out"
            )
        if name.startswith(("__Host-", "__Secure-")) and not self.secure_cookies:
            raise ConfigError(
                f"{variable}: browsers refuse a {name.split('-')[0]}- cookie that is not "
                "Secure; unset TIPLINE_INSECURE_COOKIES or choose another name"
            )
        return name

    @property
    def limits(self) -> Limits:
        return Limits(max_file_bytes=self.max_file_bytes, max_total_bytes=self.max_upload_bytes)

    def replace(self, **changes: object) -> Config:
        return replace(self, **changes)  # type: ignore[arg-type]
