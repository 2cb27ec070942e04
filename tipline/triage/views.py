"""The workspace: the inbox and the tip page. Every decryption is audited."""

from __future__ import annotations

from collections.abc import Iterator

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from werkzeug.wrappers import Response
from wtforms import BooleanField, TextAreaField
from wtforms.validators import DataRequired, Length

from tipline.intake.db import transaction
from tipline.intake.followup import add_message
from tipline.intake.models import Tip
from tipline.intake.reading import open_with_keyring
from tipline.triage import triage
from tipline.triage.audit import record

bp = Blueprint("triage", __name__)
PAGE = 50


@bp.get("/")
def inbox() -> str:
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    with triage().sessions() as session:
        total = session.scalar(select(func.count()).select_from(Tip)) or 0
        tips = session.scalars(
            select(Tip)
            .order_by(Tip.received_on.desc(), Tip.id)
            .limit(PAGE)
            .offset((page - 1) * PAGE)
        ).all()
    return render_template(
        "triage/inbox.html", tips=tips, total=total, page=page, pages=max(1, -(-total // PAGE))
    )


class MessageForm(FlaskForm):
    text = TextAreaField(
        _l("Message to the reporter"),
        validators=[DataRequired(_l("Write a message.")), Length(max=5_000)],
    )
    asks_reply = BooleanField(_l("This is a question the reporter should answer"))


def _tip_page(tip_id: str, form: MessageForm, status: int = 200) -> tuple[str, int]:
    services = triage()
    with transaction(services.sessions) as session:
        opened = open_with_keyring(session, tip_id, services.keyring)
        if opened is None:
            abort(404)
        attachments = opened.attachments()
        messages = opened.messages()
        record(session, "tip.read", actor=current_user.username, tip_id=tip_id)
        page = render_template(
            "triage/tip.html",
            tip=opened.tip,
            opened=opened,
            attachments=attachments,
            messages=messages,
            message_form=form,
        )
    return page, status


@bp.get("/tips/<tip_id>")
def tip(tip_id: str) -> tuple[str, int]:
    return _tip_page(tip_id, MessageForm(formdata=None))


@bp.post("/tips/<tip_id>/messages")
def send_message(tip_id: str) -> Response | tuple[str, int]:
    """Write to the reporter: sealed under the tip key, read by the reporter with the receipt."""
    form = MessageForm()
    if not form.validate_on_submit():
        return _tip_page(tip_id, form, 400)
    services = triage()
    with transaction(services.sessions) as session:
        opened = open_with_keyring(session, tip_id, services.keyring)
        if opened is None:
            abort(404)
        add_message(
            session,
            opened,
            form.text.data,
            author="officer",
            officer_id=current_user.id,
            asks_reply=form.asks_reply.data,
        )
        record(session, "message.send", actor=current_user.username, tip_id=tip_id)
    return redirect(url_for("triage.tip", tip_id=tip_id))


@bp.get("/tips/<tip_id>/attachments/<attachment_id>")
def attachment(tip_id: str, attachment_id: str) -> Response:
    services = triage()
    session = services.sessions()
    try:
        opened = open_with_keyring(session, tip_id, services.keyring)
        if opened is None:
            abort(404)
        info = next((a for a in opened.attachments() if a.id == attachment_id), None)
        if info is None:
            abort(404)
        record(
            session,
            "attachment.read",
            actor=current_user.username,
            tip_id=tip_id,
            attachment=attachment_id,
        )
        session.commit()
        content = opened.attachment_content(session, attachment_id)
    except BaseException:
        session.close()
        raise

    def stream() -> Iterator[bytes]:
        try:
            yield from content
        finally:
            session.close()

    response = Response(stream(), mimetype="application/octet-stream")
    # Always a download, never rendered: a file from a reporter is not trusted markup.
    response.headers.set("Content-Disposition", "attachment", filename=info.filename)
    response.headers["Content-Length"] = str(info.size)
    return response
