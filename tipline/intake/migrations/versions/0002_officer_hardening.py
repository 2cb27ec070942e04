"""officer hardening: sealed TOTP secrets, activation codes, two-person approval

Revision ID: 0002
Revises: 0001

TOTP secrets were stored in the clear; they cannot be sealed here (a migration holds no
private key), so they are dropped and every existing officer enrols again at the next
sign-in with an activation code from ``tipline users reset``.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("officer", schema=None) as batch_op:
        batch_op.add_column(sa.Column("totp_sealed", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("totp_pending", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("activation_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("awaiting_approval", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("requested_by", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("approved_by", sa.String(length=64), nullable=True))
        batch_op.drop_column("totp_secret")
    with op.batch_alter_table("officer", schema=None) as batch_op:
        batch_op.alter_column("awaiting_approval", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("officer", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("totp_secret", sa.String(length=64), nullable=False, server_default="")
        )
        batch_op.drop_column("approved_by")
        batch_op.drop_column("requested_by")
        batch_op.drop_column("awaiting_approval")
        batch_op.drop_column("activation_hash")
        batch_op.drop_column("totp_pending")
        batch_op.drop_column("totp_sealed")
    with op.batch_alter_table("officer", schema=None) as batch_op:
        batch_op.alter_column("totp_secret", server_default=None)
