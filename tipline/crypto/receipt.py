"""Receipt codes: what a reporter keeps to come back, and the keys derived from it.

A code is 24 digits shown as six groups of four: an 8-digit random locator that finds the
tip's row, a 15-digit random secret (10**15 > 2**49, so at least 49 bits), and a Damm check
digit over the first 23 that catches every single mistyped digit and every swap of two
neighbours before the database is asked (DESIGN.md, "Encryption at rest"). The secret is
stretched with scrypt under the tip's own salt into a verifier, which is stored, and a wrap
key for the reporter's copy of the tip key, which is not. The code itself is never stored.
"""

import hmac
import secrets
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tipline.crypto._encoding import KEY_SIZE, bind, scrypt, scrypt_params_problem
from tipline.crypto.errors import CryptoError, MalformedReceipt, ReceiptTypo

LOCATOR_DIGITS = 8
SECRET_DIGITS = 15
CODE_DIGITS = LOCATOR_DIGITS + SECRET_DIGITS + 1
SALT_SIZE = 16

_DIGITS = frozenset("0123456789")

# Damm's totally anti-symmetric quasigroup of order 10 (H. M. Damm, 2004). Running a code
# through it, check digit included, ends in 0 exactly when the code is intact.
_DAMM = (
    (0, 3, 1, 7, 5, 9, 8, 6, 4, 2),
    (7, 0, 9, 2, 1, 5, 4, 8, 6, 3),
    (4, 2, 0, 6, 8, 7, 1, 3, 5, 9),
    (1, 7, 5, 0, 9, 8, 3, 4, 2, 6),
    (6, 1, 2, 3, 0, 4, 5, 9, 7, 8),
    (3, 6, 7, 4, 2, 0, 9, 5, 8, 1),
    (5, 8, 6, 9, 7, 2, 0, 1, 3, 4),
    (8, 9, 4, 5, 3, 6, 2, 0, 1, 7),
    (9, 4, 3, 8, 6, 1, 7, 2, 0, 5),
    (2, 5, 8, 1, 4, 3, 6, 7, 9, 0),
)

# Separators a reporter may type between groups. Chinese input methods in full-width mode
# produce U+3000 (ideographic space) and U+FF0D (full-width hyphen-minus); phones and word
# processors substitute the various Unicode dashes for "-", and a Chinese IME's "——" is
# two em dashes.
_SEPARATORS = frozenset(" \t\r\n-\u00a0\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u3000\uff0d")
_FULL_WIDTH_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")
# Longer input is not a receipt whatever it contains; stop before doing work on it.
_MAX_INPUT = 200

_VERIFIER_INFO = b"tipline/receipt/verifier/v1"
_WRAP_KEY_INFO = b"tipline/receipt/wrap-key/v1"
_SALT_LABEL = b"tipline/receipt/scrypt/v1"


def _damm(digits: str) -> int:
    interim = 0
    for digit in digits:
        interim = _DAMM[interim][ord(digit) - ord("0")]
    return interim


def _is_digits(value: str, length: int | None = None) -> bool:
    return (length is None or len(value) == length) and all(c in _DIGITS for c in value)


def check_digit(digits: str) -> str:
    """Return the Damm check digit of a string of ASCII digits."""
    if not _is_digits(digits):
        raise MalformedReceipt("a check digit is computed over ASCII digits only")
    return str(_damm(digits))


@dataclass(frozen=True)
class Receipt:
    """A receipt code split into its parts; ``secret`` is left out of the repr."""

    locator: str
    secret: str = field(repr=False)

    def __post_init__(self) -> None:
        if not _is_digits(self.locator, LOCATOR_DIGITS):
            raise MalformedReceipt(f"a receipt locator is {LOCATOR_DIGITS} digits")
        if not _is_digits(self.secret, SECRET_DIGITS):
            raise MalformedReceipt(f"a receipt secret is {SECRET_DIGITS} digits")

    @property
    def code(self) -> str:
        """The 24 digits, check digit last."""
        body = self.locator + self.secret
        return body + check_digit(body)

    @property
    def display(self) -> str:
        """The code as six groups of four digits separated by spaces."""
        code = self.code
        return " ".join(code[i : i + 4] for i in range(0, CODE_DIGITS, 4))


def new_receipt() -> Receipt:
    """Draw a new receipt from the CSPRNG; the caller retries if the locator is taken."""
    return Receipt(
        locator=f"{secrets.randbelow(10**LOCATOR_DIGITS):0{LOCATOR_DIGITS}d}",
        secret=f"{secrets.randbelow(10**SECRET_DIGITS):0{SECRET_DIGITS}d}",
    )


def parse_receipt(text: str) -> Receipt:
    """Read a receipt code as a reporter typed it.

    Spaces, hyphens and dashes (half- or full-width) are ignored and full-width digits
    are read as digits. Raises MalformedReceipt if what is left is not 24 digits, and
    ReceiptTypo if the check digit does not match.
    """
    if len(text) > _MAX_INPUT:
        raise MalformedReceipt(f"a receipt code has {CODE_DIGITS} digits")
    normalized = text.translate(_FULL_WIDTH_DIGITS)
    code = "".join(c for c in normalized if c not in _SEPARATORS)
    if not _is_digits(code, CODE_DIGITS):
        raise MalformedReceipt(f"a receipt code has {CODE_DIGITS} digits")
    if _damm(code) != 0:
        raise ReceiptTypo("the receipt code has a typo: a digit is wrong or two are swapped")
    return Receipt(
        locator=code[:LOCATOR_DIGITS],
        secret=code[LOCATOR_DIGITS : LOCATOR_DIGITS + SECRET_DIGITS],
    )


@dataclass(frozen=True)
class ReceiptKdf:
    """Turns a receipt and a tip's salt into a stored verifier and a secret wrap key.

    The scrypt cost applies to every guess an attacker with a stolen database makes, and
    because each tip has its own salt, a guess only ever tests one tip.
    """

    n: int = 2**15
    r: int = 8
    p: int = 1

    def __post_init__(self) -> None:
        problem = scrypt_params_problem(self.n, self.r, self.p)
        if problem is not None:
            raise CryptoError(problem)

    @staticmethod
    def new_salt() -> bytes:
        """A fresh per-tip salt, stored next to the verifier."""
        return secrets.token_bytes(SALT_SIZE)

    def derive(self, receipt: Receipt, salt: bytes) -> tuple[bytes, bytes]:
        """Return ``(verifier, wrap_key)`` for a receipt under a tip's salt."""
        if len(salt) < SALT_SIZE:
            raise CryptoError(f"a receipt salt is at least {SALT_SIZE} bytes")
        # The locator goes into the salt so a verifier cannot be reused for another row.
        stretched = scrypt(
            receipt.secret.encode("ascii"),
            bind(_SALT_LABEL, bytes(salt), receipt.locator.encode("ascii")),
            n=self.n,
            r=self.r,
            p=self.p,
        )
        # Two HKDF outputs under different labels are independent: the verifier, which is
        # stored, says nothing about the wrap key, which is not.
        verifier = _expand(stretched, _VERIFIER_INFO)
        wrap_key = _expand(stretched, _WRAP_KEY_INFO)
        return verifier, wrap_key

    def verify(self, receipt: Receipt, salt: bytes, stored_verifier: bytes) -> bytes | None:
        """Return the wrap key if the receipt matches the stored verifier, else None."""
        verifier, wrap_key = self.derive(receipt, salt)
        if hmac.compare_digest(verifier, stored_verifier):
            return wrap_key
        return None


def _expand(secret: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=KEY_SIZE, salt=None, info=info).derive(secret)
