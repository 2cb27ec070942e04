"""What an operator gets from `pip install` of a wheel built from the repository, without
`make` (issue 8): the compiled catalogues, so both sites serve Chinese."""

from __future__ import annotations

import gettext
import io
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tipline._build import compile_catalogues

ROOT = Path(__file__).parents[1]


def source_copy(target: Path) -> Path:
    """The repository's tracked files as they are in the work tree: no .mo files (they are
    build output, ignored by git), no virtualenv, no build directory."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    assert not list(target.rglob("*.mo"))
    return target


def translates(mo: bytes, msgid: str) -> str:
    return gettext.GNUTranslations(io.BytesIO(mo)).gettext(msgid)


@pytest.mark.slow
def test_a_wheel_built_with_pip_holds_the_compiled_catalogues(tmp_path: Path) -> None:
    source = source_copy(tmp_path / "src")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w",
         str(tmp_path / "dist"), str(source)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = (tmp_path / "dist").glob("tipline-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        for lang in ("zh", "en"):
            assert f"tipline/translations/{lang}/LC_MESSAGES/messages.mo" in names, names
        zh = archive.read("tipline/translations/zh/LC_MESSAGES/messages.mo")
        en = archive.read("tipline/translations/en/LC_MESSAGES/messages.mo")
    assert translates(zh, "Your report") == "您的举报"
    assert translates(zh, "There is a problem") == "有问题需要改正"
    assert translates(en, "There is a problem") == "There is a problem"
    # Built into the wheel, not into the source tree.
    assert not list((source / "tipline").rglob("*.mo"))


def test_the_hook_compiles_every_catalogue_and_leaves_out_fuzzy_entries(tmp_path: Path) -> None:
    source = tmp_path / "translations"
    (source / "zh" / "LC_MESSAGES").mkdir(parents=True)
    (source / "zh" / "LC_MESSAGES" / "messages.po").write_text(
        'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
        'msgid "Yes"\nmsgstr "是"\n\n#, fuzzy\nmsgid "No"\nmsgstr "不确定"\n',
        encoding="utf-8",
    )
    (made,) = compile_catalogues(source, tmp_path / "out")
    assert made == tmp_path / "out" / "zh" / "LC_MESSAGES" / "messages.mo"
    assert translates(made.read_bytes(), "Yes") == "是"
    assert translates(made.read_bytes(), "No") == "No"
    with pytest.raises(RuntimeError):
        compile_catalogues(tmp_path / "empty", tmp_path / "out2")
