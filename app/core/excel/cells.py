"""Columns, cell values and the formula-injection rule shared by export and import."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal

from app.core.errors import PayloadTooLarge, ValidationFailed

# A spreadsheet runs a cell starting with one of these as a formula (or, for tab and CR, may
# shift it into one): docs/security-checklist.md §0 #14, ASVS 1.2.10.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\0")
# Characters XML 1.0 cannot carry (openpyxl refuses them); tab, LF and CR are allowed.
_ILLEGAL_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
# Excel keeps 15 significant digits; larger integers (ids) are written as text to stay exact.
_MAX_EXACT_INT = 2**53
MAX_CELL_CHARS = 32_767
DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True, slots=True)
class Column:
    """One spreadsheet column.

    Attributes:
        key: The field name: the row model's field on import, the name in error reports.
        title: The header cell text (default: `key`). On import a header matches a column when
            it equals the title or the key, ignoring case, spaces, `-` and `_`.
        width: Column width in characters.
        description: What goes in the column (the template's notes sheet).
        example: An example value (the template's notes sheet; never a data row).
        required: Whether a value is required (documentation only: the row model decides).
        choices: Allowed values, offered as a drop-down in the template.
    """

    key: str
    title: str = ""
    width: float = 16
    description: str = ""
    example: str = ""
    required: bool = False
    choices: tuple[str, ...] = ()

    @property
    def header(self) -> str:
        return self.title or self.key


class SpreadsheetRejected(ValidationFailed):
    """The upload is not a workbook we accept (422): not xlsx, unsafe XML, wrong header."""

    default_message = "The file is not a readable xlsx workbook"


class SpreadsheetTooLarge(PayloadTooLarge):
    """The upload is over a limit (413): bytes, unpacked size or data rows."""

    default_message = "The file is too large"


def escape_formula(text: str) -> str:
    """`text` with a leading `'` when a spreadsheet would read it as a formula."""
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def unescape_formula(text: str) -> str:
    """Undo `escape_formula`: a `'` followed by a formula trigger is dropped.

    So an exported cell imports back to the value it came from.
    """
    if len(text) > 1 and text[0] == "'" and text[1] in FORMULA_TRIGGERS:
        return text[1:]
    return text


def xlsx_text(text: str) -> str:
    """A string as it may go into an xlsx cell: characters XML cannot carry are dropped and
    line breaks become LF (an XML parser turns a CR into LF anyway), then the formula rule
    applies (to the original too, so a leading NUL or CR is escaped)."""
    cleaned = _ILLEGAL_XML.sub("", text).replace("\r\n", "\n").replace("\r", "\n")
    cleaned = cleaned[: MAX_CELL_CHARS - 1]
    if text.startswith(FORMULA_TRIGGERS) or cleaned.startswith(FORMULA_TRIGGERS):
        return "'" + cleaned
    return cleaned


def xlsx_value(value: object) -> object:
    """A Python value as openpyxl should write it: text escaped, datetimes naive UTC."""
    if value is None or isinstance(value, bool | float | Decimal):
        return value
    if isinstance(value, int):
        return value if abs(value) < _MAX_EXACT_INT else str(value)
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value
    if isinstance(value, date | time):
        return value
    return xlsx_text(value if isinstance(value, str) else str(value))


def csv_text(value: object) -> str:
    """One CSV cell: None is empty, datetimes ISO 8601, text escaped by the formula rule."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    text = str(value)
    return escape_formula(text) if isinstance(value, str) else text


def cell_text(value: object) -> str | None:
    """A cell read from a workbook as text for validation; None when blank.

    Text is kept as typed (no trimming: it may be a password) except that whitespace-only is
    blank and an export's formula escape is undone. Numbers typed into text columns (phone
    numbers) come back without a spurious `.0`.
    """
    if value is None:
        return None
    if isinstance(value, str):
        return unescape_formula(value) if value.strip() else None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value)
