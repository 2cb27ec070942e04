"""The lifecycle of a case, declared once: read ``TRANSITIONS`` as the law's flowchart.

domain.md section 5 after acceptance, with 国务院令310 article by article (domain-cases.md
section 4). Each row says from which stages an action may be taken, the stage it leads to,
who takes it (the officers of the bureau holding the case, of the agency that handed it
over, or its head), what must be entered, the documents it produces and the rule it
applies. The clocks an action starts and stops are rule-pack data (the packs' ``deadlines``
with ``from`` and ``met_by``), so a province changes a limit without a code change.

Police, procuratorate and court are not users of the system: their acts (the receipt
signed, a refusal, a filing, a judgment) are recorded by the case's officers when the
paper arrives, with the time it happened.

``services.apply`` is the one function that applies a row; the pages, the internal API and
the sweep all go through it. A refusal is a ``CaseError`` with a message id.
"""

from __future__ import annotations

from dataclasses import dataclass

from tipline.intake import reference
from tipline.intake.reference import N_, Term

# The stages (domain.md section 5), in the order a case usually passes them.
STAGES: tuple[Term, ...] = (
    Term("verifying", N_("Verification and recovery")),
    Term("handed_over", N_("Handed over, waiting for the receipt")),
    Term("needs_correction", N_("Handed over, materials to complete")),
    Term("received", N_("Received by the department, to file or return")),
    Term("filed", N_("Case filed")),
    Term("penalised", N_("Administrative penalty decided")),
    Term("referral_reported", N_("Referral to the police reported to the head")),
    Term("referral_approved", N_("Referral approved")),
    Term("referred", N_("Referred to the police")),
    Term("police_received", N_("Police signed the receipt")),
    Term("materials_requested", N_("Police asked for more materials")),
    Term("police_declined", N_("Police decided not to file")),
    Term("reconsideration", N_("Reconsideration asked of the police")),
    Term("declined_final", N_("Police kept their refusal")),
    Term("supervision", N_("Filing supervision asked")),
    Term("police_filed", N_("Police filed the case")),
    Term("exhibits_transferred", N_("Exhibits handed to the police")),
    Term("prosecution_review", N_("Before the procuratorate")),
    Term("prosecuted", N_("Prosecuted")),
    Term("judged", N_("Judgment given")),
    Term("administrative", N_("Back for administrative handling")),
    Term("closed", N_("Closed")),
)
STAGE_CODES = frozenset(term.code for term in STAGES)
OPEN_STAGES = STAGE_CODES - {"closed"}

# Who takes an action: an officer of the bureau holding the case, of the agency that
# handed it over (which keeps recovering the money), or the head (负责人, a supervisor of
# the holding bureau).
HOLDER = "holder"
PARTNER = "partner"
HEAD = "head"

# What an action may ask for; services.clean checks each (its own messages).
FIELDS = frozenset({
    "reason", "to_bureau", "police_unit", "team", "penalty_kinds", "fine", "recovered",
    "verified_loss", "court_fine", "sentence", "supervisor_body", "attachments",
    "decided_on", "at", "measures", "findings",
})  # fmt: skip

# The five attachments of a referral (令310 art.6); the 移送书 itself is generated.
REFERRAL_ATTACHMENTS: tuple[Term, ...] = (
    Term("referral_letter", N_("The referral letter (涉嫌犯罪案件移送书)")),
    Term("investigation_report", N_("The investigation report (调查报告)")),
    Term("exhibit_list", N_("The list of exhibits (涉案物品清单)")),
    Term("expert_report", N_("Test reports or expert opinions (检验报告或者鉴定结论)")),
    Term("other_materials", N_("Other materials (其他有关材料)")),
)

# The kinds of administrative penalty; only the last three keep running after a referral
# (令310 art.11¶2), a fine is offset against the court's 罚金 (art.11¶3).
PENALTY_KINDS: tuple[Term, ...] = (
    Term("fine", N_("Fine")),
    Term("warning", N_("Warning")),
    Term("suspension", N_("Order to stop production or business")),
    Term("licence", N_("Licence suspended or revoked")),
)

# Who supervises a police refusal (令310 art.9, art.14: the procuratorate and, since 2020,
# the supervision commission).
SUPERVISORS: tuple[Term, ...] = (
    Term("procuratorate", N_("The people's procuratorate")),
    Term("supervision_commission", N_("The supervision commission")),
)

# What the reporter sees of each stage (Tip.status_detail while the tip is in a case): the
# codes are intake's (reference.REPORTER_STAGES), so the portal reads them without importing
# triage, and it has its own words (portal/status.py). Police refusals and disputes between
# offices are not the reporter's to know; the reporter sees the last step that was public.
# A row's ``reporter`` may also be "closed": the tip is then closed with an outcome
# (reference.OUTCOMES).
REPORTER_STAGES: tuple[str, ...] = tuple(term.code for term in reference.REPORTER_STAGES)
CLOSED = "closed"


@dataclass(frozen=True)
class Transition:
    action: str
    label: str
    sources: frozenset[str]
    # None: the case stays where it is (an act recorded along the way).
    target: str | None
    who: str
    rule: str
    needs: tuple[str, ...] = ()
    may_give: tuple[str, ...] = ()
    documents: tuple[str, ...] = ()
    # What the reporter's status says afterwards; None leaves it as it was.
    reporter: str | None = None


def _t(action: str, label: str, sources: str, target: str | None, who: str, rule: str,
       **more: tuple[str, ...] | str | None) -> Transition:  # fmt: skip
    return Transition(
        action=action, label=label, sources=frozenset(sources.split()), target=target,
        who=who, rule=rule, **more,  # type: ignore[arg-type]
    )  # fmt: skip


# fmt: off
TRANSITIONS: tuple[Transition, ...] = (
    # The agency verifies, stops payment and recovers (domain.md section 1; seed 000).
    _t("stop_payment", N_("Record that payment was stopped"), "verifying handed_over "
       "needs_correction received filed", None, PARTNER,
       "seed 000: 经办机构 stops payment at once on suspected fraud", needs=("measures",)),
    _t("record_recovery", N_("Record recovery measures"), "verifying handed_over "
       "needs_correction received filed penalised administrative", None, PARTNER,
       "domain.md T7 (粤社保函〔2022〕28号): recovery measures within 90 days of discovery",
       needs=("measures",), may_give=("recovered",)),
    _t("supervise", N_("Put under the head's personal supervision (挂牌督办)"),
       " ".join(sorted(OPEN_STAGES)), None, HEAD,
       "domain.md T7: no recovery measures after 90 days, the head supervises in person",
       needs=("reason",)),
    _t("find_unfounded", N_("Close: the facts could not be confirmed"), "verifying",
       "closed", HOLDER, "domain.md section 5: VERIFYING → UNFOUNDED → CLOSED",
       needs=("findings",), documents=("closing_notice",), reporter="closed"),
    # Handover to the HRSS department (移交): same-day receipt or 补正 (T5), then 立案 or
    # 退回 within 5 working days (T6); 粤人社规〔2020〕50号 quoted in seed 000.
    _t("hand_over", N_("Hand over to the department (移交)"), "verifying", "handed_over",
       HOLDER, "domain.md T5 (粤人社规〔2020〕50号); 社会保险经办条例 art.44",
       needs=("to_bureau", "findings"), may_give=("verified_loss",),
       documents=("handover_letter", "handover_receipt")),
    _t("sign_receipt", N_("Sign the handover receipt"), "handed_over", "received", HOLDER,
       "domain.md T5: the receipt is signed the same day when the materials are complete"),
    _t("ask_correction", N_("Ask the agency to complete the materials (补正)"),
       "handed_over", "needs_correction", HOLDER,
       "domain.md T5: incomplete materials are sent back for completion the same day",
       needs=("reason",)),
    _t("resubmit", N_("Send the completed materials"), "needs_correction", "handed_over",
       PARTNER, "domain.md T5", needs=("measures",)),
    _t("return_case", N_("Return the case to the agency (退回)"), "received", "verifying",
       HOLDER, "domain.md T6: no recovery measures, not fileable or not our jurisdiction",
       needs=("reason",)),
    # Filing (立案) by the department: from a handover, or from a tip it verified itself.
    _t("file", N_("File the case (立案)"), "verifying received", "filed", HOLDER,
       "domain.md T6 (5 working days from the receipt); T8 runs from here (行政处罚法 art.60)",
       needs=("findings",), may_give=("verified_loss",), documents=("filing_record",),
       reporter="filed"),
    _t("decline_filing", N_("Decide not to file (不予立案)"), "verifying received", "closed",
       HOLDER, "domain.md T6", needs=("reason",),
       documents=("non_filing_record", "closing_notice"), reporter="closed"),
    # 医保局令5号 (domain.md T4): a real-name reporter who asked is told of the filing
    # decision within 5 working days of it, by the channel they chose; also after a refusal
    # to file, which closes the case.
    _t("give_filing_notice", N_("Record that the reporter was told of the filing decision"),
       "filed penalised referral_reported referral_approved referred closed", None, HOLDER,
       "domain.md T4 (医保局令5号): within 5 working days of the decision", needs=("measures",)),
    # The administrative penalty (行政处罚法 art.60: within 90 days of 立案, T8). After a
    # judgment, only where the court imposed no 罚金 or a fine came first (art.35¶2).
    _t("penalise", N_("Record the penalty decision"), "filed administrative judged",
       "penalised", HOLDER, "行政处罚法 art.60 (T8); art.35¶2 and 令310 art.11",
       needs=("penalty_kinds", "decided_on"), may_give=("fine",), reporter="penalised"),
    # The criminal referral (令310 art.5): a team of at least two reports to the head, who
    # decides within 3 days (T10); approved, it goes to the same-level police within 24 hours
    # (T11) with the five attachments of art.6, copied to the procuratorate (人社部发〔2015〕
    # 14号 §三, seed 000).
    _t("report_referral", N_("Report a suspected crime to the head"), "filed penalised "
       "administrative", "referral_reported", HOLDER,
       "令310 art.3, art.5: a team of at least two officers reports in writing",
       needs=("team", "reason")),
    _t("approve_referral", N_("Approve the referral"), "referral_reported",
       "referral_approved", HEAD,
       "令310 art.5: the head decides within 3 days of the report (T10)"),
    _t("refuse_referral", N_("Refuse the referral, with reasons"), "referral_reported",
       "filed", HEAD, "令310 art.5: the reasons for not referring are recorded",
       needs=("reason",)),
    _t("refer", N_("Refer to the police (移送)"), "referral_approved", "referred", HOLDER,
       "令310 art.5, art.6 (T11: within 24 hours, to the same-level police); 人社部发〔2015〕"
       "14号 §三: copied to the same-level procuratorate",
       needs=("police_unit", "attachments"),
       documents=("referral_letter", "referral_receipt", "materials_list"),
       reporter="referred"),
    # What the police do, recorded when their paper arrives (令310 art.7-9; 公安机关办理刑事
    # 案件程序规定 art.180).
    _t("police_receive", N_("Record the police's signed receipt"), "referred",
       "police_received", HOLDER, "令310 art.7: the police sign the receipt (T14 runs from here)",
       may_give=("at",)),
    _t("police_forward", N_("Record that the police forwarded the case"), "police_received",
       None, HOLDER, "令310 art.7: outside their jurisdiction, forwarded within 24 hours (T12)",
       needs=("police_unit",), may_give=("at",)),
    _t("materials_requested", N_("Record the police's request for materials"),
       "police_received", "materials_requested", HOLDER,
       "公安程序规定 art.180: the police may not refuse for incomplete materials; they ask "
       "within 24 hours and the agency supplies them within 3 days (T13)",
       needs=("reason",), may_give=("at",)),
    _t("supply_materials", N_("Send the materials asked for"), "materials_requested",
       "police_received", HOLDER, "公安程序规定 art.180 (T13)", needs=("measures",)),
    _t("police_decline", N_("Record the police's decision not to file"), "police_received",
       "police_declined", HOLDER,
       "令310 art.8: refusal in writing with reasons, the file returned (T15)",
       needs=("reason", "decided_on"), may_give=("at",)),
    _t("ask_reconsideration", N_("Ask the police to reconsider (复议)"), "police_declined",
       "reconsideration", HOLDER, "令310 art.9: within 3 days of the notice (T16)",
       needs=("reason",), documents=("reconsideration_request",)),
    _t("reconsideration_refused", N_("Record that the police kept their refusal"),
       "reconsideration", "declined_final", HOLDER,
       "令310 art.9: the police decide within 3 days (T17)",
       needs=("decided_on",), may_give=("at",)),
    _t("propose_supervision", N_("Propose filing supervision (立案监督)"),
       "police_declined declined_final", "supervision", HOLDER,
       "令310 art.9, art.14: to the procuratorate or the supervision commission, within 3 "
       "days (T18)", needs=("supervisor_body", "reason"),
       documents=("supervision_proposal",)),
    _t("filing_ordered", N_("Record that the police were told to file (通知立案)"),
       "supervision", None, HOLDER,
       "高检 rules (2001) §10: after a 通知立案 the police file within 15 days (T19b)",
       may_give=("at",)),
    _t("supervision_ended", N_("Record that supervision upheld the refusal"), "supervision",
       "administrative", HOLDER, "令310 art.10: after a final refusal the agency handles "
       "the case administratively", needs=("reason",)),
    _t("take_back", N_("Handle administratively after the refusal"),
       "police_declined declined_final", "administrative", HOLDER,
       "令310 art.10, art.13", needs=("reason",)),
    _t("police_file", N_("Record the police's filing (立案)"),
       "police_received reconsideration supervision", "police_filed", HOLDER,
       "令310 art.8 (T14, T15); art.12: exhibits follow within 3 days (T20)",
       needs=("decided_on",), may_give=("at",), reporter="police_filed"),
    _t("hand_exhibits", N_("Hand the exhibits to the police"), "police_filed",
       "exhibits_transferred", HOLDER, "令310 art.12 (T20)", needs=("measures",)),
    _t("sent_for_prosecution", N_("Record that the police sent it for prosecution"),
       "exhibits_transferred", "prosecution_review", HOLDER,
       "刑事诉讼法 art.172: the procuratorate decides within one month (T21)",
       may_give=("at",)),
    _t("prosecute", N_("Record the indictment"), "prosecution_review", "prosecuted",
       HOLDER, "刑事诉讼法 art.172 (T21); art.208: judgment within two months (T22)",
       needs=("decided_on",), reporter="prosecuted"),
    _t("not_prosecuted", N_("Record the decision not to prosecute"), "prosecution_review",
       "administrative", HOLDER, "令310 art.10, art.13", needs=("reason", "decided_on")),
    _t("judgment", N_("Record the judgment"), "prosecuted", "judged", HOLDER,
       "刑事诉讼法 art.208 (T22); 行政处罚法 art.35: a court's 罚金 ends any later fine",
       needs=("sentence", "decided_on", "court_fine"), reporter="judged"),
    _t("close", N_("Close the case"), "penalised judged administrative filed", "closed",
       HOLDER, "令310 art.11: no administrative penalty in place of a referral",
       needs=("findings",), documents=("closing_notice",), reporter="closed"),
    # Staff misconduct found along the way: a sealed sub-case for discipline inspection only
    # (domain.md section 2; 令310 art.19: duty crimes go to the 监察机关).
    _t("refer_discipline", N_("Send a staff matter to discipline inspection"),
       " ".join(sorted(OPEN_STAGES)), None, HOLDER,
       "domain.md section 2 (seed 000): protect the clues, report at once to 纪检监察, leak "
       "nothing to those who may be involved; 令310 art.19", needs=("findings",)),
)
# fmt: on

BY_ACTION = {transition.action: transition for transition in TRANSITIONS}
# Steps that cannot be undone ask for a confirmation first, on the pages and in the API
# (issue 9, safe decisions): every closing, the referral and its decision, and the sealed
# discipline sub-case (domain.md section 2).
IRREVERSIBLE = frozenset(
    {t.action for t in TRANSITIONS if t.target == "closed"}
    | {"approve_referral", "refuse_referral", "refer", "refer_discipline"}
)
# Opening a case is not a row: it has no stage before it. The pack's clocks may start
# "from": "open" (T7 runs from the discovery, which is the day the case is opened).
OPEN = "open"
# The police's decision (filing or refusal) has its own date, before the written notice
# arrives; T15 runs from it (domain.md T15: notice within 3 days of the decision).
POLICE_DECIDED = "police_decided"
START_EVENTS = frozenset({OPEN, POLICE_DECIDED, *BY_ACTION})


def allowed_from(stage: str) -> list[Transition]:
    """The actions the lifecycle allows from ``stage`` (who may take them is another
    question, answered by services.refusal)."""
    return [t for t in TRANSITIONS if stage in t.sources]


def label(terms: tuple[Term, ...], code: str) -> str:
    for term in terms:
        if term.code == code:
            return term.label
    return code


def _check_table() -> None:
    """The table's own consistency, checked at import: a typo fails at start, not in court."""
    for transition in TRANSITIONS:
        if not (
            transition.sources <= STAGE_CODES
            and (transition.target is None or transition.target in STAGE_CODES)
            and set(transition.needs) | set(transition.may_give) <= FIELDS
            and (transition.reporter is None or transition.reporter in (*REPORTER_STAGES, CLOSED))
        ):
            raise RuntimeError(f"lifecycle row {transition.action!r} names an unknown code")
    if len(BY_ACTION) != len(TRANSITIONS):
        raise RuntimeError("an action of the lifecycle is declared twice")


_check_table()
