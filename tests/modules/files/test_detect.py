"""Content detection: each accepted type is recognised from its bytes, in any chunking, and
content that does not match its extension is refused (type spoofing)."""

from __future__ import annotations

import os

import pytest

from app.modules.files.detect import TYPES, ContentCheck, TypeMismatch, sniff
from tests.modules.files.helpers import SAMPLES, docx, plain_zip, png, xlsx, zip_of

ELF = b"\x7fELF\x02\x01\x01\x00" + bytes(8) + b"\x02\x00\x3e\x00" + os.urandom(200)
PE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00" + bytes(50) + b"PE\x00\x00" + os.urandom(200)
HTML = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"


def check(extension: str, data: bytes, chunk: int = 4096) -> None:
    checker = ContentCheck(TYPES[extension])
    for start in range(0, len(data), chunk):
        checker.feed(data[start : start + chunk])
    checker.finish()


@pytest.mark.parametrize("extension", sorted(SAMPLES))
@pytest.mark.parametrize("chunk", [1, 7, 4096, 1 << 20])
def test_every_sample_matches_its_extension(extension: str, chunk: int) -> None:
    check(extension, SAMPLES[extension][0], chunk)
    assert TYPES[extension].media_type == SAMPLES[extension][1]


@pytest.mark.parametrize(
    ("extension", "data"),
    [
        ("png", HTML),
        ("png", ELF),
        ("png", PE),
        ("jpg", png()),
        ("gif", SAMPLES["jpg"][0]),
        ("webp", b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(50)),
        ("pdf", ELF),
        ("pdf", b"%PD"),
        ("zip", PE),
        ("xlsx", plain_zip()),
        ("xlsx", docx()),
        ("docx", xlsx()),
        ("docx", b"PK\x05\x06" + bytes(18)),
        ("txt", png()),
        ("txt", ELF),
        ("txt", PE),
        ("txt", HTML),
        ("csv", b"  \n<svg onload=alert(1)>"),
        ("csv", b"a,b\n\xff\xfe,c\n"),
        ("txt", "caf\u00e9".encode()[:-1]),  # cut inside a UTF-8 sequence
        ("txt", b"a\x00b"),
        ("txt", b""),
        ("png", b""),
    ],
)
def test_spoofed_content_is_refused(extension: str, data: bytes) -> None:
    with pytest.raises(TypeMismatch):
        check(extension, data, chunk=3)


def test_mismatch_is_found_in_the_first_bytes() -> None:
    """A wrong magic number stops the upload after the first 512 bytes, not at the end."""
    checker = ContentCheck(TYPES["png"])
    checker.feed(HTML.ljust(400, b" "))
    with pytest.raises(TypeMismatch):
        checker.feed(b" " * 200)


def test_large_openpyxl_workbook_with_content_types_last() -> None:
    """openpyxl writes `[Content_Types].xml` after megabytes of sheet data: the entry names
    are still found, across chunk boundaries."""
    data = xlsx(rows=40_000)
    assert len(data) > 1_000_000
    assert data.rfind(b"[Content_Types].xml") > len(data) // 2
    for chunk in (1000, 65536):
        check("xlsx", data, chunk)


def test_stored_zip_entries_are_read_too() -> None:
    data = zip_of(
        {"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<workbook/>"},
        compression=0,
    )
    check("xlsx", data, chunk=5)
    check("zip", data)


def test_sniff() -> None:
    assert sniff(png()[:12]) == "png"
    assert sniff(SAMPLES["webp"][0][:12]) == "webp"
    assert sniff(HTML[:12]) is None
    assert sniff(ELF[:12]) is None
