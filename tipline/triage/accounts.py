"""Officer accounts: creation, argon2id passwords, TOTP, lock-out after repeated failures.

Plain functions of a session and values; the sign-in view and the ``tipline users``
command both use them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hmac
import re
import secrets
from dataclasses import dataclass

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from tipline.intake import reference
from tipline.intake.models import Officer

# DESIGN.md, "Who uses it".
ROLES = ("triage_officer", "bureau_officer", "supervisor", "admin", "auditor")
# Roles that may open tip contents; admins and auditors never do by default.
READER_ROLES = frozenset({"triage_officer", "bureau_officer", "supervisor"})
MAX_FAILURES = 5
LOCK_FOR = dt.timedelta(minutes=15)
MIN_PASSWORD = 12
ISSUER = "tipline"
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s]{2,}$")

hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# Verified against when the user does not exist, so the answer takes as long either way.
_DUMMY_HASH = hasher.hash(secrets.token_urlsafe(16))


class AccountError(Exception):
    """A user could not be created: the message says why."""


class SignInFailed(Exception):
    """Wrong name, password or code, or a locked account; never says which."""


@dataclass(frozen=True)
class NewOfficer:
    officer: Officer
    provisioning_uri: str


def add_officer(
    session: Session,
    username: str,
    password: str,
    *,
    role: str,
    bureau: str | None = None,
    region: str | None = None,
    email: str | None = None,
) -> NewOfficer:
    if not _USERNAME.match(username):
        raise AccountError(
            "a username is 2-64 lower-case letters, digits, dots, hyphens or underscores"
        )
    if role not in ROLES:
        raise AccountError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    if bureau is not None and bureau not in reference.codes(reference.BUREAUS):
        raise AccountError(f"unknown bureau {bureau!r} (domain.md section 1)")
    if region is not None and region not in reference.regions():
        raise AccountError(f"unknown region code {region!r} (GB/T 2260)")
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"a password has at least {MIN_PASSWORD} characters")
    if email is not None and not _EMAIL.match(email):
        raise AccountError(f"{email!r} is not an e-mail address")
    if session.scalar(select(Officer.id).where(Officer.username == username)) is not None:
        raise AccountError(f"a user named {username!r} already exists")
    secret = pyotp.random_base32()
    officer = Officer(
        username=username,
        password_hash=hasher.hash(password),
        totp_secret=secret,
        role=role,
        bureau=bureau,
        region=region,
        email=email,
        active=True,
        session_epoch=0,
        failed_logins=0,
    )
    session.add(officer)
    session.flush()
    uri = pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)
    return NewOfficer(officer, uri)


def reset_credentials(officer: Officer, password: str) -> NewOfficer:
    """A new password and a new TOTP secret; the account is unlocked."""
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"a password has at least {MIN_PASSWORD} characters")
    officer.password_hash = hasher.hash(password)
    officer.totp_secret = pyotp.random_base32()
    officer.failed_logins = 0
    officer.locked_until = None
    officer.last_totp_step = None
    officer.session_epoch += 1
    uri = pyotp.TOTP(officer.totp_secret).provisioning_uri(
        name=officer.username, issuer_name=ISSUER
    )
    return NewOfficer(officer, uri)


def _totp_step(secret: str, code: str, now: dt.datetime) -> int | None:
    """The time step a code belongs to, allowing one step of clock drift either way."""
    totp = pyotp.TOTP(secret)
    code = code.strip().replace(" ", "")
    for drift in (0, -1, 1):
        moment = now + dt.timedelta(seconds=drift * totp.interval)
        if hmac.compare_digest(totp.at(moment), code):
            return int(totp.timecode(moment))
    return None


def authenticate(
    session: Session, username: str, password: str, code: str, *, now: dt.datetime | None = None
) -> Officer:
    """The officer, if name, password and one-time code are right and the account is open."""
    now = now or dt.datetime.now(dt.UTC)
    officer = session.scalar(select(Officer).where(Officer.username == username))
    if officer is None or not officer.active:
        with contextlib.suppress(VerificationError):
            hasher.verify(_DUMMY_HASH, password)
        raise SignInFailed
    locked_until = officer.locked_until
    if locked_until is not None and locked_until.tzinfo is None:
        locked_until = locked_until.replace(tzinfo=dt.UTC)  # SQLite drops the zone
    if locked_until is not None and locked_until > now:
        raise SignInFailed
    password_ok: bool
    try:
        password_ok = hasher.verify(officer.password_hash, password)
    except (VerificationError, InvalidHashError):
        password_ok = False
    step = _totp_step(officer.totp_secret, code, now) if password_ok else None
    if step is None or (officer.last_totp_step is not None and step <= officer.last_totp_step):
        officer.failed_logins += 1
        if officer.failed_logins >= MAX_FAILURES:
            officer.locked_until = now + LOCK_FOR
            officer.failed_logins = 0
        raise SignInFailed
    officer.failed_logins = 0
    officer.locked_until = None
    officer.last_totp_step = step
    if hasher.check_needs_rehash(officer.password_hash):
        officer.password_hash = hasher.hash(password)
    return officer
