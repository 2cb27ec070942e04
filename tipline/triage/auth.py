"""Officer sign-in: password and one-time code, lock-out, first-time enrolment, audited."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

import segno
from flask import Blueprint, redirect, render_template, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from flask_wtf import FlaskForm
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from tipline.intake.db import transaction
from tipline.intake.models import Officer
from tipline.triage import triage
from tipline.triage.accounts import (
    AccountError,
    CodeReplayed,
    SignIn,
    SignInFailed,
    authenticate,
    confirm_enrolment,
    set_new_password,
    start_enrolment,
)
from tipline.triage.audit import record

bp = Blueprint("auth", __name__)
# Where each role starts after signing in: administrators and auditors never see tips.
HOME = {"admin": "admin.users", "auditor": "admin.audit_log"}
login_manager = LoginManager()
login_manager.session_protection = "strong"


@dataclass(frozen=True)
class SignedIn(UserMixin):
    id: int
    username: str
    role: str
    bureau: str | None
    region: str | None

    def get_id(self) -> str:
        return str(self.id)


def _signed_in(officer: Officer) -> SignedIn:
    return SignedIn(officer.id, officer.username, officer.role, officer.bureau, officer.region)


IDLE = dt.timedelta(minutes=30)
LONGEST = dt.timedelta(hours=12)


@login_manager.user_loader
def _load(user_id: str) -> SignedIn | None:
    """The officer of a session cookie, if it is still good: same epoch (not signed out or
    deactivated since), used within the idle time, and not older than a working day."""
    now = time.time()
    seen = session.get("seen", 0)
    started = session.get("started", 0)
    if now - seen > IDLE.total_seconds() or now - started > LONGEST.total_seconds():
        return None
    with triage().sessions() as db:
        officer = db.get(Officer, int(user_id))
        if officer is None or not officer.active:
            return None
        if session.get("epoch") != officer.session_epoch:
            return None
        session["seen"] = now
        return _signed_in(officer)


class LoginForm(FlaskForm):
    username = StringField(_l("User name"), validators=[DataRequired(), Length(max=64)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=1024)])
    # Six digits once enrolled; the activation code (16 characters) at the first sign-in.
    code = StringField(_l("One-time code"), validators=[DataRequired(), Length(min=6, max=32)])


class EnrolForm(FlaskForm):
    code = StringField(_l("One-time code"), validators=[DataRequired(), Length(min=6, max=8)])


class NewPasswordForm(FlaskForm):
    password = PasswordField(_l("New password"), validators=[DataRequired(), Length(max=1024)])
    again = PasswordField(
        _l("The new password again"),
        validators=[
            DataRequired(), Length(max=1024),
            EqualTo("password", message=_l("The two passwords differ.")),
        ],
    )  # fmt: skip


# How long a first sign-in may take between the activation code and the first TOTP code.
ENROL_WITHIN = dt.timedelta(minutes=10)


def _begin_session(user: SignedIn, epoch: int) -> None:
    session.pop("enrolling", None)
    login_user(user)
    session["epoch"] = epoch
    session["started"] = session["seen"] = time.time()


def _failed(form: LoginForm | EnrolForm, replayed: bool) -> None:
    if replayed:
        form.code.errors = [_("This code was already used. Wait for the next one.")]
    else:
        form.code.errors = [
            _("The name, password or code is wrong, or the account is locked for a while.")
        ]


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | str | tuple[str, int]:
    if current_user.is_authenticated:
        return redirect(url_for(HOME.get(current_user.role, "triage.inbox")))
    form = LoginForm()
    if not form.validate_on_submit():
        return render_template("triage/login.html", form=form), 400 if form.is_submitted() else 200
    username = form.username.data.strip().lower()
    services = triage()
    replayed = False
    signed_in: SignIn | None = None
    with transaction(services.sessions) as db:
        try:
            signed_in = authenticate(
                db, username, form.password.data, form.code.data, services.officer_secrets
            )
        except SignInFailed as failure:
            replayed = isinstance(failure, CodeReplayed)
            # A password typed into the name field must not land in the log: name only
            # accounts that exist.
            known = db.scalar(select(Officer.id).where(Officer.username == username))
            record(db, "signin.replayed" if replayed else "signin.failed",
                   actor=username if known else None)  # fmt: skip
        else:
            officer = signed_in.officer
            record(db, "signin.activation" if signed_in.must_enrol or signed_in.must_set_password
                   else "signin",
                   actor=officer.username)  # fmt: skip
            user = _signed_in(officer)
            epoch = officer.session_epoch
    if signed_in is None:
        _failed(form, replayed)
        return render_template("triage/login.html", form=form), 401
    if signed_in.must_set_password:
        # A password reset: activation code and authenticator were right; the officer
        # chooses the new password before the session starts.
        session.clear()
        session["new_password"] = {"id": user.id, "epoch": epoch, "at": time.time()}
        return redirect(url_for("auth.new_password"))
    if signed_in.must_enrol:
        # Not signed in yet: the next page shows the new secret to this browser only.
        session.clear()
        session["enrolling"] = {"id": user.id, "epoch": epoch, "at": time.time()}
        return redirect(url_for("auth.enrol"))
    _begin_session(user, epoch)
    return redirect(url_for(HOME.get(user.role, "triage.inbox")))


def _enrolling(key: str = "enrolling") -> tuple[int, int] | None:
    marker = session.get(key)
    if not isinstance(marker, dict):
        return None
    officer_id, epoch, at = marker.get("id"), marker.get("epoch"), marker.get("at")
    if not isinstance(officer_id, int) or not isinstance(epoch, int):
        return None
    if not isinstance(at, int | float) or time.time() - at > ENROL_WITHIN.total_seconds():
        return None
    return officer_id, epoch


def qr_svg(uri: str) -> Markup:
    """The provisioning URI as an inline SVG QR code, drawn here: no script, no third party."""
    code = segno.make(uri, error="m")
    svg = code.svg_inline(scale=4, border=2, dark="#000", light="#fff", title=_("QR code"))
    return Markup(svg)  # noqa: S704 - segno's own markup of a URI this module built


@bp.route("/enrol", methods=["GET", "POST"])
def enrol() -> Response | str | tuple[str, int]:
    """First sign-in: the owner, and only the owner, sees the TOTP secret, then proves it."""
    marker = _enrolling()
    if marker is None:
        session.pop("enrolling", None)
        return redirect(url_for("auth.login"))
    officer_id, epoch = marker
    services = triage()
    form = EnrolForm()
    status = 200
    if form.validate_on_submit():
        replayed = False
        user = None
        with transaction(services.sessions) as db:
            try:
                officer = confirm_enrolment(
                    db, officer_id, epoch, form.code.data, services.officer_secrets
                )
            except SignInFailed as failure:
                replayed = isinstance(failure, CodeReplayed)
                record(db, "enrol.failed", actor=_username(db, officer_id))
            else:
                record(db, "enrol", actor=officer.username)
                user = _signed_in(officer)
        if user is not None:
            _begin_session(user, epoch)
            return redirect(url_for(HOME.get(user.role, "triage.inbox")))
        _failed(form, replayed)
        status = 401
    elif form.is_submitted():
        status = 400
    with transaction(services.sessions) as db:
        shown = start_enrolment(db, officer_id, epoch, services.officer_secrets)
    if shown is None:
        session.pop("enrolling", None)
        return redirect(url_for("auth.login"))
    page = render_template(
        "triage/enrol.html", form=form, secret=grouped(shown.secret), uri=shown.provisioning_uri,
        qr=qr_svg(shown.provisioning_uri),
    )  # fmt: skip
    return page, status


def grouped(secret: str) -> str:
    """A key for typing by hand, in groups of four (authenticator apps ignore the spaces)."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


@bp.route("/new-password", methods=["GET", "POST"])
def new_password() -> Response | str | tuple[str, int]:
    """After a password reset: the officer, signed in with the activation code and their
    authenticator, chooses their own new password; nobody else ever knows it."""
    marker = _enrolling("new_password")
    if marker is None:
        session.pop("new_password", None)
        return redirect(url_for("auth.login"))
    officer_id, epoch = marker
    form = NewPasswordForm()
    status = 200
    if form.validate_on_submit():
        user = None
        try:
            with transaction(triage().sessions) as db:
                officer = set_new_password(db, officer_id, epoch, form.password.data)
                record(db, "password.set", actor=officer.username)
                user = _signed_in(officer)
        except AccountError as error:
            form.password.errors = [_(error.message, **error.params)]
            status = 400
        except SignInFailed:
            session.pop("new_password", None)
            return redirect(url_for("auth.login"))
        if user is not None:
            session.pop("new_password", None)
            _begin_session(user, epoch)
            return redirect(url_for(HOME.get(user.role, "triage.inbox")))
    elif form.is_submitted():
        status = 400
    return render_template("triage/new_password.html", form=form), status


def _username(db: Session, officer_id: int) -> str | None:
    return db.scalar(select(Officer.username).where(Officer.id == officer_id))


@bp.post("/logout")
def logout() -> Response:
    if current_user.is_authenticated:
        with transaction(triage().sessions) as db:
            officer = db.get(Officer, current_user.id)
            if officer is not None:
                officer.session_epoch += 1  # any copy of this cookie is now worthless
    logout_user()
    session.clear()
    return redirect(url_for("auth.login"))
