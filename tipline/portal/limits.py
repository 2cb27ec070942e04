"""Rate limits on the public site, without keeping anyone's address.

Counters are keyed by an HMAC of the client address under a key derived from the site's
secret, live in Redis (or memory in the embedded default) and expire with their window
(DESIGN.md, "Anonymity").
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress

from flask import Flask, current_app, request
from flask_limiter import Limiter
from limits import parse_many

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


limiter = Limiter(key_func=client_key, strategy="moving-window", headers_enabled=False)


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
    strategy = limiter.limiter
    key = client_key()
    return all(strategy.hit(item, "receipt", key) for item in parse_many(receipt_limit()))


submissions = limiter.shared_limit(submit_limit, scope="submit", methods=["POST"])


def init_limits(app: Flask, config: Config) -> None:
    app.extensions["portal-limit-key"] = derive_key(config.secret_key.encode(), "portal/limit")
    app.config["RATELIMIT_STORAGE_URI"] = config.redis_url or "memory://"
    app.config["RATELIMIT_KEY_PREFIX"] = "tipline-limit"
    limiter.init_app(app)
