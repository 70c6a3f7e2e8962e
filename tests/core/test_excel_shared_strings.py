"""The shared-strings table of an uploaded xlsx is read within bounds (SECURITY.md §0 #13,
§2 API4; ASVS 5.2.3).

Before: openpyxl, even read-only, loaded the whole table first, one `Text` object per string,
every element kept to the end: a 5 MB upload within every archive limit cost minutes of CPU and
~300 MB that was never returned. Memory is measured here with tracemalloc, never with a clock.
"""

from __future__ import annotations

import io
import random
import tracemalloc
import zipfile
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from openpyxl.reader.strings import read_string_table

from app.core.excel import SpreadsheetTooLarge, shared_strings
from tests.core.test_excel import MB, SHARED_STRINGS_TYPE, read, rezip, workbook
from tests.support.identity import superuser_headers

NS = b"http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def with_shared_strings(xml: bytes) -> bytes:
    """A valid workbook (header name/note/count, one row) carrying `xml` as its shared strings."""

    def edit(name: str, content: bytes) -> bytes:
        if name == "[Content_Types].xml":
            override = b'<Override PartName="/xl/sharedStrings.xml" ContentType="%s"/>'
            content = content.replace(b"</Types>", override % SHARED_STRINGS_TYPE + b"</Types>")
        return content

    return rezip(
        workbook(["name", "note", "count"], ["ab", "x", 1]), edit, {"xl/sharedStrings.xml": xml}
    )


def table(items: list[bytes]) -> bytes:
    return b'<sst xmlns="%s">%s</sst>' % (NS, b"".join(items))


def many_strings(count: int) -> bytes:
    """`count` distinct short texts, random enough to compress like real data (< 100:1)."""
    rng = random.Random(13)
    return table([b"<si><t>%x</t></si>" % rng.getrandbits(40) for _ in range(count)])


def peak_of(call: Any) -> tuple[int, BaseException | None]:
    """Peak traced memory (bytes) while `call()` runs, and what it raised."""
    tracemalloc.start()
    error: BaseException | None = None
    try:
        call()
    except Exception as exc:
        error = exc
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return peak, error


def test_strings_read_as_openpyxl_reads_them() -> None:
    """Plain, rich-text runs, phonetic runs (left out), spaces, escapes, empty texts."""
    xml = table(
        [
            b"<si><t>plain</t></si>",
            b'<si><t xml:space="preserve">  spaced  </t></si>',
            b"<si><r><rPr><b/></rPr><t>bo</t></r><r><t>ld</t></r></si>",
            b"<si><t>base</t><rPh sb='0' eb='1'><t>PHONETIC</t></rPh></si>",
            b"<si><t>a_x005F_x000D_b</t></si>",
            b"<si><t/></si>",
            b"<si></si>",
            "<si><t>ünïcødé 漢字</t></si>".encode(),
        ]
    )
    ours = shared_strings.read_bounded(io.BytesIO(xml), max_rows=10)
    assert ours == list(read_string_table(io.BytesIO(xml)))
    assert ours[2] == "bold"
    assert ours[3] == "base"


def test_a_workbook_with_shared_strings_still_imports() -> None:
    xml = table([b"<si><t>name</t></si>", b"<si><t>unused</t></si>"])

    def cell_from_table(name: str, content: bytes) -> bytes:
        if name == "xl/worksheets/sheet1.xml":
            return content.replace(
                b'<c r="A2" t="inlineStr"><is><t>ab</t></is></c>', b'<c r="A2" t="s"><v>0</v></c>'
            )
        return content

    data = rezip(with_shared_strings(xml), cell_from_table)
    assert [row.data.name for row in read(data).rows] == ["name"]


def test_a_table_of_600_000_tiny_strings_is_refused_within_a_memory_budget() -> None:
    """Within every archive limit (5 MB file, ratio under 100:1), far over the string limit."""
    count = 600_000
    data = with_shared_strings(many_strings(count))
    assert len(data) < 5 * MB
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        part = archive.getinfo("xl/sharedStrings.xml")
    assert part.file_size < 100 * part.compress_size  # the ratio check lets it through
    max_strings, _, _ = shared_strings.limits(100)
    assert count > max_strings

    peak, error = peak_of(lambda: read(data, max_rows=100))
    assert isinstance(error, SpreadsheetTooLarge), error
    assert error.status_code == 413
    assert f"more than {max_strings} texts" in error.message
    assert [getattr(detail, "field", None) for detail in error.errors] == ["file"]
    # openpyxl kept every string and element (minutes, hundreds of MB); this stops at the limit.
    assert peak < 40 * MB, f"peak {peak / MB:.0f} MB"


def test_one_text_of_many_runs_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """The element limit holds inside one string too (smaller limits keep the test quick)."""
    monkeypatch.setattr(shared_strings, "MIN_STRINGS", 10_000)
    _, max_elements, _ = shared_strings.limits(100)
    rng = random.Random(5)
    runs = b"".join(b"<r><t>%x</t></r>" % rng.getrandbits(24) for _ in range(max_elements))
    data = with_shared_strings(table([b"<si>" + runs + b"</si>"]))
    peak, error = peak_of(lambda: read(data, max_rows=100))
    assert isinstance(error, SpreadsheetTooLarge), error
    assert f"more than {max_elements} XML elements" in error.message
    assert peak < 40 * MB, f"peak {peak / MB:.0f} MB"


def test_a_part_over_the_unpacked_limit_is_refused_before_it_is_parsed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def must_not_parse(*_args: object) -> list[str]:
        raise AssertionError("the oversized part was parsed")

    monkeypatch.setattr(shared_strings, "read_bounded", must_not_parse)
    _, _, max_bytes = shared_strings.limits(100)
    rng = random.Random(7)
    filler = b"<si><t>%s</t></si>" % rng.randbytes(max_bytes // 2 + 1024).hex().encode()
    data = with_shared_strings(table([filler]))
    with pytest.raises(SpreadsheetTooLarge, match="shared strings unpack to more than"):
        read(data, max_rows=100, max_bytes=20 * MB)


async def test_an_import_of_such_a_file_is_a_413_envelope(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    max_strings, _, _ = shared_strings.limits(app.state.settings.import_max_rows)
    data = with_shared_strings(many_strings(max_strings + 1000))
    headers = await superuser_headers(app)
    response = await client.post(
        "/api/v1/system/users/import",
        files={"file": ("users.xlsx", data, "application/octet-stream")},
        headers=headers,
    )
    assert response.status_code == 413, response.text
    assert response.json()["errors"][0]["field"] == "file"
