"""Who may reach which endpoint of the internal site: one table, checked before every request.

Adding a route without adding it here closes it to everyone, and the route x role test
fails until the table says who may use it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import abort, redirect, request, url_for
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import object_session
from werkzeug.wrappers import Response

from tipline.intake.models import CaseTip, IdentityRequest, Tip
from tipline.intake.reference import N_
from tipline.triage import api, scope
from tipline.triage.accounts import READER_ROLES, ROLES
from tipline.triage.tips import decisions, notices

# Reachable signed out. The enrolment page admits only the browser that has just given a
# password and an activation code (auth.enrol checks the marker in its session).
PUBLIC = frozenset({"auth.login", "auth.enrol", "static", "language"})
# The same for choosing a new password after a reset (auth.new_password checks its marker).
PUBLIC = PUBLIC | {"auth.new_password"}

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
    # Sealing a tip for discipline inspection after intake (decisions.seal_tip): any officer
    # who sees it, except discipline inspection itself (TIP_RULES).
    "triage.seal": READER_ROLES,
    # domain.md T2: the 告知书 (opens the reporter's name, audited) and giving the notice.
    "triage.notice_document": READER_ROLES,
    "triage.give_notice": READER_ROLES,
    "triage.enter_tip": frozenset({"triage_officer", "supervisor"}),
    # The one showing of a receipt code drawn for a tip that officer just entered.
    "triage.entry_receipt": frozenset({"triage_officer", "supervisor"}),
    # The tip for the file (卷宗): whoever may read the tip, audited (export.py).
    "export.tip_pdf": READER_ROLES,
    "export.tip_zip": READER_ROLES,
    "triage.alerts_page": READER_ROLES,
    # A supervisor assigns, an officer takes a tip on or gives it back (assignment.py).
    "triage.assign": READER_ROLES,
    # Cases (triage/cases/views.py): whoever reads tips sees the cases scope.py shows them;
    # only a bureau's officers and heads open cases and take steps (services.refusal says
    # which, per step). The board shows plaintext columns only (number, stage, clocks), within
    # the same scoping: every reader role, since the officer who must meet a clock needs to
    # see it as much as the head who supervises (domain.md T7).
    "cases.index": READER_ROLES,
    "cases.case": READER_ROLES,
    "cases.step": frozenset({"bureau_officer", "supervisor"}),
    "cases.open_case": frozenset({"bureau_officer", "supervisor"}),
    "cases.join_case": frozenset({"bureau_officer", "supervisor"}),
    "cases.board": READER_ROLES,
    "admin.users": frozenset({"admin"}),
    "admin.set_active": frozenset({"admin"}),
    # One account's page and its changes (issue 9): unlock, resets, role/bureau/region.
    "admin.user": frozenset({"admin"}),
    "admin.unlock": frozenset({"admin"}),
    "admin.reset_password": frozenset({"admin"}),
    "admin.reset_totp": frozenset({"admin"}),
    "admin.change": frozenset({"admin"}),
    # The second person of the two-person rule for accounts that read contents.
    "admin.approvals": frozenset({"supervisor"}),
    "admin.approve": frozenset({"supervisor"}),
    "admin.approve_change": frozenset({"supervisor"}),
    "admin.rules": frozenset({"admin"}),
    "admin.calendar": frozenset({"admin"}),
    "admin.calendar_notice": frozenset({"admin"}),
    # The statutory documents' Word templates, per locality (cases/template_admin.py).
    "admin.templates": frozenset({"admin"}),
    "admin.upload_template": frozenset({"admin"}),
    "admin.retire_template": frozenset({"admin"}),
    "admin.template_file": frozenset({"admin"}),
    "admin.builtin_template": frozenset({"admin"}),
    # A case's documents: whoever sees the case (scope.find_visible_case), audited.
    "cases.document": READER_ROLES,
    "admin.audit_log": frozenset({"auditor"}),
    "admin.audit_csv": frozenset({"auditor"}),
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
    "api.export_pdf": READER_ROLES,
    "api.export_zip": READER_ROLES,
    "api.alerts_list": READER_ROLES,
    "api.alerts_seen": READER_ROLES,
    "api.assign": READER_ROLES,
    "api.seal": READER_ROLES,
    # The cases area of the API (cases/api.py), as the case pages (cases.index, cases.case,
    # cases.step, cases.open_case, cases.join_case, cases.board): scope.find_visible_case
    # decides which cases, services.refusal which steps.
    "api.cases": READER_ROLES,
    "api.case": READER_ROLES,
    "api.open_case": frozenset({"bureau_officer", "supervisor"}),
    "api.join_case": frozenset({"bureau_officer", "supervisor"}),
    "api.step": frozenset({"bureau_officer", "supervisor"}),
    "api.case_document": READER_ROLES,
    "api.board": READER_ROLES,
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


# Controls are drawn from the rules that guard them (issue 9: no control answers 403 or a
# refusal). ``may`` answers from ALLOWED, as ``guard`` does, and for an action on a tip from
# the same checks decisions.py and notices.py make before they act (``refusal``).


def may(endpoint: str, **context: Any) -> bool:
    """Whether the signed-in officer may use ``endpoint`` (a jinja global: the templates draw
    a link or form only if it says yes). ``tip=`` (and ``request=`` for an identity
    decision) also asks the rules of that decision on that tip."""
    if endpoint in PUBLIC:
        return True
    if not current_user.is_authenticated:
        return False
    if current_user.role not in ALLOWED.get(endpoint, frozenset()):
        return False
    tip = context.get("tip")
    if tip is None:
        return True
    return refusal(endpoint, tip, current_user, request=context.get("request")) is None


def refusal(
    endpoint: str, tip: Tip, actor: scope.Viewer, *, request: IdentityRequest | None = None
) -> str | None:
    """Why ``actor`` cannot take the action of ``endpoint`` (page or API) on ``tip`` now, as a
    message id, or None if the rules allow it. What was typed into the form is checked when
    it is sent; this is what the tip's state and the officer's place decide."""
    action = endpoint.partition(".")[2]
    check = TIP_RULES.get(action)
    return check(tip, actor, request) if check is not None else None


Rule = Callable[[Tip, scope.Viewer, "IdentityRequest | None"], "str | None"]


def _undecided(tip: Tip) -> str | None:
    return None if tip.status in decisions.UNDECIDED else N_("This tip has already been decided.")


def _leads_undecided(tip: Tip, actor: scope.Viewer, _r: IdentityRequest | None) -> str | None:
    """decisions.lead_decides, then the state check of confirm_routing, refuse, transfer."""
    if decisions.is_co_handler(tip, actor):
        return decisions.LEADS_ONLY
    return _undecided(tip)


def _accept(tip: Tip, actor: scope.Viewer, _r: IdentityRequest | None) -> str | None:
    if decisions.is_co_handler(tip, actor):
        assert actor.bureau is not None
        return decisions.co_accept_refusal(tip, actor.bureau)
    return _undecided(tip)


def _duplicate(tip: Tip, actor: scope.Viewer, _r: IdentityRequest | None) -> str | None:
    return decisions.LEADS_ONLY if decisions.is_co_handler(tip, actor) else None


def _identity_request(tip: Tip, actor: scope.Viewer, _r: IdentityRequest | None) -> str | None:
    return N_("This reporter gave no name.") if tip.identity is None else None


def _identity_decision(tip: Tip, actor: scope.Viewer, r: IdentityRequest | None) -> str | None:
    """decisions.decide_identity: a supervisor, not on their own request, a pending one."""
    if actor.role != "supervisor":
        return N_("Only a supervisor decides identity requests.")
    if r is None or r.tip_id != tip.id:
        return N_("This request has already been decided.")
    if r.requester_id == actor.id:
        return N_("You cannot decide your own request.")
    if r.state != "pending":
        return N_("This request has already been decided.")
    return None


def _notice_document(tip: Tip, actor: scope.Viewer, _r: IdentityRequest | None) -> str | None:
    """views.notice_document (403 outside the issuing office) and notices.reporter_name."""
    if not notices.issues_notice(tip, actor):
        return decisions.LEADS_ONLY
    if tip.identity is None or not tip.wants_notice:
        return N_("This reporter did not ask to be told.")
    if tip.status not in notices.DECISIONS:
        return N_("There is no decision to give notice of yet.")
    return None


def _give_notice(tip: Tip, actor: scope.Viewer, _r: IdentityRequest | None) -> str | None:
    if decisions.is_co_handler(tip, actor) or not notices.issues_notice(tip, actor):
        return decisions.LEADS_ONLY
    return None if notices.is_due(tip) else N_("No notice is due on this tip.")


def _seal(tip: Tip, actor: scope.Viewer, _r: IdentityRequest | None) -> str | None:
    """decisions.seal_refusal, with whether the tip is in a case read from its session."""
    session = object_session(tip)
    in_case = (
        session is not None
        and session.scalar(select(CaseTip.case_id).where(CaseTip.tip_id == tip.id)) is not None
    )
    return decisions.seal_refusal(tip, actor, in_case=in_case)


# By the action's name, the same for the page (triage.X) and the API (api.X).
TIP_RULES: dict[str, Rule] = {
    "route": _leads_undecided,
    "accept": _accept,
    "refuse": _leads_undecided,
    "transfer": _leads_undecided,
    "duplicate": _duplicate,
    "identity_request": _identity_request,
    "identity_decision": _identity_decision,
    "notice_document": _notice_document,
    "give_notice": _give_notice,
    "seal": _seal,
}
