"""Each process reaches Redis as its own user, allowed only what it uses (issue 7 item 1: "a
compromised portal must gain nothing from Redis except the ability to ask for work").

Every test runs its own redis-server, on a free port, with the aclfile that
deploy/redis/render_acl.py renders from deploy/redis/users.acl.in (never the shared 6379).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from flask.testing import FlaskClient
from redis.exceptions import NoPermissionError

from tests.conftest import PASSPHRASE, cli_environment, csrf_token, post_multipart, run_cli
from tests.conftest import submit_report as submit_form
from tests.served import free_port
from tipline.intake import jobs as intake_jobs
from tipline.intake.config import Config, ConfigError
from tipline.intake.db import make_engine
from tipline.intake.queue import PORTAL_JOB_PREFIX, RedisQueue
from tipline.portal import create_app as create_portal
from tipline.triage import jobs as triage_jobs

ROOT = Path(__file__).resolve().parents[1]
RENDER = ROOT / "deploy" / "redis" / "render_acl.py"
PROCESSES = ("portal", "triage", "worker")
# Only the tests' server has this user, to read the ACL LOG (an operator adds their own).
ADMIN = "test-admin"


def render(tmp_path: Path, queue: str, **overrides: str) -> subprocess.CompletedProcess[str]:
    args = [sys.executable, str(RENDER), "--queue", queue]
    for process in PROCESSES:
        args += [f"--{process}-password-file", str(tmp_path / f"{process}.password")]
    for option, value in overrides.items():
        args += [f"--{option.replace('_', '-')}", value]
    return subprocess.run(args, capture_output=True, text=True, timeout=30)  # noqa: S603


@dataclass
class AclRedis:
    """A redis-server of this test's own, loaded with the rendered aclfile."""

    port: int
    passwords: dict[str, str]
    process: subprocess.Popen[bytes]

    def url(self, process: str) -> str:
        return f"redis://{process}:{self.passwords[process]}@127.0.0.1:{self.port}/0"

    def connect(self, process: str) -> redis.Redis:
        return redis.Redis.from_url(self.url(process), socket_timeout=10)

    def refusals(self) -> list[tuple[str, str]]:
        """What Redis refused the processes (its ACL LOG), but for the one refusal rq
        expects and goes on without: CLIENT LIST, which the worker asks for its address."""
        admin = self.connect(ADMIN)
        try:
            entries = admin.acl_log(count=1000)
        finally:
            admin.close()
        refused = [(str(entry["username"]), str(entry["object"])) for entry in entries]
        return [item for item in refused if item[1] != "client|list"]


@contextlib.contextmanager
def acl_redis(tmp_path: Path, queue: str) -> Iterator[AclRedis]:
    passwords = {process: secrets.token_urlsafe(24) for process in PROCESSES}
    for process, password in passwords.items():
        (tmp_path / f"{process}.password").write_text(password + "\n")
    rendered = render(tmp_path, queue)
    assert rendered.returncode == 0, rendered.stderr
    aclfile = tmp_path / "users.acl"
    users = {f"tipline-{process}": password for process, password in passwords.items()}
    users[ADMIN] = secrets.token_urlsafe(24)
    aclfile.write_text(rendered.stdout + f"user {ADMIN} on >{users[ADMIN]} ~* &* +@all\n")
    port = free_port()
    with (tmp_path / "redis.log").open("ab") as log:
        process = subprocess.Popen(  # noqa: S603
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",  # noqa: S607
             "--appendonly", "no", "--dir", str(tmp_path), "--aclfile", str(aclfile),
             # Debian refuses DEBUG and MODULE to everyone; allowed here, so that the
             # tests show the users' rules refuse them, whatever the server's settings.
             "--enable-debug-command", "yes", "--enable-module-command", "yes"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    server = AclRedis(port, users, process)
    try:
        _wait_ready(server, tmp_path / "redis.log")
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _wait_ready(server: AclRedis, log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"redis-server exited:\n{log.read_text(errors='replace')}")
        connection = server.connect(ADMIN)
        try:
            connection.ping()
            return
        except redis.ConnectionError:
            time.sleep(0.05)
        finally:
            connection.close()
    raise TimeoutError(f"redis-server did not answer:\n{log.read_text(errors='replace')}")


@pytest.fixture(scope="module")
def queue_name() -> str:
    return f"test-{secrets.token_hex(4)}"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, queue_name: str) -> Iterator[AclRedis]:
    """One server for the refusals: each test checks that nothing changed, so one that
    got through fails itself, not the next."""
    with acl_redis(tmp_path_factory.mktemp("redis"), queue_name) as started:
        yield started


def sign_in(client: FlaskClient, receipt: str) -> int:
    token = csrf_token(client, "/check")
    return client.post("/check", data={"csrf_token": token, "receipt": receipt}).status_code


def _submission_status(client: FlaskClient) -> int:
    data = {"csrf_token": csrf_token(client, "/report"), "category": "fake_treatment",
            "province": "440000", "city": "441500", "county": "441502", "anonymous": "yes",
            "fund": "medical", "suspect_kind": "medical_institution", "amount": "800",
            "text": "某药店串换药品，骗取医保基金。"}  # fmt: skip
    return post_multipart(client, "/report", data).status_code


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_each_process_works_with_its_own_redis_user(
    tmp_path: Path,
    database_url: str,
    make_config: Callable[..., Config],
    public_keys_dir: Path,
    keys_dir: Path,
) -> None:
    queue_name = f"test-{secrets.token_hex(4)}"
    with acl_redis(tmp_path, queue_name) as server:
        _work_as_each_user(
            tmp_path, server, queue_name, database_url, make_config, public_keys_dir, keys_dir
        )


def _work_as_each_user(
    tmp_path: Path,
    server: AclRedis,
    queue_name: str,
    database_url: str,
    make_config: Callable[..., Config],
    public_keys_dir: Path,
    keys_dir: Path,
) -> None:
    # Rate limits on, counted in this Redis: low, so the test reaches them.
    config = make_config(keys_dir=public_keys_dir, key_passphrase=None, queue_name=queue_name,
                         redis_url=server.url("tipline-portal"), submit_limit="2 per minute",
                         receipt_limit="3 per minute")  # fmt: skip
    watcher = server.connect("tipline-worker")
    app = create_portal(config)
    try:
        client = app.test_client()
        receipt = submit_form(client)
        queued = watcher.lrange(f"rq:queue:{queue_name}", 0, -1)
        assert len(queued) == 1 and queued[0].startswith(PORTAL_JOB_PREFIX.encode())
        assert sign_in(client, receipt) == 302
        assert client.get("/my-report").status_code == 200
        copy = app.test_client()
        cookie = client.get_cookie("tipline_portal")
        assert cookie is not None
        copy.set_cookie("tipline_portal", cookie.value)
        token = csrf_token(client, "/my-report")
        assert client.post("/sign-out", data={"csrf_token": token}).status_code == 302
        # The sign-out list is in Redis: the copied cookie is signed out too.
        assert copy.get("/my-report").status_code == 302
        # The limits count in Redis, through flask-limiter's scripts and the receipt budget.
        assert _submission_status(client) == 303  # stored, then post/redirect/get
        assert _submission_status(client) == 429
        assert [sign_in(client, receipt) for _ in range(3)] == [302, 302, 429]
    finally:
        app.extensions["portal"].engine.dispose()
    # Triage books the morning sweep as rq does it (fetch, then the scheduled registry).
    triage = RedisQueue(server.url("tipline-triage"), queue_name, triage_jobs.DECLARED)
    try:
        sweep = triage_jobs.schedule_next_sweep(triage)
        assert watcher.zscore(f"rq:scheduled:{queue_name}", sweep) is not None
    finally:
        triage.connection.close()
    # The worker, as an operator runs it, with its URL (and so its password) in a file.
    url_file = tmp_path / "worker.redis_url"
    url_file.write_text(server.url("tipline-worker") + "\n")
    env = cli_environment(tmp_path / "instance", database_url)
    env.update(TIPLINE_REDIS_URL_FILE=str(url_file), TIPLINE_QUEUE=queue_name,
               TIPLINE_KEYS_DIR=str(keys_dir), TIPLINE_KEY_PASSPHRASE=PASSPHRASE)  # fmt: skip
    try:
        result = run_cli(env, "worker", "--burst")
        assert result.returncode == 0, result.stderr
        assert watcher.llen(f"rq:queue:{queue_name}") == 0
        assert not any(watcher.exists(b"rq:job:" + job_id) for job_id in queued)
    finally:
        watcher.close()
    engine = make_engine(database_url)
    try:
        with engine.connect() as db:
            processed = db.exec_driver_sql("SELECT processed FROM tip").scalars().all()
        assert processed == [True, True]
    finally:
        engine.dispose()
    assert server.refusals() == [], "a process was refused what it uses"


@dataclass(frozen=True)
class Keys:
    """What a hostile portal aims at: its own job, the worker's, the booked sweep."""

    queue: str
    own_job: str
    worker_job: str
    sweep: str

    @property
    def scheduled(self) -> str:
        return self.queue.replace("rq:queue:", "rq:scheduled:")


def _script(source: str, numkeys: int = 0, *names: str) -> Callable[[redis.Redis, Keys], Any]:
    """Load ``source`` (SCRIPT LOAD is granted: flask-limiter needs it), then run it."""

    def run(portal: redis.Redis, keys: Keys) -> Any:
        sha = portal.script_load(source.format(k=keys))
        return portal.evalsha(sha, numkeys, *(name.format(k=keys) for name in names))

    return run


Hostile = Callable[[redis.Redis, Keys], Any]

# What a compromised portal would do with its Redis connection; each must be refused.
PORTAL_REFUSED: dict[str, Hostile] = {
    "FLUSHALL": lambda r, k: r.flushall(),
    "FLUSHDB": lambda r, k: r.flushdb(),
    "CONFIG SET": lambda r, k: r.config_set("appendonly", "yes"),
    "CONFIG GET": lambda r, k: r.config_get("*"),
    "KEYS *": lambda r, k: r.keys("*"),
    "SCAN": lambda r, k: r.scan(0),
    "INFO": lambda r, k: r.info("everything"),
    "DEL a job's hash": lambda r, k: r.delete(f"rq:job:{k.worker_job}"),
    "DEL its own job's hash": lambda r, k: r.delete(f"rq:job:{k.own_job}"),
    "UNLINK a job's hash": lambda r, k: r.unlink(f"rq:job:{k.worker_job}"),
    "read a job's hash": lambda r, k: r.hgetall(f"rq:job:{k.worker_job}"),
    "read its own job's hash": lambda r, k: r.hgetall(f"rq:job:{k.own_job}"),
    "HGET a job's data": lambda r, k: r.hget(f"rq:job:{k.own_job}", "data"),
    "EXISTS a job": lambda r, k: r.exists(f"rq:job:{k.worker_job}"),
    "HSET the worker's job": lambda r, k: r.hset(f"rq:job:{k.worker_job}", "status", "x"),
    "HSET the booked sweep": lambda r, k: r.hset(f"rq:job:{k.sweep}", "data", "x"),
    "EXPIRE the booked sweep": lambda r, k: r.expire(f"rq:job:{k.sweep}", 1),
    "LREM on the queue": lambda r, k: r.lrem(k.queue, 0, k.worker_job),
    "LPOP on the queue": lambda r, k: r.lpop(k.queue),
    "RPOP on the queue": lambda r, k: r.rpop(k.queue),
    "LTRIM on the queue": lambda r, k: r.ltrim(k.queue, 1, 0),
    "LSET on the queue": lambda r, k: r.lset(k.queue, 0, k.own_job),
    "LMOVE off the queue": lambda r, k: r.lmove(k.queue, k.queue + ":intermediate"),
    "LPUSH to the queue's front": lambda r, k: r.lpush(k.queue, k.own_job),
    "LRANGE the queue": lambda r, k: r.lrange(k.queue, 0, -1),
    "RENAME the queue": lambda r, k: r.rename(k.queue, "stolen"),
    "SET over the queue": lambda r, k: r.set(k.queue, "x"),
    "RPUSH to another queue": lambda r, k: r.rpush("rq:queue:other", k.own_job),
    "ZREM the booked sweep": lambda r, k: r.zrem(k.scheduled, k.sweep),
    "ZADD to the scheduled registry": lambda r, k: r.zadd(k.scheduled, {k.own_job: 0}),
    "SMEMBERS rq:workers": lambda r, k: r.smembers("rq:workers"),
    "SREM rq:queues": lambda r, k: r.srem("rq:queues", k.queue),
    "suspend the workers": lambda r, k: r.set("rq:suspended", 1),
    "PUBLISH shutdown to a worker": lambda r, k: r.publish(
        "rq:pubsub:worker", '{"command": "shutdown"}'
    ),
    "PUBLISH kill-horse": lambda r, k: r.publish("rq:pubsub:worker", '{"command": "kill-horse"}'),
    "SUBSCRIBE to rq's channels": lambda r, k: r.execute_command("SUBSCRIBE", "rq:pubsub:worker"),
    "PUBSUB CHANNELS": lambda r, k: r.pubsub_channels(),
    "read the signed-out list": lambda r, k: r.get("tipline-signed-out:x"),
    "DEL a rate-limit counter": lambda r, k: r.delete("LIMITS:LIMITER/receipt/x"),
    "EVAL": lambda r, k: r.eval("return 1", 0),
    "EVAL_RO": lambda r, k: r.eval_ro("return 1", 0),
    "SCRIPT FLUSH": lambda r, k: r.script_flush(),
    "SCRIPT KILL": lambda r, k: r.script_kill(),
    "FUNCTION LOAD": lambda r, k: r.function_load(
        "#!lua name=x\nredis.register_function('x', function() return 1 end)"
    ),
    "FCALL": lambda r, k: r.fcall("x", 0),
    "a script naming the queue as its key": _script(
        "return redis.call('ltrim', KEYS[1], 1, 0)", 1, "{k.queue}"
    ),
    # Inside a script each call is checked like a command of the portal's own.
    "a script trimming the queue": _script("return redis.call('ltrim', '{k.queue}', 1, 0)"),
    "a script expiring the sweep": _script(
        "return redis.call('expire', 'rq:job:{k.sweep}', 1)", 1, "LIMITS:LIMITER/x"
    ),
    "a script deleting a job": _script("return redis.call('del', 'rq:job:{k.own_job}')"),
    "a script reading a job": _script("return redis.call('hgetall', 'rq:job:{k.worker_job}')"),
    "a script publishing": _script("return redis.call('publish', 'rq:pubsub:w', 'shutdown')"),
    "a script flushing": _script("return redis.call('flushall')"),
    "MONITOR": lambda r, k: r.execute_command("MONITOR"),
    "CLIENT LIST": lambda r, k: r.client_list(),
    "CLIENT KILL": lambda r, k: r.execute_command("CLIENT", "KILL", "TYPE", "normal"),
    "CLIENT PAUSE": lambda r, k: r.client_pause(10000),
    "CLIENT SETNAME (posing as a worker)": lambda r, k: r.client_setname("worker"),
    "DEBUG SLEEP": lambda r, k: r.execute_command("DEBUG", "SLEEP", "0"),
    "SLOWLOG GET": lambda r, k: r.slowlog_get(),
    "ACL SETUSER (its own rights)": lambda r, k: r.acl_setuser(
        "tipline-portal", commands=["+@all"]
    ),
    "ACL LIST": lambda r, k: r.acl_list(),
    "ACL WHOAMI": lambda r, k: r.acl_whoami(),
    "SELECT another database": lambda r, k: r.execute_command("SELECT", "1"),
    "SWAPDB": lambda r, k: r.swapdb(0, 1),
    "MOVE a job": lambda r, k: r.move(f"rq:job:{k.worker_job}", 1),
    "COPY a job": lambda r, k: r.copy(f"rq:job:{k.worker_job}", "copied"),
    "MIGRATE a job": lambda r, k: r.migrate("127.0.0.1", 1, f"rq:job:{k.worker_job}", 0, 100),
    "DUMP a job": lambda r, k: r.dump(f"rq:job:{k.worker_job}"),
    "SAVE": lambda r, k: r.save(),
    "BGSAVE": lambda r, k: r.bgsave(),
    "MODULE LOAD": lambda r, k: r.module_load("/nonexistent.so"),
    "REPLICAOF": lambda r, k: r.replicaof("127.0.0.1", "1"),
    "SHUTDOWN": lambda r, k: r.execute_command("SHUTDOWN", "NOSAVE"),
}


def _state(watcher: redis.Redis, keys: Keys) -> dict[str, object]:
    return {
        "queue": watcher.lrange(keys.queue, 0, -1),
        "jobs": [watcher.hgetall(f"rq:job:{job}") for job in (keys.own_job, keys.worker_job)],
        "sweep": watcher.hgetall(f"rq:job:{keys.sweep}"),
        "ttl": watcher.ttl(f"rq:job:{keys.sweep}"),
        "scheduled": watcher.zrange(keys.scheduled, 0, -1, withscores=True),
        "queues": watcher.smembers("rq:queues"),
    }


def _refused(error: redis.ResponseError) -> bool:
    # Redis answers NOPERM for a command; inside a script, Redis 7.0 says it as an ERR.
    return isinstance(error, NoPermissionError) or "user executing the script can't" in str(error)


@pytest.fixture
def aimed_at(server: AclRedis, queue_name: str) -> Iterator[Keys]:
    """A job of the portal's, one of the worker's and the sweep triage booked, as the
    rightful users made them."""
    table = triage_jobs.DECLARED + intake_jobs.DECLARED
    made = {p: RedisQueue(server.url(f"tipline-{p}"), queue_name, table,
                          job_prefix=PORTAL_JOB_PREFIX if p == "portal" else "")
            for p in PROCESSES}  # fmt: skip
    try:
        yield Keys(
            queue=f"rq:queue:{queue_name}",
            own_job=made["portal"].enqueue(intake_jobs.process_new_tips),
            worker_job=made["worker"].enqueue(intake_jobs.process_new_tips),
            sweep=triage_jobs.schedule_next_sweep(made["triage"]),
        )
    finally:
        for queue in made.values():
            queue.connection.close()


@pytest.mark.parametrize("operation", sorted(PORTAL_REFUSED))
def test_the_portal_user_can_only_ask_for_work(
    operation: str, server: AclRedis, aimed_at: Keys
) -> None:
    watcher = server.connect("tipline-worker")
    portal = server.connect("tipline-portal")
    try:
        before = _state(watcher, aimed_at)
        with pytest.raises(redis.ResponseError) as caught:
            PORTAL_REFUSED[operation](portal, aimed_at)
        assert _refused(caught.value), caught.value
        assert _state(watcher, aimed_at) == before
    finally:
        portal.close()
        watcher.close()


# Triage and the worker have all of rq, and no admin command, nor anything outside rq:*.
INTERNAL_REFUSED: dict[str, Callable[[redis.Redis], Any]] = {
    "FLUSHALL": lambda r: r.flushall(),
    "FLUSHDB": lambda r: r.flushdb(),
    "CONFIG SET": lambda r: r.config_set("appendonly", "yes"),
    "KEYS *": lambda r: r.keys("*"),
    "MONITOR": lambda r: r.execute_command("MONITOR"),
    "CLIENT KILL": lambda r: r.execute_command("CLIENT", "KILL", "TYPE", "normal"),
    "DEBUG SLEEP": lambda r: r.execute_command("DEBUG", "SLEEP", "0"),
    "ACL SETUSER": lambda r: r.acl_setuser("tipline-portal", commands=["+@all"]),
    "EVAL": lambda r: r.eval("return 1", 0),
    "SCRIPT FLUSH": lambda r: r.script_flush(),
    "FUNCTION FLUSH": lambda r: r.function_flush(),
    "read a rate-limit counter": lambda r: r.lrange("LIMITS:LIMITER/receipt/x", 0, -1),
    "write the signed-out list": lambda r: r.set("tipline-signed-out:x", ""),
    "PUBLISH outside rq": lambda r: r.publish("other", "x"),
    "SCAN": lambda r: r.scan(0),
    "RANDOMKEY": lambda r: r.randomkey(),
    "CLIENT LIST": lambda r: r.client_list(),
    "REPLICAOF": lambda r: r.replicaof("127.0.0.1", "1"),
    "SHUTDOWN": lambda r: r.execute_command("SHUTDOWN", "NOSAVE"),
}


@pytest.mark.parametrize("process", ["triage", "worker"])
@pytest.mark.parametrize("operation", sorted(INTERNAL_REFUSED))
def test_triage_and_worker_users_have_no_admin_commands(
    process: str, operation: str, server: AclRedis
) -> None:
    connection = server.connect(f"tipline-{process}")
    try:
        with pytest.raises(NoPermissionError):
            INTERNAL_REFUSED[operation](connection)
    finally:
        connection.close()


def test_nobody_connects_without_a_user(server: AclRedis) -> None:
    anonymous = redis.Redis(host="127.0.0.1", port=server.port)
    url = server.url("tipline-portal")
    wrong = redis.Redis.from_url(url.replace(server.passwords["tipline-portal"], "x" * 20))
    try:
        with pytest.raises(redis.AuthenticationError):
            anonymous.ping()
        with pytest.raises(redis.AuthenticationError):
            wrong.ping()
    finally:
        anonymous.close()
        wrong.close()


def test_the_rendered_aclfile_holds_no_password(tmp_path: Path, queue_name: str) -> None:
    passwords = {process: secrets.token_urlsafe(24) for process in PROCESSES}
    for process, password in passwords.items():
        (tmp_path / f"{process}.password").write_text(password)
    result = render(tmp_path, queue_name)
    assert result.returncode == 0, result.stderr
    aclfile = result.stdout
    assert len(aclfile.splitlines()) == 4
    assert not any(password in aclfile for password in passwords.values())
    assert "user default off" in aclfile.splitlines()
    assert "#" not in "".join(line.split(" ", 1)[0] for line in aclfile.splitlines())


@pytest.mark.parametrize(
    "overrides",
    [
        {"queue": "tip*"},
        {"queue": "a b"},
        {"portal_user": "default"},
        {"portal_user": "same", "worker_user": "same"},
    ],  # fmt: skip
)
def test_the_renderer_refuses_what_would_widen_a_rule(
    tmp_path: Path, overrides: dict[str, str]
) -> None:
    for process in PROCESSES:
        (tmp_path / f"{process}.password").write_text(secrets.token_urlsafe(24))
    result = render(tmp_path, overrides.pop("queue", "tipline"), **overrides)
    assert result.returncode != 0
    assert result.stdout == ""


def test_the_renderer_refuses_a_short_password(tmp_path: Path) -> None:
    for process in PROCESSES:
        (tmp_path / f"{process}.password").write_text("short" if process == "worker" else "x" * 20)
    result = render(tmp_path, "tipline")
    assert result.returncode != 0 and "shorter than 16" in result.stderr


def test_the_renderer_knows_the_portal_job_prefix() -> None:
    # deploy/ runs outside the virtualenv and cannot import tipline: the copy must agree.
    assert f'PORTAL_JOB_PREFIX = "{PORTAL_JOB_PREFIX}"' in RENDER.read_text()


def test_the_redis_url_can_come_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "redis_url"
    path.write_text("redis://tipline-portal:s3cret@127.0.0.1:6379/0\n")
    env = {"TIPLINE_SECRET_KEY": "x", "TIPLINE_REDIS_URL_FILE": str(path)}
    assert Config.from_env(env).redis_url == "redis://tipline-portal:s3cret@127.0.0.1:6379/0"
    with pytest.raises(ConfigError, match="not both"):
        Config.from_env({**env, "TIPLINE_REDIS_URL": "redis://127.0.0.1:6379/0"})


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_asking_for_the_booked_sweep_early_does_not_end_the_sweeps(
    tmp_path: Path, database_url: str, keys_dir: Path
) -> None:
    """The portal may push any id onto the queue, the booked sweep's too (its id names the
    morning). The sweep then runs early, which is work it may ask for; the sweeps after it
    must still be booked, or the deadlines would stop being swept until a worker restart."""
    queue_name = f"test-{secrets.token_hex(4)}"
    with acl_redis(tmp_path, queue_name) as server:
        triage = RedisQueue(server.url("tipline-triage"), queue_name, triage_jobs.DECLARED)
        portal = server.connect("tipline-portal")
        try:
            booked = triage_jobs.schedule_next_sweep(triage)
            portal.rpush(f"rq:queue:{queue_name}", booked)
            env = cli_environment(tmp_path / "instance", database_url)
            env.update(
                TIPLINE_REDIS_URL=server.url("tipline-worker"), TIPLINE_QUEUE=queue_name,
                TIPLINE_KEYS_DIR=str(keys_dir), TIPLINE_KEY_PASSPHRASE=PASSPHRASE,
            )  # fmt: skip
            result = run_cli(env, "worker", "--burst")
            assert result.returncode == 0, result.stderr
            assert not triage.connection.exists(f"rq:job:{booked}"), "the sweep did not run"
            scheduled = [
                job_id.decode()
                for job_id in triage.connection.zrange(f"rq:scheduled:{queue_name}", 0, -1)
                if triage.connection.exists(b"rq:job:" + job_id)
            ]
            assert scheduled and all(job_id > booked for job_id in scheduled), scheduled
            assert server.refusals() == []
        finally:
            portal.close()
            triage.connection.close()


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_running_worker_moves_booked_jobs_with_its_user(
    tmp_path: Path, database_url: str, keys_dir: Path
) -> None:
    """The worker as systemd runs it (not --burst): its scheduler, in a process of its own,
    heartbeats with a script and moves due jobs onto the queue."""
    queue_name = f"test-{secrets.token_hex(4)}"
    with acl_redis(tmp_path, queue_name) as server:
        env = cli_environment(tmp_path / "instance", database_url)
        env.update(
            TIPLINE_REDIS_URL=server.url("tipline-worker"), TIPLINE_QUEUE=queue_name,
            TIPLINE_KEYS_DIR=str(keys_dir), TIPLINE_KEY_PASSPHRASE=PASSPHRASE,
        )  # fmt: skip
        triage = RedisQueue(
            server.url("tipline-triage"), queue_name, triage_jobs.DECLARED + intake_jobs.DECLARED
        )
        watcher = server.connect(ADMIN)
        log = tmp_path / "worker.log"
        with log.open("wb") as out:
            worker = subprocess.Popen(  # noqa: S603
                [sys.executable, "-m", "tipline.triage.cli", "worker"],
                env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        try:
            # Booked once the scheduler runs (its record is written in its own process),
            # so only its loop, not the worker's first pass, can move the job.
            _wait_for(lambda: watcher.keys("rq:scheduler:*") or None, worker, log)
            past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
            triage.enqueue_at(past, intake_jobs.process_new_tips, job_id="booked-job")
            _wait_for(lambda: not watcher.exists("rq:job:booked-job") or None, worker, log)
        finally:
            triage.connection.close()
            watcher.close()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=60)
        assert "Traceback" not in log.read_text(errors="replace"), log.read_text()
        assert server.refusals() == [], "the worker was refused what it uses"


def _wait_for(done: Callable[[], object], worker: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while done() is None:
        assert worker.poll() is None, log.read_text(errors="replace")
        assert time.monotonic() < deadline, "not done in 60 s:\n" + log.read_text()
        time.sleep(0.2)
