"""Officers' second factors, sealed at rest under a key only triage can derive.

A TOTP secret in the clear would let anyone who reads the officer table (a backup, or the
portal's database login) mint one-time codes. Each secret is sealed with AES-256-GCM under
a key derived (HKDF-SHA256) from the secret parts of one of the installation's private
keys, so deriving it takes the private key file and its passphrase: the portal, which holds
public keys only, cannot, and it cannot forge a sealed secret either.

A sealed secret is ``magic "TLOS" || version (1 byte) || kid length (1 byte) || kid ||
field blob`` (the format of ``aead.seal``). The kid names the private key the sealing key
was derived from, so secrets sealed before a key rotation still open, and the associated
data binds the officer's id and the purpose, so a blob copied onto another officer's row
does not open.
"""

import struct

from tipline.crypto.aead import open_sealed, seal
from tipline.crypto.errors import InvalidCiphertext, KeyFileError
from tipline.crypto.keys import PrivateKeyring

_MAGIC = b"TLOS"
_VERSION = 1
_HEADER = struct.Struct(">4sBB")  # magic, version, kid length
_LABEL = "officer-secrets"


class OfficerSecrets:
    """Seals and opens officers' secrets (TOTP seeds) with keys derived from a key ring."""

    def __init__(self, keyring: PrivateKeyring) -> None:
        self._keyring = keyring

    @staticmethod
    def _binding(officer_id: int) -> str:
        return f"officer:{officer_id}"

    def seal(self, secret: bytes, *, officer_id: int, purpose: str) -> bytes:
        key = self._keyring.current
        kid = key.kid.encode("ascii")
        blob = seal(key.derive(_LABEL), secret, tip_id=self._binding(officer_id), purpose=purpose)
        return _HEADER.pack(_MAGIC, _VERSION, len(kid)) + kid + blob

    def open(self, sealed: bytes, *, officer_id: int, purpose: str) -> bytes:
        """The secret sealed for this officer and purpose; InvalidCiphertext otherwise."""
        size = _HEADER.size
        if len(sealed) < size:
            raise InvalidCiphertext("sealed secret is malformed")
        magic, version, kid_length = _HEADER.unpack_from(sealed)
        if magic != _MAGIC or version != _VERSION:
            raise InvalidCiphertext("sealed secret is malformed")
        kid = sealed[size : size + kid_length].decode("ascii", "replace")
        try:
            key = self._keyring.get(kid)
        except KeyFileError:
            raise InvalidCiphertext("sealed under a key not in this key ring") from None
        return open_sealed(
            key.derive(_LABEL),
            sealed[size + kid_length :],
            tip_id=self._binding(officer_id),
            purpose=purpose,
        )
