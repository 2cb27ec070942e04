"""Rate limits on the public site, without keeping anyone's address.

Counters are keyed by an HMAC of the client address under a key derived from the site's
secret, live in Redis (or memory in the embedded default) and expire with their window
(DESIGN.md, "Anonymity").
"""

from __future__ import annotations

import hashlib
import hmac

from flask import Flask, current_app, g, request
from flask_limiter import Limiter
from werkzeug.wrappers import Response

from tipline.crypto import derive_key
from tipline.intake.config import Config


def client_key() -> str:
    key = current_app.extensions["portal-limit-key"]
    address = (request.remote_addr or "").encode()
    return hmac.new(key, address, hashlib.sha256).hexdigest()[:32]


limiter = Limiter(key_func=client_key, strategy="moving-window", headers_enabled=False)


def submit_limit() -> str:
    config: Config = current_app.extensions["portal"].config
    return config.submit_limit


def receipt_limit() -> str:
    config: Config = current_app.extensions["portal"].config
    return config.receipt_limit


def mark_wrong_receipt() -> None:
    """Count this request against the wrong-receipt limit (typos caught by the check digit
    are not counted: they never reach the database)."""
    g.wrong_receipt = True


def _wrong_receipt(_response: Response) -> bool:
    return bool(g.get("wrong_receipt"))


# One budget for wrong receipts, whether typed into the site (its form posts) or sent to
# the API (every call carries the receipt).
receipt_attempts = limiter.shared_limit(receipt_limit, scope="receipt", deduct_when=_wrong_receipt)
receipt_posts = limiter.shared_limit(
    receipt_limit, scope="receipt", deduct_when=_wrong_receipt, methods=["POST"]
)
submissions = limiter.shared_limit(submit_limit, scope="submit", methods=["POST"])


def init_limits(app: Flask, config: Config) -> None:
    app.extensions["portal-limit-key"] = derive_key(config.secret_key.encode(), "portal/limit")
    app.config["RATELIMIT_STORAGE_URI"] = config.redis_url or "memory://"
    app.config["RATELIMIT_KEY_PREFIX"] = "tipline-limit"
    limiter.init_app(app)
