"""Reads the one file of a `multipart/form-data` upload as a stream, with a hard size limit.

FastAPI's `UploadFile` parameters make Starlette spool the whole body to a temporary file
*before* the route (and its permission check) runs, so an anonymous client could make the
server store gigabytes. Upload routes take the raw request instead: authentication runs
first, then the body is parsed here chunk by chunk with `python-multipart`, and the file's
bytes are handed on as they arrive. Past the limit the upload stops with a 413, whatever the
client announced.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator
from typing import Any

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from app.modules.files.exceptions import FileTooLarge, InvalidFile, MalformedUpload

# Room for the boundaries, part headers and small extra fields around the file.
MULTIPART_OVERHEAD = 64 * 1024


def _decode(value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")


class MultipartFileReader:
    """The part named `field` (with a filename) of a multipart request body.

        reader = MultipartFileReader(request, field="file", max_size=10 * 1024 * 1024)
        name = await reader.start()            # the client's file name, unsanitised
        async for chunk in reader.chunks():    # the file's bytes, as they arrive
            ...

    Other parts are read and dropped (at most `MULTIPART_OVERHEAD` bytes of them); a second
    file under `field` is a 422; a body that ends before the file's closing boundary is a 400.
    """

    def __init__(self, request: Request, *, field: str, max_size: int) -> None:
        self.field = field
        self.max_size = max_size
        self._stream = request.stream()
        content_type = request.headers.get("content-type", "")
        media_type, options = parse_options_header(content_type)
        boundary = options.get(b"boundary")
        if media_type != b"multipart/form-data" or not boundary:
            raise InvalidFile("send the file as multipart/form-data in the field 'file'")
        self._parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._on_part_begin,
                "on_part_data": self._on_part_data,
                "on_part_end": self._on_part_end,
                "on_header_field": self._on_header_field,
                "on_header_value": self._on_header_value,
                "on_header_end": self._on_header_end,
                "on_headers_finished": self._on_headers_finished,
                "on_end": self._on_end,
            },
        )
        self._events: deque[tuple[str, Any]] = deque()
        self._header_name = b""
        self._header_value = b""
        self._disposition = b""
        self._in_file = False
        self._file_seen = False
        self._other_bytes = 0
        self._file_bytes = 0
        self._ended = False
        self._body_done = False

    # -- parser callbacks (synchronous, called from `parser.write`) ------------------------

    def _on_part_begin(self) -> None:
        self._disposition = b""

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _on_header_end(self) -> None:
        if self._header_name.lower() == b"content-disposition":
            self._disposition = self._header_value
        self._header_name = b""
        self._header_value = b""

    def _on_headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        name = _decode(options.get(b"name", b""))
        if name == self.field and b"filename" in options:
            if self._file_seen:
                raise InvalidFile("send exactly one file")
            self._file_seen = self._in_file = True
            self._events.append(("start", _decode(options[b"filename"])))

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._in_file:
            self._file_bytes += end - start
            if self._file_bytes > self.max_size:
                raise FileTooLarge(self.max_size)
            self._events.append(("data", data[start:end]))
        else:
            self._other_bytes += end - start
            if self._other_bytes > MULTIPART_OVERHEAD:
                raise FileTooLarge(self.max_size)

    def _on_part_end(self) -> None:
        if self._in_file:
            self._in_file = False
            self._events.append(("end", None))

    def _on_end(self) -> None:
        self._ended = True

    # -- reading ---------------------------------------------------------------------------

    async def _pump(self) -> bool:
        """Feed the next piece of the body to the parser; False once the body is over."""
        if self._body_done:
            return False
        try:
            chunk = await anext(self._stream, None)
        except ClientDisconnect:
            raise MalformedUpload("Bad request: the upload was interrupted") from None
        try:
            if chunk:
                self._parser.write(chunk)
            if chunk is None:
                self._body_done = True
                self._parser.finalize()
        except FormParserError:
            raise MalformedUpload() from None
        return True

    async def start(self) -> str:
        """Read up to the file part's headers and return the client's file name."""
        while True:
            while self._events:
                kind, value = self._events.popleft()
                if kind == "start":
                    return str(value)
            if not await self._pump():
                raise InvalidFile("Field required", type="missing")

    async def chunks(self) -> AsyncIterator[bytes]:
        """The file's bytes; ends at the file part's closing boundary."""
        while True:
            while self._events:
                kind, value = self._events.popleft()
                if kind == "data":
                    if value:
                        yield value
                elif kind == "end":
                    await self._drain()
                    return
            if not await self._pump():
                raise MalformedUpload("Bad request: the upload ended before the file did")

    async def _drain(self) -> None:
        """Read the rest of the body (usually just the closing boundary)."""
        while await self._pump():
            self._events.clear()
        if not self._ended:
            raise MalformedUpload()
