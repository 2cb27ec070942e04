"""The case pages of the internal site (blueprint ``cases``): the list, the case page with
its timeline, clocks, documents and one form per next allowed step, opening a case from a
tip, and the supervisor's board.

Every case is reached through ``scope.find_visible_case`` (a hidden case is 404, like a
tip). Views validate the forms and call ``services``; a ``CaseError`` is shown in the
officer's words on the page (400) with what was typed kept, and nothing is written.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, abort, current_app, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import func, nulls_last, select
from sqlalchemy.orm import Session
from wtforms.fields.choices import SelectChoice

from tipline.intake.db import transaction
from tipline.intake.models import Case, CaseDocument, Officer, Tip
from tipline.intake.submit import today
from tipline.intake.web import query_int
from tipline.intake.workdays import load_calendar
from tipline.triage import scope, triage
from tipline.triage.audit import record
from tipline.triage.cases import board as case_board
from tipline.triage.cases import casewords, lifecycle, services
from tipline.triage.cases.forms import (
    IRREVERSIBLE,
    CaseFilter,
    JoinCaseForm,
    OpenCaseForm,
    raw_of,
    step_form,
)
from tipline.triage.tips.tipwords import pack_scopes, pack_words

bp = Blueprint("cases", __name__)
PAGE = 50


def error_words(error: services.CaseError) -> str:
    """A refusal in the reader's language; a field named in it is translated too."""
    params = {k: _(v) if k in ("field",) and isinstance(v, str) else v
              for k, v in error.params.items()}  # fmt: skip
    return _(error.message, **params)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _find(session: Session, case_id: str) -> Case:
    case = scope.find_visible_case(session, current_user, case_id)
    if case is None:
        abort(404)
    return case


# --- the list ------------------------------------------------------------------------------


@bp.get("/cases")
def index() -> Any:
    page = query_int("page", 1, low=1)
    form = CaseFilter(request.args, meta={"csrf": False})
    valid = form.validate()
    query = scope.visible_cases(current_user)
    if valid and form.stage.data:
        query = query.where(Case.stage == form.stage.data)
    with triage().sessions() as session:
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        cases = session.scalars(
            query.order_by(Case.stage == "closed", nulls_last(Case.next_due.asc()),
                           Case.opened_on.desc(), Case.id)  # fmt: skip
            .limit(PAGE).offset((page - 1) * PAGE)
        ).all() if valid else []
        body = render_template(
            "triage/cases.html", cases=cases, total=total if valid else 0, filter_form=form,
            page=page, pages=max(1, -(-total // PAGE)), today=today(), words=casewords,
        )  # fmt: skip
    return body, 200 if valid else 400


# --- the case page -------------------------------------------------------------------------


def _team(session: Session, case: Case) -> list[tuple[str, str]]:
    """Who may be on the referral team: active officers of the bureau holding the case."""
    return [
        (o.username, o.username)
        for o in session.scalars(
            select(Officer).where(
                Officer.bureau == case.bureau, Officer.active.is_(True),
                Officer.region == case.handling_region,
                Officer.role.in_(("bureau_officer", "supervisor")),
            ).order_by(Officer.username)  # fmt: skip
        )
    ]


def _step_forms(
    session: Session, case: Case, bound: FlaskForm | None
) -> tuple[list[FlaskForm], list[str]]:
    """The forms of the steps the viewer may take now, and notes for those the page cannot
    offer (no control that would be refused, issue 9)."""
    team = _team(session, case)
    forms, notes = [], []
    for transition in services.next_steps(case, current_user):
        if bound is not None and bound.transition.action == transition.action:
            forms.append(bound)
        elif transition.action == "report_referral" and len(team) < 2:
            # 令310 art.5: a team of at least two; the bureau has fewer active officers.
            notes.append(_("A referral needs a team of at least two officers (令310 art.5)."))
        else:
            barred = case.court_fine and case.fine is None
            forms.append(step_form(transition, team, bound=False, fine_barred=barred))
    return forms, notes


def _document_link(case: Case, document: CaseDocument, fmt: str) -> str | None:
    # The documents work adds ``cases.document`` (case_id, doc_id, fmt in docx|pdf).
    if "cases.document" not in current_app.view_functions:
        return None
    return url_for("cases.document", case_id=case.id, doc_id=document.id, fmt=fmt)


def _case_page(
    case_id: str, bound: FlaskForm | None = None, error: str | None = None, status: int = 200
) -> Any:
    with transaction(triage().sessions) as session:
        case = _find(session, case_id)
        key = services.case_key(case, triage().keyring)
        body = services.details(case, key)
        now = _now()
        calendar = load_calendar(session)
        scopes = pack_scopes(session)
        officers = {
            o.id: o.username
            for o in session.scalars(select(Officer).where(Officer.id.in_(
                {e.actor_id for e in case.events if e.actor_id is not None}
            )))
        }  # fmt: skip
        documents: dict[int | None, list[dict[str, Any]]] = {}
        for d in case.documents:
            documents.setdefault(d.event_id, []).append({
                "doc": d, "name": casewords.document(d.kind),
                "docx": _document_link(case, d, "docx"), "pdf": _document_link(case, d, "pdf"),
            })  # fmt: skip
        timeline = [
            {
                "event": e, "who": officers.get(e.actor_id or -1, _("An officer")),
                "what": casewords.step(e.action), "stage": casewords.stage(e.to_stage),
                "entered": casewords.entered(services.event_data(e, key)),
                "documents": documents.get(e.id, []),
            }
            for e in case.events
        ]
        tip_rows = session.scalars(
            select(Tip).where(Tip.id.in_([link.tip_id for link in case.tips]))
        ).all()
        by_id = {t.id: t for t in tip_rows}
        tips = [
            {"id": link.tip_id, "first": link.position == 0, "joined_on": link.joined_on,
             "visible": scope.can_see(session, current_user, link.tip_id),
             "received_on": by_id[link.tip_id].received_on if link.tip_id in by_id else None}
            for link in case.tips
        ]  # fmt: skip
        parent = (scope.find_visible_case(session, current_user, case.parent_id)
                  if case.parent_id else None)  # fmt: skip
        subs = session.scalars(
            scope.visible_cases(current_user).where(Case.parent_id == case.id)
        ).all()
        steps, step_notes = _step_forms(session, case, bound)
        page = render_template(
            "triage/case.html", case=case, subject=body.get("subject", {}),
            findings=body.get("findings", ""), findings_log=body.get("findings_log", []),
            timeline=timeline, tips=tips,
            clocks=[casewords.clock(d, scopes, now, calendar) for d in case.deadlines],
            documents=[x for xs in documents.values() for x in xs],
            steps=steps, step_notes=step_notes, irreversible=IRREVERSIBLE,
            error=error, words=casewords, packs=pack_words(case.rule_packs, scopes),
            parent=parent, subs=subs, lifecycle=lifecycle,
        )  # fmt: skip
        # Opening the page shows the sealed subject and findings: a read of contents, audited
        # last, as the tip page does (the audit chain's lock just before the commit).
        record(session, "case.read", actor=current_user.username, case=case.id)
    return page, status


@bp.get("/cases/<case_id>")
def case(case_id: str) -> Any:
    return _case_page(case_id)


@bp.post("/cases/<case_id>/steps/<action>")
def step(case_id: str, action: str) -> Any:
    transition = lifecycle.BY_ACTION.get(action)
    if transition is None:
        with triage().sessions() as session:
            _find(session, case_id)  # 404 first: nothing tells a hidden case exists
        return _case_page(case_id, error=_("There is no such step."), status=400)
    with triage().sessions() as session:
        found = _find(session, case_id)
        problem = services.refusal(found, transition, current_user)
        form = step_form(transition, _team(session, found), bound=True)
    if problem:
        return _case_page(case_id, error=_(problem), status=400)
    if not form.validate_on_submit():
        return _case_page(case_id, bound=form, status=400)
    raw = raw_of(form)
    if action in IRREVERSIBLE and request.form.get("confirm") != "1":
        return _confirmation(case_id, form, raw)
    try:
        with transaction(triage().sessions) as session:
            services.apply(session, triage().keyring, _find(session, case_id), action,
                           current_user, raw)  # fmt: skip
    except services.CaseError as refused:
        return _case_page(case_id, bound=form, error=error_words(refused), status=400)
    with triage().sessions() as session:
        if scope.find_visible_case(session, current_user, case_id) is None:
            return redirect(url_for("cases.index"))
    return redirect(url_for("cases.case", case_id=case_id) + f"#{action}-done")


def _confirmation(case_id: str, form: FlaskForm, raw: dict[str, Any]) -> Any:
    """The second step of a step that cannot be undone: what will be recorded, the same
    fields again (hidden) with ``confirm=1``. The step is tried and rolled back first, so a
    step the rules refuse is refused now, in their words, not after the confirmation."""
    action = form.transition.action
    with triage().sessions() as session:
        try:
            services.apply(session, triage().keyring, _find(session, case_id), action,
                           current_user, raw)  # fmt: skip
        except services.CaseError as refused:
            session.rollback()
            return _case_page(case_id, bound=form, error=error_words(refused), status=400)
        session.rollback()
    with triage().sessions() as session:
        case = _find(session, case_id)
        data = services.clean(session, case, form.transition, raw, _now())
        hidden = []
        for name in form.step_fields:
            value = form[name].data
            values = value if isinstance(value, list) else [value]
            for v in values:
                if v in (None, ""):
                    continue
                text = v.isoformat() if isinstance(v, dt.date) else str(v)
                hidden.append((form[name].name, text))
        page = render_template(
            "triage/case_confirm.html", case=case, form=form, hidden=hidden,
            entered=casewords.entered(data), what=casewords.step(action),
            action=request.path, words=casewords, kind=action,
        )  # fmt: skip
    return page


# --- from the tip page ---------------------------------------------------------------------


def _joinable(session: Session, tip: Tip) -> list[Case]:
    """The open cases of the same office, bureau and seal that this tip may join."""
    return list(session.scalars(
        scope.visible_cases(current_user).where(
            Case.bureau == current_user.bureau, Case.handling_region == tip.handling_region,
            Case.sealed.is_(tip.sealed), Case.stage != "closed",
        ).order_by(Case.opened_on.desc(), Case.id).limit(200)
    ))  # fmt: skip


def tip_panel(session: Session, tip: Tip) -> dict[str, Any]:
    """What the tip page says of cases: the case the tip belongs to (a link, when the viewer
    may open it), or the forms that open one or join one, drawn only when the rules of
    services.open_case would take them (no dead controls, issue 9)."""
    from tipline.intake.models import CaseTip

    link = session.scalar(select(CaseTip).where(CaseTip.tip_id == tip.id))
    found = None
    if link is not None:
        found = scope.find_visible_case(session, current_user, link.case_id)
    may_open = (link is None and current_user.role in ("bureau_officer", "supervisor")
                and services.open_refusal([tip], current_user) is None)  # fmt: skip
    forms = g.get("case_forms") or {}
    open_form = forms.get("open") or OpenCaseForm(prefix="open_case", formdata=None)
    join_form = forms.get("join") or JoinCaseForm(prefix="join_case", formdata=None)
    joinable = _joinable(session, tip) if may_open else []
    join_form.case.choices = [SelectChoice("", _("Choose…"))] + [
        SelectChoice(c.id, f"{c.number} · {casewords.stage(c.stage)}") for c in joinable
    ]
    return {
        "case_link": found, "case_stage": casewords.stage(found.stage) if found else "",
        "case_in_other": link is not None and found is None,
        "may_open_case": may_open, "open_form": open_form, "join_form": join_form,
        "may_join_case": may_open and bool(joinable), "case_error": g.get("case_error"),
    }


def _tip_page_again(tip_id: str, error: str | None) -> Any:
    from tipline.triage.tips.views import _tip_page

    g.case_error = error
    return _tip_page(tip_id, status=400)


@bp.post("/tips/<tip_id>/case")
def open_case(tip_id: str) -> Any:
    form = OpenCaseForm(prefix="open_case")
    g.case_forms = {"open": form}
    if not form.validate_on_submit():
        return _tip_page_again(tip_id, None)
    try:
        with transaction(triage().sessions) as session:
            tip = scope.find_visible(session, current_user, tip_id)
            if tip is None:
                abort(404)
            made = services.open_case(session, triage().keyring.public_keyring(), current_user,
                                      [tip], form.subject(), form.findings.data or "")
            case_id = made.id
    except services.CaseError as refused:
        return _tip_page_again(tip_id, error_words(refused))
    return redirect(url_for("cases.case", case_id=case_id))


@bp.post("/tips/<tip_id>/join")
def join_case(tip_id: str) -> Any:
    form = JoinCaseForm(prefix="join_case")
    g.case_forms = {"join": form}
    with triage().sessions() as session:
        tip = scope.find_visible(session, current_user, tip_id)
        if tip is None:
            abort(404)
        form.case.choices = [SelectChoice(c.id, c.number) for c in _joinable(session, tip)]
    if not form.validate_on_submit():
        return _tip_page_again(tip_id, None)
    try:
        with transaction(triage().sessions) as session:
            tip = scope.find_visible(session, current_user, tip_id)
            joined = scope.find_visible_case(session, current_user, form.case.data)
            if tip is None or joined is None:
                abort(404)
            services.join_case(session, joined, tip, current_user)
            case_id = joined.id
    except services.CaseError as refused:
        return _tip_page_again(tip_id, error_words(refused))
    return redirect(url_for("cases.case", case_id=case_id))


# --- the board -----------------------------------------------------------------------------


@bp.get("/board")
def board() -> Any:
    now = _now()
    with triage().sessions() as session:
        calendar = load_calendar(session)
        # Hour clocks (T11, T12) by the instant: an hour limit past this morning is overdue.
        found = case_board.board(session, current_user, today(), calendar, now=now)
        scopes = pack_scopes(session)

        def rows(pairs: list[Any]) -> list[dict[str, Any]]:
            return [{"case": c, "clock": casewords.clock(d, scopes, now, calendar)}
                    for c, d in pairs]  # fmt: skip

        body = render_template(
            "triage/case_board.html", overdue=rows(found.overdue), due_soon=rows(found.due_soon),
            supervised=found.supervised, suggested=found.suggest_supervision,
            counts=found.counts, words=casewords, today=today(),
        )  # fmt: skip
    return body
