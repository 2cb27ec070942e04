"""Make the built-in Word templates of the statutory documents (one .docx per kind).

Run ``python -m tipline.triage.cases.make_templates`` after changing a layout; the files it
writes under ``tipline/templates/documents/cases/`` are committed, and an office replaces
any of them by uploading its own (template_admin.py). The placeholders are plain docxtpl
(``{{ case_number }}``), listed in ``documents.py``, so an office edits them in Word.

The layout follows the usual parts of an official document (domain-cases.md section 5;
GB/T 9704-2012 for the page): 首部 (the issuing office, the title, the number, the
addressee), 正文, 尾部 (the date, the seal, the contact), and for a receipt the tear-off
回执 that the receiving unit signs. The text is a proposal derived from the rules (no
national 人社 form was found, domain-cases.md section 5 ❓).
"""

from __future__ import annotations

import sys
from pathlib import Path

import docx
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Mm, Pt
from docx.table import Table
from docx.text.paragraph import Paragraph

FOLDER = Path(__file__).parents[2] / "templates" / "documents" / "cases"
# Free CJK fonts that LibreOffice finds on Debian (fonts-noto-cjk); Word on an office's PC
# falls back to SimSun (宋体), named as the alternative in the font table.
SERIF = "Noto Serif CJK SC"
FALLBACK = "SimSun"
BODY = Pt(14)
TITLE = Pt(20)
CUT = "-" * 20 + "（沿此线剪开）" + "-" * 20


def _fonts(element: object, name: str = SERIF) -> None:
    """The CJK font set where Word looks for it: w:rFonts w:eastAsia (python-docx's
    ``font.name`` sets only the Latin ones)."""
    rpr = element.get_or_add_rPr()  # type: ignore[attr-defined]
    fonts = rpr.find(qn("w:rFonts"))
    if fonts is None:
        fonts = OxmlElement("w:rFonts")
        rpr.insert(0, fonts)
    for attribute in ("w:ascii", "w:hAnsi", "w:eastAsia", "w:cs"):
        fonts.set(qn(attribute), name)
    fonts.set(qn("w:hint"), "eastAsia")


def _font_table(document: docx.document.Document) -> None:
    """Name SimSun as the alternative of the Noto font in word/fontTable.xml."""
    for rel in document.part.rels.values():
        if rel.reltype.endswith("/fontTable"):
            part = rel.target_part
            xml = part.blob.decode("utf-8")
            entry = (f'<w:font w:name="{SERIF}"><w:altName w:val="{FALLBACK}"/>'
                     '<w:charset w:val="86"/><w:family w:val="roman"/></w:font>')  # fmt: skip
            xml = xml.replace("</w:fonts>", entry + "</w:fonts>")
            part._blob = xml.encode("utf-8")  # noqa: SLF001 - python-docx keeps it there


def new_document() -> docx.document.Document:
    document = docx.Document()
    section = document.sections[0]
    # A4, the margins of GB/T 9704-2012 (天头 37 mm, 订口 28 mm).
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.top_margin, section.bottom_margin = Mm(37), Mm(35)
    section.left_margin, section.right_margin = Mm(28), Mm(26)
    normal = document.styles["Normal"]
    normal.font.size = BODY
    _fonts(normal.element)
    normal.paragraph_format.space_after = Pt(4)
    normal.paragraph_format.line_spacing = 1.35
    _font_table(document)
    document.core_properties.author = ""
    document.core_properties.title = ""
    return document


def para(
    document: docx.document.Document, text: str = "", *, bold: bool = False,
    size: Pt | None = None, align: str = "left", indent: bool = False,
) -> Paragraph:  # fmt: skip
    paragraph = document.add_paragraph()
    paragraph.alignment = {
        "left": WD_ALIGN_PARAGRAPH.LEFT, "center": WD_ALIGN_PARAGRAPH.CENTER,
        "right": WD_ALIGN_PARAGRAPH.RIGHT, "justify": WD_ALIGN_PARAGRAPH.JUSTIFY,
    }[align]  # fmt: skip
    if indent:
        paragraph.paragraph_format.first_line_indent = Pt(28)  # two characters
    if text:
        run = paragraph.add_run(text)
        run.bold = bold
        if size is not None:
            run.font.size = size
        _fonts(run._element)  # noqa: SLF001
    return paragraph


def head(document: docx.document.Document, title: str, addressee: str | None) -> None:
    """首部: the issuing office, the title, the number, the addressee."""
    para(document, "{{ office }}", bold=True, size=Pt(18), align="center")
    para(document, title, bold=True, size=TITLE, align="center")
    para(document, "{{ case_number }}", align="center")
    para(document)
    if addressee:
        para(document, addressee + "：")


def tail(document: docx.document.Document, *, copy_to: bool = False) -> None:
    """尾部: the legal basis, the copy-to line, the seal, the date, the contact."""
    para(document)
    para(document, "{{ office }}", align="right")
    para(document, "{{ seal }}", align="right")
    para(document, "{{ date }}", align="right")
    para(document)
    if copy_to:
        para(document, "抄送：{{ copy_to }}")
    para(document, "联系人：{{ contact }}　　联系电话：{{ phone }}")


def table(document: docx.document.Document, rows: list[tuple[str, str]]) -> Table:
    grid = document.add_table(rows=0, cols=2)
    grid.style = "Table Grid"
    grid.alignment = WD_TABLE_ALIGNMENT.CENTER
    grid.autofit = False
    # The label column narrow, the value wide (156 mm: the text width of GB/T 9704).
    for column, width in zip(grid.columns, (Mm(40), Mm(116)), strict=True):
        column.width = width
    for label, value in rows:
        cells = grid.add_row().cells
        cells[0].width, cells[1].width = Mm(40), Mm(116)
        for cell, text in ((cells[0], label), (cells[1], value)):
            cell.paragraphs[0].add_run(text)
            _fonts(cell.paragraphs[0].runs[0]._element)  # noqa: SLF001
    return grid


def receipt(document: docx.document.Document, title: str, received: str) -> None:
    """The tear-off 回执 the receiving unit signs and sends back (令310 art.7; T5)."""
    para(document)
    para(document, CUT, align="center")
    para(document, title, bold=True, size=Pt(16), align="center")
    para(document, "{{ case_number }}", align="center")
    para(document, "{{ office }}：", bold=False)
    para(document, received, indent=True)
    table(document, [
        ("接收单位", "{{ addressee }}"),
        ("接收人（签名）", ""),
        ("接收时间", "　　　年　　月　　日　　时　　分"),
        ("备注", "□ 材料齐全，予以接收\n□ 材料不全，请于　　日内补正：\n□ 不属本单位管辖，"
                 "已于　　月　　日　　时转送：　　　　　　（并书面告知）"),
    ])  # fmt: skip
    para(document)
    para(document, "接收单位（印章）", align="right")
    para(document, "　　　年　　月　　日", align="right")


# --- the documents -------------------------------------------------------------------------


def handover_letter() -> docx.document.Document:
    d = new_document()
    head(d, "案件移交函", "{{ addressee }}")
    para(d, "我单位在核查中发现{{ subject_name }}（{{ subject_id_label }}：{{ subject_id }}）"
            "在{{ period }}期间涉嫌{{ category }}，涉及{{ fund }}基金。经核实，"
            "造成基金损失{{ verified_loss }}，已追回{{ recovered }}。", indent=True)  # fmt: skip
    para(d, "核查情况：{{ facts }}", indent=True)
    para(d, "已采取的措施：{{ measures }}", indent=True)
    para(d, "{{ legal_basis }}，现将该案件移交你单位依法处理。请在收到本函及材料当日签收回执；"
            "材料不全的，请当日一次性告知需补正的内容。", indent=True)  # fmt: skip
    para(d, "附件：案件材料一套", indent=True)
    tail(d)
    return d


def handover_receipt() -> docx.document.Document:
    d = new_document()
    head(d, "案件移交函（存根）", None)
    para(d, "移交单位：{{ office }}")
    para(d, "接收单位：{{ addressee }}")
    para(d, "当事人：{{ subject_name }}（{{ subject_id_label }}：{{ subject_id }}）")
    para(d, "移交时间：{{ date }}")
    para(d, "{{ legal_basis }}")
    receipt(d, "案件移交函回执", "你单位移交的{{ subject_name }}涉嫌{{ category }}一案"
                             "（{{ case_number }}）"
                             "及相关材料已收到。")  # fmt: skip
    return d


def filing_record() -> docx.document.Document:
    d = new_document()
    head(d, "立案审批表", None)
    table(d, [
        ("案件来源", "{{ source }}"),
        ("当事人", "{{ subject_name }}"),
        ("{{ subject_id_label }}", "{{ subject_id }}"),
        ("涉及险种", "{{ fund }}"),
        ("违法行为类型", "{{ category }}"),
        ("违法期间", "{{ period }}"),
        ("核定损失金额", "{{ verified_loss }}"),
        ("已追回金额", "{{ recovered }}"),
        ("案情摘要", "{{ facts }}"),
        ("立案依据", "{{ legal_basis }}"),
        ("承办人意见", "建议立案调查。承办人：{{ contact }}　　{{ date }}"),
        ("负责人审批意见", "\n\n签名：　　　　　　　　　年　　月　　日"),
    ])  # fmt: skip
    tail(d)
    return d


def non_filing_record() -> docx.document.Document:
    d = new_document()
    head(d, "不予立案决定书", "{{ addressee }}")
    para(d, "你单位移交（或我单位核查）的{{ subject_name }}（{{ subject_id_label }}："
            "{{ subject_id }}）涉嫌{{ category }}一案，经审查，决定不予立案。",
         indent=True)  # fmt: skip
    para(d, "理由：{{ reasons }}", indent=True)
    para(d, "{{ legal_basis }}，特此决定。", indent=True)
    tail(d)
    return d


def referral_letter() -> docx.document.Document:
    d = new_document()
    head(d, "涉嫌犯罪案件移送书", "{{ addressee }}")
    para(d, "我单位在查处{{ subject_name }}（{{ subject_id_label }}：{{ subject_id }}）"
            "{{ category }}一案中，发现其在{{ period }}期间的行为涉嫌{{ charge }}，"
            "涉及{{ fund }}基金，经核定的基金损失为{{ verified_loss }}，已追回{{ recovered }}。",
         indent=True)  # fmt: skip
    para(d, "案件来源：{{ source }}。", indent=True)
    para(d, "主要事实：{{ facts }}", indent=True)
    para(d, "移送理由：{{ reasons }}", indent=True)
    para(d, "已采取的措施：{{ measures }}；行政处罚情况：{{ penalty }}。", indent=True)
    para(d, "专案组成员：{{ team }}。", indent=True)
    para(d, "{{ legal_basis }}，现将该案移送你局，请依法审查，"
            "并将立案或者不予立案的决定书面告知我单位。"
            "请在回执上签收。", indent=True)  # fmt: skip
    para(d, "附件：", indent=True)
    para(d, "{{ attachments }}", indent=True)
    tail(d, copy_to=True)
    return d


def referral_receipt() -> docx.document.Document:
    d = new_document()
    head(d, "涉嫌犯罪案件移送书（存根）", None)
    para(d, "移送单位：{{ office }}")
    para(d, "接收单位：{{ addressee }}")
    para(d, "犯罪嫌疑单位（人）：{{ subject_name }}（{{ subject_id_label }}：{{ subject_id }}）")
    para(d, "涉嫌罪名：{{ charge }}")
    para(d, "移送时间：{{ date }}")
    para(d, "{{ legal_basis }}")
    receipt(d, "涉嫌犯罪案件移送书（回执）",
            "你单位移送的{{ subject_name }}涉嫌{{ charge_name }}一案"
            "（{{ case_number }}）及附件材料已收到。"
            "我局将自接受之日起三日内依法审查，并书面告知审查决定。")  # fmt: skip
    return d


def materials_list() -> docx.document.Document:
    d = new_document()
    head(d, "移送材料目录", "{{ addressee }}")
    para(d, "我单位已于{{ date }}将{{ subject_name }}涉嫌{{ charge_name }}一案"
            "移送{{ police_unit }}。"
            "现将涉嫌犯罪案件移送书及有关材料目录抄送你院。", indent=True)  # fmt: skip
    grid = d.add_table(rows=1, cols=3)
    grid.style = "Table Grid"
    grid.autofit = False
    widths = (Mm(110), Mm(23), Mm(23))
    for column, width in zip(grid.columns, widths, strict=True):
        column.width = width
    for cell, text in zip(grid.rows[0].cells, ("序号及材料名称", "页数", "备注"), strict=True):
        cell.paragraphs[0].add_run(text).bold = True
    row = grid.add_row().cells
    row[0].paragraphs[0].add_run("{{ attachments }}")
    for cells in (grid.rows[0].cells, row):
        for cell, width in zip(cells, widths, strict=True):
            cell.width = width
    para(d)
    para(d, "行政处罚情况：{{ penalty }}。", indent=True)
    para(d, "{{ legal_basis }}。", indent=True)
    tail(d, copy_to=True)
    return d


def reconsideration_request() -> docx.document.Document:
    d = new_document()
    head(d, "提请复议书", "{{ addressee }}")
    para(d, "我单位于{{ referred_on }}移送你局的{{ subject_name }}涉嫌{{ charge_name }}一案，"
            "你局于{{ decided_on }}作出不予立案的决定。我单位认为该决定有误，"
            "理由如下：", indent=True)  # fmt: skip
    para(d, "{{ reasons }}", indent=True)
    para(d, "{{ legal_basis }}，特提请你局复议，并请在三日内作出复议决定，"
            "书面告知我单位。", indent=True)  # fmt: skip
    tail(d)
    return d


def supervision_proposal() -> docx.document.Document:
    d = new_document()
    head(d, "立案监督建议书", "{{ addressee }}")
    para(d, "我单位于{{ referred_on }}将{{ subject_name }}涉嫌{{ charge_name }}一案"
            "移送{{ police_unit }}，该局于{{ decided_on }}作出不予立案的决定"
            "{{ reconsidered }}。", indent=True)  # fmt: skip
    para(d, "我单位认为应当立案，理由如下：{{ reasons }}", indent=True)
    para(d, "{{ legal_basis }}，特建议你{{ supervisor_short }}依法进行立案监督。", indent=True)
    para(d, "附件：涉嫌犯罪案件移送书及不予立案决定（复印件）", indent=True)
    tail(d)
    return d


def closing_notice() -> docx.document.Document:
    d = new_document()
    head(d, "结案通知书", "{{ addressee }}")
    para(d, "{{ subject_name }}（{{ subject_id_label }}：{{ subject_id }}）涉嫌{{ category }}一案"
            "（{{ case_number }}），现已办结。", indent=True)  # fmt: skip
    para(d, "办理结果：{{ outcome }}", indent=True)
    para(d, "核定基金损失{{ verified_loss }}，已追回{{ recovered }}；行政处罚情况：{{ penalty }}。",
         indent=True)  # fmt: skip
    para(d, "结案意见：{{ facts }}", indent=True)
    para(d, "{{ legal_basis }}，特此通知。", indent=True)
    tail(d)
    return d


KINDS = {
    "handover_letter": handover_letter, "handover_receipt": handover_receipt,
    "filing_record": filing_record, "non_filing_record": non_filing_record,
    "referral_letter": referral_letter, "referral_receipt": referral_receipt,
    "materials_list": materials_list, "reconsideration_request": reconsideration_request,
    "supervision_proposal": supervision_proposal, "closing_notice": closing_notice,
}  # fmt: skip


def main(folder: Path = FOLDER) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for kind, make in KINDS.items():
        document = make()
        # No revision ids that change on every run: the committed files stay stable.
        document.core_properties.revision = 1
        document.save(str(folder / f"{kind}.docx"))
    print(f"wrote {len(KINDS)} templates to {folder}", file=sys.stderr)


if __name__ == "__main__":
    main()
