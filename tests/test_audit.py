"""The audit log's hash chain: appends chain, tampering is named, appends never fork."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from tipline.intake.db import make_sessionmaker, transaction
from tipline.intake.models import AuditEvent
from tipline.triage.audit import (
    ALTERED,
    GENESIS,
    UNLINKED,
    VerifyResult,
    entry_hash,
    head,
    record,
    verify,
)
from tipline.triage.audit_cli import audit


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return make_sessionmaker(engine)


@pytest.fixture
def log(sessions: sessionmaker[Session]) -> list[int]:
    """Five entries, in three transactions; returns their ids, oldest first."""
    with transaction(sessions) as session:
        record(session, "signin", actor="alice")
    with transaction(sessions) as session:
        record(session, "tip.read", actor="alice", tip_id="T1")
        record(session, "message.send", actor="alice", tip_id="T1", words=3)
    with transaction(sessions) as session:
        record(session, "signin.failed", actor=None)
        record(session, "user.add", actor="cli:root", username="张三", role="triage")
    return ids(sessions)


def ids(sessions: sessionmaker[Session]) -> list[int]:
    with sessions() as session:
        return list(session.scalars(select(AuditEvent.id).order_by(AuditEvent.id)))


def check(sessions: sessionmaker[Session], expect_head: str | None = None) -> VerifyResult:
    with transaction(sessions) as session:
        return verify(session, expect_head=expect_head)


def execute(engine: Engine, sql: str, **params: object) -> None:
    with engine.begin() as connection:
        connection.execute(text(sql), params)


def test_entries_chain(sessions: sessionmaker[Session], log: list[int]) -> None:
    with sessions() as session:
        events = list(session.scalars(select(AuditEvent).order_by(AuditEvent.id)))
        newest = head(session)
    assert events[0].prev_hash == GENESIS
    for before, after in zip(events, events[1:], strict=False):
        assert after.prev_hash == before.hash
    for event in events:
        assert event.hash == entry_hash(
            at=event.at,
            actor=event.actor,
            action=event.action,
            tip_id=event.tip_id,
            detail=event.detail,
            prev_hash=event.prev_hash,
        )
    assert newest == (events[-1].id, events[-1].hash)
    result = check(sessions)
    assert result.ok
    assert (result.count, result.head_id, result.head_hash) == (5, log[-1], events[-1].hash)


def test_empty_log_is_intact(sessions: sessionmaker[Session]) -> None:
    result = check(sessions)
    assert (result.ok, result.count, result.head_hash) == (True, 0, GENESIS)
    with sessions() as session:
        assert head(session) is None


def test_record_joins_the_callers_transaction(sessions: sessionmaker[Session]) -> None:
    with pytest.raises(RuntimeError), transaction(sessions) as session:
        record(session, "signin", actor="alice")
        raise RuntimeError("the work being recorded failed")
    assert ids(sessions) == []
    with transaction(sessions) as session:
        record(session, "signin", actor="bob")
    assert check(sessions).ok


def test_hash_is_unambiguous() -> None:
    at = dt.datetime(2025, 1, 2, 3, 4, 5, 6, tzinfo=dt.UTC)

    def digest(**changes: object) -> str:
        fields: dict[str, Any] = {
            "at": at,
            "actor": None,
            "action": "a",
            "tip_id": None,
            "detail": "{}",
            "prev_hash": GENESIS,
        }
        return entry_hash(**{**fields, **changes})

    assert digest(actor=None) != digest(actor="")
    assert digest(action="ab", tip_id="c") != digest(action="a", tip_id="bc")
    # Naive values (SQLite's) are UTC; aware ones count by the instant they name.
    beijing = at.astimezone(dt.timezone(dt.timedelta(hours=8)))
    assert digest(at=at.replace(tzinfo=None)) == digest(at=beijing) == digest()
    assert digest(at=at.replace(microsecond=7)) != digest()


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("detail", '{"words": 4}'),
        ("actor", "mallory"),
        ("action", "signin"),
        ("tip_id", "T2"),
        ("at", "2020-01-01 00:00:00"),
    ],
)
def test_altered_entry_is_named(
    engine: Engine, sessions: sessionmaker[Session], log: list[int], column: str, value: str
) -> None:
    execute(
        engine, f"UPDATE audit_event SET {column} = :value WHERE id = :id", value=value, id=log[2]
    )
    result = check(sessions)
    assert (result.ok, result.broken_at, result.reason, result.count) == (
        False,
        log[2],
        ALTERED,
        2,
    )


def test_altered_and_rehashed_entry_breaks_the_next_link(
    engine: Engine, sessions: sessionmaker[Session], log: list[int]
) -> None:
    """Someone who recomputes the altered entry's hash still breaks the link after it."""
    with transaction(sessions) as session:
        event = session.get_one(AuditEvent, log[2])
        event.actor = "mallory"
        event.hash = entry_hash(
            at=event.at,
            actor=event.actor,
            action=event.action,
            tip_id=event.tip_id,
            detail=event.detail,
            prev_hash=event.prev_hash,
        )
    result = check(sessions)
    assert (result.broken_at, result.reason) == (log[3], UNLINKED)


@pytest.mark.parametrize("position", [0, 2])
def test_deleted_entry_is_named_by_the_next(
    engine: Engine, sessions: sessionmaker[Session], log: list[int], position: int
) -> None:
    execute(engine, "DELETE FROM audit_event WHERE id = :id", id=log[position])
    result = check(sessions)
    assert (result.ok, result.broken_at, result.reason) == (False, log[position + 1], UNLINKED)


def test_deleted_newest_entry_is_caught_only_against_a_noted_head(
    engine: Engine, sessions: sessionmaker[Session], log: list[int]
) -> None:
    noted = check(sessions).head_hash
    execute(engine, "DELETE FROM audit_event WHERE id = :id", id=log[-1])
    # The shortened log is a valid chain: this is the limit the module docstring states.
    assert check(sessions).ok
    result = check(sessions, expect_head=noted)
    assert (result.ok, result.broken_at) == (False, None)
    assert result.reason is not None and noted in result.reason


def test_expected_head_may_be_followed_by_newer_entries(
    sessions: sessionmaker[Session], log: list[int]
) -> None:
    noted = check(sessions).head_hash
    assert check(sessions, expect_head=noted.upper()).since_expected == 0
    with transaction(sessions) as session:
        record(session, "signin", actor="bob")
        record(session, "signin", actor="carol")
    result = check(sessions, expect_head=noted)
    assert (result.ok, result.count, result.expected_at, result.since_expected) == (
        True,
        7,
        log[-1],
        2,
    )


def test_swapped_entries_are_caught(
    engine: Engine, sessions: sessionmaker[Session], log: list[int]
) -> None:
    first, second = log[1], log[2]
    columns = ["at", "actor", "action", "tip_id", "detail", "prev_hash", "hash"]
    with sessions() as session:
        rows = {
            row.id: row
            for row in session.execute(
                select(AuditEvent.id, *(getattr(AuditEvent, c) for c in columns)).where(
                    AuditEvent.id.in_([first, second])
                )
            )
        }
    with engine.begin() as connection:
        # Park one row's unique hash first so the swap never holds two equal hashes.
        connection.execute(text("UPDATE audit_event SET hash = 'x' WHERE id = :id"), {"id": first})
        for target, source in ((second, first), (first, second)):
            assignments = ", ".join(f"{c} = :{c}" for c in columns)
            values = {c: getattr(rows[source], c) for c in columns}
            connection.execute(
                text(f"UPDATE audit_event SET {assignments} WHERE id = :id"),
                {**values, "id": target},
            )
    result = check(sessions)
    assert (result.ok, result.broken_at, result.reason) == (False, first, UNLINKED)


def test_forged_entry_is_caught(
    engine: Engine, sessions: sessionmaker[Session], log: list[int]
) -> None:
    """An entry added around ``record`` that chains onto an older entry."""
    with transaction(sessions) as session:
        older = session.get_one(AuditEvent, log[1])
        forged = AuditEvent(
            at=older.at,
            actor="mallory",
            action="signin",
            tip_id=None,
            detail="{}",
            prev_hash=older.hash,
        )
        forged.hash = entry_hash(
            at=forged.at,
            actor=forged.actor,
            action=forged.action,
            tip_id=forged.tip_id,
            detail=forged.detail,
            prev_hash=forged.prev_hash,
        )
        session.add(forged)
    result = check(sessions)
    assert (result.broken_at, result.reason) == (ids(sessions)[-1], UNLINKED)


def test_verify_streams_across_batches(sessions: sessionmaker[Session], log: list[int]) -> None:
    with transaction(sessions) as session:
        for n in range(20):
            record(session, "tip.read", actor="alice", tip_id=f"T{n}")
    with transaction(sessions) as session:
        assert verify(session, batch_size=3).count == 25


def test_an_append_waits_for_the_one_before_to_commit(
    sessions: sessionmaker[Session], log: list[int]
) -> None:
    """The second appender must read the head only after the first committed."""
    first_recorded = threading.Event()
    release_first = threading.Event()
    second_done = threading.Event()
    errors: list[BaseException] = []

    def guarded(work: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                work()
            except BaseException as exc:  # surfaced in the test thread below
                errors.append(exc)
                first_recorded.set()

        return run

    def first() -> None:
        with transaction(sessions) as session:
            record(session, "tip.read", actor="first", tip_id="T1")
            first_recorded.set()
            release_first.wait(timeout=30)

    def second() -> None:
        with transaction(sessions) as session:
            record(session, "tip.read", actor="second", tip_id="T1")
        second_done.set()

    threads = [threading.Thread(target=guarded(first)), threading.Thread(target=guarded(second))]
    threads[0].start()
    assert first_recorded.wait(timeout=30)
    threads[1].start()
    try:
        assert not second_done.wait(timeout=0.5), "second append did not wait for the first"
    finally:
        release_first.set()
        for thread in threads:
            thread.join(timeout=60)
    assert not errors, errors
    with sessions() as session:
        events = list(session.scalars(select(AuditEvent).order_by(AuditEvent.id)))
    assert [event.actor for event in events[-2:]] == ["first", "second"]
    assert events[-1].prev_hash == events[-2].hash
    assert check(sessions).ok


def test_concurrent_appends_never_fork(database_url: str, sessions: sessionmaker[Session]) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has a single writer; the PostgreSQL lock is what is under test")
    threads_count, each = 8, 10
    start = threading.Barrier(threads_count)
    errors: list[BaseException] = []

    def append(worker: int) -> None:
        try:
            start.wait(timeout=30)
            for n in range(each):
                with transaction(sessions) as session:
                    record(session, "tip.read", actor=f"officer{worker}", tip_id=f"T{n}")
        except BaseException as exc:  # surfaced in the test thread below
            errors.append(exc)

    threads = [threading.Thread(target=append, args=(w,)) for w in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    result = check(sessions)
    assert (result.ok, result.count) == (True, threads_count * each), result


# The command line.


@pytest.fixture
def cli_env(tmp_path: Path, database_url: str) -> dict[str, str]:
    return {
        "TIPLINE_DATABASE_URL": database_url,
        "TIPLINE_INSTANCE": str(tmp_path / "instance"),
    }


def test_cli_verify_intact(cli_env: dict[str, str], log: list[int]) -> None:
    runner = CliRunner()
    noted = runner.invoke(audit, ["head"], env=cli_env)
    assert noted.exit_code == 0, noted.output
    head_id, head_hash = noted.stdout.split()
    assert int(head_id) == log[-1]
    result = runner.invoke(audit, ["verify", "--expect-head", head_hash], env=cli_env)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == f"audit log intact: 5 entries, head {head_hash}"


def test_cli_verify_broken(engine: Engine, cli_env: dict[str, str], log: list[int]) -> None:
    execute(engine, "UPDATE audit_event SET actor = 'mallory' WHERE id = :id", id=log[1])
    result = CliRunner().invoke(audit, ["verify"], env=cli_env)
    assert result.exit_code == 1
    assert result.stderr == f"audit log broken at entry {log[1]}: {ALTERED}\n"
    assert result.stdout == ""


def test_cli_verify_missing_expected_head(cli_env: dict[str, str], log: list[int]) -> None:
    result = CliRunner().invoke(audit, ["verify", "--expect-head", "ab" * 32], env=cli_env)
    assert result.exit_code == 1
    assert result.stderr.startswith("audit log broken: expected head abab")


def test_cli_rejects_a_malformed_head(cli_env: dict[str, str]) -> None:
    result = CliRunner().invoke(audit, ["verify", "--expect-head", "abc"], env=cli_env)
    assert result.exit_code == 2
    assert "64 hexadecimal digits" in result.stderr


def test_cli_empty_log(cli_env: dict[str, str]) -> None:
    runner = CliRunner()
    assert runner.invoke(audit, ["head"], env=cli_env).stdout == "audit log is empty\n"
    result = runner.invoke(audit, ["verify"], env=cli_env)
    assert (result.exit_code, result.stdout) == (
        0,
        f"audit log intact: 0 entries, head {GENESIS}\n",
    )


@pytest.mark.parametrize("command", [[], ["verify"], ["head"]])
def test_cli_help(command: list[str]) -> None:
    result = CliRunner().invoke(audit, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.stdout


def test_tipline_audit_verify(engine: Engine, cli_env: dict[str, str], log: list[int]) -> None:
    """As an operator runs it: ``tipline audit verify`` in a subprocess."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("TIPLINE_")}
    env.update(cli_env)
    command = [sys.executable, "-m", "tipline.triage.cli", "audit", "verify"]
    intact = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert intact.returncode == 0, intact.stderr
    assert intact.stdout.startswith("audit log intact: 5 entries, head ")

    execute(engine, "DELETE FROM audit_event WHERE id = :id", id=log[2])
    broken = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert broken.returncode == 1
    assert broken.stderr == f"audit log broken at entry {log[3]}: {UNLINKED}\n"
