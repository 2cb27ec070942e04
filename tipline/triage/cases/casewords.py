"""A case in words: stages, steps, clocks, documents and what each step recorded.

A case carries codes (its stage, the actions of its events, the clock rules and units, the
documents, the choices an officer made); an officer reads words, taken from the lifecycle's
tables and the catalogues. Like tips/tipwords.py, a code nobody gave words to is never shown
raw: it reads as "another ...".
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _

from tipline.intake import reference
from tipline.intake.models import CaseDeadline
from tipline.intake.reference import N_, Term
from tipline.intake.web import yuan
from tipline.intake.workdays import Calendar
from tipline.triage.cases import lifecycle
from tipline.triage.cases.clocks import local_day
from tipline.triage.localtime import local_time
from tipline.triage.tips.tipwords import pack_words, words

# The case clocks of domain.md section 3 (the rule packs' "deadlines" with a case "from").
CASE_CLOCKS: tuple[Term, ...] = (
    Term("T3", N_("Finishing the handling of the tip")),
    Term("T4", N_("Telling the reporter the filing decision")),
    Term("T5", N_("Receipt of the handover, or a request to complete it")),
    Term("T6", N_("Filing or returning the handed-over case")),
    Term("T7", N_("Recovery measures (else the head supervises in person)")),
    Term("T8", N_("Administrative penalty decision")),
    Term("T10", N_("The head's decision on the referral")),
    Term("T11", N_("Referral to the same-level police")),
    Term("T12", N_("Police forwarding outside their jurisdiction")),
    Term("T13", N_("Materials the police asked for")),
    Term("T14", N_("Police decision whether to file")),
    Term("T15", N_("Written notice of the police decision")),
    Term("T16", N_("Asking the police to reconsider")),
    Term("T17", N_("Police decision on the reconsideration")),
    Term("T18", N_("Asking for filing supervision")),
    Term("T19", N_("Police explanation to the supervising body")),
    Term("T19b", N_("Police filing after being told to file")),
    Term("T20", N_("Handing the exhibits to the police")),
    Term("T21", N_("Procuratorate decision whether to prosecute")),
    Term("T22", N_("First-instance judgment")),
)
UNITS: tuple[Term, ...] = (
    *reference.DEADLINE_UNITS,
    Term("same_day", N_("the same day")),
)
CLOCK_STATES: tuple[Term, ...] = reference.DEADLINE_STATES

# The statutory documents a step produces (lifecycle.TRANSITIONS ``documents``).
DOCUMENTS: tuple[Term, ...] = (
    Term("handover_letter", N_("Case handover letter (案件移交函)")),
    Term("handover_receipt", N_("Receipt of the handover letter (移交函回执)")),
    Term("filing_record", N_("Filing record (立案审批表)")),
    Term("non_filing_record", N_("Record of the decision not to file (不予立案审批表)")),
    Term("referral_letter", N_("Referral of a suspected crime (涉嫌犯罪案件移送书)")),
    Term("referral_receipt", N_("Receipt of the referral (移送书回执)")),
    Term("materials_list", N_("List of materials copied to the procuratorate")),
    Term("reconsideration_request", N_("Request for reconsideration (复议申请书)")),
    Term("supervision_proposal", N_("Proposal for filing supervision (立案监督建议书)")),
    Term("closing_notice", N_("Case closing notice (结案通知书)")),
)

# What the timeline calls each field an officer entered.
FIELD_LABELS: dict[str, str] = {
    "reason": N_("Reasons"), "to_bureau": N_("Handed over to"),
    "police_unit": N_("Police unit"), "team": N_("Referral team"),
    "penalty_kinds": N_("Kinds of penalty"), "fine": N_("Fine"),
    "recovered": N_("Amount recovered"), "verified_loss": N_("Verified loss"),
    "court_fine": N_("The court imposed a fine (罚金)"), "sentence": N_("Judgment"),
    "supervisor_body": N_("Supervising body"), "attachments": N_("Attachments enclosed"),
    "decided_on": N_("Date of the decision"), "at": N_("When it happened"),
    "measures": N_("What was done"), "findings": N_("Findings"),
}  # fmt: skip

AMOUNTS = frozenset({"fine", "recovered", "verified_loss"})


def stage(code: str) -> str:
    return words(lifecycle.STAGES, code) or _("Another stage")


def step(action: str) -> str:
    if action == lifecycle.OPEN:
        return _("Case opened for verification")
    transition = lifecycle.BY_ACTION.get(action)
    return _(transition.label) if transition is not None else _("Another step")


def document(kind: str) -> str:
    return words(DOCUMENTS, kind) or _("Another document")


def fen_yuan(amount: int | None) -> str:
    """An amount kept in fen, in yuan as people read it (¥12,000)."""
    if amount is None:
        return ""
    return yuan(Decimal(amount) / 100)


def bureau(code: str | None) -> str:
    return words(reference.BUREAUS, code) or (_("None") if not code else _("Another bureau"))


def entered(data: dict[str, Any]) -> list[tuple[str, str]]:
    """What a step recorded, field by field in the lifecycle's order, in words."""
    shown = []
    for name in lifecycle_fields():
        if name not in data:
            continue
        value = data[name]
        if name in AMOUNTS:
            text = fen_yuan(int(value))
        elif name == "to_bureau":
            text = bureau(str(value))
        elif name == "team":
            text = _("、").join(str(v) for v in value)
        elif name == "penalty_kinds":
            text = _("、").join(words(lifecycle.PENALTY_KINDS, str(v)) for v in value)
        elif name == "attachments":
            text = _("、").join(words(lifecycle.REFERRAL_ATTACHMENTS, str(v)) for v in value)
        elif name == "supervisor_body":
            text = words(lifecycle.SUPERVISORS, str(value))
        elif name == "court_fine":
            text = _("Yes") if value else _("No")
        else:
            text = str(value)
        shown.append((_(FIELD_LABELS[name]), text))
    return shown


def lifecycle_fields() -> tuple[str, ...]:
    return tuple(FIELD_LABELS)


@dataclass(frozen=True)
class Clock:
    """A case clock in words."""

    deadline: CaseDeadline
    rule: str
    length: str
    start: str
    due: str
    state: str
    state_code: str
    pack: str
    fallback: bool


def clock_state(deadline: CaseDeadline, now: dt.datetime, calendar: Calendar) -> str:
    """met / met_late from the record; for an open clock: overdue, due soon (one working
    day, as the board says) or open, from the time now (an hour clock to the minute)."""
    if deadline.met_at is not None:
        return deadline.state if deadline.state in ("met", "met_late", "lapsed") else "met"
    today = local_day(now)
    if deadline.due_at is not None:
        due_at = deadline.due_at if deadline.due_at.tzinfo else deadline.due_at.replace(
            tzinfo=dt.UTC
        )
        if now > due_at:
            return "overdue"
        return "due_soon" if due_at - now <= dt.timedelta(hours=24) else "open"
    if deadline.due_on < today:
        return "overdue"
    if calendar.working_days_between(today, deadline.due_on) <= 1:
        return "due_soon"
    return "open"


def clock(deadline: CaseDeadline, scopes: dict[str, str], now: dt.datetime,
          calendar: Calendar) -> Clock:  # fmt: skip
    length = words(UNITS, deadline.unit)
    state = clock_state(deadline, now, calendar)
    due = (local_time(deadline.due_at, "minutes") if deadline.due_at is not None
           else deadline.due_on.isoformat())  # fmt: skip
    return Clock(
        deadline=deadline,
        rule=words(CASE_CLOCKS, deadline.rule) or words(reference.DEADLINE_RULES, deadline.rule)
        or _("Another time limit"),
        length=length % {"amount": deadline.amount} if "%(amount)s" in length else length,
        start=local_time(deadline.starts_at, "minutes"),
        due=due,
        state=words(CLOCK_STATES, state),
        state_code=state,
        pack=pack_words(deadline.rule_pack, scopes),
        fallback=bool(deadline.calendar_fallback) and deadline.unit != "hours",
    )
