"""Case numbers in the official style, from the rule pack's pattern and an office's sequence.

Each office (bureau × jurisdiction) numbers its cases from 1 every year (domain-cases.md
section 7: e.g. 云阳医保处罚字〔2025〕第145号). The sequence row is locked while the number is
taken, so two officers opening cases at once get two numbers.
"""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tipline.intake import reference
from tipline.intake.models import CaseSequence
from tipline.intake.rules import CaseNumbering

# Administrative suffixes dropped to make an office's short name (汕尾市 → 汕尾). A name that
# would be left with one character keeps its suffix (城区 stays 城区); a pack's "places" map
# names the exceptions (自治州, 新区 …).
_SUFFIX = re.compile(r"(特别行政区|自治区|自治州|自治县|地区|盟|省|市|县|区|旗)$")


def place_name(region: str, numbering: CaseNumbering) -> str:
    if numbering.place:
        return numbering.place
    path = reference.region_path(region)
    name = path[-1].name if path else region
    short = _SUFFIX.sub("", name)
    return short if len(short) >= 2 else name


def format_number(numbering: CaseNumbering, region: str, year: int, n: int) -> str:
    return numbering.pattern.format(
        place=place_name(region, numbering), agency=numbering.agency, doc=numbering.doc,
        year=year, n=n,
    )  # fmt: skip


def take(session: Session, bureau: str, region: str, year: int) -> int:
    """The next number of the office's sequence for ``year``, taken in the caller's
    transaction (the row is locked until it ends)."""
    row = session.scalar(
        select(CaseSequence)
        .where(
            CaseSequence.bureau == bureau,
            CaseSequence.region == region,
            CaseSequence.year == year,
        )
        .with_for_update()
    )
    if row is None:
        # The office's first case of the year: two at once both insert; the loser's
        # savepoint rolls back and it takes the winner's row, locked, like any later case.
        try:
            with session.begin_nested():
                session.add(CaseSequence(bureau=bureau, region=region, year=year, last=0))
        except IntegrityError:
            pass
        row = session.scalars(
            select(CaseSequence)
            .where(
                CaseSequence.bureau == bureau,
                CaseSequence.region == region,
                CaseSequence.year == year,
            )
            .with_for_update()
        ).one()
    row.last += 1
    session.flush()
    return row.last
