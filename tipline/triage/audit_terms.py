"""The audit log in words: what each action code and each detail means, for the pages and the
CSV export, in the reader's language.

Entries store codes (``tip.read``, ``{"bureau": "si_agency"}``) so that the hash chain and
outside tools see stable values; an auditor reads ``查阅举报`` and ``承办部门：社保经办机构``.
Every action and detail key that the code records has a term here (tests/test_audit_log.py
walks the ``record`` calls and checks); one that does not, say from an older release, is
still shown readably, never as raw JSON.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _

from tipline.intake import reference
from tipline.intake.reference import N_, Term
from tipline.triage.accounts import ACCOUNT_ACTIONS, ROLE_TERMS
from tipline.triage.cases import documents, lifecycle
from tipline.triage.tips import notices

# The steps of a case as the log names them: opening it, and each row of the lifecycle.
_STEPS = (Term(lifecycle.OPEN, N_("Opened the case")),
          *(Term(t.action, t.label) for t in lifecycle.TRANSITIONS))  # fmt: skip

ACTIONS: tuple[Term, ...] = (
    # Signing in and accounts: their words are kept with the accounts (accounts.py).
    *ACCOUNT_ACTIONS,
    Term("token.issue", N_("Issued an API token")),
    Term("token.revoke", N_("Revoked API tokens")),
    # Reading: each view of contents is one of these (views.py).
    Term("tip.read", N_("Read a tip")),
    Term("attachment.read", N_("Downloaded an attachment")),
    Term("tip.export", N_("Exported a tip for the file")),
    Term("identity.read", N_("Opened the reporter's identity")),
    # Work on tips.
    Term("tip.enter", N_("Entered a tip")),
    Term("tips.import", N_("Imported tips")),
    Term("tip.route", N_("Confirmed the bureau")),
    Term("tip.accept", N_("Accepted a tip")),
    Term("tip.co_accept", N_("Accepted a tip as co-handler")),
    Term("tip.refuse", N_("Did not accept a tip")),
    Term("tip.transfer", N_("Transferred a tip")),
    Term("tip.duplicate", N_("Linked a tip as a duplicate")),
    Term("tip.recuse", N_("Withdrew from a tip (recusal)")),
    Term("tip.seal", N_("Sealed a tip for discipline inspection")),
    Term("tip.assign", N_("Assigned a tip to an officer")),
    Term("note.add", N_("Added a note")),
    Term("message.send", N_("Sent a message to the reporter")),
    Term("identity.request", N_("Asked to open the reporter's identity")),
    Term("identity.approve", N_("Approved an identity request")),
    Term("identity.refuse", N_("Refused an identity request")),
    Term("notice.give", N_("Recorded that the reporter was told")),
    # Clocks, calendar and rules.
    Term("deadline.escalate", N_("A deadline passed and was escalated")),
    Term("deadline.recompute", N_("A deadline was counted again")),
    Term("notices.sent", N_("Deadline notices sent by e-mail")),
    Term("alerts.digest", N_("Alert digests sent by e-mail")),
    Term("calendar.change", N_("Corrected a day of the calendar")),
    Term("calendar.notice", N_("Entered a holiday notice")),
    Term("rulepack.change", N_("Loaded a rule pack")),
    # Cases (triage/cases/): opening one, and each step of the lifecycle (the step in detail).
    Term("case.read", N_("Read a case")),
    Term("case.open", N_("Opened a case")),
    Term("case.step", N_("Took a step on a case")),
    Term("case.join", N_("Joined a tip to a case")),
    Term("case.document.read", N_("Downloaded a case document")),
    # The documents' Word templates (cases/template_admin.py).
    Term("template.upload", N_("Uploaded a document template")),
    Term("template.retire", N_("Retired a document template")),
    # The log itself.
    Term("audit.export", N_("Exported the audit log")),
)
ACTION_CODES = reference.codes(ACTIONS)

# Deadline rules (domain.md section 5) as they appear in entries.
RULES: tuple[Term, ...] = (
    Term("T1", N_("T1: review of a received tip")),
    Term("T2", N_("T2: telling the reporter")),
    Term("T3", N_("T3: finishing the handling of a tip")),
    # The clocks of cases (rules/national.json, "from" a case's step).
    Term("T4", N_("T4: telling the reporter of the filing decision")),
    Term("T5", N_("T5: signing the handover receipt")),
    Term("T6", N_("T6: filing or returning a handed-over case")),
    Term("T7", N_("T7: recovery measures (else the head supervises)")),
    Term("T8", N_("T8: the administrative penalty decision")),
    Term("T10", N_("T10: the head's decision on a referral")),
    Term("T11", N_("T11: referral to the police (24 hours)")),
    Term("T12", N_("T12: the police forwarding the case (24 hours)")),
    Term("T13", N_("T13: supplying the materials the police asked for")),
    Term("T14", N_("T14: the police's decision whether to file")),
    Term("T15", N_("T15: the police's written notice of their decision")),
    Term("T16", N_("T16: asking the police to reconsider")),
    Term("T17", N_("T17: the police's reconsideration")),
    Term("T18", N_("T18: proposing filing supervision")),
    Term("T19", N_("T19: the police explaining a refusal")),
    Term("T19b", N_("T19: the police filing after being told to")),
    Term("T20", N_("T20: handing the exhibits to the police")),
    Term("T21", N_("T21: the decision whether to prosecute")),
    Term("T22", N_("T22: the first-instance judgment")),
)

PURPOSES: tuple[Term, ...] = (
    Term("notice", N_("for the notice (告知书)")),
    Term("tip", N_("on the tip's page, after an approved request")),
)


def _term(terms: tuple[Term, ...]) -> Callable[[Any], str]:
    known = reference.codes(terms)

    def show(value: Any) -> str:
        code = str(value)
        return _(reference.label(terms, code)) if code in known else code

    return show


def _yes_no(value: Any) -> str:
    return _("Yes") if str(value) not in ("0", "", "False", "None") else _("No")


def _region(value: Any) -> str:
    return reference.region_name(str(value))  # GB/T 2260 names; the code if unknown


_CALENDAR_REASON = re.compile(r"^calendar:(\d{4}-\d{2}-\d{2})$")
_NOTICE_REASON = re.compile(r"^notice:(\d{4})$")


def _reason(value: Any) -> str:
    """A refusal reason's code, why a clock was counted again, or a catalogued message."""
    text = str(value)
    if text in reference.codes(reference.REFUSAL_REASONS):
        return _(reference.label(reference.REFUSAL_REASONS, text))
    if match := _CALENDAR_REASON.match(text):
        return _("the calendar correction of %(day)s", day=match.group(1))
    if match := _NOTICE_REASON.match(text):
        return _("the holiday notice for %(year)s", year=match.group(1))
    # Account approvals keep their refusal's message id (accounts.ApprovalRefused).
    return _(text)


def _text(value: Any) -> str:
    return str(value)


@dataclass(frozen=True)
class DetailKey:
    code: str
    label: str  # a catalogue message id, with its colon
    show: Callable[[Any], str] = _text


DETAIL_KEYS: tuple[DetailKey, ...] = (
    DetailKey("username", N_("Account:")),
    DetailKey("role", N_("Role:"), _term(ROLE_TERMS)),
    DetailKey("was_role", N_("Role before:"), _term(ROLE_TERMS)),
    DetailKey("bureau", N_("Bureau:"), _term(reference.BUREAUS)),
    DetailKey("was_bureau", N_("Bureau before:"), _term(reference.BUREAUS)),
    DetailKey("suggested", N_("Suggested bureau:"), _term(reference.BUREAUS)),
    DetailKey("changed", N_("Other than suggested:"), _yes_no),
    DetailKey("region", N_("Region:"), _region),
    DetailKey("was_region", N_("Region before:"), _region),
    DetailKey("was_locked", N_("Was locked:"), _yes_no),
    DetailKey("requested_by", N_("Asked for by:")),
    DetailKey("officer_id", N_("Account number:")),
    DetailKey("reason", N_("Reason:"), _reason),
    DetailKey("pack", N_("Rule pack:")),
    DetailKey("day", N_("Day:")),
    DetailKey("workday", N_("Working day:"), _yes_no),
    DetailKey("year", N_("Year:")),
    DetailKey("days_off", N_("Days off:")),
    DetailKey("working_days", N_("Make-up working days:")),
    DetailKey("reference", N_("Notice:")),
    DetailKey("token_id", N_("Token number:")),
    DetailKey("count", N_("How many:")),
    DetailKey("rule", N_("Deadline:"), _term(RULES)),
    DetailKey("decision", N_("Decision:"), _term(reference.STATUSES)),
    DetailKey("channel", N_("How the reporter was told:"), _term(notices.CHANNELS)),
    DetailKey("given_on", N_("Told on:")),
    DetailKey("portal", N_("Also on the portal:"), _yes_no),
    DetailKey("purpose", N_("Opened:"), _term(PURPOSES)),
    DetailKey("first", N_("Duplicate of tip:")),
    # tip.assign: to whom (nobody: given back, or unassigned).
    DetailKey("officer", N_("Assigned to:"), lambda name: str(name) if name else _("Nobody")),
    # alerts.digest: the period the digest covers (its start, China time).
    DetailKey("period", N_("Period starting:")),
    # tip.export (export.py): PDF or ZIP, how many evidence files, the identity in it or not.
    DetailKey("format", N_("Format:"), lambda kind: str(kind).upper()),
    DetailKey("files", N_("Evidence files:")),
    DetailKey("identity", N_("With the reporter's identity:"), _yes_no),
    # tip.duplicate: the duplicate's clocks that linking closed ("T1,T2").
    DetailKey("closed", N_("Deadlines closed:"), lambda rules: "、".join(
        _term(RULES)(rule) for rule in str(rules).split(",") if rule
    ) or _("None")),
    DetailKey("request", N_("Identity request number:")),
    DetailKey("attachment", N_("Attachment:")),
    DetailKey("was", N_("Was due:")),
    DetailKey("due", N_("Due:")),
    DetailKey("fallback", N_("Counted Monday to Friday:"), _yes_no),
    DetailKey("through", N_("Escalations up to entry:")),
    DetailKey("addresses", N_("Addresses:")),
    # audit.export: the filter the export was made with (audit_views.audit_csv).
    DetailKey("of_actor", N_("Searched for the account:")),
    DetailKey("of_action", N_("Searched for the action:"), lambda code: action_label(str(code))),
    DetailKey("of_tip", N_("Searched for the tip:")),
    DetailKey("of_start", N_("From the day:")),
    DetailKey("of_end", N_("To the day:")),
    DetailKey("case", N_("Case:")),
    DetailKey("number", N_("Case number:")),
    DetailKey("tips", N_("Tips:")),
    DetailKey("step", N_("Step:"), lambda code: _(lifecycle.label(_STEPS, str(code)))),
    DetailKey("stage", N_("Stage:"), _term(lifecycle.STAGES)),
    # case.document.read and the templates: which document, of which kind, where it applies.
    DetailKey("document", N_("Document number:")),
    DetailKey("kind", N_("Document:"), _term(documents.KINDS)),
    DetailKey("locality", N_("Where it applies:"),
              lambda code: _("nationwide") if str(code) == "national" else _region(code)),
    DetailKey("template", N_("Template number:")),
    DetailKey("sha256", N_("Fingerprint (SHA-256):")),
)
_BY_KEY = {key.code: key for key in DETAIL_KEYS}


def action_label(code: str) -> str:
    """An action in the reader's words; an unknown one as "Other action (code)"."""
    if code in ACTION_CODES:
        return _(reference.label(ACTIONS, code))
    return _("Other action (%(code)s)", code=code)


def _value(value: Any) -> str:
    # Details are flat (audit.record takes str, int or None), but an entry written by hand
    # or by an older release may nest: shown as text, never as JSON.
    if isinstance(value, dict):
        return "；".join(f"{k} {_value(v)}" for k, v in value.items())
    if isinstance(value, list):
        return "、".join(_value(v) for v in value)
    return "" if value is None else str(value)


def detail_items(detail: str) -> list[tuple[str, str]]:
    """An entry's stored JSON detail as (label, value) pairs in the reader's words, in the
    order of ``DETAIL_KEYS``, then any unknown keys with a readable label."""
    try:
        data = json.loads(detail) if detail else {}
    except ValueError:
        return [(_("Detail:"), detail)]
    if not isinstance(data, dict):
        return [(_("Detail:"), _value(data))]
    items = []
    for key in DETAIL_KEYS:
        if key.code in data and data[key.code] is not None:
            items.append((_(key.label), key.show(data[key.code])))
    for code, value in data.items():
        if code not in _BY_KEY and value is not None:
            items.append((_("%(key)s:", key=code.replace("_", " ")), _value(value)))
    return items


def joined(items: list[tuple[str, str]]) -> str:
    """Detail items as one line (the CSV's cell): ``部门：社保经办机构；理由：…``."""
    return _("; ").join(f"{label}{value}" for label, value in items)
