"""a tip remembers the digest of the form it came from, so a form is stored once

Revision ID: 0006
Revises: 0003

Reloading the receipt page, or going Back and sending the form again, filed the report a
second time (issue 8). Each report form carries a one-time random token; the tip keeps the
SHA-256 of it under a unique constraint, so a second submission of the same form stores
nothing. The token is random and the column holds no time: it dates nothing.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tip") as batch:
        batch.add_column(sa.Column("form_digest", sa.String(length=64), nullable=True))
        batch.create_unique_constraint(op.f("uq_tip_form_digest"), ["form_digest"])


def downgrade() -> None:
    with op.batch_alter_table("tip") as batch:
        batch.drop_constraint(op.f("uq_tip_form_digest"), type_="unique")
        batch.drop_column("form_digest")
