"""Key files: writing, loading with and without the passphrase, and refusing bad files."""

import json
import stat
from pathlib import Path

import pytest

from tipline.crypto import (
    KeyFileError,
    PrivateKey,
    WrongPassphrase,
    envelope_kid,
    export_public,
    generate_key,
    load_private_keyring,
    load_public_keyring,
    new_tip_key,
    write_key_files,
)

PASSPHRASE = "correct horse 电池 staple"
FAST = 2**10  # scrypt cost for tests; production default is 2**17


def write(directory: Path, key: PrivateKey, passphrase: str = PASSPHRASE) -> tuple[Path, Path]:
    return write_key_files(directory, key, passphrase, scrypt_n=FAST)


@pytest.fixture
def keys_dir(tmp_path: Path) -> Path:
    return tmp_path / "instance" / "keys"


def test_write_and_load(keys_dir: Path) -> None:
    key = generate_key()
    public_path, private_path = write(keys_dir, key)
    assert public_path == keys_dir / f"{key.kid}.pub.json"
    assert private_path == keys_dir / f"{key.kid}.key.json"

    public = load_public_keyring(keys_dir)
    assert public.current == key.public
    envelope = public.wrap(tip_key := new_tip_key(), tip_id="t1")

    private = load_private_keyring(keys_dir, PASSPHRASE)
    assert private.kids == (key.kid,)
    assert private.unwrap(envelope, tip_id="t1") == tip_key


def test_file_contents(keys_dir: Path) -> None:
    key = generate_key()
    public_path, private_path = write(keys_dir, key)
    public = json.loads(public_path.read_text())
    private = json.loads(private_path.read_text())
    assert public["kid"] == private["kid"] == key.kid
    assert public["suite"] == private["suite"] == "MLKEM768X25519/HKDF-SHA256/AES-256-GCM"
    assert public["created"] == private["created"] == key.created.isoformat()
    assert private["kdf"]["name"] == "scrypt" and private["kdf"]["n"] == FAST
    assert {"format", "nonce", "ciphertext", "mlkem768_public", "x25519_public"} <= set(private)
    assert "ciphertext" not in public and "kdf" not in public
    # No secret part of the key appears in either file in the clear.
    secret = key._secret_parts
    for path in (public_path, private_path):
        raw = path.read_bytes()
        assert secret[:16] not in raw and secret[64:80] not in raw
        assert secret[:16].hex().encode() not in raw


def test_modes(keys_dir: Path) -> None:
    _, private_path = write(keys_dir, generate_key())
    assert stat.S_IMODE(private_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(keys_dir.stat().st_mode) & 0o077 == 0
    assert not [p for p in keys_dir.iterdir() if p.name.startswith(".")]  # no temp files left


def test_wrong_passphrase(keys_dir: Path) -> None:
    write(keys_dir, generate_key())
    with pytest.raises(WrongPassphrase, match="passphrase"):
        load_private_keyring(keys_dir, "wrong horse")


def test_passphrase_unicode_normalisation(keys_dir: Path) -> None:
    write(keys_dir, generate_key(), passphrase="caf\u00e9")
    load_private_keyring(keys_dir, "cafe\u0301")


def test_empty_passphrase_refused(keys_dir: Path) -> None:
    with pytest.raises(KeyFileError):
        write(keys_dir, generate_key(), passphrase="")
    write(keys_dir, generate_key())
    with pytest.raises(KeyFileError):
        load_private_keyring(keys_dir, "")


def test_refuses_to_overwrite(keys_dir: Path) -> None:
    key = generate_key()
    public_path, private_path = write(keys_dir, key)
    before = (public_path.read_bytes(), private_path.read_bytes())
    with pytest.raises(KeyFileError, match="exists"):
        write(keys_dir, key)
    private_path.unlink()
    with pytest.raises(KeyFileError, match="exists"):
        write(keys_dir, key)  # the public file alone is enough to refuse
    assert public_path.read_bytes() == before[0]
    assert not private_path.exists()


def test_rotation_through_files(keys_dir: Path) -> None:
    old = generate_key()
    write(keys_dir, old)
    old_envelope = load_public_keyring(keys_dir).wrap(tip_key := new_tip_key(), tip_id="t1")

    new = generate_key()
    write(keys_dir, new)
    public = load_public_keyring(keys_dir)
    assert public.current.kid == new.kid
    assert set(public.kids) == {old.kid, new.kid}
    new_envelope = public.wrap(tip_key, tip_id="t1")
    assert envelope_kid(new_envelope) == new.kid

    private = load_private_keyring(keys_dir, PASSPHRASE)
    assert private.unwrap(old_envelope, tip_id="t1") == tip_key
    assert private.unwrap(new_envelope, tip_id="t1") == tip_key

    exported = json.loads(export_public(keys_dir))
    assert exported["kid"] == new.kid and "ciphertext" not in exported


def test_public_only_directory_cannot_unwrap(tmp_path: Path) -> None:
    # The portal's directory: only the .pub.json is installed there.
    triage, portal = tmp_path / "triage", tmp_path / "portal"
    key = generate_key()
    public_path, _ = write(triage, key)
    portal.mkdir()
    (portal / public_path.name).write_text(export_public(triage))
    envelope = load_public_keyring(portal).wrap(new_tip_key(), tip_id="t1")
    assert envelope_kid(envelope) == key.kid
    with pytest.raises(KeyFileError):
        load_private_keyring(portal, PASSPHRASE)


def test_missing_or_empty_directory(tmp_path: Path) -> None:
    for directory in (tmp_path / "absent", tmp_path):
        with pytest.raises(KeyFileError):
            load_public_keyring(directory)
        with pytest.raises(KeyFileError):
            load_private_keyring(directory, PASSPHRASE)
        with pytest.raises(KeyFileError):
            export_public(directory)


def edit(path: Path, **changes: object) -> None:
    document = json.loads(path.read_text())
    document.update(changes)
    path.write_text(json.dumps(document))


@pytest.mark.parametrize(
    "changes",
    [
        {"format": "something-else"},
        {"suite": "X25519/HKDF-SHA256/AES-128-GCM"},
        {"kid": "k-00000000"},
        {"created": "yesterday"},
        {"created": "2024-01-01T00:00:00"},
        {"x25519_public": "not base64!"},
        {"mlkem768_public": "AAAA"},
        {"kid": None},
    ],
)
def test_malformed_public_file(keys_dir: Path, changes: dict[str, object]) -> None:
    public_path, _ = write(keys_dir, generate_key())
    edit(public_path, **changes)
    with pytest.raises(KeyFileError):
        load_public_keyring(keys_dir)


@pytest.mark.parametrize(
    "changes",
    [
        {"format": "tipline-public-key/1"},
        {"kdf": {"name": "pbkdf2"}},
        {"kdf": {"name": "scrypt", "n": 3, "r": 8, "p": 1, "salt": "AAAAAAAAAAAAAAAAAAAAAA=="}},
        {"kdf": {"name": "scrypt", "n": 2**30, "r": 8, "p": 1, "salt": "AAAAAAAAAAAAAAAAAAAAAA=="}},
        {"kdf": "scrypt"},
        {"nonce": "AAAA"},
        {"ciphertext": 5},
        {"kid": "k-00000000"},
    ],
)
def test_malformed_private_file(keys_dir: Path, changes: dict[str, object]) -> None:
    _, private_path = write(keys_dir, generate_key())
    edit(private_path, **changes)
    with pytest.raises(KeyFileError):
        load_private_keyring(keys_dir, PASSPHRASE)


def test_altered_private_file_does_not_open(keys_dir: Path) -> None:
    # The creation time is bound to the ciphertext: changing it is caught like a wrong
    # passphrase (AES-GCM cannot tell the two apart).
    key = generate_key()
    _, private_path = write(keys_dir, key)
    edit(private_path, created="2001-01-01T00:00:00+00:00")
    with pytest.raises(WrongPassphrase):
        load_private_keyring(keys_dir, PASSPHRASE)


def test_public_parts_must_match_private(keys_dir: Path) -> None:
    key, other = generate_key(), generate_key()
    public_path, private_path = write(keys_dir, key)
    other_public = json.loads(write(keys_dir / "other", other)[0].read_text())

    # In the private file itself.
    original = private_path.read_text()
    edit(private_path, x25519_public=other_public["x25519_public"])
    with pytest.raises(KeyFileError, match="does not match"):
        load_private_keyring(keys_dir, PASSPHRASE)
    private_path.write_text(original)

    # And in the .pub.json beside it, which the portal would wrap to.
    edit(public_path, mlkem768_public=other_public["mlkem768_public"])
    with pytest.raises(KeyFileError, match="does not match"):
        load_private_keyring(keys_dir, PASSPHRASE)


def test_not_json(keys_dir: Path) -> None:
    keys_dir.mkdir(parents=True)
    (keys_dir / "k-1.pub.json").write_text("{")
    (keys_dir / "k-1.key.json").write_text("[]")
    with pytest.raises(KeyFileError):
        load_public_keyring(keys_dir)
    with pytest.raises(KeyFileError):
        load_private_keyring(keys_dir, PASSPHRASE)


def test_bad_scrypt_cost_refused(keys_dir: Path) -> None:
    with pytest.raises(KeyFileError):
        write_key_files(keys_dir, generate_key(), PASSPHRASE, scrypt_n=1000)
