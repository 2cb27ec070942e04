"""The installation's key pairs: wrapping tip keys with HPKE, key rings and key files.

The portal holds public keys only and wraps each new tip key to the newest of them; triage
loads the private keys from passphrase-protected files and unwraps (DESIGN.md, "Encryption
at rest"). The suite is RFC 9180 HPKE with the post-quantum hybrid KEM ML-KEM-768+X25519,
HKDF-SHA256 and AES-256-GCM.

An envelope (a wrapped tip key) is ``magic "TLWK" || version (1 byte) || suite code
(2 bytes) || kid length (1 byte) || kid || HPKE ciphertext``. The header can be read
without any key, so a key ring can pick the right private key and a rotation job can find
envelopes still wrapped to an old key. The HPKE ``info`` binds the suite, the kid and the
tip id, so an envelope whose header was edited, or that was moved to another tip, fails.

A keys directory holds, per key, ``<kid>.pub.json`` (public parts, no secret) and
``<kid>.key.json`` (the private seeds under AES-256-GCM with a key from scrypt of the
operator's passphrase).
"""

import base64
import binascii
import contextlib
import json
import os
import re
import secrets
import stat
import struct
import tempfile
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import mlkem, x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tipline.crypto._encoding import (
    KEY_SIZE,
    bind,
    check_key,
    scrypt,
    scrypt_params_problem,
    text,
)
from tipline.crypto.aead import derive_key
from tipline.crypto.errors import InvalidCiphertext, KeyFileError, WrongPassphrase

SUITE_ID = "MLKEM768X25519/HKDF-SHA256/AES-256-GCM"
# The compact form of SUITE_ID written into every envelope header.
SUITE_CODE = 1

_SUITE = hpke.Suite(hpke.KEM.MLKEM768_X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)

_ENVELOPE_MAGIC = b"TLWK"
_ENVELOPE_VERSION = 1
_ENVELOPE_HEADER = struct.Struct(">4sBHB")  # magic, version, suite code, kid length
_ENVELOPE_LABEL = b"tipline/envelope"

# Kids become file names, so only characters that are safe in a path are allowed.
_KID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}", re.ASCII)
_MLKEM_SEED_SIZE = 64
_MLKEM_PUBLIC_SIZE = 1184
_X25519_SIZE = 32

_PUBLIC_FORMAT = "tipline-public-key/1"
_PRIVATE_FORMAT = "tipline-private-key/1"
_PUBLIC_SUFFIX = ".pub.json"
_PRIVATE_SUFFIX = ".key.json"
_FILE_SALT_SIZE = 16
_FILE_NONCE_SIZE = 12
_FILE_LABEL = b"tipline/key-file"
_SCRYPT_R = 8
_SCRYPT_P = 1


def _check_kid(kid: str) -> None:
    if not _KID_PATTERN.fullmatch(kid):
        raise KeyFileError(f"invalid key id {kid!r}")


def _utc(created: datetime) -> datetime:
    if created.tzinfo is None or created.utcoffset() is None:
        raise KeyFileError("a key's creation time must be timezone-aware")
    return created.astimezone(UTC)


def _hpke_info(kid: str, tip_id: str) -> bytes:
    return bind(
        _ENVELOPE_LABEL,
        bytes([_ENVELOPE_VERSION]),
        SUITE_ID.encode("ascii"),
        kid.encode("ascii"),
        text(tip_id),
    )


def _parse_envelope(envelope: bytes) -> tuple[str, bytes]:
    """Split an envelope into its kid and HPKE ciphertext, checking the header."""
    size = _ENVELOPE_HEADER.size
    if len(envelope) < size:
        raise InvalidCiphertext("envelope is malformed")
    magic, version, suite_code, kid_length = _ENVELOPE_HEADER.unpack_from(envelope)
    if magic != _ENVELOPE_MAGIC or version != _ENVELOPE_VERSION or suite_code != SUITE_CODE:
        raise InvalidCiphertext("envelope is malformed or of an unknown suite")
    kid_bytes = envelope[size : size + kid_length]
    kid = kid_bytes.decode("ascii", "replace")
    if len(kid_bytes) != kid_length or not _KID_PATTERN.fullmatch(kid):
        raise InvalidCiphertext("envelope is malformed")
    return kid, envelope[size + kid_length :]


def envelope_kid(envelope: bytes) -> str:
    """Return the key id an envelope is wrapped to, without decrypting anything."""
    return _parse_envelope(envelope)[0]


@dataclass(frozen=True)
class PublicKey:
    """A public key of the installation, able to wrap tip keys but never to unwrap them."""

    kid: str
    created: datetime
    mlkem768_public: bytes = field(repr=False)
    x25519_public: bytes = field(repr=False)
    _hpke_key: hpke.MLKEM768X25519PublicKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_kid(self.kid)
        object.__setattr__(self, "created", _utc(self.created))
        if (
            len(self.mlkem768_public) != _MLKEM_PUBLIC_SIZE
            or len(self.x25519_public) != _X25519_SIZE
        ):
            raise KeyFileError(f"public key {self.kid} has parts of the wrong size")
        try:
            hpke_key = hpke.MLKEM768X25519PublicKey(
                mlkem.MLKEM768PublicKey.from_public_bytes(self.mlkem768_public),
                x25519.X25519PublicKey.from_public_bytes(self.x25519_public),
            )
        except ValueError:
            raise KeyFileError(f"public key {self.kid} is not a valid key") from None
        object.__setattr__(self, "_hpke_key", hpke_key)

    @property
    def suite(self) -> str:
        return SUITE_ID

    def wrap(self, tip_key: bytes, *, tip_id: str) -> bytes:
        """Wrap a 32-byte tip key for the tip ``tip_id``; returns the envelope."""
        check_key(tip_key)
        kid_bytes = self.kid.encode("ascii")
        header = _ENVELOPE_HEADER.pack(
            _ENVELOPE_MAGIC, _ENVELOPE_VERSION, SUITE_CODE, len(kid_bytes)
        )
        sealed = _SUITE.encrypt(tip_key, self._hpke_key, info=_hpke_info(self.kid, tip_id))
        return header + kid_bytes + sealed


class PrivateKey:
    """A private key of the installation; unwraps envelopes made for its ``public`` half."""

    def __init__(
        self, *, kid: str, created: datetime, mlkem768_seed: bytes, x25519_private: bytes
    ) -> None:
        _check_kid(kid)
        if len(mlkem768_seed) != _MLKEM_SEED_SIZE or len(x25519_private) != _X25519_SIZE:
            raise KeyFileError(f"private key {kid} has parts of the wrong size")
        try:
            mlkem_key = mlkem.MLKEM768PrivateKey.from_seed_bytes(mlkem768_seed)
            x25519_key = x25519.X25519PrivateKey.from_private_bytes(x25519_private)
        except ValueError:
            raise KeyFileError(f"private key {kid} is not a valid key") from None
        self._secret_parts = bytes(mlkem768_seed) + bytes(x25519_private)
        self._hpke_key = hpke.MLKEM768X25519PrivateKey(mlkem_key, x25519_key)
        self.public = PublicKey(
            kid=kid,
            created=created,
            mlkem768_public=mlkem_key.public_key().public_bytes_raw(),
            x25519_public=x25519_key.public_key().public_bytes_raw(),
        )

    @property
    def kid(self) -> str:
        return self.public.kid

    @property
    def created(self) -> datetime:
        return self.public.created

    def __repr__(self) -> str:
        # Never show the secret parts, even in a traceback or a log line.
        return f"PrivateKey(kid={self.kid!r}, created={self.created.isoformat()!r})"

    def derive(self, label: str) -> bytes:
        """A 32-byte symmetric key for one purpose, derived from this key's secret parts.

        Only a holder of the private key file and its passphrase can compute it; the
        public half reveals nothing of it. The kid is bound in, so every key pair of a
        key ring derives a different key.
        """
        return derive_key(self._secret_parts, f"private-key/{self.kid}/{label}")

    def unwrap(self, envelope: bytes, *, tip_id: str) -> bytes:
        """Return the tip key in an envelope wrapped to this key for ``tip_id``."""
        kid, sealed = _parse_envelope(envelope)
        if kid != self.kid:
            raise InvalidCiphertext("envelope is wrapped to another key")
        try:
            tip_key = _SUITE.decrypt(sealed, self._hpke_key, info=_hpke_info(kid, tip_id))
        except (InvalidTag, ValueError):
            raise InvalidCiphertext("envelope does not open: altered, moved or wrong key") from None
        if len(tip_key) != KEY_SIZE:
            raise InvalidCiphertext("envelope holds no tip key")
        return tip_key


def generate_key() -> PrivateKey:
    """Generate a new key pair with a fresh random kid such as ``k-3f9a1c2b``."""
    return PrivateKey(
        kid=f"k-{secrets.token_hex(4)}",
        created=datetime.now(UTC),
        mlkem768_seed=mlkem.MLKEM768PrivateKey.generate().private_bytes_raw(),
        x25519_private=x25519.X25519PrivateKey.generate().private_bytes_raw(),
    )


def _newest(keys: Iterable[PublicKey]) -> PublicKey:
    # The kid breaks ties so the choice never depends on file order.
    return max(keys, key=lambda key: (key.created, key.kid))


_Key = TypeVar("_Key", PublicKey, "PrivateKey")


def _by_kid(keys: Iterable[_Key]) -> dict[str, _Key]:
    found: dict[str, _Key] = {}
    for key in keys:
        if key.kid in found:
            raise KeyFileError(f"key id {key.kid} appears twice")
        found[key.kid] = key
    if not found:
        raise KeyFileError("a key ring needs at least one key")
    return found


class PublicKeyring:
    """The public keys of an installation; new tip keys are wrapped to the newest."""

    def __init__(self, keys: Iterable[PublicKey]) -> None:
        self._keys: dict[str, PublicKey] = _by_kid(keys)
        self.current = _newest(self._keys.values())

    @property
    def kids(self) -> tuple[str, ...]:
        """Key ids, oldest first."""
        ordered = sorted(self._keys.values(), key=lambda key: (key.created, key.kid))
        return tuple(key.kid for key in ordered)

    def get(self, kid: str) -> PublicKey:
        try:
            return self._keys[kid]
        except KeyError:
            raise KeyFileError(f"unknown key id {kid!r}") from None

    def wrap(self, tip_key: bytes, *, tip_id: str) -> bytes:
        """Wrap a tip key to the current (newest) key."""
        return self.current.wrap(tip_key, tip_id=tip_id)


class PrivateKeyring:
    """The private keys of an installation; unwraps envelopes made for any of them."""

    def __init__(self, keys: Iterable[PrivateKey]) -> None:
        self._keys: dict[str, PrivateKey] = _by_kid(keys)

    @property
    def kids(self) -> tuple[str, ...]:
        """Key ids, oldest first."""
        return self.public_keyring().kids

    def get(self, kid: str) -> PrivateKey:
        try:
            return self._keys[kid]
        except KeyError:
            raise KeyFileError(f"unknown key id {kid!r}") from None

    def unwrap(self, envelope: bytes, *, tip_id: str) -> bytes:
        """Unwrap with whichever key the envelope names; unknown kids do not open."""
        key = self._keys.get(envelope_kid(envelope))
        if key is None:
            raise InvalidCiphertext("envelope is wrapped to a key not in this key ring")
        return key.unwrap(envelope, tip_id=tip_id)

    def public_keyring(self) -> PublicKeyring:
        return PublicKeyring(key.public for key in self._keys.values())

    @property
    def current(self) -> PrivateKey:
        """The newest key, the one new tips are wrapped to."""
        return self._keys[self.public_keyring().current.kid]


# --- key files ---------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _check_passphrase(passphrase: str) -> bytes:
    if not passphrase.strip():
        raise KeyFileError("an empty passphrase is not allowed")
    # NFC so a passphrase typed on another system or input method, which may compose
    # characters differently, still opens the file.
    return unicodedata.normalize("NFC", passphrase).encode("utf-8")


def _file_aad(document_format: str, kid: str, created: str) -> bytes:
    return bind(_FILE_LABEL, text(document_format), text(kid), text(SUITE_ID), text(created))


def _public_document(key: PublicKey) -> dict[str, Any]:
    return {
        "format": _PUBLIC_FORMAT,
        "kid": key.kid,
        "suite": SUITE_ID,
        "created": key.created.isoformat(),
        "mlkem768_public": _b64(key.mlkem768_public),
        "x25519_public": _b64(key.x25519_public),
    }


def _dump(document: dict[str, Any]) -> bytes:
    return (json.dumps(document, indent=2) + "\n").encode("utf-8")


def _fsync_directory(directory: Path) -> None:
    # Makes the new directory entry durable; not every platform lets a directory be opened.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_new_file(path: Path, data: bytes, mode: int) -> None:
    """Write a file that must not exist yet, so that it appears complete or not at all."""
    # mkstemp creates the file 0o600, so private bytes never sit in a looser file.
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)
        try:
            # A hard link, unlike os.replace, fails if the target exists, so a key file
            # created meanwhile by someone else is never overwritten.
            os.link(temporary, path)
        except FileExistsError:
            raise KeyFileError(f"{path} already exists; refusing to overwrite it") from None
        except OSError:
            # Filesystems without hard links: checked replace, which is still atomic.
            if path.exists():
                raise KeyFileError(f"{path} already exists; refusing to overwrite it") from None
            os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    _fsync_directory(path.parent)


def write_key_files(
    directory: Path, key: PrivateKey, passphrase: str, *, scrypt_n: int = 2**17
) -> tuple[Path, Path]:
    """Write ``<kid>.pub.json`` and ``<kid>.key.json``; returns (public path, private path).

    The directory is created with mode 0o700 if missing; the private file gets mode
    0o600. Existing files are never overwritten.
    """
    secret = _check_passphrase(passphrase)
    problem = scrypt_params_problem(scrypt_n, _SCRYPT_R, _SCRYPT_P)
    if problem is not None:
        raise KeyFileError(problem)
    directory = Path(directory)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    public_path = directory / f"{key.kid}{_PUBLIC_SUFFIX}"
    private_path = directory / f"{key.kid}{_PRIVATE_SUFFIX}"
    for path in (public_path, private_path):
        if path.exists():
            raise KeyFileError(f"{path} already exists; refusing to overwrite it")

    created = key.created.isoformat()
    salt = secrets.token_bytes(_FILE_SALT_SIZE)
    nonce = secrets.token_bytes(_FILE_NONCE_SIZE)
    file_key = scrypt(secret, salt, n=scrypt_n, r=_SCRYPT_R, p=_SCRYPT_P)
    ciphertext = AESGCM(file_key).encrypt(
        nonce, key._secret_parts, _file_aad(_PRIVATE_FORMAT, key.kid, created)
    )
    private_document = _public_document(key.public) | {
        "format": _PRIVATE_FORMAT,
        "kdf": {
            "name": "scrypt",
            "n": scrypt_n,
            "r": _SCRYPT_R,
            "p": _SCRYPT_P,
            "salt": _b64(salt),
        },
        "nonce": _b64(nonce),
        "ciphertext": _b64(ciphertext),
    }
    # Private first: a public key without its private half would let the portal wrap tip
    # keys that nobody can open, while a private key alone is merely unused.
    _write_new_file(private_path, _dump(private_document), 0o600)
    _write_new_file(public_path, _dump(_public_document(key.public)), 0o644)
    return public_path, private_path


class _Document:
    """Typed access to the fields of a key file, with errors that name the file."""

    def __init__(self, path: Path, expected_format: str) -> None:
        self.path = path
        try:
            loaded = json.loads(path.read_bytes())
        except OSError as error:
            raise KeyFileError(f"cannot read {path}: {error.strerror}") from None
        except ValueError:
            raise KeyFileError(f"{path} is not valid JSON") from None
        if not isinstance(loaded, dict):
            raise KeyFileError(f"{path} is not a key file")
        self.fields: dict[str, Any] = loaded
        if self.string("format") != expected_format:
            raise KeyFileError(f"{path} is not a {expected_format} file")
        if self.string("suite") != SUITE_ID:
            raise KeyFileError(f"{path} uses an unknown suite {self.fields['suite']!r}")

    def error(self, message: str) -> KeyFileError:
        return KeyFileError(f"{self.path}: {message}")

    def string(self, name: str, within: dict[str, Any] | None = None) -> str:
        value = (self.fields if within is None else within).get(name)
        if not isinstance(value, str):
            raise self.error(f"field {name!r} is missing or not a string")
        return value

    def integer(self, name: str, within: dict[str, Any]) -> int:
        value = within.get(name)
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.error(f"field {name!r} is missing or not an integer")
        return value

    def binary(self, name: str, within: dict[str, Any] | None = None) -> bytes:
        try:
            return base64.b64decode(self.string(name, within), validate=True)
        except binascii.Error:
            raise self.error(f"field {name!r} is not base64") from None

    def kid(self, suffix: str) -> str:
        kid = self.string("kid")
        # The kid in the file must be the one in its name, or a renamed file could pose
        # as another key.
        if self.path.name != f"{kid}{suffix}":
            raise self.error(f"file name does not match key id {kid!r}")
        return kid

    def created(self) -> datetime:
        try:
            return datetime.fromisoformat(self.string("created"))
        except ValueError:
            raise self.error("field 'created' is not an ISO 8601 time") from None

    def public_key(self, kid: str) -> PublicKey:
        created = self.created()
        mlkem768_public = self.binary("mlkem768_public")
        x25519_public = self.binary("x25519_public")
        try:
            return PublicKey(kid, created, mlkem768_public, x25519_public)
        except KeyFileError as error:
            raise self.error(str(error)) from None


def _read_public_file(path: Path) -> PublicKey:
    document = _Document(path, _PUBLIC_FORMAT)
    return document.public_key(document.kid(_PUBLIC_SUFFIX))


def _read_private_file(path: Path, secret: bytes) -> PrivateKey:
    document = _Document(path, _PRIVATE_FORMAT)
    kid = document.kid(_PRIVATE_SUFFIX)
    stored_public = document.public_key(kid)
    kdf = document.fields.get("kdf")
    if not isinstance(kdf, dict) or document.string("name", kdf) != "scrypt":
        raise document.error("field 'kdf' must describe scrypt")
    n, r, p = (document.integer(name, kdf) for name in ("n", "r", "p"))
    problem = scrypt_params_problem(n, r, p)
    if problem is not None:
        raise document.error(problem)
    salt = document.binary("salt", kdf)
    nonce = document.binary("nonce")
    if len(salt) < _FILE_SALT_SIZE or len(nonce) != _FILE_NONCE_SIZE:
        raise document.error("salt or nonce has the wrong size")
    file_key = scrypt(secret, salt, n=n, r=r, p=p)
    try:
        secret_parts = AESGCM(file_key).decrypt(
            nonce,
            document.binary("ciphertext"),
            _file_aad(_PRIVATE_FORMAT, kid, document.string("created")),
        )
    except InvalidTag:
        raise WrongPassphrase(
            f"the passphrase does not open {path} (wrong passphrase, or the file was altered)"
        ) from None
    try:
        key = PrivateKey(
            kid=kid,
            created=stored_public.created,
            mlkem768_seed=secret_parts[:_MLKEM_SEED_SIZE],
            x25519_private=secret_parts[_MLKEM_SEED_SIZE:],
        )
    except KeyFileError as error:
        raise document.error(str(error)) from None
    if key.public != stored_public:
        raise document.error("stored public key does not match the private key")
    return key


def _key_paths(directory: Path, suffix: str) -> list[Path]:
    paths = sorted(Path(directory).glob(f"*{suffix}"))
    if not paths:
        raise KeyFileError(f"no {suffix} key files in {directory}")
    return paths


def load_public_keyring(directory: Path) -> PublicKeyring:
    """Load every ``*.pub.json`` in a directory; needs no passphrase."""
    return PublicKeyring(_read_public_file(path) for path in _key_paths(directory, _PUBLIC_SUFFIX))


def load_private_keyring(directory: Path, passphrase: str) -> PrivateKeyring:
    """Load and decrypt every ``*.key.json`` in a directory.

    Raises WrongPassphrase if the passphrase does not open a file, and KeyFileError if
    there is none, one is malformed, or one disagrees with its ``.pub.json`` beside it.
    """
    secret = _check_passphrase(passphrase)
    keys = []
    for path in _key_paths(directory, _PRIVATE_SUFFIX):
        key = _read_private_file(path, secret)
        # The portal wraps to the .pub.json; if it disagreed with the private key, tips
        # would be wrapped to a key nobody holds.
        public_path = path.with_name(f"{key.kid}{_PUBLIC_SUFFIX}")
        if public_path.exists() and _read_public_file(public_path) != key.public:
            raise KeyFileError(f"{public_path} does not match {path}")
        keys.append(key)
    return PrivateKeyring(keys)


# A public key file is a few kilobytes; anything much larger is not one.
_MAX_PUBLIC_FILE = 64 * 1024
# What private key material looks like in any format we or common tools write: our own
# private key files (their format name and encrypted fields), and PEM or OpenSSH keys.
_PRIVATE_MARKERS = (
    _PRIVATE_FORMAT.encode(),
    b'"ciphertext"',
    b'"kdf"',
    b"_private",
    b"_seed",
    b"PRIVATE KEY",
)
_PUBLIC_FIELDS = frozenset(
    ("format", "kid", "suite", "created", "mlkem768_public", "x25519_public")
)


def _public_file_problem(path: Path, size: int) -> str | None:
    """Why the file at ``path`` is not exactly a public key file; None when it is one."""
    try:
        with path.open("rb") as handle:
            data = handle.read(_MAX_PUBLIC_FILE + 1)
    except OSError as error:
        return f"cannot be read ({error.strerror})"
    upper = data.upper()
    if any(marker.upper() in upper for marker in _PRIVATE_MARKERS):
        return "holds private key material"
    if size > _MAX_PUBLIC_FILE or len(data) > _MAX_PUBLIC_FILE:
        return "is too large to be a public key file"
    try:
        loaded = json.loads(data)
    except ValueError:
        return "is not a public key file"
    # Exactly the public fields: a secret cannot ride along under another name.
    if not isinstance(loaded, dict) or set(loaded) != _PUBLIC_FIELDS:
        return "is not a public key file"
    try:
        document = _Document(path, _PUBLIC_FORMAT)
        document.public_key(document.string("kid"))
    except KeyFileError:
        return "is not a valid public key file"
    return None


def public_folder_problems(directory: Path) -> list[str]:
    """Every file in ``directory`` that is not exactly a public key file, with the reason.

    The check reads contents, not names: every file at any depth, whatever its name or
    case, symlinks followed (each directory once, so a loop ends), must be a public key
    file and nothing else. A private key cannot always be told from other bytes (a raw
    X25519 secret is 32 random bytes), so anything that is not a public key file is
    reported, and files that look like private keys say so.
    """
    problems: list[str] = []
    seen: set[tuple[int, int]] = set()
    # An explicit stack, not recursion: the depth of the folder is not ours to choose.
    pending = [Path(directory)]
    while pending:
        path = pending.pop()
        try:
            info = path.stat()  # follows symlinks
        except OSError as error:
            problems.append(f"{path} cannot be read ({error.strerror})")
            continue
        if stat.S_ISDIR(info.st_mode):
            if (info.st_dev, info.st_ino) in seen:
                continue
            seen.add((info.st_dev, info.st_ino))
            try:
                pending.extend(sorted(path.iterdir(), reverse=True))
            except OSError as error:
                problems.append(f"{path} cannot be listed ({error.strerror})")
        elif not stat.S_ISREG(info.st_mode):
            # Never opened: a FIFO or a device could block or hand out anything.
            problems.append(f"{path} is not a regular file")
        else:
            problem = _public_file_problem(path, info.st_size)
            if problem is not None:
                problems.append(f"{path} {problem}")
    return problems


def export_public(directory: Path) -> str:
    """Return the JSON text of the current public key file, to install on the portal."""
    current = load_public_keyring(directory).current
    path = Path(directory) / f"{current.kid}{_PUBLIC_SUFFIX}"
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise KeyFileError(f"cannot read {path}: {error.strerror}") from None
