"""Excel import and export for every module: bounded memory out, hostile input refused in.

    from app.core.excel import Column, read_xlsx, stream_xlsx, template_xlsx

    COLUMNS = (Column("username", "Username"), Column("name", "Name"))
    StreamingResponse(stream_xlsx(COLUMNS, batches), media_type=XLSX_MEDIA_TYPE)   # export
    data = await receive_upload(request, max_bytes=settings.import_max_bytes)       # import
    result = await anyio.to_thread.run_sync(
        partial(read_xlsx, data, COLUMNS, RowModel, max_rows=..., max_bytes=...)
    )

Export: cells starting with `= + - @`, tab, CR or NUL get a leading `'` (docs/security-checklist.md
§0 #14,
ASVS 1.2.10); import undoes that escape, so an export imports back to the same values.
Import: size, zip-bomb, XML-entity and row limits (docs/security-checklist.md §0 #13); see `reader`.
"""

from app.core.excel.cells import (
    DATETIME_FORMAT,
    FORMULA_TRIGGERS,
    XLSX_MEDIA_TYPE,
    Column,
    SpreadsheetRejected,
    SpreadsheetTooLarge,
    cell_text,
    csv_text,
    escape_formula,
    unescape_formula,
    xlsx_text,
    xlsx_value,
)
from app.core.excel.export import stream_csv, stream_xlsx, template_xlsx
from app.core.excel.reader import (
    MAX_COLUMNS,
    MAX_MEMBERS,
    MAX_RATIO,
    MAX_UNPACKED,
    ImportResult,
    ParsedRow,
    RowError,
    check_archive,
    read_xlsx,
)
from app.core.excel.upload import receive_upload, upload_openapi

__all__ = [
    "DATETIME_FORMAT",
    "FORMULA_TRIGGERS",
    "MAX_COLUMNS",
    "MAX_MEMBERS",
    "MAX_RATIO",
    "MAX_UNPACKED",
    "XLSX_MEDIA_TYPE",
    "Column",
    "ImportResult",
    "ParsedRow",
    "RowError",
    "SpreadsheetRejected",
    "SpreadsheetTooLarge",
    "cell_text",
    "check_archive",
    "csv_text",
    "escape_formula",
    "read_xlsx",
    "receive_upload",
    "stream_csv",
    "stream_xlsx",
    "template_xlsx",
    "unescape_formula",
    "upload_openapi",
    "xlsx_text",
    "xlsx_value",
]
