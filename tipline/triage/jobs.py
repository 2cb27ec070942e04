"""Scheduled jobs of the internal side, run by the rq worker beside triage."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from rq import get_current_job

from tipline.intake.config import Config
from tipline.intake.jobs import process_new_tips
from tipline.intake.queue import Declared, JobTable, RedisQueue, job_session
from tipline.intake.submit import today
from tipline.intake.workdays import load_calendar
from tipline.triage.clocks import mark_sent, recipients, send_notices, sweep, waiting
from tipline.triage.tips import alerts

CHINA = ZoneInfo("Asia/Shanghai")
SWEEP_HOUR = 7  # every morning, before the offices open


def sweep_deadlines() -> int:
    """Mark due-soon and overdue deadlines, escalate, notify; then book the next sweep.

    Idempotent: a second sweep the same day changes nothing, escalates nothing twice and
    sends no notice twice; a retry after a failed send sends what the failed run did not
    (all of it again, if the server took only some). Returns the number of notices sent."""
    config = Config.from_env(need_secret=False)
    if config.redis_url:
        # Booked first: a failure below (an SMTP server down) must not end the daily sweeps.
        queue = RedisQueue(config.redis_url, config.queue_name, DECLARED)
        current = get_current_job()
        try:
            schedule_next_sweep(queue, running=current.id if current is not None else None)
        finally:
            queue.connection.close()
    # Tips whose own job was lost (Redis down at submission) are routed first, so their
    # clocks are there to be swept.
    process_new_tips()
    day = today()
    with job_session() as session:
        # The time as well as the day: the hour clocks of cases (T11, T12) run to the minute.
        sweep(session, day, load_calendar(session), now=dt.datetime.now(dt.UTC))
    if not config.smtp_url:
        return 0
    # What to announce is read back from what is stored, and counts as announced only
    # after the send: the sweep above is already committed, so a retry after an SMTP
    # failure finds nothing new to escalate, yet must still send these notices.
    with job_session() as session:
        found = waiting(session, day)
        addresses = recipients(session, found)
    if addresses:
        send_notices(config.smtp_url, config.mail_from, addresses,
                     password=config.smtp_password, ca_file=config.smtp_ca_file)  # fmt: skip
        with job_session() as session:
            mark_sent(session, day, found, len(addresses))
    return len(addresses)


def next_sweep_time(now: dt.datetime) -> dt.datetime:
    local = now.astimezone(CHINA)
    run = local.replace(hour=SWEEP_HOUR, minute=0, second=0, microsecond=0)
    if run <= local:
        run += dt.timedelta(days=1)
    return run.astimezone(dt.UTC)


def schedule_next_sweep(queue: RedisQueue, running: str | None = None) -> str:
    """Book the next morning's sweep with rq's scheduler (the worker runs it). The job id
    names the morning (a day, never a finer time), so booking twice keeps one job.

    ``running`` is the id of the sweep that books: when it is the next morning's own, that
    sweep was run before its time (the portal may push any id onto the queue, and this
    one is easy to guess), so the morning after is booked instead; otherwise the booking
    would find the running job, keep it, and lose it when it ends."""
    when = next_sweep_time(dt.datetime.now(dt.UTC))
    if _sweep_id(when) == running:
        when += dt.timedelta(days=1)
    return queue.enqueue_at(when, sweep_deadlines, job_id=_sweep_id(when))


def _sweep_id(when: dt.datetime) -> str:
    return f"deadline-sweep-{when:%Y%m%d}"


def send_alert_digest() -> int:
    """E-mail each officer with unseen alerts how many wait, once per period of
    ``TIPLINE_ALERT_DIGEST_HOURS`` (triage/tips/alerts.py); then book the next period's digest.

    Idempotent: a second run in the same period sends nothing. The period counts as done
    only after the send, so a retry after an SMTP failure sends it (to everyone again, if
    the server took only some: twice is better than never). Returns the e-mails sent."""
    config = Config.from_env(need_secret=False)
    hours = config.alert_digest_hours
    if config.redis_url and hours:
        # Booked first, as the sweep is: a mail server down must not end the digests.
        queue = RedisQueue(config.redis_url, config.queue_name, DECLARED)
        current = get_current_job()
        try:
            schedule_next_digest(queue, hours, running=current.id if current else None)
        finally:
            queue.connection.close()
    if not hours or not config.smtp_url:
        return 0
    period = alerts.digest_slot(dt.datetime.now(dt.UTC), hours)
    with job_session() as session:
        if alerts.digest_sent(session, period):
            return 0
        addresses = alerts.digest_counts(session)
    if addresses:
        site = config.triage_url
        send_notices(config.smtp_url, config.mail_from, addresses,
                     password=config.smtp_password, ca_file=config.smtp_ca_file,
                     compose=lambda count: alerts.digest_text(count, site))  # fmt: skip
    with job_session() as session:
        alerts.mark_digest_sent(session, period)
    return len(addresses)


def schedule_next_digest(queue: RedisQueue, hours: int, running: str | None = None) -> str:
    """Book the next period's digest; its id names the period's start (to the hour, a time
    of the digest's own that dates no tip), so booking twice keeps one job. As with the
    sweep, a digest run before its time under the next period's id books the one after."""
    when = alerts.next_digest_time(dt.datetime.now(dt.UTC), hours)
    if _digest_id(when) == running:
        when += dt.timedelta(hours=hours)
    return queue.enqueue_at(when, send_alert_digest, job_id=_digest_id(when))


def _digest_id(when: dt.datetime) -> str:
    return f"alert-digest-{when:%Y%m%d%H}"


# The jobs of the internal side; the worker runs these and the intake's, nothing else.
DECLARED = JobTable(Declared(sweep_deadlines), Declared(send_alert_digest))
