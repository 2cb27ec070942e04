"""The receipt of a report just stored, between the POST that stored it and the page that
shows it (post/redirect/get, issue 8).

The receipt is sealed (AES-GCM under a key derived from the site's secret, bound to this
purpose) in the session cookie: not a plain signed value, which anyone holding the cookie
could read. Only the server can open it, and only for ``LIFETIME`` seconds, until the
reporter ticks "I have written down my receipt code". Nothing is kept on the server: the
tip row holds no receipt, and nothing in Redis names or dates a tip (DESIGN.md). The
receipt page only ever shows a receipt that this cookie carries, which ``report`` puts there
after the tip is committed: a receipt is shown only for a stored tip.

The officers' entry form (triage/tips/views.py) hands a phone or letter reporter's receipt to
its one-time page the same way, in the triage site's own cookie.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from enum import Enum
from typing import Any

from flask import current_app, session

from tipline.crypto import InvalidCiphertext, derive_key, open_sealed, seal
from tipline.intake.submit import form_digest

SESSION_KEY = "receipt"
SENT_KEY = "sent"
_PURPOSE = "pending-receipt/v1"
_SENT_PURPOSE = "sent-forms/v1"
MAX_SENT = 5
# Long enough to find a pen, short enough that a cookie left behind on a shared computer
# soon opens nothing; signing in with the receipt ends it at once.
LIFETIME = 15 * 60


@dataclass(frozen=True)
class Pending:
    receipt: str
    form_digest: str | None
    review_days: int | None
    contents: str | None = None
    # The tip it belongs to, for an officer's entry form only (triage/tips/views.py): the portal
    # never puts a tip's id in a cookie.
    tip_id: str | None = None

    def is_for(self, form_token: str | None, contents: str) -> bool:
        """Whether this is the receipt of that form: its token, or its very contents."""
        token = form_digest(form_token) if form_token else None
        return (token is not None and token == self.form_digest) or contents == self.contents


def _key() -> bytes:
    return derive_key(current_app.config["SECRET_KEY"].encode(), "portal/pending-receipt")


def keep(
    receipt: str,
    form_token: str | None,
    review_days: int | None,
    contents: str,
    tip_id: str | None = None,
) -> None:
    payload = {
        "receipt": receipt,
        "form": form_digest(form_token) if form_token else None,
        "contents": contents,
        "review": review_days,
        "until": int(time.time()) + LIFETIME,
    }
    if tip_id is not None:
        payload["tip"] = tip_id
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
    return Pending(payload["receipt"], payload.get("form"), payload.get("review"),
                   payload.get("contents"), payload.get("tip"))  # fmt: skip


def forget() -> None:
    session.pop(SESSION_KEY, None)


# What this browser sent recently, so that Back and send is recognised even when the
# browser gave the form back with a fresh token (it restores what was typed, not hidden
# values): keyed digests of each form's token and of its contents, sealed in the cookie
# like the receipt, for LIFETIME seconds. The server keeps none of it.


def content_digest(*parts: str) -> str:
    key = derive_key(current_app.config["SECRET_KEY"].encode(), "portal/sent-form")
    return hmac.new(key, "\x1f".join(parts).encode(), hashlib.sha256).hexdigest()


def _sent() -> list[dict[str, Any]]:
    raw = session.get(SENT_KEY)
    if not isinstance(raw, str):
        return []
    try:
        found = json.loads(open_sealed(_key(), base64.b64decode(raw), tip_id="-",
                                       purpose=_SENT_PURPOSE))  # fmt: skip
    except (InvalidCiphertext, binascii.Error, ValueError):
        return []
    now = time.time()
    return [e for e in found if isinstance(e, dict) and e.get("until", 0) >= now]


def remember_sent(form_token: str | None, contents: str) -> None:
    entries = _sent()[-(MAX_SENT - 1):]
    entries.append({"form": form_digest(form_token) if form_token else None,
                    "contents": contents, "until": int(time.time()) + LIFETIME})  # fmt: skip
    sealed = seal(_key(), json.dumps(entries).encode(), tip_id="-", purpose=_SENT_PURPOSE)
    session[SENT_KEY] = base64.b64encode(sealed).decode()


class Seen(Enum):
    NEW = "new"
    SAME = "same"  # these very contents were sent lately: Back and send, or a reload
    EDITED = "edited"  # this form was sent, then changed: Back, rewrite, send


def sent_before(form_token: str | None, contents: str) -> Seen:
    """Whether this browser sent this report lately, or this form with other contents.

    Only the same contents are the same report: a reporter who goes Back and rewrites the
    form into another matter is making a new report, which must be stored (issue 8)."""
    token = form_digest(form_token) if form_token else None
    sent = _sent()
    if any(e.get("contents") == contents for e in sent):
        return Seen.SAME
    if token is not None and any(e.get("form") == token for e in sent):
        return Seen.EDITED
    return Seen.NEW
