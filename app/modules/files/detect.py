"""What a file really is, from its bytes, checked against the extension it claims.

An upload named `report.png` must start like a PNG; a `.xlsx` must be a ZIP that holds
`[Content_Types].xml` and `xl/` entries; a `.txt` must be UTF-8 without NUL bytes. Anything
else is "type spoofing" (an HTML page, a PE or ELF executable renamed) and is refused.

`ContentCheck` is fed the upload chunk by chunk as it streams, so the verdict needs no second
read: the magic bytes are checked as soon as the first bytes arrive, ZIP entry names are
collected from the local file headers as they pass, and text is decoded incrementally.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

PNG = b"\x89PNG\r\n\x1a\n"
JPEG = b"\xff\xd8\xff"
GIF = (b"GIF87a", b"GIF89a")
PDF = b"%PDF-"
ZIP_ENTRY = b"PK\x03\x04"
ZIP_EMPTY = b"PK\x05\x06"
# Bytes needed to recognise every magic number above (WebP: RIFF....WEBP).
MAGIC_SIZE = 12
# Longest ZIP entry name looked at; longer ones are skipped (no OOXML part is that long).
MAX_ENTRY_NAME = 1024


@dataclass(frozen=True)
class FileType:
    """One accepted type: its extension, its detected kind and the media type it is served as."""

    extension: str
    kind: str
    media_type: str


TYPES: dict[str, FileType] = {
    t.extension: t
    for t in (
        FileType("png", "png", "image/png"),
        FileType("jpg", "jpeg", "image/jpeg"),
        FileType("jpeg", "jpeg", "image/jpeg"),
        FileType("gif", "gif", "image/gif"),
        FileType("webp", "webp", "image/webp"),
        FileType("pdf", "pdf", "application/pdf"),
        FileType("zip", "zip", "application/zip"),
        FileType(
            "xlsx",
            "xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
        FileType(
            "docx",
            "docx",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
        FileType("txt", "text", "text/plain; charset=utf-8"),
        FileType("csv", "text", "text/csv; charset=utf-8"),
    )
}
SUPPORTED_EXTENSIONS = frozenset(TYPES)

# Text that opens like markup is refused as .txt/.csv: no legitimate CSV starts like this,
# and it is what a stored-XSS attempt would upload for a client that ignores `nosniff`.
_MARKUP_START = re.compile(
    rb"^(?:\xef\xbb\xbf)?\s*<(?:!doctype|html|head|body|script|svg|iframe|\?xml)", re.IGNORECASE
)


class TypeMismatch(ValueError):
    """The content is not what the extension claims."""


def sniff(head: bytes) -> str | None:
    """The kind of binary file `head` (its first bytes) starts like, or None."""
    if head.startswith(PNG):
        return "png"
    if head.startswith(JPEG):
        return "jpeg"
    if head.startswith(GIF):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head.startswith(PDF):
        return "pdf"
    if head.startswith((ZIP_ENTRY, ZIP_EMPTY)):
        return "zip"
    return None


class _ZipNames:
    """Entry names of a ZIP stream, read from the local file headers as the bytes pass.

    Only what OOXML detection needs is kept (three flags), so memory stays constant.
    """

    def __init__(self) -> None:
        self._carry = b""
        self.content_types = False
        self.xl = False
        self.word = False

    def feed(self, chunk: bytes) -> None:
        buffer = self._carry + chunk
        position = 0
        while True:
            start = buffer.find(ZIP_ENTRY, position)
            if start < 0:
                # A signature may be split across chunks: keep its possible first bytes.
                self._carry = buffer[max(position, len(buffer) - len(ZIP_ENTRY) + 1) :]
                return
            if start + 30 > len(buffer):
                self._carry = buffer[start:]
                return
            name_length = int.from_bytes(buffer[start + 26 : start + 28], "little")
            end = start + 30 + name_length
            if name_length > MAX_ENTRY_NAME:
                position = start + len(ZIP_ENTRY)
                continue
            if end > len(buffer):
                self._carry = buffer[start:]
                return
            self._note(buffer[start + 30 : end])
            position = end

    def _note(self, name: bytes) -> None:
        if name == b"[Content_Types].xml":
            self.content_types = True
        elif name.startswith(b"xl/"):
            self.xl = True
        elif name.startswith(b"word/"):
            self.word = True

    @property
    def kind(self) -> str:
        if self.content_types and self.xl:
            return "xlsx"
        if self.content_types and self.word:
            return "docx"
        return "zip"


class ContentCheck:
    """Verifies, while an upload streams, that its bytes are of the type its extension names.

    `feed()` raises `TypeMismatch` as soon as the bytes cannot be of that type; `finish()`
    gives the final verdict once everything has passed.
    """

    def __init__(self, file_type: FileType) -> None:
        self.file_type = file_type
        self._head = b""
        self._head_checked = False
        self._size = 0
        self._zip = _ZipNames() if file_type.kind in ("xlsx", "docx") else None
        self._text = codecs.getincrementaldecoder("utf-8")("strict")

    def feed(self, chunk: bytes) -> None:
        if not chunk:
            return
        self._size += len(chunk)
        if not self._head_checked:
            self._head += chunk[: max(0, 512 - len(self._head))]
            if len(self._head) >= 512:
                self._check_head()
        if self.file_type.kind == "text":
            self._feed_text(chunk)
        elif self._zip is not None:
            self._zip.feed(chunk)

    def finish(self) -> None:
        if self._size == 0:
            raise TypeMismatch("the file is empty")
        if not self._head_checked:
            self._check_head()
        if self.file_type.kind == "text":
            try:
                self._text.decode(b"", final=True)
            except UnicodeDecodeError:
                raise TypeMismatch("the text is not valid UTF-8") from None
        elif self._zip is not None and self._zip.kind != self.file_type.kind:
            raise TypeMismatch(f"the content is not a .{self.file_type.extension} document")

    def _check_head(self) -> None:
        self._head_checked = True
        detected = sniff(self._head[:MAGIC_SIZE])
        kind = self.file_type.kind
        if kind == "text":
            if detected is not None or _MARKUP_START.match(self._head):
                raise TypeMismatch(f"the content is not plain .{self.file_type.extension} text")
            return
        wanted = "zip" if kind in ("xlsx", "docx") else kind
        if detected != wanted:
            raise TypeMismatch(f"the content is not a .{self.file_type.extension} file")

    def _feed_text(self, chunk: bytes) -> None:
        if b"\x00" in chunk:
            raise TypeMismatch("the text contains NUL bytes")
        try:
            self._text.decode(chunk)
        except UnicodeDecodeError:
            raise TypeMismatch("the text is not valid UTF-8") from None
