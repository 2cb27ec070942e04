"""A tip's state in words a citizen understands (domain.md section 5, from the outside)."""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from tipline.intake import reference
from tipline.intake.models import Tip

OUTCOMES = {
    "unfounded": _l("The facts could not be confirmed."),
    "recovered": _l("The money was recovered."),
    "penalised": _l("An administrative penalty was imposed."),
    "prosecuted": _l("The case went to the courts."),
}

_STATUS = {
    "received": _l("Received. Your report is waiting to be reviewed."),
    "screened": _l("Under review."),
    "accepted": _l("Accepted. The responsible office is looking into it."),
    "case_filed": _l("A case has been opened."),
}

_EVENTS = {
    "received": _l("Report received"),
    "screened": _l("Review started"),
    "accepted": _l("Accepted"),
    "not_accepted": _l("Not accepted"),
    "transferred_out": _l("Transferred"),
    "case_filed": _l("Case opened"),
    "closed": _l("Closed"),
    "message.officer": _l("Message from the officers"),
    "message.reporter": _l("Your message"),
    "evidence_added": _l("You added evidence"),
    "identity_added": _l("You added your name"),
}


def status_words(tip: Tip) -> str:
    if tip.status == "transferred_out":
        bureau = reference.label(reference.BUREAUS, tip.status_detail)
        return _("Transferred to another office: %(office)s.", office=_(bureau) if bureau else "")
    if tip.status == "not_accepted":
        reason = reference.label(reference.REFUSAL_REASONS, tip.status_detail)
        return _("Not accepted.") + (f" {_(reason)}" if reason else "")
    if tip.status == "closed":
        outcome = OUTCOMES.get(tip.status_detail or "")
        return _("Closed.") + (f" {outcome}" if outcome else "")
    return str(_STATUS.get(tip.status, _STATUS["screened"]))


@dataclass(frozen=True)
class Step:
    on: str
    what: str


def timeline(tip: Tip) -> list[Step]:
    steps = []
    for event in tip.events:
        if not event.shown_to_reporter:
            continue
        what = _EVENTS.get(event.kind)
        if what is None:
            continue
        text = str(what)
        if event.kind == "transferred_out" and event.detail:
            text += f": {_(reference.label(reference.BUREAUS, event.detail))}"
        steps.append(Step(on=event.on.isoformat(), what=text))
    return steps
