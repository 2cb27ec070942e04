"""Streaming encryption of attachments, chunk by chunk, in the STREAM construction.

An attachment is stored as a random 16-byte ``header`` and a sequence of sealed chunks.
Each stream gets its own AES-256-GCM key, derived from the tip key, the header, the tip
id and the stream id. Chunk ``i`` is sealed with the nonce ``i (11 bytes, big-endian) ||
final flag (1 byte)``, so dropping, reordering, repeating or appending chunks, or
splicing in a chunk of another stream, makes opening fail (Hoang, Reyhanitabar, Rogaway
and Vizár, "Online Authenticated-Encryption and its Nonce-Reuse Misuse-Resistance",
CRYPTO 2015). Only generators are used, so memory stays flat whatever the file size.
"""

import secrets
from collections.abc import Iterable, Iterator
from typing import IO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tipline.crypto._encoding import KEY_SIZE, bind, check_key, text
from tipline.crypto.errors import CryptoError, InvalidCiphertext

CHUNK_SIZE = 64 * 1024
HEADER_SIZE = 16
_TAG_SIZE = 16
_COUNTER_SIZE = 11
_MAX_CHUNKS = 2 ** (8 * _COUNTER_SIZE)
_LABEL = b"tipline/stream/v1"


def _stream_cipher(key: bytes, header: bytes, tip_id: str, stream_id: str) -> AESGCM:
    check_key(key)
    # A fresh key per stream means the counter nonces below never repeat under one key,
    # even though every attachment of a tip starts counting at zero.
    stream_key = HKDF(
        algorithm=hashes.SHA256(),
        length=KEY_SIZE,
        salt=header,
        info=bind(_LABEL, text(tip_id), text(stream_id)),
    ).derive(key)
    return AESGCM(stream_key)


def _nonce(counter: int, *, final: bool) -> bytes:
    return counter.to_bytes(_COUNTER_SIZE, "big") + (b"\x01" if final else b"\x00")


class StreamSealer:
    """Seals one attachment; store ``header`` and every chunk it yields, in order."""

    def __init__(self, key: bytes, *, tip_id: str, stream_id: str) -> None:
        self.header = secrets.token_bytes(HEADER_SIZE)
        self._cipher = _stream_cipher(key, self.header, tip_id, stream_id)
        self._counter = 0
        self._finished = False

    def seal_chunk(self, plaintext: bytes, *, final: bool) -> bytes:
        """Seal the next chunk; the last one must have ``final=True``."""
        if self._finished:
            raise CryptoError("the stream is already finished")
        if self._counter >= _MAX_CHUNKS:
            raise CryptoError("too many chunks in one stream")
        sealed = self._cipher.encrypt(_nonce(self._counter, final=final), plaintext, None)
        self._counter += 1
        self._finished = final
        return sealed

    @staticmethod
    def chunk_count(size: int, chunk_size: int = CHUNK_SIZE) -> int:
        """How many chunks ``seal_file`` yields for ``size`` bytes (an empty file has one)."""
        return max(1, -(-size // chunk_size))

    def seal_file(self, fileobj: IO[bytes], chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        """Yield the sealed chunks of a file, read ``chunk_size`` bytes at a time.

        One chunk of look-ahead tells whether the current chunk is the last, so the final
        flag lands on it; an empty file yields one empty final chunk.
        """
        if chunk_size <= 0:
            raise CryptoError("chunk_size must be positive")
        current = fileobj.read(chunk_size)
        while True:
            following = fileobj.read(chunk_size)
            if not following:
                yield self.seal_chunk(current, final=True)
                return
            yield self.seal_chunk(current, final=False)
            current = following


class StreamOpener:
    """Opens the chunks of one attachment sealed by ``StreamSealer``."""

    def __init__(self, key: bytes, header: bytes, *, tip_id: str, stream_id: str) -> None:
        if len(header) != HEADER_SIZE:
            raise InvalidCiphertext("stream header is malformed")
        self._cipher = _stream_cipher(key, bytes(header), tip_id, stream_id)

    def open_chunks(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        """Yield the plaintext of each chunk, in order.

        Raises InvalidCiphertext when a chunk does not open, when anything follows the
        final chunk, or when the chunks end before a final one (truncation). The error can
        come after earlier plaintext was yielded, so a caller must treat everything it
        received as void unless the generator runs to its end without raising.
        """
        finished = False
        for counter, chunk in enumerate(chunks):
            if finished:
                raise InvalidCiphertext("stream has data after its final chunk")
            if len(chunk) < _TAG_SIZE or counter >= _MAX_CHUNKS:
                raise InvalidCiphertext("stream chunk is malformed")
            try:
                plaintext = self._cipher.decrypt(_nonce(counter, final=False), chunk, None)
            except InvalidTag:
                # Only the last chunk should get here; the final flag is part of the nonce,
                # so the one chunk that opens with it set is the end of the stream.
                try:
                    plaintext = self._cipher.decrypt(_nonce(counter, final=True), chunk, None)
                except InvalidTag:
                    raise InvalidCiphertext(
                        "stream chunk does not open: altered, reordered, moved or wrong key"
                    ) from None
                finished = True
            yield plaintext
        if not finished:
            raise InvalidCiphertext("stream ends before its final chunk (truncated)")
