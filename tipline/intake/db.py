"""Engines, sessions, migrations and reference data."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from importlib.resources import files
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine, create_engine, delete, event, func, select
from sqlalchemy.orm import Session, sessionmaker

from tipline.intake import reference
from tipline.intake.models import BureauRow, CategoryRow, RegionRow
from tipline.intake.rules import load_shipped_packs


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.removeprefix("sqlite:///")
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # Cascading deletes keep a failed submission from leaving orphan chunks; WAL lets the
    # portal and triage read while the other writes.
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def reserve_id(session: Session, table: str) -> int | None:
    """The next serial id of ``table``, drawn before the insert, where the database can
    (PostgreSQL); None where it cannot (SQLite assigns ids on insert)."""
    if session.get_bind().dialect.name != "postgresql":
        return None
    drawn = session.scalar(select(func.nextval(f"{table}_id_seq")))
    return int(drawn) if drawn is not None else None


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that commits on success and rolls back on any exception."""
    with factory() as session, session.begin():
        yield session


def alembic_config(engine: Engine) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(files("tipline.intake") / "migrations"))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration."""
    command.upgrade(alembic_config(engine), "head")


def load_reference_data(session: Session) -> None:
    """Replace the reference tables with the vocabularies of domain.md and GB/T 2260."""
    session.execute(delete(RegionRow))
    session.execute(delete(CategoryRow))
    session.execute(delete(BureauRow))
    session.add_all(
        RegionRow(code=region.code, name=region.name, level=region.level)
        for region in reference.regions().values()
    )
    session.add_all(
        CategoryRow(code=c.code, kind=c.kind, default_bureau=c.default_bureau)
        for c in reference.CATEGORIES
    )
    session.add_all(BureauRow(code=b.code) for b in reference.BUREAUS)
    load_shipped_packs(session)
