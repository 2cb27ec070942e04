"""Cryptographic primitives of the tip portal: pure functions and classes, no I/O policy.

Field encryption (``aead``), wrapping tip keys to the installation's key pairs and the key
files that hold them (``keys``), receipt codes (``receipt``), streaming encryption of
attachments (``stream``) and officers' sealed second factors (``officer``). Nothing here
imports Flask, the database or the rest of
``tipline``; see DESIGN.md, "Encryption at rest".
"""

from tipline.crypto.aead import FORMAT_VERSION, derive_key, new_tip_key, open_sealed, seal
from tipline.crypto.errors import (
    CryptoError,
    InvalidCiphertext,
    KeyFileError,
    MalformedReceipt,
    ReceiptError,
    ReceiptTypo,
    WrongPassphrase,
)
from tipline.crypto.keys import (
    SUITE_CODE,
    SUITE_ID,
    PrivateKey,
    PrivateKeyring,
    PublicKey,
    PublicKeyring,
    envelope_kid,
    export_public,
    generate_key,
    load_private_keyring,
    load_public_keyring,
    public_folder_problems,
    write_key_files,
)
from tipline.crypto.officer import OfficerSecrets
from tipline.crypto.receipt import (
    Receipt,
    ReceiptKdf,
    check_digit,
    new_receipt,
    parse_receipt,
)
from tipline.crypto.stream import CHUNK_SIZE, StreamOpener, StreamSealer

__all__ = [
    "CHUNK_SIZE",
    "FORMAT_VERSION",
    "SUITE_CODE",
    "SUITE_ID",
    "CryptoError",
    "InvalidCiphertext",
    "KeyFileError",
    "MalformedReceipt",
    "OfficerSecrets",
    "PrivateKey",
    "PrivateKeyring",
    "PublicKey",
    "PublicKeyring",
    "Receipt",
    "ReceiptError",
    "ReceiptKdf",
    "ReceiptTypo",
    "StreamOpener",
    "StreamSealer",
    "WrongPassphrase",
    "check_digit",
    "derive_key",
    "envelope_kid",
    "export_public",
    "generate_key",
    "load_private_keyring",
    "load_public_keyring",
    "new_receipt",
    "new_tip_key",
    "open_sealed",
    "parse_receipt",
    "public_folder_problems",
    "seal",
    "write_key_files",
]
