"""Byte encodings and key derivation shared by the modules of ``tipline.crypto``."""

import hashlib
import struct

from tipline.crypto.errors import CryptoError

KEY_SIZE = 32

# Bounds for scrypt parameters read from files or given by callers: enough headroom for
# future hardening, small enough that a hostile key file cannot ask for gigabytes.
_MAX_SCRYPT_N = 2**20
_MAX_SCRYPT_R = 32
_MAX_SCRYPT_P = 16


def bind(*parts: bytes) -> bytes:
    """Concatenate parts with a 4-byte length before each, so the split is unambiguous.

    Without the lengths, ("ab", "c") and ("a", "bc") would bind the same bytes and a
    ciphertext could be moved between two rows whose ids only differ in where they split.
    """
    return b"".join(struct.pack(">I", len(part)) + part for part in parts)


def text(value: str) -> bytes:
    """Encode an id or label as UTF-8.

    ``surrogatepass`` keeps the encoding total and injective, so a strange id can never
    raise here nor collide with another id.
    """
    return value.encode("utf-8", "surrogatepass")


def scrypt_params_problem(n: int, r: int, p: int) -> str | None:
    """Say what is wrong with scrypt parameters, or return None when they are acceptable."""
    if not (2 <= n <= _MAX_SCRYPT_N) or n & (n - 1):
        return f"scrypt n must be a power of two between 2 and 2**20, not {n}"
    if not 1 <= r <= _MAX_SCRYPT_R:
        return f"scrypt r must be between 1 and {_MAX_SCRYPT_R}, not {r}"
    if not 1 <= p <= _MAX_SCRYPT_P:
        return f"scrypt p must be between 1 and {_MAX_SCRYPT_P}, not {p}"
    return None


def scrypt(secret: bytes, salt: bytes, *, n: int, r: int, p: int) -> bytes:
    """Derive 32 bytes from a low-entropy secret; parameters must have been checked.

    ``hashlib.scrypt`` (OpenSSL's, the same function as ``cryptography``'s) releases the
    GIL while it works, so a served process's threads derive receipts in parallel instead
    of queueing behind one another (measured in bench/submit.py).
    """
    # scrypt needs 128 * n * r * p bytes; allow twice that so OpenSSL never refuses.
    return hashlib.scrypt(
        secret, salt=salt, n=n, r=r, p=p, dklen=32, maxmem=256 * n * r * p + 2**20
    )


def check_key(key: bytes) -> None:
    """Refuse a symmetric key that is not 32 bytes: a bug in the caller, not bad data."""
    if len(key) != KEY_SIZE:
        raise CryptoError(f"a key is {KEY_SIZE} bytes, not {len(key)}")
