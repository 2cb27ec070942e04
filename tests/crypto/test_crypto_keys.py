"""Wrapping tip keys with HPKE: envelopes, key rings and rotation."""

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tipline.crypto import (
    SUITE_ID,
    CryptoError,
    InvalidCiphertext,
    KeyFileError,
    PrivateKey,
    PrivateKeyring,
    PublicKeyring,
    envelope_kid,
    generate_key,
    new_tip_key,
)


def flip(data: bytes, bit: int) -> bytes:
    changed = bytearray(data)
    changed[bit // 8] ^= 1 << (bit % 8)
    return bytes(changed)


@pytest.fixture(scope="module")
def key() -> PrivateKey:
    return generate_key()


def test_generated_key_has_kid_and_utc_time(key: PrivateKey) -> None:
    assert key.kid.startswith("k-") and len(key.kid) == 10
    int(key.kid[2:], 16)
    assert key.created.tzinfo is not None and key.created.utcoffset() == timedelta(0)
    assert key.public.kid == key.kid and key.public.created == key.created
    assert key.public.suite == SUITE_ID
    assert generate_key().kid != key.kid


def test_repr_hides_secrets(key: PrivateKey) -> None:
    assert key.kid in repr(key)
    assert key._secret_parts.hex()[:16] not in repr(key)
    assert len(repr(key.public)) < 200


@settings(max_examples=25, deadline=None)
@given(tip_id=st.text(max_size=30))
def test_wrap_unwrap_round_trip(key: PrivateKey, tip_id: str) -> None:
    tip_key = new_tip_key()
    envelope = key.public.wrap(tip_key, tip_id=tip_id)
    assert envelope_kid(envelope) == key.kid
    assert key.unwrap(envelope, tip_id=tip_id) == tip_key


def test_envelope_is_randomised(key: PrivateKey) -> None:
    tip_key = new_tip_key()
    assert key.public.wrap(tip_key, tip_id="t1") != key.public.wrap(tip_key, tip_id="t1")


def test_every_single_bit_flip_in_an_envelope_is_rejected(key: PrivateKey) -> None:
    envelope = key.public.wrap(new_tip_key(), tip_id="t1")
    assert 1100 < len(envelope) < 1300
    # Exhaustive: HPKE decryption is fast enough to try all ~9,500 positions.
    for bit in range(len(envelope) * 8):
        with pytest.raises(InvalidCiphertext):
            key.unwrap(flip(envelope, bit), tip_id="t1")


def test_bit_flips_through_a_keyring_are_rejected(key: PrivateKey) -> None:
    ring = PrivateKeyring([key, generate_key()])
    envelope = key.public.wrap(new_tip_key(), tip_id="t1")
    rng = random.Random(1)
    header_bits = range(0, 20 * 8)
    for bit in [*header_bits, *rng.sample(range(len(envelope) * 8), 300)]:
        with pytest.raises(InvalidCiphertext):
            ring.unwrap(flip(envelope, bit), tip_id="t1")


def test_moved_envelope_is_rejected(key: PrivateKey) -> None:
    envelope = key.public.wrap(new_tip_key(), tip_id="t1")
    for other in ["t2", "t10", "", "T1"]:
        with pytest.raises(InvalidCiphertext):
            key.unwrap(envelope, tip_id=other)


def test_truncated_envelope_is_rejected(key: PrivateKey) -> None:
    envelope = key.public.wrap(new_tip_key(), tip_id="t1")
    for end in [*range(0, 40), len(envelope) - 1, len(envelope) - 17]:
        with pytest.raises(InvalidCiphertext):
            key.unwrap(envelope[:end], tip_id="t1")


def test_envelope_for_another_key_is_rejected(key: PrivateKey) -> None:
    other = generate_key()
    envelope = other.public.wrap(new_tip_key(), tip_id="t1")
    with pytest.raises(InvalidCiphertext):
        key.unwrap(envelope, tip_id="t1")
    # Even with the header rewritten to name this key, the HPKE layer refuses.
    forged = envelope.replace(other.kid.encode(), key.kid.encode(), 1)
    with pytest.raises(InvalidCiphertext):
        key.unwrap(forged, tip_id="t1")


@settings(max_examples=100, deadline=None)
@given(garbage=st.binary(max_size=1300))
def test_garbage_raises_only_invalid_ciphertext(key: PrivateKey, garbage: bytes) -> None:
    with pytest.raises(InvalidCiphertext):
        key.unwrap(garbage, tip_id="t1")
    with pytest.raises(InvalidCiphertext):
        PrivateKeyring([key]).unwrap(garbage, tip_id="t1")


def test_garbage_after_a_valid_header_is_rejected(key: PrivateKey) -> None:
    header = key.public.wrap(new_tip_key(), tip_id="t1")[: 9 + len(key.kid)]
    assert envelope_kid(header) == key.kid
    for body in [b"", b"\x00" * 50, b"\xff" * 1168]:
        with pytest.raises(InvalidCiphertext):
            key.unwrap(header + body, tip_id="t1")


def test_wrap_refuses_a_key_of_the_wrong_length(key: PrivateKey) -> None:
    with pytest.raises(CryptoError):
        key.public.wrap(b"short", tip_id="t1")


def test_keyring_rotation() -> None:
    old = generate_key()
    new = generate_key()
    assert new.created > old.created
    public = PublicKeyring([new.public, old.public])
    assert public.current == new.public
    assert public.kids == (old.kid, new.kid)
    assert public.get(old.kid) == old.public

    old_envelope = old.public.wrap(tip_key := new_tip_key(), tip_id="t1")
    new_envelope = public.wrap(tip_key, tip_id="t1")
    assert envelope_kid(new_envelope) == new.kid

    private = PrivateKeyring([old, new])
    assert private.kids == (old.kid, new.kid)
    assert private.unwrap(old_envelope, tip_id="t1") == tip_key
    assert private.unwrap(new_envelope, tip_id="t1") == tip_key
    assert private.public_keyring().current == new.public
    assert private.get(new.kid) is new


def test_keyring_current_is_newest_by_created() -> None:
    base = generate_key().public
    older = replace(base, kid="k-older", created=datetime(2020, 1, 1, tzinfo=UTC))
    newer = replace(base, kid="k-newer", created=datetime(2030, 1, 1, tzinfo=UTC))
    assert PublicKeyring([newer, older]).current.kid == "k-newer"
    assert PublicKeyring([older, newer]).current.kid == "k-newer"


def test_unknown_kid_does_not_open() -> None:
    ring = PrivateKeyring([generate_key()])
    stranger = generate_key()
    envelope = stranger.public.wrap(new_tip_key(), tip_id="t1")
    with pytest.raises(InvalidCiphertext):
        ring.unwrap(envelope, tip_id="t1")
    with pytest.raises(KeyFileError):
        ring.get(stranger.kid)
    with pytest.raises(KeyFileError):
        ring.public_keyring().get(stranger.kid)


def test_keyrings_refuse_empty_and_duplicates(key: PrivateKey) -> None:
    with pytest.raises(KeyFileError):
        PublicKeyring([])
    with pytest.raises(KeyFileError):
        PrivateKeyring([])
    with pytest.raises(KeyFileError):
        PublicKeyring([key.public, key.public])
    with pytest.raises(KeyFileError):
        PrivateKeyring([key, key])


def test_public_key_validation(key: PrivateKey) -> None:
    with pytest.raises(KeyFileError):
        replace(key.public, created=datetime(2024, 1, 1))  # naive
    with pytest.raises(KeyFileError):
        replace(key.public, kid="../etc/passwd")
    with pytest.raises(KeyFileError):
        replace(key.public, x25519_public=b"\x00" * 31)
    with pytest.raises(KeyFileError):
        replace(key.public, mlkem768_public=key.public.mlkem768_public[:-1])


def test_public_key_equality_and_utc(key: PrivateKey) -> None:
    beijing = timezone(timedelta(hours=8))
    moved = replace(key.public, created=datetime(2024, 5, 1, 8, tzinfo=beijing))
    assert moved.created == datetime(2024, 5, 1, 0, tzinfo=UTC)
    assert moved.created.tzinfo is UTC
    assert replace(key.public) == key.public
    assert hash(replace(key.public)) == hash(key.public)
