"""Build hook: compile the message catalogues into every package built (issue 8).

The .mo files are build output (not in git): `make setup` compiled them, but an operator who
installed a wheel built with pip got none, and both sites served English. setuptools runs
this ``build_py`` for wheels and editable installs alike (pyproject.toml,
``[tool.setuptools.cmdclass]``); Babel is a build requirement there.
"""

from __future__ import annotations

from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from setuptools.command.build_py import build_py as _build_py

TRANSLATIONS = Path(__file__).parent / "translations"
DOMAIN = "messages"


def compile_catalogues(source: Path, target: Path) -> list[Path]:
    """Compile ``source``/<lang>/LC_MESSAGES/messages.po into the same place under
    ``target``; fuzzy entries are left out, as ``pybabel compile`` does. Returns the files."""
    made = []
    for po in sorted(source.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        locale = po.parents[1].name
        with po.open("rb") as file:
            catalogue = read_po(file, locale=locale, domain=DOMAIN)
        mo = target / po.relative_to(source).with_suffix(".mo")
        mo.parent.mkdir(parents=True, exist_ok=True)
        with mo.open("wb") as file:
            write_mo(file, catalogue, use_fuzzy=False)
        made.append(mo)
    if not made:
        raise RuntimeError(f"no message catalogues under {source}")
    return made


class build_py(_build_py):  # noqa: N801 - the name setuptools' command has
    """build_py, then the compiled catalogues beside the .po files."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            # An editable install imports from the source tree: compile there.
            compile_catalogues(TRANSLATIONS, TRANSLATIONS)
        else:
            compile_catalogues(TRANSLATIONS, Path(self.build_lib) / "tipline" / "translations")
