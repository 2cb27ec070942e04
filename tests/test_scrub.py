"""Evidence files: only allowed types by content, and no identifying metadata left in them.

Every sample is made here, small and real enough for its own reader (Pillow, pikepdf,
zipfile, mutagen, wave) to open before and after scrubbing.
"""

from __future__ import annotations

import builtins
import contextlib
import functools
import html
import io
import os
import pathlib
import signal
import struct
import tempfile
import threading
import time
import warnings
import wave
import xml.etree.ElementTree as ElementTree
import zipfile
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import mutagen.apev2
import mutagen.flac
import mutagen.id3
import mutagen.mp3
import mutagen.mp4
import mutagen.oggopus
import pikepdf
import pytest
from flask import Flask
from flask.testing import FlaskClient
from mutagen.ogg import OggPage
from PIL import Image
from sqlalchemy import func, select

from tests.conftest import csrf_token, post_multipart
from tipline.intake import scrub as scrub_module
from tipline.intake.models import Attachment, Tip
from tipline.intake.scrub import (
    ALLOWED_EXTENSIONS,
    HEAD_SIZE,
    KINDS,
    MAX_FRAMES,
    ZIP_MAX_ENTRIES,
    FileType,
    PixelGate,
    Scrubbed,
    ScrubError,
    detect_type,
    scrub,
)

NAME = b"Reporter Name"  # the identifying string every sample carries in its metadata


def scrubbed(data: bytes, filename: str = "") -> tuple[Scrubbed, bytes]:
    result = scrub(io.BytesIO(data), filename)
    return result, result.data.read()


# --- samples: pictures --------------------------------------------------------------------


def exif_with_gps() -> Image.Exif:
    exif = Image.Exif()
    exif[0x013B] = NAME.decode()  # Artist
    exif[0x0110] = "SecretPhone 9"  # Model
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (39.0, 54.0, 15.0)
    gps[3] = "E"
    gps[4] = (116.0, 23.0, 30.0)
    return exif


def picture(image_format: str, **options: Any) -> bytes:
    image = Image.new("RGB", (64, 48), (200, 30, 30))
    for x in range(64):
        image.putpixel((x, x % 48), (x * 4, 255 - x * 4, 90))
    out = io.BytesIO()
    image.save(out, format=image_format, **options)
    return out.getvalue()


def jpeg(**options: Any) -> bytes:
    return picture("JPEG", exif=exif_with_gps(), comment=b"taken at home", **options)


def png() -> bytes:
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Author", NAME.decode())
    return picture("PNG", pnginfo=info, exif=exif_with_gps())


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def full_box(kind: bytes, version: int, payload: bytes) -> bytes:
    return box(kind, bytes([version, 0, 0, 0]) + payload)


HEIC_PICTURE = b"\x00\x00\x00\x20" + b"hevc coded picture stand-in" * 4
HEIC_EXIF = b"\x00\x00\x00\x06Exif\x00\x00MM\x00*\x00\x00\x00\x08" + NAME + b" GPS 39.9N 116.4E"


def ispe(width: int, height: int) -> bytes:
    return full_box(b"ispe", 0, struct.pack(">II", width, height))


def ipma(*entries: tuple[int, list[int]]) -> bytes:
    """Item property associations: (item id, [1-based property indices])."""
    body = struct.pack(">I", len(entries)) + b"".join(
        struct.pack(">HB", item, len(indices)) + bytes(0x80 | i for i in indices)
        for item, indices in entries
    )
    return full_box(b"ipma", 0, body)


def heic(
    properties: bytes | None = None,
    associations: bytes | None = None,
    extra_items: tuple[tuple[int, bytes], ...] = (),
) -> bytes:
    """A HEIF file as phones write it: picture and Exif items, located by iloc in mdat, the
    picture's size in an ispe property (by default 64 × 48, the picture being item 1)."""
    if properties is None:
        properties = box(b"ipco", ispe(64, 48))
    if associations is None:
        associations = ipma((1, [1]))

    def meta(picture_at: int, exif_at: int) -> bytes:
        hdlr = full_box(b"hdlr", 0, bytes(4) + b"pict" + bytes(12) + b"\x00")
        pitm = full_box(b"pitm", 0, struct.pack(">H", 1))
        iloc = full_box(
            b"iloc",
            0,
            b"\x44\x00"  # 4-byte offsets and lengths, no base offset
            + struct.pack(">H", 2)
            + struct.pack(">HHHII", 1, 0, 1, picture_at, len(HEIC_PICTURE))
            + struct.pack(">HHHII", 2, 0, 1, exif_at, len(HEIC_EXIF)),
        )
        items = [(1, b"hvc1"), (2, b"Exif"), *extra_items]
        infe = [full_box(b"infe", 2, struct.pack(">HH", n, 0) + t + b"\x00") for n, t in items]
        iinf = full_box(b"iinf", 0, struct.pack(">H", len(infe)) + b"".join(infe))
        iprp = box(b"iprp", properties + associations) if properties or associations else b""
        return full_box(b"meta", 0, hdlr + pitm + iloc + iinf + iprp)

    ftyp = box(b"ftyp", b"heic" + bytes(4) + b"mif1heic")
    start = len(ftyp) + len(meta(0, 0)) + 8
    mdat = box(b"mdat", HEIC_PICTURE + HEIC_EXIF)
    return ftyp + meta(start, start + len(HEIC_PICTURE)) + mdat


# --- samples: PDF and office ---------------------------------------------------------------


def pdf() -> bytes:
    with pikepdf.new() as document:
        document.add_blank_page()
        page = document.pages[0]
        page.obj.Contents = document.make_stream(b"BT /F1 12 Tf 72 712 Td (Evidence) Tj ET")
        page.obj.Metadata = document.make_stream(b"<x:xmpmeta>Page " + NAME + b"</x:xmpmeta>")
        note = pikepdf.Dictionary(
            Type=pikepdf.Name.Annot,
            Subtype=pikepdf.Name.Text,
            Rect=[0, 0, 10, 10],
            Contents="see the ledger",
            T=NAME.decode() + " (comment)",
        )
        page.obj.Annots = document.make_indirect(pikepdf.Array([document.make_indirect(note)]))
        document.docinfo["/Author"] = NAME.decode()
        document.docinfo["/Producer"] = "Secret Bureau Scanner"
        with document.open_metadata(set_pikepdf_as_editor=False) as xmp:
            xmp["dc:creator"] = [NAME.decode() + " XMP"]
        out = io.BytesIO()
        document.save(out, compress_streams=False)
    return out.getvalue()


def expanded_pdf(data: bytes) -> bytes:
    """The PDF with every stream decoded and no object streams, so a search sees all."""
    with pikepdf.open(io.BytesIO(data)) as document:
        out = io.BytesIO()
        document.save(
            out,
            compress_streams=False,
            stream_decode_level=pikepdf.StreamDecodeLevel.generalized,
            object_stream_mode=pikepdf.ObjectStreamMode.disable,
        )
    return out.getvalue()


CONTENT_TYPES = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    b'<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    b'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
    b'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
    b'<Default Extension="jpeg" ContentType="image/jpeg"/>'
    b'<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-'
    b'officedocument.wordprocessingml.document.main+xml"/>'
    b'<Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-'
    b'package.core-properties+xml"/>'
    b'<Override PartName="/docProps/app.xml" ContentType="application/vnd.openxmlformats-'
    b'officedocument.extended-properties+xml"/>'
    b'<Override PartName="/docProps/custom.xml" ContentType="application/vnd.openxmlformats-'
    b'officedocument.custom-properties+xml"/></Types>'
)
PACKAGE_RELS = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    b'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    b'<Relationship Id="rId3" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    b'relationships/extended-properties" Target="docProps/app.xml"/>'
    b'<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/'
    b'relationships/metadata/core-properties" Target="docProps/core.xml"/>'
    b'<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    b'relationships/officeDocument" Target="word/document.xml"/>'
    b'<Relationship Id="rId4" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    b'relationships/custom-properties" Target="docProps/custom.xml"/>'
    b'<Relationship Id="rId5" Type="http://schemas.openxmlformats.org/package/2006/'
    b'relationships/metadata/thumbnail" Target="/docProps/thumbnail.jpeg"/></Relationships>'
)
CORE = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    b'<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/'
    b'core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/" '
    b'xmlns:dcterms="http://purl.org/dc/terms/" '
    b'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
    b"<dc:title>Q3 ledger</dc:title><dc:creator>" + NAME + b"</dc:creator>"
    b"<cp:lastModifiedBy>" + NAME + b"</cp:lastModifiedBy>"
    b'<dcterms:created xsi:type="dcterms:W3CDTF">2024-03-01T09:12:00Z</dcterms:created>'
    b"</cp:coreProperties>"
)
APP = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    b'<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/'
    b'extended-properties"><Application>Microsoft Office Word</Application>'
    b"<Company>Secret Bureau</Company><Manager>" + NAME + b"</Manager></Properties>"
)
CUSTOM = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    b'<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/'
    b'custom-properties"><property name="Owner">' + NAME + b"</property></Properties>"
)
DOCUMENT = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    b'<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
    b"<w:body><w:p><w:r><w:t>" + "医保基金被套取".encode() * 50 + b"</w:t></w:r></w:p>"
    b"</w:body></w:document>"
)


def make_zip(parts: list[tuple[str, bytes]], *, stored: tuple[str, ...] = ()) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in parts:
            entry = zipfile.ZipInfo(name, date_time=(2024, 3, 1, 9, 12, 0))
            entry.compress_type = zipfile.ZIP_STORED if name in stored else zipfile.ZIP_DEFLATED
            entry.comment = b"saved by " + NAME
            archive.writestr(entry, content)
    return out.getvalue()


def docx() -> bytes:
    return make_zip(
        [
            ("[Content_Types].xml", CONTENT_TYPES),
            ("_rels/.rels", PACKAGE_RELS),
            ("docProps/core.xml", CORE),
            ("docProps/app.xml", APP),
            ("docProps/custom.xml", CUSTOM),
            ("docProps/thumbnail.jpeg", jpeg()),
            ("word/document.xml", DOCUMENT),
        ]
    )


def ooxml(main: str) -> bytes:
    return make_zip([("[Content_Types].xml", CONTENT_TYPES), (main, b"<x/>")])


MANIFEST = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" '
    b'manifest:version="1.3">'
    b'<manifest:file-entry manifest:full-path="/" manifest:version="1.3" '
    b'manifest:media-type="application/vnd.oasis.opendocument.text"/>'
    b'<manifest:file-entry manifest:full-path="Thumbnails/thumbnail.png" '
    b'manifest:media-type="image/png"/>'
    b'<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
    b'<manifest:file-entry manifest:full-path="meta.xml" manifest:media-type="text/xml"/>'
    b"</manifest:manifest>"
)
META = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<office:document-meta xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    b'xmlns:meta="urn:oasis:names:tc:opendocument:xmlns:meta:1.0" office:version="1.3">'
    b"<office:meta><meta:initial-creator>" + NAME + b"</meta:initial-creator>"
    b"<meta:creation-date>2024-03-01T09:12:00</meta:creation-date>"
    b"<meta:generator>LibreOffice/7.6</meta:generator></office:meta></office:document-meta>"
)
CONTENT = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"'
    b' office:version="1.3"><office:body><office:text/></office:body></office:document-content>'
)


def odf(subtype: str = "text") -> bytes:
    return make_zip(
        [
            ("mimetype", b"application/vnd.oasis.opendocument." + subtype.encode()),
            ("content.xml", CONTENT),
            ("meta.xml", META),
            ("Thumbnails/thumbnail.png", png()),
            ("META-INF/manifest.xml", MANIFEST),
        ],
        stored=("mimetype",),
    )


OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(1536)


# --- samples: audio and video ----------------------------------------------------------


MP3_FRAMES = (b"\xff\xfb\x90\x64" + bytes(413)) * 12  # MPEG-1 layer III, 128 kbit/s, 44.1 kHz


def mp3() -> bytes:
    buffer = io.BytesIO(MP3_FRAMES)
    tags = mutagen.id3.ID3()
    tags.add(mutagen.id3.TIT2(encoding=3, text="Secret Title"))
    tags.add(mutagen.id3.TPE1(encoding=3, text=NAME.decode()))
    tags.save(buffer, v1=2)  # ID3v2 in front and ID3v1 at the end
    ape = mutagen.apev2.APEv2()
    ape["Artist"] = NAME.decode() + " APE"
    ape.save(buffer)
    return buffer.getvalue()


def adts_frame(length: int = 64) -> bytes:
    # AAC LC, 44.1 kHz, stereo, no CRC.
    header = bytes(
        [
            0xFF,
            0xF1,
            0x50,
            0x80 | (length >> 11),
            (length >> 3) & 0xFF,
            ((length & 7) << 5) | 0x1F,
            0xFC,
        ]
    )
    return header + bytes(length - 7)


def aac() -> bytes:
    buffer = io.BytesIO(adts_frame() * 10)
    tags = mutagen.id3.ID3()
    tags.add(mutagen.id3.TPE1(encoding=3, text=NAME.decode()))
    tags.save(buffer, v1=0)
    return buffer.getvalue()


def flac() -> bytes:
    rate, channels, bits, samples = 44100, 2, 16, 44100
    info = struct.pack(">HH", 4096, 4096) + bytes(6)
    info += ((rate << 44) | ((channels - 1) << 41) | ((bits - 1) << 36) | samples).to_bytes(8)
    info += bytes(16)  # MD5 of the audio
    buffer = io.BytesIO(b"fLaC" + bytes([0x80]) + len(info).to_bytes(3) + info + bytes(64))
    audio = mutagen.flac.FLAC(buffer)
    audio.add_tags()
    assert audio.tags is not None
    audio.tags["ARTIST"] = NAME.decode()
    face = mutagen.flac.Picture()
    face.data = b"face of " + NAME
    face.mime = "image/jpeg"
    audio.add_picture(face)
    buffer.seek(0)
    audio.save(buffer)
    return buffer.getvalue()


def ogg_page(packets: list[bytes], sequence: int, position: int, *, first: bool = False) -> bytes:
    page = OggPage()
    page.serial, page.sequence, page.position = 0x7EA1, sequence, position
    page.first = first
    page.last = not first and position > 0
    page.packets = packets
    return page.write()


def opus() -> bytes:
    head = b"OpusHead" + bytes([1, 1]) + struct.pack("<HIhB", 312, 48000, 0, 0)
    vendor, comment = b"libopus 1.4", b"ARTIST=" + NAME
    tags = (
        b"OpusTags" + struct.pack("<I", len(vendor)) + vendor + struct.pack("<II", 1, len(comment))
    ) + comment
    return (
        ogg_page([head], 0, 0, first=True)
        + ogg_page([tags], 1, 0)
        + ogg_page([b"\xfc" + bytes(20)] * 5, 2, 48000 + 312)
    )


def riff(form: bytes, *chunks: bytes) -> bytes:
    body = form + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def chunk(kind: bytes, payload: bytes) -> bytes:
    return kind + struct.pack("<I", len(payload)) + payload + b"\x00" * (len(payload) & 1)


def info_list() -> bytes:
    return chunk(b"LIST", b"INFO" + chunk(b"IART", NAME + b"\x00") + chunk(b"ICRD", b"2024"))


WAV_FRAMES = bytes(range(256)) * 8


def wav() -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(8000)
        writer.writeframes(WAV_FRAMES)
    data = out.getvalue()[12:]  # the chunks after RIFF....WAVE
    bext = chunk(b"bext", b"Originator: " + NAME + bytes(40))
    return riff(b"WAVE", data[:24], bext, data[24:], info_list())


AVI_FRAME = chunk(b"00dc", b"\xff\xd8 a frame \xff\xd9")


def avi() -> bytes:
    header = chunk(b"LIST", b"hdrl" + chunk(b"avih", bytes(56)) + chunk(b"IDIT", b"2024 " + NAME))
    movi = chunk(b"LIST", b"movi" + AVI_FRAME)
    return riff(b"AVI ", header, info_list(), chunk(b"JUNK", b"camera " + NAME), movi)


def mvhd(version_times: bytes = b"\x00\x00\x00\x00" + b"\xe0\x00\x00\x01" * 2) -> bytes:
    # Version 0, creation and modification times, time scale 1000, duration 1000.
    return box(b"mvhd", version_times + struct.pack(">II", 1000, 1000) + bytes(80))


def trak(handler: bytes) -> bytes:
    times = b"\x00\x00\x00\x01" + b"\xe0\x00\x00\x01" * 2
    tkhd = box(b"tkhd", times + struct.pack(">I", 1) + bytes(68))
    scale = struct.pack(">II", 1000, 1000)
    mdhd = box(b"mdhd", times[:4] + b"\xe0\x00\x00\x01" * 2 + scale + bytes(4))
    hdlr = full_box(b"hdlr", 0, bytes(4) + handler + bytes(12) + b"\x00")
    stbl = box(b"stbl", full_box(b"stsd", 0, struct.pack(">I", 0)))
    minf = box(b"minf", box(b"dinf", b"") + stbl)
    return box(b"trak", tkhd + box(b"mdia", mdhd + hdlr + minf))


MDAT = box(b"mdat", b"media samples that must not move " * 8)


def iso_media(brand: bytes, handler: bytes) -> bytes:
    """An ISO media file with a phone's location in moov/udta/©xyz and Apple mdta keys."""
    location = b"\xa9xyz" + struct.pack(">HH", 18, 0x15C7) + b"+39.9042+116.4074/"
    udta = box(b"udta", box(location[:4], location[4:]) + box(b"\xa9mak", NAME))
    keys = full_box(b"keys", 0, struct.pack(">I", 1) + box(b"mdta", b"com.apple.quicktime.make"))
    meta = full_box(b"meta", 0, full_box(b"hdlr", 0, bytes(4) + b"mdta" + bytes(13)) + keys)
    moov = box(b"moov", mvhd() + trak(handler) + udta + meta)
    ftyp = box(b"ftyp", brand + bytes(4) + brand + b"isom")
    return ftyp + moov + box(b"free", b"old tag " + NAME) + MDAT


def m4a() -> bytes:
    buffer = io.BytesIO(iso_media(b"M4A ", b"soun"))
    audio = mutagen.mp4.MP4(buffer)
    audio.add_tags()
    assert audio.tags is not None
    audio.tags["\xa9ART"] = [NAME.decode()]
    audio.tags["\xa9day"] = ["2024-03-01"]
    buffer.seek(0)
    audio.save(buffer)
    return buffer.getvalue()


AMR = b"#!AMR\n" + (b"\x3c" + bytes(31)) * 10


@functools.cache
def samples() -> dict[str, tuple[str, bytes]]:
    """Extension expected → (file name as uploaded, content)."""
    return {
        "jpg": ("IMG_0001.JPG", jpeg()),
        "png": ("screenshot.png", png()),
        "gif": ("a.gif", picture("GIF", comment=NAME)),
        "webp": ("a.webp", picture("WEBP", exif=exif_with_gps())),
        "heic": ("IMG_0002.HEIC", heic()),
        "bmp": ("a.bmp", picture("BMP")),
        "tiff": ("scan.tif", picture("TIFF", exif=exif_with_gps())),
        "pdf": ("票据.pdf", pdf()),
        "docx": ("report.docx", docx()),
        "xlsx": ("ledger.xlsx", ooxml("xl/workbook.xml")),
        "pptx": ("slides.pptx", ooxml("ppt/presentation.xml")),
        "odt": ("report.odt", odf("text")),
        "ods": ("ledger.ods", odf("spreadsheet")),
        "odp": ("slides.odp", odf("presentation")),
        "doc": ("old.doc", OLE2),
        "xls": ("old.xls", OLE2),
        "ppt": ("old.ppt", OLE2),
        "wps": ("old.wps", OLE2),
        "mp3": ("call.mp3", mp3()),
        "m4a": ("memo.m4a", m4a()),
        "aac": ("memo.aac", aac()),
        "amr": ("call.amr", AMR),
        "wav": ("call.wav", wav()),
        "opus": ("voice.opus", opus()),
        "flac": ("call.flac", flac()),
        "mp4": ("video.mp4", iso_media(b"mp42", b"vide")),
        "mov": ("IMG_0003.MOV", iso_media(b"qt  ", b"vide")),
        "3gp": ("clip.3gp", iso_media(b"3gp4", b"vide")),
        "avi": ("clip.avi", avi()),
    }


# --- detection ---------------------------------------------------------------------------


@pytest.mark.parametrize("extension", sorted(samples()))
def test_every_allowed_type_is_detected_from_its_head(extension: str) -> None:
    filename, data = samples()[extension]
    found = detect_type(filename, data[:HEAD_SIZE])
    assert found is not None and found.extension == extension
    assert found.kind in KINDS
    assert detect_type(filename, data) == found
    assert "." + extension in ALLOWED_EXTENSIONS


def test_every_kind_has_samples_and_the_form_list_is_dotted() -> None:
    found = {detect_type(name, data) for name, data in samples().values()}
    assert {t.kind for t in found if t is not None} == set(KINDS)
    assert all(ext.startswith(".") and ext == ext.lower() for ext in ALLOWED_EXTENSIONS)
    assert {".jpeg", ".jpg", ".tif", ".heic", ".docx", ".mp4"} <= set(ALLOWED_EXTENSIONS)


def plain_zip() -> bytes:
    return make_zip([("word/document.xml", DOCUMENT), ("notes.txt", b"hello")])


REFUSED = {
    "exe named as a PDF": ("evidence.pdf", b"MZ\x90\x00\x03\x00\x00\x00" + bytes(56) + b"PE"),
    "exe": ("setup.exe", b"MZ" + bytes(200) + b"This program cannot be run in DOS mode"),
    "ELF": ("photo.jpg", b"\x7fELF\x02\x01\x01" + bytes(100)),
    "HTML": ("page.html", b"<!DOCTYPE html><html><script>alert(1)</script></html>"),
    "HTML named as a picture": ("photo.jpg", b"<html><body>hi</body></html>"),
    "SVG": ("chart.svg", b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>'),
    "SVG named as PNG": ("chart.png", b'<svg xmlns="http://www.w3.org/2000/svg"></svg>'),
    "script": ("run.sh", b"#!/bin/sh\nrm -rf /\n"),
    "plain text": ("账本.txt", "收入 100 元".encode()),
    "plain zip": ("files.zip", plain_zip()),
    "plain zip named .docx": ("report.docx", plain_zip()),
    "macro document named .docx": (
        "report.docx",
        make_zip([("[Content_Types].xml", CONTENT_TYPES), ("word/vbaProject.bin", b"x")]),
    ),
    "EPUB": ("book.odt", make_zip([("mimetype", b"application/epub+zip")], stored=("mimetype",))),
    "OLE2 installer": ("setup.msi", OLE2),
    "Ogg Theora video": ("v.ogg", ogg_page([b"\x80theora" + bytes(20)], 0, 0, first=True)),
    "AVIF": ("a.heic", box(b"ftyp", b"avif" + bytes(4) + b"mif1avif") + MDAT),
    "bare MP3 sync bytes": ("a.mp3", b"\xff\xfb\x90\x64 then text, not a second frame" * 20),
    "BMP magic only": ("a.bmp", b"BM is how this letter starts"),
    "empty": ("a.jpg", b""),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_other_files_are_refused(case: str) -> None:
    filename, data = REFUSED[case]
    assert detect_type(filename, data[:HEAD_SIZE]) is None
    assert detect_type(filename, data) is None


def test_content_wins_over_the_name() -> None:
    png_bytes, jpeg_bytes = samples()["png"][1], samples()["jpg"][1]
    assert detect_type("photo.jpg", png_bytes) == FileType("image", "png", "image/png")
    assert detect_type("report.docx", jpeg_bytes) == FileType("image", "jpg", "image/jpeg")
    assert detect_type("no extension", samples()["pdf"][1]).extension == "pdf"  # type: ignore[union-attr]
    # A generic ISO media file: the extension only says whether it is a recording or a film.
    generic = iso_media(b"isom", b"soun")
    assert detect_type("memo.m4a", generic).extension == "m4a"  # type: ignore[union-attr]
    assert detect_type("memo.exe", generic).extension == "mp4"  # type: ignore[union-attr]
    assert detect_type("C:\\fakepath\\old.DOC", OLE2).extension == "doc"  # type: ignore[union-attr]


def test_a_large_document_whose_head_does_not_tell_is_taken_by_its_extension() -> None:
    # openpyxl and LibreOffice write [Content_Types].xml last, past the first kilobytes.
    parts = [("xl/worksheets/sheet1.xml", os.urandom(6000)), ("[Content_Types].xml", CONTENT_TYPES)]
    data = make_zip(parts)
    assert detect_type("ledger.xlsx", data[:HEAD_SIZE]).extension == "xlsx"  # type: ignore[union-attr]
    assert detect_type("ledger.zip", data[:HEAD_SIZE]) is None
    assert detect_type("ledger.zip", data).extension == "xlsx"  # type: ignore[union-attr]


# --- scrubbing: pictures --------------------------------------------------------------------


def test_jpeg_loses_exif_gps_comment_and_trailing_pictures() -> None:
    original = jpeg()
    # Gain-map and MPF photos append more pictures after the end, each with its own EXIF.
    appended = original + picture("JPEG", exif=exif_with_gps())
    assert NAME in appended and b"SecretPhone" in appended
    result, data = scrubbed(appended, "IMG_0001.JPG")
    assert (result.kind, result.file_type) == ("image", detect_type("x.jpg", original))
    assert result.removed >= 3
    assert NAME not in data and b"SecretPhone" not in data and b"taken at home" not in data
    assert data.endswith(b"\xff\xd9") and data.count(b"\xff\xd8") == 1
    with Image.open(io.BytesIO(data)) as image, Image.open(io.BytesIO(original)) as before:
        assert image.size == (64, 48) and not image.getexif()
        assert image.tobytes() == before.tobytes()  # lossless: the same pixels


def test_progressive_jpeg_keeps_every_scan() -> None:
    original = jpeg(progressive=True, quality=90)
    _, data = scrubbed(original)
    assert NAME not in data
    with Image.open(io.BytesIO(data)) as image, Image.open(io.BytesIO(original)) as before:
        assert image.tobytes() == before.tobytes()


def test_png_loses_text_and_exif_chunks() -> None:
    original = png()
    result, data = scrubbed(original)
    assert result.removed == 2 and NAME not in data
    with Image.open(io.BytesIO(data)) as image, Image.open(io.BytesIO(original)) as before:
        assert image.tobytes() == before.tobytes() and not image.getexif()


@pytest.mark.parametrize("extension", ["gif", "webp", "bmp", "tiff"])
def test_other_pictures_are_redrawn_from_pixels(extension: str) -> None:
    filename, original = samples()[extension]
    result, data = scrubbed(original, filename)
    assert (result.kind, result.removed) == ("image", 1)
    assert NAME not in data and b"SecretPhone" not in data
    with Image.open(io.BytesIO(data)) as image:
        exif = image.getexif()  # TIFF keeps its structural tags, and only those
        assert image.size == (64, 48) and not {0x013B, 0x0110, 0x8825} & set(exif)


def test_heic_exif_item_is_zeroed_in_place() -> None:
    original = heic()
    result, data = scrubbed(original, "IMG_0002.HEIC")
    assert (result.kind, result.removed) == ("image", 1)
    assert len(data) == len(original) and NAME not in data
    exif_at = original.index(HEIC_EXIF)
    # An empty Exif block (offset, "Exif", TIFF header, no entries), then zeros: readers
    # such as Pillow raise on an item of zeros alone.
    empty_exif = b"\x00\x00\x00\x06Exif\x00\x00MM\x00*\x00\x00\x00\x08" + bytes(6)
    cleaned = data[exif_at : exif_at + len(HEIC_EXIF)]
    assert cleaned == empty_exif + bytes(len(HEIC_EXIF) - len(empty_exif))
    assert data[:exif_at] == original[:exif_at]  # the picture and its boxes are untouched
    assert data[exif_at + len(HEIC_EXIF) :] == original[exif_at + len(HEIC_EXIF) :]


def ipma_wide(*entries: tuple[int, list[int]]) -> bytes:
    """ipma version 1, flags 1: 32-bit item ids and 16-bit property indices."""
    body = struct.pack(">I", len(entries)) + b"".join(
        struct.pack(">IB", item, len(indices)) + b"".join(struct.pack(">H", i) for i in indices)
        for item, indices in entries
    )
    return box(b"ipma", b"\x01\x00\x00\x01" + body)


@pytest.mark.parametrize(
    "make",
    [
        lambda: heic(associations=ipma_wide((1, [0x8001]))),
        lambda: heic(
            box(b"ipco", box(b"colr", b"nclx" + bytes(7)) + ispe(64, 48) + ispe(128, 96)),
            ipma((1, [1, 2])) + ipma_wide((3, [3])),
            extra_items=((3, b"grid"),),
        ),
    ],
    ids=["ipma-v1-wide", "grid-in-second-ipma"],
)
def test_heic_pictures_whose_sizes_are_declared_pass(make: Callable[[], bytes]) -> None:
    result, data = scrubbed(make(), "IMG_0002.HEIC")
    assert (result.kind, result.removed) == ("image", 1) and NAME not in data


# --- scrubbing: PDF and office ------------------------------------------------------------


def test_pdf_loses_info_xmp_page_metadata_and_comment_authors() -> None:
    original = pdf()
    assert expanded_pdf(original).count(NAME) >= 4
    with pikepdf.open(io.BytesIO(original)) as document:
        original_id = bytes(document.trailer.ID[0])
    result, data = scrubbed(original, "票据.pdf")
    assert result.kind == "pdf" and result.removed >= 4
    expanded = expanded_pdf(data)
    assert NAME not in expanded and b"Secret Bureau" not in expanded
    with pikepdf.open(io.BytesIO(data)) as document:
        assert "/Info" not in document.trailer and "/Metadata" not in document.Root
        # The permanent identifier could tie this copy to the office's original.
        assert bytes(document.trailer.ID[0]) != original_id
        [page] = document.pages
        assert "/Metadata" not in page.obj
        [note] = page.obj.Annots
        assert "/T" not in note and str(note.Contents) == "see the ledger"
        assert b"(Evidence) Tj" in page.obj.Contents.read_bytes()


def test_docx_properties_are_emptied_and_the_rest_is_kept() -> None:
    original = docx()
    result, data = scrubbed(original, "report.docx")
    assert result.kind == "office" and result.removed == 4  # core, app, custom, thumbnail
    assert NAME not in data and b"Secret Bureau" not in data and b"2024-03-01" not in data
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        assert archive.namelist() == [
            "[Content_Types].xml",
            "_rels/.rels",
            "docProps/core.xml",
            "docProps/app.xml",
            "word/document.xml",
        ]
        assert archive.read("word/document.xml") == DOCUMENT
        assert all(info.date_time == (1980, 1, 1, 0, 0, 0) for info in archive.infolist())
        assert all(info.comment == b"" for info in archive.infolist())
        parts = {name: archive.read(name) for name in archive.namelist()}
    for name in ("[Content_Types].xml", "_rels/.rels", "docProps/core.xml", "docProps/app.xml"):
        ElementTree.fromstring(parts[name])  # still well-formed
    assert b"custom" not in parts["_rels/.rels"] and b"thumbnail" not in parts["_rels/.rels"]
    assert b'officeDocument" Target="word/document.xml"' in parts["_rels/.rels"]
    assert b"custom.xml" not in parts["[Content_Types].xml"]
    assert b"/docProps/core.xml" in parts["[Content_Types].xml"]


def test_odt_meta_is_emptied_and_the_thumbnail_dropped() -> None:
    original = odf()
    result, data = scrubbed(original, "report.odt")
    assert result.kind == "office" and result.removed == 2
    assert NAME not in data and b"2024-03-01" not in data
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        first = archive.infolist()[0]
        # ODF wants the mimetype first and stored, so it can be read at a fixed offset.
        assert (first.filename, first.compress_type) == ("mimetype", zipfile.ZIP_STORED)
        assert "Thumbnails/thumbnail.png" not in archive.namelist()
        assert archive.read("content.xml") == CONTENT
        meta = archive.read("meta.xml")
        manifest = archive.read("META-INF/manifest.xml")
    ElementTree.fromstring(meta)
    ElementTree.fromstring(manifest)
    assert b'office:version="1.3"' in meta
    assert b"Thumbnails" not in manifest and b'full-path="content.xml"' in manifest


def test_legacy_office_files_pass_through_unchanged() -> None:
    result, data = scrubbed(OLE2, "old.doc")
    assert (result.kind, result.removed, data) == ("office", 0, OLE2)


def test_zip_bomb_is_refused() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", CONTENT_TYPES)
        with archive.open("word/document.xml", "w") as part:
            zeros = bytes(1 << 20)
            for _ in range(201):
                part.write(zeros)
    bomb = out.getvalue()
    assert len(bomb) < 1 << 20
    assert detect_type("report.docx", bomb).extension == "docx"  # type: ignore[union-attr]
    with pytest.raises(ScrubError, match="too large"):
        scrub(io.BytesIO(bomb), "report.docx")


def test_document_with_too_many_entries_is_refused() -> None:
    parts = [("[Content_Types].xml", CONTENT_TYPES), ("word/document.xml", DOCUMENT)]
    parts += [(f"word/media/{n}.bin", b"") for n in range(ZIP_MAX_ENTRIES)]
    with pytest.raises(ScrubError, match="too many"):
        scrub(io.BytesIO(make_zip(parts)), "report.docx")


# --- scrubbing: audio and video -----------------------------------------------------------


def test_mp3_loses_id3v1_id3v2_and_ape_tags() -> None:
    original = mp3()
    assert original.count(NAME) == 3 and original[:3] == b"ID3"
    result, data = scrubbed(original, "call.mp3")
    assert (result.kind, result.removed) == ("audio", 3)
    assert data == MP3_FRAMES
    audio = mutagen.mp3.MP3(io.BytesIO(data))
    assert audio.tags is None and audio.info is not None and audio.info.sample_rate == 44100


def test_aac_loses_its_id3_tag() -> None:
    result, data = scrubbed(aac(), "memo.aac")
    assert (result.kind, result.removed) == ("audio", 1)
    assert data == adts_frame() * 10


def test_flac_loses_comments_and_pictures() -> None:
    original = flac()
    assert NAME in original
    result, data = scrubbed(original, "call.flac")
    assert (result.kind, result.removed) == ("audio", 2)
    assert NAME not in data
    audio = mutagen.flac.FLAC(io.BytesIO(data))
    assert not audio.tags and audio.pictures == [] and audio.info.sample_rate == 44100


def test_opus_loses_its_comments() -> None:
    original = opus()
    before = mutagen.oggopus.OggOpus(io.BytesIO(original))
    assert before.tags is not None and before.tags["ARTIST"] == [NAME.decode()]
    result, data = scrubbed(original, "voice.opus")
    assert (result.kind, result.removed) == ("audio", 1)
    assert NAME not in data
    audio = mutagen.oggopus.OggOpus(io.BytesIO(data))
    assert not audio.tags and audio.info is not None and audio.info.channels == 1


def test_m4a_loses_tags_location_and_times() -> None:
    original = m4a()
    assert NAME in original and b"+39.9042+116.4074" in original
    result, data = scrubbed(original, "memo.m4a")
    assert result.kind == "audio" and result.removed >= 5
    assert len(data) == len(original)
    for secret in (NAME, b"+39.9042", b"2024-03-01", b"com.apple", b"\xe0\x00\x00\x01"):
        assert secret not in data
    assert data.endswith(MDAT)  # samples stay where their offsets say
    audio = mutagen.mp4.MP4(io.BytesIO(data))
    assert not audio.tags and audio.info is not None and audio.info.length == 1.0


@pytest.mark.parametrize("extension", ["mp4", "mov", "3gp"])
def test_videos_lose_user_data_and_times(extension: str) -> None:
    filename, original = samples()[extension]
    result, data = scrubbed(original, filename)
    assert result.kind == "video" and result.removed >= 5
    assert len(data) == len(original) and data.endswith(MDAT)
    assert NAME not in data and b"+39.9042" not in data and b"\xe0\x00\x00\x01" not in data
    assert data[: data.index(b"moov")] == original[: original.index(b"moov")]
    assert data.count(b"trak") == 1 and data.count(b"udta") == 0


def test_wav_loses_info_and_bext_chunks() -> None:
    original = wav()
    result, data = scrubbed(original, "call.wav")
    assert (result.kind, result.removed) == ("audio", 2)
    assert len(data) == len(original) and NAME not in data and b"2024" not in data
    with wave.open(io.BytesIO(data), "rb") as reader:
        assert reader.readframes(reader.getnframes()) == WAV_FRAMES


def test_avi_loses_info_date_and_junk_text() -> None:
    original = avi()
    result, data = scrubbed(original, "clip.avi")
    assert (result.kind, result.removed) == ("video", 3)
    assert len(data) == len(original) and NAME not in data
    assert AVI_FRAME in data and data.count(b"JUNK") == 3


def test_amr_has_nothing_to_remove() -> None:
    result, data = scrubbed(AMR, "call.amr")
    assert (result.kind, result.removed, data) == ("audio", 0, AMR)


# --- everything -----------------------------------------------------------------------


def test_files_of_no_allowed_type_come_back_as_they_were() -> None:
    source = io.BytesIO(b"evidence " * 100)
    result = scrub(source)
    assert (result.kind, result.removed, result.file_type) == ("other", 0, None)
    assert result.data is source and source.read() == b"evidence " * 100


def test_without_a_name_the_content_still_decides() -> None:
    result, data = scrubbed(docx())
    assert result.kind == "office" and NAME not in data


CORRUPT = {
    "fake PDF": b"%PDF-1.4 fake evidence",
    "truncated PNG": samples()["png"][1][:60],
    "JPEG with a broken segment": b"\xff\xd8\xff\xe1\x00\x40Exif",
    "truncated GIF": samples()["gif"][1][:20],
    "box running past the end": box(b"ftyp", b"mp42\0\0\0\0mp42") + b"\0\0\x10\0moov",
    "FLAC without stream info": b"fLaC" + b"\x84\x00\x00\x04abcd",
}


@pytest.mark.parametrize("case", sorted(CORRUPT))
def test_unreadable_files_of_allowed_types_raise(case: str) -> None:
    data = CORRUPT[case]
    assert detect_type("", data) is not None
    with pytest.raises(ScrubError):
        scrub(io.BytesIO(data))


def test_damaged_document_raises() -> None:
    data = bytearray(docx())
    at = data.index(b"word/document.xml") + len("word/document.xml") + 5
    data[at : at + 4] = b"\x00\x01\x02\x03"  # inside the compressed part: CRC or inflate fails
    with pytest.raises(ScrubError):
        scrub(io.BytesIO(bytes(data)), "report.docx")


def test_nothing_is_written_to_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    all_samples = list(samples().values())

    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("scrubbing touched the file system")

    patched: list[tuple[Any, str]] = [
        (builtins, "open"),
        (io, "open"),
        (os, "open"),
        (tempfile, "mkstemp"),
        (tempfile, "mkdtemp"),
        (tempfile, "TemporaryFile"),
        (tempfile, "NamedTemporaryFile"),
        (tempfile, "SpooledTemporaryFile"),
    ]
    for module, name in patched:
        monkeypatch.setattr(module, name, refuse)
    for filename, data in all_samples:
        result = scrub(io.BytesIO(data), filename)
        assert result.kind != "other"


# --- hostile files: refused quickly and cleanly, whatever the variant (issue 7) -------------
#
# Each is built here. The alarm is a generous guard against a hang, not a measurement.

# Everything a refusal may say to a citizen; the catalogues carry each in zh and en.
CATALOGUED = {
    scrub_module.DAMAGED,
    scrub_module.TOO_MANY_PIXELS,
    scrub_module.TOO_MANY_PIXELS_TO_REDRAW,
    scrub_module.TOO_LARGE,
    scrub_module.TOO_COMPLEX,
    scrub_module.ENCRYPTED_PDF,
    scrub_module.TOO_MANY_FRAMES,
    scrub_module.BUSY,
}


@pytest.fixture(autouse=False)
def alarm() -> Iterator[None]:
    def hung(_signum: int, _frame: object) -> None:
        raise AssertionError("scrub still running after 20 s")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(20)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def refusal(data: bytes, filename: str = "", **budget: int) -> str:
    """The catalogued message of the ScrubError that scrubbing ``data`` raises."""
    assert detect_type(filename, data) is not None  # it reaches the scrubber's parsers
    with pytest.raises(ScrubError) as raised:
        scrub(io.BytesIO(data), filename, **budget)
    assert raised.value.message in CATALOGUED
    return raised.value.message


def tiff(width: int, height: int, strip: bytes = b"", *, compression: int = 1) -> bytes:
    """A grey TIFF whose header claims ``width`` × ``height``, with one strip."""
    entries = [
        (256, 4, width), (257, 4, height), (258, 3, 8), (259, 3, compression), (262, 3, 1),
        (273, 4, 0), (277, 3, 1), (278, 4, height), (279, 4, len(strip)),
    ]  # fmt: skip
    strip_at = 8 + 2 + 12 * len(entries) + 4
    ifd = b"".join(
        struct.pack("<HHI", tag, kind, 1)
        + (struct.pack("<I", strip_at if tag == 273 else value) if kind == 4
           else struct.pack("<HH", value, 0))
        for tag, kind, value in entries
    )  # fmt: skip
    return b"II*\x00" + struct.pack("<IH", 8, len(entries)) + ifd + bytes(4) + strip


def rle_bmp(width: int, height: int) -> bytes:
    """An 8-bit RLE BMP of ``width`` × ``height``: a few bytes of runs paint it all."""
    palette = b"".join(bytes((i, i, i, 0)) for i in range(256))
    rows = (b"\xff\x07" * (width // 255) + bytes((width % 255, 9)) + b"\x00\x00") * height
    pixels = rows + b"\x00\x01"  # end of bitmap
    offset = 14 + 40 + len(palette)
    header = struct.pack("<2sIHHI", b"BM", offset + len(pixels), 0, 0, offset)
    dib = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 8, 1, len(pixels), 2835, 2835, 256, 0)
    return header + dib + palette + pixels


def png_header(width: int, height: int) -> bytes:
    def png_chunk(kind: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    chunks = png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")
    return PNG_SIGNATURE + chunks


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def jpeg_of_size(width: int, height: int) -> bytes:
    """A real JPEG whose frame header is rewritten to claim another size."""
    data = bytearray(picture("JPEG"))
    sof = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, height, width)
    return bytes(data)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: png_header(30000, 30000), scrub_module.TOO_MANY_PIXELS),
        (lambda: png_header(1, 2**31 - 1), scrub_module.TOO_MANY_PIXELS),
        (lambda: png_header(0, 10), scrub_module.DAMAGED),
        (lambda: jpeg_of_size(65000, 65000), scrub_module.TOO_MANY_PIXELS),
        (lambda: jpeg_of_size(12000, 0), scrub_module.DAMAGED),  # height later, by DNL
        (lambda: tiff(30000, 30000), scrub_module.TOO_MANY_PIXELS_TO_REDRAW),
        (lambda: tiff(7000, 7000), scrub_module.TOO_MANY_PIXELS_TO_REDRAW),
        (lambda: rle_bmp(10000, 10000), scrub_module.TOO_MANY_PIXELS_TO_REDRAW),
    ],
    ids=["png-30000²", "png-tall", "png-empty", "jpeg-65000²", "jpeg-dnl", "tiff-30000²",
         "tiff-7000²", "bmp-10000²"],
)  # fmt: skip
def test_pictures_over_the_pixel_budget_are_refused_from_the_header(
    alarm: None, make: Callable[[], bytes], message: str
) -> None:
    assert refusal(make()) == message


def test_the_pixel_budget_can_be_lowered_and_lossless_pictures_within_it_pass() -> None:
    data = png_header(4000, 3000)  # 12 million pixels, passed through without decoding
    result, cleaned = scrubbed(data)
    assert result.file_type is not None and cleaned == data
    assert refusal(data, max_pixels=10_000_000) == scrub_module.TOO_MANY_PIXELS


def test_a_tiff_redraw_is_compressed_and_held_to_the_file_limit(alarm: None) -> None:
    # 4000 × 4000 grey, deflate-compressed to a few kilobytes: redrawn uncompressed it
    # would be 16 MB (issue 7: a 630 KB TIFF was stored as 337 MB).
    original = tiff(4000, 4000, zlib.compress(bytes(4000 * 4000), 9), compression=8)
    result, data = scrubbed(original, "scan.tif")
    assert result.file_type is not None and result.file_type.extension == "tiff"
    assert len(data) < 1024 * 1024
    with Image.open(io.BytesIO(data)) as image:
        assert image.size == (4000, 4000)
    assert refusal(original, max_bytes=len(data) - 1) == scrub_module.TOO_LARGE


def test_an_rle_bmp_is_redrawn_as_a_small_png(alarm: None) -> None:
    # 6000 × 5000 from a few kilobytes of runs: as an uncompressed BMP it would be 30 MB
    # (issue 7: a 715 KB RLE BMP became 84 MB).
    original = rle_bmp(6000, 5000)
    result, data = scrubbed(original, "scan.bmp")
    assert result.file_type is not None and result.file_type.extension == "png"
    assert result.converted and result.stored_name("扫描件.bmp") == "扫描件.png"
    assert data.startswith(PNG_SIGNATURE) and len(data) < 1024 * 1024
    with Image.open(io.BytesIO(data)) as image:
        assert image.size == (6000, 5000)


def test_every_scrubbed_output_is_held_to_the_file_limit() -> None:
    for extension in ("pdf", "docx", "gif", "webp", "jpg", "mp4", "wav", "flac"):
        filename, data = samples()[extension]
        assert refusal(data, filename, max_bytes=64) == scrub_module.TOO_LARGE, extension


# --- pages and frames: all kept, within one budget ------------------------------------------


def pages(count: int, size: tuple[int, int], mode: str = "L") -> list[Image.Image]:
    """Pages that differ from each other (so no writer merges them)."""
    frames = []
    for number in range(count):
        frame = Image.new(mode, size, 0 if mode == "1" else (number * 37) % 200)
        frame.putpixel((number % size[0], 0), 255 if mode != "RGB" else (255, 255, 255))
        frames.append(frame)
    return frames


def multi_page(image_format: str, frames: list[Image.Image], **options: Any) -> bytes:
    out = io.BytesIO()
    frames[0].save(out, image_format, save_all=True, append_images=frames[1:], **options)
    return out.getvalue()


def fax() -> bytes:
    """A three-page fax: 1-bit A4 pages at 200 dpi, each naming the sender in its tags."""
    tags = {270: NAME.decode() + " fax", 305: "SecretPhone 9", 315: NAME.decode()}
    return multi_page("TIFF", pages(3, (1728, 2200), "1"), compression="group4", tiffinfo=tags)


def test_a_multi_page_tiff_keeps_every_page_and_loses_its_tags(alarm: None) -> None:
    # Only the first page was kept: a faxed tip lost its other pages without a word.
    original = fax()
    result, data = scrubbed(original, "传真.tif")
    assert (result.kind, result.removed) == ("image", 1)
    assert NAME not in data and b"SecretPhone" not in data
    with Image.open(io.BytesIO(data)) as image, Image.open(io.BytesIO(original)) as before:
        assert image.n_frames == before.n_frames == 3
        for number in range(3):
            image.seek(number)
            before.seek(number)
            assert image.size == (1728, 2200) and image.tobytes() == before.tobytes()
    assert refusal(original, "传真.tif", max_bytes=len(data) - 1) == scrub_module.TOO_LARGE


@pytest.mark.parametrize("image_format", ["GIF", "WEBP"])
def test_an_animation_keeps_every_frame_and_its_timing_but_no_metadata(
    image_format: str,
) -> None:
    frames = pages(4, (64, 48), "RGB")
    metadata: dict[str, Any] = (
        {"comment": NAME} if image_format == "GIF" else {"exif": exif_with_gps(), "xmp": NAME}
    )
    original = multi_page(image_format, frames, duration=[100, 200, 300, 400], loop=0, **metadata)
    assert NAME in original
    result, data = scrubbed(original)
    assert result.removed == 1 and NAME not in data
    with Image.open(io.BytesIO(data)) as image:
        assert image.n_frames == 4 and image.info.get("loop") == 0
        durations = []
        for number in range(4):
            image.seek(number)
            image.load()  # WebP tells a frame's duration once it is decoded
            durations.append(image.info["duration"])
        assert durations == [100, 200, 300, 400]


@pytest.mark.parametrize(
    ("make", "filename"),
    [
        # 11 pages of 4 million pixels: each within the budget, together over it.
        (lambda: multi_page("TIFF", pages(11, (2000, 2000)), compression="tiff_adobe_deflate"),
         "scan.tif"),
        (lambda: multi_page("GIF", pages(MAX_FRAMES + 1, (8, 8))), "a.gif"),
        (lambda: multi_page("GIF", pages(2, (5000, 5000))), "a.gif"),
    ],
    ids=["tiff-11×4MP", "gif-1001-frames", "gif-2×25MP"],
)  # fmt: skip
def test_pages_and_frames_share_one_budget(
    alarm: None, make: Callable[[], bytes], filename: str
) -> None:
    assert refusal(make(), filename) == scrub_module.TOO_MANY_FRAMES


def test_a_single_picture_is_redrawn_without_a_copy_of_its_pixels(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A copy held every redrawn picture twice (issue 7: 320 MB for 40 million pixels).
    def no_copy(_image: Image.Image) -> Image.Image:
        raise AssertionError("a single picture was copied")

    monkeypatch.setattr(Image.Image, "copy", no_copy)
    for extension in ("gif", "webp", "bmp", "tiff"):
        filename, original = samples()[extension]
        assert scrubbed(original, filename)[0].removed == 1, extension


class TogetherGate(PixelGate):
    """A gate whose holders meet at a barrier: only those it lets in at once can meet."""

    def __init__(self, capacity: int, parties: int) -> None:
        super().__init__(capacity)
        self.barrier = threading.Barrier(parties, timeout=60)  # a guard against a hang

    @contextlib.contextmanager
    def hold(self, pixels: int) -> Iterator[None]:
        with super().hold(pixels):
            assert self.held <= self.capacity
            self.barrier.wait()
            yield


def redraw_in_threads(gate: PixelGate, data: bytes, count: int) -> list[BaseException]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            scrub(io.BytesIO(data), "scan.tif", gate=gate)
        except BaseException as exc:  # noqa: BLE001 (reported by the test)
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_redraws_in_one_process_share_a_pixel_budget(alarm: None) -> None:
    # 16 threads (4 workers' worth of gthread threads) redraw 1-megapixel scans through a
    # gate of 4 megapixels: 4 of them at once, never more (each waits its turn).
    data = tiff(1000, 1000, zlib.compress(bytes(1000 * 1000)), compression=8)
    gate = TogetherGate(4 * 1000 * 1000, parties=4)
    assert redraw_in_threads(gate, data, 16) == []
    assert gate.peak == gate.capacity and gate.held == 0


def test_a_picture_waits_for_room_and_is_refused_only_after_the_wait(alarm: None) -> None:
    data = tiff(1000, 1000, zlib.compress(bytes(1000 * 1000)), compression=8)
    gate = PixelGate(capacity=1_500_000, wait=0)
    with gate.hold(1_000_000):  # another upload is being decoded
        with pytest.raises(ScrubError) as raised:
            scrub(io.BytesIO(data), "scan.tif", gate=gate)
        assert raised.value.message == scrub_module.BUSY
        assert gate.held == 1_000_000
    gate.wait = 30  # the same upload, waiting for the other one to finish
    with gate.hold(1_000_000):
        waiting = threading.Thread(target=lambda: redraw_in_threads(gate, data, 1))
        waiting.start()
        while not gate.waiting and waiting.is_alive():
            time.sleep(0.01)  # until it stands in line (the alarm guards against a hang)
        assert gate.waiting == 1
    waiting.join()
    assert gate.peak == 1_000_000 and gate.held == 0  # never both at once
    assert scrubbed(data, "scan.tif")[0].removed == 1


def heif_with_locations(iloc_payload: bytes, *, version: int = 1, tail: bytes = b"") -> bytes:
    """A HEIF file with an Exif item (1) whose locations are ``iloc_payload``, and a
    picture (item 9) of a valid size, so that the locations are what gets refused."""
    infe = [
        full_box(b"infe", 2, struct.pack(">HH", 1, 0) + b"Exif" + b"\x00"),
        full_box(b"infe", 2, struct.pack(">HH", 9, 0) + b"hvc1" + b"\x00"),
    ]
    iinf = full_box(b"iinf", 0, struct.pack(">H", 2) + b"".join(infe))
    iprp = box(b"iprp", box(b"ipco", ispe(64, 48)) + ipma((9, [1])))
    iloc = full_box(b"iloc", version, iloc_payload)
    ftyp = box(b"ftyp", b"heic" + bytes(4) + b"mif1heic")
    return ftyp + full_box(b"meta", 0, iloc + iinf + iprp) + tail


def zero_size_extents() -> bytes:
    # Offsets and lengths of no size: 2,500 items of 65,535 extents each cost no bytes,
    # and took about 37 s to walk (issue 7).
    # The Exif item (1) comes last, so every other item is walked before it.
    items = 2500
    entry = struct.pack(">HHHH", 2, 0, 0, 0xFFFF)  # id, method, reference, extent count
    last = struct.pack(">HHHH", 1, 0, 0, 0xFFFF)
    payload = b"\x00\x00" + struct.pack(">H", items) + entry * (items - 1) + last
    return heif_with_locations(payload)


def overlapping_extents() -> bytes:
    # One Exif item of 4,000 extents each covering the whole file: blanking it would
    # rewrite the file 4,000 times.
    count = 4000
    extents = struct.pack(">II", 0, 30_000) * count  # the file is 32 kB
    payload = b"\x44\x00" + struct.pack(">H", 1) + struct.pack(">HHHH", 1, 0, 0, count)
    return heif_with_locations(payload + extents, tail=box(b"mdat", bytes(64)))


def heif_too_many_pixels() -> bytes:
    ispe = full_box(b"ispe", 0, struct.pack(">II", 30000, 30000))
    meta = full_box(b"meta", 0, box(b"iprp", box(b"ipco", ispe)))
    return box(b"ftyp", b"heic" + bytes(4) + b"mif1heic") + meta


def nested(kind: bytes, depth: int, inner: bytes) -> bytes:
    for _ in range(depth):
        inner = box(kind, inner)
    return inner


def nested_riff(depth: int, form: bytes = b"WAVE") -> bytes:
    inner = chunk(b"data", bytes(8))
    for _ in range(depth):
        inner = chunk(b"LIST", b"abcd" + inner)
    return riff(form, chunk(b"fmt ", bytes(16)), inner)


def stacked_id3(count: int) -> bytes:
    return b"ID3\x03\x00\x00\x00\x00\x00\x00" * count + mp3()


def mp3_with_huge_ape_footer() -> bytes:
    # mutagen's APEv2 reader seeks before the start of the file and raises ValueError.
    footer = b"APETAGEX" + struct.pack("<IIII", 2000, 0xFFFFFFF0, 0, 0x80000000) + bytes(8)
    return mp3() + footer


HOSTILE = {
    "heic zero-size extents": (zero_size_extents, "", scrub_module.DAMAGED),
    "heic overlapping extents": (overlapping_extents, "", scrub_module.TOO_COMPLEX),
    "heic 30000² spatial extent": (heif_too_many_pixels, "", scrub_module.TOO_MANY_PIXELS),
    # ISO/IEC 23008-12 requires an ispe for every picture item: without one its size is
    # unchecked (issue 7), whatever way it is missing.
    "heic picture of 30000² by its ispe": (
        lambda: heic(box(b"ipco", ispe(30000, 30000))),
        "IMG_0002.HEIC",
        scrub_module.TOO_MANY_PIXELS,
    ),
    "heic without item properties": (lambda: heic(b"", b""), "", scrub_module.DAMAGED),
    "heic ispe with no associations": (lambda: heic(associations=b""), "", scrub_module.DAMAGED),
    "heic ispe associated with the Exif item only": (
        lambda: heic(associations=ipma((2, [1]))),
        "",
        scrub_module.DAMAGED,
    ),
    "heic picture associated with a property that is not its ispe": (
        lambda: heic(box(b"ipco", ispe(64, 48) + box(b"colr", b"nclx" + bytes(7))), ipma((1, [2]))),
        "",
        scrub_module.DAMAGED,
    ),
    "heic grid item without a size of its own": (
        lambda: heic(extra_items=((3, b"grid"),)),
        "",
        scrub_module.DAMAGED,
    ),
    "heic item of an unknown type without a size": (
        lambda: heic(extra_items=((3, b"zzzz"),)),
        "",
        scrub_module.DAMAGED,
    ),
    "heic with items but no picture": (
        lambda: heic(associations=ipma((2, [1])), extra_items=()).replace(b"hvc1", b"mime"),
        "",
        scrub_module.DAMAGED,
    ),
    "mp4 trak in trak, 2000 deep": (
        lambda: box(b"ftyp", b"mp42\0\0\0\0mp42") + box(b"moov", nested(b"trak", 2000, b"")),
        "video.mp4",
        scrub_module.TOO_COMPLEX,
    ),
    "mp4 mdia in mdia, 20 deep": (
        lambda: box(b"ftyp", b"mp42\0\0\0\0mp42") + box(b"moov", nested(b"mdia", 20, b"")),
        "video.mp4",
        scrub_module.TOO_COMPLEX,
    ),
    "wav LIST in LIST, 2000 deep": (lambda: nested_riff(2000), "", scrub_module.TOO_COMPLEX),
    "avi LIST in LIST, 20 deep": (lambda: nested_riff(20, b"AVI "), "", scrub_module.TOO_COMPLEX),
    "200,000 stacked ID3 headers": (lambda: stacked_id3(200_000), "", scrub_module.TOO_COMPLEX),
    "mp3 whose APE footer makes mutagen raise ValueError": (
        mp3_with_huge_ape_footer,
        "call.mp3",
        scrub_module.DAMAGED,
    ),
    "docx listing more entries than allowed": (
        lambda: make_zip(
            [("[Content_Types].xml", b"<Types/>"), ("word/document.xml", b"<w/>")]
            + [(f"x/{n}", b"") for n in range(ZIP_MAX_ENTRIES)]
        ),
        "report.docx",
        scrub_module.TOO_COMPLEX,
    ),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_files_are_refused_quickly_and_cleanly(alarm: None, case: str) -> None:
    make, filename, message = HOSTILE[case]
    assert refusal(make(), filename) == message


def test_a_few_stacked_id3_tags_are_all_removed(alarm: None) -> None:
    # 2,000 stacked headers ran past the recursion limit in type detection (issue 7).
    data = stacked_id3(2000)
    assert detect_type("call.mp3", data) == FileType("audio", "mp3", "audio/mpeg")
    result, cleaned = scrubbed(data, "call.mp3")
    assert result.removed >= 2000 and cleaned == mp3_audio_only()


def mp3_audio_only() -> bytes:
    cleaned = scrub(io.BytesIO(mp3()), "call.mp3").data.read()
    assert not cleaned.startswith(b"ID3")
    return cleaned


def test_the_seed_corpus_is_scrubbed_cleanly() -> None:
    """The fuzzer's committed seeds (tests/fuzz/corpus) stay real files of their type."""
    root = pathlib.Path(__file__).parent / "fuzz" / "corpus"
    seeds = sorted(p for p in root.glob("*/*") if p.is_file())
    assert {p.parent.name for p in seeds} >= set(samples())
    for seed in seeds:
        result = scrub(io.BytesIO(seed.read_bytes()), seed.name)
        assert result.file_type is not None, seed


# --- through the portal: a page with the reason, never a 500, nothing stored ----------------

PORTAL_CASES = {
    "heic zero-size extents": ("IMG_0004.HEIC", zero_size_extents, "文件无法读取"),
    "heic without ispe": ("IMG_0005.HEIC", lambda: heic(b"", b""), "文件无法读取"),
    "tiff 11 pages of 4 MP": (
        "传真.tif",
        lambda: multi_page("TIFF", pages(11, (2000, 2000)), compression="tiff_adobe_deflate"),
        "最多 1000 页（帧）",
    ),
    "png 30000²": ("screenshot.png", lambda: png_header(30000, 30000), "1.2 亿像素"),
    "bmp 10000²": ("scan.bmp", lambda: rle_bmp(10000, 10000), "4000 万像素"),
    "trak 2000 deep": (
        "video.mp4",
        lambda: box(b"ftyp", b"mp42\0\0\0\0mp42") + box(b"moov", nested(b"trak", 2000, b"")),
        "嵌套太深",
    ),
    "wav LIST 2000 deep": ("call.wav", lambda: nested_riff(2000), "嵌套太深"),
}
PORTAL_ENGLISH = {
    "heic zero-size extents": scrub_module.DAMAGED,
    "heic without ispe": scrub_module.DAMAGED,
    "tiff 11 pages of 4 MP": scrub_module.TOO_MANY_FRAMES,
    "png 30000²": scrub_module.TOO_MANY_PIXELS,
    "bmp 10000²": scrub_module.TOO_MANY_PIXELS_TO_REDRAW,
    "trak 2000 deep": scrub_module.TOO_COMPLEX,
    "wav LIST 2000 deep": scrub_module.TOO_COMPLEX,
}


@pytest.mark.parametrize("case", sorted(PORTAL_CASES))
def test_the_portal_answers_a_hostile_file_with_the_reason_and_stores_nothing(
    alarm: None, portal_app: Flask, portal: FlaskClient, case: str
) -> None:
    filename, make, chinese = PORTAL_CASES[case]
    fields = {
        "csrf_token": csrf_token(portal, "/report"),
        "category": "fake_treatment",
        "province": "440000",
        "city": "441500",
        "county": "441502",
        "anonymous": "yes",
        "text": "某医院挂床住院，骗取医保基金。",
        "attachments": [(io.BytesIO(make()), filename)],
    }
    response = post_multipart(portal, "/report", fields)
    assert response.status_code == 400  # the form again, with the reason at the files
    assert chinese in response.get_data(as_text=True)
    english = post_multipart(
        portal,
        "/report",
        {**fields, "attachments": [(io.BytesIO(make()), filename)]},
        headers={"Accept-Language": "en"},
    )
    assert english.status_code == 400
    assert html.escape(PORTAL_ENGLISH[case]) in english.get_data(as_text=True)
    with portal_app.extensions["portal"].sessions() as session:
        assert session.scalar(select(func.count()).select_from(Tip)) == 0
        assert session.scalar(select(func.count()).select_from(Attachment)) == 0


def test_the_fuzzers_findings_stay_fixed() -> None:
    """Each input the fuzzer once crashed on (tests/fuzz/findings), replayed through the
    harness's own check: a catalogued refusal or a clean result, never another exception."""
    import importlib.util

    root = pathlib.Path(__file__).parent.parent
    spec = importlib.util.spec_from_file_location("fuzz_scrub", root / "bench" / "fuzz_scrub.py")
    assert spec is not None and spec.loader is not None
    harness = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(harness)
    harness.CATALOGUED = harness._catalogued()
    findings = sorted((pathlib.Path(__file__).parent / "fuzz" / "findings").iterdir())
    assert findings
    for path in findings:
        # As in the portal and the fuzzer: Pillow's bomb warning is only a warning there.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            harness.one_input(path.read_bytes())


def test_a_gif_whose_later_frame_grows_the_canvas_is_refused_before_decoding() -> None:
    """4 KB whose first frame is small and a later one declares 170 million pixels: the
    budget saw only the first, and the redraw decoded the rest (the fuzzer ran out of
    memory). Each frame's size is checked again before it is decoded."""
    finding = pathlib.Path(__file__).parent / "fuzz" / "findings" / "gif-later-frame-grows-canvas"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with pytest.raises(ScrubError) as refused:
            scrub(io.BytesIO(finding.read_bytes()[1:]), "evidence.gif")
    assert refused.value.message == scrub_module.TOO_MANY_PIXELS_TO_REDRAW
