"""A reporter signed in with a receipt: what the browser's session keeps, and for how long.

The session cookie holds the tip id and the key the receipt derives, sealed under a key
derived from the site's secret, so the cookie alone opens nothing and the server keeps no
state. It expires after a short idle time; signing out clears it.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass

from flask import current_app, session

from tipline.crypto import InvalidCiphertext, derive_key, open_sealed, seal

SESSION_KEY = "reporter"
IDLE_SECONDS = 30 * 60
_PURPOSE = "reporter-session/v1"


@dataclass(frozen=True)
class SignedIn:
    tip_id: str
    wrap_key: bytes


def _key() -> bytes:
    return derive_key(current_app.config["SECRET_KEY"].encode(), "portal/reporter-session")


def sign_in(tip_id: str, wrap_key: bytes) -> None:
    session.clear()
    _store(SignedIn(tip_id, wrap_key))


def _store(reporter: SignedIn) -> None:
    payload = json.dumps(
        {
            "tip": reporter.tip_id,
            "key": base64.b64encode(reporter.wrap_key).decode(),
            "at": int(time.time()),
        }
    ).encode()
    sealed = seal(_key(), payload, tip_id="-", purpose=_PURPOSE)
    session[SESSION_KEY] = base64.b64encode(sealed).decode()


def current() -> SignedIn | None:
    """The signed-in reporter, refreshing the idle clock; None when absent or expired."""
    raw = session.get(SESSION_KEY)
    if not raw:
        return None
    try:
        payload = json.loads(
            open_sealed(_key(), base64.b64decode(raw), tip_id="-", purpose=_PURPOSE)
        )
    except (InvalidCiphertext, ValueError):
        session.clear()
        return None
    if time.time() - payload["at"] > IDLE_SECONDS:
        session.clear()
        return None
    reporter = SignedIn(payload["tip"], base64.b64decode(payload["key"]))
    _store(reporter)
    return reporter


def sign_out() -> None:
    session.clear()
