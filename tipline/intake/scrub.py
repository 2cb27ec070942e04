"""Remove identifying metadata from evidence files before they are encrypted.

JPEG and PNG are filtered segment by segment, losslessly: the picture's bytes are kept and
the EXIF (camera, GPS position, time), XMP, IPTC, ICC and comment blocks are dropped. Other
image formats Pillow reads are redrawn from their pixels alone. Files of other types pass
through unchanged (documents are handled by the attachment pipeline of a later release).
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from typing import BinaryIO

from PIL import Image, UnidentifiedImageError


class ScrubError(Exception):
    """The file claims to be an image but cannot be read as one."""


@dataclass(frozen=True)
class Scrubbed:
    data: BinaryIO
    kind: str  # jpeg, png, image, other
    removed: int  # metadata blocks removed (or 1 when redrawn)


_JPEG_KEEP_APP = {0xE0, 0xEE}  # JFIF and Adobe (colour transform), nothing about the author
_PNG_DROP = {b"tEXt", b"zTXt", b"iTXt", b"eXIf", b"tIME", b"iCCP"}
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _jpeg(source: BinaryIO) -> Scrubbed:
    out = io.BytesIO()
    if source.read(2) != b"\xff\xd8":
        raise ScrubError("not a JPEG")
    out.write(b"\xff\xd8")
    removed = 0
    while True:
        marker = source.read(2)
        if len(marker) < 2 or marker[0] != 0xFF:
            raise ScrubError("truncated or corrupt JPEG")
        code = marker[1]
        if code == 0xD9:  # end of image
            out.write(marker)
            break
        if code == 0x01 or 0xD0 <= code <= 0xD7:  # markers without a length
            out.write(marker)
            continue
        length_bytes = source.read(2)
        if len(length_bytes) < 2:
            raise ScrubError("truncated JPEG")
        (length,) = struct.unpack(">H", length_bytes)
        payload = source.read(length - 2)
        if len(payload) < length - 2:
            raise ScrubError("truncated JPEG")
        if (0xE1 <= code <= 0xEF and code not in _JPEG_KEEP_APP) or code == 0xFE:
            removed += 1
            continue
        out.write(marker + length_bytes + payload)
        if code == 0xDA:
            # Start of scan: entropy-coded data follows up to the end; copy it as it is.
            while block := source.read(64 * 1024):
                out.write(block)
            break
    out.seek(0)
    return Scrubbed(out, "jpeg", removed)


def _png(source: BinaryIO) -> Scrubbed:
    out = io.BytesIO()
    if source.read(8) != _PNG_SIGNATURE:
        raise ScrubError("not a PNG")
    out.write(_PNG_SIGNATURE)
    removed = 0
    while True:
        header = source.read(8)
        if len(header) < 8:
            raise ScrubError("truncated PNG")
        length, kind = struct.unpack(">I4s", header)
        body = source.read(length + 4)  # data and CRC
        if len(body) < length + 4:
            raise ScrubError("truncated PNG")
        if kind in _PNG_DROP:
            removed += 1
        else:
            out.write(header + body)
        if kind == b"IEND":
            break
    out.seek(0)
    return Scrubbed(out, "png", removed)


def _redraw(source: BinaryIO) -> Scrubbed | None:
    try:
        with Image.open(source) as image:
            image_format = image.format
            image.load()
            # Only the pixels cross over: no info dictionary, no EXIF, no XMP.
            clean = Image.frombytes(image.mode, image.size, image.tobytes())
            if image.mode == "P" and image.palette is not None:
                clean.putpalette(image.getpalette() or [])
    except UnidentifiedImageError:
        return None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ScrubError(f"unreadable image: {exc}") from exc
    out = io.BytesIO()
    clean.save(out, format=image_format)
    out.seek(0)
    return Scrubbed(out, "image", 1)


def scrub(source: BinaryIO) -> Scrubbed:
    """Return the file without metadata; the kind is decided by content, not by name."""
    start = source.read(8)
    source.seek(0)
    if start.startswith(b"\xff\xd8\xff"):
        return _jpeg(source)
    if start == _PNG_SIGNATURE:
        return _png(source)
    if start[:4] in (b"RIFF", b"GIF8", b"II*\x00", b"MM\x00*") or start[:2] == b"BM":
        redrawn = _redraw(source)
        if redrawn is not None:
            return redrawn
        source.seek(0)
    return Scrubbed(source, "other", 0)
