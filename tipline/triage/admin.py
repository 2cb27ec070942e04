"""Administration and oversight: users, rule packs and the calendar for administrators; the
audit log and statistics for auditors. None of these pages opens a tip's contents."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, redirect, render_template, request, url_for
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
    HiddenField,
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
from tipline.triage import accounts, clocks, holidays, scope, triage
from tipline.triage.accounts import (
    ROLE_TERMS,
    AccountError,
    ApprovalRefused,
    add_officer,
    awaiting,
    changes_awaiting,
)
from tipline.triage.accounts import approve as approve_officer
from tipline.triage.audit import record
from tipline.triage.tips import tipwords
from tipline.triage.tips.forms import choices

# What an account change did, as the audit log names it (audit_terms: accounts' actions).
_RESET_ACTIONS = {"password": "user.reset_password", "totp": "user.reset_totp"}
_CHANGE_ACTIONS = {
    "applied": "user.change",
    "waits": "user.change.request",
    "withdrawn": "user.change.withdraw",
}

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
    # Empty on the first press; "yes" from the confirmation page (works without script).
    confirmed = HiddenField(validators=[Length(max=8)])


class ConfirmForm(FlaskForm):
    confirmed = HiddenField(validators=[Length(max=8)])


class ChangeForm(FlaskForm):
    """Role, bureau and jurisdiction of an existing account (accounts.request_change)."""

    role = SelectField(_l("Role"), choices=choices(ROLE_TERMS))
    bureau = SelectField(_l("Bureau"), choices=choices(reference.BUREAUS))
    region = StringField(
        _l("Jurisdiction (region code)"), validators=[DataRequired(), Length(max=6)]
    )
    confirmed = HiddenField(validators=[Length(max=8)])


# Shown when a form comes back incomplete (a field missing, say from an old page).
INCOMPLETE = N_("The form was incomplete. Reload the page and try again.")


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


def _order(officer: Officer) -> tuple[int, str]:
    """Active accounts first, then those waiting for approval, deactivated ones last."""
    rank = 1 if officer.awaiting_approval else 0 if officer.active else 2
    return rank, officer.username


def _users_page(
    form: UserForm, status: int, *, activation: str | None = None, awaiting: bool = False,
    error: str | None = None,
) -> tuple[str, int]:  # fmt: skip
    with triage().sessions() as session:
        officers = sorted(session.scalars(select(Officer)).all(), key=_order)
    page = render_template(
        "triage/admin_users.html", form=form, officers=officers, activation=activation,
        awaiting=awaiting, active_form=ActiveForm(formdata=None), error=error,
        locked={o.id for o in officers if accounts.is_locked(o)},
        resetting={o.id for o in officers if accounts.password_reset_pending(o)},
    )  # fmt: skip
    return page, status


def _user_page(
    officer_id: int, status: int = 200, *, change_form: ChangeForm | None = None,
    error: str | None = None, done: str | None = None, activation: str | None = None,
) -> tuple[str, int]:  # fmt: skip
    """One account: its state and every change an administrator may make to it."""
    with triage().sessions() as session:
        officer = session.get(Officer, officer_id)
        if officer is None:
            abort(404)
        if change_form is None:
            change_form = ChangeForm(formdata=None, obj=officer)
        page = render_template(
            "triage/admin_user.html", officer=officer, change_form=change_form,
            form=ConfirmForm(formdata=None), active_form=ActiveForm(formdata=None),
            locked={officer.id} if accounts.is_locked(officer) else set(),
            resetting={officer.id} if accounts.password_reset_pending(officer) else set(),
            mine=officer.id == current_user.id, error=error, done=done,
            activation=activation,
        )  # fmt: skip
    return page, status


def _confirm(
    question: str, action: str, back: str, button: str, *, details: list[str] | None = None,
    fields: dict[str, str] | None = None,
) -> str:  # fmt: skip
    """The confirmation step of an irreversible change: a page of its own with a form that
    sends the same fields again with confirmed=yes. No script involved."""
    return render_template(
        "triage/admin_confirm.html", question=question, action=action, back=back,
        button=button, details=details or [], fields=fields or {},
        form=ConfirmForm(formdata=None),
    )  # fmt: skip


def _confirmed(form: ActiveForm | ConfirmForm | ChangeForm) -> bool:
    return form.confirmed.data == "yes"


class _Ask(Exception):
    """Leave the transaction without its change, to show the confirmation page first: the
    change was tried so that a refusal is said before anyone is asked to confirm."""

    def __init__(self, page: str) -> None:
        super().__init__("confirmation first")
        self.page = page


@bp.get("/admin/users/<int:officer_id>")
def user(officer_id: int) -> tuple[str, int]:
    return _user_page(officer_id)


@bp.post("/admin/users/<int:officer_id>/active")
def set_active(officer_id: int) -> Response | str | tuple[str, int]:
    form = ActiveForm()
    back = request.form.get("back") == "user"
    if not form.validate_on_submit():
        return _users_page(UserForm(formdata=None), 400, error=_(INCOMPLETE))
    try:
        with transaction(triage().sessions) as session:
            officer = accounts.lookup(session, officer_id=officer_id)
            if officer.id == current_user.id or officer.awaiting_approval:
                accounts.set_active(officer, form.active.data, actor_id=current_user.id)
            if not form.active.data and not _confirmed(form):
                # Deactivating ends the officer's sessions: ask first.
                return _confirm(
                    _("Deactivate %(name)s?", name=officer.username),
                    url_for("admin.set_active", officer_id=officer_id),
                    url_for("admin.user", officer_id=officer_id) if back
                    else url_for("admin.users"),
                    _("Yes, deactivate"),
                    details=[_("They are signed out now and cannot sign in until an "
                               "administrator activates the account again.")],
                    fields={"back": "user" if back else ""},
                )  # fmt: skip
            accounts.set_active(officer, form.active.data, actor_id=current_user.id)
            record(session, "user.activate" if officer.active else "user.deactivate",
                   actor=current_user.username, username=officer.username)  # fmt: skip
    except AccountError as error:
        # Said on the page in the reader's language, never a bare 400 (issue 9).
        message = _(error.message, **error.params)
        if back:
            return _user_page(officer_id, 400, error=message)
        return _users_page(UserForm(formdata=None), 400, error=message)
    if back:
        return redirect(url_for("admin.user", officer_id=officer_id))
    return redirect(url_for("admin.users"))


@bp.post("/admin/users/<int:officer_id>/unlock")
def unlock(officer_id: int) -> Response | tuple[str, int]:
    """End a lock-out after failed sign-ins (accounts.MAX_FAILURES) before it runs out."""
    if not ConfirmForm().validate_on_submit():
        return _user_page(officer_id, 400, error=_(INCOMPLETE))
    try:
        with transaction(triage().sessions) as session:
            officer = accounts.lookup(session, officer_id=officer_id)
            was = accounts.unlock(officer)
            record(session, "user.unlock", actor=current_user.username,
                   username=officer.username, was_locked=was)  # fmt: skip
    except AccountError as error:
        return _user_page(officer_id, 400, error=_(error.message, **error.params))
    return _user_page(officer_id, done=_("Unlocked: the account may sign in again now."))


def _reset(officer_id: int, which: str) -> Any:
    form = ConfirmForm()
    if not form.validate_on_submit():
        return _user_page(officer_id, 400, error=_(INCOMPLETE))
    try:
        with transaction(triage().sessions) as session:
            officer = accounts.lookup(session, officer_id=officer_id)
            if which == "password":
                question = _("Reset the password of %(name)s?", name=officer.username)
                details = [_("The present password stops working and their sessions end. "
                             "They sign in with the new activation code in place of the "
                             "password and a code from their authenticator, then choose a "
                             "new password themselves.")]  # fmt: skip
                endpoint = "admin.reset_password"
            else:
                question = _("Reset the authenticator of %(name)s?", name=officer.username)
                details = [_("Their authenticator stops working and their sessions end. "
                             "They sign in with their password and the new activation code, "
                             "then set up an authenticator again.")]  # fmt: skip
                endpoint = "admin.reset_totp"
            # Refusals come before the question: nobody confirms what cannot be done.
            if which == "password":
                code = accounts.reset_password(officer, actor_id=current_user.id)
            else:
                code = accounts.reset_totp(officer, actor_id=current_user.id)
            if not _confirmed(form):
                raise _Ask(_confirm(question, url_for(endpoint, officer_id=officer_id),
                                    url_for("admin.user", officer_id=officer_id),
                                    _("Yes, reset"), details=details))  # fmt: skip
            record(session, _RESET_ACTIONS[which], actor=current_user.username,
                   username=officer.username)  # fmt: skip
    except _Ask as ask:
        return ask.page
    except AccountError as error:
        return _user_page(officer_id, 400, error=_(error.message, **error.params))
    done = (_("The password was reset. Give the officer this activation code in person; it "
              "is shown only now.") if which == "password" else
            _("The authenticator was reset. Give the officer this activation code in person; "
              "it is shown only now."))  # fmt: skip
    return _user_page(officer_id, done=done, activation=code)


@bp.post("/admin/users/<int:officer_id>/reset-password")
def reset_password(officer_id: int) -> Any:
    return _reset(officer_id, "password")


@bp.post("/admin/users/<int:officer_id>/reset-totp")
def reset_totp(officer_id: int) -> Any:
    return _reset(officer_id, "totp")


def _office(role: str, bureau: str | None, region: str | None) -> str:
    parts = [gettext_role(role)]
    if bureau:
        parts.append(_(reference.label(reference.BUREAUS, bureau)))
    if region:
        parts.append(region_words(region))
    return " · ".join(parts)


def gettext_role(code: str) -> str:
    return _(reference.label(ROLE_TERMS, code))


def region_words(code: str) -> str:
    """The region's full name, as the pages write it (reference.region_name)."""
    return reference.region_name(code) or code


@bp.post("/admin/users/<int:officer_id>/change")
def change(officer_id: int) -> Any:
    """Role, bureau or jurisdiction; a change that widens a reader's reading waits for a
    supervisor of the new office (the two-person rule, accounts.request_change)."""
    form = ChangeForm()
    if not form.validate_on_submit():
        return _user_page(officer_id, 400, change_form=form, error=_(INCOMPLETE))
    role, bureau, region = form.role.data, form.bureau.data, form.region.data.strip()
    try:
        with transaction(triage().sessions) as session:
            officer = accounts.lookup(session, officer_id=officer_id)
            changed = accounts.request_change(
                officer, role=role, bureau=bureau, region=region,
                actor=current_user.username, actor_id=current_user.id, approved_by=None,
            )  # fmt: skip
            if changed.outcome in ("applied", "waits") and not _confirmed(form):
                details = [
                    _("Now: %(office)s", office=_office(*changed.was)),
                    _("New: %(office)s", office=_office(role, bureau, region)),
                ]
                if changed.outcome == "waits":
                    details.append(_("This gives or widens a role that reads tips, so it "
                                     "takes effect only once a supervisor of the new bureau "
                                     "and jurisdiction approves it."))  # fmt: skip
                else:
                    details.append(_("It takes effect now, and their sessions end."))
                raise _Ask(_confirm(
                    _("Change the role, bureau or jurisdiction of %(name)s?",
                      name=officer.username),
                    url_for("admin.change", officer_id=officer_id),
                    url_for("admin.user", officer_id=officer_id), _("Yes, change"),
                    details=details, fields={"role": role, "bureau": bureau, "region": region},
                ))  # fmt: skip
            if changed.outcome in _CHANGE_ACTIONS:
                record(session, _CHANGE_ACTIONS[changed.outcome], actor=current_user.username,
                       username=officer.username, role=role, bureau=bureau, region=region,
                       was_role=changed.was[0], was_bureau=changed.was[1],
                       was_region=changed.was[2])  # fmt: skip
    except _Ask as ask:
        return ask.page
    except AccountError as error:
        target = form._fields.get(error.field)
        message = _(error.message, **error.params)
        if target is not None and error.field != "username":
            target.errors = [message]
        return _user_page(officer_id, 400, change_form=form, error=message)
    done = {
        "applied": _("Changed. The officer signs in again with the new role."),
        "waits": _("The change waits for a supervisor of the new bureau and jurisdiction to "
                   "approve it. Until then the account works as before."),
        "withdrawn": _("The change that waited for approval is withdrawn."),
        "unchanged": _("Nothing to change."),
    }[changed.outcome]  # fmt: skip
    return _user_page(officer_id, done=done)


def _approvals_page(
    approved: str | None = None, activation: str | None = None, error: str | None = None,
    changed: str | None = None,
) -> str:  # fmt: skip
    with triage().sessions() as session:
        me = session.get(Officer, current_user.id)
        officers = awaiting(session, me) if me is not None else []
        changes = changes_awaiting(session, me) if me is not None else []
        page = render_template(
            "triage/admin_approvals.html", officers=officers, approved=approved,
            activation=activation, error=error, changes=changes, changed=changed,
            form=ConfirmForm(formdata=None),
        )  # fmt: skip
    return page


@bp.get("/approvals")
def approvals() -> str:
    """The second person: a supervisor sees the accounts of their office that wait."""
    return _approvals_page()


@bp.post("/approvals/<int:officer_id>")
def approve(officer_id: int) -> Any:
    if not FlaskForm().validate_on_submit():
        return _approvals_page(error=_(INCOMPLETE)), 400
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


@bp.post("/approvals/changes/<int:officer_id>")
def approve_change(officer_id: int) -> Any:
    """The second person for a change of role, bureau or jurisdiction that widens a reader's
    reading; it takes effect now, with a confirmation step first."""
    form = ConfirmForm()
    if not form.validate_on_submit():
        return _approvals_page(error=_(INCOMPLETE)), 400
    try:
        with transaction(triage().sessions) as session:
            me = session.get(Officer, current_user.id)
            if me is None:
                abort(403)
            officer = session.get(Officer, officer_id)
            if officer is None:
                raise ApprovalRefused(N_("There is no such account."))
            reason = accounts.may_approve_change(me, officer)
            if reason is not None:
                raise ApprovalRefused(reason)
            # The supervisor approves the change shown, not whatever waits when they confirm.
            shown = {"pending_role": officer.pending_role or "",
                     "pending_bureau": officer.pending_bureau or "",
                     "pending_region": officer.pending_region or ""}  # fmt: skip
            if not _confirmed(form):
                assert officer.pending_role is not None
                return _confirm(
                    _("Approve the change of %(name)s?", name=officer.username),
                    url_for("admin.approve_change", officer_id=officer_id),
                    url_for("admin.approvals"), _("Yes, approve"),
                    details=[
                        _("Now: %(office)s", office=_office(officer.role, officer.bureau,
                                                              officer.region)),
                        _("New: %(office)s", office=_office(
                            officer.pending_role, officer.pending_bureau,
                            officer.pending_region)),
                        _("Asked for by %(name)s.", name=officer.change_requested_by or ""),
                    ],
                    fields=shown,
                )  # fmt: skip
            done = accounts.approve_change(
                session, officer_id, me,
                expected=tuple(request.form.get(name, "") or None for name in shown),
            )  # fmt: skip
            record(session, "user.change.approve", actor=current_user.username,
                   username=done.officer.username, role=done.officer.role,
                   bureau=done.officer.bureau, region=done.officer.region,
                   was_role=done.was[0], was_bureau=done.was[1],
                   was_region=done.was[2])  # fmt: skip
            name = done.officer.username
    except ApprovalRefused as refused:
        with transaction(triage().sessions) as session:
            record(session, "user.change.refused", actor=current_user.username,
                   officer_id=officer_id, reason=str(refused))  # fmt: skip
        abort(404)  # as for accounts: nothing of other offices is revealed
    return _approvals_page(changed=name)


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
    return render_template(
        "triage/admin_rules.html", form=form, packs=packs, pack_words=tipwords.pack_words
    ), status


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
