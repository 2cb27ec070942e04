"""Export of one tip for the file (卷宗): a PDF of what its page shows an officer, or a ZIP
of that PDF with the evidence, decrypted, and a manifest of SHA-256 sums.

An export takes the contents out of the system, so it is reached exactly as the tip page is
(``scope.find_visible``: a hidden tip is 404), it writes one audit entry naming its format,
and every page of the PDF carries the officer's name and the time of the export, in the
tips' own time zone (Asia/Shanghai), so a printed or forwarded copy says whose it was.

The reporter's identity is in the PDF only for an officer whose identity request a
supervisor approved, as on the tip page (``decisions.open_identity``); the export's audit
entry then says so (``identity``: yes), as the one entry of that view.

Bounds: the PDF lists the evidence (name, size, SHA-256) but embeds none of it. The ZIP is
streamed: each file is decrypted chunk by chunk into the archive and sent as it is written,
so memory holds a chunk, not the files, and no plaintext is spooled to disk (DESIGN.md,
"Encryption at rest").

The downloads are GET links, like the evidence downloads they bundle: the session cookie is
SameSite=Strict, so a request from another site arrives signed out (a redirect to the
sign-in page), and a page elsewhere cannot read the answer anyway. The one effect of a GET is
an audit entry saying that this officer exported the tip, which is what happened.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, abort
from flask_babel import gettext as _
from flask_login import current_user
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from sqlalchemy import select
from sqlalchemy.orm import Session

from tipline.crypto import PrivateKeyring
from tipline.intake import reference
from tipline.intake.db import transaction
from tipline.intake.headers import content_disposition, display_name
from tipline.intake.models import IdentityRequest, Tip
from tipline.intake.reading import AttachmentInfo, OpenedTip, open_tip
from tipline.intake.submit import today
from tipline.triage import scope, triage
from tipline.triage.audit import record
from tipline.triage.tips import decisions, tipwords

# The tips' dates are China's (domain.md): the watermark says the time an officer there
# would read on the wall.
LOCAL_TIME = ZoneInfo("Asia/Shanghai")
FONT = "STSong-Light"  # Adobe's CID font: no font file to ship, renders Chinese and Latin
PDF_TYPE = "application/pdf"
ZIP_TYPE = "application/zip"
MANIFEST = "manifest-sha256.txt"
EVIDENCE_FOLDER = "evidence"
# Windows refuses these in a file name; an unpacked archive must open on an office PC.
_NOT_IN_NAMES = re.compile(r'[<>:"|?*\\/]')
# Control characters the PDF markup parser would choke on or a reader would not see.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")

# What goes into an export.


@dataclass(frozen=True)
class Evidence:
    info: AttachmentInfo
    name: str  # its name in the ZIP: one line, no path, no duplicates
    sha256: str


@dataclass(frozen=True)
class Dossier:
    """Everything the tip page shows this officer, decrypted, and who exports it when."""

    opened: OpenedTip
    officer: str
    at: dt.datetime  # local time (LOCAL_TIME)
    evidence: list[Evidence]
    notes: list[tuple[dt.date, str, str]]  # written on, by whom, text
    messages: list[tuple[dt.date, str, bool, str]]  # sent on, by whom, a question, text
    requests: list[IdentityRequest]
    packs: str  # the rule packs applied, in words
    clocks: list[tipwords.Clock]
    identity: dict[str, str] | None = None

    @property
    def tip(self) -> Tip:
        return self.opened.tip

    @property
    def stamp(self) -> str:
        """The watermark: who exported the tip, and when."""
        return _(
            "%(officer)s %(time)s exported", officer=self.officer,
            time=self.at.strftime("%Y-%m-%d %H:%M"),
        )  # fmt: skip


def archive_names(filenames: Iterable[str]) -> list[str]:
    """Names for the evidence in the ZIP, in order: each ``evidence/NN-name`` with the name
    made safe to unpack (no folder, no ``..``, no control or invisible characters, nothing
    Windows refuses, at most ``headers.MAX_NAME_CHARACTERS``), numbered so none repeats."""
    names = []
    for position, filename in enumerate(filenames, 1):
        name = _NOT_IN_NAMES.sub("_", display_name(filename))
        names.append(f"{EVIDENCE_FOLDER}/{position:02d}-{name}")
    assert len({n.casefold() for n in names}) == len(names)
    return names


def _sha256(chunks: Iterable[bytes]) -> str:
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


def gather(
    session: Session, viewer: scope.Viewer, officer: str, opened: OpenedTip, keyring: PrivateKeyring
) -> Dossier:
    """The dossier of a tip the viewer may see (the caller has checked the scope)."""
    tip = opened.tip
    infos = opened.attachments()
    names = archive_names(info.filename for info in infos)
    evidence = [
        Evidence(info, name, _sha256(opened.attachment_content(session, info.id)))
        for info, name in zip(infos, names, strict=True)
    ]
    notes = decisions.notes(opened, session)
    scopes = tipwords.pack_scopes(session)
    written_by: set[int | None] = {note.officer_id for note, _text in notes}
    authors = tipwords.authors(session, written_by | {m.officer_id for m in tip.messages})
    officer_of = {m.id: m.officer_id for m in tip.messages}
    messages = []
    for shown in opened.messages():
        if shown.author == "officer":
            by = authors.get(officer_of.get(shown.id) or -1) or _("Officer")
        else:
            by = _("Reporter")
        messages.append((shown.sent_on, by, shown.asks_reply, shown.text))
    requests = list(
        session.scalars(
            select(IdentityRequest)
            .where(IdentityRequest.tip_id == tip.id)
            .order_by(IdentityRequest.id)
        )
    )
    identity = None
    if any(r.requester_id == viewer.id and r.state == "approved" for r in requests):
        # The export's own entry says the identity is in it (tip.export, identity: yes).
        identity = decisions.open_identity(session, viewer, tip, keyring, audit=False)
    return Dossier(
        opened=opened,
        officer=officer,
        at=dt.datetime.now(LOCAL_TIME),
        evidence=evidence,
        notes=[(n.written_on, authors.get(n.officer_id, ""), text) for n, text in notes],
        messages=messages,
        requests=requests,
        packs=tipwords.pack_words(tip.rule_packs, scopes),
        clocks=[tipwords.clock(d, scopes, today()) for d in tip.deadlines],
        identity=identity,
    )


# The PDF.


@cache
def _font() -> str:
    # Registered once, on first use (never at import): reportlab keeps fonts process-wide.
    pdfmetrics.registerFont(UnicodeCIDFont(FONT))
    return FONT


def markup(text: object) -> str:
    """Text from anyone (the reporter above all) as reportlab paragraph markup: escaped, so
    ``<font>`` or ``&`` in a report is shown, never obeyed; line breaks kept."""
    cleaned = _CONTROL.sub("", str(text)).replace("\r\n", "\n").replace("\r", "\n")
    return escape(cleaned).replace("\n", "<br/>")


def _styles() -> dict[str, ParagraphStyle]:
    font = _font()
    base = ParagraphStyle("body", fontName=font, fontSize=10, leading=15, wordWrap="CJK")
    return {
        "body": base,
        "small": ParagraphStyle("small", parent=base, fontSize=8.5, leading=12),
        "title": ParagraphStyle("title", parent=base, fontSize=17, leading=24, spaceAfter=6),
        "h2": ParagraphStyle(
            "h2", parent=base, fontSize=13, leading=19, spaceBefore=10, spaceAfter=4
        ),
    }


def _date(day: dt.date | None) -> str:
    return day.isoformat() if day else ""


def _facts(dossier: Dossier) -> list[tuple[str, str]]:
    """The tip page's facts, in the same words (tipwords): how it is handled, then what the
    reporter gave."""
    tip = dossier.tip
    rows = [
        (_("Status"), tipwords.status_words(tip)),
        (_("Handling office"), reference.region_name(tip.handling_region)),
        (_("Suggested bureau"), tipwords.words(reference.BUREAUS, tip.suggested_bureau)),
        (_("Lead bureau"), tipwords.words(reference.BUREAUS, tip.bureau)),
        (
            _("Co-handling bureaus"),
            "、".join(tipwords.words(reference.BUREAUS, c) for c in tip.co_bureau_codes),
        ),
        (_("Flags"), "、".join(tipwords.flag_words(tip))),
        (_("Rules applied"), dossier.packs),
    ]
    if tip.duplicate_of:
        rows.append((_("Duplicate of"), tip.duplicate_of))
    rows += [(fact.label, fact.text) for fact in tipwords.reporter_facts(dossier.opened)]
    # A fact the reporter did not give is said so, not left as an empty box on paper.
    return [(label, value or _("None")) for label, value in rows]


def _table(
    rows: list[list[str]], widths: list[float], styles: dict[str, ParagraphStyle], *,
    header: bool = True,
) -> Table:  # fmt: skip
    cells = [[Paragraph(markup(cell), styles["small"]) for cell in row] for row in rows]
    table = Table(cells, colWidths=widths, repeatRows=1 if header else 0)
    commands: list[Any] = [
        ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ]
    if header:
        commands.append(("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8e8e8")))
    table.setStyle(TableStyle(commands))
    return table


def _story(dossier: Dossier, width: float) -> list[Any]:
    styles = _styles()
    tip = dossier.tip
    body, h2 = styles["body"], styles["h2"]

    def heading(text: str) -> Paragraph:
        return Paragraph(markup(text), h2)

    story: list[Any] = [
        Paragraph(markup(f"{_('Tip')} {tip.id}"), styles["title"]),
        Paragraph(markup(dossier.stamp), styles["small"]),
        Spacer(1, 4 * mm),
        _table([list(row) for row in _facts(dossier)], [0.28 * width, 0.72 * width], styles,
               header=False),
    ]  # fmt: skip

    story.append(heading(_("Deadlines")))
    deadlines = [[_("Rule"), _("Due"), _("State"), _("Source")]]
    for c in dossier.clocks:
        d = c.deadline
        state = c.state + (f" {_date(d.met_on)}" if d.met_on else "")
        if c.closed_by:
            state += f"（{c.closed_by}）"
        due = _date(d.due_on) + (" *" if d.calendar_fallback else "")
        deadlines.append([c.rule, due, state, f"{c.length} | {c.pack}"])
    story.append(_table(deadlines, [w * width for w in (0.22, 0.18, 0.2, 0.4)], styles))
    if any(d.calendar_fallback for d in tip.deadlines):
        story.append(
            Paragraph(
                markup(
                    "* " + _(
                        "Counted Monday to Friday: there is no official holiday calendar for "
                        "this year yet."
                    )
                ),
                styles["small"],
            )
        )  # fmt: skip

    story.append(heading(_("Report")))
    story.append(Paragraph(markup(dossier.opened.text), body))

    story.append(heading(_("Evidence")))
    if dossier.evidence:
        rows = [[_("File"), _("Size"), "SHA-256"]]
        rows += [
            [e.info.filename, _("%(count)s bytes", count=f"{e.info.size:,}"), e.sha256]
            for e in dossier.evidence
        ]
        story.append(_table(rows, [w * width for w in (0.36, 0.16, 0.48)], styles))
    else:
        story.append(Paragraph(markup(_("No files yet.")), body))

    story.append(heading(_("Reporter")))
    said = _("Real name given (sealed; opening it needs a supervisor's approval).") if (
        tip.real_name) else _("Anonymous.")  # fmt: skip
    if tip.wants_notice:
        said += " " + _("Asked to be told whether the report is accepted.")
    story.append(Paragraph(markup(said), body))
    if dossier.identity is not None:
        identity = dossier.identity
        story.append(
            _table(
                [
                    [_("Name"), identity.get("name", "")],
                    [_("Resident identity card number"), identity.get("id_number", "")],
                    [_("Telephone"), identity.get("phone", "")],
                ],
                [0.28 * width, 0.72 * width], styles, header=False,
            )
        )  # fmt: skip
    for r in dossier.requests:
        line = f"{_('Identity request')} #{r.id} | {_date(r.requested_on)} | "
        story.append(
            Paragraph(
                markup(line + tipwords.words(reference.IDENTITY_REQUEST_STATES, r.state)), body
            )
        )

    story.append(heading(_("Internal notes")))
    if not dossier.notes:
        story.append(Paragraph(markup(_("No notes yet.")), body))
    for written_on, by, text in dossier.notes:
        story.append(Paragraph(markup(f"{_date(written_on)} | {by}"), styles["small"]))
        story.append(Paragraph(markup(text), body))

    story.append(heading(_("Messages with the reporter")))
    if not dossier.messages:
        story.append(Paragraph(markup(_("No messages yet.")), body))
    for sent_on, by, question, text in dossier.messages:
        meta = f"{by} | {_date(sent_on)}" + (f" | {_('Question')}" if question else "")
        story.append(Paragraph(markup(meta), styles["small"]))
        story.append(Paragraph(markup(text), body))

    story.append(heading(_("Timeline")))
    events = [[_("When"), _("Event")]]
    for e in tip.events:
        step = tipwords.step(e)
        what = step.text if step.tip_id is None else f"{step.what}（{step.tip_id}）"
        events.append([_date(step.on), what])
    story.append(_table(events, [0.22 * width, 0.78 * width], styles))
    return story


def _stamped_canvas(stamp: str, page_label: Callable[[int, int], str]) -> type[Canvas]:
    """A canvas that, once the page count is known, writes on every page the watermark
    (diagonal, light, over the content so no page can be cut out without it), and a footer
    with the stamp and "page n of m"."""

    class Stamped(Canvas):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._size = kwargs.get("pagesize", A4)
            self._pages: list[dict[str, Any]] = []

        def showPage(self) -> None:  # noqa: N802 - reportlab's name
            # Keep the page to stamp once the count is known (reportlab's own page-count
            # recipe: the state is put back and shown in ``save``).
            self._pages.append(dict(self.__dict__))
            self._startPage()  # type: ignore[attr-defined]

        def save(self) -> None:
            total = len(self._pages)
            for number, state in enumerate(self._pages, 1):
                self.__dict__.update(state)
                self._stamp(number, total)
                super().showPage()
            super().save()

        def _stamp(self, number: int, total: int) -> None:
            width, height = self._size
            self.saveState()
            self.setFont(FONT, 9)
            self.setFillColor(colors.HexColor("#555555"))
            self.drawString(18 * mm, 10 * mm, stamp)
            self.drawRightString(width - 18 * mm, 10 * mm, page_label(number, total))
            self.setFillColor(colors.Color(0.5, 0.5, 0.5, alpha=0.18))
            self.setFont(FONT, 26)
            self.translate(width / 2, height / 2)
            self.rotate(35)
            for offset in (-90 * mm, 0, 90 * mm):
                self.drawCentredString(0, offset, stamp)
            self.restoreState()

    return Stamped


def _page_label(number: int, total: int) -> str:
    return _("Page %(page)s of %(pages)s", page=number, pages=total)


def render_pdf(dossier: Dossier) -> bytes:
    out = io.BytesIO()
    font = _font()
    document = SimpleDocTemplate(
        out, pagesize=A4, leftMargin=18 * mm, rightMargin=18 * mm, topMargin=16 * mm,
        bottomMargin=20 * mm, title=f"{_('Tip')} {dossier.tip.id}", author=dossier.officer,
        subject=dossier.stamp, creator="tipline", initialFontName=font,
    )  # fmt: skip
    document.build(
        _story(dossier, document.width),
        canvasmaker=_stamped_canvas(dossier.stamp, _page_label),
    )
    return out.getvalue()


# The ZIP.


class _Sink(io.RawIOBase):
    """A write-only stream that hands over what was written since the last ``take``: the
    archive is sent as it is made, never held whole."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        taken, self._parts = b"".join(self._parts), []
        return taken


def zip_stream(session: Session, dossier: Dossier, pdf: bytes) -> Iterator[bytes]:
    """The archive, piece by piece: the PDF, each evidence file decrypted from the store, and
    a manifest in ``sha256sum`` format (``sha256sum -c`` checks the unpacked folder)."""
    for piece in _zip_pieces(session, dossier, pdf):
        if piece:  # the compressor often holds a chunk back; an empty one is not sent
            yield piece


def _zip_pieces(session: Session, dossier: Dossier, pdf: bytes) -> Iterator[bytes]:
    sink = _Sink()
    stamp = dossier.at.timetuple()[:6]
    sums: list[tuple[str, str]] = []
    pdf_name = f"tip-{dossier.tip.id}.pdf"
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(zipfile.ZipInfo(pdf_name, stamp), pdf, zipfile.ZIP_DEFLATED)
        sums.append((hashlib.sha256(pdf).hexdigest(), pdf_name))
        yield sink.take()
        for item in dossier.evidence:
            entry = zipfile.ZipInfo(item.name, stamp)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.file_size = item.info.size  # ZIP64 is chosen up front from the size
            digest = hashlib.sha256()
            with archive.open(entry, "w") as out:
                for chunk in dossier.opened.attachment_content(session, item.info.id):
                    digest.update(chunk)
                    out.write(chunk)
                    yield sink.take()
            sums.append((digest.hexdigest(), item.name))
        manifest = "".join(f"{digest}  {name}\n" for digest, name in sums)
        archive.writestr(zipfile.ZipInfo(MANIFEST, stamp), manifest.encode(), zipfile.ZIP_DEFLATED)
    yield sink.take()


# Routes: the pages' links (tip.html) and the API (api.py) both answer through these.

bp = Blueprint("export", __name__)


def _dossier(session: Session, tip_id: str) -> Dossier:
    tip = scope.find_visible(session, current_user, tip_id)
    if tip is None:
        abort(404)
    keyring = triage().keyring
    return gather(session, current_user, current_user.username, open_tip(tip, keyring), keyring)


def _audit(session: Session, dossier: Dossier, kind: str) -> None:
    record(
        session, "tip.export", actor=current_user.username, tip_id=dossier.tip.id,
        format=kind, files=len(dossier.evidence) if kind == "zip" else 0,
        identity="yes" if dossier.identity is not None else "no",
    )  # fmt: skip


def pdf_response(tip_id: str) -> Response:
    with transaction(triage().sessions) as session:
        dossier = _dossier(session, tip_id)
        pdf = render_pdf(dossier)
        # Last, as on the tip page: the audit chain's lock is held only until the commit.
        _audit(session, dossier, "pdf")
    response = Response(pdf, mimetype=PDF_TYPE)
    response.headers["Content-Disposition"] = content_disposition(f"tip-{tip_id}.pdf")
    return response


def zip_response(tip_id: str) -> Response:
    session = triage().sessions()
    try:
        dossier = _dossier(session, tip_id)
        pdf = render_pdf(dossier)
        _audit(session, dossier, "zip")
        session.commit()  # the export is on record before the first byte leaves
        response = Response(_closing(zip_stream(session, dossier, pdf), session), mimetype=ZIP_TYPE)
    except BaseException:
        session.close()
        raise
    response.headers["Content-Disposition"] = content_disposition(f"tip-{tip_id}.zip")
    return response


def _closing(parts: Iterator[bytes], session: Session) -> Iterator[bytes]:
    try:
        yield from parts
    finally:
        session.close()


@bp.get("/tips/<tip_id>/export.pdf")
def tip_pdf(tip_id: str) -> Response:
    return pdf_response(tip_id)


@bp.get("/tips/<tip_id>/export.zip")
def tip_zip(tip_id: str) -> Response:
    return zip_response(tip_id)
