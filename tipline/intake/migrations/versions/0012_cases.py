"""cases: a confirmed tip grows into a case with its clocks, events and documents

Revision ID: 0012
Revises: 0011

Issue 10: the lifecycle of domain.md section 5 after acceptance. The case tables keep in the
clear only what clocks, boards and statistics need; the subject and the findings are sealed
under a case key (models/cases.py). Document templates are an administrator's Word files.
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_sequence",
        sa.Column("bureau", sa.String(length=32), nullable=False),
        sa.Column("region", sa.String(length=6), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("bureau", "region", "year", name=op.f("pk_case_sequence")),
    )
    op.create_table(
        "document_template",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("scope", sa.String(length=8), nullable=False),
        sa.Column("uploaded_on", sa.Date(), nullable=False),
        sa.Column("uploaded_by", sa.String(length=64), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_document_template")),
    )
    with op.batch_alter_table("document_template", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_document_template_kind"), ["kind"], unique=False)

    op.create_table(
        "case_file",
        sa.Column("id", sa.String(length=16), nullable=False),
        sa.Column("number", sa.String(length=80), nullable=False),
        sa.Column("bureau_of_number", sa.String(length=32), nullable=False),
        sa.Column("region_of_number", sa.String(length=6), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("bureau", sa.String(length=32), nullable=False),
        sa.Column("partner_bureau", sa.String(length=32), nullable=True),
        sa.Column("handling_region", sa.String(length=6), nullable=False),
        sa.Column("handling_city", sa.String(length=4), nullable=False),
        sa.Column("handling_province", sa.String(length=2), nullable=False),
        sa.Column("sealed", sa.Boolean(), nullable=False),
        sa.Column("parent_id", sa.String(length=16), nullable=True),
        sa.Column("stage", sa.String(length=32), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("fund", sa.String(length=16), nullable=True),
        sa.Column("subject_kind", sa.String(length=24), nullable=True),
        sa.Column("opened_on", sa.Date(), nullable=False),
        sa.Column("opened_by", sa.Integer(), nullable=True),
        sa.Column("verified_loss", sa.BigInteger(), nullable=True),
        sa.Column("recovered", sa.BigInteger(), nullable=False),
        sa.Column("fine", sa.BigInteger(), nullable=True),
        sa.Column("court_fine", sa.Boolean(), nullable=False),
        sa.Column("criminal_suspected", sa.Boolean(), nullable=False),
        sa.Column("referred", sa.Boolean(), nullable=False),
        sa.Column("referral_team", sa.String(length=400), nullable=False),
        sa.Column("supervised", sa.Boolean(), nullable=False),
        sa.Column("next_due", sa.Date(), nullable=True),
        sa.Column("rule_packs", sa.String(length=128), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("key_envelope", sa.LargeBinary(), nullable=False),
        sa.Column("details", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["opened_by"], ["officer.id"], name=op.f("fk_case_file_opened_by_officer")
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["case_file.id"], name=op.f("fk_case_file_parent_id_case_file")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_file")),
        sa.UniqueConstraint(
            "bureau_of_number",
            "region_of_number",
            "year",
            "seq",
            name=op.f("uq_case_file_bureau_of_number"),
        ),
        sa.UniqueConstraint("number", name=op.f("uq_case_file_number")),
    )
    with op.batch_alter_table("case_file", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_file_bureau"), ["bureau"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_case_file_handling_city"), ["handling_city"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_case_file_handling_province"), ["handling_province"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_case_file_handling_region"), ["handling_region"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_case_file_next_due"), ["next_due"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_file_opened_on"), ["opened_on"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_file_stage"), ["stage"], unique=False)

    op.create_table(
        "case_deadline",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.String(length=16), nullable=False),
        sa.Column("rule", sa.String(length=8), nullable=False),
        sa.Column("started_by", sa.String(length=32), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("rule_pack", sa.String(length=64), nullable=False),
        sa.Column("met_by", sa.String(length=200), nullable=False),
        sa.Column("calendar_fallback", sa.Boolean(), nullable=False),
        sa.Column("met_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.String(length=32), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("escalated", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["case_file.id"],
            name=op.f("fk_case_deadline_case_id_case_file"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_deadline")),
    )
    with op.batch_alter_table("case_deadline", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_deadline_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_deadline_due_on"), ["due_on"], unique=False)

    op.create_table(
        "case_event",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("from_stage", sa.String(length=32), nullable=True),
        sa.Column("to_stage", sa.String(length=32), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("rule_pack", sa.String(length=128), nullable=False),
        sa.Column("documents", sa.String(length=200), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["officer.id"], name=op.f("fk_case_event_actor_id_officer")
        ),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["case_file.id"],
            name=op.f("fk_case_event_case_id_case_file"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_event")),
    )
    with op.batch_alter_table("case_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_event_case_id"), ["case_id"], unique=False)

    op.create_table(
        "case_tip",
        sa.Column("case_id", sa.String(length=16), nullable=False),
        sa.Column("tip_id", sa.String(length=16), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("joined_on", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["case_file.id"],
            name=op.f("fk_case_tip_case_id_case_file"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["tip_id"], ["tip.id"], name=op.f("fk_case_tip_tip_id_tip")),
        sa.PrimaryKeyConstraint("case_id", "tip_id", name=op.f("pk_case_tip")),
        sa.UniqueConstraint("tip_id", name=op.f("uq_case_tip_tip_id")),
    )
    op.create_table(
        "case_document",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.String(length=16), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("made_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("made_by", sa.Integer(), nullable=True),
        sa.Column("template", sa.String(length=96), nullable=False),
        sa.Column("docx", sa.LargeBinary(), nullable=False),
        sa.Column("pdf", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["case_file.id"],
            name=op.f("fk_case_document_case_id_case_file"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["event_id"], ["case_event.id"], name=op.f("fk_case_document_event_id_case_event")
        ),
        sa.ForeignKeyConstraint(
            ["made_by"], ["officer.id"], name=op.f("fk_case_document_made_by_officer")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_document")),
    )
    with op.batch_alter_table("case_document", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_document_case_id"), ["case_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("case_document", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_document_case_id"))

    op.drop_table("case_document")
    op.drop_table("case_tip")
    with op.batch_alter_table("case_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_event_case_id"))

    op.drop_table("case_event")
    with op.batch_alter_table("case_deadline", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_deadline_due_on"))
        batch_op.drop_index(batch_op.f("ix_case_deadline_case_id"))

    op.drop_table("case_deadline")
    with op.batch_alter_table("case_file", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_file_stage"))
        batch_op.drop_index(batch_op.f("ix_case_file_opened_on"))
        batch_op.drop_index(batch_op.f("ix_case_file_next_due"))
        batch_op.drop_index(batch_op.f("ix_case_file_handling_region"))
        batch_op.drop_index(batch_op.f("ix_case_file_handling_province"))
        batch_op.drop_index(batch_op.f("ix_case_file_handling_city"))
        batch_op.drop_index(batch_op.f("ix_case_file_bureau"))

    op.drop_table("case_file")
    with op.batch_alter_table("document_template", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_document_template_kind"))

    op.drop_table("document_template")
    op.drop_table("case_sequence")
