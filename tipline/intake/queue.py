"""Work outside the request: rq on Redis, or the same jobs inline, through one declared table.

A job is a function of the table ``JobTable``: each entry names the function and how its
arguments are checked. Both the sending side (``InlineQueue``, ``RedisQueue``) and the worker
(``tipline.triage.worker``) go through the table, so a job in Redis names work, never code
(DESIGN.md, "Least privilege between the processes"). A job opens its own session through
``job_session()``, from the engine bound by ``bind_engine`` (the worker does so at start,
the inline queue when it is made), so no request or current user leaks in.

What Redis holds, and for how long (DESIGN.md: "Nothing in Redis ties a tip to a time
finer than the day once its job ends"):

- No job takes a tip id or anything a reporter wrote: today's jobs take no arguments
  (``process_new_tips`` finds its work in the database). A future job that takes a tip id
  declares ``one_tip_id``, and must then keep this list true.
- While a job is queued (normally seconds; at most ``QUEUED_TTL``, one day, if no worker
  runs), its hash holds rq's exact ``created_at``/``enqueued_at``, its function name and
  retry settings. After a day it is dropped; the worker enqueues ``process_new_tips`` when it
  starts, so no tip waits on a dropped job.
- When a job succeeds, its hash is deleted at once (``result_ttl=0``): no result, no
  finished-registry entry, no result stream.
- When it fails, rq keeps the hash, a failed-registry entry and a result-stream entry for
  ``FAILURE_TTL`` (seven days) so an operator can see it (``rq info``); the failure text is
  the traceback's frames and the exception's type only, never its message (a message can
  carry a tip id: SQLAlchemy puts a statement's parameters in it). A failure to be retried
  waits in the scheduled registry, scored by its retry time.
- The morning sweep is booked in the scheduled registry under ``deadline-sweep-YYYYMMDD``.

Each process reaches Redis as its own Redis user (deploy/redis/users.acl.in). The portal's
may only add a job: write a hash under ``rq:job:portal-*`` (its jobs' ids start with
``PORTAL_JOB_PREFIX``), push onto its queue and name the queue in ``rq:queues``; it cannot
read, change or delete any job that triage or the worker made, nor take one off the queue.
It can push any id, so it can have a job run before its time: only declared work runs,
and the sweep, whose id is easy to guess, then books the morning after its own
(``tipline.triage.jobs.schedule_next_sweep``).

Jobs that read contents take the private keyring bound with the engine: only triage, the
worker and the ``tipline`` command hold one. The portal holds none, so without Redis its
tips wait for triage to route them (``InlineQueue`` without a keyring runs nothing).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from redis import Redis
from rq import Queue as RqQueue
from rq import Retry
from rq.serializers import JSONSerializer
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tipline.crypto import PrivateKeyring
from tipline.intake.db import make_sessionmaker, transaction

QUEUED_TTL = 24 * 3600  # a queued job older than a day is dropped (see the docstring)
FAILURE_TTL = 7 * 24 * 3600  # a failed job stays a week for the operator, then goes
RESULT_TTL = 0  # a finished job leaves nothing behind
# The ids of the jobs the portal enqueues start with this: its Redis user may write job
# hashes under rq:job:portal-* only (deploy/redis/users.acl.in), so a compromised portal
# cannot touch the jobs triage and the worker made, such as the booked morning sweep.
PORTAL_JOB_PREFIX = "portal-"
# rq asks the server's version (INFO) before its first enqueue, only to pick LPOS for a
# job's position, which this program never asks. The portal's Redis user may not run INFO,
# so rq is told instead: the ACL needs Redis 7 anyway (key permissions, selectors).
REDIS_VERSION = (7, 0, 0)

_engine: Engine | None = None
_keyring: PrivateKeyring | None = None


def bind_engine(engine: Engine, keyring: PrivateKeyring | None = None) -> None:
    """Name the database this process's jobs use, and the keys they may open tips with."""
    global _engine, _keyring
    _engine = engine
    _keyring = keyring


def job_keyring() -> PrivateKeyring:
    if _keyring is None:
        raise RuntimeError("this process holds no private keys: the job runs in the worker")
    return _keyring


@contextmanager
def job_session() -> Iterator[Session]:
    if _engine is None:
        raise RuntimeError("no database bound for jobs: call bind_engine() at start")
    with transaction(make_sessionmaker(_engine)) as session:
        yield session


class Refused(Exception):
    """A job that names no declared work, or declared work with arguments it does not take.

    The message says why in the program's own words; it never repeats the arguments."""


Validator = Callable[[tuple[Any, ...], Mapping[str, Any]], None]


def no_arguments(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    if args or kwargs:
        raise Refused("it takes no arguments")


TIP_ID = re.compile(r"[0-9a-f]{16}")


def one_tip_id(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    """For a job of one tip: exactly one tip id (16 lowercase hex digits), nothing else."""
    # fullmatch, not match with "$": "$" would let a trailing newline through.
    if kwargs or len(args) != 1 or not isinstance(args[0], str) or not TIP_ID.fullmatch(args[0]):
        raise Refused("it takes one tip id")


@dataclass(frozen=True)
class Declared:
    """One job the worker runs: its function and the check its arguments must pass."""

    func: Callable[..., Any]
    validate: Validator = no_arguments

    @property
    def name(self) -> str:
        """The name rq stores in the job (``module.function``)."""
        return f"{self.func.__module__}.{self.func.__qualname__}"


class JobTable:
    """The jobs a process may enqueue or run, by the name rq stores."""

    def __init__(self, *jobs: Declared) -> None:
        self._jobs = {job.name: job for job in jobs}

    def __add__(self, other: JobTable) -> JobTable:
        return JobTable(*self._jobs.values(), *other._jobs.values())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._jobs

    def resolve(self, name: object, args: object, kwargs: object) -> Callable[..., Any]:
        """The declared function for a job, once its arguments passed its check.

        Nothing is imported: the functions were imported when the table was built."""
        if not isinstance(name, str) or name not in self._jobs:
            raise Refused("it names no declared job")
        if not isinstance(args, list | tuple) or not isinstance(kwargs, dict):
            raise Refused("its arguments are malformed")
        job = self._jobs[name]
        job.validate(tuple(args), kwargs)
        return job.func

    def check(self, func: Callable[..., Any], args: tuple[Any, ...]) -> str:
        """The sending side's check: the same table, so no process enqueues what none runs."""
        name = f"{func.__module__}.{func.__qualname__}"
        if self._jobs.get(name, None) is None or self._jobs[name].func is not func:
            raise Refused(f"{name} is not a declared job")
        self.resolve(name, args, {})
        return name


def intake_jobs() -> JobTable:
    """The jobs the sites enqueue (imported here, not at the top: the jobs import this module)."""
    from tipline.intake.jobs import DECLARED

    return DECLARED


class Queue(Protocol):
    def enqueue(self, func: Callable[..., Any], *args: Any) -> str: ...


class InlineQueue:
    """Runs each job at once, in this process, through the same table and function rq would."""

    def __init__(
        self, engine: Engine, keyring: PrivateKeyring | None = None, table: JobTable | None = None
    ) -> None:
        self.engine = engine
        self.keyring = keyring
        self.table = table or intake_jobs()

    def enqueue(self, func: Callable[..., Any], *args: Any) -> str:
        name = self.table.check(func, args)
        if self.keyring is None:
            # The portal of the embedded default: triage routes the tip on its next request.
            return f"deferred:{name}"
        bind_engine(self.engine, self.keyring)
        func(*args)
        return f"inline:{name}"


class RedisQueue:
    """rq on Redis. ``job_prefix`` starts the id of every job ``enqueue`` makes (the portal
    passes ``PORTAL_JOB_PREFIX``); the URL may name a Redis user (redis://user:password@...)."""

    def __init__(
        self, redis_url: str, name: str, table: JobTable | None = None, job_prefix: str = ""
    ) -> None:
        self.connection = Redis.from_url(redis_url)
        self.table = table or intake_jobs()
        self.job_prefix = job_prefix
        # JSON, never pickle: a job payload must not be able to run code in the worker.
        self.queue = RqQueue(name, connection=self.connection, serializer=JSONSerializer)
        self.queue.redis_server_version = REDIS_VERSION

    def enqueue(self, func: Callable[..., Any], *args: Any) -> str:
        name = self.table.check(func, args)
        # The description is what rq logs: the function name, never the arguments.
        job = self.queue.enqueue(
            func, *args, job_id=f"{self.job_prefix}{uuid.uuid4().hex}",
            description=name.rpartition(".")[2],
            retry=Retry(max=3, interval=[10, 60, 300]),
            ttl=QUEUED_TTL, result_ttl=RESULT_TTL, failure_ttl=FAILURE_TTL,
        )  # fmt: skip
        return str(job.id)

    def enqueue_at(self, when: dt.datetime, func: Callable[..., Any], job_id: str) -> str:
        """Book a job for ``when`` with rq's scheduler; a second booking of ``job_id`` is
        ignored while the first is still there."""
        name = self.table.check(func, ())
        if self.queue.fetch_job(job_id) is None:
            self.queue.enqueue_at(
                when, func, job_id=job_id, description=name.rpartition(".")[2],
                retry=Retry(max=3, interval=[60, 600, 3600]),
                result_ttl=RESULT_TTL, failure_ttl=FAILURE_TTL,
            )  # fmt: skip
        return job_id


def make_queue(
    redis_url: str | None,
    name: str,
    engine: Engine,
    keyring: PrivateKeyring | None = None,
    job_prefix: str = "",
) -> Queue:
    if redis_url:
        return RedisQueue(redis_url, name, job_prefix=job_prefix)
    return InlineQueue(engine, keyring)
