"""Field encryption: round trips, tampering, moved ciphertexts, and the package boundary."""

import ast
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tipline.crypto import CryptoError, InvalidCiphertext, new_tip_key, open_sealed, seal

ids = st.text(max_size=20)


def flip(data: bytes, bit: int) -> bytes:
    changed = bytearray(data)
    changed[bit // 8] ^= 1 << (bit % 8)
    return bytes(changed)


def test_new_tip_key_is_32_random_bytes() -> None:
    keys = {new_tip_key() for _ in range(50)}
    assert len(keys) == 50
    assert all(len(key) == 32 for key in keys)


@settings(max_examples=100, deadline=None)
@given(plaintext=st.binary(max_size=300), tip_id=ids, purpose=ids)
def test_round_trip(plaintext: bytes, tip_id: str, purpose: str) -> None:
    key = new_tip_key()
    blob = seal(key, plaintext, tip_id=tip_id, purpose=purpose)
    assert len(blob) == 1 + 12 + len(plaintext) + 16
    assert open_sealed(key, blob, tip_id=tip_id, purpose=purpose) == plaintext


def test_nonces_are_fresh() -> None:
    key = new_tip_key()
    first = seal(key, b"same", tip_id="t1", purpose="narrative")
    second = seal(key, b"same", tip_id="t1", purpose="narrative")
    assert first != second


def test_every_single_bit_flip_is_rejected() -> None:
    key = new_tip_key()
    blob = seal(key, "举报内容 narrative".encode(), tip_id="t1", purpose="narrative")
    for bit in range(len(blob) * 8):
        with pytest.raises(InvalidCiphertext):
            open_sealed(key, flip(blob, bit), tip_id="t1", purpose="narrative")


def test_truncation_and_extension_are_rejected() -> None:
    key = new_tip_key()
    blob = seal(key, b"some text", tip_id="t1", purpose="narrative")
    for end in range(len(blob)):
        with pytest.raises(InvalidCiphertext):
            open_sealed(key, blob[:end], tip_id="t1", purpose="narrative")
    with pytest.raises(InvalidCiphertext):
        open_sealed(key, blob + b"\x00", tip_id="t1", purpose="narrative")


@pytest.mark.parametrize(
    ("tip_id", "purpose"),
    [
        ("t2", "narrative"),
        ("t1", "names"),
        ("t", "1narrative"),  # the same bytes, split elsewhere
        ("t1n", "arrative"),
        ("", "t1narrative"),
    ],
)
def test_moved_ciphertext_is_rejected(tip_id: str, purpose: str) -> None:
    key = new_tip_key()
    blob = seal(key, b"text", tip_id="t1", purpose="narrative")
    with pytest.raises(InvalidCiphertext):
        open_sealed(key, blob, tip_id=tip_id, purpose=purpose)


def test_wrong_key_is_rejected() -> None:
    blob = seal(new_tip_key(), b"text", tip_id="t1", purpose="narrative")
    with pytest.raises(InvalidCiphertext):
        open_sealed(new_tip_key(), blob, tip_id="t1", purpose="narrative")


@settings(max_examples=100, deadline=None)
@given(garbage=st.binary(max_size=100))
def test_garbage_raises_only_invalid_ciphertext(garbage: bytes) -> None:
    with pytest.raises(InvalidCiphertext):
        open_sealed(new_tip_key(), garbage, tip_id="t1", purpose="narrative")


def test_key_of_wrong_length_is_misuse() -> None:
    with pytest.raises(CryptoError):
        seal(b"short", b"text", tip_id="t1", purpose="narrative")
    with pytest.raises(CryptoError):
        open_sealed(b"x" * 16, b"\x01" + b"\x00" * 40, tip_id="t1", purpose="narrative")


def test_crypto_imports_nothing_else_of_ours() -> None:
    # DESIGN.md: crypto is pure; no Flask, no database, nothing of ours outside crypto.
    package = Path(__file__).resolve().parents[2] / "tipline" / "crypto"
    allowed = set(sys.stdlib_module_names) | {"cryptography"}
    for source in package.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] in allowed or name.startswith("tipline.crypto"), (
                    f"{source.name} imports {name}"
                )
