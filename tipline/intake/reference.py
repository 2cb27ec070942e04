"""The vocabularies of ``domain.md`` section 8, and the GB/T 2260 region list.

Labels are English message ids marked with ``N_`` so the catalogues carry the Chinese; the
code that shows them translates them. Regions come from python-stdnum's GB/T 2260 table
(``stdnum/cn/loc.dat``), a maintained package, rather than a hand-typed list.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib.resources import files


def N_(message: str) -> str:  # noqa: N802 - the conventional gettext marker
    """Mark a string for extraction; it is translated where it is shown."""
    return message


@dataclass(frozen=True)
class Term:
    code: str
    label: str


@dataclass(frozen=True)
class Category(Term):
    kind: str  # A, B, C or "-" (domain.md section 2)
    default_bureau: str | None


# domain.md section 1.
BUREAUS: tuple[Term, ...] = (
    Term("si_agency", N_("Social insurance agency")),
    Term("hrss_admin", N_("Human resources and social security department")),
    Term("hrss_fund_supervision", N_("Social insurance fund supervision")),
    Term("labor_inspection", N_("Labour inspection")),
    Term("public_security", N_("Public security (police)")),
    Term("procuratorate", N_("Procuratorate")),
    Term("court", N_("Court")),
    Term("discipline_inspection", N_("Discipline inspection and supervision")),
    Term("healthcare_security", N_("Healthcare security administration")),
    Term("tax_authority", N_("Tax authority")),
    Term("arbitration", N_("Labour dispute arbitration committee")),
)

# domain.md section 2: code, kind, default route (first bureau named there).
CATEGORIES: tuple[Category, ...] = (
    Category(
        "fake_employment_backpay",
        N_(
            "Fake employment, arbitration or lawsuit used to obtain benefits (e.g. "
            "back-paid contributions for a job that never existed, early retirement)"
        ),
        "A",
        "labor_inspection",
    ),
    Category(
        "benefit_impostor",
        N_(
            "Fraudulent claiming of benefits (e.g. a pension still drawn after the holder’s "
            "death or after losing eligibility)"
        ),
        "A",
        "si_agency",
    ),
    Category(
        "fake_docs",
        N_(
            "Forged or altered documents used to obtain fund payments (e.g. fake files or "
            "certificates)"
        ),
        "A",
        "labor_inspection",
    ),
    Category(
        "work_injury_fraud",
        N_(
            "Fraud against work-injury insurance (e.g. a staged injury, a false disability "
            "assessment)"
        ),
        "A",
        "labor_inspection",
    ),
    Category(
        "agency_overpayment",
        N_(
            "Benefits overpaid or fund money overspent by the agency (the office paid out "
            "more than it should)"
        ),
        "B",
        "si_agency",
    ),
    Category(
        "internal_embezzlement",
        N_(
            "Staff embezzling, appropriating or misusing the fund, or handling business "
            "against the rules for someone (e.g. for bribes)"
        ),
        "C",
        "discipline_inspection",
    ),
    Category(
        "fake_treatment",
        N_(
            "Fictitious medical services used to defraud the medical insurance fund (e.g. "
            "bed-holding admissions, drug switching)"
        ),
        "A",
        "healthcare_security",
    ),
    Category(
        "drug_resale",
        N_(
            "Reselling drugs bought on medical insurance (e.g. buying up and selling on "
            "“recycled” drugs)"
        ),
        "A",
        "healthcare_security",
    ),
    Category(
        "pooled_account_swipe",
        N_(
            "Charging the pooled medical insurance fund for nothing (e.g. cards swiped with "
            "no service given)"
        ),
        "A",
        "healthcare_security",
    ),
    # Routed to whichever fund paid (domain.md section 2): decided by triage, no default.
    Category(
        "double_compensation",
        N_(
            "Double compensation for one case (e.g. the same injury paid by the fund and by "
            "the liable party or an insurer)"
        ),
        "A",
        None,
    ),
    Category(
        "out_of_scope",
        N_(
            "A problem with my own contributions or benefits, or a question (not a "
            "fund-fraud report)"
        ),
        "-",
        None,
    ),
)

FUNDS: tuple[Term, ...] = (
    Term("pension", N_("Pension insurance")),
    Term("medical", N_("Medical insurance")),
    Term("work_injury", N_("Work-injury insurance")),
    Term("unemployment", N_("Unemployment insurance")),
    Term("maternity", N_("Maternity insurance")),
)

SUSPECT_KINDS: tuple[Term, ...] = (
    Term("individual", N_("An individual")),
    Term("unit", N_("An employer or other unit")),
    Term("medical_institution", N_("A hospital, clinic or pharmacy")),
    Term("intermediary", N_("An intermediary")),
    Term("agency_staff", N_("Staff of the agency or HRSS department")),
)

# The administrative level of the reported unit (属地管理、分级负责, domain.md section 6):
# the Shanwei rule turns on a city-level (市直) unit, which a region code cannot say, since
# 441500 also means "somewhere in 汕尾, district unknown". Not given means unknown.
UNIT_LEVELS: tuple[Term, ...] = (
    Term("provincial", N_("A provincial-level unit")),
    Term("city", N_("A city-level unit")),
    Term("county", N_("A county or district-level unit")),
    Term("township", N_("A township-level unit")),
    Term("unknown", N_("Not known")),
)

# Bureaus a tip never leaves for another lead: medical and maternity insurance belong to
# healthcare security (domain.md sections 1 and 6; 医保条例 art.35), whatever a pack says.
MEDICAL_FUNDS = frozenset({"medical", "maternity"})
MEDICAL_CATEGORIES = frozenset({"fake_treatment", "drug_resale", "pooled_account_swipe"})
HEALTHCARE = "healthcare_security"

# How the reporter knows: sealed with the report, since "I work there" can identify them.
HOW_KNOWN: tuple[Term, ...] = (
    Term("witnessed", N_("I saw it myself")),
    Term("insider", N_("I work there or worked there")),
    Term("documents", N_("I have seen documents or records")),
    Term("affected", N_("It concerns me or my family")),
    Term("hearsay", N_("Someone told me")),
    Term("other", N_("Other")),
)

CHANNELS: tuple[Term, ...] = (
    Term("web", N_("Website")),
    Term("app", N_("Mobile app")),
    Term("phone", N_("Telephone")),
    Term("letter", N_("Letter")),
    Term("fax", N_("Fax")),
    Term("email", N_("E-mail")),
    Term("visit", N_("Visit in person")),
)

# Lifecycle states, domain.md section 5. A tip accepted and made (or joined to) a case is
# "in_case", its detail the step of the case its reporter may know of (REPORTER_STAGES).
STATUSES: tuple[Term, ...] = (
    Term("received", N_("Received")),
    Term("screened", N_("Under review")),
    Term("accepted", N_("Accepted")),
    Term("not_accepted", N_("Not accepted")),
    Term("transferred_out", N_("Transferred to another office")),
    Term("in_case", N_("In a case")),
    Term("closed", N_("Closed")),
)

# What the reporter of a tip in a case may know of it (Tip.status_detail while the status is
# "in_case"), as officers read it; the portal has its own plain words (portal/status.py).
# Only the public steps: no case number, no dispute between offices, no police refusal
# (domain.md section 7: nothing of the progress to anyone not handling it, beyond this).
# The case lifecycle (triage/cases/lifecycle.py) names these codes for its rows; the portal
# reads them here, since it never imports triage.
REPORTER_STAGES: tuple[Term, ...] = (
    Term("investigating", N_("The facts are being verified")),
    Term("filed", N_("Case filed (立案)")),
    Term("penalised", N_("Administrative penalty decided")),
    Term("referred", N_("Referred to the police")),
    Term("police_filed", N_("Police filed a criminal case")),
    Term("prosecuted", N_("Prosecution brought")),
    Term("judged", N_("Judgment given")),
)


# Why a tip was not accepted: shown to the reporter in these words (domain.md section 4's
# "not rewarded" grounds are among them).
REFUSAL_REASONS: tuple[Term, ...] = (
    Term("out_of_scope", N_("It is not about fraud against the funds; see the advice below.")),
    Term("no_clear_target", N_("It does not say clearly enough who did what.")),
    Term("already_handled", N_("The matter has already been dealt with.")),
    Term("in_litigation", N_("The matter is before a court or an arbitration committee.")),
    Term(
        "duplicate",
        N_("The same matter was already reported; it is handled under that report."),
    ),
)


# What an officer reads for the codes a tip carries (issue 9: no raw codes on the tip page).
# Flags the rule packs raise from the exact amount at intake (rules/national.json), and the
# sealed mark. The thresholds are each pack's own, so the words name the standard, not a sum.
FLAGS: tuple[Term, ...] = (
    Term(
        "criminal_referral_candidate",
        N_("The amount may reach the threshold for fraud: consider a referral to the police"),
    ),
    Term("serious_embezzlement", N_("Embezzlement: the amount reaches “serious circumstances”")),
    Term("large_embezzlement", N_("Embezzlement: the amount is “relatively large”")),
    Term("sealed", N_("About staff: seen by discipline inspection only")),
)

# An officer's request to see a named reporter's identity (models.IdentityRequest.state).
IDENTITY_REQUEST_STATES: tuple[Term, ...] = (
    Term("pending", N_("Waiting for a supervisor")),
    Term("approved", N_("Approved")),
    Term("refused", N_("Not approved")),
)

# The statutory clocks of domain.md section 3.
DEADLINE_RULES: tuple[Term, ...] = (
    Term("T1", N_("Review of the tip")),
    Term("T2", N_("Telling the reporter whether it is accepted")),
)

# A clock's state (models.Deadline.state, clocks.sweep).
DEADLINE_STATES: tuple[Term, ...] = (
    Term("open", N_("Running")),
    Term("due_soon", N_("Due soon")),
    Term("overdue", N_("Overdue")),
    Term("met", N_("Met")),
    Term("met_late", N_("Met late")),
    # A case's clock still open when the case closed: the act it waited for never came.
    Term("lapsed", N_("Ended with the case, not met")),
)

# A clock's length, with its amount (rules.SCHEMA's units).
DEADLINE_UNITS: tuple[Term, ...] = (
    Term("working_days", N_("%(amount)s working days")),
    Term("calendar_days", N_("%(amount)s calendar days")),
    Term("months", N_("%(amount)s months")),
    Term("hours", N_("%(amount)s hours")),
)

# What closed a clock (models.Deadline.closed_by): a decision, the notice, or the link that
# made the tip a duplicate of an earlier one (decisions.link_duplicate).
CLOSED_BY: tuple[Term, ...] = (
    Term("accepted", N_("by the acceptance")),
    Term("not_accepted", N_("by the decision not to accept")),
    Term("transferred_out", N_("by the transfer")),
    Term("notice_given", N_("by telling the reporter")),
    Term("closed", N_("by closing the tip")),
    Term("duplicate", N_("linked as a duplicate")),
    # A co-handling bureau's clock, closed when the tip was sealed for discipline inspection
    # (decisions.seal_tip): that bureau no longer sees the tip.
    Term("sealed", N_("by sealing the tip for discipline inspection")),
)

# The timeline (models.TipEvent.kind) as officers read it; the portal has its own words for
# the reporter's side (portal/status.py).
EVENT_KINDS: tuple[Term, ...] = (
    Term("received", N_("Received")),
    Term("screened", N_("Bureau confirmed")),
    Term("accepted", N_("Accepted")),
    Term("co_accepted", N_("A co-handling bureau took up its part")),
    Term("not_accepted", N_("Not accepted")),
    Term("transferred_out", N_("Transferred")),
    Term("case_filed", N_("Case opened")),
    Term("closed", N_("Closed")),
    Term("message.officer", N_("Message sent to the reporter")),
    Term("message.reporter", N_("Message from the reporter")),
    Term("evidence_added", N_("The reporter added evidence")),
    Term("identity_added", N_("The reporter added their name")),
    Term("duplicate", N_("Linked as a duplicate of an earlier tip")),
    Term("duplicate_linked", N_("A later tip was linked to this one as a duplicate")),
    Term("merged", N_("The reporter was told the report is handled with another")),
    # Cases (triage/cases/services.py): made part of a case, and each public step of it.
    Term("case_opened", N_("Taken into a case")),
    Term("case_stage", N_("The case moved on")),
    # Sealed after intake, for discipline inspection only (decisions.seal_tip).
    Term("sealed", N_("Sealed: a staff matter for discipline inspection")),
)

# How a closed tip ended (Tip.status_detail of a closed tip).
OUTCOMES: tuple[Term, ...] = (
    Term("unfounded", N_("The facts could not be confirmed")),
    Term("recovered", N_("The money was recovered")),
    Term("penalised", N_("An administrative penalty was imposed")),
    Term("prosecuted", N_("The case went to the courts")),
)


def codes(terms: tuple[Term, ...]) -> frozenset[str]:
    return frozenset(term.code for term in terms)


def label(terms: tuple[Term, ...], code: str | None) -> str:
    for term in terms:
        if term.code == code:
            return term.label
    return code or ""


CATEGORY_BY_CODE = {category.code: category for category in CATEGORIES}


@dataclass(frozen=True)
class Region:
    code: str
    name: str

    @property
    def level(self) -> str:
        if self.code.endswith("0000"):
            return "province"
        if self.code.endswith("00"):
            return "city"
        return "county"


# A loc.dat name such as "[1983-1986]郊区,[1987-]白云区": the last period is the current
# one; a period with an end year ("[-2010]崇文区") means the code was abolished.
_PERIOD = re.compile(r"^\[(\d{4})?-(\d{4})?\](.*)$")


def _current_name(raw: str) -> str | None:
    last = raw.split(",")[-1].strip()
    match = _PERIOD.match(last)
    if match is None:
        return last
    return None if match.group(2) else match.group(3)


@cache
def regions() -> dict[str, Region]:
    """The regions in use today, by six-digit code."""
    text = (files("stdnum.cn") / "loc.dat").read_text(encoding="utf-8")
    found: dict[str, Region] = {}
    province = ""
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        prefix, _, attribute = line.strip().partition(" ")
        value = attribute.split("=", 1)[1].strip('"')
        if not line.startswith(" "):
            province = prefix
            code, name = f"{prefix}0000", value
        else:
            code, current = f"{province}{prefix}", _current_name(value)
            # Grouping rows (市辖区, 省直辖县级行政单位) are not places anyone reports from.
            if current is None or current in ("市辖区", "县") or "直辖县级" in current:
                continue
            name = current
        found[code] = Region(code, name)
    return found


def region_path(code: str) -> list[Region]:
    """Province → city → county for a code, skipping levels that do not exist (市辖区)."""
    table = regions()
    if code not in table:
        return []
    candidates = dict.fromkeys((code[:2] + "0000", code[:4] + "00", code))
    return [table[c] for c in candidates if c in table]


@cache
def _children_index() -> dict[str, list[Region]]:
    index: dict[str, list[Region]] = {}
    table = regions()
    for region in table.values():
        if region.level == "province":
            continue
        city = region.code[:4] + "00"
        # Cities, and counties governed straight by a province or municipality (北京市东城区,
        # 省直辖县级行政单位), hang under the province; other counties under their city.
        in_city = region.level == "county" and city in table
        parent = city if in_city else region.code[:2] + "0000"
        index.setdefault(parent, []).append(region)
    for children in index.values():
        children.sort(key=lambda region: region.code)
    return index


def provinces() -> list[Region]:
    return sorted((r for r in regions().values() if r.level == "province"), key=lambda r: r.code)


def children(code: str) -> list[Region]:
    """The regions one level below ``code``, in code order."""
    return list(_children_index().get(code, []))


def region_name(code: str) -> str:
    return "".join(region.name for region in region_path(code)) or code
