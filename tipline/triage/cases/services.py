"""Opening cases and taking their steps: plain functions of a session, no Flask.

The pages, the internal API and the sweep call these after ``scope.find_visible_case`` (or
``find_visible`` for tips) has found the row for the officer. Each writes its audit entry in
the same transaction. A refusal is a ``CaseError`` whose message is an English message id,
translated where it is shown.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from stdnum.cn import uscc

from tipline.crypto import PrivateKeyring, PublicKeyring, new_tip_key, open_sealed, seal
from tipline.intake import envelopes, reference
from tipline.intake.followup import record_event
from tipline.intake.models import Case, CaseEvent, CaseTip, Officer, Tip
from tipline.intake.reference import N_
from tipline.intake.rules import Facts, RuleBook, rule_book
from tipline.intake.sanitize import clean_text
from tipline.intake.submit import CHINA, MAX_AMOUNT, ric_problem
from tipline.intake.workdays import Calendar, load_calendar
from tipline.triage import scope
from tipline.triage.audit import record
from tipline.triage.cases import clocks, documents, numbers
from tipline.triage.cases.lifecycle import (
    BY_ACTION,
    HEAD,
    OPEN,
    PARTNER,
    PENALTY_KINDS,
    POLICE_DECIDED,
    REFERRAL_ATTACHMENTS,
    SUPERVISORS,
    Transition,
)

MAX_REASON = 4000
MAX_SUBJECT = 200
MAX_UNIT_NAME = 100
CASE_ROLES = frozenset({"bureau_officer", "supervisor", "triage_officer"})
# Who may hold a case (domain.md section 1): the bureaus that investigate and penalise.
HOLDING_BUREAUS = frozenset({
    "si_agency", "hrss_admin", "labor_inspection", "healthcare_security",
    "discipline_inspection",
})  # fmt: skip
# Who a handover goes to (社会保险经办条例 art.44: to the HRSS or 医保 department).
HANDOVER_TO = ("labor_inspection", "hrss_admin", "healthcare_security")
# The closing outcome the reporter reads (reference.OUTCOMES), from the stage closed from.
_OUTCOME = {"judged": "prosecuted", "penalised": "penalised", "administrative": "penalised"}


class CaseError(Exception):
    """A step that cannot be taken; ``message`` is an English message id with ``params``."""

    def __init__(self, message: str, **params: object) -> None:
        super().__init__(message % params if params else message)
        self.message = message
        self.params = params


@dataclass(frozen=True)
class Subject:
    """Who the case is about, as an officer entered it (sealed with the case)."""

    kind: str  # reference.SUSPECT_KINDS
    name: str
    # 统一社会信用代码 for a unit, resident ID number for a person; "" when not known.
    identifier: str = ""
    period_from: dt.date | None = None
    period_to: dt.date | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "name": self.name, "identifier": self.identifier,
            "period_from": self.period_from.isoformat() if self.period_from else None,
            "period_to": self.period_to.isoformat() if self.period_to else None,
        }  # fmt: skip


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _name(actor: scope.Viewer) -> str:
    return str(getattr(actor, "username", actor.id))


# --- the sealed part -----------------------------------------------------------------------


def case_key(case: Case, keyring: PrivateKeyring) -> bytes:
    return envelopes.unwrap(keyring, case.key_envelope, envelopes.case_owner(case.id))


def details(case: Case, key: bytes) -> dict[str, Any]:
    """The sealed part of the case: subject, findings and what each step recorded."""
    found: dict[str, Any] = json.loads(
        open_sealed(key, case.details, tip_id=case.id, purpose="case-details")
    )
    return found


def _write_details(case: Case, key: bytes, body: dict[str, Any]) -> None:
    case.details = seal(
        key, json.dumps(body, ensure_ascii=False).encode(), tip_id=case.id, purpose="case-details"
    )


def event_data(event: CaseEvent, key: bytes) -> dict[str, Any]:
    if event.data is None:
        return {}
    found: dict[str, Any] = json.loads(
        open_sealed(key, event.data, tip_id=event.case_id, purpose=f"case-event:{event.id}")
    )
    return found


# --- checking what was entered -------------------------------------------------------------


def _text(raw: Any, limit: int, field: str) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise CaseError(N_("Please fill in: %(field)s."), field=field)
    if len(raw) > limit:
        raise CaseError(N_("%(field)s is too long: at most %(limit)s characters."), field=field,
                        limit=limit)  # fmt: skip
    return clean_text(raw).strip()


def fen(raw: Any, field: str) -> int:
    """An amount in yuan (a number or a string such as "12,345.60") as integer fen."""
    if isinstance(raw, bool):
        raise CaseError(N_("%(field)s must be an amount in yuan."), field=field)
    text = str(raw).replace(",", "").replace("，", "").strip() if raw is not None else ""
    if not text or len(text) > 20 or not re.fullmatch(r"[0-9]+(\.[0-9]{1,2})?", text):
        raise CaseError(
            N_("%(field)s must be an amount in yuan, with at most two decimals."), field=field
        )
    try:
        amount = Decimal(text)
    except InvalidOperation as exc:  # pragma: no cover - the pattern above admits none
        raise CaseError(N_("%(field)s must be an amount in yuan."), field=field) from exc
    if amount > MAX_AMOUNT:
        raise CaseError(N_("%(field)s is larger than any real case."), field=field)
    return int(amount * 100)


def _date(raw: Any, field: str, today: dt.date) -> dt.date:
    day: dt.date | None = None
    if isinstance(raw, dt.date) and not isinstance(raw, dt.datetime):
        day = raw
    elif isinstance(raw, str) and len(raw) <= 32:
        try:
            day = dt.date.fromisoformat(raw.strip())
        except ValueError:
            day = None
    if day is None:
        raise CaseError(N_("%(field)s must be a date such as 2026-03-01."), field=field)
    if day > today:
        raise CaseError(N_("%(field)s cannot be in the future."), field=field)
    if day.year < 2000:
        raise CaseError(N_("%(field)s is too early."), field=field)
    return day


def _instant(raw: Any, now: dt.datetime) -> dt.datetime:
    """When something happened, as entered (ISO 8601; without an offset, China time)."""
    if raw in (None, ""):
        return now
    if isinstance(raw, dt.datetime):
        at = raw
    else:
        try:
            at = dt.datetime.fromisoformat(str(raw).strip())
        except ValueError as exc:
            raise CaseError(
                N_("The time must be a date and time such as 2026-03-01 14:30.")
            ) from exc
    # Checked before any arithmetic: year 1 or 9999 with an offset overflows datetime.
    if at.year < 2000:
        raise CaseError(N_("The time is too early."))
    if at.year > now.year + 1:
        raise CaseError(N_("The time cannot be in the future."))
    if at.tzinfo is None:
        at = at.replace(tzinfo=CHINA)
    at = at.astimezone(dt.UTC)
    if at > now + dt.timedelta(minutes=5):
        raise CaseError(N_("The time cannot be in the future."))
    return at


def _choices(raw: Any, allowed: Sequence[str], field: str) -> list[str]:
    items = raw if isinstance(raw, list) else [raw] if isinstance(raw, str) and raw else []
    if not items or len(items) > len(allowed) or any(
        not isinstance(item, str) or item not in allowed for item in items
    ):
        raise CaseError(N_("Please choose from the list: %(field)s."), field=field)
    return list(dict.fromkeys(items))


def _flag(raw: Any, field: str) -> bool:
    if isinstance(raw, bool):
        return raw
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise CaseError(N_("Please answer yes or no: %(field)s."), field=field)


# Field names as officers read them, in the messages above.
FIELD_WORDS = {
    "reason": N_("the reasons"), "to_bureau": N_("the department it goes to"),
    "police_unit": N_("the police unit"), "team": N_("the team"),
    "penalty_kinds": N_("the kinds of penalty"), "fine": N_("the fine"),
    "recovered": N_("the amount recovered"), "verified_loss": N_("the verified loss"),
    "court_fine": N_("whether the court imposed a fine (罚金)"), "sentence": N_("the judgment"),
    "supervisor_body": N_("the supervising body"), "attachments": N_("the attachments"),
    "decided_on": N_("the date of the decision"), "at": N_("the time"),
    "measures": N_("what was done"), "findings": N_("the findings"),
}  # fmt: skip


def clean(
    session: Session, case: Case, transition: Transition, raw: Mapping[str, Any],
    now: dt.datetime,
) -> dict[str, Any]:  # fmt: skip
    """What the officer entered for ``transition``, checked; a missing required field or a
    bad value is refused with a message naming it."""
    today = now.astimezone(CHINA).date()
    wanted = (*transition.needs, *transition.may_give)
    out: dict[str, Any] = {}
    for field in wanted:
        value = raw.get(field)
        words = FIELD_WORDS[field]
        if value in (None, "", []) and field not in transition.needs:
            continue
        if field in ("reason", "measures", "findings", "sentence"):
            out[field] = _text(value, MAX_REASON, words)
        elif field == "police_unit":
            out[field] = _text(value, MAX_UNIT_NAME, words)
        elif field == "to_bureau":
            out[field] = _choices(value, HANDOVER_TO, words)[0]
        elif field == "team":
            out[field] = _team(session, case, value)
        elif field == "penalty_kinds":
            out[field] = _choices(value, [t.code for t in PENALTY_KINDS], words)
        elif field == "supervisor_body":
            out[field] = _choices(value, [t.code for t in SUPERVISORS], words)[0]
        elif field == "attachments":
            out[field] = _choices(value, [t.code for t in REFERRAL_ATTACHMENTS], words)
        elif field in ("fine", "recovered", "verified_loss"):
            out[field] = fen(value, words)
        elif field == "court_fine":
            out[field] = _flag(value, words)
        elif field == "decided_on":
            out[field] = _date(value, words, today)
        elif field == "at":
            out[field] = _instant(value, now)
    unknown = set(raw) - set(wanted) - {"confirm"}
    if unknown:
        fields = ", ".join(sorted(unknown))
        raise CaseError(N_("This step does not take: %(fields)s."), fields=fields)
    return out


def _team(session: Session, case: Case, raw: Any) -> list[str]:
    """The referral team (专案组): at least two officers of the bureau holding the case
    (令310 art.5), named by their user names."""
    if isinstance(raw, str):
        raw = re.split(r"[\s,，、]+", raw)
    names = raw if isinstance(raw, list) else []
    names = list(dict.fromkeys(n.strip() for n in names if isinstance(n, str) and n.strip()))
    if len(names) > 20:
        raise CaseError(N_("A referral team has at most 20 officers."))
    found = session.scalars(
        select(Officer).where(
            Officer.username.in_(names), Officer.active.is_(True),
            Officer.bureau == case.bureau, Officer.region == case.handling_region,
            Officer.role.in_(("bureau_officer", "supervisor")),
        )  # fmt: skip
    ).all()
    if {o.username for o in found} != set(names):
        raise CaseError(N_("Every member of the team must be an active officer of the bureau "
                           "holding the case."))  # fmt: skip
    if len(names) < 2:
        raise CaseError(N_("A referral needs a team of at least two officers (令310 art.5)."))
    return names


# --- who may take a step -------------------------------------------------------------------


def refusal(case: Case, transition: Transition, actor: scope.Viewer) -> str | None:
    """Why ``actor`` cannot take ``transition`` on ``case`` now, as a message id, or None.
    What was entered is checked by ``clean`` and ``_guard``; this is what the stage and the
    officer's place decide (so the pages draw no control that would be refused)."""
    if case.stage not in transition.sources:
        return N_("This step cannot be taken at this stage of the case.")
    if actor.role not in CASE_ROLES:
        return N_("Your role cannot work on cases.")
    if transition.who == HEAD:
        if actor.role != "supervisor" or actor.bureau != case.bureau:
            return N_("Only the head of the bureau holding the case can take this step.")
    elif transition.who == PARTNER:
        acting = case.partner_bureau or case.bureau
        if actor.bureau != acting:
            return N_("Only the agency that handed the case over can take this step.")
    elif actor.bureau != case.bureau:
        return N_("Only the bureau holding the case can take this step.")
    if actor.role == "triage_officer" and transition.who != HEAD:
        # The intake desk sees cases of its jurisdiction but does not work them.
        return N_("Only the bureau holding the case can take this step.")
    if actor.region != case.handling_region:
        # Offices above see the case (分级负责) but the office holding it acts; its head is
        # that office's head (令310 art.5), not a superior's.
        return N_("Only the office holding the case can take this step.")
    if transition.action == "approve_referral" and _reporters(case) & {
        actor.id, getattr(actor, "username", None)
    }:
        return N_("A referral must be approved by a head who did not report it (令310 art.5).")
    if transition.action == "decline_filing" and _referral_outstanding(case):
        return N_("A suspected crime must be referred to the police: an administrative "
                  "penalty may not take its place (以罚代刑, 令310 art.11).")  # fmt: skip
    if transition.action == "give_filing_notice" and not any(
        d.met_at is None and transition.action in d.met_by.split(",") for d in case.deadlines
    ):
        # Only a real-name reporter who asked is owed it (T4): nothing to record otherwise.
        return N_("No reporter of this case is owed a notice of the filing decision.")
    if transition.action == "close" and _referral_outstanding(case):
        return N_("A suspected crime must be referred to the police: an administrative "
                  "penalty may not take its place (以罚代刑, 令310 art.11).")  # fmt: skip
    return None


def _reporters(case: Case) -> set[int | str]:
    """Who reported the pending referral: the officer who entered the report (by id) and
    the team named in it (by user name)."""
    reports = [e for e in case.events if e.action == "report_referral"]
    if not reports:
        return set()
    found: set[int | str] = {reports[-1].actor_id} if reports[-1].actor_id is not None else set()
    found.update(name for name in case.referral_team.split(",") if name)
    return found


def _last_event_at(case: Case, action: str) -> dt.datetime | None:
    found = [e.at for e in case.events if e.action == action]
    return found[-1] if found else None


def _reported_from(case: Case) -> str:
    reports = [e for e in case.events if e.action == "report_referral"]
    return reports[-1].from_stage or "filed" if reports else "filed"


def _referral_outstanding(case: Case) -> bool:
    return case.criminal_suspected and not case.referred


def _guard(case: Case, transition: Transition, data: dict[str, Any]) -> None:
    """The law's checks on what was entered (domain.md section 5)."""
    if transition.action == "penalise" and "fine" in data.get("penalty_kinds", []):
        if "fine" not in data:
            raise CaseError(N_("Please fill in: %(field)s."), field=FIELD_WORDS["fine"])
        if case.court_fine and case.fine is None:
            # 行政处罚法 art.35¶2: the court imposed 罚金 and no fine came before it.
            raise CaseError(N_("The court has imposed a fine (罚金) and no administrative fine "
                               "came before it: no fine may be imposed now (行政处罚法 "
                               "art.35)."))  # fmt: skip
    if transition.action == "penalise" and "fine" in data and "fine" not in data.get(
        "penalty_kinds", []
    ):
        raise CaseError(N_("A fine was entered but the penalty is not a fine."))
    if transition.action == "hand_over" and data["to_bureau"] == case.bureau:
        raise CaseError(N_("A case is handed over to another bureau."))
    if transition.action == "refer" and len(data["attachments"]) < len(REFERRAL_ATTACHMENTS):
        raise CaseError(N_("A referral carries all five attachments of 令310 art.6; mark each "
                           "as enclosed."))  # fmt: skip


# --- opening a case ------------------------------------------------------------------------


def open_refusal(tips: Sequence[Tip], actor: scope.Viewer) -> str | None:
    """Why ``actor`` cannot open a case from ``tips`` (already found visible to them)."""
    if not tips:
        return N_("Choose the tips the case is made of.")
    if actor.role not in ("bureau_officer", "supervisor"):
        return N_("Only officers of the responsible bureau open cases.")
    for tip in tips:
        if tip.status != "accepted":
            return N_("Only accepted tips can become a case.")
        if scope.handling_bureau(tip) != actor.bureau:
            return N_("Only officers of the responsible bureau open cases.")
        if tip.bureau not in HOLDING_BUREAUS:
            return N_("This bureau does not hold cases; transfer the tip to the bureau that "
                      "investigates.")  # fmt: skip
    if len({tip.handling_region for tip in tips}) > 1 or len({tip.sealed for tip in tips}) > 1:
        return N_("The tips of one case are handled by one office.")
    return None


def open_case(
    session: Session, public: PublicKeyring, actor: scope.Viewer, tips: Sequence[Tip],
    subject: Subject, findings: str, *, now: dt.datetime | None = None,
) -> Case:  # fmt: skip
    """A case from accepted tips about the same facts, the earliest received first (the
    first reporter, domain.md section 4). Numbered by the office's sequence for the year."""
    _lock_tips(session, tips)
    problem = open_refusal(tips, actor)
    if problem:
        raise CaseError(problem)
    taken = session.scalars(select(CaseTip.tip_id).where(CaseTip.tip_id.in_([t.id for t in tips])))
    if taken.first() is not None:
        raise CaseError(N_("A tip already belongs to a case."))
    _check_subject(subject)
    findings = _text(findings, MAX_REASON, FIELD_WORDS["findings"])
    now = now or _now()
    ordered = sorted(tips, key=lambda tip: (tip.received_on, tip.id))
    first = ordered[0]
    book = rule_book(session)
    bureau = first.bureau or scope.handling_bureau(first)
    region = first.handling_region
    return _new_case(
        session, public, book, actor, ordered, subject, findings, now,
        bureau=bureau, region=region, sealed=first.sealed, parent=None,
        category=first.category, fund=first.fund,
    )  # fmt: skip


def join_case(session: Session, case: Case, tip: Tip, actor: scope.Viewer) -> None:
    """A later tip about the same facts joins the case; the tips stay in the order they
    were received, so the earliest stays first whatever the order of joining."""
    _lock_tips(session, [tip])
    problem = open_refusal([tip], actor) or (
        N_("Only the bureau holding the case can take this step.")
        if actor.bureau != case.bureau else None
    )
    if problem is None and (tip.handling_region != case.handling_region
                            or tip.sealed != case.sealed):  # fmt: skip
        problem = N_("The tips of one case are handled by one office.")
    if problem:
        raise CaseError(problem)
    if session.scalar(select(CaseTip.tip_id).where(CaseTip.tip_id == tip.id)) is not None:
        raise CaseError(N_("A tip already belongs to a case."))
    tips = [*_case_tips(session, case), tip]
    tips.sort(key=lambda row: (row.received_on, row.id))
    by_id = {link.tip_id: link for link in case.tips}
    joined = _now().astimezone(CHINA).date()
    case.tips.append(CaseTip(tip_id=tip.id, position=len(tips) - 1, joined_on=joined))
    by_id[tip.id] = case.tips[-1]
    for position, row in enumerate(tips):
        by_id[row.id].position = position
    tip.status = "in_case"
    tip.status_detail = _reporter_stage(case)
    record_event(session, tip, "case_opened")
    session.flush()
    record(session, "case.join", actor=_name(actor), case=case.id, tip_id=tip.id)


def _lock_tips(session: Session, tips: Sequence[Tip]) -> None:
    """Two officers making cases of one tip at once, or a seal racing a case: the second
    waits, then sees the tip as the first left it (in a case, sealed) and is refused."""
    ids = sorted({tip.id for tip in tips})
    session.execute(select(Tip.id).where(Tip.id.in_(ids)).order_by(Tip.id).with_for_update())
    for tip in tips:
        session.refresh(tip)


def _reporter_stage(case: Case) -> str:
    """What a tip joining now is told: the last public step of the case."""
    shown = "investigating"
    for event in case.events:
        transition = BY_ACTION.get(event.action)
        if transition is not None and transition.reporter and transition.reporter != "closed":
            shown = transition.reporter
    return shown


def _check_subject(subject: Subject) -> None:
    if subject.kind not in reference.codes(reference.SUSPECT_KINDS):
        raise CaseError(N_("Please choose from the list: %(field)s."), field=N_("the subject"))
    _text(subject.name, MAX_SUBJECT, N_("the subject's name"))
    ident = subject.identifier
    if ident:
        if len(ident) > 32:
            raise CaseError(N_("The identifier is too long."))
        if subject.kind == "individual" or subject.kind == "agency_staff":
            problem = ric_problem(ident)
            if problem:
                raise CaseError(N_("The resident ID number is not valid: please check it."))
        elif not uscc.is_valid(ident):
            raise CaseError(N_("The unified social credit code (统一社会信用代码) is not valid: "
                               "please check it."))  # fmt: skip
    if subject.period_from and subject.period_to and subject.period_from > subject.period_to:
        raise CaseError(N_("The period ends before it begins."))


def _new_case(
    session: Session, public: PublicKeyring, book: RuleBook, actor: scope.Viewer,
    tips: Sequence[Tip], subject: Subject, findings: str, now: dt.datetime, *, bureau: str,
    region: str, sealed: bool, parent: Case | None, category: str, fund: str | None,
) -> Case:  # fmt: skip
    year = now.astimezone(CHINA).year
    numbering = book.numbering(region, bureau)
    n = numbers.take(session, bureau, region, year)
    key = new_tip_key()
    case_id = secrets.token_hex(8)
    packs = ",".join(pack.label for pack in book.applicable(region))
    case = Case(
        id=case_id, number=numbers.format_number(numbering, region, year, n),
        bureau_of_number=bureau, region_of_number=region, year=year, seq=n, bureau=bureau,
        handling_region=region, handling_city=region[:4], handling_province=region[:2],
        sealed=sealed, parent_id=parent.id if parent else None, stage="verifying",
        category=category, fund=fund, subject_kind=subject.kind,
        opened_on=now.astimezone(CHINA).date(), opened_by=actor.id, recovered=0,
        criminal_suspected=False, referred=False, supervised=False, court_fine=False,
        referral_team="",
        rule_packs=packs[:128], key_id="",
        key_envelope=envelopes.wrap(public, key, envelopes.case_owner(case_id)), details=b"",
    )  # fmt: skip
    case.key_id = envelopes.key_id(case.key_envelope)
    _write_details(case, key, {"subject": subject.as_json(), "findings": findings})
    session.add(case)
    for position, tip in enumerate(tips):
        case.tips.append(CaseTip(tip_id=tip.id, position=position, joined_on=case.opened_on))
        tip.status = "in_case"
        tip.status_detail = "investigating"
        record_event(session, tip, "case_opened")
    event = CaseEvent(
        at=now, action=OPEN, from_stage=None, to_stage="verifying", actor_id=actor.id,
        rule_pack=numbering.pack, documents="",
    )  # fmt: skip
    case.events.append(event)
    calendar = load_calendar(session)
    _start_clocks(case, book, OPEN, now, calendar, tips)
    case.next_due = clocks.nearest_due(case)
    session.flush()
    record(
        session, "case.open", actor=_name(actor), case=case.id, number=case.number,
        tips=",".join(tip.id for tip in tips),
    )  # fmt: skip
    return case


def _wants_notice(tips: Sequence[Tip]) -> bool:
    return any(tip.real_name and tip.wants_notice for tip in tips)


def _case_tips(session: Session, case: Case) -> list[Tip]:
    ids = [link.tip_id for link in case.tips]
    found = {t.id: t for t in session.scalars(select(Tip).where(Tip.id.in_(ids)))}
    return [found[i] for i in ids if i in found]


def _start_clocks(
    case: Case, book: RuleBook, event: str, at: dt.datetime, calendar: Calendar,
    tips: Sequence[Tip],
) -> None:  # fmt: skip
    rules = book.case_deadlines(
        case.handling_region, event, bureau=case.bureau, wants_notice=_wants_notice(tips)
    )
    clocks.start(case, rules, at, calendar, event)


# --- taking a step -------------------------------------------------------------------------


def apply(
    session: Session, keyring: PrivateKeyring, case: Case, action: str, actor: scope.Viewer,
    raw: Mapping[str, Any], *, now: dt.datetime | None = None,
) -> CaseEvent:  # fmt: skip
    """Take one step of the lifecycle (``lifecycle.TRANSITIONS``) on ``case``."""
    transition = BY_ACTION.get(action)
    if transition is None:
        raise CaseError(N_("There is no such step."))
    # Two officers taking a step on one case at once: the second waits for the first and
    # then sees the stage it left (a step that no longer fits is refused, not applied twice).
    session.execute(select(Case.id).where(Case.id == case.id).with_for_update())
    session.refresh(case)
    problem = refusal(case, transition, actor)
    if problem:
        raise CaseError(problem)
    now = now or _now()
    data = clean(session, case, transition, raw, now)
    _guard(case, transition, data)
    at: dt.datetime = data.pop("at", now)
    previous = max((clocks.aware(e.at) for e in case.events), default=None)
    # Times are entered to the minute: compare with the previous step's minute.
    if previous is not None and at < previous.replace(second=0, microsecond=0):
        # The timeline runs forward: a police receipt cannot predate the referral.
        raise CaseError(N_("The time is before the case's previous step."))
    key = case_key(case, keyring)
    book = rule_book(session)
    calendar = load_calendar(session)
    if action == "refer_discipline":
        return _refer_discipline(session, keyring, case, key, actor, data["findings"], book, at)
    tips = _case_tips(session, case)
    from_stage = case.stage
    _apply_effects(session, keyring, case, transition, data, key, actor, book, now)
    if action == "refuse_referral":
        # Back to where the report was made from (filed, penalised or administrative).
        case.stage = _reported_from(case)
    elif transition.target is not None:
        case.stage = transition.target
    decided: dt.datetime | None = None
    if "decided_on" in data and action in ("police_file", "police_decline",
                                             "reconsideration_refused"):  # fmt: skip
        # Stored in UTC like every instant (SQLite keeps no offset: a China-time value read
        # back would be taken for UTC, eight hours off).
        decided = dt.datetime.combine(data["decided_on"], dt.time(0, 0), tzinfo=CHINA).astimezone(
            dt.UTC
        )
        _start_clocks(case, book, POLICE_DECIDED, decided, calendar, tips)
    for rule in book.retrospective(case.handling_region, action, bureau=case.bureau,
                                   wants_notice=_wants_notice(tips)):  # fmt: skip
        started = _last_event_at(case, rule.start)
        if started is not None:
            clocks.start(case, [rule], started, calendar, rule.start)
    if decided is not None:
        # T14, T17, T19b count to the police's decision, not to when its notice arrived
        # (that delay is T15's, met by the notice itself).
        clocks.meet(case, action, decided, unless_started_by=POLICE_DECIDED)
    clocks.meet(case, action, at)
    if case.stage == "closed" and from_stage != "closed":
        clocks.close_all(case, action, at)
    # After the closing: a notice owed for the decision that closed it still runs (T4).
    _start_clocks(case, book, action, at, calendar, tips)
    case.next_due = clocks.nearest_due(case)
    event = CaseEvent(
        at=at, action=action, from_stage=from_stage, to_stage=case.stage, actor_id=actor.id,
        rule_pack=case.rule_packs, documents=",".join(transition.documents),
    )  # fmt: skip
    case.events.append(event)
    session.flush()
    if data:
        event.data = seal(
            key, json.dumps(_jsonable(data), ensure_ascii=False).encode(), tip_id=case.id,
            purpose=f"case-event:{event.id}",
        )  # fmt: skip
    documents.produce(session, case, event, transition.documents, key, actor)
    _tell_reporters(session, case, transition, tips, from_stage)
    record(
        session, "case.step", actor=_name(actor), case=case.id, step=action, stage=case.stage
    )
    return event


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, dt.date) else v for k, v in data.items()}


def _apply_effects(
    session: Session, keyring: PrivateKeyring, case: Case, transition: Transition,
    data: dict[str, Any], key: bytes, actor: scope.Viewer, book: RuleBook, now: dt.datetime,
) -> None:  # fmt: skip
    action = transition.action
    if "recovered" in data:
        case.recovered += data["recovered"]
    if "verified_loss" in data:
        case.verified_loss = data["verified_loss"]
        if _crime_threshold(book, case):
            case.criminal_suspected = True
    if "findings" in data and action not in ("refer_discipline",):
        body = details(case, key)
        body.setdefault("findings_log", []).append(
            {"step": action, "at": now.isoformat(), "text": data["findings"]}
        )
        _write_details(case, key, body)
    if action == "hand_over":
        case.partner_bureau, case.bureau = case.bureau, data["to_bureau"]
    elif action == "return_case" and case.partner_bureau:
        case.bureau, case.partner_bureau = case.partner_bureau, None
    elif action == "report_referral":
        case.criminal_suspected = True
        case.referral_team = ",".join(data["team"])
    elif action == "refuse_referral":
        # The head decided, with reasons on record, that nothing is to be referred (art.5).
        case.criminal_suspected = False
    elif action == "refer":
        case.referred = True
    elif action == "supervise":
        case.supervised = True
    elif action == "penalise" and "fine" in data:
        case.fine = (case.fine or 0) + data["fine"]
    elif action == "judgment":
        case.court_fine = bool(data["court_fine"])


def _crime_threshold(book: RuleBook, case: Case) -> bool:
    """Whether the verified loss reaches the pack's threshold for a referral (the flag
    ``criminal_referral_candidate``, 诈骗罪 数额较大, 法释〔2011〕7号 art.1)."""
    if case.verified_loss is None:
        return False
    facts = Facts(
        category=case.category, region=case.handling_region, fund=case.fund,
        suspect_kind=case.subject_kind, amount=Decimal(case.verified_loss) / 100,
    )  # fmt: skip
    return "criminal_referral_candidate" in book.flags(facts, book.applicable(case.handling_region))


def _refer_discipline(
    session: Session, keyring: PrivateKeyring, case: Case, key: bytes, actor: scope.Viewer,
    findings: str, book: RuleBook, at: dt.datetime,
) -> CaseEvent:  # fmt: skip
    """domain.md section 2: leak nothing to people who may be involved. The parent case
    records no event and keeps nothing of it (its holders, the intake desk and the agency
    that handed it over, whose staff are the usual suspects, would read it); the sealed
    sub-case holds the findings, and the audit log (auditors only) the link."""
    sub = _discipline_sub_case(
        session, keyring.public_keyring(), case, key, actor, findings, book, at
    )
    record(session, "case.step", actor=_name(actor), case=sub.id, step="refer_discipline",
           stage=sub.stage)  # fmt: skip
    return sub.events[0]


def _discipline_sub_case(
    session: Session, public: PublicKeyring, case: Case, key: bytes, actor: scope.Viewer,
    findings: str, book: RuleBook, now: dt.datetime,
) -> Case:  # fmt: skip
    """A sealed sub-case for discipline inspection, numbered by discipline inspection's own
    sequence (domain.md section 2); it is not linked to the parent's tips, whose reporters
    it must not expose, and the parent's officers do not see it."""
    subject = details(case, key).get("subject", {})
    sub_subject = Subject(kind="agency_staff", name=N_("(to be identified)"))
    if subject.get("kind") == "agency_staff":
        sub_subject = Subject(kind="agency_staff", name=str(subject.get("name", "")))
    return _new_case(
        session, public, book, actor, [], sub_subject, findings, now,
        bureau="discipline_inspection", region=case.handling_region, sealed=True, parent=case,
        category="internal_embezzlement", fund=case.fund,
    )  # fmt: skip


def _tell_reporters(
    session: Session, case: Case, transition: Transition, tips: Sequence[Tip], from_stage: str
) -> None:
    """The reporter's status follows the case in plain words (portal/status.py), through the
    tip's own plain columns: the portal never reads cases."""
    if transition.reporter is None:
        return
    for tip in tips:
        if transition.reporter == "closed":
            tip.status = "closed"
            tip.status_detail = _closing_outcome(case, from_stage)
        else:
            tip.status = "in_case"
            tip.status_detail = transition.reporter
        record_event(session, tip, "case_stage", transition.reporter)


def _closing_outcome(case: Case, from_stage: str) -> str:
    if from_stage in ("verifying", "received"):
        return "unfounded"
    penalised = any(event.action == "penalise" for event in case.events)
    if from_stage == "administrative" and not penalised:
        # Back from the police and closed without a penalty: nothing was imposed.
        return "recovered" if case.recovered else "unfounded"
    outcome = _OUTCOME.get(from_stage)
    if outcome is None:
        return "recovered" if case.recovered else "unfounded"
    return outcome


# --- reading -------------------------------------------------------------------------------


def next_steps(case: Case, actor: scope.Viewer) -> list[Transition]:
    """The steps ``actor`` may take now: what the page draws and the API lists."""
    from tipline.triage.cases.lifecycle import allowed_from

    return [t for t in allowed_from(case.stage) if refusal(case, t, actor) is None]
