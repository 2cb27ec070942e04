"""an account change that widens what a reader sees waits for a supervisor

Revision ID: 0009
Revises: 0006

Issue 9: an administrator changes an officer's role, bureau or jurisdiction from the users
page. A change that gives a role that reads tips, or widens one (another bureau, a larger
jurisdiction, a supervisor's powers), falls under the two-person rule of issue 7 like a new
reader account: it is kept here, the account working as before, until a supervisor of the
new office approves it (accounts.approve_change). One pending change per account; a new
request replaces it.
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("officer") as batch:
        batch.add_column(sa.Column("pending_role", sa.String(length=24), nullable=True))
        batch.add_column(sa.Column("pending_bureau", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("pending_region", sa.String(length=6), nullable=True))
        batch.add_column(sa.Column("change_requested_by", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("officer") as batch:
        batch.drop_column("change_requested_by")
        batch.drop_column("pending_region")
        batch.drop_column("pending_bureau")
        batch.drop_column("pending_role")
