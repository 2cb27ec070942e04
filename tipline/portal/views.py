"""Public pages: report, receipt, come back with it. Views stay thin (STYLE.md point 4)."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import (
    Blueprint,
    abort,
    flash,
    get_flashed_messages,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response

from tipline.crypto import MalformedReceipt, ReceiptTypo, parse_receipt
from tipline.intake import receipts, reference
from tipline.intake.db import transaction
from tipline.intake.followup import add_evidence, add_identity, add_message
from tipline.intake.reading import (
    OpenedTip,
    ReceiptNotFound,
    open_as_reporter,
    reporter_identity,
    reporter_key,
)
from tipline.intake.rules import Facts, RuleBook, shipped_packs
from tipline.intake.scrub import ALLOWED_EXTENSIONS
from tipline.intake.submit import (
    AlreadyReceived,
    InvalidReport,
    Problem,
    Report,
    ReporterIdentity,
    parse_amount,
    problem_text,
    today,
    validate,
)
from tipline.intake.web import files_chosen, uploads_of
from tipline.portal import portal, reporter
from tipline.portal.forms import (
    CheckForm,
    EvidenceForm,
    IdentityForm,
    MessageForm,
    ReceiptDoneForm,
    ReportForm,
    SignOutForm,
)
from tipline.portal.limits import spend_receipt_attempt, submissions
from tipline.portal.status import (
    NOTICES,
    evidence_hint,
    fund_words,
    status_words,
    timeline,
    when_words,
)

bp = Blueprint("portal", __name__)


@bp.get("/")
def index() -> str:
    return render_template("portal/index.html")


# Service fields shown by another form field: the region code is chosen with three lists.
FIELD_ALIASES = {"region": "province", "wants_notice": "anonymous"}


def show_problems(
    form: FlaskForm, problems: list[Problem], fallback: str, *, only_new: bool = False
) -> None:
    """Tie the service's problems to the form's fields, translated. ``only_new``: skip a
    field the form's own validators already marked (the same fault said twice)."""
    for problem in problems:
        name = FIELD_ALIASES.get(problem.field, problem.field)
        field = getattr(form, name, None) or getattr(form, fallback)
        if only_new and field.errors:
            continue
        message = problem_text(problem)
        if message not in field.errors:
            field.errors = [*field.errors, message]


def _report_page(form: ReportForm, status: int = 200, *, already_received: bool = False
                 ) -> tuple[str, int]:  # fmt: skip
    return render_template(
        "portal/report.html",
        form=form,
        already_received=already_received,
        accept=",".join(sorted(ALLOWED_EXTENSIONS)),
        limits=portal().config.limits,
        files_dropped=files_chosen(form.attachments.data),
    ), status


def _identity_of(form: IdentityForm | ReportForm) -> ReporterIdentity:
    return ReporterIdentity(
        name=form.name.data or "", id_number=form.id_number.data or "", phone=form.phone.data or ""
    )


def _gave_details(form: ReportForm) -> bool:
    return any((value or "").strip() for value in
               (form.name.data, form.id_number.data, form.phone.data))  # fmt: skip


def _amount_or_none(raw: str | None) -> Decimal | None:
    try:
        return parse_amount(raw)
    except InvalidOperation:
        return None  # the form's own validator has said why


def _report_of(form: ReportForm) -> Report:
    """The report the form describes, whether or not its own validators passed, so that
    the service's checks (dates in order, the place, the files) run in the same round."""
    real_name = form.anonymous.data == "no"
    return Report(
        category=form.category.data or "",
        region=form.region_code() or "",
        text=form.text.data or "",
        channel="web",
        fund=form.fund.data or None,
        suspect_kind=form.suspect_kind.data or None,
        unit_level=form.unit_level.data or None,
        suspect_name=form.suspect_name.data,
        happened_start=form.happened_start.data,
        happened_end=form.happened_end.data,
        ongoing=form.ongoing.data,
        how_known=form.how_known.data or None,
        amount=_amount_or_none(form.amount.data),
        identity=_identity_of(form) if real_name else None,
        # Ticked while anonymous is a question for the reporter, not something to drop.
        wants_notice=bool(form.wants_notice.data),
        uploads=uploads_of(form.attachments.data),
        form_token=form.form_token.data or None,
    )


@bp.route("/report", methods=["GET", "POST"])
@submissions
def report() -> Response | str | tuple[str, int]:
    form = ReportForm()
    form.fill_regions()
    if request.method == "POST" and request.form.get("refine"):
        # Without JavaScript, choosing a province or city reloads the form with the next
        # list filled in, and "Back to the form" from the advice page returns here with
        # everything kept; nothing is checked or stored yet.
        form.csrf_token.errors = []
        return _report_page(form)
    if not form.is_submitted():
        return _report_page(form)
    valid = form.validate()
    if form.csrf_token.errors:
        return _report_page(form, 400)
    if form.website.data:
        abort(400)  # the honeypot was filled in: not a person
    if form.category.data == "out_of_scope":
        # The advice needs nothing else from the form (issue 8): no description first.
        return render_template("portal/out_of_scope.html", form=form, fund=form.fund.data)
    submission = _report_of(form)
    # Never drop what the reporter wrote (issue 8): details typed while "anonymous" is
    # chosen are asked about.
    ask = form.anonymous.data != "no" and _gave_details(form)
    if not valid or ask:
        # Every problem in this round (issue 8): the service's checks too (dates in order,
        # the place, the files), which otherwise only ran once the form's own passed.
        problems = validate(submission, limits=portal().config.limits)[1]
        show_problems(form, problems, "text", only_new=True)
        if ask:
            form.anonymous.errors = [*form.anonymous.errors, _(
                "You chose to report anonymously, but you wrote your name, ID number or "
                "telephone. To send them, choose “Yes, I report under my real name”; to "
                "stay anonymous, empty those fields."
            )]  # fmt: skip
        return _report_page(form, 400)
    contents = receipts.content_digest(submission.category, submission.region, submission.text)
    seen = receipts.sent_before(submission.form_token, contents)
    if seen is receipts.Seen.SAME:
        return _already_received(form, contents)
    if seen is receipts.Seen.EDITED:
        # The form this browser sent, rewritten after going Back: a new report, under a
        # token of its own so that the first one's does not refuse it.
        submission = dataclasses.replace(submission, form_token=secrets.token_urlsafe(32))
    try:
        stored = portal().submitter.submit(submission)
    except AlreadyReceived:
        return _already_received(form, contents)
    except InvalidReport as error:
        show_problems(form, error.problems, "text")
        return _report_page(form, 400)
    if stored.receipt is None:
        abort(500)
    receipts.keep(stored.receipt.display, submission.form_token, review_days(submission),
                  contents)  # fmt: skip
    receipts.remember_sent(submission.form_token, contents)
    # Post/redirect/get: a reload or Back shows the receipt page, and files nothing again.
    return redirect(url_for("portal.received"), code=303)


def review_days(submission: Report) -> int | None:
    """T1, the working days HRSS has to review a tip, from the rule packs covering its place
    (domain.md section 3): shown to the reporter as what happens next."""
    book = RuleBook(shipped_packs())
    facts = Facts(category=submission.category, region=submission.region)
    for rule in book.deadlines(facts):
        if rule.rule == "T1":
            return rule.amount
    return None


def _already_received(form: ReportForm, contents: str) -> Response | tuple[str, int]:
    """A report sent again stores nothing (issue 8). The browser that holds its receipt is
    shown it again. Otherwise (the answer to the first send was lost, or the receipt was
    written down) the form comes back as it was, saying it was received, with a fresh token:
    a reporter who never saw a receipt code may send it as a new report, and no report is
    left that nobody can follow up."""
    pending = receipts.pending()
    if pending is not None and pending.is_for(form.form_token.data, contents):
        return redirect(url_for("portal.received"), code=303)
    form.form_token.data = secrets.token_urlsafe(32)
    return _report_page(form, 409, already_received=True)


def _receipt_page(receipt: str, form: ReceiptDoneForm, review: int | None,
                  status: int = 200) -> tuple[str, int]:  # fmt: skip
    return render_template("portal/receipt.html", receipt=receipt, day=today(), form=form,
                           review_days=review), status  # fmt: skip


@bp.get("/report/received")
def received() -> Response | tuple[str, int]:
    """The receipt of the report this browser just stored, until it is written down.

    Kept sealed in the session cookie (receipts.py), never in a URL or a log; gone once the
    reporter ticks "written down", or after a while."""
    pending = receipts.pending()
    if pending is None:
        return redirect(url_for("portal.check"))
    return _receipt_page(pending.receipt, ReceiptDoneForm(receipt=pending.receipt),
                         pending.review_days)  # fmt: skip


@bp.post("/report/done")
def receipt_done() -> Response | tuple[str, int]:
    form = ReceiptDoneForm()
    if form.validate_on_submit():
        receipts.forget()
        return redirect(url_for("portal.check"))
    try:
        receipt = parse_receipt(form.receipt.data or "").display
    except (MalformedReceipt, ReceiptTypo):
        abort(400)
    pending = receipts.pending()
    # Shown again from what the page itself sent back.
    return _receipt_page(receipt, form, pending.review_days if pending else None, 400)


@bp.get("/about")
def about() -> str:
    """Who runs the site, how to reach them, privacy, rewards and protection (issue 8)."""
    return render_template("portal/about.html", config=portal().config)


@bp.get("/regions/<code>")
def regions(code: str) -> Response:
    """The places one level below ``code``, for the form's lists when JavaScript is on."""
    if code != "000000" and code not in reference.regions():
        abort(404)
    places = reference.provinces() if code == "000000" else reference.children(code)
    response = jsonify([{"code": r.code, "name": r.name} for r in places])
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response


@bp.route("/check", methods=["GET", "POST"])
def check() -> Response | str | tuple[str, int]:
    form = CheckForm()
    if not form.validate_on_submit():
        status = 400 if form.is_submitted() else 200
        return render_template("portal/check.html", form=form), status
    try:
        receipt = parse_receipt(form.receipt.data)
    except ReceiptTypo:
        form.receipt.errors = [
            _("This code has a typing mistake: please check each digit against your note.")
        ]
        return render_template("portal/check.html", form=form), 400
    except MalformedReceipt:
        form.receipt.errors = [_("A receipt code has 24 digits.")]
        return render_template("portal/check.html", form=form), 400
    if not spend_receipt_attempt():
        abort(429)
    services = portal()
    with services.sessions() as session:
        try:
            tip_id, wrap_key = reporter_key(session, receipt, services.kdf)
        except ReceiptNotFound:
            form.receipt.errors = [_("No report answers to this code.")]
            return render_template("portal/check.html", form=form), 400
    receipts.forget()  # the receipt is in use: its page ends here (a shared computer)
    reporter.sign_in(tip_id, wrap_key)
    return redirect(url_for("portal.my_report"))


def _signed_in() -> reporter.SignedIn:
    signed_in = reporter.current()
    if signed_in is None:
        abort(redirect(url_for("portal.check")))
    return signed_in


def _status_page(
    opened: OpenedTip, identity: dict[str, str] | None, status: int = 200, **forms: FlaskForm
) -> tuple[str, int]:
    forms.setdefault("message_form", MessageForm())
    forms.setdefault("evidence_form", EvidenceForm())
    forms.setdefault("identity_form", IdentityForm())
    # What the last post/redirect/get said arrived: shown once, never again on a reload.
    notices = [
        str(NOTICES[code])
        for code in get_flashed_messages(category_filter=["arrived"])
        if code in NOTICES
    ]
    return render_template(
        "portal/status.html",
        tip=opened.tip,
        opened=opened,
        status=status_words(opened.tip),
        timeline=timeline(opened.tip),
        messages=opened.messages(),
        attachments=opened.attachments(),
        identity=identity,
        sign_out_form=SignOutForm(),
        accept=",".join(sorted(ALLOWED_EXTENSIONS)),
        fund=fund_words(opened.tip),
        when=when_words(opened.details),
        evidence_hint=evidence_hint(portal().config.limits, len(opened.tip.attachments)),
        notices=notices,
        **forms,
    ), status


class _ShowInstead(Exception):
    def __init__(self, page: tuple[str, int]) -> None:
        self.page = page


def _with_reporter_tip(
    work: Callable[[Any, OpenedTip, reporter.SignedIn], tuple[str, int] | None],
    arrived: str,
) -> Response | tuple[str, int]:
    """Open the signed-in reporter's tip in a transaction, run ``work``, and show the page.

    ``work`` returns a page to show instead (a form with errors), or None when it is done,
    in which case the reporter is sent back to the status page (post/redirect/get), where
    the notice ``arrived`` (a key of status.NOTICES) says once that it arrived.
    """
    signed_in = _signed_in()
    services = portal()
    try:
        with transaction(services.sessions) as session:
            opened = open_as_reporter(session, signed_in.tip_id, signed_in.wrap_key)
            page = work(session, opened, signed_in)
            if page is not None:
                raise _ShowInstead(page)  # roll back whatever the work began
    except ReceiptNotFound:
        reporter.sign_out()
        return redirect(url_for("portal.check"))
    except _ShowInstead as instead:
        return instead.page
    flash(arrived, "arrived")
    return redirect(url_for("portal.my_report", _anchor="notice"))


@bp.get("/my-report")
def my_report() -> Response | tuple[str, int]:
    signed_in = _signed_in()
    services = portal()
    with services.sessions() as session:
        try:
            opened = open_as_reporter(session, signed_in.tip_id, signed_in.wrap_key)
        except ReceiptNotFound:
            reporter.sign_out()
            return redirect(url_for("portal.check"))
        return _status_page(opened, reporter_identity(opened.tip, signed_in.wrap_key))


@bp.post("/my-report/messages")
def send_message() -> Response | tuple[str, int]:
    def work(session: Any, opened: OpenedTip, signed_in: reporter.SignedIn) -> Any:
        form = MessageForm()
        if form.validate_on_submit():
            try:
                add_message(session, opened, form.text.data, author="reporter")
                return None
            except InvalidReport as error:
                show_problems(form, error.problems, "text")
        identity = reporter_identity(opened.tip, signed_in.wrap_key)
        return _status_page(opened, identity, 400, message_form=form)

    return _with_reporter_tip(work, "message")


@bp.post("/my-report/evidence")
def send_evidence() -> Response | tuple[str, int]:
    def work(session: Any, opened: OpenedTip, signed_in: reporter.SignedIn) -> Any:
        form = EvidenceForm()
        if form.validate_on_submit():
            try:
                add_evidence(
                    session, opened, uploads_of(form.attachments.data), portal().config.limits
                )
                return None
            except InvalidReport as error:
                show_problems(form, error.problems, "attachments")
        identity = reporter_identity(opened.tip, signed_in.wrap_key)
        return _status_page(opened, identity, 400, evidence_form=form)

    return _with_reporter_tip(work, "evidence")


@bp.post("/my-report/identity")
def send_identity() -> Response | tuple[str, int]:
    def work(session: Any, opened: OpenedTip, signed_in: reporter.SignedIn) -> Any:
        form = IdentityForm()
        if form.validate_on_submit():
            try:
                add_identity(
                    session,
                    opened.tip,
                    _identity_of(form),
                    wrap_key=signed_in.wrap_key,
                    keyring=portal().keyring,
                    wants_notice=form.wants_notice.data,
                )
                return None
            except InvalidReport as error:
                show_problems(form, error.problems, "name")
        return _status_page(opened, None, 400, identity_form=form)

    return _with_reporter_tip(work, "identity")


@bp.post("/sign-out")
def sign_out() -> Response:
    form = SignOutForm()
    if not form.validate_on_submit():
        abort(400)
    reporter.sign_out()
    return redirect(url_for("portal.index"))
