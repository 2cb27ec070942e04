"""The auditor's pages: the audit log with its filters, its CSV export, and the chain check.

They add their routes to the admin blueprint when imported (endpoints ``admin.audit_log``,
``admin.audit_csv``, ``admin.audit_verify``; ``access.ALLOWED`` opens them to auditors only)
and read no tip's contents. Entries about a sealed tip (an accusation against the fund's own
staff, which only discipline inspection reads) are listed without their tip number or
detail, and a search by a sealed tip's number finds nothing, so the log does not tell an
auditor which entries concern it.

Times are shown in China's time (``localtime``); a date range is of China's days.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from flask import Response, render_template, request
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from tipline.intake.db import transaction
from tipline.intake.headers import content_disposition
from tipline.intake.models import AuditEvent, Tip
from tipline.intake.reference import N_
from tipline.intake.web import whole_number
from tipline.triage import triage
from tipline.triage.admin import bp
from tipline.triage.audit import head, record, verify
from tipline.triage.audit_terms import ACTION_CODES, ACTIONS, action_label, detail_items, joined
from tipline.triage.localtime import day_start, in_china, local_time

PAGE = 100
# About 20 MB of CSV, made in memory; more is refused with the count (audit_csv).
MAX_EXPORT = 100_000
MAX_ACTOR = 64  # as the column
_TIP_ID = re.compile(r"^[0-9a-f]{16}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
FIRST_DAY, LAST_DAY = dt.date(2000, 1, 1), dt.date(2999, 12, 31)
# What a spreadsheet would run as a formula (OWASP, "CSV injection"): such a cell is
# prefixed with an apostrophe, which Excel and LibreOffice show as text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class AuditFilter:
    """What the auditor searches for; empty fields match everything."""

    actor: str = ""
    action: str = ""
    tip: str = ""
    start: dt.date | None = None
    end: dt.date | None = None

    def args(self) -> dict[str, str]:
        """The filter as query-string arguments (for the page links and the CSV link)."""
        return {
            name: value.isoformat() if isinstance(value, dt.date) else value
            for name, value in asdict(self).items()
            if value
        }


class BadFilter(Exception):
    """The query string does not make a filter; ``problems`` says why, field by field."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__(problems)
        self.problems = problems


def _day(raw: str, field: str, problems: dict[str, str]) -> dt.date | None:
    if not raw:
        return None
    try:
        if not _DATE.match(raw):
            raise ValueError(raw)
        day = dt.date.fromisoformat(raw)
    except ValueError:
        problems[field] = N_("Give the day as YYYY-MM-DD, e.g. 2026-12-04.")
        return None
    if not FIRST_DAY <= day <= LAST_DAY:
        # Past these, China's midnight would leave the range of a datetime.
        problems[field] = N_("Give a day from 2000-01-01 to 2999-12-31.")
        return None
    return day


def parse_filter(args: Any) -> AuditFilter:
    """The filter from the query string, or ``BadFilter`` naming every field that is wrong."""
    problems: dict[str, str] = {}
    actor = (args.get("actor") or "").strip()
    if len(actor) > MAX_ACTOR or any(not ch.isprintable() for ch in actor):
        problems["actor"] = N_("An account name has at most 64 letters, digits or signs.")
    action = args.get("action") or ""
    if action and action not in ACTION_CODES:
        problems["action"] = N_("Choose an action from the list.")
    tip = (args.get("tip") or "").strip().lower()
    if tip and not _TIP_ID.match(tip):
        problems["tip"] = N_("A tip number has 16 characters, digits 0-9 and letters a-f.")
    start = _day(args.get("start") or "", "start", problems)
    end = _day(args.get("end") or "", "end", problems)
    if start and end and start > end:
        problems["end"] = N_("The last day comes before the first.")
    if problems:
        raise BadFilter(problems)
    return AuditFilter(actor=actor, action=action, tip=tip, start=start, end=end)


def _page_number(raw: str) -> int:
    page = whole_number(raw, low=1)  # ASCII digits, never past a bigint
    if page is None:
        raise BadFilter({"page": N_("A page number is a whole number from 1.")})
    return page


def sealed_tips(session: Session) -> set[str]:
    return set(session.scalars(select(Tip.id).where(Tip.sealed.is_(True))))


def matching(found: AuditFilter, sealed: set[str]) -> Select[Any]:
    """The entries the filter selects, newest first."""
    query = select(AuditEvent)
    if found.actor:
        query = query.where(AuditEvent.actor == found.actor)
    if found.action:
        query = query.where(AuditEvent.action == found.action)
    if found.tip:
        # A sealed tip's entries are listed masked, never found by its number.
        query = query.where(AuditEvent.tip_id == found.tip, AuditEvent.tip_id.not_in(sealed))
    if found.start:
        query = query.where(AuditEvent.at >= day_start(found.start))
    if found.end:
        query = query.where(AuditEvent.at < day_start(found.end + dt.timedelta(days=1)))
    return query.order_by(AuditEvent.id.desc())


@dataclass(frozen=True)
class Row:
    """An entry as the auditor reads it."""

    id: int
    at: dt.datetime
    actor: str
    action: str
    action_label: str
    tip: str
    details: list[tuple[str, str]]


# Failed sign-ins name no account when the name typed is not one (it may be a password).
_ANONYMOUS = frozenset({"signin.failed", "signin.replayed", "enrol.failed"})


def _nobody(action: str) -> str:
    return _("(no known account)") if action in _ANONYMOUS else _("(the system)")


def row(event: AuditEvent, sealed: set[str]) -> Row:
    hidden = event.tip_id in sealed
    return Row(
        id=event.id,
        at=event.at,
        actor=event.actor or _nobody(event.action),
        action=event.action,
        action_label=action_label(event.action),
        tip=_("(sealed)") if hidden else (event.tip_id or ""),
        details=[] if hidden else detail_items(event.detail),
    )


def action_choices() -> list[tuple[str, str]]:
    return [(term.code, _(term.label)) for term in ACTIONS]


@bp.get("/audit")
def audit_log() -> tuple[str, int]:
    try:
        found = parse_filter(request.args)
        page = _page_number(request.args.get("page") or "1")
    except BadFilter as bad:
        problems = {field: _(message) for field, message in bad.problems.items()}
        return _page(AuditFilter(), problems, [], 0, 1, None), 400
    with triage().sessions() as session:
        sealed = sealed_tips(session)
        query = matching(found, sealed)
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        events = session.scalars(query.limit(PAGE).offset((page - 1) * PAGE)).all()
        rows = [row(event, sealed) for event in events]
        newest = head(session)
    return _page(found, {}, rows, total, page, newest), 200


def _page(
    found: AuditFilter, problems: dict[str, str], rows: list[Row], total: int, page: int,
    newest: tuple[int, str] | None,
) -> str:  # fmt: skip
    return render_template(
        "triage/audit.html", rows=rows, total=total, page=page,
        pages=max(1, -(-total // PAGE)), head=newest, filter=found, args=found.args(),
        problems=problems, values=request.args, actions=action_choices(),
    )  # fmt: skip


def safe_cell(value: str) -> str:
    """A cell a spreadsheet shows as text, never runs as a formula."""
    return "'" + value if value.startswith(_FORMULA_START) else value


@bp.get("/audit.csv")
def audit_csv() -> Response | tuple[str, int]:
    """The filtered log as CSV for the auditor's spreadsheet: UTF-8 with a byte-order mark
    (so Excel reads the Chinese), headings and words in the auditor's language, times in
    China's time. The export is itself an entry, recorded (and committed, so the append
    lock is not held while the file is made) before the file is written; the file holds the
    entries up to the one before it. At most ``MAX_EXPORT`` entries: a larger search is
    refused with the count, so the auditor narrows it rather than gets a cut file."""
    try:
        found = parse_filter(request.args)
    except BadFilter as bad:
        problems = {field: _(message) for field, message in bad.problems.items()}
        return _page(AuditFilter(), problems, [], 0, 1, None), 400
    with transaction(triage().sessions) as session:
        newest = head(session)
        through = newest[0] if newest else 0
        query = matching(found, sealed_tips(session)).where(AuditEvent.id <= through)
        count = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        if count > MAX_EXPORT:
            too_many = _(
                "This search finds %(count)s entries; one file holds at most %(most)s. "
                "Choose a shorter time or another filter.", count=count, most=MAX_EXPORT,
            )  # fmt: skip
            return _page(found, {"start": too_many}, [], 0, 1, None), 400
        # The filter it was made with, under keys of its own (``actor`` is the exporter).
        asked = {"of_" + name: value for name, value in found.args().items()}
        record(session, "audit.export", actor=current_user.username, count=count, **asked)
    with triage().sessions() as session:
        sealed = sealed_tips(session)
        query = matching(found, sealed).where(AuditEvent.id <= through)
        rows = (row(event, sealed) for event in session.scalars(query.execution_options(
            yield_per=1000)))  # fmt: skip
        body = "\ufeff" + csv_text(rows)
    stamp = in_china(dt.datetime.now(dt.UTC)).strftime("%Y%m%d-%H%M")
    response = Response(body, mimetype="text/csv")  # Flask adds "; charset=utf-8"
    response.headers["Content-Disposition"] = content_disposition(f"audit-log-{stamp}.csv")
    response.headers["Cache-Control"] = "no-store"
    return response


def csv_text(rows: Iterable[Row]) -> str:
    """The rows as CSV under headings in the reader's language; no cell a formula."""
    out = io.StringIO()
    writer = csv.writer(out)
    headings = [_("Entry"), _("When (China time)"), _("Who"), _("What"), _("Tip"), _("Detail")]
    writer.writerow(headings)
    for shown in rows:
        writer.writerow([
            safe_cell(cell) for cell in (
                str(shown.id), local_time(shown.at), shown.actor, shown.action_label,
                shown.tip, joined(shown.details),
            )
        ])  # fmt: skip
    return out.getvalue()


@bp.get("/audit/verify")
def audit_verify() -> str:
    """The whole chain recomputed; the newest entry and a broken one with their times."""
    with triage().sessions() as session:
        result = verify(session)
        times = dict(
            session.execute(
                select(AuditEvent.id, AuditEvent.at).where(
                    AuditEvent.id.in_([i for i in (result.head_id, result.broken_at) if i])
                )
            ).all()
        )
    return render_template(
        "triage/audit_verify.html", result=result, times=times,
        checked_at=dt.datetime.now(dt.UTC),
    )  # fmt: skip
