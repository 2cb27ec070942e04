"""The workspace: the inbox and the tip page. Every decryption is audited."""

from __future__ import annotations

from collections.abc import Iterator

from flask import Blueprint, abort, render_template, request
from flask_login import current_user
from sqlalchemy import func, select
from werkzeug.wrappers import Response

from tipline.intake.db import transaction
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


@bp.get("/tips/<tip_id>")
def tip(tip_id: str) -> str:
    services = triage()
    with transaction(services.sessions) as session:
        opened = open_with_keyring(session, tip_id, services.keyring)
        if opened is None:
            abort(404)
        attachments = opened.attachments()
        record(session, "tip.read", actor=current_user.username, tip_id=tip_id)
    return render_template(
        "triage/tip.html", tip=opened.tip, opened=opened, attachments=attachments
    )


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
