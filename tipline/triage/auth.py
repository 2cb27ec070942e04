"""Officer sign-in: password and one-time code, lock-out, audited."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

from flask import Blueprint, redirect, render_template, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.wrappers import Response
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from tipline.intake.db import transaction
from tipline.intake.models import Officer
from tipline.triage import triage
from tipline.triage.accounts import SignInFailed, authenticate
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
    code = StringField(_l("One-time code"), validators=[DataRequired(), Length(min=6, max=8)])


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | str | tuple[str, int]:
    if current_user.is_authenticated:
        return redirect(url_for(HOME.get(current_user.role, "triage.inbox")))
    form = LoginForm()
    if not form.validate_on_submit():
        return render_template("triage/login.html", form=form), 400 if form.is_submitted() else 200
    username = form.username.data.strip().lower()
    with transaction(triage().sessions) as db:
        try:
            officer = authenticate(db, username, form.password.data, form.code.data)
        except SignInFailed:
            # A password typed into the name field must not land in the log: name only
            # accounts that exist.
            known = db.scalar(select(Officer.id).where(Officer.username == username))
            record(db, "signin.failed", actor=username if known else None)
            user, epoch = None, 0
        else:
            record(db, "signin", actor=officer.username)
            user = _signed_in(officer)
            epoch = officer.session_epoch
    if user is None:
        form.code.errors = [
            _("The name, password or code is wrong, or the account is locked for a while.")
        ]
        return render_template("triage/login.html", form=form), 401
    login_user(user)
    session["epoch"] = epoch
    session["started"] = session["seen"] = time.time()
    return redirect(url_for(HOME.get(user.role, "triage.inbox")))


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
