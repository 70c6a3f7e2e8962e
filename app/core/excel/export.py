"""Spreadsheet exports with bounded memory, and import templates.

An xlsx file is a zip archive written when the workbook is saved, so it cannot be sent while
rows are still coming. `stream_xlsx` therefore appends each batch of rows to an openpyxl
write-only worksheet (which serialises rows straight to a temporary file), saves the workbook
into a spooled temporary file, then sends that file in chunks and deletes it. Every openpyxl
call runs in a worker thread, never on the event loop; memory stays at about one batch of rows
whatever the number of rows.
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import AsyncGenerator, AsyncIterable, Sequence
from contextlib import suppress
from datetime import datetime
from typing import IO, Any

import anyio
import anyio.to_thread

from app.core.excel.cells import DATETIME_FORMAT, Column, csv_text, xlsx_text, xlsx_value

CHUNK_SIZE = 64 * 1024
# Up to this size the saved workbook stays in memory; beyond it, a temporary file on disk.
SPOOL_SIZE = 1024 * 1024

Rows = Sequence[Sequence[object]]


class _XlsxWriter:
    """A write-only workbook with one sheet. Used from one thread at a time."""

    def __init__(self, columns: Sequence[Column], sheet_title: str) -> None:
        from openpyxl import Workbook
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.styles import Font
        from openpyxl.utils import get_column_letter

        self._cell_type = WriteOnlyCell
        self._workbook: Any = Workbook(write_only=True)
        self._sheet: Any = self._workbook.create_sheet(title=sheet_title)
        self._saved = False
        # Widths and the frozen header must be set before the first row is written.
        for index, column in enumerate(columns, 1):
            self._sheet.column_dimensions[get_column_letter(index)].width = column.width
        self._sheet.freeze_panes = "A2"
        header = []
        for column in columns:
            cell = WriteOnlyCell(self._sheet, value=xlsx_text(column.header))
            cell.font = Font(bold=True)
            header.append(cell)
        self._sheet.append(header)

    def _cell(self, value: object) -> object:
        value = xlsx_value(value)
        if isinstance(value, datetime):
            cell = self._cell_type(self._sheet, value=value)
            cell.number_format = DATETIME_FORMAT
            return cell
        return value

    def append(self, rows: Rows) -> None:
        for row in rows:
            self._sheet.append([self._cell(value) for value in row])

    def save(self) -> IO[bytes]:
        """The finished workbook in a temporary file, positioned at its start."""
        output = tempfile.SpooledTemporaryFile(max_size=SPOOL_SIZE)  # noqa: SIM115
        try:
            self._workbook.save(output)
        except BaseException:
            output.close()
            raise
        self._saved = True
        output.seek(0)
        return output

    def discard(self) -> None:
        """Remove openpyxl's temporary sheet file when the workbook was never saved (the
        client went away, or a batch failed); saving removes it otherwise."""
        if self._saved:
            return
        writer = getattr(self._sheet, "_writer", None)
        if writer is None:
            return
        with suppress(Exception):
            self._sheet.close()
        with suppress(OSError, ValueError):
            writer.cleanup()


async def stream_xlsx(
    columns: Sequence[Column],
    batches: AsyncIterable[Rows],
    *,
    sheet_title: str = "Sheet1",
    chunk_size: int = CHUNK_SIZE,
) -> AsyncGenerator[bytes, None]:
    """An xlsx workbook of `columns` and the rows of `batches`, as byte chunks.

    Args:
        columns: The columns; their titles make the bold, frozen header row.
        batches: Lists of rows, each row holding one value per column. Text starting with
            `= + - @`, tab, CR or NUL gets a leading `'`; characters XML cannot carry are
            dropped; timezone-aware datetimes are written in UTC (Excel has no time zones)
            with a date-time number format; None is an empty cell.
        sheet_title: The worksheet's name.
        chunk_size: Size of the chunks yielded.

    The first chunk comes once every batch has been written and the workbook saved; the
    batches are read completely (and a database session feeding them can close) before then.
    """
    writer = await anyio.to_thread.run_sync(_XlsxWriter, columns, sheet_title)
    output: IO[bytes] | None = None
    try:
        async for rows in batches:
            await anyio.to_thread.run_sync(writer.append, rows)
        output = await anyio.to_thread.run_sync(writer.save)
        while chunk := await anyio.to_thread.run_sync(output.read, chunk_size):
            yield chunk
    finally:
        if output is not None:
            output.close()  # a temporary file: closing deletes it
        writer.discard()
        # Cancelled mid-way (the client left): close the source now, so a database session
        # feeding it is released at once rather than when the generator is collected.
        close = getattr(batches, "aclose", None)
        if close is not None:
            with anyio.CancelScope(shield=True):
                await close()


async def stream_csv(
    columns: Sequence[Column], batches: AsyncIterable[Rows]
) -> AsyncGenerator[str, None]:
    """The CSV variant: a UTF-8 BOM (so Excel reads UTF-8), the header, then each batch.

    Cells follow the same formula rule as `stream_xlsx`; datetimes are ISO 8601.
    """

    def render(rows: Rows) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerows([csv_text(value) for value in row] for row in rows)
        return buffer.getvalue()

    yield "\ufeff" + render([[column.header for column in columns]])
    async for rows in batches:
        yield render(rows)


def template_xlsx(
    columns: Sequence[Column], *, sheet_title: str = "Data", notes_title: str = "Notes"
) -> bytes:
    """An import template: a sheet with the header row only (examples never go in the data
    sheet, where a forgotten one would be imported), and a notes sheet describing each column.

    Columns with `choices` get a drop-down list. Run it in a worker thread.
    """
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = sheet_title
    bold = Font(bold=True)
    for index, column in enumerate(columns, 1):
        letter = get_column_letter(index)
        cell = sheet.cell(row=1, column=index, value=xlsx_text(column.header))
        cell.font = bold
        sheet.column_dimensions[letter].width = column.width
        if column.choices:
            validation = DataValidation(
                type="list", formula1='"' + ",".join(column.choices) + '"', allow_blank=True
            )
            validation.add(f"{letter}2:{letter}1048576")
            sheet.add_data_validation(validation)
    sheet.freeze_panes = "A2"

    notes = workbook.create_sheet(notes_title)
    notes.append(["Column", "Required", "Description", "Example"])
    for cell in notes[1]:
        cell.font = bold
    for column in columns:
        notes.append(
            [
                xlsx_text(column.header),
                "yes" if column.required else "no",
                xlsx_text(column.description),
                xlsx_text(column.example),
            ]
        )
    for letter, width in zip("ABCD", (18, 10, 70, 28), strict=True):
        notes.column_dimensions[letter].width = width
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
