"""Who may reach which endpoint of the internal site: one table, checked before every request.

Adding a route without adding it here closes it to everyone, and the route x role test
fails until the table says who may use it.
"""

from __future__ import annotations

from flask import abort, redirect, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from tipline.triage import api
from tipline.triage.accounts import READER_ROLES, ROLES

# Reachable signed out. The enrolment page admits only the browser that has just given a
# password and an activation code (auth.enrol checks the marker in its session).
PUBLIC = frozenset({"auth.login", "auth.enrol", "static", "language"})

# Which tips each role sees is decided in scope.py; this table says which pages it may open.
ALLOWED: dict[str, frozenset[str]] = {
    "auth.logout": frozenset(ROLES),
    "triage.inbox": READER_ROLES,
    "triage.tip": READER_ROLES,
    "triage.attachment": READER_ROLES,
    "triage.send_message": READER_ROLES,
    "triage.route": frozenset({"triage_officer", "supervisor"}),
    "triage.accept": READER_ROLES,
    "triage.refuse": READER_ROLES,
    "triage.transfer": READER_ROLES,
    "triage.note": READER_ROLES,
    "triage.duplicate": READER_ROLES,
    "triage.identity_request": READER_ROLES,
    "triage.identity_decision": frozenset({"supervisor"}),
    "triage.recuse": READER_ROLES,
    # domain.md T2: the 告知书 (opens the reporter's name, audited) and giving the notice.
    "triage.notice_document": READER_ROLES,
    "triage.give_notice": READER_ROLES,
    "triage.enter_tip": frozenset({"triage_officer", "supervisor"}),
    # A supervisor assigns, an officer takes a tip on or gives it back (assignment.py).
    "triage.assign": READER_ROLES,
    "admin.users": frozenset({"admin"}),
    "admin.set_active": frozenset({"admin"}),
    # The second person of the two-person rule for accounts that read contents.
    "admin.approvals": frozenset({"supervisor"}),
    "admin.approve": frozenset({"supervisor"}),
    "admin.rules": frozenset({"admin"}),
    "admin.calendar": frozenset({"admin"}),
    "admin.calendar_notice": frozenset({"admin"}),
    "admin.audit_log": frozenset({"auditor"}),
    "admin.audit_verify": frozenset({"auditor"}),
    "admin.stats": frozenset({"auditor", "supervisor"}),
    # The internal API (api.py): each endpoint as the page that does the same.
    "api.openapi": frozenset(ROLES),
    "api.tips": READER_ROLES,
    "api.tip": READER_ROLES,
    "api.send_message": READER_ROLES,
    "api.route": frozenset({"triage_officer", "supervisor"}),
    "api.accept": READER_ROLES,
    "api.refuse": READER_ROLES,
    "api.transfer": READER_ROLES,
    "api.note": READER_ROLES,
    "api.duplicate": READER_ROLES,
    "api.identity_request": READER_ROLES,
    "api.identity_decision": frozenset({"supervisor"}),
    "api.assign": READER_ROLES,
}


def guard() -> Response | None:
    endpoint = request.endpoint
    if endpoint in PUBLIC:
        return None
    if not current_user.is_authenticated:
        # Signed out, every address looks the same: no hint of which routes exist. An API
        # caller (no valid bearer token) is told so in JSON instead of sent to a form.
        if api.is_api(request.path):
            return api.unauthorized()
        return redirect(url_for("auth.login"))
    if endpoint is None:
        abort(404)
    if current_user.role not in ALLOWED.get(endpoint, frozenset()):
        abort(403)
    return None
