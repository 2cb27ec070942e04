"""Administrators' pages for the Word templates of the statutory documents: a locality (a
region code, or the whole country) replaces the built-in template of a kind by uploading
its own .docx (issue 10: "templates an administrator can replace per locality").

Added to the admin blueprint when imported (endpoints ``admin.templates``,
``admin.upload_template``, ``admin.template_file``, ``admin.builtin_template``,
``admin.retire_template``; ``access.ALLOWED`` opens them to administrators). A template is
a form, not contents: it is kept in the clear and its pages open no case. An upload is
refused, with the reason in the administrator's language, when it is larger than 2 MiB
(checked before anything parses it), not a real DOCX, or does not render with a sample
case (documents.validate_upload); uploads and retirements are audited.
"""

from __future__ import annotations

import hashlib
from typing import Any

from flask import Response, abort, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from sqlalchemy import select
from wtforms import SelectField, StringField
from wtforms.validators import Length, Optional

from tipline.intake import reference
from tipline.intake.db import transaction
from tipline.intake.headers import content_disposition
from tipline.intake.models import DocumentTemplate
from tipline.intake.submit import today
from tipline.triage import triage
from tipline.triage.admin import bp
from tipline.triage.audit import record
from tipline.triage.cases import documents
from tipline.triage.tips.forms import choices

NATIONAL = "national"
# The form's other fields and the multipart framing fit in this beside the file.
_FRAMING = 64 * 1024


class TemplateForm(FlaskForm):
    kind = SelectField(_l("Document"), choices=choices(documents.KINDS))
    # Empty: the whole country.
    locality = StringField(
        _l("Where it applies: a six-digit region code (e.g. 441502); empty for the whole "
           "country"),
        validators=[Optional(), Length(max=8)],
    )
    file = FileField(_l("Word template (.docx, at most 2 MiB)"))


class RetireForm(FlaskForm):
    pass


def _locality(raw: str) -> str | None:
    value = (raw or "").strip().lower()
    if value in ("", NATIONAL):
        return NATIONAL
    return value if value in reference.regions() else None


def _page(form: TemplateForm, status: int = 200, done: str | None = None) -> tuple[str, int]:
    with triage().sessions() as session:
        rows = session.scalars(
            select(DocumentTemplate).order_by(DocumentTemplate.kind, DocumentTemplate.id.desc())
        ).all()
        uploaded = [
            {"id": r.id, "kind": r.kind, "label": documents.kind_label(r.kind), "scope": r.scope,
             "uploaded_on": r.uploaded_on, "uploaded_by": r.uploaded_by,
             "sha256": r.sha256[:16], "active": r.active}
            for r in rows
        ]  # fmt: skip
    return render_template(
        "triage/admin_templates.html", form=form, uploaded=uploaded, kinds=documents.KINDS,
        retire=RetireForm(), done=done, national=NATIONAL,
    ), status  # fmt: skip


@bp.get("/admin/templates")
def templates() -> tuple[str, int]:
    return _page(TemplateForm(), done=request.args.get("done"))


@bp.post("/admin/templates")
def upload_template() -> Any:
    # The size is refused from the header before the body is read or parsed.
    if (request.content_length or 0) > documents.MAX_TEMPLATE_BYTES + _FRAMING:
        form = TemplateForm(formdata=None)
        form.file.errors = [_("The template is larger than %(limit)s MiB.", limit=2)]
        return _page(form, 400)
    form = TemplateForm()
    if not form.validate_on_submit():
        return _page(form, 400)
    locality = _locality(form.locality.data or "")
    if locality is None:
        form.locality.errors = [_("Give a six-digit region code, or leave it empty for the "
                                  "whole country.")]  # fmt: skip
        return _page(form, 400)
    upload = form.file.data
    body = upload.stream.read(documents.MAX_TEMPLATE_BYTES + 1) if upload else b""
    if not body:
        form.file.errors = [_("Choose the .docx file to upload.")]
        return _page(form, 400)
    kind = form.kind.data or ""
    try:
        documents.validate_upload(kind, body)
    except documents.DocumentError as error:
        form.file.errors = [_(error.message, **error.params)]
        return _page(form, 400)
    digest = hashlib.sha256(body).hexdigest()
    with transaction(triage().sessions) as session:
        row = DocumentTemplate(kind=kind, scope=locality, uploaded_on=today(),
                               uploaded_by=current_user.username, sha256=digest, body=body,
                               active=True)  # fmt: skip
        session.add(row)
        session.flush()
        record(session, "template.upload", actor=current_user.username, kind=kind,
               locality=locality, template=row.id, sha256=digest[:16])  # fmt: skip
    return redirect(url_for("admin.templates", done="uploaded"))


@bp.post("/admin/templates/<int:template_id>/retire")
def retire_template(template_id: int) -> Any:
    if not RetireForm().validate_on_submit():
        return _page(TemplateForm(formdata=None), 400)
    with transaction(triage().sessions) as session:
        row = session.get(DocumentTemplate, template_id)
        if row is None:
            abort(404)
        if row.active:
            row.active = False
            record(session, "template.retire", actor=current_user.username, kind=row.kind,
                   locality=row.scope, template=row.id)  # fmt: skip
    return redirect(url_for("admin.templates", done="retired"))


def _docx(body: bytes, name: str) -> Response:
    response = Response(body, mimetype=documents.DOCX_TYPE)
    response.headers["Content-Disposition"] = content_disposition(name)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/admin/templates/<int:template_id>.docx")
def template_file(template_id: int) -> Response:
    with triage().sessions() as session:
        row = session.get(DocumentTemplate, template_id)
        if row is None:
            abort(404)
        return _docx(row.body, f"{documents.chinese_name(row.kind)}-{row.scope}-{row.id}.docx")


@bp.get("/admin/templates/builtin/<kind>.docx")
def builtin_template(kind: str) -> Response:
    """The shipped template, for an office to start its own from."""
    if kind not in documents.KIND_CODES:
        abort(404)
    return _docx(documents.builtin(kind), f"{documents.chinese_name(kind)}.docx")
