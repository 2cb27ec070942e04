"""The workspace: inbox, tip page, decisions, tips entered by officers.

Every tip is reached through ``scope`` (a hidden tip is 404) and every decryption is
audited. Views validate forms and call ``decisions``; they hold no rules of their own.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import Blueprint, abort, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, nulls_last, select
from sqlalchemy.orm import Session, selectinload
from werkzeug.wrappers import Response

from tipline.intake import receipts, reference
from tipline.intake.db import transaction
from tipline.intake.followup import add_message
from tipline.intake.headers import content_disposition
from tipline.intake.models import IdentityRequest, Officer, Tip
from tipline.intake.reading import OpenedTip, open_tip
from tipline.intake.reference import N_
from tipline.intake.scrub import ALLOWED_EXTENSIONS
from tipline.intake.submit import (
    InvalidReport,
    Problem,
    Report,
    ReporterIdentity,
    parse_amount,
    problem_text,
    today,
    validate,
)
from tipline.intake.web import files_chosen, query_int, uploads_of
from tipline.intake.workdays import load_calendar
from tipline.triage import access, clocks, scope, triage
from tipline.triage.audit import record
from tipline.triage.cases import views as case_views
from tipline.triage.tips import alerts, assignment, decisions, notices, tipwords
from tipline.triage.tips import inbox as inbox_search
from tipline.triage.tips.forms import (
    STATUS_CHOICES,
    AssignForm,
    DecisionForms,
    EntryForm,
    InboxFilter,
)

bp = Blueprint("triage", __name__)
PAGE = 50


def inbox_query(viewer: scope.Viewer, search: inbox_search.Search) -> Any:
    """The officer's tips with the inbox filters; the same query serves page and API."""
    return inbox_search.apply(scope.visible_tips(viewer), search, viewer, today())


def ordered(query: Any) -> Any:
    """Nearest deadline first (tips with no open clock last), then oldest."""
    return query.order_by(nulls_last(Tip.next_due.asc()), Tip.received_on, Tip.id)


def _offer(field: Any, terms: Any, allowed: Any, present: set[Any]) -> None:
    """The list of a filter: the codes that apply to the viewer and find a tip, with the
    one already chosen kept (a search may find nothing, and still be shown as asked)."""
    chosen = field.data if field.data in allowed else None
    field.choices = [("", _("Any"))] + [
        (t.code, _(t.label))
        for t in terms
        if t.code in allowed and (t.code in present or t.code == chosen)
    ]


def inbox_form(session: Session, viewer: scope.Viewer) -> InboxFilter:
    """The inbox's search form, offering only what applies to the viewer."""
    form = InboxFilter(request.args, meta={"csrf": False})
    seen = inbox_search.present
    _offer(form.status, reference.STATUSES, STATUS_CHOICES, seen(session, viewer, Tip.status))
    leads = seen(session, viewer, Tip.bureau)
    _offer(form.bureau, reference.BUREAUS, reference.codes(reference.BUREAUS), leads)
    _offer(form.category, reference.CATEGORIES, reference.codes(reference.CATEGORIES),
           seen(session, viewer, Tip.category))  # fmt: skip
    _offer(form.channel, reference.CHANNELS, reference.codes(reference.CHANNELS),
           seen(session, viewer, Tip.channel))  # fmt: skip
    bands = inbox_search.AMOUNT_BANDS
    _offer(form.amount_band, bands, reference.codes(bands), seen(session, viewer, Tip.amount_band))
    # A bureau's officer sees its own bureau's tips, and others' only where it co-handles.
    form.offers_bureau = inbox_search.chooses_bureau(viewer, leads)
    cities, counties = inbox_search.region_lists(viewer, form.city.data)
    if cities and form.county.data not in {r.code for r in counties}:
        # Another city chosen since: its counties are offered afresh, as on the portal.
        form.county.data = ""
    form.city.choices = [("", _("Any"))] + [(r.code, r.name) for r in cities]
    form.county.choices = [("", _("Any"))] + [(r.code, r.name) for r in counties]
    return form


def search_of(form: InboxFilter) -> inbox_search.Search:
    """The checked form as a search."""
    real_name = form.real_name.data
    return inbox_search.Search(
        tip_id=(form.tip_id.data or "").strip().lower() or None,
        received_from=form.received_from.data,
        received_to=form.received_to.data,
        region=form.county.data or form.city.data or None,
        amount_band=form.amount_band.data or None,
        channel=form.channel.data or None,
        real_name=None if not real_name else real_name == "yes",
        status=form.status.data or None,
        bureau=form.bureau.data or None,
        category=form.category.data or None,
        overdue=bool(form.overdue.data),
        mine=bool(form.mine.data),
    )


@bp.get("/")
def inbox() -> Any:
    page = query_int("page", 1, low=1)  # ASCII digits, bounded: 400 otherwise
    with triage().sessions() as session:
        form = inbox_form(session, current_user)
        valid = form.validate()
        query = inbox_query(current_user, search_of(form) if valid else inbox_search.Search())
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        by_status = dict(
            session.execute(
                select(Tip.status, func.count())
                .where(scope.visibility(current_user))
                .group_by(Tip.status)
            ).all()
        )
        overdue = session.scalar(
            select(func.count()).where(scope.visibility(current_user), Tip.next_due < today())
        )
        mine = session.scalar(
            select(func.count()).where(
                scope.visibility(current_user), Tip.assigned_to == current_user.id
            )
        )
        unread = inbox_search.unread_count(session, current_user)
        # An invalid search lists nothing: the page says what to correct instead.
        tips = (
            session.scalars(
                ordered(query).options(selectinload(Tip.deadlines))
                .limit(PAGE).offset((page - 1) * PAGE)
            ).all()
            if valid else []
        )  # fmt: skip
        marks = inbox_search.marks(session, current_user.id, [t.id for t in tips])
        holders = inbox_search.usernames(session, (t.assigned_to for t in tips))
        calendar = load_calendar(session)
        # domain.md T2: decided, the reporter asked to be told, not told yet.
        owed = notices.due_notices(session, current_user)
        guessed = clocks.fallback_years(
            session, calendar, scope.visibility(current_user),
            case_condition=scope.case_visibility(current_user),
        )  # fmt: skip
        rows = [_row(tip, calendar, marks, holders) for tip in tips]
    page_body = render_template(
        "triage/inbox.html",
        tips=tips,
        rows=rows,
        total=total if valid else 0,
        by_status=by_status,
        overdue=overdue or 0,
        mine=mine or 0,
        unread=unread,
        filter_form=form,
        searched=valid and any(v for k, v in request.args.items() if k != "page"),
        page=page,
        pages=max(1, -(-total // PAGE)),
        today=today(),
        owed=owed,
        guessed=guessed,
    )
    return page_body, 200 if valid else 400


def _row(
    tip: Tip, calendar: Any, marks: inbox_search.Marks, holders: dict[int, str]
) -> dict[str, Any]:
    """What one inbox row says about a tip, in words."""
    due = inbox_search.nearest(tip)
    return {
        "tip": tip,
        "unread": tip.id in marks.unread,
        "news": tip.id in marks.news,
        "age": inbox_search.age(tip, today(), calendar),
        "deadline": due,
        "deadline_rule": inbox_search.rule_name(due.rule) if due else None,
        "deadline_words": inbox_search.deadline_words(due, today(), calendar) if due else None,
        "amount_band": (
            _(reference.label(inbox_search.AMOUNT_BANDS, tip.amount_band))
            if tip.amount_band
            else None
        ),
        "holder": holders.get(tip.assigned_to) if tip.assigned_to is not None else None,
        "place": inbox_search.place_name(tip.region, current_user.region),
    }


def open_visible(session: Session, tip_id: str, *, audit: bool = True) -> OpenedTip:
    """The tip, decrypted, if the officer may see it (404 otherwise); the reading is audited
    in the same transaction (a caller passing ``audit=False`` records it itself, later).

    One request, one audit entry: a view that shows contents records one reading (the page
    ``tip.read``, or ``identity.read`` when it also shows the reporter's identity; a download
    ``attachment.read``; the API's tip ``tip.read``), and a decision records the decision
    alone, since it shows nothing (its redirect is a new view, with its own reading). Those
    callers pass ``audit=False``; the default stays on, so a new caller is never unaudited."""
    tip = scope.find_visible(session, current_user, tip_id)
    if tip is None:
        abort(404)
    opened = open_tip(tip, triage().keyring)
    if audit:
        record(session, "tip.read", actor=current_user.username, tip_id=tip_id)
    return opened


def _tip_page(tip_id: str, forms: DecisionForms | None = None, status: int = 200) -> Any:
    forms = forms or DecisionForms.blank()
    with transaction(triage().sessions) as session:
        opened = open_visible(session, tip_id, audit=False)
        requests = session.scalars(
            select(IdentityRequest).where(IdentityRequest.tip_id == tip_id)
        ).all()
        identity = None
        if any(r.requester_id == current_user.id and r.state == "approved" for r in requests):
            identity = decisions.open_identity(
                session, current_user, opened.tip, triage().keyring, audit=False
            )
        co_handler = decisions.is_co_handler(opened.tip, current_user)
        forms.start_on(opened.tip)
        page = render_template(
            "triage/tip.html",
            tip=opened.tip,
            opened=opened,
            attachments=opened.attachments(),
            messages=opened.messages(),
            notes=decisions.notes(opened, session),
            co_bureaus=opened.tip.co_bureau_codes,
            requests=requests,
            request_details=request_details(session, opened, requests),
            identity=identity,
            forms=forms,
            today=today(),
            notice_due=notices.is_due(opened.tip),
            notices_given=notices.given(session, opened.tip),
            notice_channels=notices.CHANNELS,
            # The lead's controls are drawn from the rules that refuse them (decisions.py).
            co_handler=co_handler,
            co_accept_refusal=(
                decisions.co_accept_refusal(opened.tip, current_user.bureau) if co_handler else None
            ),
            issues_notice=notices.issues_notice(opened.tip, current_user),
            **tipwords.page_context(session, opened, current_user),
            assign=assignment.panel(session, current_user, opened.tip, g.get("assign_errors", [])),
            # The case the tip belongs to, or the forms that open or join one (cases/views.py).
            **case_views.tip_panel(session, opened.tip),
        )
        mark_opened(session, tip_id)
        # Recorded last: appending to the audit chain serialises writers, so the lock is
        # taken after the decryption and rendering, just before the commit. One entry for
        # the view: the identity's opening, when the page shows it, covers the contents.
        if identity is None:
            record(session, "tip.read", actor=current_user.username, tip_id=tip_id)
        else:
            record(session, "identity.read", actor=current_user.username, tip_id=tip_id,
                   purpose="tip")  # fmt: skip
    return page, status


def mark_opened(session: Session, tip_id: str) -> None:
    """The officer has seen the tip as it stands (its page or the API's read of it, once it
    is made: a hidden tip answered 404 before): the inbox's read mark and its alerts, both."""
    inbox_search.mark_read(session, current_user.id, tip_id, today())
    alerts.mark_opened(session, current_user, tip_id)


@bp.get("/tips/<tip_id>")
def tip(tip_id: str) -> Any:
    return _tip_page(tip_id)


def _act(
    tip_id: str, form_name: str, action: Any, confirm: Any = None, request_id: int | None = None
) -> Any:
    """Validate one of the tip page's forms and run ``action(session, opened, form)``.

    ``confirm(form)`` true: a decision that cannot be undone (issue 9). The first POST shows
    what it will do (``_confirmation``); only the POST that carries ``confirm=1`` acts."""
    forms = DecisionForms.blank()
    form = forms.bind(form_name)
    if not form.validate_on_submit():
        return _tip_page(tip_id, forms, 400)
    if confirm is not None and confirm(form) and request.form.get("confirm") != "1":
        return _confirmation(tip_id, forms, form_name, action, request_id)
    try:
        with transaction(triage().sessions) as session:
            opened = open_visible(session, tip_id, audit=False)  # the decision is the entry
            action(session, opened, form)
    except (decisions.DecisionError, InvalidReport) as error:
        if isinstance(error, InvalidReport):
            form.form_errors.append(problem_text(error.problems[0]))
        else:
            form.form_errors.append(_(str(error.args[0])))
        return _tip_page(tip_id, forms, 400)
    with triage().sessions() as session:
        # A tip sent to a bureau or office out of the officer's sight (a transfer): the
        # inbox, not a page that is now 404.
        if not scope.can_see(session, current_user, tip_id):
            return redirect(url_for("triage.inbox"))
    return redirect(url_for("triage.tip", tip_id=tip_id))


def _always(form: Any) -> bool:
    return True


def _confirmation(
    tip_id: str, forms: DecisionForms, form_name: str, action: Any, request_id: int | None = None
) -> Any:
    """The second step of an irreversible decision: what will happen, the same fields again
    (hidden) with ``confirm=1`` and the form's CSRF token, and a way back.

    Nothing is changed: the decision is tried and rolled back, so one the rules would refuse
    is refused here already, in their words, and not after the officer has confirmed it."""
    form = forms.forms[form_name]
    with triage().sessions() as session:
        try:
            action(session, open_visible(session, tip_id, audit=False), form)
        except (decisions.DecisionError, InvalidReport) as error:
            session.rollback()
            if isinstance(error, InvalidReport):
                form.form_errors.append(problem_text(error.problems[0]))
            else:
                form.form_errors.append(_(str(error.args[0])))
            return _tip_page(tip_id, forms, 400)
        session.rollback()
    with transaction(triage().sessions) as session:
        opened = open_visible(session, tip_id, audit=False)
        found = session.get(IdentityRequest, request_id) if request_id is not None else None
        details = request_details(session, opened, [found]) if found is not None else {}
        page = render_template(
            "triage/confirm.html", tip=opened.tip, form=form, kind=form_name,
            action=request.path, identity_request=found,
            request_detail=details.get(found.id) if found is not None else None,
        )  # fmt: skip
        # The page shows the request's reason, decrypted: a reading of the tip.
        if found is not None:
            record(session, "tip.read", actor=current_user.username, tip_id=tip_id)
    return page


def request_details(
    session: Session, opened: OpenedTip, requests: Any
) -> dict[int, dict[str, Any]]:
    """Who asked and why, for the identity requests the viewer may decide (issue 9: a
    supervisor does not decide blind). The reason is sealed under the tip's key; it is
    opened only where the tip is, and its reading is the tip's (audited with it)."""
    shown: dict[int, dict[str, Any]] = {}
    for r in requests:
        if access.refusal("triage.identity_decision", opened.tip, current_user, request=r):
            continue
        requester = session.get(Officer, r.requester_id)
        shown[r.id] = {
            "requester": requester.username if requester is not None else "",
            "reason": decisions.request_reason(opened, r),
        }
    return shown


@bp.post("/tips/<tip_id>/messages")
def send_message(tip_id: str) -> Any:
    def action(session: Session, opened: OpenedTip, form: Any) -> None:
        add_message(
            session, opened, form.text.data, author="officer",
            officer_id=current_user.id, asks_reply=form.asks_reply.data,
        )  # fmt: skip
        record(session, "message.send", actor=current_user.username, tip_id=tip_id)

    return _act(tip_id, "message", action)


@bp.post("/tips/<tip_id>/route")
def route(tip_id: str) -> Any:
    return _act(
        tip_id,
        "route",
        lambda s, o, f: decisions.confirm_routing(
            s, o, current_user, f.bureau.data, f.reason.data or ""
        ),
    )


@bp.post("/tips/<tip_id>/accept")
def accept(tip_id: str) -> Any:
    return _act(tip_id, "accept", lambda s, o, f: decisions.accept(s, o, current_user))


@bp.post("/tips/<tip_id>/refuse")
def refuse(tip_id: str) -> Any:
    return _act(
        tip_id,
        "refuse",
        # A form posted without its optional text field gives None: no text (never a 500).
        lambda s, o, f: decisions.refuse(s, o, current_user, f.reason.data, f.text.data or ""),
        confirm=_always,
    )


@bp.post("/tips/<tip_id>/transfer")
def transfer(tip_id: str) -> Any:
    return _act(
        tip_id,
        "transfer",
        lambda s, o, f: decisions.transfer(
            s, o, current_user, f.bureau.data, f.region.data or None, f.text.data or ""
        ),
        confirm=_always,
    )


@bp.post("/tips/<tip_id>/notes")
def note(tip_id: str) -> Any:
    return _act(tip_id, "note", lambda s, o, f: decisions.add_note(s, o, current_user, f.text.data))


@bp.post("/tips/<tip_id>/duplicate")
def duplicate(tip_id: str) -> Any:
    def action(session: Session, opened: OpenedTip, form: Any) -> None:
        other = scope.find_visible(session, current_user, form.other.data.strip())
        if other is None:
            raise decisions.DecisionError(N_("There is no tip with this number that you can see."))
        decisions.link_duplicate(session, current_user, opened.tip, other)

    return _act(tip_id, "duplicate", action)


@bp.post("/tips/<tip_id>/identity-requests")
def identity_request(tip_id: str) -> Any:
    return _act(
        tip_id,
        "identity",
        lambda s, o, f: decisions.request_identity(s, o, current_user, f.reason.data),
    )


@bp.post("/tips/<tip_id>/identity-requests/<int:request_id>")
def identity_decision(tip_id: str, request_id: int) -> Any:
    def action(session: Session, opened: OpenedTip, form: Any) -> None:
        found = session.get(IdentityRequest, request_id)
        if found is None or found.tip_id != opened.tip.id:
            abort(404)
        decisions.decide_identity(session, current_user, found, form.decision.data == "approve")

    # Approving opens the reporter's identity to the requester: that takes the second step;
    # rejecting does not (they may ask again).
    return _act(
        tip_id, "decide", action, confirm=lambda f: f.decision.data == "approve",
        request_id=request_id,
    )  # fmt: skip


@bp.post("/tips/<tip_id>/recuse")
def recuse(tip_id: str) -> Any:
    forms = DecisionForms.blank()
    if not forms.bind("recuse").validate_on_submit():
        return _tip_page(tip_id, forms, 400)
    if request.form.get("confirm") != "1":
        return _confirmation(
            tip_id, forms, "recuse", lambda s, o, f: decisions.recuse(s, current_user, o.tip)
        )
    with transaction(triage().sessions) as session:
        found = scope.find_visible(session, current_user, tip_id)
        if found is None:
            abort(404)
        decisions.recuse(session, current_user, found)
    return redirect(url_for("triage.inbox"))


@bp.post("/tips/<tip_id>/seal")
def seal(tip_id: str) -> Any:
    """Seal the tip for discipline inspection (decisions.seal_tip), after the confirmation
    step; the officer no longer sees it and lands on the inbox."""
    return _act(
        tip_id, "seal",
        lambda s, o, f: decisions.seal_tip(s, o, current_user, f.reason.data or ""),
        confirm=_always,
    )  # fmt: skip


@bp.post("/tips/<tip_id>/assign")
def assign(tip_id: str) -> Any:
    """Assign the tip to an officer, take it on, or give it back (assignment.py)."""
    form = AssignForm(prefix="assign")
    if not form.validate_on_submit():
        g.assign_errors = [e for errors in form.errors.values() for e in errors]
        return _tip_page(tip_id, status=400)
    raw = (form.officer.data or "").strip()
    if raw and not raw.isascii() or raw and not raw.isdigit():
        g.assign_errors = [_(assignment.NOT_ELIGIBLE)]
        return _tip_page(tip_id, status=400)
    try:
        with transaction(triage().sessions) as session:
            found = scope.find_visible(session, current_user, tip_id)
            if found is None:
                abort(404)
            assignment.assign(session, current_user, found, int(raw) if raw else None)
    except decisions.DecisionError as error:
        g.assign_errors = [_(str(error.args[0]))]
        return _tip_page(tip_id, status=400)
    return redirect(url_for("triage.tip", tip_id=tip_id) + "#assignment")


@bp.get("/tips/<tip_id>/notice")
def notice_document(tip_id: str) -> Any:
    """The printable 告知书 (domain.md T2), with the reporter's name and how to reach them
    (screen only). Opening the name is audited in the same transaction."""
    with transaction(triage().sessions) as session:
        tip = scope.find_visible(session, current_user, tip_id)
        if tip is None:
            abort(404)
        if not notices.issues_notice(tip, current_user):
            abort(403)  # a co-handling bureau sees the tip, not the reporter's contact
        try:
            doc = notices.document(session, tip, current_user)
            contact = notices.reporter_name(session, current_user, tip, triage().keyring)
        except notices.NoticeRefused as refused:
            return render_template("triage/notice.html", tip=tip, error=_(str(refused.args[0])),
                                   document=None, contact=None), 409  # fmt: skip
        doc = replace(doc, reporter_name=str(contact.get("name") or ""))
        document = notices.render_document(doc)
        page = render_template(
            "triage/notice.html", tip=tip, document=document, contact=contact, error=None,
            notice_due=notices.is_due(tip), form=forms_for_notice(),
            channel_label=notices.channel_label,
        )  # fmt: skip
    return page


def forms_for_notice() -> Any:
    return DecisionForms.blank().notice


@bp.post("/tips/<tip_id>/notice")
def give_notice(tip_id: str) -> Any:
    return _act(
        tip_id,
        "notice",
        lambda s, o, f: notices.give(s, o, current_user, f.channel.data, f.given_on.data),
    )


@bp.get("/tips/<tip_id>/attachments/<attachment_id>")
def attachment(tip_id: str, attachment_id: str) -> Response:
    session = triage().sessions()
    try:
        opened = open_visible(session, tip_id, audit=False)  # attachment.read, below
        info = next((a for a in opened.attachments() if a.id == attachment_id), None)
        if info is None:
            abort(404)
        # The whole answer is made before the reading is audited, and its headers cannot
        # fail whatever the reporter named the file: the audit records only what is served.
        content = opened.attachment_content(session, attachment_id)
        response = Response(_closing(content, session), mimetype="application/octet-stream")
        # Always a download, never rendered: a file from a reporter is not trusted markup.
        response.headers["Content-Disposition"] = content_disposition(info.filename)
        response.headers["Content-Length"] = str(info.size)
        record(
            session,
            "attachment.read",
            actor=current_user.username,
            tip_id=tip_id,
            attachment=attachment_id,
        )
        session.commit()
    except BaseException:
        session.close()
        raise
    return response


def _closing(content: Iterator[bytes], session: Session) -> Iterator[bytes]:
    """The file's chunks, then the session closed (also when the client goes away)."""
    try:
        yield from content
    finally:
        session.close()


# The shared validators speak to the reporter ("your card"); on the entry form an officer
# types for someone else, so the same faults are told in the officer's words.
OFFICER_WORDS = {
    N_("Give your name as on your identity card."): N_(
        "Give the reporter's name as on their identity card."
    ),
    N_("Give your resident identity card number."): N_(
        "Give the reporter's resident identity card number."
    ),
    N_("This number has a typing mistake: please check each digit against your card."): N_(
        "This number has a typing mistake: its check digit does not match. Check each digit "
        "with the reporter."
    ),
    N_("Give a telephone number where the officers can reach you."): N_(
        "Give a telephone number where the reporter can be reached."
    ),
    N_("Choose how you know from the list."): N_("Choose from the list how the reporter knows."),
    N_("To be told of acceptance, report under your real name."): N_(
        "To be told whether the tip is accepted, the reporter must give their name, resident "
        "identity card number and telephone."
    ),
}
# A service's problem shown at the form field that gives the value.
ENTRY_FIELDS = {"region": "province"}


def _show_entry_problems(form: EntryForm, problems: list[Problem], *, only_new: bool) -> None:
    """The service's problems at their fields, in the officer's words; ``only_new`` skips a
    field the form's own validators already marked (the same fault said twice)."""
    for problem in problems:
        field = getattr(form, ENTRY_FIELDS.get(problem.field, problem.field), None) or form.text
        if only_new and field.errors:
            continue
        words = OFFICER_WORDS.get(problem.message)
        message = _(words) if words else problem_text(problem)
        if message not in field.errors:
            field.errors = [*field.errors, message]


def _entry_amount(raw: str | None) -> Decimal | None:
    try:
        return parse_amount(raw)  # the public form's forgiving reading (15万, ¥150,000)
    except InvalidOperation:
        return None  # the form's own validator has said why


def _entry_report(form: EntryForm) -> Report:
    """The report the form describes, whether or not its own validators passed, so that
    the service's checks (identity, dates in order, the place, the files) run in the same
    round and every problem is shown at once."""
    return Report(
        category=form.category.data or "",
        region=form.region_code() or "",
        text=form.text.data or "",
        channel=form.channel.data or "",
        received_on=form.received_on.data,
        fund=form.fund.data or None,
        suspect_kind=form.suspect_kind.data or None,
        unit_level=form.unit_level.data or None,
        suspect_name=form.suspect_name.data,
        happened_start=form.happened_start.data,
        happened_end=form.happened_end.data,
        ongoing=bool(form.ongoing.data),
        how_known=form.how_known.data or None,
        amount=_entry_amount(form.amount.data),
        identity=ReporterIdentity(
            name=form.name.data or "", id_number=form.id_number.data or "",
            phone=form.phone.data or "",
        ) if form.has_identity() else None,
        wants_notice=bool(form.wants_notice.data),
        uploads=uploads_of(form.attachments.data),
    )  # fmt: skip


def _expired(form: EntryForm) -> bool:
    """Whether the form's CSRF token was refused (there is none when CSRF is off)."""
    token = getattr(form, "csrf_token", None)
    return bool(token is not None and token.errors)


def _entry_page(form: EntryForm, status: int = 200) -> tuple[str, int]:
    limits = triage().config.limits
    return render_template(
        "triage/enter.html", form=form, limits=limits, expired=_expired(form),
        accept=",".join(sorted(ALLOWED_EXTENSIONS)),
        # Files never survive a form shown again: the officer is told to choose them again.
        files_dropped=files_chosen(form.attachments.data),
    ), status  # fmt: skip


@bp.route("/tips/new", methods=["GET", "POST"])
def enter_tip() -> Any:
    """A tip that came by phone, letter, fax, e-mail or a visit, entered by an officer."""
    form = EntryForm()
    if not form.is_submitted():
        form.fill_regions(default=current_user.region)  # the office's own place to start
        return _entry_page(form)
    form.fill_regions()
    if request.form.get("refine"):
        # Without JavaScript, choosing a province or city sends the form back with the next
        # list filled in (the public form's picker); nothing is checked or stored yet.
        return _entry_page(form)
    valid = form.validate()
    if _expired(form):
        return _entry_page(form, 400)
    report = _entry_report(form)
    if not valid:
        _show_entry_problems(form, validate(report, limits=triage().config.limits)[1],
                             only_new=True)  # fmt: skip
        return _entry_page(form, 400)
    wants_receipt = bool(form.wants_receipt.data)
    try:
        stored = triage().submitter.submit(report, with_receipt=wants_receipt)
    except InvalidReport as error:
        _show_entry_problems(form, error.problems, only_new=False)
        return _entry_page(form, 400)
    with transaction(triage().sessions) as session:
        # The audit says a tip was entered, never its receipt (nor that one was drawn).
        record(session, "tip.enter", actor=current_user.username, tip_id=stored.tip_id)
        visible = scope.can_see(session, current_user, stored.tip_id)
    if stored.receipt is not None:
        # Post/redirect/get, as on the public site: the code waits sealed in this officer's
        # session cookie (intake/receipts.py), for the one showing of entry_receipt.
        receipts.keep(stored.receipt.display, form_token=None, review_days=None, contents="",
                      tip_id=stored.tip_id)  # fmt: skip
        return redirect(url_for("triage.entry_receipt"), code=303)
    if visible:
        return redirect(url_for("triage.tip", tip_id=stored.tip_id))
    return redirect(url_for("triage.inbox"))


@bp.get("/tips/new/receipt")
def entry_receipt() -> Any:
    """The receipt code of the tip just entered, to read out or print for the reporter.

    Shown once: the sealed code is taken out of the session as the page is made, so a
    reload, Back or a second tab shows only that it was given. It is in no URL, no log and
    no audit entry; the tip keeps only its verifier (crypto/receipt.py)."""
    pending = receipts.pending()
    receipts.forget()
    if pending is None or pending.tip_id is None:
        return render_template("triage/entry_receipt.html", receipt=None, tip_id=None)
    with triage().sessions() as session:
        visible = scope.can_see(session, current_user, pending.tip_id)
        tip = session.get(Tip, pending.tip_id)
        received_on = tip.received_on if tip is not None else today()
    config = triage().config
    return render_template(
        "triage/entry_receipt.html",
        receipt=pending.receipt,
        groups=pending.receipt.split(),
        received_on=received_on,
        tip_id=pending.tip_id if visible else None,
        portal_name=config.site_name or _("Social Insurance Fund Fraud Reports"),
        portal_url=config.portal_url,
        operator=config,
    )


@bp.get("/alerts")
def alerts_page() -> str:
    """The officer's alerts (alerts.py); opening the page marks them seen."""
    with transaction(triage().sessions) as session:
        found = alerts.current(session, current_user)
        tips = {
            row.id: {"category": row.category, "region": row.region}
            for row in session.execute(
                select(Tip.id, Tip.category, Tip.region).where(
                    scope.visibility(current_user), Tip.id.in_({a.tip_id for a in found})
                )
            )
        }
        alerts.mark_seen(session, current_user, found)
    # Committed first, so the menu on this very page counts them seen; the list still
    # shows which were new.
    return render_template(
        "triage/alerts.html", alerts=found, tips=tips, terms=alerts.TERMS,
        deadline_terms=alerts.DEADLINE_TERMS,
    )  # fmt: skip


@bp.app_context_processor
def _alert_count() -> dict[str, Any]:
    return {"alert_count": unseen_alerts}


def unseen_alerts() -> int:
    """How many alerts the signed-in officer has not seen, for the menu."""
    if not current_user.is_authenticated or current_user.role not in scope.TIP_ROLES:
        return 0
    with triage().sessions() as session:
        return alerts.unseen_count(session, current_user)


__all__ = ["bp", "reference"]
