"""Scheduled jobs of the internal side, run by the rq worker beside triage."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from redis import Redis
from rq import Queue, Retry
from rq.serializers import JSONSerializer

from tipline.intake.config import Config
from tipline.intake.jobs import process_new_tips
from tipline.intake.queue import job_session
from tipline.intake.submit import today
from tipline.intake.workdays import load_calendar
from tipline.triage.clocks import recipients, send_notices, sweep

CHINA = ZoneInfo("Asia/Shanghai")
SWEEP_HOUR = 7  # every morning, before the offices open


def sweep_deadlines() -> int:
    """Mark due-soon and overdue deadlines, escalate, notify; then book the next sweep.

    Idempotent: a second sweep the same day changes nothing and escalates nothing twice.
    Returns the number of notices sent."""
    config = Config.from_env(need_secret=False)
    if config.redis_url:
        # Booked first: a failure below (an SMTP server down) must not end the daily sweeps.
        schedule_next_sweep(Queue(config.queue_name, connection=Redis.from_url(config.redis_url),
                                  serializer=JSONSerializer))  # fmt: skip
    # Tips whose own job was lost (Redis down at submission) are routed first, so their
    # clocks are there to be swept.
    process_new_tips()
    with job_session() as session:
        result = sweep(session, today(), load_calendar(session))
        addresses = recipients(session, result)
    if config.smtp_url and addresses:
        send_notices(config.smtp_url, config.mail_from, addresses,
                     password=config.smtp_password, ca_file=config.smtp_ca_file)  # fmt: skip
    return len(addresses) if config.smtp_url else 0


def next_sweep_time(now: dt.datetime) -> dt.datetime:
    local = now.astimezone(CHINA)
    run = local.replace(hour=SWEEP_HOUR, minute=0, second=0, microsecond=0)
    if run <= local:
        run += dt.timedelta(days=1)
    return run.astimezone(dt.UTC)


def schedule_next_sweep(queue: Queue) -> str:
    """Book the next morning's sweep with rq's scheduler (the worker runs it). The job id
    names the morning, so booking twice for the same morning keeps one job."""
    when = next_sweep_time(dt.datetime.now(dt.UTC))
    job_id = f"deadline-sweep-{when:%Y%m%d}"
    if queue.fetch_job(job_id) is None:
        queue.enqueue_at(
            when, sweep_deadlines, job_id=job_id, description="sweep_deadlines",
            retry=Retry(max=3, interval=[60, 600, 3600]),
        )  # fmt: skip
    return job_id
