"""What the tip page and the internal API say of a tip, in the officer's language.

A tip carries codes (flags, clock rules, states and units, timeline kinds, the detail of its
status, rule pack ids); an officer reads words, taken from the term tables of
``intake.reference`` and translated here (issue 9: no raw codes on the tip page). The same
words go into the API's ``labels``, beside the codes a case system keys on. Everything the
reporter gave is listed by ``reporter_facts``, so a fact added to the report is shown once,
in both places.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from tipline.intake import reference, web
from tipline.intake.models import Deadline, Note, Officer, RulePack, Tip, TipEvent
from tipline.intake.reading import OpenedTip
from tipline.intake.reference import Term
from tipline.intake.submit import today
from tipline.intake.web import yuan
from tipline.triage import localtime, scope

# Timeline kinds whose detail is another tip's id (decisions.link_duplicate).
LINKS_A_TIP = frozenset({"duplicate", "duplicate_linked"})


def words(terms: tuple[Term, ...], code: str | None) -> str:
    """The translated label of ``code``; "" for no code, and for a code the table does not
    know (an officer is never shown a raw identifier)."""
    if not code:
        return ""
    for term in terms:
        if term.code == code:
            return _(term.label)
    return ""


def file_size(size: int) -> str:
    """A file's size in the officer's language (Jinja's filesizeformat speaks English)."""
    if size < 1024:
        return _("%(count)s bytes", count=size)
    if size < 1024 * 1024:
        return _("%(size)s KB", size=f"{size / 1024:.1f}")
    return _("%(size)s MB", size=f"{size / 1024 / 1024:.1f}")


def utc(moment: dt.datetime) -> dt.datetime:
    """A stored time, aware (SQLite gives back naive values; they were stored in UTC)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def local_time(moment: dt.datetime | None) -> str:
    """A stored UTC time as the offices read it: day and minute, Asia/Shanghai."""
    return localtime.local_time(moment, "minutes")


def when_words(details: dict[str, Any]) -> str:
    """When the conduct happened and whether it goes on, as the reporter gave it."""
    return web.when_words(details, not_said=_("Not given"))


@dataclass(frozen=True)
class Fact:
    """One thing the reporter gave: its key (the API's), label and words."""

    key: str
    label: str
    text: str


def reporter_facts(opened: OpenedTip) -> list[Fact]:
    """Everything the reporter gave, in the order of the report form; "Not given" where they
    left a question open. The report's text and the files are shown on their own."""
    tip, details = opened.tip, opened.details
    not_given = _("Not given")
    name = details.get("suspect_name") or ""
    facts = [
        Fact("category", _("Kind of wrongdoing"), words(reference.CATEGORIES, tip.category)),
        Fact("fund", _("Fund"), words(reference.FUNDS, tip.fund) or not_given),
        Fact(
            "suspect_kind",
            _("Who did it"),
            words(reference.SUSPECT_KINDS, tip.suspect_kind) or not_given,
        ),
        Fact(
            "unit_level",
            _("Level of the unit"),
            words(reference.UNIT_LEVELS, tip.unit_level or "unknown"),
        ),
        Fact("suspect_name", _("Unit or person"), str(name) or not_given),
        Fact("region", _("Place"), reference.region_name(tip.region)),
        Fact("happened", _("When it happened"), when_words(details)),
        Fact("amount", _("Amount"), _yuan(opened.amount) or not_given),
        Fact(
            "how_known",
            _("How the reporter knows"),
            words(reference.HOW_KNOWN, details.get("how_known")) or not_given,
        ),
        Fact("channel", _("Channel"), words(reference.CHANNELS, tip.channel)),
        Fact("received_on", _("Received on"), tip.received_on.isoformat()),
    ]
    return facts


def _yuan(amount: str | None) -> str:
    return yuan(amount) if amount else ""


def status_words(tip: Tip) -> str:
    """The tip's status, with its detail (the bureau it went to, the reason it was not
    accepted, the outcome) in words."""
    status = words(reference.STATUSES, tip.status)
    detail = ""
    if tip.status == "transferred_out":
        detail = words(reference.BUREAUS, tip.status_detail)
    elif tip.status == "not_accepted":
        detail = words(reference.REFUSAL_REASONS, tip.status_detail)
    elif tip.status == "closed":
        detail = words(reference.OUTCOMES, tip.status_detail)
    elif tip.status == "in_case":
        detail = words(reference.REPORTER_STAGES, tip.status_detail)
    return _("%(what)s (%(detail)s)", what=status, detail=detail) if detail else status


def flag_words(tip: Tip) -> list[str]:
    """The flags the rules raised, and the sealed mark, in words; a flag a local pack added
    that the tables do not know is named as such rather than by its code."""
    codes = [code for code in tip.flags.split(",") if code]
    if tip.sealed:
        codes.append("sealed")
    return [words(reference.FLAGS, code) or _("Another flag set by a rule pack") for code in codes]


def pack_scopes(session: Session) -> dict[str, str]:
    """Every rule pack version's id (``name@version``) and its scope."""
    rows = session.execute(select(RulePack.name, RulePack.version, RulePack.scope)).all()
    return {f"{row.name}@{row.version}": row.scope for row in rows}


def pack_words(pack_ids: str | None, scopes: dict[str, str]) -> str:
    """Rule packs as an officer names them: national rules or a place's, and the version."""
    found = []
    for pack_id in (pack_ids or "").split(","):
        name, _at, version = pack_id.partition("@")
        if not name:
            continue
        scope = scopes.get(pack_id, "national" if name == "national" else "")
        if scope == "national":
            found.append(_("National rules, version %(version)s", version=version))
        elif scope:
            found.append(
                _(
                    "Rules of %(region)s, version %(version)s",
                    region=reference.region_name(scope),
                    version=version,
                )
            )
        else:
            found.append(_("Local rules, version %(version)s", version=version))
    return _("; ").join(found)


@dataclass(frozen=True)
class Clock:
    """A deadline in words."""

    deadline: Deadline
    rule: str
    length: str
    state: str
    closed_by: str
    pack: str


def clock(deadline: Deadline, scopes: dict[str, str], today: dt.date | None = None) -> Clock:
    """A deadline in words; an open clock past its due date reads overdue even before the
    morning sweep has marked it."""
    bureau = words(reference.BUREAUS, deadline.bureau)
    rule = words(reference.DEADLINE_RULES, deadline.rule) or _("Another time limit")
    if bureau:
        rule = _("%(what)s (%(detail)s)", what=rule, detail=bureau)
    length = words(reference.DEADLINE_UNITS, deadline.unit)
    return Clock(
        deadline=deadline,
        rule=rule,
        length=length % {"amount": deadline.amount} if length else "",
        state=words(
            reference.DEADLINE_STATES,
            "overdue"
            if deadline.met_on is None and today is not None and deadline.due_on < today
            else deadline.state,
        ),
        closed_by=words(reference.CLOSED_BY, deadline.closed_by),
        pack=pack_words(deadline.rule_pack, scopes),
    )


@dataclass(frozen=True)
class Step:
    """A timeline entry in words; ``tip_id`` when it names another tip (a duplicate)."""

    on: dt.date
    what: str
    detail: str
    tip_id: str | None

    @property
    def text(self) -> str:
        if not self.detail:
            return self.what
        return _("%(what)s (%(detail)s)", what=self.what, detail=self.detail)


def step(event: TipEvent) -> Step:
    what = words(reference.EVENT_KINDS, event.kind) or _("Another event")
    detail, tip_id = "", None
    if event.kind in LINKS_A_TIP:
        tip_id = event.detail
    elif event.kind == "not_accepted":
        detail = words(reference.REFUSAL_REASONS, event.detail)
    elif event.kind == "transferred_out":
        bureau = words(reference.BUREAUS, event.detail)
        detail = (
            _("%(bureau)s in %(region)s", bureau=bureau, region=reference.region_name(event.region))
            if event.region and bureau
            else bureau
        )
    elif event.kind == "co_accepted":
        detail = words(reference.BUREAUS, event.detail)
    elif event.kind == "case_stage":
        # The public step the reporter was told of (services._tell_reporters).
        detail = words(reference.REPORTER_STAGES, event.detail) or words(
            reference.STATUSES, event.detail
        )
    return Step(on=event.on, what=what, detail=detail, tip_id=tip_id)


def authors(session: Session, ids: set[int | None]) -> dict[int, str]:
    """The officers who wrote notes and messages: id to the name they sign in with."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = session.execute(select(Officer.id, Officer.username).where(Officer.id.in_(wanted)))
    return {row.id: row.username for row in rows}


def labels(opened: OpenedTip, scopes: dict[str, str]) -> dict[str, Any]:
    """The API's ``labels``: the words the page shows for the tip's codes, in the caller's
    language (Accept-Language)."""
    tip = opened.tip
    return {
        **{fact.key: fact.text for fact in reporter_facts(opened)},
        "status": status_words(tip),
        "handling_region": reference.region_name(tip.handling_region),
        "suggested_bureau": words(reference.BUREAUS, tip.suggested_bureau),
        "bureau": words(reference.BUREAUS, tip.bureau),
        "co_bureaus": [words(reference.BUREAUS, code) for code in tip.co_bureau_codes],
        "flags": flag_words(tip),
        "rule_packs": pack_words(tip.rule_packs, scopes),
    }


def page_context(session: Session, opened: OpenedTip, viewer: scope.Viewer) -> dict[str, Any]:
    """What the tip page shows beside the tip itself, all in words."""
    tip = opened.tip
    scopes = pack_scopes(session)
    notes_by = session.scalars(select(Note.officer_id).where(Note.tip_id == tip.id)).all()
    return {
        "status_words": status_words(tip),
        "flags": flag_words(tip),
        "packs": pack_words(tip.rule_packs, scopes),
        "facts": reporter_facts(opened),
        "clocks": [clock(d, scopes, today()) for d in tip.deadlines],
        "file_size": file_size,
        "steps": [step(e) for e in tip.events],
        "authors": authors(session, {m.officer_id for m in tip.messages} | set(notes_by)),
        "local_time": local_time,
        # The later tips linked to this one, as far as the viewer may see them.
        "duplicates": session.scalars(
            scope.visible_tips(viewer).where(Tip.duplicate_of == tip.id).order_by(Tip.id)
        ).all(),
    }
