"""unit level, co-handling bureaus, the receiving office of a transfer, clocks per bureau

Revision ID: 0004
Revises: 0003

- ``tip.unit_level``: the administrative level of the reported unit, which the Shanwei rule
  turns on (domain.md section 6); a region code cannot say it. Plain like the region,
  because routing reads it before anyone opens the tip.
- ``tip.co_bureaus``: the bureaus handling a tip beside the lead (domain.md section 2).
- ``tip_event.region``: on a transfer, the receiving office's region.
- ``deadline.bureau``: a co-handling bureau's own T1 (None: the tip's own clock).

On PostgreSQL the insert trigger of 0003 now also clears ``co_bureaus``: only routing sets
who handles a tip, never whoever inserts it.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

FUNCTION = """
CREATE OR REPLACE FUNCTION tip_arrives_unrouted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.processed := false;
    NEW.status := 'received';
    NEW.status_detail := NULL;
    NEW.suggested_bureau := NULL;
    NEW.co_bureaus := '';
    NEW.flags := '';
    NEW.rule_packs := NULL;
    NEW.next_due := NULL;
    NEW.duplicate_of := NULL;
    NEW.handling_region := NEW.region;
    NEW.handling_city := substr(NEW.region, 1, 4);
    NEW.handling_province := substr(NEW.region, 1, 2);
    NEW.sealed := COALESCE(NEW.sealed, false)
        OR COALESCE(NEW.suspect_kind = 'agency_staff', false)
        OR COALESCE(NEW.category = 'internal_embezzlement', false);
    NEW.bureau := CASE WHEN NEW.sealed THEN 'discipline_inspection' ELSE NULL END;
    RETURN NEW;
END
$$
"""

PREVIOUS = FUNCTION.replace("    NEW.co_bureaus := '';\n", "")


def upgrade() -> None:
    with op.batch_alter_table("tip", schema=None) as batch_op:
        batch_op.add_column(sa.Column("unit_level", sa.String(length=16), nullable=True))
        batch_op.add_column(
            sa.Column("co_bureaus", sa.String(length=160), nullable=False, server_default="")
        )
    with op.batch_alter_table("tip", schema=None) as batch_op:
        batch_op.alter_column("co_bureaus", server_default=None)
    with op.batch_alter_table("tip_event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("region", sa.String(length=6), nullable=True))
    with op.batch_alter_table("deadline", schema=None) as batch_op:
        batch_op.add_column(sa.Column("bureau", sa.String(length=32), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PREVIOUS)
    with op.batch_alter_table("deadline", schema=None) as batch_op:
        batch_op.drop_column("bureau")
    with op.batch_alter_table("tip_event", schema=None) as batch_op:
        batch_op.drop_column("region")
    with op.batch_alter_table("tip", schema=None) as batch_op:
        batch_op.drop_column("co_bureaus")
        batch_op.drop_column("unit_level")
