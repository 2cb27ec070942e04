"""Officer sign-in: password and one-time code, lock-out, audited."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, redirect, render_template, url_for
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


@login_manager.user_loader
def _load(user_id: str) -> SignedIn | None:
    with triage().sessions() as session:
        officer = session.get(Officer, int(user_id))
        if officer is None or not officer.active:
            return None
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
    with transaction(triage().sessions) as session:
        try:
            officer = authenticate(session, username, form.password.data, form.code.data)
        except SignInFailed:
            # A password typed into the name field must not land in the log: name only
            # accounts that exist.
            known = session.scalar(select(Officer.id).where(Officer.username == username))
            record(session, "signin.failed", actor=username if known else None)
            user = None
        else:
            record(session, "signin", actor=officer.username)
            user = _signed_in(officer)
    if user is None:
        form.code.errors = [
            _("The name, password or code is wrong, or the account is locked for a while.")
        ]
        return render_template("triage/login.html", form=form), 401
    login_user(user)
    return redirect(url_for(HOME.get(user.role, "triage.inbox")))


@bp.post("/logout")
def logout() -> Response:
    logout_user()
    return redirect(url_for("auth.login"))
