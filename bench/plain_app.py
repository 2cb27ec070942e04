"""The baseline for bench/submit.py: the same report form with none of tipline's protections.

Plain Flask + SQLAlchemy on the same PostgreSQL, served by gunicorn with the same workers
and threads. POST /report stores the form fields as they came, unencrypted, in
``plain_report`` and answers with a random 24-digit "receipt" (no key derivation, no
sealing, no sanitising, no reference checks, no templates beyond one small string).

CSRF: flask-wtf's CSRFProtect is on by default, as in the portal, so the comparison does not
credit tipline's cost to a check any real form would have; PLAIN_CSRF=0 turns it off (the
GET /report page then carries a fake token that nobody checks).

Environment: PLAIN_DATABASE_URL (required), PLAIN_SECRET_KEY (required with CSRF: every
worker must sign sessions with the same key), PLAIN_CSRF (default 1).
"""

from __future__ import annotations

import datetime as dt
import os
import secrets

from flask import Flask, abort, request
from flask_wtf.csrf import CSRFProtect, generate_csrf
from markupsafe import escape
from sqlalchemy import (
    Column,
    Date,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    insert,
    text,
)

metadata = MetaData()
plain_report = Table(
    "plain_report",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("receipt", String(24), nullable=False, unique=True),
    Column("received_on", Date, nullable=False),
    Column("category", String(32), nullable=False),
    Column("region", String(6), nullable=False),
    Column("fund", String(16)),
    Column("suspect_kind", String(24)),
    Column("amount", String(32)),
    Column("text", Text, nullable=False),
    Column("attachment_name", String(255)),
    Column("attachment", Text),
)

FORM = """<!doctype html>
<html lang="zh"><head><meta charset="utf-8"><title>Report</title></head><body>
<form method="post" action="/report" enctype="multipart/form-data">
<input id="csrf_token" name="csrf_token" type="hidden" value="{token}">
<input name="category"><input name="county"><input name="amount">
<input name="fund"><input name="suspect_kind"><textarea name="text"></textarea>
<input name="attachments" type="file"><button>Send</button>
</form></body></html>
"""

RECEIPT = """<!doctype html>
<html lang="zh"><head><meta charset="utf-8"><title>Receipt</title></head><body>
<h1>Your report has been received</h1>
<p class="receipt" id="receipt">{receipt}</p>
</body></html>
"""


def csrf_enabled() -> bool:
    return os.environ.get("PLAIN_CSRF", "1") != "0"


def make_engine(url: str) -> Engine:
    # The pool the portal's engine uses (tipline/intake/db.py).
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def create_schema(engine: Engine) -> None:
    """Create plain_report if missing; an advisory lock keeps workers from racing."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(74310001)"))
        metadata.create_all(conn)


def _display(digits: str) -> str:
    return " ".join(digits[i : i + 4] for i in range(0, 24, 4))


def create_app() -> Flask:
    url = os.environ.get("PLAIN_DATABASE_URL")
    if not url:
        raise RuntimeError("set PLAIN_DATABASE_URL")
    app = Flask(__name__)
    use_csrf = csrf_enabled()
    secret = os.environ.get("PLAIN_SECRET_KEY")
    if use_csrf and not secret:
        raise RuntimeError("set PLAIN_SECRET_KEY (shared by all workers) or PLAIN_CSRF=0")
    app.config.update(
        SECRET_KEY=secret or secrets.token_urlsafe(32),
        WTF_CSRF_TIME_LIMIT=None,
        WTF_CSRF_SSL_STRICT=False,
        MAX_CONTENT_LENGTH=21 * 1024 * 1024,
    )
    if use_csrf:
        CSRFProtect(app)
    engine = make_engine(url)
    create_schema(engine)

    @app.get("/")
    def index() -> str:
        return "<!doctype html><title>plain</title><p>plain baseline</p>"

    @app.get("/report")
    def form() -> str:
        token = generate_csrf() if use_csrf else secrets.token_urlsafe(32)
        return FORM.format(token=escape(token))

    @app.post("/report")
    def report() -> str:
        fields = request.form
        # The same fields as tipline's form: the place is chosen down to the county.
        if not fields.get("category") or not fields.get("county") or not fields.get("text"):
            abort(400)
        upload = request.files.get("attachments")
        has_file = upload is not None and bool(upload.filename)
        digits = "".join(str(secrets.randbelow(10)) for _ in range(24))
        with engine.begin() as conn:
            conn.execute(
                insert(plain_report).values(
                    receipt=digits,
                    received_on=dt.date.today(),
                    category=fields["category"],
                    region=fields["county"],
                    fund=fields.get("fund") or None,
                    suspect_kind=fields.get("suspect_kind") or None,
                    amount=fields.get("amount") or None,
                    text=fields["text"],
                    attachment_name=upload.filename if has_file and upload else None,
                    attachment=upload.read().hex() if has_file and upload else None,
                )
            )
        return RECEIPT.format(receipt=_display(digits))

    return app
