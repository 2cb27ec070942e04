"""what each officer has been shown of the alerts on a tip (issue 9, notices)

Revision ID: 0008
Revises: 0006

Alerts (a new tip, a reporter's reply, an identity request to decide, a deadline) are read
from the tips at the moment they are shown, through the officer's scope; only what each
officer has already seen is kept. A mark holds an id or a deadline state, never a date or
a time, so it dates nothing a reporter did.
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_mark",
        sa.Column("officer_id", sa.Integer(), nullable=False),
        sa.Column("tip_id", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("seen", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["officer_id"],
            ["officer.id"],
            name=op.f("fk_alert_mark_officer_id_officer"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tip_id"], ["tip.id"], name=op.f("fk_alert_mark_tip_id_tip"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("officer_id", "tip_id", "kind", name=op.f("pk_alert_mark")),
    )


def downgrade() -> None:
    op.drop_table("alert_mark")
