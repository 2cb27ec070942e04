"""``tipline audit``: check the audit log's hash chain and show its head.

Read-only: these commands never write to the database, so they can run from cron or a
monitoring check beside the live sites.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from typing import NoReturn, TypeVar

import click
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from tipline.intake.config import Config, ConfigError
from tipline.intake.db import make_engine, make_sessionmaker, transaction
from tipline.triage.audit import head, verify

# Exit statuses of ``audit verify``: intact, broken, could not check.
INTACT, BROKEN, UNCHECKED = 0, 1, 2

_HASH = re.compile(r"[0-9a-fA-F]{64}")
T = TypeVar("T")


def _cannot_check(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(UNCHECKED)


def _read(work: Callable[[Session], T]) -> T:
    """Run ``work`` in one transaction on the configured database."""
    try:
        cfg = Config.from_env(need_secret=False)
    except ConfigError as exc:
        _cannot_check(str(exc))
    engine: Engine = make_engine(cfg.database_url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            return work(session)
    except SQLAlchemyError as exc:
        _cannot_check(f"cannot read the audit log: {exc}")
    finally:
        engine.dispose()


def _hash_option(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not _HASH.fullmatch(value):
        raise click.BadParameter("expected 64 hexadecimal digits, as 'tipline audit head' prints")
    return value.lower() if value else None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def audit() -> None:
    """The audit log: check its hash chain, show its head.

    Every entry's hash covers its contents and the hash of the entry before it, so an
    altered, removed or reordered entry breaks the chain. Removing the newest entries, or
    rewriting the log from some entry on, is caught only against a head noted earlier:
    export 'tipline audit head' regularly and keep it outside the database.
    """


@audit.command("verify")
@click.option(
    "--expect-head",
    metavar="HASH",
    callback=_hash_option,
    help="A head noted earlier with 'tipline audit head'. The log must still contain that "
    "entry (newer entries may follow it); catches removed or rewritten newest entries.",
)
def verify_command(expect_head: str | None) -> None:
    """Recompute every entry's hash and check the chain, oldest first.

    Prints 'audit log intact: N entries, head HASH' and exits 0, or names the first broken
    entry on stderr and exits 1. Exits 2 when the log could not be read.
    """
    result = _read(lambda session: verify(session, expect_head=expect_head))
    if not result.ok:
        if result.broken_at is None:
            click.echo(f"audit log broken: {result.reason}", err=True)
        else:
            click.echo(f"audit log broken at entry {result.broken_at}: {result.reason}", err=True)
        sys.exit(BROKEN)
    click.echo(f"audit log intact: {result.count} entries, head {result.head_hash}")
    if result.expected_at is not None:
        click.echo(
            f"expected head is entry {result.expected_at}; "
            f"{result.since_expected} entries added since"
        )
    sys.exit(INTACT)


@audit.command("head")
def head_command() -> None:
    """Print the newest entry's id and hash ('ID HASH'), to note outside the database.

    Pass the hash later to 'tipline audit verify --expect-head'.
    """
    newest = _read(head)
    if newest is None:
        click.echo("audit log is empty")
        return
    click.echo(f"{newest[0]} {newest[1]}")


if __name__ == "__main__":
    audit()
