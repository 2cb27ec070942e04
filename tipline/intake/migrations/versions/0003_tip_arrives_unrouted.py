"""a new tip arrives unrouted, whoever inserts it (PostgreSQL)

Revision ID: 0003
Revises: 0002

The portal's role may insert tips (intake/roles.py) but must not be able to decide where
they go: a compromised portal could otherwise insert a tip already "processed", with a
status, a bureau, or a staff tip unsealed, and skip the worker's routing. This trigger,
owned by the tables' owner, resets on every insert what only routing and decisions may set.
The staff rule is the law (domain.md section 2), so it is enforced here as well as in
``intake.rules.is_about_staff``: such a tip is sealed to discipline inspection from its
first moment. SQLite has no roles, so nothing is needed there.
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

FUNCTION = """
CREATE OR REPLACE FUNCTION tip_arrives_unrouted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.processed := false;
    NEW.status := 'received';
    NEW.status_detail := NULL;
    NEW.suggested_bureau := NULL;
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


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(FUNCTION)
    op.execute(
        "CREATE TRIGGER tip_arrives_unrouted BEFORE INSERT ON tip "
        "FOR EACH ROW EXECUTE FUNCTION tip_arrives_unrouted()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS tip_arrives_unrouted ON tip")
    op.execute("DROP FUNCTION IF EXISTS tip_arrives_unrouted()")
