"""T2 notices given to reporters, and years' holiday notices entered by administrators

Revision ID: 0005
Revises: 0003

T2 (domain.md section 3) is met when the reporter is told, not when the tip is decided:
open T2 clocks are switched to be met by ``notice_given``. Clocks already met stay as they
are on record.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "calendar_notice",
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("entered_on", sa.Date(), nullable=False),
        sa.Column("entered_by", sa.String(length=64), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=False),
        sa.Column("days_off", sa.Integer(), nullable=False),
        sa.Column("working_days", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_calendar_notice")),
    )
    with op.batch_alter_table("calendar_override", schema=None) as batch_op:
        batch_op.add_column(sa.Column("notice_year", sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_calendar_override_notice_year"), ["notice_year"], unique=False
        )
    op.create_table(
        "notice",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tip_id", sa.String(length=16), nullable=False),
        sa.Column("rule", sa.String(length=8), nullable=False),
        sa.Column("decision", sa.String(length=24), nullable=False),
        sa.Column("detail", sa.String(length=32), nullable=True),
        sa.Column("decided_on", sa.Date(), nullable=False),
        sa.Column("office", sa.String(length=6), nullable=False),
        sa.Column("bureau", sa.String(length=32), nullable=True),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=True),
        sa.Column("given_on", sa.Date(), nullable=True),
        sa.Column("given_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["message_id"], ["message.id"], name=op.f("fk_notice_message_id_message")
        ),
        sa.ForeignKeyConstraint(
            ["tip_id"], ["tip.id"], name=op.f("fk_notice_tip_id_tip"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notice")),
    )
    with op.batch_alter_table("notice", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notice_tip_id"), ["tip_id"], unique=False)
    op.execute("UPDATE deadline SET met_by = 'notice_given' WHERE rule = 'T2' AND met_on IS NULL")


def downgrade() -> None:
    op.execute(
        "UPDATE deadline SET met_by = 'accepted,not_accepted,transferred_out' "
        "WHERE rule = 'T2' AND met_on IS NULL"
    )
    with op.batch_alter_table("notice", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notice_tip_id"))
    op.drop_table("notice")
    with op.batch_alter_table("calendar_override", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_calendar_override_notice_year"))
        batch_op.drop_column("notice_year")
    op.drop_table("calendar_notice")
