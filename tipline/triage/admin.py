"""Administration and oversight: users, rule packs and the calendar for administrators; the
audit log and statistics for auditors. None of these pages opens a tip's contents."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import and_, func, select
from werkzeug.wrappers import Response
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    PasswordField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from tipline.intake import reference
from tipline.intake.db import transaction
from tipline.intake.models import CalendarOverride, Officer, RulePack, Tip
from tipline.intake.reference import N_
from tipline.intake.rules import RulePackError, load_pack
from tipline.intake.submit import today
from tipline.intake.web import query_int
from tipline.intake.workdays import NoticeError, load_calendar, package_knows, parse_notice
from tipline.triage import clocks, holidays, scope, triage
from tipline.triage.accounts import (
    ROLE_TERMS,
    AccountError,
    ApprovalRefused,
    add_officer,
    awaiting,
)
from tipline.triage.accounts import approve as approve_officer
from tipline.triage.audit import record
from tipline.triage.forms import choices

bp = Blueprint("admin", __name__)


class UserForm(FlaskForm):
    username = StringField(_l("User name"), validators=[DataRequired(), Length(max=64)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=1024)])
    role = SelectField(_l("Role"), choices=choices(ROLE_TERMS))
    bureau = SelectField(_l("Bureau"), choices=choices(reference.BUREAUS))
    region = StringField(
        _l("Jurisdiction (region code)"), validators=[DataRequired(), Length(max=6)]
    )
    email = EmailField(_l("E-mail for notices"), validators=[Optional(), Length(max=254)])


class ActiveForm(FlaskForm):
    active = BooleanField(_l("Active"))


class RulePackForm(FlaskForm):
    body = TextAreaField(_l("Rule pack (JSON)"), validators=[DataRequired(), Length(max=200_000)])


class OverrideForm(FlaskForm):
    day = DateField(_l("Day"), validators=[DataRequired()])
    workday = SelectField(
        _l("This day is"),
        choices=[
            SelectChoice("no", _l("not a working day")),
            SelectChoice("yes", _l("a working day")),
        ],
    )
    note = StringField(_l("Why"), validators=[Optional(), Length(max=200)])


class NoticeForm(FlaskForm):
    # Each November the next year's notice is published (the default is next year).
    year = StringField(
        _l("Year"), default=lambda: str(today().year + 1),
        validators=[DataRequired(), Length(max=8)],
    )  # fmt: skip
    reference = StringField(
        _l("The notice's number or title"), validators=[Optional(), Length(max=200)]
    )
    days_off = TextAreaField(
        _l("Days off (放假), one day or range a line, e.g. 2027-01-01..2027-01-03"),
        validators=[Length(max=5000)],
    )
    working_days = TextAreaField(
        _l("Make-up working days (调休上班), e.g. 2027-02-06"), validators=[Length(max=5000)]
    )


@bp.route("/admin/users", methods=["GET", "POST"])
def users() -> Any:
    """Administrators add accounts alone only where the role reads no contents; any other
    account waits for a supervisor's approval (accounts.add_officer). Nobody here ever sees
    a TOTP secret: the owner enrols at the first sign-in."""
    form = UserForm()
    activation = None
    awaiting = False
    status = 200
    if form.validate_on_submit():
        try:
            with transaction(triage().sessions) as session:
                created = add_officer(
                    session, form.username.data.strip().lower(), form.password.data,
                    role=form.role.data, bureau=form.bureau.data, region=form.region.data,
                    email=form.email.data or None, requested_by=current_user.username,
                    approved_by=None,
                )  # fmt: skip
                added = created.officer
                awaiting = added.awaiting_approval
                record(session, "user.request" if awaiting else "user.add",
                       actor=current_user.username, username=added.username,
                       role=added.role, bureau=added.bureau, region=added.region)  # fmt: skip
                activation = created.activation_code
            form = UserForm(formdata=None)
        except AccountError as error:
            # A catalogued message with its values, on the field it is about (accounts.py).
            target = form._fields.get(error.field, form.username)
            target.errors = [_(error.message, **error.params)]
            status = 400
    elif form.is_submitted():
        status = 400
    return _users_page(form, status, activation=activation, awaiting=awaiting)


def _users_page(
    form: UserForm, status: int, *, activation: str | None = None, awaiting: bool = False,
    error: str | None = None,
) -> tuple[str, int]:  # fmt: skip
    with triage().sessions() as session:
        officers = session.scalars(select(Officer).order_by(Officer.username)).all()
    page = render_template(
        "triage/admin_users.html", form=form, officers=officers, activation=activation,
        awaiting=awaiting, active_form=ActiveForm(formdata=None), error=error,
    )  # fmt: skip
    return page, status


@bp.post("/admin/users/<int:officer_id>/active")
def set_active(officer_id: int) -> Response | tuple[str, int]:
    form = ActiveForm()
    if not form.validate_on_submit():
        abort(400)
    if officer_id == current_user.id:
        # Nobody locks themself out (or in); the page says so rather than a bare 400.
        refused = _("You cannot deactivate or activate your own account.")
        return _users_page(UserForm(formdata=None), 400, error=refused)
    with transaction(triage().sessions) as session:
        officer = session.get(Officer, officer_id)
        if officer is None:
            abort(404)
        if officer.awaiting_approval:
            # Only a supervisor's approval opens it (accounts.approve).
            refused = _("This account waits for a supervisor's approval; only that opens it.")
            return _users_page(UserForm(formdata=None), 400, error=refused)
        officer.active = form.active.data
        officer.session_epoch += 1  # a deactivated officer's open sessions end now
        officer.locked_until = None
        officer.failed_logins = 0
        record(session, "user.activate" if officer.active else "user.deactivate",
               actor=current_user.username, username=officer.username)  # fmt: skip
    return redirect(url_for("admin.users"))


def _approvals_page(
    approved: str | None = None, activation: str | None = None, error: str | None = None
) -> str:
    with triage().sessions() as session:
        me = session.get(Officer, current_user.id)
        officers = awaiting(session, me) if me is not None else []
    return render_template(
        "triage/admin_approvals.html", officers=officers, approved=approved,
        activation=activation, error=error,
    )  # fmt: skip


@bp.get("/approvals")
def approvals() -> str:
    """The second person: a supervisor sees the accounts of their office that wait."""
    return _approvals_page()


@bp.post("/approvals/<int:officer_id>")
def approve(officer_id: int) -> Any:
    if not FlaskForm().validate_on_submit():
        abort(400)
    try:
        with transaction(triage().sessions) as session:
            me = session.get(Officer, current_user.id)
            if me is None:
                abort(403)
            opened = approve_officer(session, officer_id, me)
            record(session, "user.approve", actor=current_user.username,
                   username=opened.officer.username, role=opened.officer.role,
                   requested_by=opened.officer.requested_by)  # fmt: skip
    except ApprovalRefused as refused:
        with transaction(triage().sessions) as session:
            record(session, "user.approve.refused", actor=current_user.username,
                   officer_id=officer_id, reason=str(refused))  # fmt: skip
        # Not theirs to approve (or not waiting): the same answer as for no such account,
        # so the page reveals nothing of other offices.
        abort(404)
    return _approvals_page(approved=opened.officer.username, activation=opened.activation_code)


@bp.route("/admin/rules", methods=["GET", "POST"])
def rules() -> Any:
    form = RulePackForm()
    status = 200
    if form.validate_on_submit():
        try:
            pack = load_pack(form.body.data)
            with transaction(triage().sessions) as session:
                exists = session.scalar(
                    select(RulePack.id).where(
                        RulePack.name == pack.name, RulePack.version == pack.version
                    )
                )
                if exists is not None:
                    raise RulePackError(N_("This name and version are already loaded."))
                session.add(RulePack(name=pack.name, version=pack.version, scope=pack.scope,
                                     body=form.body.data))  # fmt: skip
                record(session, "rulepack.change", actor=current_user.username, pack=pack.label)
            return redirect(url_for("admin.rules"))
        except RulePackError as error:
            form.body.errors = [_(error.message, **error.params)]
            status = 400
    elif form.is_submitted():
        status = 400
    with triage().sessions() as session:
        packs = session.scalars(select(RulePack).order_by(RulePack.name, RulePack.id)).all()
    return render_template("triage/admin_rules.html", form=form, packs=packs), status


@bp.route("/admin/calendar", methods=["GET", "POST"])
def calendar() -> Any:
    """One-day corrections; each recomputes every open clock (holidays.correct_day)."""
    form = OverrideForm()
    if form.validate_on_submit():
        with transaction(triage().sessions) as session:
            moved = holidays.correct_day(
                session, form.day.data, form.workday.data == "yes", form.note.data or "",
                current_user.username,
            )  # fmt: skip
        return redirect(url_for("admin.calendar", moved=len(moved)))
    return _calendar_page(form, NoticeForm(prefix="notice", formdata=None),
                          400 if form.is_submitted() else 200)  # fmt: skip


@bp.post("/admin/calendar/notice")
def calendar_notice() -> Any:
    """A year's State Council holiday notice: days off and make-up working days."""
    form = NoticeForm(prefix="notice")
    status = 400
    if form.validate_on_submit():
        try:
            notice = parse_notice(form.year.data, form.days_off.data or "",
                                  form.working_days.data or "")  # fmt: skip
        except NoticeError as error:
            for name, message, params in error.problems:
                field = form._fields.get(name, form.days_off)
                field.errors = [*field.errors, _(message, **params)]
        else:
            with transaction(triage().sessions) as session:
                moved = holidays.enter_notice(
                    session, notice, form.reference.data or "", current_user.username
                )
            return redirect(url_for("admin.calendar", moved=len(moved), year=notice.year))
    return _calendar_page(OverrideForm(formdata=None), form, status)


def _calendar_page(form: OverrideForm, notice_form: NoticeForm, status: int) -> tuple[str, int]:
    moved = query_int("moved", -1, low=0)
    year = query_int("year", 0, low=0)
    with triage().sessions() as session:
        overrides = session.scalars(select(CalendarOverride).order_by(CalendarOverride.day)).all()
        entered = holidays.notices(session)
        calendar = load_calendar(session)
        missing = clocks.fallback_years(session, calendar)
    this_year = today().year
    years = [
        (y, "package" if package_knows(y) else "notice" if calendar.knows(y) else "fallback")
        for y in range(this_year - 1, this_year + 3)
    ]  # fmt: skip
    page = render_template(
        "triage/admin_calendar.html", form=form, notice_form=notice_form, overrides=overrides,
        notices=entered, missing=missing, years=years, source=calendar.source,
        moved=moved, entered_year=year,
    )  # fmt: skip
    return page, status


@bp.get("/stats")
def stats() -> str:
    """Counts by status, kind and bureau. Sealed tips are counted only for those who may see
    them: auditors never, others through the usual scoping."""
    if current_user.role == "auditor":
        condition = and_(scope.jurisdiction(current_user.region), Tip.sealed.is_(False))
    else:
        condition = scope.visibility(current_user)
    tables = {}
    with triage().sessions() as session:
        for name, column in (("status", Tip.status), ("category", Tip.category),
                             ("bureau", Tip.bureau), ("channel", Tip.channel)):  # fmt: skip
            tables[name] = session.execute(
                select(column, func.count()).where(condition).group_by(column).order_by(column)
            ).all()
    return render_template("triage/stats.html", tables=tables)
