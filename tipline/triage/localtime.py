"""Times as officers read them: in China's time (Asia/Shanghai), as the tips' dates are.

What is stored stays in UTC (the audit log's ``at``, an account's ``locked_until``); only
what is shown is converted, here, so every page, the CSV export and anything printed use
one clock. Dates (a tip's ``received_on``, a deadline's ``due_on``) are already China's
days and are shown as they are.
"""

from __future__ import annotations

import datetime as dt

from tipline.intake.submit import CHINA

FORMATS = {
    "seconds": "%Y-%m-%d %H:%M:%S",
    "minutes": "%Y-%m-%d %H:%M",
    # For a <time datetime="..."> attribute: the instant with its +08:00 offset.
    "iso": "%Y-%m-%dT%H:%M:%S%z",
}


def in_china(at: dt.datetime) -> dt.datetime:
    """``at`` on China's clock. A naive value (SQLite hands them back) was written in UTC."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    return at.astimezone(CHINA)


def local_time(at: dt.datetime | None, precision: str = "seconds") -> str:
    """The jinja filter ``local_time``: ``at`` as ``2026-12-04 07:30:00`` in China's time
    (``precision`` "minutes" drops the seconds; "iso" gives ``2026-12-04T07:30:00+0800``
    for a ``<time datetime>`` attribute). None gives the empty string."""
    if at is None:
        return ""
    return in_china(at).strftime(FORMATS[precision])


def day_start(day: dt.date) -> dt.datetime:
    """The first instant (in UTC) of ``day`` in China: what a date range starts at."""
    return dt.datetime.combine(day, dt.time(), tzinfo=CHINA).astimezone(dt.UTC)
