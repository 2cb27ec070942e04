"""The rq worker, run as an operator runs it (``tipline worker --burst``) against real Redis.

Redis is written to by the portal, so everything in it is treated as hostile: a job may name
only work the worker declares (DESIGN.md, "Least privilege between the processes"), and once
a job has ended nothing in Redis may tie a tip to a time finer than the day.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import json
import pickle  # noqa: S403 (builds the hostile payload; nothing here unpickles)
import secrets
import socket
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
import redis
from rq import Callback, Queue, Repeat
from rq.serializers import JSONSerializer
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from tests.conftest import PASSPHRASE, cli_environment, run_cli, submit_report
from tipline.intake.config import Config
from tipline.intake.db import make_engine
from tipline.intake.models import Tip
from tipline.portal import create_app as create_portal

DECLARED = "tipline.intake.jobs.process_new_tips"


class System:
    """What pickle would run on load: the classic payload against a pickle-based queue."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple[Callable[[str], int], tuple[str]]:
        import os

        return os.system, (self.command,)


def _overwrite(queue: Queue, job_id: str, **fields: str | bytes) -> None:
    queue.connection.hset(f"rq:job:{job_id}", mapping=fields)


def _data(payload: object) -> bytes:
    return zlib.compress(json.dumps(payload).encode())


# Each hostile variant enqueues as a compromised portal could (rq's own API or raw writes to
# the job hash), with ``mark`` (a path in the markers folder, unique to the test) in what it
# passes, and returns the job id.
Variant = Callable[[Queue, Path, socket.socket], str]


def _webhook(queue: Queue, mark: Path, listener: socket.socket) -> str:
    job = queue.enqueue(DECLARED)
    port = listener.getsockname()[1]
    hook = {"url": f"http://127.0.0.1:{port}/{mark.name}", "job_status": "finished", "timeout": 1}
    _overwrite(queue, job.id, webhooks=json.dumps([hook]))
    return job.id


def _instance(queue: Queue, mark: Path, listener: socket.socket) -> str:
    job = queue.enqueue(DECLARED)
    _overwrite(queue, job.id, data=_data(["upper", str(mark), [], {}]))
    return job.id


def _dependency(queue: Queue, mark: Path, listener: socket.socket) -> str:
    # A parent the record says is finished, so rq queues the dependent at once (with the
    # worker's result_ttl=0 no real parent is ever marked finished: dependents never run).
    first = queue.enqueue(DECLARED)
    _overwrite(queue, first.id, status="finished")
    return str(queue.enqueue(DECLARED, depends_on=first, description=str(mark)).id)


def _scheduled(queue: Queue, mark: Path, listener: socket.socket) -> str:
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    return str(queue.enqueue_at(past, "tests.hostile.ran", str(mark)).id)


def _pickle(queue: Queue, mark: Path, listener: socket.socket) -> str:
    job = queue.enqueue(DECLARED)
    payload = pickle.dumps(("os.system", None, (f"touch {mark}",), {}))
    _overwrite(queue, job.id, data=zlib.compress(pickle.dumps(System(f"touch {mark}")) + payload))
    return job.id


def _malformed(queue: Queue, mark: Path, listener: socket.socket) -> str:
    job = queue.enqueue(DECLARED)
    _overwrite(queue, job.id, status=str(mark), created_at="not a date")
    return job.id


VARIANTS: dict[str, Variant] = {
    "os.system": lambda q, mark, _: q.enqueue("os.system", f"touch {mark}").id,
    "builtins.exec": lambda q, mark, _: q.enqueue("builtins.exec", f"open({str(mark)!r}, 'w')").id,
    "subprocess.run": lambda q, mark, _: q.enqueue("subprocess.run", ["touch", str(mark)]).id,
    "any importable function": lambda q, mark, _: q.enqueue("tests.hostile.ran", str(mark)).id,
    "declared module, other name": lambda q, mark, _: (
        q.enqueue("tipline.intake.jobs.job_session", description=str(mark)).id
    ),
    "declared name with a newline": lambda q, mark, _: (
        q.enqueue(DECLARED + "\n", description=str(mark)).id
    ),
    "declared job, extra argument": lambda q, mark, _: q.enqueue(DECLARED, str(mark)).id,
    "declared job, keyword argument": lambda q, mark, _: q.enqueue(DECLARED, since=str(mark)).id,
    "instance": _instance,
    "success callback": lambda q, mark, _: (
        q.enqueue(DECLARED, on_success=Callback("tests.hostile.ran"), description=str(mark)).id
    ),
    "failure callback": lambda q, mark, _: (
        q.enqueue(DECLARED, str(mark), on_failure=Callback("tests.hostile.ran")).id
    ),
    "stopped callback": lambda q, mark, _: (
        q.enqueue(DECLARED, on_stopped=Callback("tests.hostile.ran"), description=str(mark)).id
    ),
    "webhook": _webhook,
    "dependency": _dependency,
    "repeat": lambda q, mark, _: (
        q.enqueue(DECLARED, repeat=Repeat(times=2), description=str(mark)).id
    ),
    "scheduled": _scheduled,
    "pickle": _pickle,
    "malformed record": _malformed,
}


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A port a webhook would connect to; nothing accepts, so a connection stays queued."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.setblocking(False)
        yield server


def _worker_env(
    tmp_path: Path, database_url: str, redis_url: str, queue: str, keys_dir: Path
) -> dict[str, str]:
    markers = tmp_path / "markers"
    markers.mkdir(exist_ok=True)
    env = cli_environment(tmp_path / "instance", database_url)
    # The worker holds the private keys: routing reads the sealed amount.
    env.update(TIPLINE_REDIS_URL=redis_url, TIPLINE_QUEUE=queue, TIPLINE_TEST_MARKERS=str(markers),
               TIPLINE_KEYS_DIR=str(keys_dir), TIPLINE_KEY_PASSPHRASE=PASSPHRASE)  # fmt: skip
    return env


def _submit(config: Config, count: int = 1) -> list[str]:
    """Submit through the portal with a Redis queue, as citizens do; returns the receipts."""
    app = create_portal(config)
    try:
        return [submit_report(app.test_client()) for _ in range(count)]
    finally:
        app.extensions["portal"].engine.dispose()


def _tips(database_url: str) -> list[Tip]:
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            return list(session.scalars(select(Tip)))
    finally:
        engine.dispose()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_worker_refuses_every_job_it_does_not_declare(
    variant: str,
    tmp_path: Path,
    database_url: str,
    redis_url: str,
    make_config: Callable[..., Config],
    public_keys_dir: Path,
    keys_dir: Path,
    listener: socket.socket,
) -> None:
    config = make_config(keys_dir=public_keys_dir, redis_url=redis_url, key_passphrase=None)
    env = _worker_env(tmp_path, database_url, redis_url, config.queue_name, keys_dir)
    markers = Path(env["TIPLINE_TEST_MARKERS"])
    mark = markers / f"arg-{secrets.token_hex(8)}"
    connection = redis.Redis.from_url(redis_url)
    try:
        hostile = Queue(config.queue_name, connection=connection, serializer=JSONSerializer)
        job_id = VARIANTS[variant](hostile, mark, listener)
        _submit(config)  # the legitimate job comes after the hostile one, in the same queue
        result = run_cli(env, "worker", "--burst")
        assert result.returncode == 0, result.stderr
        assert list(markers.iterdir()) == [], "code named by Redis ran in the worker"
        with pytest.raises(BlockingIOError):
            listener.accept()  # no webhook was sent
        assert connection.hget(f"rq:job:{job_id}", "status") == b"failed"
        assert f"job {job_id} refused" in result.stderr
        # Logged without its arguments (nor the description rq would build from them).
        assert mark.name not in result.stdout + result.stderr
        [tip] = _tips(database_url)
        assert tip.processed, "the legitimate job behind the hostile one did not run"
    finally:
        connection.close()


# Item 9: what Redis holds once the jobs have ended.


def _decoded(value: bytes) -> Iterator[bytes]:
    """A value, and what rq compresses or encodes into it (job data, exc_info, results)."""
    yield value
    for candidate in (value, _b64(value)):
        if candidate:
            with contextlib.suppress(zlib.error):
                yield zlib.decompress(candidate)


def _b64(value: bytes) -> bytes | None:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def everything_in(connection: redis.Redis) -> list[bytes]:
    """Every key and every value of every type in the database, decoded where rq encodes."""
    found: list[bytes] = []
    for key in connection.scan_iter(count=1000):
        kind = connection.type(key)
        values: list[bytes]
        if kind == b"string":
            values = [connection.get(key) or b""]
        elif kind == b"hash":
            values = [item for pair in connection.hgetall(key).items() for item in pair]
        elif kind == b"list":
            values = list(connection.lrange(key, 0, -1))
        elif kind == b"set":
            values = list(connection.smembers(key))
        elif kind == b"zset":
            values = [
                item
                for member, score in connection.zrange(key, 0, -1, withscores=True)
                for item in (member, repr(score).encode())
            ]
        elif kind == b"stream":
            values = [
                item
                for entry_id, fields in connection.xrange(key)
                for item in (entry_id, *(part for pair in fields.items() for part in pair))
            ]
        else:
            raise AssertionError(f"unexpected Redis type {kind!r} at {key!r}")
        found += [key, *(decoded for value in values for decoded in _decoded(value))]
    return found


FAIL_ON_PROCESSING = """
CREATE FUNCTION refuse_processing() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'processing refused for this test'; END $$;
CREATE TRIGGER refuse_processing BEFORE UPDATE ON tip
    FOR EACH ROW WHEN (NEW.processed) EXECUTE FUNCTION refuse_processing();
"""


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_redis_ties_no_tip_to_a_time_once_jobs_end(
    tmp_path: Path,
    database_url: str,
    redis_url: str,
    make_config: Callable[..., Config],
    public_keys_dir: Path,
    keys_dir: Path,
) -> None:
    config = make_config(keys_dir=public_keys_dir, redis_url=redis_url, key_passphrase=None)
    env = _worker_env(tmp_path, database_url, redis_url, config.queue_name, keys_dir)
    receipts = _submit(config, 3)
    result = run_cli(env, "worker", "--burst")
    assert result.returncode == 0, result.stderr
    assert all(tip.processed for tip in _tips(database_url))
    # Now jobs that fail, with the tip id in the database's error (SQLAlchemy puts the
    # statement's parameters in its message): one for good, one to be retried.
    engine = make_engine(database_url)
    connection = redis.Redis.from_url(redis_url)
    try:
        with engine.begin() as db:
            db.execute(text(FAIL_ON_PROCESSING))
        receipts += _submit(config, 2)
        queued = Queue(config.queue_name, connection=connection).job_ids
        assert len(queued) == 2
        connection.hset(f"rq:job:{queued[0]}", "retries_left", 0)  # its last retry
        result = run_cli(env, "worker", "--burst")
        assert result.returncode == 0, result.stderr
        assert connection.hget(f"rq:job:{queued[0]}", "status") == b"failed"
        assert connection.hget(f"rq:job:{queued[1]}", "status") == b"scheduled"
        tips = _tips(database_url)
        assert sum(not tip.processed for tip in tips) == 2
        secrets_of_tips = {tip.id.encode() for tip in tips}
        secrets_of_tips |= {str(tip.reporter_locator).encode() for tip in tips}
        secrets_of_tips |= {receipt.replace(" ", "").encode() for receipt in receipts}
        stored = everything_in(connection)
        assert stored, "the scan found nothing: it is not looking"
        leaks = {s for s in secrets_of_tips for value in stored if s in value}
        assert leaks == set(), "Redis holds a tip id or receipt"
        assert not any(tip.id in result.stderr for tip in tips), "the worker logged a tip id"
    finally:
        with engine.begin() as db:
            db.execute(text("DROP TRIGGER IF EXISTS refuse_processing ON tip"))
            db.execute(text("DROP FUNCTION IF EXISTS refuse_processing()"))
        engine.dispose()
        connection.close()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_workers_do_not_process_the_same_tip(
    tmp_path: Path,
    database_url: str,
    redis_url: str,
    make_config: Callable[..., Config],
    public_keys_dir: Path,
    keys_dir: Path,
) -> None:
    """A tip another worker holds is skipped, not waited for (FOR UPDATE SKIP LOCKED)."""
    config = make_config(keys_dir=public_keys_dir, redis_url=redis_url, key_passphrase=None)
    env = _worker_env(tmp_path, database_url, redis_url, config.queue_name, keys_dir)
    # A worker that waited for the lock would fail after 2 s instead of hanging the test.
    env["PGOPTIONS"] = "-c lock_timeout=2000"
    _submit(config, 2)
    held, free = sorted(tip.id for tip in _tips(database_url))
    dsn = database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as other_worker:
        other_worker.execute("SELECT 1 FROM tip WHERE id = %s FOR UPDATE", (held,))
        result = run_cli(env, "worker", "--burst")
        assert result.returncode == 0, result.stderr
        done = {tip.id: tip.processed for tip in _tips(database_url)}
        assert done == {held: False, free: True}
    result = run_cli(env, "worker", "--burst")  # the held tip's turn comes with the next job
    assert result.returncode == 0, result.stderr
    assert all(tip.processed for tip in _tips(database_url))


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_garbage_in_the_queue_does_not_stop_the_worker(
    tmp_path: Path,
    database_url: str,
    redis_url: str,
    make_config: Callable[..., Config],
    public_keys_dir: Path,
    keys_dir: Path,
) -> None:
    config = make_config(keys_dir=public_keys_dir, redis_url=redis_url, key_passphrase=None)
    env = _worker_env(tmp_path, database_url, redis_url, config.queue_name, keys_dir)
    connection = redis.Redis.from_url(redis_url)
    try:
        connection.rpush(f"rq:queue:{config.queue_name}", "not a job id!", "gone")
        _submit(config)
        result = run_cli(env, "worker", "--burst")
        assert result.returncode == 0, result.stderr
        [tip] = _tips(database_url)
        assert tip.processed, "the worker stopped at the garbage before the real job"
    finally:
        connection.close()
