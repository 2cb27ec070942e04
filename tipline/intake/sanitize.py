"""The one place free text is cleaned: plain text in, plain text out, no markup survives.

Jinja's autoescaping covers output; this module makes sure what is stored is text a
reporter typed, not markup someone pasted (STYLE.md point 10).

Sanitising costs far more per character than counting (issue 7: 20 MiB of text took two
minutes of CPU before it was refused as too long), so every caller checks the raw length of
what it was sent first, and this module refuses anything longer than the longest field: a
caller that forgot fails at once instead of burning a core.
"""

from __future__ import annotations

import html
import re
import unicodedata

import bleach

# Control characters other than tab and newline, and the Unicode direction overrides that
# can make a text read differently from what it contains.
# The longest text any field takes (a report, intake.submit.MAX_TEXT).
MAX_INPUT = 20_000


class TextTooLong(ValueError):
    """A caller passed a text it should have refused for its raw length."""


_INVISIBLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069]")


def _strip_markup(text: str) -> str:
    cleaned = bleach.clean(text, tags=set(), attributes={}, strip=True, strip_comments=True)
    return html.unescape(cleaned)


def clean_text(text: str) -> str:
    """Plain text: markup removed, newlines normalised, invisible controls dropped."""
    if len(text) > MAX_INPUT:
        raise TextTooLong(f"{len(text)} characters; check the raw length before cleaning")
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _INVISIBLE.sub("", text)
    # Unescaping can reveal markup that was written as entities (&lt;b&gt;): repeat until
    # nothing changes, so no markup survives in any spelling.
    for _ in range(5):
        stripped = _strip_markup(text)
        if stripped == text:
            break
        text = stripped
    return text.strip()


def clean_line(text: str) -> str:
    """A single line (a file name, a name): clean text with line breaks folded to spaces."""
    return " ".join(clean_text(text).split())
