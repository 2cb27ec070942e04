"""Every user-facing string is in both catalogues, translated, and nothing is fuzzy."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

import tipline

TRANSLATIONS = Path(tipline.__file__).parent / "translations"


def catalogue(locale: str) -> dict[str, tuple[str, bool]]:
    """msgid -> (translation, fuzzy); a plural entry under its singular id, with "" unless
    every plural form is translated."""
    with (TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        messages = [m for m in read_po(handle) if m.id]
    found = {}
    for m in messages:
        key = m.id if isinstance(m.id, str) else m.id[0]
        forms = [m.string] if isinstance(m.string, str) else list(m.string)
        found[str(key)] = (str(forms[0]) if all(f.strip() for f in forms) else "", m.fuzzy)
    return found


def extracted() -> set[str]:
    """The message ids in the code and templates now, extracted afresh with babel.cfg."""
    root = Path(tipline.__file__).parents[1]
    with (root / "babel.cfg").open(encoding="utf-8") as handle:
        method_map, options_map = parse_mapping_cfg(handle)
    keywords = {**DEFAULT_KEYWORDS, "N_": None, "lazy_gettext": None, "_l": None}
    return {
        message if isinstance(message, str) else message[0]
        for _, _, message, _, _ in extract_from_dir(
            root / "tipline", method_map, options_map, keywords=keywords
        )
    }


@pytest.mark.parametrize("locale", ["zh", "en"])
def test_catalogue_is_complete(locale: str) -> None:
    entries = catalogue(locale)
    in_code = extracted()
    assert len(in_code) > 100  # the extraction really read the code and templates
    missing = in_code - entries.keys()
    assert not missing, f"run `make extract` and translate: {sorted(missing)}"
    assert not [msgid for msgid, (text, _) in entries.items() if not text.strip()]
    assert not [msgid for msgid, (_, fuzzy) in entries.items() if fuzzy]


def test_chinese_is_really_chinese() -> None:
    entries = catalogue("zh")
    untranslated = [m for m, (text, _) in entries.items() if text == m and m.isascii()]
    assert not untranslated
