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
import math
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from flask import Flask, Response, current_app, g, make_response, request
from flask_babel import gettext
from flask_limiter import Limiter
from limits import RateLimitItem, parse_many
from limits.errors import StorageError
from limits.strategies import STRATEGIES
from werkzeug.exceptions import ServiceUnavailable, TooManyRequests
from werkzeug.wrappers import Response as BaseResponse

from tipline.crypto import derive_key
from tipline.intake.config import Config
from tipline.intake.web import render_error

# How much of the address space one subscriber holds. End sites get a /48 to a /56 (RFC
# 6177), and Chinese broadband often delegates a /60 or a /56; a /64 key gave one of them
# 16 to 256 budgets. So a budget is per /56 (some /60 customers then share one), and every
# /48 has a second, wider budget, so that the 256 /56s of one site add up to at most
# SITE_FACTOR budgets rather than 256.
IPV6_PREFIX = 56
IPV6_SITE_PREFIX = 48
SITE_FACTOR = 16
# NAT64's well-known prefix (RFC 6052): the last 32 bits are the client's IPv4 address.
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def client_address(remote_addr: str | None) -> Address | None:
    """The client's address, as the IPv4 address it stands for when it is an IPv6 address
    that embeds one: IPv4-mapped (::ffff:a.b.c.d), 6to4 (2002::/16, where one IPv4 address
    owns 65,536 /64s), Teredo (2001::/32, the client's public address) and NAT64
    (64:ff9b::/96). None when it is no address at all."""
    try:
        address = ipaddress.ip_address((remote_addr or "").split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv4Address):
        return address
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)
    return address


def client_bucket(remote_addr: str | None) -> str:
    """The part of a client address that one client controls as a whole: an IPv4 address
    (also when an IPv6 address embeds it, see ``client_address``) or an IPv6 /56; else the
    text as is."""
    address = client_address(remote_addr)
    if address is None:
        return remote_addr or ""
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, IPV6_PREFIX), strict=False))
    return str(address)


def site_bucket(remote_addr: str | None) -> str | None:
    """The IPv6 /48 a client is in, which has the wider budget; None for IPv4 clients
    (also embedded), which have the one budget of their address."""
    address = client_address(remote_addr)
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    return str(ipaddress.IPv6Network((address, IPV6_SITE_PREFIX), strict=False))


def scaled(limit: str, factor: int) -> str:
    """``limit`` (as in TIPLINE_SUBMIT_LIMIT) with every amount multiplied by ``factor``,
    so the configured limits govern the wider budgets too."""
    return ";".join(
        f"{item.amount * factor} per {item.multiples} {item.GRANULARITY.name}"
        for item in parse_many(limit)
    )


def _hmac(bucket: str) -> str:
    key = current_app.extensions["portal-limit-key"]
    return hmac.new(key, bucket.encode(), hashlib.sha256).hexdigest()[:32]


def client_key() -> str:
    return _hmac(client_bucket(request.remote_addr))


def site_key() -> str:
    return _hmac(site_bucket(request.remote_addr) or client_bucket(request.remote_addr))


def outside_an_ipv6_site() -> bool:
    return site_bucket(request.remote_addr) is None


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


def site_submit_limit() -> str:
    return scaled(submit_limit(), SITE_FACTOR)


def site_receipt_limit() -> str:
    return scaled(receipt_limit(), SITE_FACTOR)


def receipt_budgets() -> list[tuple[RateLimitItem, str, str]]:
    """Each (limit, scope, key) one receipt check counts against: the client's, then for
    IPv6 its /48's."""
    budgets = [(item, "receipt", client_key()) for item in parse_many(receipt_limit())]
    if not outside_an_ipv6_site():
        site = site_key()
        budgets += [(item, "receipt-site", site) for item in parse_many(site_receipt_limit())]
    return budgets


def spend_receipt_attempt() -> bool:
    """Count one receipt check against the client's budget, before the scrypt runs; False
    when the budget is spent (the answer is then 429, even for a right receipt).

    Counted atomically up front, so parallel requests cannot all slip under the limit while
    their derivations run; typos caught by the check digit never get here and are free."""
    # The shared storage itself, never flask-limiter's in-memory fallback (module docstring).
    strategy = STRATEGIES[STRATEGY](limiter.storage)
    try:
        for item, scope, key in receipt_budgets():
            if not strategy.hit(item, scope, key):
                g.retry_after = strategy.get_window_stats(item, scope, key).reset_time
                return False
        return True
    except StorageError as error:
        raise LimitsUnavailable from error


def retry_after_seconds() -> int:
    """How long until the spent budget of this request allows another try (at least 1 s)."""
    reset_at = g.get("retry_after")
    if reset_at is None:
        try:
            current = limiter.current_limit
            reset_at = current.reset_at if current is not None else None
        except (StorageError, AttributeError):
            reset_at = None
    if reset_at is None:
        return 60
    return max(1, math.ceil(reset_at - time.time()))


def wait_words(seconds: int) -> str:
    """``seconds`` as a reporter reads it: whole minutes, or seconds under a minute."""
    if seconds < 60:
        return gettext("%(num)s seconds", num=seconds)
    minutes = math.ceil(seconds / 60)
    if minutes == 1:
        return gettext("one minute")
    return gettext("%(num)s minutes", num=minutes)


def too_many(_error: Exception) -> tuple[str | Response, int] | BaseResponse:
    """429 saying how long to wait (issue 8); ``Retry-After`` for every caller (RFC 9110)."""
    seconds = retry_after_seconds()
    message = gettext("Too many attempts from your network. Please wait %(wait)s and try again.",
                      wait=wait_words(seconds))  # fmt: skip
    body, status = render_error(429, message, "rate_limited")
    response = make_response(body, status)
    response.headers["Retry-After"] = str(seconds)
    return response


_client_submissions = limiter.shared_limit(submit_limit, scope="submit", methods=["POST"])
_site_submissions = limiter.shared_limit(
    site_submit_limit, scope="submit-site", key_func=site_key, methods=["POST"],
    exempt_when=outside_an_ipv6_site,
)  # fmt: skip

P = ParamSpec("P")
R = TypeVar("R")


def submissions(view: Callable[P, R]) -> Callable[P, R]:
    """The submit budgets: the client's, and for IPv6 its /48's."""
    return _site_submissions(_client_submissions(view))


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
    app.register_error_handler(TooManyRequests, too_many)
    # The limiter is module-level and keeps "storage dead" across init_app; a new app has a
    # new storage, which is not known to be dead (one app per process in production, many
    # in the tests).
    limiter._storage_dead = False
