"""Rate limits on the public site, without keeping anyone's address.

Counters are keyed by an HMAC of the client address under a key derived from the site's
secret, live in Redis (or memory in the embedded default) and expire with their window
(DESIGN.md, "Anonymity").

When Redis does not answer, the two budgets fail differently, on purpose:

- Submissions fail soft. flask-limiter falls back to counting in this process's memory,
  with the same limits, until Redis answers again: a report must still be stored while the
  database is up (the post-submission job then waits for the sweep, intake/submit.py), and
  the budget still holds, per process.
- Receipt checks fail closed (503). Each guess at a receipt must be counted in the one store
  every process shares: a per-process count would multiply the budget by the number of
  processes and reset it at every restart, which is what a brute force of receipts needs.
  A reporter signed in by a receipt needs Redis anyway (reporter.py), so nothing usable is
  lost.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress

from flask import Flask, current_app, request
from flask_limiter import Limiter
from limits import parse_many
from limits.errors import StorageError
from limits.strategies import STRATEGIES
from werkzeug.exceptions import ServiceUnavailable

from tipline.crypto import derive_key
from tipline.intake.config import Config

# One subscriber gets a whole IPv6 /64 (RFC 6177), and picks any address in it at will.
IPV6_PREFIX = 64


def client_bucket(remote_addr: str | None) -> str:
    """The part of a client address that one client controls as a whole: an IPv4 address
    (also when written IPv4-mapped, ::ffff:a.b.c.d) or an IPv6 /64; else the text as is."""
    try:
        address = ipaddress.ip_address((remote_addr or "").split("%", 1)[0])
    except ValueError:
        return remote_addr or ""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, IPV6_PREFIX), strict=False))
    return str(address)


def client_key() -> str:
    key = current_app.extensions["portal-limit-key"]
    bucket = client_bucket(request.remote_addr).encode()
    return hmac.new(key, bucket, hashlib.sha256).hexdigest()[:32]


STRATEGY = "moving-window"
# A Redis that does not answer must not hold a portal worker for long.
REDIS_TIMEOUT_SECONDS = 2.0

limiter = Limiter(key_func=client_key, strategy=STRATEGY, headers_enabled=False)


class LimitsUnavailable(ServiceUnavailable):
    """The shared receipt budget cannot be counted: 503, and no receipt is checked."""


def submit_limit() -> str:
    config: Config = current_app.extensions["portal"].config
    return config.submit_limit


def receipt_limit() -> str:
    config: Config = current_app.extensions["portal"].config
    return config.receipt_limit


def spend_receipt_attempt() -> bool:
    """Count one receipt check against the client's budget, before the scrypt runs; False
    when the budget is spent (the answer is then 429, even for a right receipt).

    Counted atomically up front, so parallel requests cannot all slip under the limit while
    their derivations run; typos caught by the check digit never get here and are free."""
    # The shared storage itself, never flask-limiter's in-memory fallback (module docstring).
    strategy = STRATEGIES[STRATEGY](limiter.storage)
    key = client_key()
    try:
        return all(strategy.hit(item, "receipt", key) for item in parse_many(receipt_limit()))
    except StorageError as error:
        raise LimitsUnavailable from error


submissions = limiter.shared_limit(submit_limit, scope="submit", methods=["POST"])


def init_limits(app: Flask, config: Config) -> None:
    app.extensions["portal-limit-key"] = derive_key(config.secret_key.encode(), "portal/limit")
    app.config["RATELIMIT_STORAGE_URI"] = config.redis_url or "memory://"
    app.config["RATELIMIT_KEY_PREFIX"] = "tipline-limit"
    # Storage errors come wrapped as limits' StorageError, whatever the backend.
    options: dict[str, object] = {"wrap_exceptions": True}
    if config.redis_url:
        options.update(socket_timeout=REDIS_TIMEOUT_SECONDS,
                       socket_connect_timeout=REDIS_TIMEOUT_SECONDS)  # fmt: skip
    app.config["RATELIMIT_STORAGE_OPTIONS"] = options
    # Submissions count in memory while Redis is down (module docstring); receipt checks
    # never use this fallback.
    app.config["RATELIMIT_IN_MEMORY_FALLBACK_ENABLED"] = True
    limiter.init_app(app)
    # The limiter is module-level and keeps "storage dead" across init_app; a new app has a
    # new storage, which is not known to be dead (one app per process in production, many
    # in the tests).
    limiter._storage_dead = False
