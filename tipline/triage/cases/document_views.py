"""Downloads of a case's statutory documents (endpoint ``cases.document``), added to the
cases blueprint when imported.

Scoped like the case page (``scope.find_visible_case``: 404 outside the bureau and the
jurisdiction), audited (``case.document.read`` with the kind and the format) and never
kept by a browser or a proxy. The PDF is made on the first asking (documents.download); if
LibreOffice fails, the officer gets a page saying so and the DOCX stays available.
"""

from __future__ import annotations

from flask import Response, abort
from flask_babel import gettext as _
from flask_login import current_user

from tipline.intake.headers import content_disposition
from tipline.intake.web import render_error
from tipline.triage import scope, triage
from tipline.triage.cases import documents
from tipline.triage.cases.services import case_key
from tipline.triage.cases.views import bp


@bp.get("/cases/<case_id>/documents/<int:doc_id>.<fmt>")
def document(case_id: str, doc_id: int, fmt: str) -> Response | tuple[str | Response, int]:
    if fmt not in documents.FORMATS or doc_id > 2**31 - 1:  # beyond the id column: none such
        abort(404)
    services = triage()
    with services.sessions() as session:
        case = scope.find_visible_case(session, current_user, case_id)
        if case is None:
            abort(404)
        key = case_key(case, services.keyring)
        try:
            found = documents.download(session, case, doc_id, fmt, key,
                                       actor=current_user.username)  # fmt: skip
        except documents.DocumentError as error:
            session.rollback()
            return render_error(503, _(error.message, **error.params))
        if found is None:
            abort(404)
        # The entry and the stored PDF are committed before a byte is sent.
        session.commit()
    return sent(found)


def sent(found: documents.Download) -> Response:
    """A document as a download (the page's and the API's): never cached, a Chinese name."""
    response = Response(found.body, mimetype=found.mimetype)
    response.headers["Content-Disposition"] = content_disposition(found.filename)
    response.headers["Content-Length"] = str(len(found.body))
    response.headers["Cache-Control"] = "no-store"
    return response
