"""Sample files of every accepted type, multipart bodies, and raw ASGI requests for the
files tests."""

from __future__ import annotations

import io
import os
import re
import zipfile
from collections.abc import Iterable, Iterator, MutableMapping
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

URL = "/api/v1/files"
KEY_PATTERN = re.compile(r"^\d{4}/\d{2}/[0-9a-f]{32}\.[a-z0-9]+$")
READ_FIELDS = {
    "id",
    "original_name",
    "content_type",
    "extension",
    "size",
    "sha256",
    "owner_id",
    "created_at",
}


def png(size: int = 256) -> bytes:
    return b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + os.urandom(max(0, size - 16))


def jpeg() -> bytes:
    return b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + os.urandom(200)


def gif() -> bytes:
    return b"GIF89a\x01\x00\x01\x00" + os.urandom(100)


def webp() -> bytes:
    return b"RIFF\x24\x00\x00\x00WEBPVP8 " + os.urandom(100)


def pdf() -> bytes:
    return b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n%%EOF\n"


def zip_of(entries: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def plain_zip() -> bytes:
    return zip_of({"notes/readme.txt": b"hello", "data.bin": os.urandom(500)})


def docx() -> bytes:
    return zip_of(
        {
            "[Content_Types].xml": b'<?xml version="1.0"?><Types/>',
            "_rels/.rels": b"<Relationships/>",
            "word/document.xml": b"<w:document/>",
        }
    )


def xlsx(rows: int = 5) -> bytes:
    """A real workbook written by openpyxl (which writes `[Content_Types].xml` last)."""
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in range(rows):
        sheet.append([row, f"name {row}", os.urandom(8).hex()])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


SAMPLES: dict[str, tuple[bytes, str]] = {
    "png": (png(), "image/png"),
    "jpg": (jpeg(), "image/jpeg"),
    "jpeg": (jpeg(), "image/jpeg"),
    "gif": (gif(), "image/gif"),
    "webp": (webp(), "image/webp"),
    "pdf": (pdf(), "application/pdf"),
    "zip": (plain_zip(), "application/zip"),
    "docx": (
        docx(),
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ),
    "xlsx": (xlsx(), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    "txt": ("Grüße, 世界\nline 2\n".encode(), "text/plain; charset=utf-8"),
    "csv": (b"id,name\n1,Alice\n2,Bob\n", "text/csv; charset=utf-8"),
}


def multipart(
    parts: Iterable[tuple[str, str | None, bytes]], boundary: str = "b0undary-7f3a"
) -> tuple[bytes, dict[str, str]]:
    """A multipart/form-data body built by hand (names and bytes exactly as given)."""
    body = bytearray()
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n".encode()
        body += b"Content-Type: application/octet-stream\r\n\r\n" + data + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return bytes(body), {"Content-Type": f"multipart/form-data; boundary={boundary}"}


async def upload(
    client: httpx.AsyncClient, headers: dict[str, str], name: str, data: bytes
) -> httpx.Response:
    return await client.post(
        URL, files={"file": (name, data, "application/octet-stream")}, headers=headers
    )


async def upload_ok(
    client: httpx.AsyncClient, headers: dict[str, str], name: str, data: bytes
) -> dict[str, Any]:
    response = await upload(client, headers, name, data)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()["data"]
    return body


def stored_files(root: Path) -> list[str]:
    """Every file under the storage root (temporary ones included), as relative keys."""
    if not root.exists():
        return []
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if not p.is_dir())


class RawResponse:
    def __init__(self, status: int, headers: dict[str, str], body: bytes, consumed: int):
        self.status = status
        self.headers = headers
        self.body = body
        self.consumed = consumed


async def raw_request(
    app: FastAPI,
    method: str,
    path: str,
    headers: dict[str, str],
    body: Iterator[bytes],
) -> RawResponse:
    """Call the app at the ASGI level, feeding the body lazily and counting what it read."""
    consumed = 0
    finished = False
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal consumed, finished
        if finished:
            return {"type": "http.disconnect"}
        chunk = next(body, None)
        if chunk is None:
            finished = True
            return {"type": "http.request", "body": b"", "more_body": False}
        consumed += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: MutableMapping[str, Any]) -> None:
        messages.append(dict(message))

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    await app(scope, receive, send)
    start = next(m for m in messages if m["type"] == "http.response.start")
    response_headers = {k.decode(): v.decode() for k, v in start["headers"]}
    content = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    return RawResponse(start["status"], response_headers, content, consumed)
