"""Public pages: report, receipt, check my report. Views stay thin (STYLE.md point 4)."""

from __future__ import annotations

from flask import Blueprint, abort, render_template
from flask_babel import gettext as _

from tipline.crypto import MalformedReceipt, ReceiptTypo, parse_receipt
from tipline.intake.reading import ReceiptNotFound, open_with_receipt
from tipline.intake.submit import InvalidReport, Report, Upload, parse_amount, today
from tipline.portal import portal
from tipline.portal.forms import CheckForm, ReportForm

bp = Blueprint("portal", __name__)


@bp.get("/")
def index() -> str:
    return render_template("portal/index.html")


@bp.route("/report", methods=["GET", "POST"])
def report() -> str | tuple[str, int]:
    form = ReportForm()
    if not form.validate_on_submit():
        status = 400 if form.is_submitted() else 200
        return render_template("portal/report.html", form=form), status
    uploads = [
        Upload(
            filename=upload.filename or "",
            content_type=upload.mimetype or "application/octet-stream",
            stream=upload.stream,
        )
        for upload in form.attachments.data or []
        if upload and upload.filename
    ]
    submission = Report(
        category=form.category.data,
        region=form.region.data,
        text=form.text.data,
        channel="web",
        fund=form.fund.data or None,
        suspect_kind=form.suspect_kind.data or None,
        amount=parse_amount(form.amount.data),
        uploads=uploads,
    )
    try:
        stored = portal().submitter.submit(submission)
    except InvalidReport as error:
        for problem in error.problems:
            field = getattr(form, problem.field, form.text)
            field.errors = [*field.errors, _(problem.message)]
        return render_template("portal/report.html", form=form), 400
    if stored.receipt is None:
        abort(500)
    # The receipt is shown in this response only: never in a URL, a cookie or a log.
    return render_template("portal/receipt.html", receipt=stored.receipt, day=today())


@bp.route("/check", methods=["GET", "POST"])
def check() -> str | tuple[str, int]:
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
    services = portal()
    with services.sessions() as session:
        try:
            opened = open_with_receipt(session, receipt, services.kdf)
        except ReceiptNotFound:
            form.receipt.errors = [_("No report answers to this code.")]
            return render_template("portal/check.html", form=form), 400
        return render_template(
            "portal/status.html", tip=opened.tip, opened=opened, attachments=opened.attachments()
        )
