"""Exceptions raised by ``tipline.crypto``.

Every exception this package raises on purpose is a ``CryptoError``. Anything wrong with
stored ciphertext (tampered, truncated, reordered, moved to another row, opened with the
wrong key, or simply malformed) is reported as the single ``InvalidCiphertext``, so callers
never see ``InvalidTag``, ``ValueError`` or ``struct.error`` from the layers underneath and
an attacker learns nothing from which check failed.
"""


class CryptoError(Exception):
    """Base class; also raised directly for misuse such as a key of the wrong length."""


class InvalidCiphertext(CryptoError):
    """A ciphertext, envelope or stream did not authenticate or is malformed."""


class KeyFileError(CryptoError):
    """A key file is missing, malformed or inconsistent, or a key id is unknown."""


class WrongPassphrase(KeyFileError):
    """The passphrase does not open a private key file."""


class ReceiptError(CryptoError):
    """A receipt code typed by a reporter was not accepted."""


class MalformedReceipt(ReceiptError):
    """The text is not 24 digits (after removing spaces and hyphens)."""


class ReceiptTypo(ReceiptError):
    """The check digit does not match: a digit was mistyped or two were swapped."""
