"""Rule packs: routing, flags and deadlines as data (DESIGN.md, "Rules as data").

A pack is JSON validated at load. Packs have a scope: ``national``, or a province or city
code whose tips they override. For a tip, the packs whose scope contains its region apply,
the most specific first; the first routing rule that matches decides, except that rules
which seal a tip (staff suspects) are checked first in every pack, so no local rule can
route a tip about staff to the people who may be involved (domain.md section 2).

Everything a rule produced records the packs (``name@version``) that produced it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from importlib.resources import files
from typing import Any

import jsonschema
from sqlalchemy import select
from sqlalchemy.orm import Session

from tipline.intake import reference
from tipline.intake.jsonbody import MAX_JSON_DEPTH, TOO_DEEP, BadBody, loads
from tipline.intake.models import RulePack
from tipline.intake.reference import N_

_CODES = {
    "category": sorted(reference.codes(reference.CATEGORIES)),
    "fund": sorted(reference.codes(reference.FUNDS)),
    "suspect_kind": sorted(reference.codes(reference.SUSPECT_KINDS)),
    "unit_level": sorted(reference.codes(reference.UNIT_LEVELS)),
    "kind": ["A", "B", "C", "-"],
}
_BUREAUS = sorted(reference.codes(reference.BUREAUS))
_REGION = {"type": "string", "pattern": "^[0-9]{6}$"}
_WHEN = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        **{
            name: {"type": "array", "items": {"enum": codes}, "minItems": 1}
            for name, codes in _CODES.items()
        },
        "region": {"type": "array", "items": _REGION, "minItems": 1},
        "amount_at_least": {"type": "number", "minimum": 0},
    },
}
# Units of a time limit. "same_day": by the end of the day it started (domain.md T5).
UNITS = ("working_days", "calendar_days", "months", "hours", "same_day")
_PATTERN = {"type": "string", "minLength": 3, "maxLength": 80, "pattern": "\\{n\\}"}
# Case numbers in the official style, per bureau and year (domain-cases.md section 7): no
# national HRSS pattern was found, so the pattern is data. Fields: {place} the office's short
# name, {agency} the bureau's short name, {doc} the document code, {year}, {n}.
_CASE_NUMBERS = {
    "type": "object",
    "required": ["pattern", "agencies", "source"],
    "additionalProperties": False,
    "properties": {
        "pattern": _PATTERN,
        "doc": {"type": "string", "maxLength": 8},
        "agencies": {
            "type": "object",
            "propertyNames": {"enum": _BUREAUS},
            "additionalProperties": {"type": "string", "minLength": 1, "maxLength": 12},
        },
        # A bureau's own pattern where practice has one (医保: 湘乡医保处字〔2023〕第3号).
        "bureaus": {
            "type": "object",
            "propertyNames": {"enum": _BUREAUS},
            "additionalProperties": {
                "type": "object",
                "additionalProperties": False,
                "properties": {"pattern": _PATTERN, "doc": {"type": "string", "maxLength": 8},
                               "source": {"type": "string"}},
            },
        },
        # Short names of offices where the region's name does not shorten by rule.
        "places": {
            "type": "object",
            "propertyNames": {"pattern": "^[0-9]{6}$"},
            "additionalProperties": {"type": "string", "minLength": 1, "maxLength": 12},
        },
        "source": {"type": "string", "minLength": 1},
    },
}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["name", "version", "scope", "routing", "flags", "deadlines"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "pattern": "^[a-z0-9_-]{1,64}$"},
        "version": {"type": "string", "pattern": "^[0-9A-Za-z._-]{1,32}$"},
        "scope": {"anyOf": [{"const": "national"}, _REGION]},
        "description": {"type": "string"},
        "routing": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["when", "bureau", "source"],
                "additionalProperties": False,
                "properties": {
                    "when": _WHEN,
                    "bureau": {"enum": _BUREAUS},
                    # The bureaus that handle the tip beside the lead, in order (domain.md
                    # section 2), each with a T1 of its own.
                    "co_bureaus": {
                        "type": "array", "items": {"enum": _BUREAUS}, "uniqueItems": True,
                        "maxItems": 4,
                    },
                    "sealed": {"type": "boolean"},
                    "handling_region": _REGION,
                    "supervising_region": _REGION,
                    "source": {"type": "string", "minLength": 1},
                },
            },
        },
        "case_numbers": _CASE_NUMBERS,
        "flags": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["flag", "when", "source"],
                "additionalProperties": False,
                "properties": {
                    "flag": {"type": "string", "pattern": "^[a-z_]{1,40}$"},
                    "when": _WHEN,
                    "source": {"type": "string", "minLength": 1},
                },
            },
        },
        "deadlines": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["rule", "applies", "from", "amount", "unit", "met_by", "source"],
                "additionalProperties": False,
                "properties": {
                    # T19b: a second limit of the same row of domain.md section 3.
                    "rule": {"type": "string", "pattern": "^T[0-9]{1,2}[a-z]?$"},
                    "applies": {"enum": ["always", "wants_notice"]},
                    # "received" starts a tip's clock; any other start is an event of a
                    # case (triage/cases/lifecycle.START_EVENTS, checked where cases are).
                    "from": {"type": "string", "pattern": "^[a-z_]{1,32}$"},
                    "amount": {"type": "integer", "minimum": 1},
                    "unit": {"enum": [*UNITS]},
                    "met_by": {
                        "type": "array", "items": {"type": "string", "pattern": "^[a-z_]{1,32}$"},
                    },
                    # Only the cases these bureaus hold (e.g. T4: healthcare security).
                    "bureaus": {
                        "type": "array", "items": {"enum": _BUREAUS}, "uniqueItems": True,
                        "minItems": 1,
                    },
                    # A limit not confirmed nationally ships switched off (T3, domain.md).
                    "enabled": {"type": "boolean"},
                    # Checked after the fact: a limit on someone else's act that may never
                    # come (T12: the police forward only a case outside their jurisdiction)
                    # is counted when the act is recorded, from the latest "from" event,
                    # instead of running, and overdue, while nothing is due.
                    "retrospective": {"type": "boolean"},
                    "source": {"type": "string", "minLength": 1},
                },
            },
        },
    },
}


class RulePackError(Exception):
    """A rule pack that does not validate: the message says where and why.

    ``message`` is an English message id (marked with ``N_``) that the admin page translates,
    filled with ``params``; ``str()`` is the English text, for logs and the command line.
    """

    def __init__(self, message: str, **params: object) -> None:
        super().__init__(message % params if params else message)
        self.message = message
        self.params = params


@dataclass(frozen=True)
class Pack:
    name: str
    version: str
    scope: str
    routing: tuple[dict[str, Any], ...]
    flags: tuple[dict[str, Any], ...]
    deadlines: tuple[dict[str, Any], ...]
    case_numbers: dict[str, Any] | None = None

    @property
    def label(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def prefix(self) -> str:
        """The region-code prefix the pack covers ('' for national)."""
        if self.scope == "national":
            return ""
        code = self.scope
        return code[:2] if code.endswith("0000") else code[:4] if code.endswith("00") else code


def _decode(text: str) -> Any:
    """The pack's JSON, read by the bounded decoder the APIs use: deep nesting is refused
    before the decoder (or the schema check) recurses into it, so a pasted pack cannot raise
    RecursionError (issue 7, item 12)."""
    data = text.encode("utf-8", errors="surrogatepass")  # a lone surrogate: not valid JSON
    try:
        return loads(data)
    except BadBody as bad:
        if bad.problem.message == TOO_DEEP:
            raise RulePackError(
                N_("The rule pack is nested too deeply: at most %(depth)s levels."),
                depth=MAX_JSON_DEPTH,
            ) from bad
        cause = bad.__cause__
        if isinstance(cause, json.JSONDecodeError):
            raise RulePackError(
                N_("The rule pack is not JSON: line %(line)s, column %(column)s."),
                line=cause.lineno, column=cause.colno,
            ) from bad  # fmt: skip
        if bad.problem.code == "too_large":
            raise RulePackError(N_("The rule pack is too large.")) from bad
        if bad.problem.code == "invalid_character":
            raise RulePackError(bad.problem.message) from bad
        raise RulePackError(N_("The rule pack is not JSON.")) from bad


def load_pack(text: str) -> Pack:
    body = _decode(text)
    try:
        jsonschema.validate(body, SCHEMA)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(part) for part in exc.absolute_path) or "(top)"
        raise RulePackError(
            N_("The rule pack does not follow the format at %(where)s: %(detail)s"),
            where=where, detail=exc.message,
        ) from exc  # fmt: skip
    starts = [(rule["rule"], rule["from"]) for rule in body["deadlines"]]
    for index, start in enumerate(starts):
        if start in starts[:index]:
            raise RulePackError(
                N_("deadlines/%(index)s: %(rule)s from %(start)s is defined twice."),
                index=index, rule=start[0], start=start[1],
            )  # fmt: skip
    for index, rule in enumerate(body["routing"]):
        if rule.get("sealed") and (rule["bureau"] != DISCIPLINE or rule.get("co_bureaus")):
            raise RulePackError(
                N_("routing/%(index)s: a sealed tip goes to %(bureau)s only."),  # domain.md §2
                index=index, bureau=DISCIPLINE,
            )  # fmt: skip
        if rule["bureau"] in rule.get("co_bureaus", ()):
            raise RulePackError(
                N_("routing/%(index)s: the lead bureau cannot also be a co-handling bureau."),
                index=index,
            )  # fmt: skip
        if (_only_medical(rule["when"]) and not rule.get("sealed")
                and rule["bureau"] != reference.HEALTHCARE):  # fmt: skip
            raise RulePackError(
                N_("routing/%(index)s: medical and maternity insurance go to %(bureau)s."),
                index=index, bureau=reference.HEALTHCARE,
            )  # fmt: skip
    return Pack(
        name=body["name"],
        version=body["version"],
        scope=body["scope"],
        routing=tuple(body["routing"]),
        flags=tuple(body["flags"]),
        deadlines=tuple(body["deadlines"]),
        case_numbers=body.get("case_numbers"),
    )


def _only_medical(when: dict[str, Any]) -> bool:
    """Whether a rule's condition can only match medical or maternity tips (domain.md
    section 6): such a rule must lead to healthcare security, and is refused at load if not.
    A broader rule that a medical tip also matches is passed over at routing instead."""
    funds = when.get("fund")
    categories = when.get("category")
    return bool(
        (funds and set(funds) <= reference.MEDICAL_FUNDS)
        or (categories and set(categories) <= reference.MEDICAL_CATEGORIES)
    )


@cache
def shipped_packs() -> tuple[Pack, ...]:
    """The packs that come with the software: the national defaults and local examples."""
    return tuple(
        load_pack(path.read_text(encoding="utf-8"))
        for path in sorted(files("tipline.rules").iterdir(), key=lambda p: p.name)
        if path.name.endswith(".json")
    )


@dataclass(frozen=True)
class Facts:
    """What the rules may look at: plaintext routing fields plus the amount at intake."""

    category: str
    region: str
    fund: str | None = None
    suspect_kind: str | None = None
    amount: Decimal | None = None
    wants_notice: bool = False
    # None when not known; a rule asking for "unknown" matches it too.
    unit_level: str | None = None

    def value(self, name: str) -> str | None:
        if name == "kind":
            category = reference.CATEGORY_BY_CODE.get(self.category)
            return category.kind if category else None
        if name == "unit_level":
            return self.unit_level or "unknown"
        found: str | None = getattr(self, name)
        return found

    @property
    def is_medical(self) -> bool:
        """Medical or maternity insurance: healthcare security's, everywhere (domain.md
        sections 1 and 6; 医保条例 art.35)."""
        return self.fund in reference.MEDICAL_FUNDS or self.category in (
            reference.MEDICAL_CATEGORIES
        )


def matches(when: dict[str, Any], facts: Facts) -> bool:
    for name, wanted in when.items():
        if name == "amount_at_least":
            if facts.amount is None or facts.amount < Decimal(str(wanted)):
                return False
        elif facts.value(name) not in wanted:
            return False
    return True


@dataclass(frozen=True)
class Routing:
    bureau: str
    handling_region: str
    sealed: bool
    flags: tuple[str, ...]
    packs: tuple[str, ...]
    source: str
    # The bureaus handling the tip beside the lead (domain.md section 2).
    co_bureaus: tuple[str, ...] = ()


@dataclass(frozen=True)
class DeadlineRule:
    rule: str
    amount: int
    unit: str
    met_by: tuple[str, ...]
    source: str
    pack: str
    # The event that starts it: "received" for a tip's, a case event for a case's.
    start: str = "received"
    retrospective: bool = False


def _deadline_rule(found: dict[str, Any], pack: Pack) -> DeadlineRule:
    return DeadlineRule(
        rule=found["rule"], amount=found["amount"], unit=found["unit"],
        met_by=tuple(found["met_by"]), source=found["source"], pack=pack.label,
        start=found["from"], retrospective=bool(found.get("retrospective")),
    )  # fmt: skip


@dataclass(frozen=True)
class CaseNumbering:
    """How an office numbers its cases: the pattern and the words that fill it."""

    pattern: str
    agency: str
    doc: str
    place: str | None
    pack: str


DISCIPLINE = "discipline_inspection"


def is_about_staff(facts: Facts) -> bool:
    return facts.suspect_kind == "agency_staff" or facts.category == "internal_embezzlement"


class RuleBook:
    """The active packs of an installation, applied to a tip's facts."""

    def __init__(self, packs: tuple[Pack, ...]) -> None:
        if not any(pack.scope == "national" for pack in packs):
            raise RulePackError("no national rule pack is active")
        self.packs = packs

    def applicable(self, region: str) -> list[Pack]:
        """The packs covering ``region``, most specific first."""
        found = [pack for pack in self.packs if region.startswith(pack.prefix)]
        return sorted(found, key=lambda pack: len(pack.prefix), reverse=True)

    def route(self, facts: Facts) -> Routing:
        packs = self.applicable(facts.region)
        labels = tuple(pack.label for pack in packs)
        sealing = [(p, r) for p in packs for r in p.routing if r.get("sealed")]
        ordinary = [(p, r) for p in packs for r in p.routing if not r.get("sealed")]
        flags = self.flags(facts, packs)
        if is_about_staff(facts):
            # The internal-staff rule (domain.md section 2, seed 000) is the law, not a
            # setting: no pack, however loaded, can route such a tip anywhere else.
            return Routing(
                bureau=DISCIPLINE,
                handling_region=facts.region,
                sealed=True,
                flags=flags,
                packs=labels,
                source="domain.md section 2, internal-staff rule",
            )
        for _pack, rule in [*sealing, *ordinary]:
            if not matches(rule["when"], facts):
                continue
            if (facts.is_medical and not rule.get("sealed")
                    and rule["bureau"] != reference.HEALTHCARE):  # fmt: skip
                # Medical and maternity insurance are healthcare security's (domain.md
                # sections 1 and 6): like the staff rule, this is the law, so no pack can
                # take such a tip from it; a rule that would is passed over. A sealing rule
                # still seals (it leads to discipline inspection, domain.md section 2).
                continue
            return Routing(
                bureau=rule["bureau"],
                handling_region=rule.get("handling_region", facts.region),
                sealed=bool(rule.get("sealed")),
                flags=flags,
                packs=labels,
                source=rule["source"],
                co_bureaus=tuple(rule.get("co_bureaus", ())),
            )
        if facts.is_medical:
            return Routing(
                bureau=reference.HEALTHCARE,
                handling_region=facts.region,
                sealed=False,
                flags=flags,
                packs=labels,
                source="domain.md section 6: medical and maternity insurance go to 医疗保障",
            )
        raise RulePackError("no routing rule matched: the national pack needs a catch-all rule")

    @staticmethod
    def flags(facts: Facts, packs: list[Pack]) -> tuple[str, ...]:
        """Each flag decided by the most specific pack that defines it."""
        decided: dict[str, bool] = {}
        for pack in packs:
            for rule in pack.flags:
                if rule["flag"] not in decided:
                    decided[rule["flag"]] = matches(rule["when"], facts)
        return tuple(sorted(flag for flag, raised in decided.items() if raised))

    def deadline(self, region: str, rule: str) -> DeadlineRule | None:
        """One clock (e.g. T1) as the most specific pack covering ``region`` defines it:
        for the receiving office of a transfer and for co-handling bureaus."""
        for pack in self.applicable(region):
            for found in pack.deadlines:
                if found["rule"] == rule:
                    return _deadline_rule(found, pack)
        return None

    def _chosen(self, region: str) -> dict[tuple[str, str], tuple[dict[str, Any], Pack]]:
        """Each rule, per start event, as the most specific pack covering ``region`` defines
        it (T5 runs from a handover and from a resubmission); a pack may switch a rule off
        (``"enabled": false``), which hides the wider packs' rule too."""
        chosen: dict[tuple[str, str], tuple[dict[str, Any], Pack]] = {}
        for pack in self.applicable(region):
            for rule in pack.deadlines:
                chosen.setdefault((rule["rule"], rule["from"]), (rule, pack))
        return {name: pair for name, pair in chosen.items() if pair[0].get("enabled", True)}

    def deadlines(self, facts: Facts) -> list[DeadlineRule]:
        """The clocks that start with the tip, each from the most specific pack defining it."""
        found = [
            _deadline_rule(rule, pack)
            for rule, pack in self._chosen(facts.region).values()
            if rule["from"] == "received"
            and (rule["applies"] != "wants_notice" or facts.wants_notice)
        ]
        return sorted(found, key=_rule_order)

    def case_deadlines(
        self, region: str, event: str, *, bureau: str, wants_notice: bool
    ) -> list[DeadlineRule]:
        """The clocks a case event starts for a case held by ``bureau`` in ``region``."""
        found = [
            _deadline_rule(rule, pack)
            for rule, pack in self._chosen(region).values()
            if rule["from"] == event and not rule.get("retrospective")
            and (rule["applies"] != "wants_notice" or wants_notice)
            and bureau in rule.get("bureaus", (bureau,))
        ]
        return sorted(found, key=_rule_order)

    def retrospective(
        self, region: str, action: str, *, bureau: str, wants_notice: bool
    ) -> list[DeadlineRule]:
        """The after-the-fact limits that ``action`` closes (each counted from its start)."""
        found = [
            _deadline_rule(rule, pack)
            for rule, pack in self._chosen(region).values()
            if rule.get("retrospective") and action in rule["met_by"]
            and (rule["applies"] != "wants_notice" or wants_notice)
            and bureau in rule.get("bureaus", (bureau,))
        ]
        return sorted(found, key=_rule_order)

    def numbering(self, region: str, bureau: str) -> CaseNumbering:
        """The case-number pattern for ``bureau`` in ``region``, from the most specific pack
        that has one (the national pack always does)."""
        for pack in self.applicable(region):
            numbers = pack.case_numbers
            if numbers is None:
                continue
            own = numbers.get("bureaus", {}).get(bureau, {})
            return CaseNumbering(
                pattern=own.get("pattern", numbers["pattern"]),
                agency=numbers["agencies"].get(bureau, ""),
                doc=own.get("doc", numbers.get("doc", "")),
                place=numbers.get("places", {}).get(region),
                pack=pack.label,
            )
        raise RulePackError("no rule pack gives a case-number pattern")


def _rule_order(rule: DeadlineRule) -> tuple[int, str]:
    digits = rule.rule[1:].rstrip("abcdefghijklmnopqrstuvwxyz")
    return int(digits), rule.rule


def rule_book(session: Session) -> RuleBook:
    """The active packs in the database (newest version of each name), else those shipped."""
    rows = session.scalars(
        select(RulePack).where(RulePack.active.is_(True)).order_by(RulePack.id)
    ).all()
    newest: dict[str, RulePack] = {}
    for row in rows:
        newest[row.name] = row
    if not newest:
        return RuleBook(shipped_packs())
    return RuleBook(tuple(_parsed(row.body) for row in newest.values()))


@cache
def _parsed(body: str) -> Pack:
    return load_pack(body)


def load_shipped_packs(session: Session) -> list[str]:
    """Store the shipped packs whose name and version the database does not hold yet."""
    held = {(row.name, row.version) for row in session.scalars(select(RulePack))}
    added = []
    for path in sorted(files("tipline.rules").iterdir(), key=lambda p: p.name):
        if not path.name.endswith(".json"):
            continue
        text = path.read_text(encoding="utf-8")
        pack = load_pack(text)
        if (pack.name, pack.version) not in held:
            session.add(RulePack(name=pack.name, version=pack.version, scope=pack.scope, body=text))
            added.append(pack.label)
    return added
