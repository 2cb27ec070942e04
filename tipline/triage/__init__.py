"""The internal site: officers sign in, read and work tips. Holds the private keys.

Deny by default: one ``before_request`` lets through only the endpoints in ``PUBLIC`` and,
for everything else, the roles the access table names (``access.ALLOWED``). A route that
is not in the table is closed to everyone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from flask import Flask, current_app, request
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from jinja2 import ChoiceLoader, FileSystemLoader, PrefixLoader
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from tipline.crypto import OfficerSecrets, PrivateKeyring, ReceiptKdf, load_private_keyring
from tipline.intake import reference
from tipline.intake.config import Config, ConfigError
from tipline.intake.db import make_engine, make_sessionmaker
from tipline.intake.jobs import process_new_tips
from tipline.intake.queue import InlineQueue, make_queue
from tipline.intake.submit import Submitter
from tipline.intake.web import csrf, init_web
from tipline.triage.accounts import ROLE_TERMS
from tipline.triage.localtime import local_time

TEMPLATES = Path(__file__).parents[1] / "templates"
STATIC = Path(__file__).parents[1] / "static"


@dataclass(frozen=True)
class Triage:
    config: Config
    engine: Engine
    sessions: sessionmaker[Session]
    keyring: PrivateKeyring
    submitter: Submitter
    # Seals and opens officers' TOTP secrets; derived from the private keys, so the
    # portal, which holds public keys only, cannot (crypto/officer.py).
    officer_secrets: OfficerSecrets


def load_keyring(config: Config) -> PrivateKeyring:
    if not config.key_passphrase:
        raise ConfigError(
            "triage needs the key passphrase: set TIPLINE_KEY_PASSPHRASE or "
            "TIPLINE_KEY_PASSPHRASE_FILE"
        )
    return load_private_keyring(config.keys_dir, config.key_passphrase)


def create_app(config: Config | None = None) -> Flask:
    config = config or Config.from_env()
    keyring = load_keyring(config)
    app = Flask(__name__, template_folder=str(TEMPLATES), static_folder=str(STATIC))
    if config.document_templates is not None:
        # A locality's statutory documents first (documents/<name>), then the shipped ones.
        app.jinja_loader = ChoiceLoader([
            PrefixLoader({"documents": FileSystemLoader(str(config.document_templates))}),
            FileSystemLoader(str(TEMPLATES)),
        ])  # fmt: skip
    init_web(app, config)
    app.config["SESSION_COOKIE_NAME"] = config.session_cookie_name("triage")
    engine = make_engine(config.database_url)
    sessions = make_sessionmaker(engine)
    app.extensions["triage"] = Triage(
        config=config,
        engine=engine,
        sessions=sessions,
        keyring=keyring,
        # Tips entered by officers go through the same pipeline as the public ones.
        submitter=Submitter(
            sessions,
            keyring=keyring.public_keyring(),
            queue=make_queue(config.redis_url, config.queue_name, engine, keyring),
            kdf=ReceiptKdf(n=config.receipt_scrypt_n),
            limits=config.limits,
        ),
        officer_secrets=OfficerSecrets(keyring),
    )
    app.context_processor(lambda: {"site_name": _l("Tip triage"), "home_endpoint": "triage.inbox"})
    app.jinja_env.filters["reject_page"] = lambda args: {
        k: v for k, v in args.items() if k != "page"
    }
    app.jinja_env.filters["role_name"] = role_name
    # Stored times are UTC; every page shows them in China's time (localtime.py).
    app.jinja_env.filters["local_time"] = local_time
    from tipline.triage import access, auth
    from tipline.triage.tips import views

    auth.login_manager.init_app(app)
    app.before_request(access.guard)
    # Every control is drawn from the table that guards it (issue 9): {% if may(...) %}.
    app.jinja_env.globals["may"] = access.may
    app.context_processor(lambda: {"home_endpoint": _home()})
    if not config.redis_url:
        # The embedded default has no worker: the portal, holding no private key, leaves
        # its tips unrouted, and triage routes them before it answers (intake/queue.py).
        # After the guard, so only a request it let through can get here.
        app.before_request(_route_waiting_tips)
    app.register_blueprint(auth.bp)
    app.register_blueprint(views.bp)
    # audit_views adds the auditor's pages to the admin blueprint, so it is imported first.
    from tipline.triage import admin, audit_views  # noqa: F401
    from tipline.triage.cases import template_admin  # noqa: F401

    app.register_blueprint(admin.bp)
    from tipline.triage.tips import export

    app.register_blueprint(export.bp)
    # The cases area: its pages, and its documents' routes added to the same blueprint.
    from tipline.triage.cases import document_views  # noqa: F401
    from tipline.triage.cases import views as case_views

    app.register_blueprint(case_views.bp)
    from tipline.triage import api

    # The internal API: bearer tokens only, never the session cookie (so no CSRF token).
    app.session_interface = api.ApiSessionInterface()
    auth.login_manager.request_loader(api.load_user_from_request)
    csrf.exempt(api.bp)
    # The cases area's API routes join the blueprint before it is registered.
    from tipline.triage.cases import api as case_api  # noqa: F401

    app.register_blueprint(api.bp)
    return app


def _route_waiting_tips() -> None:
    """Route the tips the portal left waiting, for a signed-in officer's request only.

    Routing opens tips with the private key and writes to the database, so nobody signed
    out (the login page, the language switch, a bearer token that does not verify) and no
    static file may set it off. Signed-in API calls do: the internal API lists the same
    inbox, and must see the tips routed as the pages do."""
    if request.endpoint in _NO_ROUTING or not current_user.is_authenticated:
        return
    services = triage()
    InlineQueue(services.engine, services.keyring).enqueue(process_new_tips)


# Endpoints that never read a tip, even signed in.
_NO_ROUTING = frozenset({"static", "language", "auth.logout"})


def _home() -> str:
    """Where the site's name leads: the signed-in officer's own start page (auth.HOME), so
    an administrator's or an auditor's is not the inbox they may not open."""
    from tipline.triage import auth

    if current_user.is_authenticated:
        return auth.HOME.get(current_user.role, "triage.inbox")
    return "triage.inbox"


def role_name(code: str) -> str:
    """A role's label in the reader's language (accounts.ROLE_TERMS), never its code."""
    return gettext(reference.label(ROLE_TERMS, code))


def triage() -> Triage:
    services: Triage = current_app.extensions["triage"]
    return services
