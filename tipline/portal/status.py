"""A tip's state in words a citizen understands (domain.md section 5, from the outside)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from tipline.intake import followup, reference, web
from tipline.intake.config import Limits
from tipline.intake.models import Tip
from tipline.intake.scrub import extensions_by_kind
from tipline.intake.submit import MAX_ATTACHMENTS

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

# A tip in a case (Tip.status "in_case"): the public step of the case, in plain words
# (reference.REPORTER_STAGES). Never the case's number, the office that holds it, a dispute
# between offices or a refusal by the police: only what the reporter may know (domain.md
# section 7).
CASE_STAGES = {
    "investigating": _l("The responsible office is investigating the facts you reported."),
    "filed": _l("A case has been filed (立案) on what you reported and is being investigated."),
    "penalised": _l("An administrative penalty has been decided in the case."),
    "referred": _l("The case has been referred to the police (移送公安机关)."),
    "police_filed": _l("The police have opened a criminal case (公安机关已立案)."),
    "prosecuted": _l("A prosecution has been brought before the court (已提起公诉)."),
    "judged": _l("The court has given its judgment (已判决)."),
}

# The same steps as timeline entries.
_CASE_STEPS = {
    "investigating": _l("Investigation started"),
    "filed": _l("Case filed (立案)"),
    "penalised": _l("Administrative penalty decided"),
    "referred": _l("Referred to the police"),
    "police_filed": _l("Police opened a criminal case"),
    "prosecuted": _l("Prosecution brought"),
    "judged": _l("Judgment given"),
    "closed": _l("Closed"),
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
    # Linked as a duplicate (triage decisions.link_duplicate): never which report.
    "merged": _l("Handled together with another report about the same facts"),
    # Taken into a case (triage/cases): never its number nor the office holding it. The
    # steps of the case are told by _CASE_STEPS (kind "case_stage", the step as detail).
    "case_opened": _l("Taken up for investigation"),
    "case_stage": _l("The case moved on"),
}

MERGED = _l(
    "Your report has been merged with another report about the same facts. The two are "
    "handled together; you need do nothing, and you can still send messages and evidence "
    "here."
)


# What a reporter is told after sending something from the status page (post/redirect/get):
# the code travels in the session cookie, the words are chosen here.
NOTICES = {
    "message": _l("Your message has arrived. The officers will see it with your report."),
    "evidence": _l("Your files have arrived and were added to your report."),
    "identity": _l("Your name has been added to your report, in a sealed envelope."),
}

# The kinds of evidence, in the words of the add-evidence box (scrub.KINDS).
_KIND_WORDS = {
    "image": _l("pictures"),
    "pdf": _l("PDF documents"),
    "office": _l("office documents"),
    "audio": _l("sound"),
    "video": _l("video"),
}

def office_words(bureau: str | None, region: str | None) -> str:
    """ "Transferred to <region> <bureau>" in the reporter's language, with what is known."""
    bureau_name = _(reference.label(reference.BUREAUS, bureau)) if bureau else ""
    region_name = reference.region_name(region) if region else ""
    if bureau_name and region_name:
        return _("Transferred to %(bureau)s in %(region)s.", bureau=bureau_name,
                 region=region_name)  # fmt: skip
    if bureau_name:
        return _("Transferred to %(bureau)s.", bureau=bureau_name)
    return _("Transferred to another office.")


def status_words(tip: Tip) -> str:
    words = _status_words(tip)
    if tip.duplicate_of is not None:
        # Two sentences, joined as the reader's language joins them (no space in Chinese).
        return _("%(status)s %(merged)s", status=words, merged=MERGED)
    return words


def _status_words(tip: Tip) -> str:
    if tip.status == "transferred_out":
        # The receiving office, region and bureau, as the transfer recorded it (domain.md T1).
        where = followup.last_transfer(tip)
        if where is not None:
            return office_words(where.bureau, where.region)
        return office_words(tip.status_detail, tip.handling_region)
    if tip.status == "not_accepted":
        reason = reference.label(reference.REFUSAL_REASONS, tip.status_detail)
        return _("Not accepted.") + (f" {_(reason)}" if reason else "")
    if tip.status == "closed":
        outcome = OUTCOMES.get(tip.status_detail or "")
        return _("Closed.") + (f" {outcome}" if outcome else "")
    if tip.status == "in_case":
        return str(CASE_STAGES.get(tip.status_detail or "", CASE_STAGES["investigating"]))
    return str(_STATUS.get(tip.status, _STATUS["screened"]))


@dataclass(frozen=True)
class Step:
    on: str
    what: str


def timeline(tip: Tip) -> list[Step]:
    steps = []
    shown = [event for event in tip.events if event.shown_to_reporter]
    for event in shown:
        what = _EVENTS.get(event.kind)
        if what is None:
            continue
        text = str(what)
        if event.kind == "case_stage":
            # A step of the case the reporter may know of; any other is not shown.
            stage = _CASE_STEPS.get(event.detail or "")
            if stage is None:
                continue
            text = str(stage)
        if event.kind == "transferred_out":
            # Each transfer names the office it went to; a row from before the region was
            # recorded names the bureau alone.
            text = office_words(event.detail, event.region)
        steps.append(Step(on=event.on.isoformat(), what=text))
    return steps


def when_words(details: dict[str, Any]) -> str:
    """When the conduct happened, as the reporter gave it, in plain words."""
    return web.when_words(details, not_said=_("You did not say."))


def fund_words(tip: Tip) -> str:
    if not tip.fund:
        return _("You did not say.")
    return _(reference.label(reference.FUNDS, tip.fund))


def evidence_hint(limits: Limits, already: int) -> str:
    """What the add-evidence box accepts, from the same figures the checks use."""
    kinds = extensions_by_kind()
    listed = _("; ").join(
        _(
            "%(kind)s (%(extensions)s)",
            kind=_KIND_WORDS[kind],
            extensions=", ".join(ext.upper() for ext in extensions),
        )  # fmt: skip
        for kind, extensions in kinds.items()
    )
    return _(
        "You may add up to %(left)s more files (%(most)s in all): %(kinds)s. Each file up to "
        "%(each)s MB, the files you add at once together up to %(total)s MB. Location and "
        "author details are removed before the files are stored.",
        left=max(0, MAX_ATTACHMENTS - already),
        most=MAX_ATTACHMENTS,
        kinds=listed,
        each=limits.max_file_bytes // 1048576,
        total=limits.max_total_bytes // 1048576,
    )
