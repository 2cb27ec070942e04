"""Officer accounts: creation, approval, argon2id passwords, TOTP, lock-out.

Plain functions of a session and values; the sign-in view, the admin pages and the
``tipline users`` command all use them.

Who may make whom (issue 7, item 8). An account whose role reads tip contents is granted by
two people: an administrator asks for it (it waits, inactive), and a supervisor of the
office it belongs to approves it; or it is created on the server by the ``tipline`` command,
which must open the private key ring (and so hold the key passphrase) first. Nobody is ever
shown another person's TOTP secret: an account starts with a password and a one-time
activation code, and its owner enrols an authenticator at the first sign-in.

Races (issue 7, item 7). Every change to the failure counter, the lock and the last TOTP
step is one conditional UPDATE evaluated on the row as it is at that moment, never a value
read earlier and written back, so parallel sign-ins cannot lose a failure or use one code
twice, on SQLite as on PostgreSQL. On PostgreSQL the row is also locked (``FOR UPDATE``)
while a sign-in is checked, so parallel guesses queue and the lock-out stops them at the
threshold instead of after they were all tried.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import ColumnElement, and_, case, literal, null, or_, select, update
from sqlalchemy.orm import Session, object_session

from tipline.crypto import InvalidCiphertext, OfficerSecrets
from tipline.intake import reference
from tipline.intake.models import Officer, Tip
from tipline.intake.reference import N_, Term

# DESIGN.md, "Who uses it". The codes are stored and checked; pages show the labels, which
# the catalogues translate (受理员, 承办人, 负责人 ...).
ROLE_TERMS: tuple[Term, ...] = (
    Term("triage_officer", N_("Triage officer")),
    Term("bureau_officer", N_("Bureau officer")),
    Term("supervisor", N_("Supervisor")),
    Term("admin", N_("Administrator")),
    Term("auditor", N_("Auditor")),
)
ROLES = tuple(term.code for term in ROLE_TERMS)
# The audit log's action codes for accounts and sign-ins, with words for the log's pages
# (issue 9: no codes in the Chinese UI). Details name the account (``username``) and, for
# a change, its new and former role, bureau and region (``was_role`` ...).
ACCOUNT_ACTIONS: tuple[Term, ...] = (
    Term("user.add", N_("Account added")),
    Term("user.request", N_("Account asked for (waits for a supervisor)")),
    Term("user.approve", N_("Account approved")),
    Term("user.approve.refused", N_("Account approval refused")),
    Term("user.activate", N_("Account activated")),
    Term("user.deactivate", N_("Account deactivated")),
    Term("user.unlock", N_("Account unlocked")),
    Term("user.reset", N_("Password and authenticator given anew (on the server)")),
    Term("user.reset_password", N_("Password reset")),
    Term("user.reset_totp", N_("Authenticator reset")),
    Term("user.change", N_("Role, bureau or jurisdiction changed")),
    Term("user.change.request", N_("Change of role, bureau or jurisdiction asked for")),
    Term("user.change.approve", N_("Change of role, bureau or jurisdiction approved")),
    Term("user.change.withdraw", N_("Change of role, bureau or jurisdiction withdrawn")),
    Term("user.change.refused", N_("Approval of a change refused")),
    Term("password.set", N_("New password chosen after a reset")),
    Term("signin", N_("Signed in")),
    Term("signin.activation", N_("Signed in with an activation code")),
    Term("signin.failed", N_("Sign-in failed")),
    Term("signin.replayed", N_("Sign-in with a used code")),
    Term("enrol", N_("Authenticator set up")),
    Term("enrol.failed", N_("Authenticator set-up failed")),
)
# Roles that may open tip contents (discipline inspection's officers among them); admins
# and auditors never do by default.
READER_ROLES = frozenset({"triage_officer", "bureau_officer", "supervisor"})
MAX_FAILURES = 5
LOCK_FOR = dt.timedelta(minutes=15)
MIN_PASSWORD = 12
ISSUER = "tipline"
TOTP_PURPOSE = "totp"
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s]{2,}$")
# Crockford's base32: no I, L, O or U to misread; 16 characters carry 80 bits.
_ACTIVATION_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_ACTIVATION_LENGTH = 16

hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# Verified against when the user does not exist, so the answer takes as long either way.
_DUMMY_HASH = hasher.hash(secrets.token_urlsafe(16))


class AccountError(Exception):
    """A user could not be created.

    ``message`` is a catalogue message id with ``%(name)s`` placeholders filled from
    ``params``, so a page shows it in the reader's language (``gettext(message, **params)``);
    ``field`` names the form field it is about. ``str()`` is the English text, for the
    ``tipline`` command and the logs."""

    def __init__(self, field: str, message: str, **params: object) -> None:
        super().__init__(message % params if params else message)
        self.field = field
        self.message = message
        self.params = params


class ApprovalRefused(Exception):
    """This person may not approve this account: the message (a catalogue message id) says
    why. The page answers 404 whatever the reason; the audit log keeps the reason."""


class SignInFailed(Exception):
    """Wrong name, password or code, or a locked account; never says which."""


class CodeReplayed(SignInFailed):
    """Name, password and one-time code were right, but the code was already used."""


@dataclass(frozen=True)
class NewOfficer:
    officer: Officer
    # To hand to the officer with the password: the first sign-in needs both. None while
    # the account waits for approval (the approver is given it).
    activation_code: str | None


@dataclass(frozen=True)
class SignIn:
    officer: Officer
    # The password and activation code were right; the officer enrols an authenticator
    # before the session starts.
    must_enrol: bool
    # After a password reset: the activation code and a code from the authenticator were
    # right; the officer chooses a new password before the session starts.
    must_set_password: bool = False


@dataclass(frozen=True)
class Enrolment:
    secret: str
    provisioning_uri: str


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError(
            "password", N_("A password has at least %(count)d characters."), count=MIN_PASSWORD
        )


def _new_activation(officer: Officer) -> str:
    code = "".join(secrets.choice(_ACTIVATION_ALPHABET) for _ in range(_ACTIVATION_LENGTH))
    officer.activation_hash = _activation_digest(code)
    return "-".join(code[i : i + 4] for i in range(0, _ACTIVATION_LENGTH, 4))


def _activation_digest(code: str) -> str:
    # The code is random (80 bits), so a plain hash is enough: nothing to brute-force.
    normal = re.sub(r"[\s-]", "", code).upper()
    return hashlib.sha256(normal.encode("utf-8", "surrogatepass")).hexdigest()


def add_officer(
    session: Session,
    username: str,
    password: str,
    *,
    role: str,
    bureau: str | None = None,
    region: str | None = None,
    email: str | None = None,
    requested_by: str,
    approved_by: str | None,
) -> NewOfficer:
    """Create an account with a password and an activation code, no TOTP secret yet.

    ``approved_by`` is the second person behind an account whose role reads contents: the
    ``tipline`` command passes its operator after opening the key ring. Without one, such
    an account waits, inactive, for a supervisor of its office (``approve``).
    """
    if not _USERNAME.match(username):
        raise AccountError(
            "username",
            N_("A user name is 2-64 lower-case letters, digits, dots, hyphens or underscores."),
        )
    _check_office(role, bureau, region)
    _check_password(password)
    if email is not None and not _EMAIL.match(email):
        raise AccountError("email", N_("%(email)s is not an e-mail address."), email=repr(email))
    if session.scalar(select(Officer.id).where(Officer.username == username)) is not None:
        raise AccountError(
            "username", N_("A user named %(name)s already exists."), name=repr(username)
        )
    waits = role in READER_ROLES and approved_by is None
    officer = Officer(
        username=username,
        password_hash=hasher.hash(password),
        role=role,
        bureau=bureau,
        region=region,
        email=email,
        active=not waits,
        awaiting_approval=waits,
        requested_by=requested_by,
        approved_by=None if waits else approved_by,
        session_epoch=0,
        failed_logins=0,
    )
    code = None if waits else _new_activation(officer)
    session.add(officer)
    session.flush()
    return NewOfficer(officer, code)


def _covers(approver_region: str | None, region: str | None) -> bool:
    """Whether a jurisdiction contains a region, as scope.jurisdiction draws them."""
    if approver_region is None or region is None or len(approver_region) != 6:
        return False
    if approver_region.endswith("0000"):
        return region[:2] == approver_region[:2]
    if approver_region.endswith("00"):
        return region[:4] == approver_region[:4]
    return region == approver_region


def may_approve(approver: Officer, officer: Officer) -> str | None:
    """Why ``approver`` may not approve ``officer``'s account, or None if they may."""
    if not officer.awaiting_approval:
        return N_("This account is not waiting for approval.")
    if approver.role != "supervisor" or not approver.active or approver.awaiting_approval:
        return N_("Only a supervisor approves an account that reads tips.")
    if approver.id == officer.id or approver.username == officer.requested_by:
        return N_("The person who asked for an account cannot also approve it.")
    if approver.bureau != officer.bureau or not _covers(approver.region, officer.region):
        return N_("Only a supervisor of the account's own bureau and jurisdiction approves it.")
    return None


def awaiting(session: Session, approver: Officer) -> list[Officer]:
    """The accounts waiting for approval that ``approver`` may approve."""
    waiting = session.scalars(
        select(Officer).where(Officer.awaiting_approval.is_(True)).order_by(Officer.username)
    )
    return [officer for officer in waiting if may_approve(approver, officer) is None]


def approve(session: Session, officer_id: int, approver: Officer) -> NewOfficer:
    """Open a waiting account; returns its activation code, for the approver to hand over."""
    officer = session.scalar(select(Officer).where(Officer.id == officer_id).with_for_update())
    if officer is None:
        raise ApprovalRefused(N_("There is no such account."))
    reason = may_approve(approver, officer)
    if reason is not None:
        raise ApprovalRefused(reason)
    officer.awaiting_approval = False
    officer.active = True
    officer.approved_by = approver.username
    return NewOfficer(officer, _new_activation(officer))


def reset_credentials(officer: Officer, password: str) -> NewOfficer:
    """A new password and activation code; the authenticator is enrolled again.

    Only the ``tipline`` command calls this (on the server, with the key ring open).
    """
    _check_password(password)
    officer.password_hash = hasher.hash(password)
    officer.totp_sealed = None
    officer.totp_pending = None
    officer.failed_logins = 0
    officer.locked_until = None
    officer.last_totp_step = None
    officer.session_epoch += 1
    return NewOfficer(officer, _new_activation(officer))


def lookup(
    session: Session, *, officer_id: int | None = None, username: str | None = None
) -> Officer:
    """The account by id (the pages) or by name (the ``tipline`` command), locked for the
    change that follows."""
    query = select(Officer).with_for_update()
    if officer_id is not None:
        query = query.where(Officer.id == officer_id)
    else:
        query = query.where(Officer.username == username)
    officer = session.scalar(query)
    if officer is None:
        if username is not None:
            raise AccountError("username", N_("There is no user named %(name)s."),
                               name=repr(username))  # fmt: skip
        raise AccountError("username", N_("There is no such account."))
    return officer


def _not_waiting(officer: Officer) -> None:
    if officer.awaiting_approval:
        raise AccountError(
            "username",
            N_("This account waits for a supervisor's approval; only that opens it."),
        )


def set_active(officer: Officer, active: bool, *, actor_id: int | None) -> bool:
    """Open or close an account; returns whether anything changed. A closed account cannot
    sign in (``authenticate``) and its open sessions end now. ``actor_id`` is the officer
    doing it, None for the ``tipline`` command: nobody locks themself out (or in)."""
    if actor_id is not None and officer.id == actor_id:
        raise AccountError("username", N_("You cannot deactivate or activate your own account."))
    _not_waiting(officer)
    changed = officer.active != active
    officer.active = active
    if not active:
        _give_back_tips(officer)
    officer.session_epoch += 1
    officer.locked_until = None
    officer.failed_logins = 0
    return changed


def is_locked(officer: Officer, now: dt.datetime | None = None) -> bool:
    locked_until = _aware(officer.locked_until)
    return locked_until is not None and locked_until > (now or dt.datetime.now(dt.UTC))


def unlock(officer: Officer) -> bool:
    """End a lock-out after failed sign-ins now rather than in LOCK_FOR; returns whether the
    account was locked. The failure count starts again from nought."""
    was = is_locked(officer)
    officer.locked_until = None
    officer.failed_logins = 0
    return was


# Stands for the password after a reset: not an argon2 hash, so no password matches it.
PASSWORD_RESET = "!reset"  # noqa: S105 - a marker, never a password


def password_reset_pending(officer: Officer) -> bool:
    return officer.password_hash == PASSWORD_RESET


def _not_self(officer: Officer, actor_id: int | None) -> None:
    if actor_id is not None and officer.id == actor_id:
        raise AccountError(
            "username",
            N_("You cannot reset your own password or authenticator here: another "
               "administrator does that."),
        )  # fmt: skip


def reset_password(officer: Officer, *, actor_id: int | None) -> str:
    """A forgotten password: the old one stops working and a new activation code is issued.

    Nobody chooses the new password for the officer: they sign in with the activation code
    in place of the password and a code from their own authenticator, then choose one
    (``set_new_password``). Whoever hands over the code alone cannot sign in."""
    _not_self(officer, actor_id)
    _not_waiting(officer)
    if officer.totp_sealed is None:
        raise AccountError(
            "username",
            N_("This account has no authenticator yet, so a new password cannot be proved "
               "with one. Reset its authenticator instead, or give both anew on the server "
               "with 'tipline users reset'."),
        )  # fmt: skip
    officer.password_hash = PASSWORD_RESET
    officer.failed_logins = 0
    officer.locked_until = None
    officer.session_epoch += 1
    return _new_activation(officer)


def reset_totp(officer: Officer, *, actor_id: int | None) -> str:
    """A lost or new phone: the authenticator is dropped and a new activation code issued;
    at the next sign-in (password and activation code) the officer enrols a new one."""
    _not_self(officer, actor_id)
    _not_waiting(officer)
    if password_reset_pending(officer):
        raise AccountError(
            "username",
            N_("This account's password was reset and is not set again yet. A new password "
               "and a new authenticator together are given on the server with 'tipline "
               "users reset'."),
        )  # fmt: skip
    officer.totp_sealed = None
    officer.totp_pending = None
    officer.last_totp_step = None
    officer.failed_logins = 0
    officer.locked_until = None
    officer.session_epoch += 1
    return _new_activation(officer)


def set_new_password(session: Session, officer_id: int, epoch: int, password: str) -> Officer:
    """The officer's own new password after a reset (``SignIn.must_set_password``)."""
    officer = _officer_for_update(session, id=officer_id)
    if (
        officer is None
        or not officer.active
        or not password_reset_pending(officer)
        or officer.session_epoch != epoch
    ):
        raise SignInFailed
    _check_password(password)
    officer.password_hash = hasher.hash(password)
    officer.activation_hash = None
    return officer


# Which reader roles a role already holds the powers of: a supervisor does all an officer of
# their office does; the intake desk and a bureau's officer differ.
_INCLUDES = {
    "supervisor": frozenset(READER_ROLES),
    "triage_officer": frozenset({"triage_officer"}),
    "bureau_officer": frozenset({"bureau_officer"}),
}


def widens(officer: Officer, role: str, bureau: str | None, region: str | None) -> bool:
    """Whether making ``officer`` (role, bureau, region) gives them a reader role they do
    not hold or lets them read more: another bureau, a larger or other jurisdiction."""
    if role not in READER_ROLES:
        return False
    if role not in _INCLUDES.get(officer.role, frozenset()):
        return True
    return bureau != officer.bureau or not _covers(officer.region, region)


@dataclass(frozen=True)
class Change:
    officer: Officer
    # "applied" (in force now), "waits" (for a supervisor), "unchanged" (nothing to do;
    # a change that waited is withdrawn).
    outcome: str
    was: tuple[str, str | None, str | None]


def _check_office(role: str, bureau: str | None, region: str | None) -> None:
    if role not in ROLES:
        raise AccountError(
            "role", N_("Unknown role %(role)s: choose one of %(roles)s."), role=repr(role),
            roles=", ".join(ROLES),
        )  # fmt: skip
    if bureau is not None and bureau not in reference.codes(reference.BUREAUS):
        raise AccountError(
            "bureau", N_("Unknown bureau %(bureau)s: choose one from the list."),
            bureau=repr(bureau),
        )  # fmt: skip
    if region is not None and region not in reference.regions():
        raise AccountError(
            "region", N_("%(region)s is not a region code (six digits, GB/T 2260)."),
            region=repr(region),
        )  # fmt: skip
    if role in READER_ROLES and (bureau is None or region is None):
        raise AccountError(
            "bureau", N_("This role belongs to an office: give a bureau and a region.")
        )


def request_change(
    officer: Officer,
    *,
    role: str,
    bureau: str | None,
    region: str | None,
    actor: str,
    actor_id: int | None,
    approved_by: str | None,
) -> Change:
    """Change an account's role, bureau or jurisdiction.

    A change that ``widens`` a reader's reading is under the two-person rule like a new
    reader account: without ``approved_by`` (the ``tipline`` command's operator, with the key
    ring open) it waits for a supervisor of the new office (``approve_change``), the account
    working as before. Any other change takes effect now. Either way the officer's open
    sessions end when it takes effect, so no page keeps the old powers."""
    if actor_id is not None and officer.id == actor_id:
        raise AccountError(
            "role", N_("You cannot change your own role, bureau or jurisdiction: another "
                       "administrator does that."),
        )  # fmt: skip
    _not_waiting(officer)
    _check_office(role, bureau, region)
    was = (officer.role, officer.bureau, officer.region)
    if (role, bureau, region) == was:
        withdrawn = officer.pending_role is not None
        _clear_pending(officer)
        return Change(officer, "withdrawn" if withdrawn else "unchanged", was)
    if widens(officer, role, bureau, region) and approved_by is None:
        officer.pending_role = role
        officer.pending_bureau = bureau
        officer.pending_region = region
        officer.change_requested_by = actor
        return Change(officer, "waits", was)
    _apply(officer, role, bureau, region)
    return Change(officer, "applied", was)


def _clear_pending(officer: Officer) -> None:
    officer.pending_role = None
    officer.pending_bureau = None
    officer.pending_region = None
    officer.change_requested_by = None


def _apply(officer: Officer, role: str, bureau: str | None, region: str | None) -> None:
    if (role, bureau, region) != (officer.role, officer.bureau, officer.region):
        _give_back_tips(officer)
    officer.role = role
    officer.bureau = bureau
    officer.region = region
    officer.session_epoch += 1
    _clear_pending(officer)


def _give_back_tips(officer: Officer) -> None:
    """An officer who leaves an office (deactivated, or given another role, bureau or region)
    holds none of its tips: its officers may take them on, or a supervisor assigns them."""
    session = object_session(officer)
    if session is not None and officer.id is not None:
        session.execute(update(Tip).where(Tip.assigned_to == officer.id).values(assigned_to=None))


def may_approve_change(approver: Officer, officer: Officer) -> str | None:
    """Why ``approver`` may not approve the change waiting on ``officer``, or None."""
    if officer.pending_role is None:
        return N_("No change of this account waits for approval.")
    if approver.role != "supervisor" or not approver.active or approver.awaiting_approval:
        return N_("Only a supervisor approves an account that reads tips.")
    if approver.id == officer.id or approver.username == officer.change_requested_by:
        return N_("The person who asked for a change cannot also approve it.")
    if approver.bureau != officer.pending_bureau or not _covers(
        approver.region, officer.pending_region
    ):
        return N_("Only a supervisor of the account's own bureau and jurisdiction approves it.")
    return None


def changes_awaiting(session: Session, approver: Officer) -> list[Officer]:
    """The accounts with a change waiting that ``approver`` may approve."""
    waiting = session.scalars(
        select(Officer).where(Officer.pending_role.is_not(None)).order_by(Officer.username)
    )
    return [officer for officer in waiting if may_approve_change(approver, officer) is None]


def approve_change(
    session: Session, officer_id: int, approver: Officer,
    expected: tuple[str | None, ...] | None = None,
) -> Change:  # fmt: skip
    """Put a waiting change in force: the second person of the two-person rule. With
    ``expected`` (the role, bureau and region the approver was shown), a change replaced
    since is refused: nobody approves what they did not read."""
    officer = session.scalar(select(Officer).where(Officer.id == officer_id).with_for_update())
    if officer is None:
        raise ApprovalRefused(N_("There is no such account."))
    reason = may_approve_change(approver, officer)
    if reason is not None:
        raise ApprovalRefused(reason)
    waiting = (officer.pending_role, officer.pending_bureau, officer.pending_region)
    if expected is not None and tuple(expected) != waiting:
        raise ApprovalRefused(
            N_("The change waiting for approval is not the one you read: read it again.")
        )
    was = (officer.role, officer.bureau, officer.region)
    assert officer.pending_role is not None
    _apply(officer, officer.pending_role, officer.pending_bureau, officer.pending_region)
    return Change(officer, "applied", was)


def enrol_now(officer: Officer, vault: OfficerSecrets) -> str:
    """Enrol a new TOTP secret on the spot and return it, for the demo's accounts and for
    tests: it skips the owner's own enrolment, so nothing a real officer uses calls it."""
    secret = pyotp.random_base32()
    officer.totp_sealed = vault.seal(
        secret.encode("ascii"), officer_id=officer.id, purpose=TOTP_PURPOSE
    )
    officer.totp_pending = None
    officer.activation_hash = None
    return secret


def _totp_step(secret: str, code: str, now: dt.datetime) -> int | None:
    """The time step a code belongs to, allowing one step of clock drift either way."""
    totp = pyotp.TOTP(secret)
    code = code.strip().replace(" ", "")
    for drift in (0, -1, 1):
        moment = now + dt.timedelta(seconds=drift * totp.interval)
        if hmac.compare_digest(totp.at(moment), code):
            return int(totp.timecode(moment))
    return None


def _aware(moment: dt.datetime | None) -> dt.datetime | None:
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC)  # SQLite drops the zone
    return moment


def _open_now(now: dt.datetime) -> ColumnElement[bool]:
    """SQL: the account is not locked at ``now``."""
    return or_(Officer.locked_until.is_(None), Officer.locked_until <= now)


def _count_failure(session: Session, officer_id: int, now: dt.datetime) -> None:
    """One more failed attempt, counted in the database itself: parallel failures all count.

    A lock that has run out starts a fresh count; the attempt that reaches the threshold
    locks the account; attempts while it is locked are counted but do not extend it.
    """
    expired = and_(Officer.locked_until.is_not(None), Officer.locked_until <= now)
    lock = literal(now + LOCK_FOR, Officer.locked_until.type)
    session.execute(
        update(Officer)
        .where(Officer.id == officer_id)
        .values(
            failed_logins=case((expired, 1), else_=Officer.failed_logins + 1),
            locked_until=case(
                (expired, lock if MAX_FAILURES <= 1 else null()),
                (
                    and_(
                        Officer.locked_until.is_(None),
                        Officer.failed_logins + 1 >= MAX_FAILURES,
                    ),
                    lock,
                ),
                else_=Officer.locked_until,
            ),
        )
        .execution_options(synchronize_session=False)
    )


def _officer_for_update(session: Session, **where: object) -> Officer | None:
    query = select(Officer).filter_by(**where).with_for_update()
    return session.scalar(query.execution_options(populate_existing=True))


def _password_ok(officer: Officer, password: str) -> bool:
    try:
        return hasher.verify(officer.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _totp_secret(officer: Officer, sealed: bytes, vault: OfficerSecrets) -> str | None:
    try:
        return vault.open(sealed, officer_id=officer.id, purpose=TOTP_PURPOSE).decode("ascii")
    except (InvalidCiphertext, UnicodeDecodeError):
        return None  # altered or copied from another row: no code will match


def _use_step(session: Session, officer: Officer, step: int, now: dt.datetime) -> None:
    """Record ``step`` as used, unless a parallel sign-in used it (or a later one) first."""
    used = session.execute(
        update(Officer)
        .where(
            Officer.id == officer.id,
            or_(Officer.last_totp_step.is_(None), Officer.last_totp_step < step),
            _open_now(now),
        )
        .values(last_totp_step=step, failed_logins=0, locked_until=None)
        .execution_options(synchronize_session=False)
    )
    if used.rowcount != 1:  # type: ignore[attr-defined]
        last = session.scalar(select(Officer.last_totp_step).where(Officer.id == officer.id))
        if last is not None and last >= step:
            raise CodeReplayed
        raise SignInFailed  # locked meanwhile by parallel failures


def authenticate(
    session: Session,
    username: str,
    password: str,
    code: str,
    vault: OfficerSecrets,
    *,
    now: dt.datetime | None = None,
) -> SignIn:
    """Check a sign-in: password and one-time code, or, before enrolment, password and
    activation code. Raises SignInFailed (counted) or CodeReplayed (not counted)."""
    now = now or dt.datetime.now(dt.UTC)
    officer = _officer_for_update(session, username=username)
    if officer is None or not officer.active or officer.awaiting_approval:
        with contextlib.suppress(VerificationError):
            hasher.verify(_DUMMY_HASH, password)
        raise SignInFailed
    locked_until = _aware(officer.locked_until)
    if locked_until is not None and locked_until > now:
        with contextlib.suppress(VerificationError):
            hasher.verify(_DUMMY_HASH, password)
        _count_failure(session, officer.id, now)
        raise SignInFailed
    resetting = password_reset_pending(officer)
    if resetting:
        # After a password reset the activation code stands in the password's place; a
        # code from the officer's own authenticator is still needed below.
        with contextlib.suppress(VerificationError):
            hasher.verify(_DUMMY_HASH, password)
        activation = officer.activation_hash
        if activation is None or not hmac.compare_digest(activation, _activation_digest(password)):
            _count_failure(session, officer.id, now)
            raise SignInFailed
    elif not _password_ok(officer, password):
        _count_failure(session, officer.id, now)
        raise SignInFailed
    if officer.totp_sealed is None:
        activation = None if resetting else officer.activation_hash
        if activation is None or not hmac.compare_digest(activation, _activation_digest(code)):
            _count_failure(session, officer.id, now)
            raise SignInFailed
        session.execute(
            update(Officer)
            .where(Officer.id == officer.id, _open_now(now))
            .values(failed_logins=0)
            .execution_options(synchronize_session=False)
        )
        return SignIn(officer, must_enrol=True)
    secret = _totp_secret(officer, officer.totp_sealed, vault)
    step = _totp_step(secret, code, now) if secret is not None else None
    if step is None:
        _count_failure(session, officer.id, now)
        raise SignInFailed
    if officer.last_totp_step is not None and step <= officer.last_totp_step:
        raise CodeReplayed
    _use_step(session, officer, step, now)
    if resetting:
        return SignIn(officer, must_enrol=False, must_set_password=True)
    if hasher.check_needs_rehash(officer.password_hash):
        officer.password_hash = hasher.hash(password)
    return SignIn(officer, must_enrol=False)


def _enrolling(session: Session, officer_id: int, epoch: int) -> Officer | None:
    officer = _officer_for_update(session, id=officer_id)
    if (
        officer is None
        or not officer.active
        or officer.awaiting_approval
        or officer.totp_sealed is not None
        or officer.activation_hash is None
        or officer.session_epoch != epoch
    ):
        return None
    return officer


def start_enrolment(
    session: Session, officer_id: int, epoch: int, vault: OfficerSecrets
) -> Enrolment | None:
    """The secret to show its owner (who has just given password and activation code), or
    None if that officer is not enrolling (any more)."""
    officer = _enrolling(session, officer_id, epoch)
    if officer is None:
        return None
    secret = None
    if officer.totp_pending is not None:
        secret = _totp_secret(officer, officer.totp_pending, vault)  # the page was reloaded
    if secret is None:
        secret = pyotp.random_base32()
        officer.totp_pending = vault.seal(
            secret.encode("ascii"), officer_id=officer.id, purpose=TOTP_PURPOSE
        )
    uri = pyotp.TOTP(secret).provisioning_uri(name=officer.username, issuer_name=ISSUER)
    return Enrolment(secret, uri)


def confirm_enrolment(
    session: Session,
    officer_id: int,
    epoch: int,
    code: str,
    vault: OfficerSecrets,
    *,
    now: dt.datetime | None = None,
) -> Officer:
    """Make the shown secret the officer's, once a first code from it is right."""
    now = now or dt.datetime.now(dt.UTC)
    officer = _enrolling(session, officer_id, epoch)
    if officer is None or officer.totp_pending is None:
        raise SignInFailed
    locked_until = _aware(officer.locked_until)
    if locked_until is not None and locked_until > now:
        _count_failure(session, officer.id, now)
        raise SignInFailed
    pending = officer.totp_pending
    secret = _totp_secret(officer, pending, vault)
    step = _totp_step(secret, code, now) if secret is not None else None
    if step is None:
        _count_failure(session, officer.id, now)
        raise SignInFailed
    done = session.execute(
        update(Officer)
        .where(Officer.id == officer.id, Officer.totp_sealed.is_(None), _open_now(now))
        .where(Officer.totp_pending == pending)
        .values(
            totp_sealed=pending,
            totp_pending=None,
            activation_hash=None,
            last_totp_step=step,
            failed_logins=0,
            locked_until=None,
        )  # fmt: skip
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise CodeReplayed  # a parallel request enrolled with this code first
    return officer
