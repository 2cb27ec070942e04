"""Jobs run after a submission, by an rq worker or inline.

Each opens its own session, is idempotent, and lets failures raise so rq records and
retries them. None takes a tip id: the work is found in the database, so no tip id ever goes
into Redis (see ``tipline.intake.queue``).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from tipline.intake.models import Deadline, Tip, TipEvent
from tipline.intake.queue import Declared, JobTable, job_keyring, job_session
from tipline.intake.reading import open_tip
from tipline.intake.rules import DeadlineRule, Facts, Routing, rule_book
from tipline.intake.workdays import Calendar, load_calendar

# Tips routed per transaction: a backlog (the queue was down for a day) is worked off in
# short transactions, each committed before the next is taken.
BATCH = 50


def process_new_tips() -> int:
    """Route every tip not yet processed by the rule packs and start its clocks.

    The job names no tip, so the queue never holds a tip id (DESIGN.md, "Least privilege
    between the processes"); each run takes whatever is waiting, which also recovers tips
    whose job was lost. It runs where the private keys are: the amount that raises a
    pack's flags is sealed. It writes no audit entry per tip, because its time would date
    the submission to the second; the read is the pipeline's, like the portal's own.
    Returns the number of tips processed."""
    done = 0
    while True:
        with job_session() as session:
            tips = _take_pending(session)
            if not tips:
                return done
            keyring = job_keyring()
            book = rule_book(session)
            calendar = load_calendar(session)
            for tip in tips:
                amount = open_tip(tip, keyring).amount
                facts = Facts(
                    category=tip.category,
                    region=tip.region,
                    fund=tip.fund,
                    suspect_kind=tip.suspect_kind,
                    amount=None if amount is None else Decimal(amount),
                    wants_notice=tip.wants_notice,
                    unit_level=tip.unit_level,
                )
                routing = book.route(facts)
                apply_routing(tip, routing)
                start_clocks(tip, book.deadlines(facts), calendar)
                if tip.bureau is not None:  # the lead is set: co-handlers see it from today
                    start_co_handling_clocks(
                        tip, book.deadline(routing.handling_region, "T1"), calendar
                    )
                if tip.category == OUT_OF_SCOPE:
                    not_a_fund_report(tip)
                tip.processed = True
            done += len(tips)


def _take_pending(session: Session) -> list[Tip]:
    """Unprocessed tips, locked so that two workers never route the same one; on
    PostgreSQL a tip another worker holds is skipped, not waited for."""
    query = select(Tip).where(Tip.processed.is_(False)).order_by(Tip.id).limit(BATCH)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=Tip)
    return list(session.scalars(query))


OUT_OF_SCOPE = "out_of_scope"


def not_a_fund_report(tip: Tip) -> None:
    """An out-of-scope tip that came by letter, phone or visit (the public site and API
    store none: they show the advice instead) is recorded as not accepted, with the
    redirect as its reason, so the written answer 社保法 art.82 asks for can be given
    (domain.md sections 2 and 6). Its review is done: the clocks it meets are met."""
    tip.status = "not_accepted"
    tip.status_detail = OUT_OF_SCOPE
    tip.events.append(TipEvent(on=tip.received_on, kind="not_accepted", detail=OUT_OF_SCOPE))
    for deadline in tip.deadlines:
        if deadline.met_on is None and "not_accepted" in deadline.met_by.split(","):
            deadline.met_on = tip.received_on
            deadline.state = "met"
    tip.next_due = min((d.due_on for d in tip.deadlines if d.met_on is None), default=None)


def apply_routing(tip: Tip, routing: Routing) -> None:
    """Set where a tip goes. A tip about staff was sealed at submission already; a pack
    may seal more, and no officer sees a tip before this has run (triage/scope.py)."""
    tip.suggested_bureau = routing.bureau
    tip.sealed = tip.sealed or routing.sealed
    if routing.sealed:
        tip.bureau = routing.bureau
    tip.handling_region = routing.handling_region
    tip.handling_city = routing.handling_region[:4]
    tip.handling_province = routing.handling_region[:2]
    tip.flags = ",".join(routing.flags)
    tip.rule_packs = ",".join(routing.packs)
    # domain.md section 2: never beside a sealed tip (the rules refuse such a pack).
    tip.set_co_bureaus(() if tip.sealed else routing.co_bureaus)


def start_clocks(
    tip: Tip,
    rules: list[DeadlineRule],
    calendar: Calendar,
    *,
    starts_on: dt.date | None = None,
    bureau: str | None = None,
) -> None:
    """The deadlines that run from receipt (domain.md section 3), each with its rule;
    ``starts_on`` and ``bureau`` for a receiving office's or a co-handling bureau's own."""
    start = starts_on or tip.received_on
    for rule in rules:
        due = calendar.deadline(start, rule.amount, rule.unit)
        tip.deadlines.append(
            Deadline(
                rule=rule.rule,
                bureau=bureau,
                starts_on=start,
                due_on=due.day,
                unit=rule.unit,
                amount=rule.amount,
                rule_pack=rule.pack,
                met_by=",".join(rule.met_by),
                calendar_fallback=due.fallback,
                state="open",
            )
        )
    tip.next_due = min((d.due_on for d in tip.deadlines if d.met_on is None), default=None)


def start_co_handling_clocks(tip: Tip, review: DeadlineRule | None, calendar: Calendar) -> None:
    """Each co-handling bureau reviews the tip within a T1 of its own (domain.md T1: 5
    working days), as the pack covering the handling office defines it (``review``), from
    the day it first sees the tip: the day the lead is set (triage/scope.py), by routing
    here or by an officer (triage.decisions). A clock of theirs still open had started before
    they could see the tip, so it starts again from today; a met one is left alone."""
    if review is None:
        return
    from tipline.intake.submit import today  # submit imports this module

    start = today()
    for owner in tip.co_bureau_codes:
        mine = [d for d in tip.deadlines if d.bureau == owner and d.rule == review.rule]
        if any(d.met_on is not None for d in mine):
            continue
        if not mine:
            start_clocks(tip, [review], calendar, starts_on=start, bureau=owner)
            continue
        due = calendar.deadline(start, mine[0].amount, mine[0].unit)
        for clock in mine:
            clock.starts_on, clock.due_on, clock.calendar_fallback = (
                start, due.day, due.fallback,
            )  # fmt: skip


# The jobs the sites may enqueue; the worker runs these and its own, nothing else.
DECLARED = JobTable(Declared(process_new_tips))
