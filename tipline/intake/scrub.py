"""Decide which evidence files are accepted and remove identifying metadata from them.

`detect_type` is the allowlist: it decides by content (magic bytes), the name's extension
only telling apart formats that share a container (OOXML or ODF zips, OLE2 compound files,
ISO base media files). `scrub` cleans a file of an allowed type in memory, before it is
encrypted; nothing is ever written to disk, so plaintext evidence never touches it.

What `scrub` removes, by kind:

image
    JPEG and PNG are filtered block by block, losslessly: the picture's bytes are kept and
    EXIF (camera, GPS position, time), XMP, IPTC, ICC and comment blocks are dropped, as are
    the JFIF thumbnail and anything after the end of a JPEG (the extra pictures of MPF and
    gain-map photos carry EXIF of their own). HEIC is cleaned in place: its Exif and XMP
    items are overwritten with empty ones padded out, and nothing else moves. GIF, WebP,
    BMP and TIFF are redrawn from their pixels alone, every page of a TIFF and every frame
    of an animation (with its timing), TIFF compressed (deflate) and BMP as PNG, since
    Pillow writes BMP only uncompressed.
pdf
    Rewritten by pikepdf (qpdf): the document information dictionary (author, creator,
    producer, dates), every /Metadata stream (XMP of the document, pages, images, fonts),
    /PieceInfo, the file identifier /ID, earlier revisions kept by incremental updates,
    and the author and dates of comments (markup annotations) go.
office
    OOXML (docx, xlsx, pptx) and ODF (odt, ods, odp) are zipped anew with every part's
    content as it was, except: docProps/core.xml and docProps/app.xml, or ODF's meta.xml,
    become empty; docProps/custom.xml and thumbnails are dropped together with the
    references to them; entry dates, comments and extra fields (owner ids, file times)
    are not copied. Zip bombs are refused by the declared sizes and the entry count.
audio, video
    MP3 and AAC lose their ID3v1, ID3v2 and APEv2 tags, FLAC its Vorbis comment, pictures
    and application blocks, Ogg Vorbis, Opus, Speex and FLAC their comments (all through
    mutagen). MP4, M4A, MOV and 3GP are cleaned in place: user-data, metadata and uuid
    boxes of the movie and its tracks (iTunes tags, the ©xyz and 3GPP loci locations,
    Apple's mdta keys, maker notes) become free space filled with zeros, and the creation
    and modification times of the movie, track and media headers are zeroed; sample
    offsets stay valid because nothing moves. WAV and AVI are cleaned the same way: LIST
    INFO, LIST exif, bext, iXML, XMP, ID3, cart, umid and IDIT chunks become JUNK filled
    with zeros.

Refused (ScrubError, whose ``message`` tells the citizen why), besides damaged files:
pictures over MAX_IMAGE_PIXELS (MAX_REDRAW_PIXELS for those decoded here, over all their
pages or frames, of which at most MAX_FRAMES), read from the headers before any pixel is
decoded; HEIC picture items without a declared size (ispe); pictures that found no room
in the process's pixel gate (REDRAW_PIXELS_AT_ONCE) within REDRAW_WAIT; outputs over the
file limit; files of more than
MAX_ENTRIES boxes, chunks or items, or nested deeper than MAX_DEPTH; zips of more than
ZIP_MAX_ENTRIES entries or ZIP_MAX_TOTAL bytes unpacked; PDFs with a password.

Kept, because no safe way exists here or because it is the evidence itself:

- legacy OLE2 office files (doc, xls, ppt, wps) pass through unchanged (kind "office",
  removed 0): their SummaryInformation streams keep author, company, "last saved by" and
  dates. No maintained pure-Python library rewrites compound files safely; a reporter who
  cares should save as docx/xlsx/pptx or PDF first.
- AMR has no metadata to remove; it passes through unchanged.
- timed metadata tracks of videos (GPS tracks of dashcams and action cameras, Apple's
  timed metadata), EXIF inside the frames of MJPEG AVI, and stream data (strd) of AVI.
- whatever is the document's own content: names in office comments and tracked changes,
  revision ids (rsid), word/people.xml, customXml items, ODF settings.xml (printer
  names), PDF form values and embedded files, and faces, voices or text in the media.
- the encoder's name (Ogg vendor string, codec names in MP4 sample descriptions).
- the types of OLE2 files are told apart by extension alone, so without a file name an
  OLE2 file comes back as kind "other".
"""

from __future__ import annotations

import io
import re
import shutil
import struct
import threading
import warnings
import zipfile
import zlib
from collections import deque
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, BinaryIO, Final, Literal, NamedTuple

import mutagen
import mutagen.apev2
import mutagen.flac
import mutagen.id3
import mutagen.oggflac
import mutagen.oggopus
import mutagen.oggspeex
import mutagen.oggvorbis
import pikepdf
from PIL import Image

from tipline.intake.reference import N_

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer


# What a citizen is told when a file is refused (message ids, translated by the sites).
DAMAGED: Final = N_("A file could not be read; it may be damaged.")
TOO_MANY_PIXELS: Final = N_(
    "A picture is too large: at most 120 million pixels (for example 12000 × 10000). "
    "Save it at a smaller size and attach it again."
)
TOO_MANY_PIXELS_TO_REDRAW: Final = N_(
    "A GIF, WebP, BMP or TIFF picture may have at most 40 million pixels (for example "
    "8000 × 5000). Save it as JPEG or PNG, or at a smaller size, and attach it again."
)
TOO_LARGE: Final = N_(
    "A file is larger than the size limit once its hidden details are removed. Save it "
    "smaller or in another format (for example JPEG or PDF) and attach it again."
)
TOO_COMPLEX: Final = N_(
    "A file has too many parts, or parts nested too deeply, to be checked. Save it again "
    "in a common format and attach it again."
)
ENCRYPTED_PDF: Final = N_("A PDF is protected by a password. Attach it without the password.")
TOO_MANY_FRAMES: Final = N_(
    "A multi-page TIFF or an animated GIF or WebP may have at most 1000 pages or frames and "
    "40 million pixels over all of them together. Split it into smaller files, or save it "
    "as PDF, and attach it again."
)
BUSY: Final = N_(
    "Many pictures are being checked at this moment. Wait a minute, then attach this one again."
)


class ScrubError(Exception):
    """The file claims to be of an allowed type but cannot be read as one, or would cost
    more than its budget. ``message`` is the catalogued sentence for the citizen;
    ``detail`` is for logs and tests only."""

    def __init__(self, detail: str, message: str = DAMAGED) -> None:
        super().__init__(detail)
        self.detail = detail
        self.message = message


@dataclass(frozen=True)
class FileType:
    kind: str  # one of KINDS
    extension: str  # canonical, without the dot: "jpg", "docx", "mp4"
    mime: str


@dataclass(frozen=True)
class Scrubbed:
    data: IO[bytes]
    kind: str  # one of KINDS, or "other" for a file of no allowed type (left as it was)
    removed: int  # metadata blocks removed (1 for a redrawn picture)
    # What comes back: the type the content was recognised as, but for a picture redrawn
    # in another format (a BMP comes back as PNG).
    file_type: FileType | None = None
    converted: bool = False  # the format changed: the stored name and type must follow

    def stored_name(self, filename: str) -> str:
        """``filename`` with the extension of what comes back, if the format changed."""
        if not self.converted or self.file_type is None:
            return filename
        stem = filename.rsplit(".", 1)[0] if "." in filename else filename
        return f"{stem}.{self.file_type.extension}"


KINDS: Final = ("image", "pdf", "office", "audio", "video")

_OOXML = "application/vnd.openxmlformats-officedocument."
_ODF = "application/vnd.oasis.opendocument."
_TYPES: Final = {
    t.extension: t
    for t in (
        FileType("image", "jpg", "image/jpeg"),
        FileType("image", "png", "image/png"),
        FileType("image", "gif", "image/gif"),
        FileType("image", "webp", "image/webp"),
        FileType("image", "heic", "image/heic"),
        FileType("image", "bmp", "image/bmp"),
        FileType("image", "tiff", "image/tiff"),
        FileType("pdf", "pdf", "application/pdf"),
        FileType("office", "docx", _OOXML + "wordprocessingml.document"),
        FileType("office", "xlsx", _OOXML + "spreadsheetml.sheet"),
        FileType("office", "pptx", _OOXML + "presentationml.presentation"),
        FileType("office", "odt", _ODF + "text"),
        FileType("office", "ods", _ODF + "spreadsheet"),
        FileType("office", "odp", _ODF + "presentation"),
        FileType("office", "doc", "application/msword"),
        FileType("office", "xls", "application/vnd.ms-excel"),
        FileType("office", "ppt", "application/vnd.ms-powerpoint"),
        FileType("office", "wps", "application/vnd.ms-works"),
        FileType("audio", "mp3", "audio/mpeg"),
        FileType("audio", "m4a", "audio/mp4"),
        FileType("audio", "aac", "audio/aac"),
        FileType("audio", "amr", "audio/amr"),
        FileType("audio", "wav", "audio/wav"),
        FileType("audio", "ogg", "audio/ogg"),
        FileType("audio", "opus", "audio/ogg"),
        FileType("audio", "flac", "audio/flac"),
        FileType("video", "mp4", "video/mp4"),
        FileType("video", "mov", "video/quicktime"),
        FileType("video", "3gp", "video/3gpp"),
        FileType("video", "avi", "video/x-msvideo"),
    )
}
_ALIASES: Final = {"jpeg": "jpg", "jpe": "jpg", "tif": "tiff", "heif": "heic", "3gpp": "3gp"}

# For the upload form's accept attribute: ",".join(ALLOWED_EXTENSIONS).
ALLOWED_EXTENSIONS: Final = tuple(sorted("." + ext for ext in [*_TYPES, *_ALIASES]))



def extensions_by_kind() -> dict[str, list[str]]:
    """The accepted file extensions of each kind, in KINDS order, for the upload forms."""
    return {
        kind: [ext for ext, file_type in _TYPES.items() if file_type.kind == kind]
        for kind in KINDS
    }


HEAD_SIZE: Final = 4096  # enough of a file's start for detect_type in almost every case

# Zip bombs: the declared sizes bound what is inflated (zipfile stops at the declared size
# and then checks the CRC), so capping their sum caps the work.
ZIP_MAX_TOTAL: Final = 200 * 1024 * 1024
ZIP_MAX_ENTRIES: Final = 10_000


# --- detection ------------------------------------------------------------------------


def _type(extension: str) -> FileType:
    return _TYPES[extension]


def _extension(filename: str) -> str:
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    if "." not in name:
        return ""
    ext = name.rsplit(".", 1)[1].strip().lower()
    return _ALIASES.get(ext, ext)


def detect_type(filename: str, head: bytes) -> FileType | None:
    """The allowed type of a file by its content, or None if it is not evidence we take.

    ``head`` is the start of the file: HEAD_SIZE bytes answer for almost every file; pass
    the whole file (uploads are in memory anyway) for a conclusive answer on zip-based
    documents, whose parts may be listed only at the end. The extension only chooses
    between formats sharing a container; a name that claims another type than the
    content is overruled by the content.
    """
    ext = _extension(filename)
    if head.startswith(b"\xff\xd8\xff"):
        return _type("jpg")
    if head.startswith(_PNG_SIGNATURE):
        return _type("png")
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return _type("gif")
    if head[:4] == b"RIFF" and len(head) >= 12:
        return {b"WEBP": _type("webp"), b"WAVE": _type("wav"), b"AVI ": _type("avi")}.get(
            head[8:12]
        )
    if head[:2] == b"BM" and len(head) >= 18:
        # "BM" alone is too weak (any text may start so): check the DIB header's size.
        (dib,) = struct.unpack_from("<I", head, 14)
        return _type("bmp") if dib in (12, 40, 52, 56, 64, 108, 124) else None
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return _type("tiff")
    if head.startswith(b"%PDF-"):
        return _type("pdf")
    if head.startswith(b"PK\x03\x04"):
        return _zip_type(ext, head)
    if head.startswith(_OLE2_SIGNATURE):
        return _type(ext) if ext in ("doc", "xls", "ppt", "wps") else None
    if head[4:8] == b"ftyp":
        return _bmff_type(ext, head)
    if head[4:8] in (b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"):
        return _type("mov")  # QuickTime files from before the ftyp box
    if head.startswith((b"#!AMR\n", b"#!AMR-WB\n")):
        return _type("amr")
    if head.startswith(b"fLaC"):
        return _type("flac")
    if head.startswith(b"OggS"):
        return _ogg_type(head)
    if head.startswith(b"ID3"):
        return _after_id3(ext, head)
    return _raw_audio_type(head)


_PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"
_OLE2_SIGNATURE: Final = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"

_HEIF_BRANDS: Final = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx"}
_M4A_BRANDS: Final = {b"M4A ", b"M4B ", b"M4P "}
_MP4_BRANDS: Final = {
    b"isom", b"iso2", b"iso3", b"iso4", b"iso5", b"iso6", b"mp41", b"mp42", b"avc1",
    b"mmp4", b"MSNV", b"M4V ", b"M4VH", b"M4VP", b"XAVC", b"dash", b"mp71", b"f4v ",
}  # fmt: skip
_NOT_MEDIA_BRANDS: Final = {b"avif", b"avis", b"crx ", b"jp2 ", b"jpx ", b"jpm ", b"mjp2"}


def _bmff_type(ext: str, head: bytes) -> FileType | None:
    (size,) = struct.unpack_from(">I", head)
    if size < 16 or len(head) < 16:
        return None
    major = head[8:12]
    brands = {major} | {head[i : i + 4] for i in range(16, min(size, len(head)) - 3, 4)}
    if major in _HEIF_BRANDS or (major in (b"mif1", b"msf1") and brands & _HEIF_BRANDS):
        return _type("heic")
    if brands & _NOT_MEDIA_BRANDS:
        return None
    if major == b"qt  ":
        return _type("mov")
    if major in _M4A_BRANDS:
        return _type("m4a")
    if major[:3] in (b"3gp", b"3gg", b"3ge", b"3g2", b"3gs"):
        return _type("3gp")
    if major in _MP4_BRANDS or brands & _MP4_BRANDS:
        # A generic ISO file: the extension tells a recording from a film.
        return _type(ext) if ext in ("m4a", "mov", "3gp") else _type("mp4")
    return None


def _ogg_type(head: bytes) -> FileType | None:
    if len(head) < 28:
        return None
    first_packet = head[27 + head[26] :]
    if first_packet.startswith(b"OpusHead"):
        return _type("opus")
    if first_packet.startswith((b"\x01vorbis", b"\x7fFLAC", b"Speex   ")):
        return _type("ogg")
    return None  # Theora video, Skeleton and the rest


def _after_id3(ext: str, head: bytes) -> FileType | None:
    if len(head) < 10:
        return None
    # Taggers sometimes stack several tags: walked in a loop bounded by the bytes.
    end, _ = _id3_end(head)
    rest = head[end:]
    if len(rest) < 4:
        # The tag (cover art, often) runs past what we were shown.
        return _type(ext) if ext in ("mp3", "aac", "flac") else _type("mp3")
    if rest.startswith(b"fLaC"):
        return _type("flac")
    return _raw_audio_type(rest.lstrip(b"\x00"))


_MP3_BITRATES: Final = {
    3: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),  # MPEG 1
    2: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),  # MPEG 2
    0: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),  # MPEG 2.5
}
_MP3_RATES: Final = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def _mp3_frame_length(data: bytes, at: int) -> int | None:
    """Length of the MPEG audio layer III frame starting at ``at``, if one starts there."""
    if len(data) < at + 4 or data[at] != 0xFF or data[at + 1] & 0xE0 != 0xE0:
        return None
    version, layer = (data[at + 1] >> 3) & 3, (data[at + 1] >> 1) & 3
    bitrate_index, rate_index = data[at + 2] >> 4, (data[at + 2] >> 2) & 3
    if version == 1 or layer != 1 or bitrate_index in (0, 15) or rate_index == 3:
        return None
    bitrate = _MP3_BITRATES[version][bitrate_index] * 1000
    rate = _MP3_RATES[version][rate_index]
    padding = (data[at + 2] >> 1) & 1
    return (144 if version == 3 else 72) * bitrate // rate + padding


def _adts_frame_length(data: bytes, at: int) -> int | None:
    if len(data) < at + 7 or data[at] != 0xFF or data[at + 1] & 0xF6 != 0xF0:
        return None
    if (data[at + 2] >> 2) & 0xF > 12:
        return None
    length = ((data[at + 3] & 3) << 11) | (data[at + 4] << 3) | (data[at + 5] >> 5)
    return length if length >= 7 else None


def _raw_audio_type(head: bytes) -> FileType | None:
    for extension, frame_length in (("mp3", _mp3_frame_length), ("aac", _adts_frame_length)):
        length = frame_length(head, 0)
        if length is None:
            continue
        # Two frames in a row where the second is in sight: two sync bytes alone are weak.
        if len(head) >= length + 4 and frame_length(head, length) is None:
            continue
        return _type(extension)
    return None


_OOXML_MAIN: Final = {"word/": "docx", "xl/": "xlsx", "ppt/": "pptx"}
_ODF_MIMES: Final = {
    b"application/vnd.oasis.opendocument.text": "odt",
    b"application/vnd.oasis.opendocument.spreadsheet": "ods",
    b"application/vnd.oasis.opendocument.presentation": "odp",
}


def _zip_type(ext: str, head: bytes) -> FileType | None:
    listing = _zip_listing(head)
    if listing is not None:
        names, mimetype = listing
        return _office_type(ext, names, mimetype, complete=True)
    names, mimetype = _zip_local_names(head)
    found = _office_type(ext, names, mimetype, complete=False)
    if found is not None:
        return found
    if names and (mimetype is not None or "[content_types].xml" in names):
        return None  # it said what it is, and it is no document we take
    # The parts that tell are not in what we were shown: let the extension decide, scrub
    # decides again on the whole file.
    return _type(ext) if ext in ("docx", "xlsx", "pptx", "odt", "ods", "odp") else None


def _zip_listing(data: bytes) -> tuple[set[str], bytes | None] | None:
    """Names (lower case) and the ODF mimetype of a whole zip, or None if it is not whole."""
    try:
        _zip_check_directory(data)
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
            names = {info.filename.lower() for info in infos}
            mimetype = None
            for info in infos:
                if info.filename.lower() == "mimetype" and info.file_size <= 200:
                    mimetype = archive.read(info)
            return names, mimetype
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError, zlib.error):
        return None
    except ScrubError:  # too many entries to list: scrub refuses it with the reason
        return None
    except NotImplementedError:  # a compression method zipfile lacks
        return None


def _zip_local_names(head: bytes) -> tuple[set[str], bytes | None]:
    """Names (lower case) in the local headers within ``head``, and a stored mimetype."""
    names: set[str] = set()
    mimetype = None
    at = 0
    while head[at : at + 4] == b"PK\x03\x04" and at + 30 <= len(head):
        flags, method = struct.unpack_from("<HH", head, at + 6)
        compressed, _, name_length, extra_length = struct.unpack_from("<IIHH", head, at + 18)
        start = at + 30 + name_length + extra_length
        name = head[at + 30 : at + 30 + name_length].decode("utf-8", "replace").lower()
        names.add(name)
        if name == "mimetype" and method == zipfile.ZIP_STORED and start + compressed <= len(head):
            mimetype = head[start : start + compressed]
        if flags & 0x08:  # sizes follow the data: the next header cannot be found
            break
        at = start + compressed
    return names, mimetype


def _office_type(
    ext: str, names: set[str], mimetype: bytes | None, *, complete: bool
) -> FileType | None:
    # Macro projects are no evidence format we take and would run on an officer's desk.
    if any(n.endswith("vbaproject.bin") or n.startswith(("basic/", "scripts/")) for n in names):
        return None
    if mimetype is not None or "mimetype" in names:
        found = _ODF_MIMES.get((mimetype or b"").strip())
        return _type(found) if found else None
    if "[content_types].xml" not in names:
        return None
    for prefix, extension in _OOXML_MAIN.items():
        if any(n.startswith(prefix) for n in names):
            return _type(extension)
    if not complete and ext in ("docx", "xlsx", "pptx"):
        return _type(ext)
    return None


# --- budgets and the bounded reader ---------------------------------------------------
#
# STYLE.md point 14: every parser below reads untrusted bytes through a Reader, which
# knows how many bytes remain and refuses to go past them; every loop either consumes
# bytes or spends from the Budget, so no loop runs without progress; nesting depth is an
# argument checked against MAX_DEPTH, never the Python stack; the pixels, entries and
# output bytes a file may cost are checked before the work they would cause.

# Every picture: a phone's 108-megapixel mode (12000 × 9000) passes, a 200-megapixel mode
# or a 30000 × 30000 bomb does not. JPEG, PNG and HEIC are cleaned without decoding, so the
# budget protects the officers' viewers, which decode them.
MAX_IMAGE_PIXELS: Final = 120_000_000
# Redrawn pictures (GIF, WebP, BMP, TIFF) are decoded here, at up to 4 bytes a pixel: 40
# million pixels (over all pages or frames together) hold at most about 160 MB.
MAX_REDRAW_PIXELS: Final = 40_000_000
# Pages of a multi-page TIFF, frames of an animated GIF or WebP: each costs a decode.
MAX_FRAMES: Final = 1000
# Pixels decoded at once in one process, over all its threads (issue 7): a gthread worker
# with 4 threads would otherwise hold 4 x 160 MB. One picture at the limit, or many small
# ones side by side; the others wait their turn, in order, for at most REDRAW_WAIT seconds.
REDRAW_PIXELS_AT_ONCE: Final = MAX_REDRAW_PIXELS
REDRAW_WAIT: Final = 30.0
# The portal's default file limit (TIPLINE_MAX_FILE_MB); store_upload passes the real one.
MAX_OUTPUT_BYTES: Final = 20 * 1024 * 1024
# Boxes, chunks, segments, items and extents one file may hold: real files have hundreds.
MAX_ENTRIES: Final = 100_000
# Containers inside containers: real files nest three or four deep (moov, trak, mdia).
MAX_DEPTH: Final = 16


class PixelGate:
    """Lets at most ``capacity`` pixels be decoded at once in this process.

    Budget bounds one file; this bounds the process, whose threads serve many uploads at
    once. Callers are admitted first come, first served (a large picture is not starved by
    a stream of small ones), and each waits at most ``wait`` seconds before BUSY.
    ``peak`` is the most ever held at once, for tests and benches.
    """

    def __init__(self, capacity: int = REDRAW_PIXELS_AT_ONCE, wait: float = REDRAW_WAIT) -> None:
        self.capacity, self.wait = capacity, wait
        self.held = self.peak = 0
        self._queue: deque[object] = deque()
        self._changed = threading.Condition()

    @property
    def waiting(self) -> int:
        """How many stand in line for room."""
        with self._changed:
            return len(self._queue)

    @contextmanager
    def hold(self, pixels: int) -> Iterator[None]:
        pixels = min(pixels, self.capacity)  # within the per-file budget, never more
        turn = object()
        with self._changed:
            self._queue.append(turn)
            admitted = self._changed.wait_for(
                lambda: self._queue[0] is turn and self.held + pixels <= self.capacity,
                timeout=self.wait,
            )
            self._queue.remove(turn)
            self._changed.notify_all()  # the next in line may fit now
            if not admitted:
                raise ScrubError(f"no room for {pixels} pixels in {self.wait} s", BUSY)
            self.held += pixels
            self.peak = max(self.peak, self.held)
        try:
            yield
        finally:
            with self._changed:
                self.held -= pixels
                self._changed.notify_all()


# The one gate of this process: what its threads decode together.
REDRAW_GATE: Final = PixelGate()


@dataclass
class Budget:
    """What one file may cost; each parser spends from it before doing the work."""

    max_bytes: int = MAX_OUTPUT_BYTES
    max_pixels: int = MAX_IMAGE_PIXELS
    max_redraw_pixels: int = MAX_REDRAW_PIXELS
    entries: int = MAX_ENTRIES
    gate: PixelGate = field(default=REDRAW_GATE)

    def spend(self, count: int = 1) -> None:
        if count > self.entries:
            raise ScrubError("too many entries", TOO_COMPLEX)
        self.entries -= count

    def pixels(self, width: int, height: int, *, redraw: bool = False) -> None:
        if width <= 0 or height <= 0:
            raise ScrubError(f"picture of {width} × {height} pixels")
        limit = min(self.max_pixels, self.max_redraw_pixels) if redraw else self.max_pixels
        if width * height > limit:
            message = TOO_MANY_PIXELS_TO_REDRAW if redraw else TOO_MANY_PIXELS
            raise ScrubError(f"picture of {width} × {height} pixels", message)

    def frames(self, sizes: list[tuple[int, int]]) -> int:
        """Check the pages or frames of one picture together; returns their pixels."""
        total = 0
        for width, height in sizes:
            self.pixels(width, height, redraw=True)
            total += width * height
        if len(sizes) > 1 and (
            len(sizes) > MAX_FRAMES or total > min(self.max_pixels, self.max_redraw_pixels)
        ):
            raise ScrubError(f"{len(sizes)} frames of {total} pixels", TOO_MANY_FRAMES)
        return total

    def output(self, size: int) -> None:
        if size > self.max_bytes:
            raise ScrubError(f"{size} bytes once cleaned, over {self.max_bytes}", TOO_LARGE)


class Reader:
    """Reads ``data[start:end]`` front to back, and never past ``end``."""

    __slots__ = ("at", "data", "end")

    def __init__(self, data: bytes | bytearray, start: int = 0, end: int | None = None) -> None:
        stop = len(data) if end is None else end
        if not 0 <= start <= stop <= len(data):
            raise ScrubError(f"range {start}:{stop} outside {len(data)} bytes")
        self.data, self.at, self.end = data, start, stop

    @property
    def remaining(self) -> int:
        return self.end - self.at

    def _need(self, count: int) -> None:
        if count < 0 or count > self.end - self.at:
            raise ScrubError(f"{count} bytes wanted at {self.at}, {self.remaining} left")

    def take(self, count: int) -> bytes:
        self._need(count)
        chunk = bytes(self.data[self.at : self.at + count])
        self.at += count
        return chunk

    def skip(self, count: int) -> None:
        self._need(count)
        self.at += count

    def skip_to(self, position: int) -> None:
        """Move forward (never back) to ``position``, within the range."""
        self._need(position - self.at)
        self.at = position

    def uint(self, size: int, order: Literal["big", "little"] = "big") -> int:
        return int.from_bytes(self.take(size), order) if size else 0

    def u8(self) -> int:
        return self.uint(1)

    def u16(self) -> int:
        return self.uint(2)

    def u32(self) -> int:
        return self.uint(4)

    def count(self, count: int, each: int) -> int:
        """``count`` entries of ``each`` bytes, which must fit in what remains."""
        if each <= 0 and count > 1:
            # Entries of no size would be read without progress (issue 7: HEIC iloc).
            raise ScrubError("entries of no size")
        if count * each > self.remaining:
            raise ScrubError(f"{count} entries of {each} bytes in {self.remaining}")
        return count


class _BoundedOutput(io.BytesIO):
    """An output that refuses to grow past the budget, checked before each write."""

    def __init__(self, budget: Budget) -> None:
        super().__init__()
        self.budget = budget

    def write(self, buffer: ReadableBuffer, /) -> int:
        self.budget.output(self.tell() + memoryview(buffer).nbytes)
        return super().write(buffer)


# --- scrubbing ------------------------------------------------------------------------

Handler = Callable[[bytes, Budget], tuple[bytes, int]]


def scrub(
    source: IO[bytes],
    filename: str = "",
    *,
    max_bytes: int = MAX_OUTPUT_BYTES,
    max_pixels: int = MAX_IMAGE_PIXELS,
    gate: PixelGate = REDRAW_GATE,
) -> Scrubbed:
    """Return the file without its metadata; the type is decided by the content.

    A file of no allowed type comes back unchanged with kind "other" (the caller decides
    whether to take it); one that claims an allowed type but cannot be read, or would cost
    more than its budget (pixels, entries, depth, ``max_bytes`` once cleaned), raises
    ScrubError, whose ``message`` says why to the citizen. The file is read whole: uploads
    are held in memory and small. Pictures that are decoded here wait for room in ``gate``,
    the process's bound on pixels decoded at once.
    """
    data = source.read()
    file_type = detect_type(filename, data)
    if file_type is None:
        source.seek(0)
        return Scrubbed(source, "other", 0)
    handler = _HANDLERS[file_type.extension]
    if handler is None:
        source.seek(0)
        return Scrubbed(source, file_type.kind, 0, file_type)
    budget = Budget(max_bytes=max_bytes, max_pixels=max_pixels, gate=gate)
    cleaned, removed = handler(data, budget)
    budget.output(len(cleaned))
    converted = file_type.extension in _CONVERTED
    if converted:
        file_type = _type(_CONVERTED[file_type.extension])
    return Scrubbed(io.BytesIO(cleaned), file_type.kind, removed, file_type, converted)


# JPEG ----------------------------------------------------------------------------------

_JPEG_KEEP_APP: Final = {0xE0, 0xEE}  # JFIF and Adobe (colour transform)
# Start of frame: baseline, progressive, lossless, arithmetic; not DHT, JPG or DAC.
_JPEG_FRAMES: Final = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _jpeg(data: bytes, budget: Budget) -> tuple[bytes, int]:
    reader = Reader(data)
    if reader.take(2) != b"\xff\xd8":
        raise ScrubError("not a JPEG")
    out = bytearray(b"\xff\xd8")
    removed = 0
    framed = False
    while True:
        budget.spend()
        if reader.u8() != 0xFF:
            raise ScrubError("JPEG marker expected")
        code = reader.u8()
        while code == 0xFF:  # fill bytes may precede any marker
            code = reader.u8()
        if code == 0xD9:  # end of image: whatever follows is not this picture
            out += b"\xff\xd9"
            if reader.take(reader.remaining).strip(b"\x00"):
                removed += 1
            break
        if code == 0x01 or 0xD0 <= code <= 0xD7:  # markers without a length
            out += bytes((0xFF, code))
            continue
        length = reader.u16()
        if length < 2:
            raise ScrubError("JPEG segment shorter than its length field")
        payload = reader.take(length - 2)
        if code in _JPEG_FRAMES:
            if len(payload) < 5:
                raise ScrubError("JPEG frame header too short")
            height, width = struct.unpack_from(">HH", payload, 1)
            budget.pixels(width, height)  # a height of 0 (set later by DNL) is refused
            framed = True
        if (0xE1 <= code <= 0xEF and code not in _JPEG_KEEP_APP) or code == 0xFE:
            removed += 1
            continue
        if code == 0xE0:
            if payload.startswith(b"JFXX\x00"):  # a JFIF extension holds only a thumbnail
                removed += 1
                continue
            if payload.startswith(b"JFIF\x00") and len(payload) > 14:
                # A thumbnail may follow the densities: it can show what was cropped away.
                payload = payload[:12] + b"\x00\x00"
                removed += 1
        out += struct.pack(">BBH", 0xFF, code, len(payload) + 2) + payload
        if code == 0xDA:  # start of scan: entropy-coded data up to the next real marker
            if not framed:
                raise ScrubError("JPEG scan before its frame header")
            start = reader.at
            reader.skip_to(_jpeg_scan_end(reader))
            out += data[start : reader.at]
            if not reader.remaining:  # no end-of-image marker: keep what there is
                break
    return bytes(out), removed


def _jpeg_scan_end(reader: Reader) -> int:
    """Where the entropy-coded data from ``reader.at`` ends: the next marker, or the end."""
    data, at, end = reader.data, reader.at, reader.end
    while True:
        at = data.find(b"\xff", at, end)
        if at < 0 or at + 1 >= end:
            return end
        following = data[at + 1]
        if following == 0x00 or 0xD0 <= following <= 0xD7:  # stuffed byte, restart marker
            at += 2
        elif following == 0xFF:
            at += 1
        else:
            return at


# PNG -----------------------------------------------------------------------------------

_PNG_DROP: Final = {b"tEXt", b"zTXt", b"iTXt", b"eXIf", b"tIME", b"iCCP"}


def _png(data: bytes, budget: Budget) -> tuple[bytes, int]:
    reader = Reader(data)
    if reader.take(len(_PNG_SIGNATURE)) != _PNG_SIGNATURE:
        raise ScrubError("not a PNG")
    out = bytearray(_PNG_SIGNATURE)
    removed = 0
    while True:
        budget.spend()
        start = reader.at
        length = reader.u32()
        kind = reader.take(4)
        body = reader.take(length) if start == len(_PNG_SIGNATURE) else b""
        if body:
            if kind != b"IHDR" or length < 8:
                raise ScrubError("PNG without a header chunk first")
            budget.pixels(*struct.unpack_from(">II", body))  # before anyone decodes it
        else:
            reader.skip(length)
        reader.skip(4)  # CRC
        if kind in _PNG_DROP:
            removed += 1
        else:
            out += data[start : reader.at]
        if kind == b"IEND":
            break
    return bytes(out), removed


# Other pictures ------------------------------------------------------------------------

# What a redrawn picture is written as, and how: TIFF compressed (deflate, lossless), the
# others in their own compressed form. Pillow writes BMP uncompressed only, so a small RLE
# BMP could grow a hundredfold; it becomes a PNG instead (issue 7, item 4).
_REDRAWN_AS: Final[dict[str, tuple[str, dict[str, object]]]] = {
    "GIF": ("GIF", {}),
    "WEBP": ("WEBP", {}),
    "BMP": ("PNG", {}),
    "TIFF": ("TIFF", {"compression": "tiff_adobe_deflate"}),
}
_CONVERTED: Final = {"bmp": "png"}  # extension in → extension out, where they differ


def _redraw(image_format: str) -> Handler:
    def redraw(data: bytes, budget: Budget) -> tuple[bytes, int]:
        target, options = _REDRAWN_AS[image_format]
        out = _BoundedOutput(budget)
        try:
            with warnings.catch_warnings():
                # Pillow warns of corrupt tags it skips: a note for logs, not a refusal.
                warnings.simplefilter("ignore", UserWarning)
                with Image.open(io.BytesIO(data), formats=(image_format,)) as image:
                    # The sizes are the headers': checked before a pixel is decoded.
                    sizes = _frame_sizes(image)
                    pixels = budget.frames(sizes)
                    # Several frames are held decoded together, and one more is decoding.
                    working = max(w * h for w, h in sizes) if len(sizes) > 1 else 0
                    with budget.gate.hold(pixels + working):
                        frames, extra = _clean_frames(image, sizes)
                        if len(frames) > 1:
                            options = {**options, **extra, "save_all": True}
                            options["append_images"] = frames[1:]
                        frames[0].save(out, format=target, **options)
                        del frames  # before the gate lets the next picture in
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ScrubError(f"unreadable image: {exc}", TOO_MANY_PIXELS_TO_REDRAW) from exc
        except ScrubError:
            raise  # a budget's own refusal, with its own message
        except Exception as exc:
            # Pillow's plugins parse hostile bytes and raise what their code happens to hit
            # (OSError, ValueError, EOFError, struct.error, and IndexError from a GIF cut short
            # while counting its frames, a fuzzer's finding): every one means unreadable.
            raise ScrubError(f"unreadable image: {type(exc).__name__}") from exc
        return out.getvalue(), 1

    return redraw


def _frame_sizes(image: Image.Image) -> list[tuple[int, int]]:
    """The size of every page or frame, from the headers, at most MAX_FRAMES + 1 of them.

    A TIFF's pages each have their own size, read by seeking (Pillow reads the page's tags
    then, and decodes nothing). GIF and WebP frames are drawn on one canvas, so each costs
    the canvas; Pillow counts them from the block headers.
    """
    if image.format != "TIFF":
        count = getattr(image, "n_frames", 1)
        return [image.size] * min(count, MAX_FRAMES + 1)
    sizes = []
    for page in range(MAX_FRAMES + 1):
        try:
            image.seek(page)
        except EOFError:
            break
        sizes.append(image.size)
    image.seek(0)
    return sizes


def _clean_frames(
    image: Image.Image, sizes: list[tuple[int, int]]
) -> tuple[list[Image.Image], dict[str, object]]:
    """Every frame decoded, as bare images: only the pixels cross over (and the palette,
    and which colour is transparent), no info dictionary, no EXIF, no XMP, no TIFF tags;
    for an animation also how long each frame shows and how often it loops.

    A GIF's later frame may declare a larger canvas than the first, which is all the
    budget could see: each frame's size is checked again after its seek, before a pixel of
    it is decoded (a fuzzer's finding: 4 KB that decoded 170 million pixels)."""
    count = len(sizes)
    frames, durations = [], []
    for number in range(count):
        image.seek(number)
        width, height = image.size
        if width * height > sizes[number][0] * sizes[number][1]:
            raise ScrubError("a frame larger than its header said", TOO_MANY_PIXELS_TO_REDRAW)
        image.load()
        # One frame is handed over as it was decoded, without a copy (which would double
        # the memory, issue 7); a frame of several is copied, since the decoder draws the
        # next one over it.
        frame = image._new(image.im) if count == 1 else image.copy()
        transparency = image.info.get("transparency")
        frame.info = {} if transparency is None else {"transparency": transparency}
        durations.append(int(image.info.get("duration") or 0))
        frames.append(frame)
    extra: dict[str, object] = {}
    if image.format in ("GIF", "WEBP") and count > 1:
        extra["duration"] = durations
        loop = image.info.get("loop")
        if isinstance(loop, int):
            extra["loop"] = loop
    return frames, extra


# ISO base media files: HEIC, MP4, M4A, MOV, 3GP --------------------------------------


class Box(NamedTuple):
    kind: bytes
    start: int
    header: int
    end: int


def _boxes(
    data: bytearray, start: int, end: int, budget: Budget, *, top: bool = False
) -> list[Box]:
    """The boxes in data[start:end], which they must fill (but for zero padding)."""
    reader = Reader(data, start, end)
    boxes = []
    while reader.remaining >= 8:
        budget.spend()
        at = reader.at
        size, kind, header = reader.u32(), reader.take(4), 8
        if size == 1:
            size, header = reader.uint(8), 16
        elif size == 0:  # runs to the end
            size = end - at
        if top and kind == b"mdat" and size > end - at:
            size = end - at  # a recording cut short: keep what there is
        if size < header or size > end - at:
            raise ScrubError(f"box {kind!r} runs past its parent")
        reader.skip_to(at + size)
        boxes.append(Box(kind, at, header, at + size))
    if reader.take(reader.remaining).strip(b"\x00"):
        raise ScrubError("bytes after the last box")
    return boxes


def _blank(data: bytearray, box: Box) -> None:
    """Turn the box into free space: the same size, a new type, its content zeros."""
    data[box.start + 4 : box.start + 8] = b"free"
    data[box.start + box.header : box.end] = bytes(box.end - box.start - box.header)


def _zero_free(data: bytearray, box: Box) -> int:
    """Zero free space, which often still holds tags an editor moved out of the way."""
    if not data[box.start + box.header : box.end].strip(b"\x00"):
        return 0
    data[box.start + box.header : box.end] = bytes(box.end - box.start - box.header)
    return 1


def _zero_times(data: bytearray, box: Box) -> int:
    """Zero creation and modification times of an mvhd, tkhd or mdhd."""
    reader = Reader(data, box.start + box.header, box.end)
    width = 8 if reader.u8() == 1 else 4
    reader.skip(3)  # flags
    if reader.remaining < 2 * width:
        return 0
    times = slice(reader.at, reader.at + 2 * width)
    if not data[times].strip(b"\x00"):
        return 0
    data[times] = bytes(2 * width)
    return 1


_BMFF_METADATA: Final = {b"udta", b"meta", b"uuid", b"Xtra"}


def _bmff(data: bytes, budget: Budget) -> tuple[bytes, int]:
    out = bytearray(data)
    removed = 0
    for box in _boxes(out, 0, len(out), budget, top=True):
        if box.kind == b"moov":
            removed += _bmff_container(out, box, budget, depth=1)
        elif box.kind in _BMFF_METADATA:
            _blank(out, box)
            removed += 1
        elif box.kind in (b"free", b"skip"):
            removed += _zero_free(out, box)
    return bytes(out), removed


def _bmff_container(data: bytearray, parent: Box, budget: Budget, *, depth: int) -> int:
    """Clean a moov, trak or mdia box's children; returns the blocks removed."""
    if depth > MAX_DEPTH:
        raise ScrubError("boxes nested too deeply", TOO_COMPLEX)
    removed = 0
    for box in _boxes(data, parent.start + parent.header, parent.end, budget):
        if box.kind in _BMFF_METADATA:
            _blank(data, box)
            removed += 1
        elif box.kind in (b"free", b"skip"):
            removed += _zero_free(data, box)
        elif box.kind in (b"mvhd", b"tkhd", b"mdhd"):
            removed += _zero_times(data, box)
        elif box.kind in (b"trak", b"mdia"):
            removed += _bmff_container(data, box, budget, depth=depth + 1)
    return removed


def _heic(data: bytes, budget: Budget) -> tuple[bytes, int]:
    out = bytearray(data)
    removed = 0
    for box in _boxes(out, 0, len(out), budget, top=True):
        if box.kind == b"meta":
            removed += _heif_meta(out, box, budget)
        elif box.kind in (b"udta", b"uuid"):
            _blank(out, box)
            removed += 1
        elif box.kind in (b"free", b"skip"):
            removed += _zero_free(out, box)
    return bytes(out), removed


def _children(data: bytearray, start: int, end: int, budget: Budget) -> dict[bytes, Box]:
    """The child boxes by type, where each type may appear once."""
    children: dict[bytes, Box] = {}
    for box in _boxes(data, start, end, budget):
        if box.kind in children and box.kind != b"free":
            raise ScrubError(f"HEIF box {box.kind!r} twice")
        children[box.kind] = box
    return children


def _heif_meta(data: bytearray, meta: Box, budget: Budget) -> int:
    """Check the pictures' sizes, then empty the Exif, XMP (mime) and URI items where they
    lie; nothing moves."""
    start = meta.start + meta.header + 4  # meta is a full box: version and flags first
    if start > meta.end:
        raise ScrubError("HEIF meta box too short")
    children = _children(data, start, meta.end, budget)
    if b"iprp" in children:
        _heif_check_pixels(data, children[b"iprp"], budget)
    if b"iinf" not in children:
        raise ScrubError("HEIF meta box without items")
    targets, pictures = _heif_items(data, children[b"iinf"], budget)
    _heif_check_extents(data, children.get(b"iprp"), pictures, budget)
    if not targets:
        return 0
    if b"iloc" not in children:
        raise ScrubError("HEIF metadata items without locations")
    idat = children.get(b"idat")
    planned: list[tuple[int, int, bytes]] = []  # where, how long, what goes first
    items = set()
    for item_id, method, extents in _heif_locations(data, children[b"iloc"], targets, budget):
        for number, (offset, length) in enumerate(extents):
            if method == 0:
                base, limit = 0, len(data)
            elif method == 1 and idat is not None:
                base, limit = idat.start + idat.header, idat.end
            else:
                raise ScrubError("HEIF metadata stored in a way not handled")
            if length == 0 or base + offset + length > limit:
                raise ScrubError("HEIF item outside the file")
            planned.append((base + offset, length, targets[item_id] if number == 0 else b""))
        items.add(item_id)
    # Extents of real items do not overlap: more to blank than the file holds is an attack
    # on the time it takes, refused before any of it is done.
    if sum(length for _, length, _ in planned) > len(data):
        raise ScrubError("HEIF metadata extents overlap", TOO_COMPLEX)
    for at, length, stand_in in planned:
        fill = b" " if stand_in == _EMPTY_XMP_ITEM else b"\x00"
        data[at : at + length] = fill * length
        if stand_in and len(stand_in) <= length:
            data[at : at + len(stand_in)] = stand_in
    return len(items)


def _heif_check_pixels(data: bytearray, iprp: Box, budget: Budget) -> None:
    """Every image spatial extent (ispe) within the budget: a grid's is the whole picture."""
    for box in _boxes(data, iprp.start + iprp.header, iprp.end, budget):
        if box.kind != b"ipco":
            continue
        for prop in _boxes(data, box.start + box.header, box.end, budget):
            if prop.kind == b"ispe":
                reader = Reader(data, prop.start + prop.header, prop.end)
                reader.skip(4)  # version and flags
                budget.pixels(reader.u32(), reader.u32())


def _heif_check_extents(
    data: bytearray, iprp: Box | None, pictures: Collection[int], budget: Budget
) -> None:
    """Every picture item has a spatial extent, so the pixel budget saw its size.

    ISO/IEC 23008-12 (6.5.3) makes an ispe property mandatory for every image item: one
    without it would reach the officers' viewers with a size nobody checked (issue 7).
    """
    if not pictures:
        raise ScrubError("HEIF file without a picture item")
    if iprp is None:
        raise ScrubError("HEIF pictures without properties")
    ipco, associations = None, []
    for box in _boxes(data, iprp.start + iprp.header, iprp.end, budget):
        if box.kind == b"ipco":
            if ipco is not None:  # the property indices would be ambiguous
                raise ScrubError("HEIF item properties twice")
            ipco = box
        elif box.kind == b"ipma":
            associations.append(box)
    if ipco is None:
        raise ScrubError("HEIF pictures without properties")
    # Property indices count from 1, in the order of the boxes in ipco.
    properties = _boxes(data, ipco.start + ipco.header, ipco.end, budget)
    extents = {n for n, prop in enumerate(properties, 1) if prop.kind == b"ispe"}
    measured: set[int] = set()
    for ipma in associations:
        for item_id, indices in _heif_associations(data, ipma, budget):
            if indices & extents:
                measured.add(item_id)
    unmeasured = set(pictures) - measured
    if unmeasured:
        raise ScrubError(f"HEIF pictures {sorted(unmeasured)[:5]} without a spatial extent")


def _heif_associations(
    data: bytearray, ipma: Box, budget: Budget
) -> Iterator[tuple[int, set[int]]]:
    """(item id, {property index}) of every entry of an item property association box."""
    reader = Reader(data, ipma.start + ipma.header, ipma.end)
    version = reader.u8()
    flags = reader.uint(3)
    id_size, index_size = (2 if version < 1 else 4), (2 if flags & 1 else 1)
    count = reader.u32()
    budget.spend(reader.count(count, id_size + 1))
    for _ in range(count):
        item_id = reader.uint(id_size)
        associations = reader.u8()
        reader.count(associations, index_size)
        # The top bit of each says "essential"; the rest is the index (0: no property).
        mask = (1 << (8 * index_size - 1)) - 1
        yield item_id, {reader.uint(index_size) & mask for _ in range(associations)}


# Readers choke on an Exif item or XMP packet of zeros (Pillow raises), so the first bytes
# become an empty one: an Exif with a TIFF header and no entries, an XMP packet with none.
_EMPTY_EXIF_ITEM: Final = (
    struct.pack(">I", 6) + b"Exif\x00\x00" + b"MM\x00*" + struct.pack(">IHI", 8, 0, 0)
)
_EMPTY_XMP_ITEM: Final = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"/>'  # then spaces, not zeros


def _heif_items(data: bytearray, iinf: Box, budget: Budget) -> tuple[dict[int, bytes], set[int]]:
    """Item id → what its first bytes become, for the items holding metadata; and the ids
    of every other item, which are pictures (coded, grid, overlay, tiles): any type not
    known to be metadata counts as a picture, so its size must be declared."""
    reader = Reader(data, iinf.start + iinf.header, iinf.end)
    version = reader.u8()
    reader.skip(3 + (2 if version == 0 else 4))  # flags, entry count
    items: dict[int, bytes] = {}
    pictures: set[int] = set()
    for box in _boxes(data, reader.at, iinf.end, budget):
        if box.kind != b"infe":
            continue
        entry = Reader(data, box.start + box.header, box.end)
        infe_version = entry.u8()
        entry.skip(3)
        if infe_version < 2:
            items[entry.u16()] = _EMPTY_XMP_ITEM  # versions 0 and 1 only describe MIME items
            continue
        item_id = entry.u16() if infe_version == 2 else entry.u32()
        entry.skip(2)  # protection index
        item_type = entry.take(4)
        if item_type == b"Exif":
            items[item_id] = _EMPTY_EXIF_ITEM
        elif item_type == b"mime":
            fields = entry.take(entry.remaining).split(b"\x00")  # name, content type, ...
            content_type = fields[1].lower() if len(fields) > 1 else b""
            xmp = b"xmp" in content_type or b"rdf" in content_type
            items[item_id] = _EMPTY_XMP_ITEM if xmp else b""
        elif item_type == b"uri ":
            items[item_id] = b""
        else:
            pictures.add(item_id)
    return items, pictures - set(items)


_ILOC_FIELD_SIZES: Final = (0, 4, 8)


def _heif_locations(
    data: bytearray, iloc: Box, wanted: Collection[int], budget: Budget
) -> Iterator[tuple[int, int, list[tuple[int, int]]]]:
    """(item id, construction method, [(offset, length)]) of the wanted items in this file."""
    reader = Reader(data, iloc.start + iloc.header, iloc.end)
    version = reader.u8()
    reader.skip(3)
    if version > 2:
        raise ScrubError("HEIF iloc version not handled")
    sizes = reader.u8()
    offset_size, length_size = sizes >> 4, sizes & 0xF
    sizes = reader.u8()
    base_size, index_size = sizes >> 4, (sizes & 0xF if version else 0)
    if {offset_size, length_size, base_size, index_size} - set(_ILOC_FIELD_SIZES):
        raise ScrubError("HEIF location field of unusual size")
    id_size = 2 if version < 2 else 4
    count = reader.uint(id_size)
    item_size = id_size + (2 if version else 0) + 2 + base_size + 2
    budget.spend(reader.count(count, item_size))
    extent_size = index_size + offset_size + length_size
    for _ in range(count):
        item_id = reader.uint(id_size)
        method = reader.u16() & 0xF if version else 0
        reference = reader.u16()  # 0: in this file; anything else points at another file
        base = reader.uint(base_size)
        extent_count = reader.u16()
        budget.spend(reader.count(extent_count, extent_size))
        if reference or item_id not in wanted:
            reader.skip(extent_count * extent_size)
            continue
        extents = []
        for _ in range(extent_count):
            reader.skip(index_size)
            offset = reader.uint(offset_size)
            extents.append((base + offset, reader.uint(length_size)))
        yield item_id, method, extents


# RIFF: WAV and AVI ---------------------------------------------------------------------

_RIFF_DROP: Final = {
    b"bext", b"iXML", b"id3 ", b"ID3 ", b"_PMX", b"cart", b"umid", b"IDIT", b"ISMP",
    b"DISP", b"axml",
}  # fmt: skip
_RIFF_DROP_LISTS: Final = {b"INFO", b"exif", b"ncdt"}


def _riff(data: bytes, budget: Budget) -> tuple[bytes, int]:
    out = bytearray(data)
    reader = Reader(out)
    reader.skip(4)  # "RIFF"
    size = reader.uint(4, "little")
    end = min(8 + size, len(out))
    if end < 12:
        raise ScrubError("RIFF file without a form type")
    removed = _riff_chunks(out, 12, end, budget, depth=1)
    if out[end:].startswith((b"ID3", b"TAG")):  # tags some programs append to the file
        del out[end:]
        removed += 1
    return bytes(out), removed


def _riff_chunks(data: bytearray, start: int, end: int, budget: Budget, *, depth: int) -> int:
    if depth > MAX_DEPTH:
        raise ScrubError("RIFF lists nested too deeply", TOO_COMPLEX)
    removed = 0
    reader = Reader(data, start, end)
    while reader.remaining >= 8:
        budget.spend()
        at = reader.at
        kind, size = reader.take(4), reader.uint(4, "little")
        chunk_end = min(at + 8 + size, end)  # a recording cut short keeps what it has
        form = bytes(data[at + 8 : at + 12]) if chunk_end >= at + 12 else b""
        if kind in _RIFF_DROP or (kind == b"LIST" and form in _RIFF_DROP_LISTS):
            data[at : at + 4] = b"JUNK"
            data[at + 8 : chunk_end] = bytes(chunk_end - at - 8)
            removed += 1
        elif kind in (b"JUNK", b"junk", b"PAD ") and data[at + 8 : chunk_end].strip(b"\x00"):
            data[at + 8 : chunk_end] = bytes(chunk_end - at - 8)  # cameras write text there
            removed += 1
        elif kind == b"LIST" and form and form != b"movi":
            removed += _riff_chunks(data, at + 12, chunk_end, budget, depth=depth + 1)
        reader.skip_to(min(at + 8 + size + (size & 1), end))  # padded to an even length
    return removed


# PDF -----------------------------------------------------------------------------------

_ANNOTATIONS_WITHOUT_AUTHOR: Final = {"/Widget", "/Link"}


def _pdf(data: bytes, budget: Budget) -> tuple[bytes, int]:
    out = _BoundedOutput(budget)
    try:
        with pikepdf.open(io.BytesIO(data)) as pdf:
            removed = 0
            if "/Info" in pdf.trailer:
                del pdf.trailer["/Info"]
                removed += 1
            if "/ID" in pdf.trailer:
                # The first identifier is permanent: it can tie this copy to the original.
                del pdf.trailer["/ID"]
            for obj in pdf.objects:
                if isinstance(obj, pikepdf.Dictionary | pikepdf.Stream):
                    for key in ("/Metadata", "/PieceInfo"):
                        if key in obj:
                            del obj[key]
                            removed += 1
            for page in pdf.pages:
                for annotation in page.obj.get("/Annots", pikepdf.Array()):
                    if not isinstance(annotation, pikepdf.Dictionary):
                        continue
                    if str(annotation.get("/Subtype", "")) in _ANNOTATIONS_WITHOUT_AUTHOR:
                        continue
                    for key in ("/T", "/M", "/CreationDate"):
                        if key in annotation:
                            del annotation[key]
                            removed += 1
            # A deterministic identifier is a hash of the content, so it says nothing.
            # Streams are copied as they are, never inflated: a flate bomb costs nothing.
            pdf.save(
                out, deterministic_id=True, stream_decode_level=pikepdf.StreamDecodeLevel.none
            )
    except pikepdf.PasswordError as exc:
        raise ScrubError(f"encrypted PDF: {exc}", ENCRYPTED_PDF) from exc
    except pikepdf.PdfError as exc:
        raise ScrubError(f"unreadable PDF: {exc}") from exc
    except (ValueError, RuntimeError, TypeError, KeyError) as exc:  # what pikepdf raises
        raise ScrubError(f"unreadable PDF: {exc}") from exc
    return out.getvalue(), removed


# Office: OOXML and ODF -----------------------------------------------------------------

_EMPTY_CORE: Final = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n'
    b'<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/'
    b'core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/" '
    b'xmlns:dcterms="http://purl.org/dc/terms/" xmlns:dcmitype="http://purl.org/dc/dcmitype/" '
    b'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"/>'
)
_EMPTY_APP: Final = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n'
    b'<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/'
    b'extended-properties" xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/'
    b'docPropsVTypes"/>'
)
_ODF_VERSION: Final = re.compile(rb'office:version="([0-9.]{1,8})"')
_RELATIONSHIP: Final = re.compile(rb"<Relationship\b[^>]*>")
_OVERRIDE: Final = re.compile(rb"<Override\b[^>]*>")
_MANIFEST_ENTRY: Final = re.compile(rb"<manifest:file-entry\b[^>]*/>")
_TARGET: Final = re.compile(rb'\bTarget="([^"]*)"')
_PART_NAME: Final = re.compile(rb'\bPartName="([^"]*)"')
_FULL_PATH: Final = re.compile(rb'\bmanifest:full-path="([^"]*)"')
_NEUTRAL_DATE: Final = (1980, 1, 1, 0, 0, 0)


def _empty_meta(original: bytes) -> bytes:
    found = _ODF_VERSION.search(original)
    version = found.group(1) if found else b"1.2"
    return (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<office:document-meta xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        b'office:version="' + version + b'"><office:meta/></office:document-meta>'
    )


def _without_references(
    content: bytes, element: re.Pattern[bytes], attribute: re.Pattern[bytes], dropped: set[str]
) -> bytes:
    def keep_or_drop(match: re.Match[bytes]) -> bytes:
        found = attribute.search(match.group(0))
        if found is None:
            return match.group(0)
        target = found.group(1).decode("utf-8", "replace").lstrip("/").lower()
        return b"" if target in dropped else match.group(0)

    return element.sub(keep_or_drop, content)


def _ooxml(data: bytes, budget: Budget) -> tuple[bytes, int]:
    def drop(name: str) -> bool:
        return name in ("docprops/custom.xml",) or name.startswith("docprops/thumbnail.")

    def replace(name: str, content: bytes, dropped: set[str]) -> bytes:
        if name == "docprops/core.xml":
            return _EMPTY_CORE
        if name == "docprops/app.xml":
            return _EMPTY_APP
        if name == "_rels/.rels":
            return _without_references(content, _RELATIONSHIP, _TARGET, dropped)
        return _without_references(content, _OVERRIDE, _PART_NAME, dropped)

    emptied = {"docprops/core.xml", "docprops/app.xml"}
    rewritten = emptied | {"_rels/.rels", "[content_types].xml"}
    return _rezip(data, budget, drop, replace, rewritten, emptied)


def _odf(data: bytes, budget: Budget) -> tuple[bytes, int]:
    def drop(name: str) -> bool:
        return name.startswith("thumbnails/")

    def replace(name: str, content: bytes, dropped: set[str]) -> bytes:
        if name == "meta.xml":
            return _empty_meta(content)
        # The manifest may list the thumbnail folder as well as the file in it.
        references = dropped | {"thumbnails/"} if dropped else dropped
        return _without_references(content, _MANIFEST_ENTRY, _FULL_PATH, references)

    return _rezip(data, budget, drop, replace, {"meta.xml", "meta-inf/manifest.xml"}, {"meta.xml"})


def _rezip(
    data: bytes,
    budget: Budget,
    drop: Callable[[str], bool],
    replace: Callable[[str, bytes, set[str]], bytes],
    rewritten: set[str],
    emptied: set[str],
) -> tuple[bytes, int]:
    """Copy a zip-based document part by part, dropping and rewriting by lower-case name."""
    _zip_check_directory(data)  # before zipfile reads a listing of any length
    out = _BoundedOutput(budget)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
            budget.spend(len(infos))
            if sum(info.file_size for info in infos) > ZIP_MAX_TOTAL:
                raise ScrubError("document too large once unpacked", TOO_COMPLEX)
            names = [info.filename.lower() for info in infos]
            if not all(names):  # zipfile itself fails on a part without a name (fuzzer)
                raise ScrubError("document part without a name")
            if len(set(names)) != len(names):
                raise ScrubError("document lists a part twice")
            dropped = {name for name in names if drop(name)}
            removed = len(dropped)
            with zipfile.ZipFile(out, "w") as clean:
                for info, name in zip(infos, names, strict=True):
                    if name in dropped:
                        continue
                    # A new entry: no date, comment or extra field (owner ids, file times).
                    entry = zipfile.ZipInfo(info.filename, date_time=_NEUTRAL_DATE)
                    entry.compress_type = info.compress_type
                    entry.external_attr = 0x10 if info.is_dir() else 0
                    if name in rewritten:
                        content = replace(name, archive.read(info), dropped)
                        removed += name in emptied
                        clean.writestr(entry, content)
                    elif info.is_dir():
                        clean.writestr(entry, b"")
                    else:
                        with archive.open(info) as part, clean.open(entry, "w") as copy:
                            shutil.copyfileobj(part, copy, 64 * 1024)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError) as exc:
        raise ScrubError(f"unreadable document: {exc}") from exc
    except (OSError, RuntimeError, NotImplementedError, ValueError) as exc:
        raise ScrubError(f"unreadable document: {exc}") from exc
    return out.getvalue(), removed




_ZIP_END: Final = b"PK\x05\x06"
_ZIP64_LOCATOR: Final = b"PK\x06\x07"


def _zip_check_directory(data: bytes) -> None:
    """Count the central directory's entries as zipfile would find them, before it builds
    an object for each: ZIP_MAX_ENTRIES at most. A directory that cannot be found is left
    for zipfile to refuse."""
    end = data.rfind(_ZIP_END, max(0, len(data) - 22 - 65535))
    if end < 0 or end + 22 > len(data):
        return
    trailer = Reader(data, end + 12, end + 16)
    size = trailer.uint(4, "little")
    directory_end = end
    locator = end - 20
    if locator >= 0 and data[locator : locator + 4] == _ZIP64_LOCATOR:
        record = Reader(data, locator + 8, locator + 16).uint(8, "little")
        if record + 56 > len(data):
            return
        size = Reader(data, record + 40, record + 48).uint(8, "little")
        directory_end = record
    start = directory_end - size
    if start < 0:
        return
    reader = Reader(data, start, directory_end)
    entries = 0
    while reader.remaining >= 46 and reader.take(4) == b"PK\x01\x02":
        entries += 1
        if entries > ZIP_MAX_ENTRIES:
            raise ScrubError("too many entries in the document", TOO_COMPLEX)
        reader.skip(24)
        name, extra, comment = (reader.uint(2, "little") for _ in range(3))
        reader.skip(12)
        if name + extra + comment > reader.remaining:
            return
        reader.skip(name + extra + comment)


# Audio through mutagen -----------------------------------------------------------------

# What mutagen raises on a file it cannot parse, besides its own errors (issue 7: a crafted
# MP3 made it raise ValueError).
_MUTAGEN_ERRORS: Final = (
    mutagen.MutagenError, ValueError, EOFError, OverflowError, struct.error, IndexError
)  # fmt: skip


def _id3_end(data: bytes | bytearray, at: int = 0) -> tuple[int, int]:
    """Where the ID3v2 tags stacked at ``at`` end, and how many there are; each tag is at
    least its 10-byte header, so the walk always moves on."""
    reader = Reader(data, at)
    tags = 0
    while reader.remaining >= 10 and data[reader.at : reader.at + 3] == b"ID3":
        header = reader.take(10)
        size = 0
        for byte in header[6:10]:  # four 7-bit bytes ("syncsafe")
            size = (size << 7) | (byte & 0x7F)
        size += 10 if header[5] & 0x10 else 0  # a footer, if flagged
        reader.skip(min(size, reader.remaining))  # a tag cut short ends the file
        tags += 1
    return reader.at, tags


def _tagged_audio(data: bytes, budget: Budget) -> tuple[bytes, int]:
    """MP3 and AAC: ID3v2 at the start (sometimes several), APEv2 and ID3v1 at the end."""
    start, removed = _id3_end(data)
    budget.spend(removed)
    if start == len(data):
        raise ScrubError("no audio after the ID3 tags")
    buffer = io.BytesIO(data[start:])
    try:
        for delete in (mutagen.apev2.delete, _delete_id3v1, mutagen.apev2.delete):
            before = buffer.seek(0, io.SEEK_END)
            buffer.seek(0)
            delete(buffer)
            removed += buffer.seek(0, io.SEEK_END) != before
    except _MUTAGEN_ERRORS as exc:
        raise ScrubError(f"unreadable audio: {exc}") from exc
    return buffer.getvalue(), removed


def _delete_id3v1(buffer: BinaryIO) -> None:
    mutagen.id3.delete(buffer, delete_v1=True, delete_v2=False)


_FLAC_KEEP: Final = {0, 3, 5}  # STREAMINFO, SEEKTABLE, CUESHEET: what playing needs


def _flac(data: bytes, budget: Budget) -> tuple[bytes, int]:
    buffer = io.BytesIO(data)
    try:
        flac = mutagen.flac.FLAC(buffer)
        budget.spend(len(flac.metadata_blocks))
        kept = [block for block in flac.metadata_blocks if block.code in _FLAC_KEEP]
        removed = sum(1 for block in flac.metadata_blocks if block.code not in _FLAC_KEEP | {1})
        flac.metadata_blocks = kept
        buffer.seek(0)
        flac.save(buffer, deleteid3=True, padding=lambda _info: 0)
    except _MUTAGEN_ERRORS as exc:
        raise ScrubError(f"unreadable FLAC: {exc}") from exc
    return buffer.getvalue(), removed


_OGG_TYPES: Final = (
    mutagen.oggopus.OggOpus,
    mutagen.oggvorbis.OggVorbis,
    mutagen.oggflac.OggFLAC,
    mutagen.oggspeex.OggSpeex,
)


def _ogg(data: bytes, budget: Budget) -> tuple[bytes, int]:
    buffer = io.BytesIO(data)
    try:
        audio = mutagen.File(buffer, options=list(_OGG_TYPES))
        if audio is None:
            raise ScrubError("unreadable Ogg stream")
        removed = 1 if audio.tags else 0
        buffer.seek(0)
        audio.delete(buffer)
    except _MUTAGEN_ERRORS as exc:
        raise ScrubError(f"unreadable Ogg stream: {exc}") from exc
    return buffer.getvalue(), removed


# None: passed through unchanged (see the module docstring for why).
_HANDLERS: Final[dict[str, Handler | None]] = {
    "jpg": _jpeg,
    "png": _png,
    "gif": _redraw("GIF"),
    "webp": _redraw("WEBP"),
    "bmp": _redraw("BMP"),
    "tiff": _redraw("TIFF"),
    "heic": _heic,
    "pdf": _pdf,
    "docx": _ooxml,
    "xlsx": _ooxml,
    "pptx": _ooxml,
    "odt": _odf,
    "ods": _odf,
    "odp": _odf,
    "doc": None,
    "xls": None,
    "ppt": None,
    "wps": None,
    "mp3": _tagged_audio,
    "aac": _tagged_audio,
    "amr": None,
    "wav": _riff,
    "avi": _riff,
    "flac": _flac,
    "ogg": _ogg,
    "opus": _ogg,
    "m4a": _bmff,
    "mp4": _bmff,
    "mov": _bmff,
    "3gp": _bmff,
}
