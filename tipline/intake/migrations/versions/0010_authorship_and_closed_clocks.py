"""officers' notes and messages keep their time and kind; a clock records what closed it

Revision ID: 0010
Revises: 0006

Issue 9: the tip page says which officer wrote a note or a message and when. Only what an
officer writes gets a time of day: a reporter's message keeps its day only (DESIGN.md,
"Anonymity"), which a check constraint holds whatever process inserts the row. A deadline
records what closed it, so a duplicate's clocks read "linked as a duplicate" rather than
met by a decision nobody took. A note says whether it is the reason given for a routing.
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("message") as batch:
        batch.add_column(sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_check_constraint(
            op.f("ck_message_officer_time_only"), "sent_at IS NULL OR author = 'officer'"
        )
    with op.batch_alter_table("note") as batch:
        batch.add_column(sa.Column("written_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("kind", sa.String(length=16), nullable=True))
    with op.batch_alter_table("deadline") as batch:
        batch.add_column(sa.Column("closed_by", sa.String(length=24), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deadline") as batch:
        batch.drop_column("closed_by")
    with op.batch_alter_table("note") as batch:
        batch.drop_column("kind")
        batch.drop_column("written_at")
    with op.batch_alter_table("message") as batch:
        batch.drop_constraint(op.f("ck_message_officer_time_only"), type_="check")
        batch.drop_column("sent_at")
