"""Field encryption: AES-256-GCM under a tip's own key, bound to the tip and the purpose.

Everything a reporter writes is sealed here (DESIGN.md, "Encryption at rest"). A sealed
blob is ``version (1 byte) || nonce (12 bytes) || ciphertext || tag (16 bytes)``; the
associated data binds the tip id and purpose, so a blob copied to another row or field
does not open.
"""

import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tipline.crypto._encoding import KEY_SIZE, bind, check_key, text
from tipline.crypto.errors import CryptoError, InvalidCiphertext

FORMAT_VERSION = 1
_NONCE_SIZE = 12
_TAG_SIZE = 16
_DOMAIN = b"tipline/field"


def new_tip_key() -> bytes:
    """Return a fresh random 256-bit tip key."""
    return secrets.token_bytes(KEY_SIZE)


def _associated_data(version: int, tip_id: str, purpose: str) -> bytes:
    return bind(_DOMAIN, bytes([version]), text(tip_id), text(purpose))


def seal(key: bytes, plaintext: bytes, *, tip_id: str, purpose: str) -> bytes:
    """Encrypt one field of one tip; ``purpose`` names the field (e.g. "narrative")."""
    check_key(key)
    # Random 96-bit nonces are safe here: one tip key seals a few hundred values at most,
    # far below the 2**32 messages per key at which collisions start to matter.
    nonce = secrets.token_bytes(_NONCE_SIZE)
    sealed = AESGCM(key).encrypt(
        nonce, plaintext, _associated_data(FORMAT_VERSION, tip_id, purpose)
    )
    return bytes([FORMAT_VERSION]) + nonce + sealed


def open_sealed(key: bytes, blob: bytes, *, tip_id: str, purpose: str) -> bytes:
    """Decrypt a field sealed by ``seal`` for the same tip id and purpose.

    Raises InvalidCiphertext if the blob was altered, truncated, moved or sealed under
    another key.
    """
    check_key(key)
    if len(blob) < 1 + _NONCE_SIZE + _TAG_SIZE or blob[0] != FORMAT_VERSION:
        raise InvalidCiphertext("sealed field is malformed")
    nonce = blob[1 : 1 + _NONCE_SIZE]
    try:
        return AESGCM(key).decrypt(
            nonce, blob[1 + _NONCE_SIZE :], _associated_data(blob[0], tip_id, purpose)
        )
    except InvalidTag:
        raise InvalidCiphertext("sealed field does not open: altered, moved or wrong key") from None


def derive_key(secret: bytes, label: str) -> bytes:
    """A 32-byte key for one purpose (``label``) from a longer-lived secret, with HKDF-SHA256.

    Used for keys that live only in a server's configuration, such as the one sealing a
    reporter's signed-in session, so that the configured secret is never used directly.
    """
    if not secret:
        raise CryptoError("a key is derived from a non-empty secret")
    return HKDF(
        algorithm=hashes.SHA256(), length=KEY_SIZE, salt=None, info=text(f"tipline/{label}")
    ).derive(secret)
