"""The public site: citizens report, get a receipt, and come back with it.

It is configured with the intake public keys only: nothing here can open a tip without the
reporter's receipt.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from flask import Flask, current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.middleware.proxy_fix import ProxyFix

from tipline.crypto import (
    PublicKeyring,
    ReceiptKdf,
    load_public_keyring,
    public_folder_problems,
)
from tipline.intake.config import Config, ConfigError
from tipline.intake.db import make_engine, make_sessionmaker
from tipline.intake.queue import PORTAL_JOB_PREFIX, make_queue
from tipline.intake.submit import Submitter
from tipline.intake.web import init_web
from tipline.portal.reporter import Clock, ReporterSessions

TEMPLATES = Path(__file__).parents[1] / "templates"
STATIC = Path(__file__).parents[1] / "static"


@dataclass(frozen=True)
class Portal:
    config: Config
    engine: Engine
    sessions: sessionmaker[Session]
    keyring: PublicKeyring
    kdf: ReceiptKdf
    submitter: Submitter
    reporter_sessions: ReporterSessions


def refuse_private_keys(config: Config) -> None:
    """The public site must hold public keys only (DESIGN.md): refuse to start otherwise."""
    if config.key_passphrase:
        raise ConfigError(
            "the portal must not be given the key passphrase: unset TIPLINE_KEY_PASSPHRASE "
            "and TIPLINE_KEY_PASSPHRASE_FILE for it"
        )
    # By content, not by name: a private key renamed, or in a subfolder, is still one.
    problems = public_folder_problems(config.keys_dir)
    if problems:
        raise ConfigError(
            f"the portal's keys folder {config.keys_dir} must hold public key files only, "
            "and nothing else (tipline keys export-public writes one); refused: "
            + "; ".join(problems)
        )


def create_app(config: Config | None = None, *, clock: Clock | None = None) -> Flask:
    """The portal; ``clock`` (seconds, as time.time) lets tests move reporters' sessions
    through time."""
    config = config or Config.from_env()
    refuse_private_keys(config)
    if config.reporter_session_minutes < 1:
        raise ConfigError("TIPLINE_REPORTER_SESSION_MINUTES must be at least 1")
    app = Flask(__name__, template_folder=str(TEMPLATES), static_folder=str(STATIC))
    init_web(app, config)
    app.config["SESSION_COOKIE_NAME"] = config.session_cookie_name("portal")
    engine = make_engine(config.database_url)
    sessions = make_sessionmaker(engine)
    keyring = load_public_keyring(config.keys_dir)
    kdf = ReceiptKdf(n=config.receipt_scrypt_n)
    app.extensions["portal"] = Portal(
        config=config,
        engine=engine,
        sessions=sessions,
        keyring=keyring,
        kdf=kdf,
        submitter=Submitter(
            sessions,
            keyring=keyring,
            queue=make_queue(
                config.redis_url, config.queue_name, engine, job_prefix=PORTAL_JOB_PREFIX
            ),
            kdf=kdf,
            limits=config.limits,
        ),
        reporter_sessions=ReporterSessions.make(
            config.secret_key, config.redis_url, config.reporter_session_minutes * 60, clock
        ),
    )
    app.context_processor(
        lambda: {
            "site_name": config.site_name or _l("Social Insurance Fund Fraud Reports"),
            "home_endpoint": "portal.index",
            "about_endpoint": "portal.about",
        }
    )
    if config.proxy_count:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=config.proxy_count, x_proto=config.proxy_count
        )
    from tipline.portal import api, limits, views

    limits.init_limits(app, config)
    app.register_blueprint(views.bp)
    app.register_blueprint(api.bp)
    return app


def portal() -> Portal:
    services: Portal = current_app.extensions["portal"]
    return services
