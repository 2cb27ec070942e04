"""the audit log is searched by who and when, so those columns are indexed

Revision ID: 0011
Revises: 0006

Every reading of a tip is an entry, so the log grows by thousands a day; the auditor's page
and CSV export filter it by actor and by a date range (issue 9). ``action`` and ``tip_id``
were indexed from the start; ``at`` and ``actor`` join them, so a filter reads the matching
entries and not the whole log.
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_event") as batch:
        batch.create_index(batch.f("ix_audit_event_at"), ["at"], unique=False)
        batch.create_index(batch.f("ix_audit_event_actor"), ["actor"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("audit_event") as batch:
        batch.drop_index(batch.f("ix_audit_event_actor"))
        batch.drop_index(batch.f("ix_audit_event_at"))
