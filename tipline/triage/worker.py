"""The rq worker: runs the jobs this program declares, and nothing else Redis names.

Redis is written to by the portal, the process most exposed to attack, while the worker sits
beside triage and may hold the private keys. So everything in a job's record is untrusted
(DESIGN.md, "Least privilege between the processes"). rq, left to itself, imports and calls
whatever a record names: the function (``Job.func``), its ``instance``, the success, failure
and stopped callbacks, and it sends webhooks, enqueues dependents and repeats jobs. Here:

- ``DeclaredJob`` resolves the function only from the declared table (``JOBS``), after the
  arguments pass the job's own check; its callbacks are always none and it sends no
  webhooks. A record that names anything else, has an instance, callbacks, webhooks,
  dependencies or repeats, or cannot be read, is refused when it is fetched: its payload is
  dropped, it is not retried, and it fails through rq's normal path (recorded as failed,
  logged without its arguments), while the worker goes on with the next job.
- ``DeclaredWorker`` uses ``DeclaredJob`` for every job it fetches (queue, registries,
  dependents) and records failures as the traceback's frames and the exception's type only,
  never the message, which can carry a tip id (what Redis keeps and for how long is written
  in ``tipline.intake.queue``).
- rq's scheduler moves due jobs from the scheduled registry to the queue without resolving
  anything; they are then run, or refused, here like any other.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable
from types import TracebackType
from typing import Any, ClassVar

from redis import Redis
from rq import Queue as RqQueue
from rq import Worker
from rq.exceptions import DeserializationError, NoSuchJobError
from rq.job import Job
from rq.serializers import JSONSerializer
from rq.utils import as_text

from tipline.intake import jobs as intake_jobs
from tipline.intake.queue import FAILURE_TTL, RESULT_TTL, JobTable, RedisQueue, Refused
from tipline.triage import jobs as triage_jobs

JOBS = intake_jobs.DECLARED + triage_jobs.DECLARED
REFUSED_PAYLOAD = JSONSerializer.dumps(("refused", None, [], {}))


def describe_failure(
    exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
) -> str:
    """A failure as rq may keep it in Redis: where it happened and what kind, no message."""
    if isinstance(exc, Refused):
        return f"refused: {exc}"
    kinds: list[str] = []
    cause = exc
    while cause is not None and len(kinds) < 10:
        kinds.append(f"{type(cause).__module__}.{type(cause).__qualname__}")
        cause = cause.__cause__ or cause.__context__
    frames = "".join(traceback.format_list(traceback.extract_tb(tb)))
    return (
        "Traceback (most recent call last; messages withheld, they may name a tip):\n"
        f"{frames}{' <- '.join(kinds) or 'unknown failure'}"
    )


class DeclaredJob(Job):
    """An rq job whose record in Redis can name only declared work."""

    table: ClassVar[JobTable] = JOBS
    _refusal: str | None = None
    _refused_name: str = ""

    @classmethod
    def fetch(cls, id: str, connection: Redis | None = None, serializer: Any = None) -> Job:  # noqa: A002 (rq's name)
        try:
            return super().fetch(id, connection=connection, serializer=serializer)
        except NoSuchJobError:
            raise
        except Exception as exc:
            # A job id rq cannot even parse: skipped like a job that is gone, so one bad entry
            # in the queue cannot stop the worker.
            raise NoSuchJobError("unreadable job id") from exc

    def restore(self, raw_data: Any) -> Any:
        try:
            super().restore(raw_data)
        except NoSuchJobError:
            raise
        except Exception:
            # A record rq cannot read: keep only where it came from, so it fails in its queue.
            origin = raw_data.get(b"origin") or raw_data.get("origin") or b""
            super().restore({b"data": REFUSED_PAYLOAD, b"origin": origin})
            self._refuse("its record in Redis is malformed")
        else:
            reason = self._check()
            if reason is not None:
                self._refuse(reason)
        # This worker's lifetimes apply, whatever the record asked for (tipline.intake.queue).
        self.result_ttl = RESULT_TTL
        self.failure_ttl = FAILURE_TTL
        return None

    def _check(self) -> str | None:
        try:
            name, instance, args, kwargs = self.func_name, self.instance, self.args, self.kwargs
        except (DeserializationError, TypeError, ValueError):
            return "its payload is not JSON in rq's shape"
        self._refused_name = repr(name)[:100]
        if instance is not None:
            return "it names an instance"
        if self._success_callback_name or self._failure_callback_name:
            return "it names a callback"
        if self._stopped_callback_name:
            return "it names a callback"
        if self.webhooks:
            return "it asks for a webhook"
        if self._dependency_ids:
            return "it depends on another job"
        if self.repeats_left is not None or self.repeat_intervals:
            return "it asks to be repeated"
        try:
            self.table.resolve(name, args, kwargs)
        except Refused as exc:
            return str(exc)
        return None

    def _refuse(self, reason: str) -> None:
        """Keep nothing of a refused job's payload, in memory or when rq saves it again."""
        self._refusal = reason
        self.data = REFUSED_PAYLOAD
        self.description = "refused"
        self._success_callback_name = None
        self._failure_callback_name = None
        self._stopped_callback_name = None
        self.webhooks = []
        self._dependency_ids = []
        self.retries_left = None
        self.retry_intervals = None
        self.repeats_left = None
        self.repeat_intervals = None
        self.meta = {}

    @property
    def func(self) -> Callable[..., Any]:
        if self._refusal is not None:
            raise Refused(self._refusal)
        return self.table.resolve(self.func_name, self.args, self.kwargs)

    def _execute(self) -> Any:
        if self._refusal is not None:
            raise Refused(self._refusal)
        try:
            func = self.table.resolve(self.func_name, self.args, self.kwargs)
        except Refused as exc:
            self._refuse(str(exc))
            raise
        return func(*self.args, **self.kwargs)

    @property
    def should_retry(self) -> bool:
        return self._refusal is None and super().should_retry

    # rq imports and calls callbacks by the name in the record: a declared job has none.
    @property
    def success_callback(self) -> None:
        return None

    @property
    def failure_callback(self) -> None:
        return None

    @property
    def stopped_callback(self) -> None:
        return None

    def send_webhooks(self, status: Any, *, exc_string: str | None = None) -> None:
        """A declared job sends nothing anywhere (rq would request any URL in the record)."""


class DeclaredWorker(Worker):
    """rq's forking worker, with ``DeclaredJob`` and failures recorded without messages."""

    def handle_exception(self, job: Job, *exc_info: Any) -> None:
        exc = exc_info[1] if len(exc_info) > 1 else None
        if isinstance(exc, Refused):
            name = job._refused_name if isinstance(job, DeclaredJob) else ""
            self.log.error(
                "Worker %s: job %s refused: %s (it named %s)", self.name, job.id, exc, name
            )
        else:
            self.log.error(
                "Worker %s: job %s failed\n%s", self.name, job.id, describe_failure(*exc_info)
            )

    def handle_job_failure(
        self, job: Job, queue: RqQueue, started_job_registry: Any = None, exc_string: str = ""
    ) -> None:
        exc_type, exc, tb = sys.exc_info()
        if exc_type is not None:
            # Called while the job's exception is handled: keep its shape, not its message.
            exc_string = describe_failure(exc_type, exc, tb)
        # Otherwise rq describes the work horse's end itself, in words of its own.
        super().handle_job_failure(
            job, queue, started_job_registry=started_job_registry, exc_string=as_text(exc_string)
        )


def run_worker(redis_url: str, queue_name: str, *, burst: bool, digest_hours: int = 0) -> None:
    """Work ``queue_name`` with the declared jobs; with ``burst``, stop when it is empty.
    ``digest_hours`` (``TIPLINE_ALERT_DIGEST_HOURS``): how often the alert digest goes."""
    queue = RedisQueue(redis_url, queue_name, JOBS)
    # A queued job is dropped after a day (tipline.intake.queue): on start, one job catches
    # up with every tip still waiting, whatever happened to the jobs meant for it.
    queue.enqueue(intake_jobs.process_new_tips)
    if not burst:
        triage_jobs.schedule_next_sweep(queue)
        if digest_hours:
            triage_jobs.schedule_next_digest(queue, digest_hours)
    declared = RqQueue(
        queue_name, connection=queue.connection, serializer=JSONSerializer, job_class=DeclaredJob
    )
    DeclaredWorker(
        [declared],
        connection=queue.connection,
        serializer=JSONSerializer,
        job_class=DeclaredJob,
        default_result_ttl=RESULT_TTL,
        # rq would log the description, which a hostile record can fill with arguments.
        log_job_description=False,
    ).work(burst=burst, with_scheduler=True)
