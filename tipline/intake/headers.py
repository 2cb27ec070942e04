"""Response headers that carry what a user wrote, made safe for any HTTP server and client.

A header is Latin-1 on the wire and ends at a line break: a reporter's file name such as
``证据.pdf`` made gunicorn answer 500, and a quote, semicolon or CR/LF could end or split
the header (issue 7 item 3). The ASCII fallback plus RFC 6266 / RFC 5987 ``filename*`` is
what werkzeug's ``send_file(download_name=...)`` writes; we add the clean-up a name from a
stranger needs first.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

from werkzeug.datastructures import Headers

# Long enough for any real name; short enough that the header, percent-encoded at up to
# 9 bytes a character, stays far below the 4-8 KiB that proxies and browsers allow.
MAX_NAME_CHARACTERS = 120
_MAX_EXTENSION = 16
_FALLBACK_NAME = "attachment"
# RFC 5987 attr-char, as werkzeug's send_file quotes it.
_ATTR_CHARS = "!#$&+-.^_`|~"
_NOT_PLAIN = re.compile(r"[^A-Za-z0-9._()+-]+")
# Control, format (bidirectional overrides can make "cod.exe" read "exe.doc"), surrogate,
# private-use and unassigned characters, and line and paragraph separators.
_DROPPED = frozenset(("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"))


def display_name(filename: str) -> str:
    """A file name fit to show and to save as: one line, no path, no invisible characters,
    not hidden (no leading dot), at most MAX_NAME_CHARACTERS, extension kept."""
    name = unicodedata.normalize("NFC", filename).replace("\\", "/").rsplit("/", 1)[-1]
    kept = []
    for character in name:
        category = unicodedata.category(character)
        if category in _DROPPED:
            continue
        kept.append(" " if category == "Zs" else character)
    name = " ".join("".join(kept).split()).strip(" .")
    if len(name) > MAX_NAME_CHARACTERS:
        stem, dot, extension = name.rpartition(".")
        if dot and stem and len(extension) <= _MAX_EXTENSION:
            room = MAX_NAME_CHARACTERS - len(extension) - 1
            name = f"{stem[:room].rstrip(' .')}.{extension}"
        else:
            name = name[:MAX_NAME_CHARACTERS].rstrip(" .")
    return name or _FALLBACK_NAME


def ascii_name(name: str) -> str:
    """The closest plain ASCII name, for clients that do not read ``filename*``."""
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem:
        stem, extension = name, ""

    def plain(text: str) -> str:
        folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
        return _NOT_PLAIN.sub("_", folded).strip("._")

    stem, extension = plain(stem), plain(extension)
    if not stem.strip("_"):
        stem = _FALLBACK_NAME
    return f"{stem}.{extension}" if extension else stem


def content_disposition(filename: str, disposition: str = "attachment") -> str:
    """The Content-Disposition value for a download named ``filename``, whatever it holds."""
    name = display_name(filename)
    fallback = ascii_name(name)
    options = {"filename": fallback}
    if fallback != name:
        options["filename*"] = "UTF-8''" + quote(name, safe=_ATTR_CHARS)
    headers = Headers()
    headers.set("Content-Disposition", disposition, **options)
    return headers["Content-Disposition"]


def harden_cookies(headers: Headers, *, secure: bool) -> None:
    """Make every Set-Cookie in ``headers`` HttpOnly and SameSite=Strict, and Secure unless
    the site runs without TLS (TIPLINE_INSECURE_COOKIES=1): DESIGN.md, "Anonymity".

    Flask's own cookies are set that way through its configuration; this catches those an
    extension writes by itself (Flask-Login deletes its remember-me cookie bare) and any
    cookie added later."""
    cookies = headers.getlist("Set-Cookie")
    if not cookies:
        return
    headers.remove("Set-Cookie")
    for cookie in cookies:
        # werkzeug quotes a value holding ";", so the parts split cleanly.
        pair, *parts = (part.strip() for part in cookie.split(";"))
        kept = [
            part
            for part in parts
            if part and part.split("=", 1)[0].strip().lower() not in _ENFORCED_ATTRIBUTES
        ]
        kept += ["HttpOnly", "SameSite=Strict"] + (["Secure"] if secure else [])
        headers.add("Set-Cookie", "; ".join([pair, *kept]))


_ENFORCED_ATTRIBUTES = frozenset(("httponly", "samesite", "secure"))
