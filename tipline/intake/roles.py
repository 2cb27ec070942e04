"""PostgreSQL roles: each process gets the least privilege its job needs (DESIGN.md,
"Least privilege between the processes").

Three login roles, one per process, named after the database (``tipline`` gives
``tipline_portal``, ``tipline_triage`` and ``tipline_worker``). ``tipline init`` creates
them and applies ``GRANTS`` after every migration; ``tipline db roles --sql`` prints the
same statements for a DBA who would rather run them by hand. The login that runs
``tipline init`` owns the tables; no process should serve with it.

What is not granted is denied, and a table missing from ``GRANTS`` is a test failure
(tests/test_db_roles.py), so a new table is closed until someone decides who may touch it.

- The portal stores submissions and reads what the reporter's pages show. It cannot read
  or write officers, tokens, audit, rule packs, deadlines, notes or identity requests, and
  it cannot change or delete a stored tip: the only columns it may update are the two a
  reporter's adding their name sets. A compromised portal can add tips and read
  ciphertext, nothing more.
- The portal has nothing of cases: the reporter follows a case through the tip's own
  status columns, which triage sets (triage/cases/services.py ``_tell_reporters``).
- The worker routes new tips and runs the deadline sweep and the alert digest: tips,
  deadlines, the rules and calendar, officers' addresses for notices, who asked for an
  identity (not why), what officers have seen of their alerts, and the audit log, which it
  appends to; of cases, their clocks and the columns that decide who sees one, never what
  is sealed in them (details, events' data, documents).
- Triage does the officers' work. Even triage only appends to the audit log: it cannot
  update or delete an entry, so rewriting history needs the owner's login.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from sqlalchemy import Engine, Integer, text
from sqlalchemy.engine import make_url

from tipline.intake.models import Base

READ = ("SELECT",)
APPEND = ("SELECT", "INSERT")
WORK = ("SELECT", "INSERT", "UPDATE")
ALL = ("SELECT", "INSERT", "UPDATE", "DELETE")
REFERENCE = {"region": READ, "category": READ, "bureau": READ}

# role -> table -> privileges. A table that is absent is denied. "UPDATE(a, b)" limits an
# update to those columns.
GRANTS: Mapping[str, Mapping[str, tuple[str, ...]]] = {
    "portal": {
        **REFERENCE,
        "tip": ("SELECT", "INSERT", "UPDATE(real_name, wants_notice)"),
        "identity": APPEND,
        "message": APPEND,
        "tip_event": APPEND,
        "attachment": APPEND,
        "attachment_chunk": APPEND,
    },
    "worker": {
        **REFERENCE,
        "tip": ("SELECT", "UPDATE"),
        "tip_event": APPEND,
        "deadline": WORK,
        "rule_pack": READ,
        "calendar_override": READ,
        "calendar_notice": READ,
        # What a notice needs, not the password hash or the sealed TOTP secret.
        "officer": ("SELECT(id, role, email, bureau, region, active)",),
        "recusal": READ,
        "audit_event": APPEND,
        # The alert digest (triage/tips/alerts.py): who waits on a request since which day, never
        # its reason.
        "identity_request": ("SELECT(id, tip_id, requester_id, requested_on, state)",),
        "alert_mark": READ,
        # The sweep of case clocks (triage/clocks.py) and who may be told of them: the
        # clocks, and of a case only what scope.case_visibility compares; never its sealed
        # details, its events' data or its documents.
        "case_deadline": ("SELECT", "UPDATE(state, escalated)"),
        "case_file": (
            "SELECT(id, bureau, partner_bureau, handling_region, handling_city,"
            " handling_province, sealed, stage)",
        ),
        # Which tips a case is made of (no contents): a recusal from one of them hides the
        # case (scope.case_visibility's EXISTS reads the whole row).
        "case_tip": READ,
    },
    "triage": {
        **REFERENCE,
        "tip": WORK,
        "identity": WORK,
        "message": WORK,
        "tip_event": WORK,
        "attachment": WORK,
        "attachment_chunk": APPEND,
        "deadline": WORK,
        "note": APPEND,
        "recusal": ALL,
        # Read marks (issue 9): set when an officer opens a tip, never removed by triage.
        "tip_read": WORK,
        "identity_request": WORK,
        "api_token": ALL,
        "calendar_override": ALL,
        "calendar_notice": ALL,
        "notice": WORK,
        "rule_pack": WORK,
        "officer": WORK,
        "audit_event": APPEND,
        "alert_mark": WORK,
        # Cases (triage/cases/): opened, stepped through, numbered; an event's sealed data is
        # written after its row (its id is in the data's associated data), a document's PDF
        # after its DOCX. Nothing is deleted: a case is a record.
        "case_file": WORK,
        "case_tip": WORK,
        "case_event": WORK,
        "case_deadline": WORK,
        "case_document": WORK,
        "case_sequence": WORK,
        # An administrator's templates are replaced by marking the old one inactive.
        "document_template": WORK,
    },
}
PROCESSES = tuple(GRANTS)


@dataclass(frozen=True)
class Roles:
    """The login roles of one database."""

    database: str

    def name(self, process: str) -> str:
        if process not in GRANTS:
            raise ValueError(f"no such process: {process}")
        return f"{self.database}_{process}"

    @classmethod
    def of(cls, url: str) -> Roles:
        database = make_url(url).database
        if not database:
            raise ValueError("the database URL names no database")
        return cls(database)


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def statements(roles: Roles, tables: list[str], sequences: list[str]) -> Iterator[str]:
    """The SQL that creates the roles (if absent) and sets exactly the privileges of
    ``GRANTS``: everything else is revoked first, so rerunning it narrows as well as
    widens."""
    database = _ident(roles.database)
    yield f"REVOKE ALL ON DATABASE {database} FROM PUBLIC"
    # PostgreSQL before 15 lets every role create tables in public.
    yield "REVOKE CREATE ON SCHEMA public FROM PUBLIC"
    for process in PROCESSES:
        role = roles.name(process)
        literal = role.replace("'", "''")
        yield (
            "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = "
            f"'{literal}') THEN CREATE ROLE {_ident(role)} LOGIN; END IF; END $$"
        )
        quoted = _ident(role)
        yield f"GRANT CONNECT ON DATABASE {database} TO {quoted}"
        yield f"GRANT USAGE ON SCHEMA public TO {quoted}"
        yield f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {quoted}"
        yield f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {quoted}"
        for table, privileges in GRANTS[process].items():
            if table in tables:
                yield f"GRANT {', '.join(privileges)} ON {_ident(table)} TO {quoted}"
        # Inserting rows with serial ids takes the sequence of each table one may insert to.
        yield from (
            f"GRANT USAGE ON SEQUENCE {_ident(table + '_id_seq')} TO {quoted}"
            for table, privileges in GRANTS[process].items()
            if "INSERT" in privileges and f"{table}_id_seq" in sequences
        )


def declared_schema() -> tuple[list[str], list[str]]:
    """The tables and id sequences the models declare, for printing the statements
    without a database to ask."""
    tables = [table.name for table in Base.metadata.sorted_tables]
    sequences = [
        f"{table.name}_id_seq"
        for table in Base.metadata.sorted_tables
        if "id" in table.c
        and table.c.id.primary_key
        and isinstance(table.c.id.type, Integer)
        and table.c.id.autoincrement in (True, "auto")
    ]
    return tables, sequences


def apply(engine: Engine) -> Roles:
    """Create the roles of ``engine``'s database and set their privileges (PostgreSQL)."""
    roles = Roles.of(str(engine.url))
    with engine.begin() as connection:
        tables = [
            row[0]
            for row in connection.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            )
        ]
        sequences = [
            row[0]
            for row in connection.execute(
                text("SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'")
            )
        ]
        for statement in statements(roles, tables, sequences):
            connection.execute(text(statement))
    return roles
