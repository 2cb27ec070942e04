"""Streaming attachment encryption: round trips and every way of breaking a stream."""

import io
from collections.abc import Iterable, Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tipline.crypto import CHUNK_SIZE, CryptoError, InvalidCiphertext, StreamOpener, StreamSealer
from tipline.crypto import new_tip_key as new_key

SMALL = 16


def flip(data: bytes, bit: int) -> bytes:
    changed = bytearray(data)
    changed[bit // 8] ^= 1 << (bit % 8)
    return bytes(changed)


def seal(
    key: bytes, data: bytes, chunk_size: int = SMALL, tip_id: str = "t1", stream_id: str = "a1"
) -> tuple[bytes, list[bytes]]:
    sealer = StreamSealer(key, tip_id=tip_id, stream_id=stream_id)
    chunks = list(sealer.seal_file(io.BytesIO(data), chunk_size=chunk_size))
    return sealer.header, chunks


def open_all(
    key: bytes, header: bytes, chunks: Iterable[bytes], tip_id: str = "t1", stream_id: str = "a1"
) -> bytes:
    opener = StreamOpener(key, header, tip_id=tip_id, stream_id=stream_id)
    return b"".join(opener.open_chunks(chunks))


@pytest.mark.parametrize(
    ("size", "expected_chunks"),
    [(0, 1), (1, 1), (SMALL - 1, 1), (SMALL, 1), (SMALL + 1, 2), (3 * SMALL, 3), (100, 7)],
)
def test_round_trip_sizes(size: int, expected_chunks: int) -> None:
    key = new_key()
    data = bytes(range(256))[:size] if size <= 256 else b"x" * size
    header, chunks = seal(key, data)
    assert len(header) == 16
    assert len(chunks) == expected_chunks
    assert all(len(chunk) <= SMALL + 16 for chunk in chunks)
    assert open_all(key, header, chunks) == data


def test_empty_file_is_one_final_empty_chunk() -> None:
    key = new_key()
    header, chunks = seal(key, b"")
    assert len(chunks) == 1 and len(chunks[0]) == 16
    assert list(StreamOpener(key, header, tip_id="t1", stream_id="a1").open_chunks(chunks)) == [b""]


@settings(max_examples=50, deadline=None)
@given(data=st.binary(max_size=200), chunk_size=st.integers(1, 40))
def test_round_trip(data: bytes, chunk_size: int) -> None:
    key = new_key()
    header, chunks = seal(key, data, chunk_size)
    assert open_all(key, header, chunks) == data


def test_default_chunk_size() -> None:
    key = new_key()
    data = b"\x00" * (2 * CHUNK_SIZE + 5)
    sealer = StreamSealer(key, tip_id="t1", stream_id="a1")
    chunks = list(sealer.seal_file(io.BytesIO(data)))
    assert [len(chunk) for chunk in chunks] == [CHUNK_SIZE + 16, CHUNK_SIZE + 16, 5 + 16]
    assert open_all(key, sealer.header, chunks) == data


def test_seal_chunk_by_hand_and_after_final() -> None:
    key = new_key()
    sealer = StreamSealer(key, tip_id="t1", stream_id="a1")
    chunks = [sealer.seal_chunk(b"one", final=False), sealer.seal_chunk(b"two", final=True)]
    with pytest.raises(CryptoError):
        sealer.seal_chunk(b"three", final=True)
    opener = StreamOpener(key, sealer.header, tip_id="t1", stream_id="a1")
    assert list(opener.open_chunks(chunks)) == [b"one", b"two"]
    assert list(opener.open_chunks(chunks)) == [b"one", b"two"]  # an opener is reusable


def test_streams_are_lazy() -> None:
    # A generator in, a generator out: nothing forces the whole file into memory.
    key = new_key()
    pulled = 0

    class Endless(io.BytesIO):
        def read(self, size: int | None = -1, /) -> bytes:
            nonlocal pulled
            pulled += 1
            return b"\x00" * (size or 0)

    sealer = StreamSealer(key, tip_id="t1", stream_id="a1")
    sealed = sealer.seal_file(Endless(), chunk_size=SMALL)
    opened = StreamOpener(key, sealer.header, tip_id="t1", stream_id="a1").open_chunks(sealed)
    for _ in range(5):
        assert next(opened) == b"\x00" * SMALL
    assert pulled < 20


def test_every_bit_flip_in_header_or_chunks_is_rejected() -> None:
    key = new_key()
    header, chunks = seal(key, b"evidence " * 5, chunk_size=SMALL)
    assert len(chunks) == 3
    for bit in range(len(header) * 8):
        with pytest.raises(InvalidCiphertext):
            open_all(key, flip(header, bit), chunks)
    for index, chunk in enumerate(chunks):
        for bit in range(len(chunk) * 8):
            altered = [*chunks[:index], flip(chunk, bit), *chunks[index + 1 :]]
            with pytest.raises(InvalidCiphertext):
                open_all(key, header, altered)


def test_truncation_is_rejected() -> None:
    key = new_key()
    header, chunks = seal(key, b"x" * 50)
    assert len(chunks) == 4
    for end in range(len(chunks)):
        with pytest.raises(InvalidCiphertext, match="truncated"):
            open_all(key, header, chunks[:end])
    with pytest.raises(InvalidCiphertext):
        open_all(key, header, [*chunks[:-1], chunks[-1][:-1]])


def test_reordering_is_rejected() -> None:
    key = new_key()
    header, chunks = seal(key, bytes(range(64)))
    assert len(chunks) == 4
    for i in range(len(chunks)):
        for j in range(i + 1, len(chunks)):
            swapped = list(chunks)
            swapped[i], swapped[j] = swapped[j], swapped[i]
            with pytest.raises(InvalidCiphertext):
                open_all(key, header, swapped)
    with pytest.raises(InvalidCiphertext):
        open_all(key, header, [chunks[0], *chunks])  # a repeated chunk


def test_chunk_from_another_stream_with_the_same_key_is_rejected() -> None:
    key = new_key()
    header, chunks = seal(key, b"a" * 48)
    _, others = seal(key, b"a" * 48)  # same key, tip id, stream id and plaintext
    for index in range(len(chunks)):
        spliced = [*chunks[:index], others[index], *chunks[index + 1 :]]
        with pytest.raises(InvalidCiphertext):
            open_all(key, header, spliced)


def test_extra_chunk_after_final_is_rejected() -> None:
    key = new_key()
    sealer = StreamSealer(key, tip_id="t1", stream_id="a1")
    chunks = list(sealer.seal_file(io.BytesIO(b"y" * 20), chunk_size=SMALL))
    _, others = seal(key, b"z" * 40)
    for extra in [chunks[-1], chunks[0], others[-1], b"\x00" * 32]:
        with pytest.raises(InvalidCiphertext, match="after its final"):
            open_all(key, sealer.header, [*chunks, extra])


def test_final_chunk_of_a_longer_stream_is_not_accepted_early() -> None:
    # Two streams that only differ in length: the shorter one's final flag sits on chunk 1.
    key = new_key()
    header, chunks = seal(key, b"q" * 40)
    with pytest.raises(InvalidCiphertext):
        open_all(key, header, chunks[:2])


@pytest.mark.parametrize(
    ("tip_id", "stream_id"), [("t2", "a1"), ("t1", "a2"), ("t1a", "1"), ("", "t1a1")]
)
def test_moved_stream_is_rejected(tip_id: str, stream_id: str) -> None:
    key = new_key()
    header, chunks = seal(key, b"evidence", tip_id="t1", stream_id="a1")
    with pytest.raises(InvalidCiphertext):
        open_all(key, header, chunks, tip_id=tip_id, stream_id=stream_id)


def test_wrong_key_is_rejected() -> None:
    header, chunks = seal(new_key(), b"evidence")
    with pytest.raises(InvalidCiphertext):
        open_all(new_key(), header, chunks)


@settings(max_examples=100, deadline=None)
@given(header=st.binary(max_size=40), chunks=st.lists(st.binary(max_size=40), max_size=4))
def test_garbage_raises_only_invalid_ciphertext(header: bytes, chunks: list[bytes]) -> None:
    with pytest.raises(InvalidCiphertext):
        open_all(new_key(), header, chunks)


def test_misuse() -> None:
    with pytest.raises(CryptoError):
        StreamSealer(b"short", tip_id="t1", stream_id="a1")
    sealer = StreamSealer(new_key(), tip_id="t1", stream_id="a1")
    with pytest.raises(CryptoError):
        next(sealer.seal_file(io.BytesIO(b"data"), chunk_size=0))


def chunks_then_fail() -> Iterator[bytes]:
    yield b"\x00" * 40
    raise AssertionError("never reached: the first chunk already fails")


def test_failure_stops_before_pulling_more_input() -> None:
    key = new_key()
    header, _ = seal(key, b"")
    with pytest.raises(InvalidCiphertext):
        open_all(key, header, chunks_then_fail())
