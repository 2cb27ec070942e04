"""officers' read marks on tips, and a tip assigned to one officer of its bureau

Revision ID: 0007
Revises: 0006

Issue 9: the inbox marks the tips an officer has not opened, and those with something new
from the reporter since they last did (``tip_read``, keyed by officer and tip; the reporter's
news is found by the timeline's increasing ids, never by a time of day). A supervisor of the
handling bureau assigns a tip to one of its officers, or an officer takes it on
(``tip.assigned_to``).
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tip") as batch:
        batch.add_column(sa.Column("assigned_to", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_tip_assigned_to_officer"), "officer", ["assigned_to"], ["id"]
        )
        batch.create_index(batch.f("ix_tip_assigned_to"), ["assigned_to"], unique=False)
    op.create_table(
        "tip_read",
        sa.Column("officer_id", sa.Integer(), nullable=False),
        sa.Column("tip_id", sa.String(length=16), nullable=False),
        sa.Column("read_on", sa.Date(), nullable=False),
        sa.Column("seen_event", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["officer_id"], ["officer.id"], name=op.f("fk_tip_read_officer_id_officer")
        ),
        sa.ForeignKeyConstraint(
            ["tip_id"], ["tip.id"], name=op.f("fk_tip_read_tip_id_tip"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("officer_id", "tip_id", name=op.f("pk_tip_read")),
    )


def downgrade() -> None:
    op.drop_table("tip_read")
    with op.batch_alter_table("tip") as batch:
        batch.drop_index(batch.f("ix_tip_assigned_to"))
        batch.drop_constraint(op.f("fk_tip_assigned_to_officer"), type_="foreignkey")
        batch.drop_column("assigned_to")
