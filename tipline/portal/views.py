"""Public pages: report, receipt, come back with it. Views stay thin (STYLE.md point 4)."""

from __future__ import annotations

from collections.abc import Callable
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
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response

from tipline.crypto import MalformedReceipt, ReceiptTypo, parse_receipt
from tipline.intake import reference
from tipline.intake.db import transaction
from tipline.intake.followup import add_evidence, add_identity, add_message
from tipline.intake.reading import (
    OpenedTip,
    ReceiptNotFound,
    open_as_reporter,
    reporter_identity,
    reporter_key,
)
from tipline.intake.scrub import ALLOWED_EXTENSIONS
from tipline.intake.submit import (
    InvalidReport,
    Problem,
    Report,
    ReporterIdentity,
    parse_amount,
    today,
)
from tipline.intake.web import uploads_of
from tipline.portal import portal, reporter
from tipline.portal.forms import (
    CheckForm,
    EvidenceForm,
    IdentityForm,
    MessageForm,
    ReceiptDoneForm,
    ReportForm,
    SignOutForm,
    region_choices,
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


def show_problems(form: FlaskForm, problems: list[Problem], fallback: str) -> None:
    """Tie the service's problems to the form's fields, translated."""
    for problem in problems:
        name = FIELD_ALIASES.get(problem.field, problem.field)
        field = getattr(form, name, None) or getattr(form, fallback)
        field.errors = [*field.errors, _(problem.message)]


def _fill_regions(form: ReportForm) -> None:
    """Province → city → county: each list offers the children of the choice above it."""
    form.province.choices = region_choices(reference.provinces(), _l("Choose a province"))
    province = form.province.data or ""
    cities = reference.children(province) if province in reference.regions() else []
    form.city.choices = region_choices(cities, _l("Choose a city"))
    if form.city.data not in {r.code for r in cities}:
        form.city.data = ""
    city = form.city.data or ""
    counties = reference.children(city) if city else []
    form.county.choices = region_choices(counties, _l("Choose a county or district"))
    if form.county.data not in {r.code for r in counties}:
        form.county.data = ""


def _report_page(form: ReportForm, status: int = 200) -> tuple[str, int]:
    return render_template(
        "portal/report.html",
        form=form,
        accept=",".join(sorted(ALLOWED_EXTENSIONS)),
        limits=portal().config.limits,
    ), status


def _identity_of(form: IdentityForm | ReportForm) -> ReporterIdentity:
    return ReporterIdentity(
        name=form.name.data or "", id_number=form.id_number.data or "", phone=form.phone.data or ""
    )


@bp.route("/report", methods=["GET", "POST"])
@submissions
def report() -> str | tuple[str, int]:
    form = ReportForm()
    _fill_regions(form)
    if request.method == "POST" and request.form.get("refine"):
        # Without JavaScript, choosing a province or city reloads the form with the next
        # list filled in; nothing is checked or stored yet.
        form.csrf_token.errors = []
        return _report_page(form)
    if not form.validate_on_submit():
        return _report_page(form, 400 if form.is_submitted() else 200)
    if form.website.data:
        abort(400)  # the honeypot was filled in: not a person
    if form.category.data == "out_of_scope":
        return render_template("portal/out_of_scope.html")
    real_name = form.anonymous.data == "no"
    submission = Report(
        category=form.category.data,
        region=form.region_code() or "",
        text=form.text.data,
        channel="web",
        fund=form.fund.data or None,
        suspect_kind=form.suspect_kind.data or None,
        unit_level=form.unit_level.data or None,
        suspect_name=form.suspect_name.data,
        happened_start=form.happened_start.data,
        happened_end=form.happened_end.data,
        ongoing=form.ongoing.data,
        how_known=form.how_known.data or None,
        amount=parse_amount(form.amount.data),
        identity=_identity_of(form) if real_name else None,
        wants_notice=real_name and form.wants_notice.data,
        uploads=uploads_of(form.attachments.data),
    )
    try:
        stored = portal().submitter.submit(submission)
    except InvalidReport as error:
        show_problems(form, error.problems, "text")
        return _report_page(form, 400)
    if stored.receipt is None:
        abort(500)
    # The receipt is shown in this response only: never in a URL, a cookie or a log.
    done = ReceiptDoneForm(receipt=stored.receipt.display)
    return render_template("portal/receipt.html", receipt=stored.receipt.display, day=today(),
                           form=done)  # fmt: skip


@bp.post("/report/done")
def receipt_done() -> Response | tuple[str, int]:
    form = ReceiptDoneForm()
    if form.validate_on_submit():
        return redirect(url_for("portal.check"))
    try:
        receipt = parse_receipt(form.receipt.data or "").display
    except (MalformedReceipt, ReceiptTypo):
        abort(400)
    # Shown again from what the page itself sent back: the server kept nothing.
    return render_template("portal/receipt.html", receipt=receipt, day=today(), form=form), 400


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
