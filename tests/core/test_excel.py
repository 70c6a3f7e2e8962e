"""The Excel helper: formula escaping (docs/security-checklist.md §0 #14, ASVS 1.2.10),
bounded-memory
export, and the hostile-input limits of the import (§0 #13; ASVS 5.2.3, 1.5.1)."""

from __future__ import annotations

import asyncio
import io
import threading
import zipfile
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import openpyxl
import openpyxl.xml
import pytest
from openpyxl.worksheet import _writer as openpyxl_writer
from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.core.excel import (
    DATETIME_FORMAT,
    FORMULA_TRIGGERS,
    Column,
    SpreadsheetRejected,
    SpreadsheetTooLarge,
    csv_text,
    escape_formula,
    read_xlsx,
    stream_csv,
    stream_xlsx,
    template_xlsx,
    unescape_formula,
    xlsx_text,
)
from app.core.excel import export as export_module

COLUMNS = (Column("name", "Name"), Column("note", "Note"), Column("count", "Count"))
MB = 1024 * 1024


class Row(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=2)
    note: str | None = None
    count: int = 0


async def _batches(
    *batches: Sequence[Sequence[object]],
) -> AsyncIterator[Sequence[Sequence[object]]]:
    for batch in batches:
        yield batch


async def export(columns: Sequence[Column], *batches: Sequence[Sequence[object]]) -> bytes:
    return b"".join([chunk async for chunk in stream_xlsx(columns, _batches(*batches))])


def workbook(*rows: Sequence[object]) -> bytes:
    """A workbook made the ordinary way (shared strings), as a user's Excel would."""
    book = openpyxl.Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(list(row))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def rezip(
    data: bytes,
    edit: Callable[[str, bytes], bytes] = lambda _n, b: b,
    extra: dict[str, bytes] | None = None,
) -> bytes:
    """Copy an xlsx, passing each member through `edit`, then add `extra` members."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for info in source.infolist():
            target.writestr(info.filename, edit(info.filename, source.read(info.filename)))
        for name, content in (extra or {}).items():
            target.writestr(name, content)
    return out.getvalue()


def read(data: bytes | Path, model: type[BaseModel] = Row, **limits: int) -> Any:
    options = {"max_rows": 100, "max_bytes": 5 * MB, **limits}
    return read_xlsx(data, COLUMNS, model, **options)


def test_openpyxl_parses_with_defusedxml() -> None:
    """ASVS 1.5.1: openpyxl only guards against entity expansion with defusedxml."""
    assert openpyxl.xml.DEFUSEDXML is True


# ------------------------------------------------------------------------- escaping --


@pytest.mark.parametrize("trigger", FORMULA_TRIGGERS)
def test_every_formula_trigger_gets_a_leading_quote(trigger: str) -> None:
    """§0 #14: = + - @ tab CR NUL at the start of a cell are escaped, in CSV and xlsx."""
    text = f'{trigger}HYPERLINK("http://x","y")'
    assert escape_formula(text) == "'" + text
    assert csv_text(text) == "'" + text
    escaped = xlsx_text(text)
    assert escaped.startswith("'")
    assert escaped[1:] == text.replace("\0", "").replace("\r", "\n")
    assert unescape_formula(escape_formula(text)) == text


@pytest.mark.parametrize("text", ["a=b", "plain", "", "'quoted", "1+1", "x-y@z"])
def test_harmless_text_is_unchanged(text: str) -> None:
    assert escape_formula(text) == text == csv_text(text)
    assert xlsx_text(text) == text
    assert unescape_formula(text) == text


def test_control_characters_that_hide_a_formula_are_dropped_then_escaped() -> None:
    """XML cannot carry them; dropping one must not reveal a formula behind it."""
    assert xlsx_text("\x01=cmd") == "'=cmd"
    assert xlsx_text("a\x00b\x1fc") == "abc"
    assert xlsx_text("tab\tand\nline") == "tab\tand\nline"


def test_non_text_values_are_not_escaped() -> None:
    assert csv_text(-5) == "-5"
    assert csv_text(None) == ""
    moment = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    assert csv_text(moment) == moment.isoformat()


async def test_exported_cells_are_text_never_formulas() -> None:
    """Read back with openpyxl: every escaped cell is a string cell holding the quote."""
    values = [f"{t}1+1" for t in FORMULA_TRIGGERS] + ["=SUM(A1:A2)", "#REF!x", "-"]
    data = await export([Column("v")], [[v] for v in values])
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    cells = [row[0] for row in sheet.iter_rows(min_row=2)]
    assert len(cells) == len(values)
    for cell, value in zip(cells, values, strict=True):
        assert cell.data_type == "s", value
        if value[0] in FORMULA_TRIGGERS:
            assert cell.value == "'" + value.replace("\0", "").replace("\r", "\n"), value
        else:
            assert cell.value == value


# --------------------------------------------------------------------------- export --


async def test_export_writes_a_bold_frozen_header_and_typed_cells() -> None:
    aware = datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=8)))
    data = await export(
        [Column("id", "ID"), Column("at", "At (UTC)"), Column("n"), Column("big")],
        [[1, aware, None, 2**60]],
        [[2, datetime(2024, 1, 1), 3.5, -7]],
    )
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    assert [c.value for c in sheet[1]] == ["ID", "At (UTC)", "n", "big"]
    assert all(c.font.b for c in sheet[1])
    assert sheet.freeze_panes == "A2"
    first = list(sheet[2])
    assert first[0].value == 1 and first[0].data_type == "n"
    # Excel has no time zones: UTC, naive, with a date-time format.
    assert first[1].value == datetime(2024, 1, 1, 19, 4, 5)
    assert first[1].number_format == DATETIME_FORMAT and first[1].is_date
    assert first[2].value is None
    assert first[3].value == str(2**60)  # beyond a double's exact integers: text
    assert [c.value for c in sheet[3]] == [2, datetime(2024, 1, 1), 3.5, -7]
    assert sheet.max_row == 3


async def test_export_streams_many_batches_in_chunks() -> None:
    rows = [[i, f"name {i}", f"=x{i}"] for i in range(3000)]
    chunks = [
        chunk
        async for chunk in stream_xlsx(
            COLUMNS, _batches(*(rows[i : i + 500] for i in range(0, 3000, 500))), chunk_size=4096
        )
    ]
    assert len(chunks) > 1 and all(len(c) <= 4096 for c in chunks)
    sheet = openpyxl.load_workbook(io.BytesIO(b"".join(chunks)), read_only=True).active
    values = list(sheet.iter_rows(min_row=2, values_only=True))
    assert len(values) == 3000
    assert values[2999] == (2999, "name 2999", "'=x2999")


async def test_an_abandoned_export_leaves_no_temporary_file() -> None:
    """A client that goes away mid-export: openpyxl's sheet file is removed."""
    before = set(openpyxl_writer.ALL_TEMP_FILES)

    async def failing() -> AsyncIterator[Sequence[Sequence[object]]]:
        yield [["a", "b", 1]]
        raise RuntimeError("database went away")

    with pytest.raises(RuntimeError, match="went away"):
        async for _ in stream_xlsx(COLUMNS, failing()):
            pass
    leftovers = set(openpyxl_writer.ALL_TEMP_FILES) - before
    assert leftovers == set()

    stream = stream_xlsx(COLUMNS, _batches([["a", "b", 1]]), chunk_size=10)
    assert await anext(stream)
    await stream.aclose()  # the client disconnected after the first chunk
    assert set(openpyxl_writer.ALL_TEMP_FILES) - before == set()


async def test_a_cancelled_export_closes_its_source_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The client leaves while a batch is being written: the source (a database session, in
    the app) is closed then, not whenever the garbage collector gets to it."""
    closed = asyncio.Event()
    writing, release = threading.Event(), threading.Event()
    append = export_module._XlsxWriter.append

    def slow_append(self: Any, rows: Sequence[Sequence[object]]) -> None:
        writing.set()
        release.wait(5)
        append(self, rows)

    monkeypatch.setattr(export_module._XlsxWriter, "append", slow_append)

    async def source() -> AsyncIterator[Sequence[Sequence[object]]]:
        try:
            for i in range(3):
                yield [[f"n{i}", "b", i]]
        finally:
            closed.set()

    async def consume() -> None:
        async for _ in stream_xlsx(COLUMNS, source()):
            pass

    task = asyncio.create_task(consume())
    await asyncio.to_thread(writing.wait, 5)
    task.cancel()
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert closed.is_set()


async def test_stream_csv_has_a_bom_a_header_and_escaped_cells() -> None:
    text = "".join(
        [
            chunk
            async for chunk in stream_csv(COLUMNS, _batches([["=1", None, 3]], [["b", "@x", -1]]))
        ]
    )
    assert text == "\ufeffName,Note,Count\r\n'=1,,3\r\nb,'@x,-1\r\n"


# ----------------------------------------------------------------------- round trip --


async def test_export_then_import_gives_back_the_same_values() -> None:
    """docs/security-checklist.md §4.6: formulas, unicode, tabs and line breaks survive the trip
    (XML
    cannot carry other control characters, and reads a CR as LF)."""
    names = ['=HYPERLINK("http://x")', "+1", "-2", "@me", "\ttab", "\ncr", "名前 ✓", " spaced "]
    notes = ["line\nbreak", None, "'quoted", "a=b", "x", "é", "=", "+"]
    rows = [[name, note, i] for i, (name, note) in enumerate(zip(names, notes, strict=True))]
    result = read(await export(COLUMNS, rows[:3], rows[3:]))
    assert result.errors == []
    assert result.total == len(rows)
    assert [r.row for r in result.rows] == list(range(2, 2 + len(rows)))
    assert [(r.data.name, r.data.note, r.data.count) for r in result.rows] == [
        tuple(row) for row in rows
    ]


async def test_datetimes_come_back_as_naive_utc() -> None:
    class When(BaseModel):
        name: str
        note: datetime
        count: int

    moment = datetime(2024, 2, 29, 23, 59, 58, tzinfo=UTC)
    result = read(await export(COLUMNS, [["ab", moment, 1]]), When)
    assert result.rows[0].data.note == moment.replace(tzinfo=None)


def test_the_template_has_the_header_a_drop_down_and_notes() -> None:
    columns = (
        Column("status", "Status", choices=("active", "disabled"), description="State"),
        Column("phone", "Phone", example="+1 555", required=True),
    )
    data = template_xlsx(columns, sheet_title="Users")
    book = openpyxl.load_workbook(io.BytesIO(data))
    sheet = book["Users"]
    assert [c.value for c in sheet[1]] == ["Status", "Phone"]
    assert sheet.max_row == 1  # no example row that could be imported by mistake
    assert sheet.data_validations.dataValidation[0].formula1 == '"active,disabled"'
    notes = [[c.value for c in row] for row in book["Notes"].iter_rows()]
    assert notes[0] == ["Column", "Required", "Description", "Example"]
    assert notes[1][:3] == ["Status", "no", "State"]
    assert notes[2] == ["Phone", "yes", None, "'+1 555"]

    class Blank(BaseModel):
        status: str
        phone: str

    assert read_xlsx(data, columns, Blank, max_rows=1, max_bytes=MB).total == 0


# ------------------------------------------------------------------- hostile files --


def zip_bomb(member_mb: int = 210) -> bytes:
    """A valid workbook plus a member of `member_mb` MB of zeros (about 1 MB compressed)."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(workbook(["name", "note", "count"]))) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as target,
    ):
        for info in source.infolist():
            target.writestr(info.filename, source.read(info.filename))
        with target.open("xl/media/zeros.bin", "w", force_zip64=True) as member:
            block = bytes(MB)
            for _ in range(member_mb):
                member.write(block)
    return out.getvalue()


@pytest.fixture
def openpyxl_must_not_open(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("openpyxl was given a file the archive checks should refuse")

    monkeypatch.setattr(openpyxl, "load_workbook", refuse)


@pytest.mark.usefixtures("openpyxl_must_not_open")
def test_a_zip_bomb_is_refused_before_openpyxl_reads_it() -> None:
    """§0 #13: ~1 MB that inflates to 210 MB; only the central directory is read."""
    bomb = zip_bomb()
    assert len(bomb) < 2 * MB
    with pytest.raises(SpreadsheetTooLarge, match="compressed more than 100:1") as caught:
        read(bomb, max_bytes=20 * MB)
    assert caught.value.status_code == 413


@pytest.mark.usefixtures("openpyxl_must_not_open")
def test_the_unpacked_total_is_limited_even_without_compression() -> None:
    """At most 20 x max_bytes unpacked, even when no member is large enough to be judged
    by its compression ratio."""
    data = rezip(workbook(["name"]), extra={"xl/media/a.bin": bytes(range(256)) * 1600})  # 400 KB
    assert len(data) * 20 < 400 * 1024
    with pytest.raises(SpreadsheetTooLarge, match="unpacks to more than") as caught:
        read(data, max_bytes=len(data))
    assert caught.value.status_code == 413


@pytest.mark.usefixtures("openpyxl_must_not_open")
def test_too_many_members_are_refused() -> None:
    data = rezip(workbook(["name"]), extra={f"xl/media/{i}": b"x" for i in range(1001)})
    with pytest.raises(SpreadsheetRejected, match="more than 1000 members") as caught:
        read(data)
    assert caught.value.status_code == 422


@pytest.mark.usefixtures("openpyxl_must_not_open")
def test_an_encrypted_member_is_refused() -> None:
    data = bytearray(workbook(["name", "note", "count"]))
    # Set the "encrypted" flag of the first member, in its local and central headers.
    local, central = data.find(b"PK\x03\x04"), data.find(b"PK\x01\x02")
    data[local + 6] |= 0x1
    data[central + 8] |= 0x1
    with pytest.raises(SpreadsheetRejected, match="encrypted"):
        read(bytes(data))


LAUGHS = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
        for i in range(1, 10)
    )
    + b"]>\n"
)
XXE = b'<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'


SHARED_STRINGS_TYPE = (
    b"application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
)


def _with_dtd(dtd: bytes, target: str, reference: bytes) -> bytes:
    """A workbook whose `target` part declares `dtd` and uses `reference` in a cell."""

    def edit(name: str, content: bytes) -> bytes:
        if name == "[Content_Types].xml":  # Excel keeps text in a shared strings part
            override = b'<Override PartName="/xl/sharedStrings.xml" ContentType="%s"/>'
            content = content.replace(b"</Types>", override % SHARED_STRINGS_TYPE + b"</Types>")
        if name == "xl/worksheets/sheet1.xml":
            content = content.replace(
                b'<c r="A2" t="inlineStr"><is><t>ab</t></is></c>', b'<c r="A2" t="s"><v>0</v></c>'
            )
        if name != target:
            return content
        content = content.split(b"?>", 1)[1].lstrip() if content.startswith(b"<?xml") else content
        return dtd + content.replace(b"<t>name</t>", b"<t>" + reference + b"</t>")

    strings = b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>name</t></si></sst>'
    shared = edit("xl/sharedStrings.xml", strings) if target == "xl/sharedStrings.xml" else strings
    return rezip(
        workbook(["name", "note", "count"], ["ab", "x", 1]), edit, {"xl/sharedStrings.xml": shared}
    )


def test_the_shared_strings_part_is_read() -> None:
    """The crafted workbook below is valid without a DTD: the cell comes from the part."""
    data = _with_dtd(b"", "none", b"")
    assert [r.data.name for r in read(data).rows] == ["name"]


@pytest.mark.parametrize(
    ("dtd", "target"),
    [
        (LAUGHS, "xl/sharedStrings.xml"),
        (LAUGHS, "xl/worksheets/sheet1.xml"),
        (LAUGHS, "xl/workbook.xml"),
        (XXE, "xl/sharedStrings.xml"),
        (XXE, "xl/worksheets/sheet1.xml"),
    ],
)
def test_xml_entities_are_refused(dtd: bytes, target: str) -> None:
    """§0 #13, ASVS 1.5.1: billion laughs and XXE give a 422, wherever they hide."""
    data = _with_dtd(dtd, target, b"&lol9;" if dtd is LAUGHS else b"&xxe;")
    with pytest.raises(SpreadsheetRejected, match="XML entity declarations") as caught:
        read(data)
    assert caught.value.status_code == 422


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"name,note,count\nab,x,1\n",
        b"%PDF-1.7\n" + bytes(2000),
        b"PK\x05\x06" + bytes(18),  # an empty zip
        rezip(workbook(["name"]), lambda n, b: b"<broken" if n == "xl/workbook.xml" else b),
        workbook(["name", "note", "count"], ["ab", "x", 1])[:-200],  # truncated
    ],
    ids=["empty", "csv", "pdf", "empty-zip", "broken-xml", "truncated"],
)
def test_anything_but_an_xlsx_is_a_clear_422(data: bytes) -> None:
    with pytest.raises(SpreadsheetRejected) as caught:
        read(data)
    assert caught.value.status_code == 422
    assert caught.value.errors and caught.value.errors[0].field == "file"  # type: ignore[union-attr]


def test_a_file_over_max_bytes_is_a_413(tmp_path: Path) -> None:
    data = workbook(["name", "note", "count"], ["ab", "x", 1])
    with pytest.raises(SpreadsheetTooLarge, match=f"larger than {len(data) - 1} bytes"):
        read(data, max_bytes=len(data) - 1)
    path = tmp_path / "users.xlsx"
    path.write_bytes(data)
    with pytest.raises(SpreadsheetTooLarge):
        read(path, max_bytes=len(data) - 1)
    assert read(path, max_bytes=len(data)).total == 1


def test_reading_stops_at_the_row_limit() -> None:
    """More rows than max_rows: a 413, and no row past the limit is even validated."""
    seen: list[str] = []

    class Counted(Row):
        @field_validator("name")
        @classmethod
        def _count(cls, value: str) -> str:
            seen.append(value)
            return value

    data = workbook(["name", "note", "count"], *([f"n{i}", "", i] for i in range(50)))
    with pytest.raises(SpreadsheetTooLarge, match="more than 10 data rows") as caught:
        read(data, Counted, max_rows=10)
    assert caught.value.status_code == 413
    assert seen == [f"n{i}" for i in range(10)]
    assert read(data, max_rows=50).total == 50


def test_a_lying_dimension_does_not_hide_rows() -> None:
    """The sheet says A1:C2, but holds 4 rows: all are read."""
    data = workbook(["name", "note", "count"], *([f"n{i}", "", i] for i in range(3)))
    lied = rezip(
        data,
        lambda n, b: b.replace(b'<dimension ref="A1:C4"/>', b'<dimension ref="A1:C2"/>'),
    )
    assert lied != data
    assert read(lied).total == 3


# ------------------------------------------------------------------- header and rows --


def test_a_missing_column_is_a_422_naming_it() -> None:
    data = workbook(["name", "count"], ["ab", 1])
    with pytest.raises(SpreadsheetRejected, match="Missing column: Note") as caught:
        read(data)
    assert [e.field for e in caught.value.errors] == ["note"]  # type: ignore[union-attr]
    with pytest.raises(SpreadsheetRejected, match="Missing columns: Name, Note, Count"):
        read(workbook(["ab", "x", 1]))  # no header at all
    with pytest.raises(SpreadsheetRejected, match="first sheet is empty"):
        read(workbook())


def test_a_repeated_column_is_a_422() -> None:
    with pytest.raises(SpreadsheetRejected, match="'name' appears twice"):
        read(workbook(["Name", "note", "count", "NAME"]))


def test_headers_match_in_any_order_and_case_and_extra_columns_are_ignored() -> None:
    data = workbook(["COUNT", "extra", " note ", "Name"], [5, "ignored", "n", "ab"])
    result = read(data)
    assert result.errors == []
    assert result.rows[0].data == Row(name="ab", note="n", count=5)


def test_each_bad_row_reports_each_bad_field_without_its_value() -> None:
    data = workbook(
        ["name", "note", "count"],
        ["ok", "fine", 1],
        ["x", "", "many"],  # row 3: name too short, count not a number
        [None, None, None],  # row 4: blank, skipped
        ["", "only a note", 2],  # row 5: name missing
        ["also ok", None, None],
        ["sécret-value", "x", 1.5],  # row 7: count not whole
    )
    result = read(data)
    assert result.total == 5
    assert [(r.row, r.data.name) for r in result.rows] == [(2, "ok"), (6, "also ok")]
    found = {(e.row, e.field) for e in result.errors}
    assert found == {(3, "name"), (3, "count"), (5, "name"), (7, "count")}
    assert all(e.message for e in result.errors)
    assert not any("sécret" in e.message or "many" in e.message for e in result.errors)


def test_numbers_typed_into_text_columns_read_as_text() -> None:
    class Text(BaseModel):
        name: str
        note: str
        count: str

    result = read(workbook(["name", "note", "count"], [13800138000, 2.5, True]), Text)
    assert result.rows[0].data == Text(name="13800138000", note="2.5", count="true")
