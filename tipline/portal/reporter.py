"""A reporter signed in with a receipt: what the browser's session keeps, and for how long.

The session cookie holds the tip id and the key the receipt derives, sealed under a key
derived from the site's secret, so the cookie alone opens nothing. A session ends after a
short idle time, after an absolute lifetime however busy it is, and at sign-out, for every
copy of the cookie (issue 7 item 10).

Sign-out works by remembering the session's random id, and nothing else, until the
session could have expired anyway: in Redis with that remaining time as its TTL, or in
memory without Redis (the embedded default, one process). The id is drawn afresh at each
sign-in and is not derived from the tip, so the list ties no tip to a time (DESIGN.md,
"Least privilege": nothing in Redis ties a tip to a time). The alternative, a sign-out
counter on the tip's row, would need the portal to update tips and would leave a trace
on the tip of when its reporter was last active.

When Redis cannot be reached, the list cannot be read, so no session is honoured: a copied
cookie whose sign-out is stored there would otherwise work again. The reporter is shown a
503 page instead (``SessionsUnavailable``). Signing out then still clears this browser's
cookie, and the page still answers 503, since the sign-out of other copies was not stored.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from flask import current_app, session
from redis import Redis, RedisError
from werkzeug.exceptions import ServiceUnavailable

from tipline.crypto import InvalidCiphertext, derive_key, open_sealed, seal

SESSION_KEY = "reporter"
IDLE_SECONDS = 30 * 60
_PURPOSE = "reporter-session/v1"
_REDIS_PREFIX = "tipline-signed-out:"

Clock = Callable[[], float]
# A Redis that does not answer must not hold a portal worker for long.
REDIS_TIMEOUT_SECONDS = 2.0


class SessionsUnavailable(ServiceUnavailable):
    """The list of signed-out sessions cannot be read or written: answer 503, grant nothing.

    The page (intake/web.py, ERROR_MESSAGES[503]) says the report is safe and to try later."""


@dataclass(frozen=True)
class SignedIn:
    tip_id: str
    wrap_key: bytes


class SignedOut(Protocol):
    """The ids of sessions signed out before their lifetime ran out."""

    def add(self, session_id: str, seconds: int) -> None: ...

    def __contains__(self, session_id: object) -> bool: ...


class RedisSignedOut:
    """Shared by every portal process: a key per signed-out id, gone when it would expire."""

    def __init__(self, connection: Redis) -> None:
        self.connection = connection

    def add(self, session_id: str, seconds: int) -> None:
        try:
            self.connection.set(_REDIS_PREFIX + session_id, b"", ex=max(1, seconds))
        except RedisError as error:
            raise SessionsUnavailable from error  # the sign-out is not recorded: say so

    def __contains__(self, session_id: object) -> bool:
        try:
            return bool(self.connection.exists(f"{_REDIS_PREFIX}{session_id}"))
        except RedisError as error:
            # Fail closed: an id we cannot look up may have been signed out.
            raise SessionsUnavailable from error


class MemorySignedOut:
    """The embedded default without Redis: this process only."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()

    def add(self, session_id: str, seconds: int) -> None:
        now = self.clock()
        with self._lock:
            # Forget what has expired, so the list stays as small as the sessions alive.
            self._until = {k: v for k, v in self._until.items() if v > now}
            self._until[session_id] = now + max(1, seconds)

    def __contains__(self, session_id: object) -> bool:
        with self._lock:
            until = self._until.get(str(session_id))
        return until is not None and until > self.clock()


@dataclass(frozen=True)
class ReporterSessions:
    secret_key: str
    signed_out: SignedOut
    lifetime: int
    idle: int = IDLE_SECONDS
    clock: Clock = time.time

    @classmethod
    def make(cls, secret_key: str, redis_url: str | None, lifetime: int,
             clock: Clock | None = None) -> ReporterSessions:  # fmt: skip
        clock = clock or time.time
        signed_out: SignedOut = (
            RedisSignedOut(
                Redis.from_url(
                    redis_url, socket_timeout=REDIS_TIMEOUT_SECONDS,
                    socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
                )  # fmt: skip
            )
            if redis_url
            else MemorySignedOut(clock)
        )
        return cls(secret_key, signed_out, lifetime, clock=clock)

    def key(self) -> bytes:
        return derive_key(self.secret_key.encode(), "portal/reporter-session")


def _sessions() -> ReporterSessions:
    sessions: ReporterSessions = current_app.extensions["portal"].reporter_sessions
    return sessions


def sign_in(tip_id: str, wrap_key: bytes) -> None:
    sessions = _sessions()
    session.clear()
    now = int(sessions.clock())
    _store(sessions, {"tip": tip_id, "key": base64.b64encode(wrap_key).decode(),
                      "sid": secrets.token_urlsafe(16), "born": now, "at": now})  # fmt: skip


def _store(sessions: ReporterSessions, payload: dict[str, Any]) -> None:
    sealed = seal(sessions.key(), json.dumps(payload).encode(), tip_id="-", purpose=_PURPOSE)
    session[SESSION_KEY] = base64.b64encode(sealed).decode()


def _payload(sessions: ReporterSessions) -> dict[str, Any] | None:
    """The cookie's sealed payload if it is well formed and still alive, else None."""
    raw = session.get(SESSION_KEY)
    if not raw or not isinstance(raw, str):
        return None
    try:
        payload = json.loads(
            open_sealed(sessions.key(), base64.b64decode(raw), tip_id="-", purpose=_PURPOSE)
        )
    except (InvalidCiphertext, ValueError):
        return None
    if not (
        isinstance(payload, dict)
        and isinstance(payload.get("tip"), str)
        and isinstance(payload.get("key"), str)
        and isinstance(payload.get("sid"), str)
        and isinstance(payload.get("born"), int)
        and isinstance(payload.get("at"), int)
    ):
        return None  # also a cookie from before sessions had an id and a birth time
    now = sessions.clock()
    if now - payload["at"] > sessions.idle or now - payload["born"] > sessions.lifetime:
        return None
    if payload["sid"] in sessions.signed_out:
        return None
    return payload


def current() -> SignedIn | None:
    """The signed-in reporter, refreshing the idle clock; None when absent or expired."""
    sessions = _sessions()
    payload = _payload(sessions)
    if payload is None:
        if SESSION_KEY in session:
            del session[SESSION_KEY]
        return None
    payload["at"] = int(sessions.clock())  # the idle clock only; the lifetime stays
    _store(sessions, payload)
    return SignedIn(payload["tip"], base64.b64decode(payload["key"]))


def sign_out() -> None:
    """End this session for every copy of its cookie, not only for this browser."""
    sessions = _sessions()
    try:
        payload = _payload(sessions)
        if payload is not None:
            remaining = payload["born"] + sessions.lifetime - sessions.clock()
            sessions.signed_out.add(payload["sid"], int(remaining) + 1)
    finally:
        # This browser is signed out whatever happens (a shared computer must not keep the
        # session for the next person); if Redis failed, SessionsUnavailable still reaches
        # the reporter as a 503, since copies elsewhere stay valid until their lifetime.
        session.clear()
