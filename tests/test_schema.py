"""The migrations produce exactly the models' schema, on SQLite and on PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect

from tipline.intake.models import Base


def test_migrated_schema_matches_the_models(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []
    assert set(inspect(engine).get_table_names()) >= set(Base.metadata.tables)


def test_reference_data_is_loaded(engine: Engine) -> None:
    with engine.connect() as connection:
        regions = connection.exec_driver_sql("SELECT name FROM region WHERE code = '441502'")
        assert regions.scalar_one() == "城区"
        categories = connection.exec_driver_sql("SELECT count(*) FROM category").scalar_one()
        assert categories == 11
