"""Work outside the request: rq on Redis, or the same jobs inline.

A job is an importable function of ids and primitives. It opens its own session through
``job_session()``, from the engine bound to this process by ``bind_engine`` (the worker
does so at start, the inline queue when it is made), so no request or current user leaks in.
Jobs that read contents take the private keyring bound with the engine: only triage, the
worker and the ``tipline`` command hold one. The portal holds none, so without Redis its
tips wait for triage to route them (``InlineQueue`` without a keyring runs nothing).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from redis import Redis
from rq import Queue as RqQueue
from rq import Retry
from rq.serializers import JSONSerializer
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tipline.crypto import PrivateKeyring
from tipline.intake.db import make_sessionmaker, transaction

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


class Queue(Protocol):
    def enqueue(self, func: Callable[..., Any], *args: str | int | list[str]) -> str: ...


class InlineQueue:
    """Runs each job at once, in this process, through the same function rq would call."""

    def __init__(self, engine: Engine, keyring: PrivateKeyring | None = None) -> None:
        self.engine = engine
        self.keyring = keyring

    def enqueue(self, func: Callable[..., Any], *args: str | int | list[str]) -> str:
        if self.keyring is None:
            # The portal of the embedded default: triage routes the tip on its next request.
            return f"deferred:{func.__name__}"
        bind_engine(self.engine, self.keyring)
        func(*args)
        return f"inline:{func.__name__}"


class RedisQueue:
    def __init__(self, redis_url: str, name: str) -> None:
        self.connection = Redis.from_url(redis_url)
        # JSON, never pickle: a job payload must not be able to run code in the worker.
        self.queue = RqQueue(name, connection=self.connection, serializer=JSONSerializer)

    def enqueue(self, func: Callable[..., Any], *args: str | int | list[str]) -> str:
        # The description is what rq logs: the function name, never the arguments.
        job = self.queue.enqueue(
            func, *args, description=func.__name__, retry=Retry(max=3, interval=[10, 60, 300])
        )
        return str(job.id)


def make_queue(
    redis_url: str | None, name: str, engine: Engine, keyring: PrivateKeyring | None = None
) -> Queue:
    if redis_url:
        return RedisQueue(redis_url, name)
    return InlineQueue(engine, keyring)
