"""The portal refuses to start if its keys folder holds anything but public key files.

Checked by content (issue 7 item 13): a private key file renamed ``backup.json`` or
``.KEY.JSON``, moved into a subfolder, or reached through a symlink is still refused.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tipline.crypto import public_folder_problems
from tipline.intake.config import Config, ConfigError


def private_file(keys_dir: Path) -> Path:
    return next(keys_dir.glob("*.key.json"))


def public_file(keys_dir: Path) -> Path:
    return next(keys_dir.glob("*.pub.json"))


def fresh_folder(public_keys_dir: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "portal-keys"
    shutil.copytree(public_keys_dir, folder)
    return folder


def _renamed(folder: Path, keys_dir: Path) -> None:
    shutil.copy(private_file(keys_dir), folder / "backup.json")


def _upper_case(folder: Path, keys_dir: Path) -> None:
    shutil.copy(private_file(keys_dir), folder / private_file(keys_dir).name.upper())


def _dot_upper(folder: Path, keys_dir: Path) -> None:
    shutil.copy(private_file(keys_dir), folder / ".KEY.JSON")


def _in_subfolder(folder: Path, keys_dir: Path) -> None:
    (folder / "old").mkdir()
    shutil.copy(private_file(keys_dir), folder / "old" / private_file(keys_dir).name)


def _deep(folder: Path, keys_dir: Path) -> None:
    deep = folder.joinpath(*"abcdefgh")
    deep.mkdir(parents=True)
    shutil.copy(private_file(keys_dir), deep / "x")


def _symlink_to_file(folder: Path, keys_dir: Path) -> None:
    (folder / "extra.pub.json").symlink_to(private_file(keys_dir))


def _symlink_to_folder(folder: Path, keys_dir: Path) -> None:
    (folder / "linked").symlink_to(keys_dir, target_is_directory=True)


def _posing_as_public(folder: Path, keys_dir: Path) -> None:
    # The private document under the public name, with the format field changed.
    document = json.loads(private_file(keys_dir).read_text())
    document["format"] = "tipline-public-key/1"
    public_file(folder).write_text(json.dumps(document))


def _extra_field(folder: Path, keys_dir: Path) -> None:
    document = json.loads(public_file(folder).read_text())
    document["notes"] = "aGlkZGVuIHNlY3JldA=="
    (folder / "second.pub.json").write_text(json.dumps(document))


def _pem(folder: Path, _keys_dir: Path) -> None:
    (folder / "tls.txt").write_text(
        "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VuBCIEIA==\n-----END PRIVATE KEY-----\n"
    )


def _raw_bytes(folder: Path, _keys_dir: Path) -> None:
    (folder / "x25519.bin").write_bytes(os.urandom(32))


def _fifo(folder: Path, _keys_dir: Path) -> None:
    os.mkfifo(folder / "pipe")


def _dangling(folder: Path, _keys_dir: Path) -> None:
    (folder / "gone.pub.json").symlink_to(folder / "nowhere")


SPOILERS = [
    _renamed, _upper_case, _dot_upper, _in_subfolder, _deep, _symlink_to_file,
    _symlink_to_folder, _posing_as_public, _extra_field, _pem, _raw_bytes, _fifo, _dangling,
]  # fmt: skip


@pytest.mark.parametrize("spoil", SPOILERS, ids=[s.__name__.strip("_") for s in SPOILERS])
def test_portal_refuses_a_folder_with_anything_but_public_keys(
    spoil: Callable[[Path, Path], None],
    make_config: Callable[..., Config],
    keys_dir: Path,
    public_keys_dir: Path,
    tmp_path: Path,
) -> None:
    from tipline.portal import create_app

    folder = fresh_folder(public_keys_dir, tmp_path)
    spoil(folder, keys_dir)
    with pytest.raises(ConfigError, match="public key files only"):
        create_app(make_config(keys_dir=folder, key_passphrase=None))


def test_private_key_files_are_named_as_such(keys_dir: Path, public_keys_dir: Path,
                                             tmp_path: Path) -> None:  # fmt: skip
    folder = fresh_folder(public_keys_dir, tmp_path)
    _renamed(folder, keys_dir)
    _in_subfolder(folder, keys_dir)
    problems = public_folder_problems(folder)
    assert len(problems) == 2
    assert all("holds private key material" in problem for problem in problems)


def test_a_folder_of_public_keys_is_accepted_even_with_a_symlink_loop(
    make_config: Callable[..., Config], public_keys_dir: Path, tmp_path: Path
) -> None:
    from tipline.portal import create_app

    folder = fresh_folder(public_keys_dir, tmp_path)
    (folder / "sub").mkdir()
    (folder / "sub" / "loop").symlink_to(folder, target_is_directory=True)
    assert public_folder_problems(folder) == []
    app = create_app(make_config(keys_dir=folder, key_passphrase=None))
    app.extensions["portal"].engine.dispose()
