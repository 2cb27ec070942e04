"""The receipt of a report just stored, between the POST that stored it and the page that
shows it (post/redirect/get, issue 8).

The receipt is sealed (AES-GCM under a key derived from the site's secret, bound to this
purpose) in the session cookie: not a plain signed value, which anyone holding the cookie
could read. Only the server can open it, and only for ``LIFETIME`` seconds, until the
reporter ticks "I have written down my receipt code". Nothing is kept on the server: the
tip row holds no receipt, and nothing in Redis names or dates a tip (DESIGN.md). The
receipt page only ever shows a receipt that this cookie carries, which ``report`` puts there
after the tip is committed: a receipt is shown only for a stored tip.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from dataclasses import dataclass

from flask import current_app, session

from tipline.crypto import InvalidCiphertext, derive_key, open_sealed, seal
from tipline.intake.submit import form_digest

SESSION_KEY = "receipt"
_PURPOSE = "pending-receipt/v1"
# Long enough to find a pen, short enough that a cookie left behind soon opens nothing.
LIFETIME = 30 * 60


@dataclass(frozen=True)
class Pending:
    receipt: str
    form_digest: str | None
    review_days: int | None


def _key() -> bytes:
    return derive_key(current_app.config["SECRET_KEY"].encode(), "portal/pending-receipt")


def keep(receipt: str, form_token: str | None, review_days: int | None) -> None:
    payload = {
        "receipt": receipt,
        "form": form_digest(form_token) if form_token else None,
        "review": review_days,
        "until": int(time.time()) + LIFETIME,
    }
    sealed = seal(_key(), json.dumps(payload).encode(), tip_id="-", purpose=_PURPOSE)
    session[SESSION_KEY] = base64.b64encode(sealed).decode()


def pending() -> Pending | None:
    raw = session.get(SESSION_KEY)
    if not isinstance(raw, str):
        return None
    try:
        payload = json.loads(open_sealed(_key(), base64.b64decode(raw), tip_id="-",
                                         purpose=_PURPOSE))  # fmt: skip
    except (InvalidCiphertext, binascii.Error, ValueError):
        forget()
        return None
    if not isinstance(payload, dict) or payload.get("until", 0) < time.time():
        forget()
        return None
    return Pending(payload["receipt"], payload.get("form"), payload.get("review"))


def forget() -> None:
    session.pop(SESSION_KEY, None)
