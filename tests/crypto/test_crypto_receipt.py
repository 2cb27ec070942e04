"""Receipt codes: format, check digit, parsing as typed, and the derived keys."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tipline.crypto import (
    CryptoError,
    MalformedReceipt,
    Receipt,
    ReceiptKdf,
    ReceiptTypo,
    check_digit,
    new_receipt,
    parse_receipt,
)

FAST = ReceiptKdf(n=2**10)

receipts = st.builds(
    Receipt,
    locator=st.integers(0, 10**8 - 1).map(lambda n: f"{n:08d}"),
    secret=st.integers(0, 10**15 - 1).map(lambda n: f"{n:015d}"),
)


def test_secret_has_at_least_49_bits() -> None:
    assert 10**15 > 2**49


def test_new_receipt_shape() -> None:
    receipt = new_receipt()
    assert len(receipt.locator) == 8 and len(receipt.secret) == 15
    assert len(receipt.code) == 24 and receipt.code.isdigit()
    groups = receipt.display.split(" ")
    assert len(groups) == 6 and all(len(group) == 4 for group in groups)
    assert "".join(groups) == receipt.code
    assert len({new_receipt().secret for _ in range(100)}) == 100


def test_repr_hides_the_secret() -> None:
    receipt = new_receipt()
    assert receipt.secret not in repr(receipt)
    assert receipt.locator in repr(receipt)


def test_check_digit_known_value() -> None:
    # The worked example from Damm's algorithm: 572 -> 4.
    assert check_digit("572") == "4"
    assert check_digit("") == "0"
    with pytest.raises(MalformedReceipt):
        check_digit("12a")


@settings(max_examples=200, deadline=None)
@given(receipt=receipts)
def test_every_substitution_and_adjacent_swap_is_a_typo(receipt: Receipt) -> None:
    code = receipt.code
    assert parse_receipt(code) == receipt
    for position in range(24):
        for digit in "0123456789":
            if digit != code[position]:
                typo = code[:position] + digit + code[position + 1 :]
                with pytest.raises(ReceiptTypo):
                    parse_receipt(typo)
    for position in range(23):
        if code[position] != code[position + 1]:
            swapped = code[:position] + code[position + 1] + code[position] + code[position + 2 :]
            with pytest.raises(ReceiptTypo):
                parse_receipt(swapped)


@settings(max_examples=100, deadline=None)
@given(receipt=receipts)
def test_parse_forms(receipt: Receipt) -> None:
    code = receipt.code
    full_width = code.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    groups = [code[i : i + 4] for i in range(0, 24, 4)]
    full_width_groups = [full_width[i : i + 4] for i in range(0, 24, 4)]
    for text in [
        receipt.display,
        "-".join(groups),
        "\u3000".join(full_width_groups),  # full-width digits and ideographic spaces
        "－".join(full_width_groups),
        "——".join(groups),  # what a Chinese IME types for "_" / "-"
        f"  {receipt.display}\n",
        full_width,
    ]:
        assert parse_receipt(text) == receipt


@pytest.mark.parametrize(
    "text",
    [
        "",
        "1234",
        "1234 5678 9012 3456 7890 123",  # 23 digits
        "1234 5678 9012 3456 7890 12345",  # 25 digits
        "1234 5678 9012 3456 7890 123a",
        "1234.5678.9012.3456.7890.1234",
        "١٢٣٤٥٦٧٨٩٠١٢٣٤٥٦٧٨٩٠١٢٣٤",  # Arabic-Indic digits are not accepted
        "①②③④⑤⑥⑦⑧⑨⑩①②③④⑤⑥⑦⑧⑨⑩①②③④",
        "0" * 1000,
    ],
)
def test_malformed(text: str) -> None:
    with pytest.raises(MalformedReceipt):
        parse_receipt(text)


def test_receipt_parts_are_validated() -> None:
    with pytest.raises(MalformedReceipt):
        Receipt(locator="1234567", secret="0" * 15)
    with pytest.raises(MalformedReceipt):
        Receipt(locator="12345678", secret="０" * 15)


def test_kdf_verify() -> None:
    receipt = new_receipt()
    salt = ReceiptKdf.new_salt()
    assert len(salt) == 16 and salt != FAST.new_salt()
    verifier, wrap_key = FAST.derive(receipt, salt)
    assert len(verifier) == 32 and len(wrap_key) == 32
    assert verifier != wrap_key
    assert FAST.derive(receipt, salt) == (verifier, wrap_key)

    assert FAST.verify(parse_receipt(receipt.display), salt, verifier) == wrap_key

    other_secret = Receipt(receipt.locator, f"{(int(receipt.secret) + 1) % 10**15:015d}")
    assert FAST.verify(other_secret, salt, verifier) is None
    other_locator = Receipt(f"{(int(receipt.locator) + 1) % 10**8:08d}", receipt.secret)
    assert FAST.verify(other_locator, salt, verifier) is None
    assert FAST.verify(receipt, ReceiptKdf.new_salt(), verifier) is None
    # Different cost parameters give different keys: they must be stored with the salt.
    assert ReceiptKdf(n=2**11).verify(receipt, salt, verifier) is None


def test_kdf_parameters_are_checked() -> None:
    assert ReceiptKdf() == ReceiptKdf(n=2**15, r=8, p=1)
    for bad in [{"n": 1000}, {"n": 1}, {"r": 0}, {"p": 0}, {"n": 2**30}]:
        with pytest.raises(CryptoError):
            ReceiptKdf(**bad)
    with pytest.raises(CryptoError):
        FAST.derive(new_receipt(), b"short")
