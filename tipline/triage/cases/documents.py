"""Statutory documents generated from a case (issue 10; domain-cases.md sections 4, 5, 7).

Each step of the lifecycle names the documents it produces (``lifecycle.TRANSITIONS``);
``produce`` renders each from a Word template with docxtpl and stores the DOCX sealed
under the case key. The PDF is made from that DOCX by LibreOffice on the first PDF
download and stored sealed beside it (``download``). The template is the most specific an
administrator uploaded for the case's locality (district > city > province > national),
else the built-in one (``tipline/templates/documents/cases/<kind>.docx``, made by
``make_templates.py``).

What a document says comes from the case and the step only: the subject, the amounts, the
officers' findings and what the step recorded. **Never the reporter's identity nor the
tip's text** (domain.md section 7: nothing of the reporter leaves the handling officers; a
移送书 goes to the police and, copied, to the procuratorate).

Placeholders a template may use (plain docxtpl, ``{{ name }}``; every value is text):

==================  ========================================================================
``title``           the document's name (涉嫌犯罪案件移送书 …)
``office``          the issuing office (汕尾市城区人力资源和社会保障局)
``bureau``          the bureau holding the case, in Chinese (劳动保障监察机构)
``region``          the office's place (广东省汕尾市城区)
``case_number``     the case number (城区人社监立字〔2026〕第1号)
``addressee``       who it goes to (the police unit, the department, the procuratorate)
``subject_name``    the unit or person the case is about
``subject_kind``    用人单位或其他单位, 个人 …
``subject_id_label`` 统一社会信用代码 or 公民身份号码
``subject_id``      the code or number (or 不详)
``period``          the period of the conduct (2024年1月1日至2025年6月30日)
``fund``            the fund (养老保险)
``category``        the kind of conduct (冒领社会保险待遇 …)
``verified_loss``   the verified loss in yuan (50,000.00元, or 未核定)
``recovered``       the amount recovered in yuan
``fine``            the administrative fine in yuan (or 无)
``penalty``         the penalty decided, with its date (or 未作出行政处罚)
``facts``           the officers' latest findings
``measures``        what was done (停发, 追回), as recorded
``reasons``         the reasons the step recorded (for a 移送书: the referral report's)
``police_unit``     the police unit the case was referred to
``team``            the referral team (专案组, 令310 art.5)
``attachments``     the five attachments of 令310 art.6, one a line
``decided_on``      the date of the decision the step is about (a police refusal …)
``referred_on``     the day of the referral
``reconsidered``    for a supervision proposal: whether a 复议 kept the refusal
``supervisor_short`` 院 or 委 (a proposal to the procuratorate or the supervision commission)
``charge``          涉嫌罪名 with its basis (诈骗罪, 刑法 art.266 and the NPCSC interpretation)
``charge_name``     涉嫌罪名 alone (诈骗罪)
``source``          案件来源 (举报)
``outcome``         for a closing notice: how the case ended
``legal_basis``     e.g. 依据《行政执法机关移送涉嫌犯罪案件的规定》第三条、第五条
``copy_to``         抄送 (the same-level 人民检察院 for a referral, 人社部发〔2015〕14号 §三)
``date``            the document's date (2026年2月15日)
``seal``            （印章）
``contact``         the officer who made it
``phone``           a blank to fill in
==================  ========================================================================
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any, NamedTuple

from babel.support import NullTranslations, Translations
from jinja2 import TemplateError
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import select
from sqlalchemy.orm import Session

from tipline.crypto import open_sealed, seal
from tipline.intake import reference
from tipline.intake.models import Case, CaseDocument, CaseEvent, DocumentTemplate
from tipline.intake.reference import N_, Term
from tipline.intake.submit import CHINA
from tipline.triage import scope

BUILTIN = Path(__file__).parents[2] / "templates" / "documents" / "cases"
# An uploaded template: at most this many bytes, checked before anything parses it, and as
# a ZIP at most this many entries and this many bytes unpacked (a DOCX of a few pages is
# far below; a ZIP bomb is refused by its declared sizes before python-docx opens it).
MAX_TEMPLATE_BYTES = 2 * 1024 * 1024
MAX_TEMPLATE_ENTRIES = 400
MAX_TEMPLATE_UNPACKED = 32 * 1024 * 1024
# LibreOffice converting a page or two takes a few seconds; past this it is stuck.
CONVERT_TIMEOUT = 90
SOFFICE = "soffice"

DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
PDF_TYPE = "application/pdf"
FORMATS = {"docx": DOCX_TYPE, "pdf": PDF_TYPE}

KINDS: tuple[Term, ...] = (
    Term("handover_letter", N_("Case handover letter (案件移交函)")),
    Term("handover_receipt", N_("Handover receipt (移交函回执)")),
    Term("filing_record", N_("Filing approval form (立案审批表)")),
    Term("non_filing_record", N_("Decision not to file (不予立案决定书)")),
    Term("referral_letter", N_("Referral of a suspected crime (涉嫌犯罪案件移送书)")),
    Term("referral_receipt", N_("Referral receipt (移送书回执)")),
    Term("materials_list", N_("List of materials, copied to the procuratorate (移送材料目录)")),
    Term("reconsideration_request", N_("Request for reconsideration (提请复议书)")),
    Term("supervision_proposal", N_("Proposal of filing supervision (立案监督建议书)")),
    Term("closing_notice", N_("Notice of closing (结案通知书)")),
)
KIND_CODES = reference.codes(KINDS)

# The documents' words are the law's and always Chinese, whatever the officer reads the
# site in: the names of the documents, of the attachments (令310 art.6), of the penalties
# (art.11) and of the supervising bodies (art.14).
TITLES = {
    "handover_letter": "案件移交函", "handover_receipt": "案件移交函回执",
    "filing_record": "立案审批表", "non_filing_record": "不予立案决定书",
    "referral_letter": "涉嫌犯罪案件移送书", "referral_receipt": "涉嫌犯罪案件移送书（回执）",
    "materials_list": "移送材料目录（抄送人民检察院）", "reconsideration_request": "提请复议书",
    "supervision_proposal": "立案监督建议书", "closing_notice": "结案通知书",
}  # fmt: skip
_ATTACHMENTS = {
    "referral_letter": "涉嫌犯罪案件移送书", "investigation_report": "涉嫌犯罪案件调查报告",
    "exhibit_list": "涉案物品清单", "expert_report": "有关检验报告或者鉴定结论",
    "other_materials": "其他有关涉嫌犯罪的材料",
}  # fmt: skip
_PENALTIES = {"fine": "罚款", "warning": "警告", "suspension": "责令停产停业",
              "licence": "暂扣或者吊销许可证、暂扣或者吊销执照"}  # fmt: skip
_SUPERVISORS = {"procuratorate": ("人民检察院", "院"),
                "supervision_commission": ("监察委员会", "委")}  # fmt: skip
# The department an office of each bureau belongs to, as its letters are headed.
_DEPARTMENT = {
    "si_agency": "社会保险事业管理局", "hrss_admin": "人力资源和社会保障局",
    "hrss_fund_supervision": "人力资源和社会保障局", "labor_inspection": "人力资源和社会保障局",
    "healthcare_security": "医疗保障局", "discipline_inspection": "纪检监察机构",
}  # fmt: skip
# The legal basis each document states (domain-cases.md section 4; domain.md T5, T6).
BASIS = {
    "handover_letter": "依据《社会保险经办条例》第四十四条",
    "handover_receipt": "依据《社会保险经办条例》第四十四条，接收单位应当在收到材料当日签收；"
                        "材料不全的，当日一次性告知补正",
    "filing_record": "依据《中华人民共和国社会保险法》第七十九条、第八十八条和《中华人民共和国"
                     "行政处罚法》第五十四条",
    "non_filing_record": "依据《中华人民共和国行政处罚法》第五十四条",
    "referral_letter": "依据《行政执法机关移送涉嫌犯罪案件的规定》第三条、第五条",
    "referral_receipt": "依据《行政执法机关移送涉嫌犯罪案件的规定》第七条、第八条",
    "materials_list": "依据《行政执法机关移送涉嫌犯罪案件的规定》第六条和《人力资源社会保障部 "
                      "公安部关于加强社会保险欺诈案件查处和移送工作的通知》（人社部发〔2015〕14号）",
    "reconsideration_request": "依据《行政执法机关移送涉嫌犯罪案件的规定》第九条",
    "supervision_proposal": "依据《行政执法机关移送涉嫌犯罪案件的规定》第九条、第十四条",
    "closing_notice": "依据《社会保险基金监督举报工作管理办法》",
}  # fmt: skip
# What the conduct of each category is called in a document (domain.md section 2).
_CONDUCT = {
    "fake_employment_backpay": "以虚构劳动关系、虚假仲裁或者虚假诉讼骗取社会保险待遇",
    "benefit_impostor": "冒领社会保险待遇", "fake_docs": "伪造、变造证明材料骗取社会保险基金支出",
    "work_injury_fraud": "骗取工伤保险待遇", "agency_overpayment": "多发社会保险待遇",
    "internal_embezzlement": "贪污、侵占、挪用社会保险基金",
    "fake_treatment": "以虚假诊疗骗取医疗保障基金", "drug_resale": "倒卖医保药品",
    "pooled_account_swipe": "空刷医疗保障统筹基金", "double_compensation": "重复获取赔偿和保险待遇",
}  # fmt: skip
CHARGE_NAME = "诈骗罪"
CHARGE = "诈骗罪（《中华人民共和国刑法》第二百六十六条及全国人民代表大会常务委员会关于该条的解释）"
_OUTCOMES = {
    "verifying": "经核查，举报事项未能查实，予以结案。",
    "received": "经审查，决定不予立案，予以结案。",
    "penalised": "已作出行政处罚决定，予以结案。", "judged": "人民法院已作出判决，予以结案。",
    "administrative": "经行政处理，予以结案。", "filed": "经调查处理，予以结案。",
}  # fmt: skip
SEAL = "（印章）"
UNKNOWN = "不详"


class DocumentError(Exception):
    """A document that cannot be made or read; ``message`` is an English message id."""

    def __init__(self, message: str, **params: object) -> None:
        super().__init__(message % params if params else message)
        self.message = message
        self.params = params


# --- Chinese words from the catalogue ------------------------------------------------------


@cache
def _chinese() -> NullTranslations:
    folder = files("tipline") / "translations"
    return Translations.load(str(folder), ["zh"], "messages")


def zh(message: str) -> str:
    """A catalogue message in Chinese, wherever the request's language (a document is
    always Chinese)."""
    return _chinese().gettext(message)


def kind_label(kind: str) -> str:
    return reference.label(KINDS, kind)


def chinese_name(kind: str) -> str:
    return TITLES.get(kind, kind)


# --- the context ---------------------------------------------------------------------------


def _day(value: dt.date | None) -> str:
    return f"{value.year}年{value.month}月{value.day}日" if value else UNKNOWN


def _iso_day(text: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(text)) if text else None
    except ValueError:
        return None


def yuan(fen: int | None, missing: str = "未核定") -> str:
    if fen is None:
        return missing
    return f"{fen // 100:,}.{fen % 100:02d}元"


def place(region: str) -> str:
    """An office's place as its letters name it: the city and the district (汕尾市城区), the
    city, or the province."""
    path = reference.region_path(region)
    if not path:
        return region
    return "".join(r.name for r in path[1:]) if len(path) > 1 else path[0].name


def office(bureau: str | None, region: str) -> str:
    department = _DEPARTMENT.get(bureau or "", zh(reference.label(reference.BUREAUS, bureau or "")))
    return place(region) + department


@dataclass(frozen=True)
class _Step:
    action: str
    at: dt.datetime
    data: dict[str, Any]


def _steps(case: Case, key: bytes) -> list[_Step]:
    from tipline.triage.cases.services import event_data

    return [_Step(e.action, e.at, event_data(e, key)) for e in case.events]


def _last(steps: Sequence[_Step], action: str) -> _Step | None:
    found = [s for s in steps if s.action == action]
    return found[-1] if found else None


def _china(at: dt.datetime) -> dt.datetime:
    return (at if at.tzinfo else at.replace(tzinfo=dt.UTC)).astimezone(CHINA)


def context(
    case: Case, event: CaseEvent, kind: str, key: bytes, actor: scope.Viewer
) -> dict[str, str]:
    """What the template of ``kind`` is filled with, all text (see the module docstring)."""
    from tipline.triage.cases.services import details, event_data

    body = details(case, key)
    subject = body.get("subject", {})
    steps = _steps(case, key)
    data = event_data(event, key)
    unit = subject.get("kind") not in ("individual", "agency_staff")
    period_from, period_to = (_iso_day(subject.get("period_from")),
                              _iso_day(subject.get("period_to")))  # fmt: skip
    period = f"{_day(period_from)}至{_day(period_to)}" if period_from or period_to else UNKNOWN
    # The facts as the officers found them, step by step (a closing notice: the closing
    # opinion only).
    findings = [str(body.get("findings", ""))]
    findings += [str(entry.get("text", "")) for entry in body.get("findings_log", [])]
    if kind == "closing_notice" and data.get("findings"):
        findings = [str(data["findings"])]
    facts = "".join(
        f if f.endswith(("。", "！", "？", ".")) else f + "。" for f in dict.fromkeys(findings) if f
    )
    measures = [s.data["measures"] for s in steps if s.data.get("measures")]
    penalties = [s for s in steps if s.action == "penalise"]
    if penalties:
        shown = []
        for step in penalties:
            kinds = "、".join(_PENALTIES.get(k, k) for k in step.data.get("penalty_kinds", []))
            fine = f"{yuan(step.data['fine'])}" if step.data.get("fine") is not None else ""
            shown.append(f"{_day(_iso_day(step.data.get('decided_on')))}决定{kinds}{fine}")
        penalty = "；".join(shown)
    else:
        penalty = "未作出行政处罚"
    referral = _last(steps, "refer")
    report = _last(steps, "report_referral")
    police_unit = str((referral.data if referral else {}).get("police_unit", "") or data.get(
        "police_unit", ""))  # fmt: skip
    declined = _last(steps, "police_decline")
    region = case.handling_region
    here = place(region)
    procuratorate = f"{here}人民检察院"
    issuer_bureau = case.partner_bureau if kind in ("handover_letter", "handover_receipt") \
        else case.bureau  # fmt: skip
    addressee = {
        "handover_letter": office(case.bureau, region),
        "handover_receipt": office(case.bureau, region),
        "non_filing_record": office(case.partner_bureau, region) if case.partner_bureau else "",
        "referral_letter": police_unit, "referral_receipt": police_unit,
        "materials_list": procuratorate, "reconsideration_request": police_unit,
        "closing_notice": office(case.partner_bureau, region) if case.partner_bureau else "",
    }.get(kind, "")  # fmt: skip
    supervisor_short = ""
    if kind == "supervision_proposal":
        name, supervisor_short = _SUPERVISORS.get(str(data.get("supervisor_body")),
                                                  _SUPERVISORS["procuratorate"])  # fmt: skip
        addressee = here + name
    attached = (referral.data if referral else data).get("attachments", [])
    attachments = "\n".join(
        f"{n}. {_ATTACHMENTS.get(code, code)}" for n, code in enumerate(attached, start=1)
    ) or UNKNOWN
    reasons = data.get("reason") or ""
    if kind in ("referral_letter",) and report is not None:
        reasons = report.data.get("reason", "")
    copy_to = ""
    if kind in ("referral_letter", "materials_list"):
        # 人社部发〔2015〕14号 §三 (seed 000): the 移送书 and the list of materials go to the
        # same-level procuratorate, with the penalty decision if one was made.
        copy_to = procuratorate + ("（附行政处罚决定书）" if penalties else "")
    from_stage = event.from_stage or ""
    return {
        "title": chinese_name(kind),
        "office": office(issuer_bureau, region),
        "bureau": zh(reference.label(reference.BUREAUS, case.bureau)),
        "region": reference.region_name(region),
        "case_number": case.number,
        "addressee": addressee or "＿＿＿＿＿＿＿＿",
        "subject_name": str(subject.get("name", "")) or UNKNOWN,
        "subject_kind": zh(reference.label(reference.SUSPECT_KINDS, str(subject.get("kind")))),
        "subject_id_label": "统一社会信用代码" if unit else "公民身份号码",
        "subject_id": str(subject.get("identifier") or UNKNOWN),
        "period": period,
        "fund": zh(reference.label(reference.FUNDS, case.fund or "")) if case.fund else UNKNOWN,
        "category": _CONDUCT.get(case.category, "违法违规使用社会保险基金"),
        "verified_loss": yuan(case.verified_loss),
        "recovered": yuan(case.recovered, "0.00元"),
        "fine": yuan(case.fine, "无"),
        "penalty": penalty,
        "facts": str(facts) or UNKNOWN,
        "measures": "；".join(str(m).rstrip("。；") for m in measures) or "无",
        "reasons": str(reasons) or UNKNOWN,
        "police_unit": police_unit or UNKNOWN,
        "team": "、".join((report.data if report else {}).get("team", [])) or UNKNOWN,
        "attachments": attachments,
        "decided_on": _day(_iso_day(data.get("decided_on") or (
            declined.data.get("decided_on") if declined else None))),
        "referred_on": _day(_china(referral.at).date()) if referral else UNKNOWN,
        "reconsidered": "，经复议仍维持不予立案的决定"
        if _last(steps, "reconsideration_refused") else "",
        "supervisor_short": supervisor_short,
        "charge": CHARGE,
        "charge_name": CHARGE_NAME,
        "source": "举报",
        "outcome": _OUTCOMES.get(from_stage, "予以结案。"),
        "legal_basis": BASIS[kind],
        "copy_to": copy_to or "无",
        "date": _day(_china(event.at).date()),
        "seal": SEAL,
        "contact": str(getattr(actor, "username", "")),
        "phone": "＿＿＿＿＿＿＿＿",
    }  # fmt: skip


def sample_context(kind: str) -> dict[str, str]:
    """A made-up case's context: what an uploaded template is tried with before it is kept."""
    values = {
        "title": chinese_name(kind), "office": "某市某区人力资源和社会保障局",
        "bureau": "劳动保障监察机构", "region": "某省某市某区",
        "case_number": "某人社监立字〔2026〕第1号",
        "addressee": "某市公安局某区分局", "subject_name": "某某有限公司",
        "subject_kind": "用人单位或其他单位", "subject_id_label": "统一社会信用代码",
        "subject_id": "91110000600037341L", "period": "2024年1月1日至2025年6月30日",
        "fund": "养老保险", "category": "冒领社会保险待遇", "verified_loss": "50,000.00元",
        "recovered": "12,000.00元", "fine": "无", "penalty": "未作出行政处罚",
        "facts": "（核查情况）",
        "measures": "停发待遇", "reasons": "（理由）", "police_unit": "某市公安局某区分局",
        "team": "张三、李四", "attachments": "1. 涉嫌犯罪案件移送书", "decided_on": "2026年2月17日",
        "referred_on": "2026年2月15日", "reconsidered": "", "supervisor_short": "院",
        "charge": CHARGE, "charge_name": CHARGE_NAME, "source": "举报", "outcome": "予以结案。",
        "legal_basis": BASIS.get(kind, ""), "copy_to": "某区人民检察院", "date": "2026年3月1日",
        "seal": SEAL, "contact": "张三", "phone": "＿＿＿＿",
    }  # fmt: skip
    if kind in ("materials_list", "supervision_proposal"):
        values["addressee"] = "某市某区人民检察院"
    elif kind in ("handover_letter", "handover_receipt", "non_filing_record", "closing_notice"):
        values["addressee"] = "某市某区社会保险事业管理局"
    return values


# --- templates -----------------------------------------------------------------------------


def builtin(kind: str) -> bytes:
    return (BUILTIN / f"{kind}.docx").read_bytes()


def choose_template(session: Session, case: Case, kind: str) -> tuple[str, bytes]:
    """The template for ``kind`` in the case's locality: the most specific active upload
    (district > city > province > national), the newest of those, else the built-in one.
    Returns the CaseDocument.template label and the file."""
    region = case.handling_region
    order = [region, region[:4] + "00", region[:2] + "0000", "national"]
    rows = session.scalars(
        select(DocumentTemplate).where(
            DocumentTemplate.kind == kind, DocumentTemplate.active.is_(True),
            DocumentTemplate.scope.in_(order),
        ).order_by(DocumentTemplate.id.desc())
    ).all()  # fmt: skip
    for scope_code in order:
        for row in rows:
            if row.scope == scope_code:
                return f"admin:{row.id}:{row.sha256[:16]}", row.body
    body = builtin(kind)
    return f"builtin:{hashlib.sha256(body).hexdigest()[:16]}", body


def check_zip(body: bytes) -> None:
    """A DOCX is a ZIP: refuse one that is not, or that unpacks past the budget, before any
    parser reads it (STYLE.md 14: budgets checked before the work)."""
    if len(body) > MAX_TEMPLATE_BYTES:
        raise DocumentError(N_("The template is larger than %(limit)s MiB."), limit=2)
    try:
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            entries = archive.infolist()
            if len(entries) > MAX_TEMPLATE_ENTRIES or sum(
                e.file_size for e in entries
            ) > MAX_TEMPLATE_UNPACKED:
                raise DocumentError(N_("The template unpacks to too much data."))
            names = {e.filename for e in entries}
            parts = [archive.read(e) for e in entries if e.filename.endswith((".xml", ".rels"))]
    except zipfile.BadZipFile as exc:
        raise DocumentError(N_("This is not a Word document (.docx).")) from exc
    if "word/document.xml" not in names or "[Content_Types].xml" not in names:
        raise DocumentError(N_("This is not a Word document (.docx)."))
    if any(_REACHES_OUT.search(part) for part in parts):
        # A linked picture or included file would be fetched when LibreOffice makes the
        # PDF, with the case's words in its address: a template must not reach out.
        raise DocumentError(N_("The template links to outside files or addresses; a "
                               "template must be self-contained."))  # fmt: skip


# External relationships and the field codes that fetch or run something (Word's
# INCLUDEPICTURE, INCLUDETEXT, LINK, DDE, IMPORT), and OLE links.
_REACHES_OUT = re.compile(
    rb'TargetMode="External"'
    rb'|(instrText[^>]*>|w:instr=")\s*(INCLUDEPICTURE|INCLUDETEXT|LINK|DDEAUTO|DDE|IMPORT)\b'
    rb"|<o:OLEObject[^>]*Type=\"Link\"",
    re.IGNORECASE,
)


class _Sandbox(SandboxedEnvironment):
    """The Jinja sandbox with a budget: ``"x" * 10**9`` or ``2 ** 10**9`` in a template
    would otherwise run in every officer's step."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            raise SecurityError("powers are not available in document templates")
        if any(isinstance(side, int) and abs(side) > 1000 for side in (left, right)):
            raise SecurityError("a product in a document template is too large")
        return super().call_binop(context, operator, left, right)


def render(template: bytes, values: dict[str, str]) -> bytes:
    """The template filled in. Jinja runs sandboxed (an uploaded template is a program) and
    escapes for XML, so a ``<`` in a finding cannot break the document."""
    from docxtpl import DocxTemplate

    check_zip(template)
    try:
        document = DocxTemplate(io.BytesIO(template))
        document.render(values, jinja_env=_Sandbox(), autoescape=True)
        out = io.BytesIO()
        document.save(out)
    except TemplateError as exc:
        raise DocumentError(N_("The template's placeholders are not valid: %(error)s"),
                            error=str(exc)[:200]) from exc  # fmt: skip
    except (KeyError, ValueError, zipfile.BadZipFile, OSError) as exc:
        raise DocumentError(N_("This is not a Word document (.docx).")) from exc
    except Exception as exc:  # lxml's XMLSyntaxError and the like, from a damaged file
        if type(exc).__module__.startswith(("lxml", "docx")):
            raise DocumentError(N_("This is not a Word document (.docx).")) from exc
        raise
    return out.getvalue()


def validate_upload(kind: str, body: bytes) -> None:
    """An administrator's template: a real DOCX that renders with a sample case, naming only
    placeholders this module fills."""
    if kind not in KIND_CODES:
        raise DocumentError(N_("Choose the kind of document."))
    check_zip(body)
    from docxtpl import DocxTemplate

    values = sample_context(kind)
    try:
        names = DocxTemplate(io.BytesIO(body)).get_undeclared_template_variables()
    except TemplateError as exc:
        raise DocumentError(N_("The template's placeholders are not valid: %(error)s"),
                            error=str(exc)[:200]) from exc  # fmt: skip
    except Exception as exc:
        if isinstance(exc, KeyError | ValueError | zipfile.BadZipFile) or type(
            exc
        ).__module__.startswith(("lxml", "docx")):
            raise DocumentError(N_("This is not a Word document (.docx).")) from exc
        raise
    unknown = sorted(set(names) - set(values))
    if unknown:
        raise DocumentError(N_("The template uses placeholders this system does not fill: "
                               "%(names)s"), names="、".join(unknown)[:200])  # fmt: skip
    render(body, values)


# --- making and reading documents ----------------------------------------------------------


def produce(
    session: Session, case: Case, event: CaseEvent, kinds: Sequence[str], key: bytes,
    actor: scope.Viewer,
) -> None:  # fmt: skip
    """Render the documents ``kinds`` of ``event`` and store each sealed under the case key
    (the PDF follows on first download). Called by ``services.apply`` in its transaction."""
    for kind in kinds:
        template_label, template = choose_template(session, case, kind)
        try:
            body = render(template, context(case, event, kind, key, actor))
        except DocumentError:
            if not template_label.startswith("admin:"):
                raise
            # An uploaded template was checked when it was loaded; should it fail on this
            # case, the step is not lost: the built-in one makes the document.
            template = builtin(kind)
            template_label = f"builtin:{hashlib.sha256(template).hexdigest()[:16]}"
            body = render(template, context(case, event, kind, key, actor))
        document = CaseDocument(
            case_id=case.id, event_id=event.id, kind=kind, made_at=event.at,
            made_by=actor.id, template=template_label, docx=b"", pdf=None,
        )  # fmt: skip
        session.add(document)
        session.flush()
        document.docx = seal(key, body, tip_id=case.id, purpose=f"case-document:{document.id}:docx")
    session.flush()


class Listed(NamedTuple):
    """A document as lists show it; unpacks as (id, kind, label, made_at)."""

    id: int
    kind: str
    label: str  # an English message id: translate it where it is shown
    made_at: dt.datetime


def listing(case: Case) -> list[Listed]:
    """The case's documents, oldest first: (id, kind, label, made_at)."""
    return [Listed(d.id, d.kind, kind_label(d.kind), d.made_at) for d in case.documents]


@dataclass(frozen=True)
class Download:
    document_id: int
    kind: str
    fmt: str
    filename: str  # Chinese: 城区人社监立字〔2026〕第1号-涉嫌犯罪案件移送书.pdf
    mimetype: str
    body: bytes


def download(
    session: Session, case: Case, doc_id: int, fmt: str, key: bytes, *, actor: str | None = None
) -> Download | None:
    """Document ``doc_id`` of ``case`` (already found visible to the caller, scope.py) as
    DOCX or PDF; None if the case has no such document. The PDF is made on first asking
    and stored sealed. With ``actor`` the read is audited here (``case.document.read``);
    a caller that does not pass it records the entry itself. A PDF that LibreOffice cannot
    make raises DocumentError, and the DOCX stays available."""
    if fmt not in FORMATS:
        return None
    document = session.scalar(
        select(CaseDocument).where(CaseDocument.id == doc_id, CaseDocument.case_id == case.id)
    )
    if document is None:
        return None
    docx = open_sealed(key, document.docx, tip_id=case.id,
                       purpose=f"case-document:{document.id}:docx")  # fmt: skip
    if fmt == "docx":
        body = docx
    elif document.pdf is not None:
        body = open_sealed(key, document.pdf, tip_id=case.id,
                           purpose=f"case-document:{document.id}:pdf")  # fmt: skip
    else:
        body = to_pdf(docx)
        document.pdf = seal(key, body, tip_id=case.id, purpose=f"case-document:{document.id}:pdf")
        session.flush()
    if actor is not None:
        from tipline.triage.audit import record

        record(session, "case.document.read", actor=actor, case=case.id, document=document.id,
               kind=document.kind, format=fmt)  # fmt: skip
    name = f"{case.number}-{chinese_name(document.kind)}.{fmt}"
    return Download(document.id, document.kind, fmt, name, FORMATS[fmt], body)


# --- PDF -----------------------------------------------------------------------------------


def _work_root() -> str | None:
    """Where plaintext may be written for LibreOffice: RAM (/dev/shm) when there is one."""
    shm = "/dev/shm"  # noqa: S108 - RAM-backed on Linux, and the directory made in it is 0700
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK) else None


def to_pdf(docx: bytes, *, timeout: float = CONVERT_TIMEOUT) -> bytes:
    """The DOCX converted by LibreOffice headless (``soffice --convert-to pdf``).

    The plaintext never touches a persistent disk: the DOCX, LibreOffice's profile and the
    PDF live in a private directory under /dev/shm, which is removed whatever happens. Each
    conversion has a fresh profile (``-env:UserInstallation``): two at once on one profile
    collide. HOME and TMPDIR point there too, so nothing of the document lands elsewhere."""
    program = shutil.which(SOFFICE)
    if program is None:
        raise DocumentError(N_("The PDF cannot be made: LibreOffice is not installed. The DOCX "
                               "can be downloaded."))  # fmt: skip
    work = tempfile.mkdtemp(prefix="tipline-doc-", dir=_work_root())
    process: subprocess.Popen[bytes] | None = None
    try:
        source = Path(work) / "document.docx"
        handle = os.open(source, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(handle, "wb") as out:
            out.write(docx)
        profile = Path(work) / "profile"
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": work, "TMPDIR": work,
               "XDG_CACHE_HOME": work, "XDG_CONFIG_HOME": work, "LANG": "C.UTF-8"}  # fmt: skip
        command = [
            program, f"-env:UserInstallation={profile.as_uri()}", "--headless", "--norestore",
            "--nologo", "--nodefault", "--nolockcheck", "--convert-to", "pdf", "--outdir",
            work, str(source),
        ]  # fmt: skip
        process = subprocess.Popen(  # noqa: S603 - a fixed program, our own arguments
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL, env=env, cwd=work, start_new_session=True,
        )  # fmt: skip
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise DocumentError(N_("The PDF could not be made in time. The DOCX can be "
                                   "downloaded; try the PDF again later.")) from exc  # fmt: skip
        result = Path(work) / "document.pdf"
        if process.returncode != 0 or not result.is_file():
            raise DocumentError(N_("The PDF could not be made. The DOCX can be downloaded."))
        return result.read_bytes()
    finally:
        if process is not None and process.poll() is None:
            # The whole session: soffice starts soffice.bin, which a kill of the first misses.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        shutil.rmtree(work, ignore_errors=True)


def timed_pdf(docx: bytes) -> tuple[bytes, float]:
    """``to_pdf`` and the seconds it took (for the tests' report)."""
    started = time.monotonic()
    body = to_pdf(docx)
    return body, time.monotonic() - started
