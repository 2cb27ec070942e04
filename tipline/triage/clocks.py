"""Keeping the statutory clocks: mark deadlines due soon and overdue, escalate, notify.

``sweep`` runs as a scheduled rq job (``jobs.sweep_deadlines``) or from the command line
(``tipline deadlines sweep``) where there is no Redis. Notices to officers say only that
something is waiting, never what (DESIGN.md, "Anonymity").
"""

from __future__ import annotations

import datetime as dt
import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tipline.intake.models import Deadline, Officer, Tip
from tipline.intake.workdays import Calendar
from tipline.triage import scope
from tipline.triage.audit import record

SOON = 1  # working days: a deadline this close is "due soon"
SUBJECT = "tipline: items are waiting for you"
BODY = (
    "Some items in the tip triage system need your attention.\n"
    "Sign in to see them.\n\n"
    "有待处理的事项，请登录举报线索分办系统查看。\n"
)


@dataclass
class SweepResult:
    due_soon: set[str] = field(default_factory=set)
    overdue: set[str] = field(default_factory=set)
    escalated: set[str] = field(default_factory=set)


def sweep(session: Session, today: dt.date, calendar: Calendar) -> SweepResult:
    """Update every open deadline's state; escalate newly overdue ones to supervisors."""
    result = SweepResult()
    open_deadlines = session.scalars(
        select(Deadline).where(Deadline.met_on.is_(None)).order_by(Deadline.id)
    )
    for deadline in open_deadlines:
        if deadline.due_on < today:
            deadline.state = "overdue"
            result.overdue.add(deadline.tip_id)
            if not deadline.escalated:
                deadline.escalated = True
                result.escalated.add(deadline.tip_id)
                record(
                    session, "deadline.escalate", actor=None, tip_id=deadline.tip_id,
                    rule=deadline.rule, due=deadline.due_on.isoformat(),
                )  # fmt: skip
        elif calendar.working_days_between(today, deadline.due_on) <= SOON:
            deadline.state = "due_soon"
            result.due_soon.add(deadline.tip_id)
    return result


def recipients(session: Session, result: SweepResult) -> dict[str, int]:
    """E-mail address → how many waiting items that officer may see.

    Escalations go to supervisors; items due soon to everyone who may work them. The count
    is computed through the same scoping as the inbox, so no notice reveals a tip its
    reader cannot see."""
    found: dict[str, int] = {}
    # Only the columns a notice needs: the worker's database role may read no more of an
    # officer (intake/roles.py), not the password hash nor the sealed TOTP secret.
    officers = session.execute(
        select(Officer.id, Officer.role, Officer.bureau, Officer.region, Officer.email).where(
            Officer.active.is_(True), Officer.email.is_not(None)
        )
    ).all()
    for officer in officers:
        wanted = set(result.due_soon) | (
            set(result.escalated) if officer.role == "supervisor" else set()
        )
        if not wanted:
            continue
        count = session.scalar(
            select(func.count()).where(scope.visibility(officer), Tip.id.in_(wanted))
        )
        if count and officer.email:
            found[officer.email] = count
    return found


LOCAL_RELAYS = frozenset({"localhost", "127.0.0.1", "::1"})


class MailError(Exception):
    """The mail settings would send a password or the notices unprotected."""


def send_notices(
    smtp_url: str,
    sender: str,
    addresses: dict[str, int],
    *,
    password: str | None = None,
    ca_file: str | None = None,
) -> None:
    """Send the notices through ``smtp_url``.

    ``smtps://[user@]host[:465]`` speaks TLS from the start; ``smtp://[user@]host[:587]``
    must upgrade with STARTTLS, except to a relay on this machine, which may take plain
    SMTP without a login. The server's certificate is checked against the system's
    authorities or ``ca_file``. With a user, ``password`` logs in, only ever over TLS."""
    parts = urlsplit(smtp_url)
    host = parts.hostname or "localhost"
    if parts.scheme not in ("smtp", "smtps"):
        raise MailError(f"TIPLINE_SMTP_URL: use smtp:// or smtps://, not {parts.scheme}://")
    if parts.password:
        raise MailError("TIPLINE_SMTP_URL: give the password in TIPLINE_SMTP_PASSWORD(_FILE)")
    context = ssl.create_default_context(cafile=ca_file)
    smtp: smtplib.SMTP
    if parts.scheme == "smtps":
        smtp = smtplib.SMTP_SSL(host, parts.port or 465, timeout=30, context=context)
    else:
        smtp = smtplib.SMTP(host, parts.port or 587, timeout=30)
    with smtp:
        if parts.scheme == "smtp":
            smtp.ehlo()
            if smtp.has_extn("starttls"):
                smtp.starttls(context=context)
                smtp.ehlo()
            elif host not in LOCAL_RELAYS or parts.username:
                raise MailError(f"{host} does not offer STARTTLS: notices are not sent in clear")
        if parts.username:
            if password is None:
                raise MailError("TIPLINE_SMTP_URL names a user: set TIPLINE_SMTP_PASSWORD")
            smtp.login(unquote(parts.username), password)
        for address in sorted(addresses):
            message = EmailMessage()
            message["From"] = sender
            message["To"] = address
            message["Subject"] = SUBJECT
            message.set_content(BODY)
            smtp.send_message(message)
