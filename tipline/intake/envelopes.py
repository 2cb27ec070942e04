"""Wrapping content keys to the installation's key pair: one helper for every key we keep.

A tip key, the officers' internal key of a tip, a reporter's identity key and a case key are
all wrapped the same way (HPKE to the intake public key, DESIGN.md "Encryption at rest"),
each bound to the name of what it opens, so an envelope copied onto another row does not
open. Keeping the naming here, in one place, is what lets a later separation of keys per
office re-wrap every kind of key alike: it walks these owners, not four code paths.
"""

from __future__ import annotations

from tipline.crypto import PrivateKeyring, PublicKeyring, envelope_kid


def tip_owner(tip_id: str) -> str:
    return tip_id


def internal_owner(tip_id: str) -> str:
    """The key of what officers write about a tip among themselves (notes, reasons)."""
    return f"{tip_id}/internal"


def identity_owner(tip_id: str) -> str:
    return f"{tip_id}/identity"


def case_owner(case_id: str) -> str:
    # "case/" cannot begin a tip id (hex), so no case envelope opens as a tip's.
    return f"case/{case_id}"


def wrap(keyring: PublicKeyring, key: bytes, owner: str) -> bytes:
    """``key`` in an envelope that only the intake private key opens, for ``owner``."""
    return keyring.wrap(key, tip_id=owner)


def unwrap(keyring: PrivateKeyring, envelope: bytes, owner: str) -> bytes:
    return keyring.unwrap(envelope, tip_id=owner)


def key_id(envelope: bytes) -> str:
    """The id of the key pair an envelope was wrapped to (for rotation)."""
    return envelope_kid(envelope)
