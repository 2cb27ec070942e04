"""Migration 0005 on a database from before it: open T2 clocks wait for the notice to the
reporter, T2 clocks already met (by the decision, as before) stay as they are on record."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import create_engine, text

from tipline.intake.db import alembic_config

INSERT = text(
    "INSERT INTO deadline (tip_id, rule, starts_on, due_on, unit, amount, rule_pack, met_by,"
    " calendar_fallback, met_on, state, escalated) VALUES (:tip, :rule, '2025-09-30',"
    " '2025-10-21', 'working_days', 10, 'national@2025.1',"
    " 'accepted,not_accepted,transferred_out', false, :met_on, :state, false)"
)


def test_open_t2_clocks_wait_for_the_notice_after_the_upgrade(tmp_path: Path) -> None:
    # Foreign keys are not enforced by a bare SQLite connection: deadlines alone will do.
    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    config = alembic_config(engine)
    command.upgrade(config, "0003")
    with engine.begin() as connection:
        connection.execute(INSERT, {"tip": "a" * 16, "rule": "T2", "met_on": None, "state": "open"})
        connection.execute(INSERT, {"tip": "b" * 16, "rule": "T2", "met_on": "2025-10-10",
                                    "state": "met"})  # fmt: skip
        connection.execute(INSERT, {"tip": "a" * 16, "rule": "T1", "met_on": None, "state": "open"})
    command.upgrade(config, "0005")
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT tip_id, rule, met_by FROM deadline ORDER BY id")
        ).all()
    assert [tuple(row) for row in rows] == [
        ("a" * 16, "T2", "notice_given"),
        ("b" * 16, "T2", "accepted,not_accepted,transferred_out"),  # met: history
        ("a" * 16, "T1", "accepted,not_accepted,transferred_out"),
    ]
    command.downgrade(config, "0003")
    with engine.connect() as connection:
        met_by = connection.execute(text("SELECT met_by FROM deadline ORDER BY id")).scalars()
        assert set(met_by) == {"accepted,not_accepted,transferred_out"}
    engine.dispose()
