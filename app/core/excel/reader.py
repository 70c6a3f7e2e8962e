"""Reading an uploaded xlsx safely: archive limits first, hardened XML, bounded rows.

The order matters (SECURITY.md §0 #13, ASVS 5.2.3, 1.5.1):

1. the file's size is checked (413);
2. the zip's end record and central directory are checked, before openpyxl sees the file:
   at most `MAX_MEMBERS` members, an unpacked total of at most `min(20 x max_bytes, 200 MB)`
   (413), no member compressed more than 100:1 (413), no encrypted member (422). Python's
   zipfile never inflates a member past its declared size (it fails the CRC instead), so the
   declared sizes bound the work that follows;
3. openpyxl parses with defusedxml, so a DTD with entities (billion laughs, XXE) is refused
   (422); the import refuses to run (503) if openpyxl would parse without it;
4. the shared-strings table, which openpyxl loads whole before the first row, is read by a
   bounded reader instead (`shared_strings.py`: its unpacked size, its strings and its
   elements are limited by `max_rows`; 413 at the first one over);
5. the workbook is opened read-only (rows are parsed as they are read) with cached values
   only (formulas are never evaluated), and reading stops at the first data row over
   `max_rows` (413).

Every other failure to read the workbook is a 422, never a 500. Run `read_xlsx` in a worker
thread: it is CPU-bound.
"""

from __future__ import annotations

import io
import struct
import warnings
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from app.core.errors import AppError, ServiceUnavailable
from app.core.excel import shared_strings
from app.core.excel.cells import Column, SpreadsheetRejected, SpreadsheetTooLarge, cell_text
from app.core.responses import ErrorDetail

M = TypeVar("M", bound=BaseModel)

MAX_MEMBERS = 1000
MAX_UNPACKED = 200 * 1024 * 1024
UNPACK_FACTOR = 20
MAX_RATIO = 100
# Members smaller than this cannot hurt whatever their ratio (tiny XML parts compress well).
RATIO_FLOOR = 1024 * 1024
# A central directory entry is 46 bytes plus its name and extras; 1000 members fit easily.
MAX_DIRECTORY_BYTES = 1024 * 1024
# Columns read per row: the header must fit in these.
MAX_COLUMNS = 256
# Blank rows are skipped; after this many (or `max_rows`, if larger) the sheet is taken to end.
BLANK_ROWS = 1000

NOT_XLSX = "The file is not an xlsx workbook"
UNREADABLE = "The workbook could not be read; save it again as .xlsx and retry"
UNSAFE_XML = "The workbook contains XML entity declarations, which are refused"


@dataclass(frozen=True, slots=True)
class RowError:
    """A problem with one cell or row. `row` is the spreadsheet row number (header = 1)."""

    row: int
    field: str | None
    message: str


@dataclass(frozen=True, slots=True)
class ParsedRow(Generic[M]):
    row: int
    data: M


@dataclass(slots=True)
class ImportResult(Generic[M]):
    """The rows that validated, and every problem of the others.

    `total` counts the non-blank data rows; `valid + invalid rows == total`.
    """

    total: int = 0
    rows: list[ParsedRow[M]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


# ------------------------------------------------------------------------- archive --


def _too_large(message: str) -> SpreadsheetTooLarge:
    return SpreadsheetTooLarge(
        message,
        errors=[ErrorDetail(field="file", location="body", message=message, type="too_large")],
    )


def _rejected(
    message: str, *, field_name: str = "file", kind: str = "invalid_file"
) -> SpreadsheetRejected:
    return SpreadsheetRejected(
        message,
        errors=[ErrorDetail(field=field_name, location="body", message=message, type=kind)],
    )


def _directory_limits(file: IO[bytes]) -> None:
    """Refuse a zip whose end record announces too many members or a huge directory, before
    zipfile builds an object per entry."""
    file.seek(0, io.SEEK_END)
    size = file.tell()
    tail_size = min(size, 22 + 65_535)
    file.seek(size - tail_size)
    tail = file.read(tail_size)
    file.seek(0)
    position = tail.rfind(b"PK\x05\x06")
    if position < 0 or len(tail) - position < 22:
        raise _rejected(f"{NOT_XLSX} (not a zip archive)")
    entries, directory_size = struct.unpack("<HI", tail[position + 10 : position + 16])
    # 0xFFFF / 0xFFFFFFFF mean "see the zip64 record": far beyond any workbook here.
    if entries > MAX_MEMBERS or directory_size > MAX_DIRECTORY_BYTES:
        raise _rejected(f"The archive has more than {MAX_MEMBERS} members")


def check_archive(file: IO[bytes], *, max_bytes: int) -> None:
    """Enforce the zip limits on `file` (rewound afterwards). See the module docstring."""
    _directory_limits(file)
    try:
        with zipfile.ZipFile(file) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        raise _rejected(f"{NOT_XLSX} (not a zip archive)") from None
    finally:
        file.seek(0)
    if len(members) > MAX_MEMBERS:
        raise _rejected(f"The archive has more than {MAX_MEMBERS} members")
    limit = min(UNPACK_FACTOR * max_bytes, MAX_UNPACKED)
    unpacked = 0
    for member in members:
        if member.flag_bits & 0x1:
            raise _rejected("The workbook is encrypted; save it without a password")
        if member.file_size > RATIO_FLOOR and member.file_size > MAX_RATIO * max(
            member.compress_size, 1
        ):
            raise _too_large(
                f"The archive holds a part compressed more than {MAX_RATIO}:1 (a zip bomb?)"
            )
        unpacked += member.file_size
        if unpacked > limit:
            raise _too_large(f"The workbook unpacks to more than {limit // (1024 * 1024)} MB")


def _open(data: bytes | Path, max_bytes: int) -> IO[bytes]:
    if isinstance(data, Path):
        try:
            size = data.stat().st_size
            if size > max_bytes:
                raise _too_large(f"The file is larger than {max_bytes} bytes")
            return data.open("rb")
        except OSError:
            raise _rejected("The file cannot be read") from None
    if len(data) > max_bytes:
        raise _too_large(f"The file is larger than {max_bytes} bytes")
    return io.BytesIO(data)


def _load_workbook(file: IO[bytes], max_rows: int) -> Any:
    """openpyxl's read-only `load_workbook`, with the shared strings read by the bounded
    reader (openpyxl's own reads and keeps the whole table whatever its size)."""
    from openpyxl.reader.excel import SHARED_STRINGS, ExcelReader

    class BoundedReader(ExcelReader):  # type: ignore[misc]
        def read_strings(self) -> None:
            part = self.package.find(SHARED_STRINGS)
            if part is None:
                return
            name = part.PartName[1:]
            shared_strings.check_size(self.archive.getinfo(name).file_size, max_rows)
            with self.archive.open(name) as source:
                self.shared_strings = shared_strings.read_bounded(source, max_rows)

    reader = BoundedReader(file, read_only=True, data_only=True, keep_links=False)
    reader.read()
    return reader.wb


# --------------------------------------------------------------------------- sheet --


def _is_unsafe_xml(exc: BaseException | None) -> bool:
    """True if defusedxml refused the XML (openpyxl re-raises it as a ValueError)."""
    from defusedxml import DefusedXmlException

    for _ in range(10):  # the chain of causes is short; never follow a cycle
        if exc is None:
            return False
        if isinstance(exc, DefusedXmlException):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _guarded(rows: Iterator[tuple[object, ...]]) -> Iterator[tuple[object, ...]]:
    """openpyxl's lazy row parser, with any parse failure turned into a 422."""
    while True:
        try:
            row = next(rows)
        except StopIteration:
            return
        except Exception as exc:  # malformed XML, bad references, unknown types...
            raise _rejected(UNSAFE_XML if _is_unsafe_xml(exc) else UNREADABLE) from None
        yield row


def _normalise(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch not in " \t-_")


def _match_header(header: tuple[object, ...], columns: Sequence[Column]) -> dict[str, int]:
    """Position of each column. Unknown headers are ignored; a missing or repeated column
    is a 422 naming it."""
    wanted: dict[str, str] = {}
    for column in columns:
        wanted[_normalise(column.key)] = column.key
        wanted[_normalise(column.header)] = column.key
    positions: dict[str, int] = {}
    for index, value in enumerate(header):
        text = cell_text(value)
        key = wanted.get(_normalise(text)) if text else None
        if key is None:
            continue
        if key in positions:
            raise _rejected(f"Column {key!r} appears twice", field_name=key, kind="duplicate")
        positions[key] = index
    missing = [column for column in columns if column.key not in positions]
    if missing:
        names = ", ".join(column.header for column in missing)
        raise SpreadsheetRejected(
            f"Missing column{'s' if len(missing) > 1 else ''}: {names} (the first row must "
            "hold the template's column titles)",
            errors=[
                ErrorDetail(
                    field=column.key, location="body", message="missing column", type="missing"
                )
                for column in missing
            ],
        )
    return positions


def _row_errors(row: int, exc: ValidationError) -> list[RowError]:
    """Field errors of one row, without the submitted values (they may be passwords)."""
    errors = []
    for error in exc.errors(include_input=False, include_url=False):
        loc = error.get("loc", ())
        message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
        errors.append(RowError(row=row, field=str(loc[0]) if loc else None, message=message))
    return errors


def _read_sheet(
    workbook: Any, columns: Sequence[Column], model: type[M], max_rows: int
) -> ImportResult[M]:
    if not workbook.worksheets:
        raise _rejected("The workbook has no worksheet")
    sheet = workbook.worksheets[0]
    # The declared dimensions may lie (rows beyond them would be skipped, or every row padded
    # to 16,384 cells); read what is there, up to MAX_COLUMNS wide.
    sheet.reset_dimensions()
    rows = _guarded(sheet.iter_rows(min_row=1, max_col=MAX_COLUMNS, values_only=True))
    header = next(rows, None)
    if header is None:
        raise _rejected("The first sheet is empty: its first row must hold the column titles")
    positions = _match_header(header, columns)
    result: ImportResult[M] = ImportResult()
    blank_budget = max(BLANK_ROWS, max_rows)
    for number, values in enumerate(rows, start=2):
        cells = {key: cell_text(values[index]) for key, index in positions.items()}
        data = {key: value for key, value in cells.items() if value is not None}
        if not data:
            blank_budget -= 1
            if blank_budget < 0:
                break
            continue
        result.total += 1
        if result.total > max_rows:
            raise _too_large(f"The file has more than {max_rows} data rows; split it")
        try:
            result.rows.append(ParsedRow(row=number, data=model.model_validate(data)))
        except ValidationError as exc:
            result.errors.extend(_row_errors(number, exc))
    return result


def read_xlsx(
    data: bytes | Path,
    columns: Sequence[Column],
    model: type[M],
    *,
    max_rows: int,
    max_bytes: int,
) -> ImportResult[M]:
    """Read the first worksheet of an uploaded workbook into validated rows.

    Args:
        data: The file's bytes, or its path.
        columns: The expected columns. The first row must name each of them (by title or
            key, in any order; other columns are ignored).
        model: Validates one row, given `{column key: cell text}` for the non-blank cells.
            Its field names are the column keys.
        max_rows: More non-blank data rows than this is a 413; reading stops there.
        max_bytes: A larger file is a 413; it also bounds the unpacked size.

    Returns:
        The valid rows and, for the others, one `RowError` per problem (never the value).

    Raises:
        SpreadsheetTooLarge: 413, over a size, unpacked-size or row limit.
        SpreadsheetRejected: 422, not an xlsx workbook, unsafe XML, missing columns.
        ServiceUnavailable: 503, openpyxl would parse XML without defusedxml.
    """
    import openpyxl.xml

    if not openpyxl.xml.DEFUSEDXML:  # pragma: no cover - defusedxml is a dependency
        raise ServiceUnavailable("Spreadsheet import is unavailable: defusedxml is not active")

    with _open(data, max_bytes) as file:
        check_archive(file, max_bytes=max_bytes)
        # openpyxl warns about workbook features it drops (extensions, unknown styles):
        # irrelevant to reading values, and not the uploader's error.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                workbook = _load_workbook(file, max_rows)
            except AppError:
                raise
            except Exception as exc:
                raise _rejected(UNSAFE_XML if _is_unsafe_xml(exc) else NOT_XLSX) from None
            try:
                return _read_sheet(workbook, columns, model, max_rows)
            finally:
                workbook.close()
