"""A bounded reader of an xlsx's shared-strings table, for openpyxl's read-only load.

openpyxl reads the whole table before the first row, even read-only: every `<si>` becomes a
`Text` object (tens of microseconds each) and every parsed element stays attached to the root
until the end. A 5 MB upload within the archive limits can hold a million tiny strings: minutes
of CPU and hundreds of megabytes. Here the table is read by a bare expat parser with
defusedxml's guards (no entity declarations, no external references), each string is built
from its text runs as they stream past, no tree is built, and the table is bounded **before**
its cost is paid:

- the part's unpacked size (from the zip directory, nothing parsed): at most
  `max(MIN_BYTES, BYTES_PER_ROW x max_rows)`;
- strings: at most `max(MIN_STRINGS, STRINGS_PER_ROW x max_rows)`, elements at most
  `ELEMENTS_PER_STRING` times that (a single `<si>` with a million runs counts too).

Reading stops at the first string or element over a limit (413), so the work done is bounded
by the limits, not by the file. The limits follow `IMPORT_MAX_ROWS`: a file that may carry more
rows may carry more distinct texts.
"""

from __future__ import annotations

import pyexpat
from typing import IO, Any

from app.core.excel.cells import SpreadsheetTooLarge
from app.core.responses import ErrorDetail

MIN_STRINGS = 100_000
STRINGS_PER_ROW = 16
ELEMENTS_PER_STRING = 8
# sst > si > r > rPr > b is as deep as a table goes; a little room for extensions.
MAX_DEPTH = 16
MIN_BYTES = 16 * 1024 * 1024
BYTES_PER_ROW = 1024

CHUNK = 64 * 1024
# expat's names with namespace_separator=" ": "<namespace URI> <local name>".
MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main "
SI = f"{MAIN_NS}si"
T = f"{MAIN_NS}t"
R = f"{MAIN_NS}r"


def limits(max_rows: int) -> tuple[int, int, int]:
    """(strings, elements, unpacked bytes) a shared-strings table may hold."""
    strings = max(MIN_STRINGS, STRINGS_PER_ROW * max_rows)
    return strings, ELEMENTS_PER_STRING * strings, max(MIN_BYTES, BYTES_PER_ROW * max_rows)


def _too_large(message: str) -> SpreadsheetTooLarge:
    return SpreadsheetTooLarge(
        message,
        errors=[ErrorDetail(field="file", location="body", message=message, type="too_large")],
    )


def check_size(unpacked: int, max_rows: int) -> None:
    """Refuse a shared-strings part larger than the limit, before it is parsed."""
    _, _, max_bytes = limits(max_rows)
    if unpacked > max_bytes:
        raise _too_large(
            f"The workbook's shared strings unpack to more than {max_bytes // (1024 * 1024)} MB"
        )


def _refuse_entities(parser: Any) -> None:
    """defusedxml's guards, on a bare expat parser: no entity declarations, no external
    references (billion laughs, XXE); the reader turns these errors into a 422."""
    from defusedxml import EntitiesForbidden, ExternalReferenceForbidden

    def entity_decl(
        name: str, _is_param: bool, value: str | None, base: str | None, *ids: str | None
    ) -> None:
        raise EntitiesForbidden(name, value, base, ids[0], ids[1], ids[2])

    def unparsed_entity_decl(name: str, base: str | None, *ids: str | None) -> None:
        raise EntitiesForbidden(name, None, base, ids[0], ids[1], ids[2])

    def external_ref(context: str, base: str | None, *ids: str | None) -> None:
        raise ExternalReferenceForbidden(context, base, ids[0], ids[1])

    parser.EntityDeclHandler = entity_decl
    parser.UnparsedEntityDeclHandler = unparsed_entity_decl
    parser.ExternalEntityRefHandler = external_ref


def read_bounded(source: IO[bytes], max_rows: int) -> list[str]:
    """The table's strings in order; 413 as soon as it holds more than the limits allow.

    Each string is the text of one `<si>` as openpyxl's `Text.content` gives it: its plain
    `<t>`, then the `<t>` of each rich-text run `<r>`; phonetic runs are left out. A bare expat
    parser (with defusedxml's guards) calls back per element and builds no tree: memory holds
    the open elements (at most `MAX_DEPTH`) and the strings, whatever the file's shape, and an
    element costs about a microsecond (defusedxml's ElementTree parser is pure Python).
    """
    max_strings, max_elements, _ = limits(max_rows)
    parser = pyexpat.ParserCreate(namespace_separator=" ")
    parser.buffer_text = True
    _refuse_entities(parser)
    strings: list[str] = []
    stack: list[str] = []
    elements = 0
    text: list[str] = []  # the characters of the <t> being read, if it counts
    plain: str | None = None
    runs: list[str] = []
    run_text: str | None = None

    def counted_t() -> bool:
        """Is the innermost element a <t> of a string (si/t) or of one of its runs (si/r/t)?"""
        depth = len(stack)
        if stack[-1] != T or depth < 3 or stack[1] != SI:
            return False
        return depth == 3 or (depth == 4 and stack[2] == R)

    def start(name: str, _attributes: object) -> None:
        nonlocal elements
        elements += 1
        if elements > max_elements:
            raise _too_large(
                f"The workbook's shared strings hold more than {max_elements} XML elements"
            )
        if len(stack) >= MAX_DEPTH:
            raise _too_large("The workbook's shared strings are nested too deeply")
        stack.append(name)
        if name == T:
            text.clear()

    def characters(data: str) -> None:
        if stack and counted_t():
            text.append(data)

    def end(name: str) -> None:
        nonlocal plain, run_text
        if name == T and counted_t():
            if len(stack) == 3:
                plain = "".join(text)
            else:
                run_text = "".join(text)
        stack.pop()
        depth = len(stack)  # the parent's
        if name == R and depth == 2 and stack[1] == SI:
            if run_text is not None:
                runs.append(run_text)
            run_text = None
        elif name == SI and depth == 1:
            if len(strings) >= max_strings:
                raise _too_large(
                    f"The workbook's shared strings hold more than {max_strings} texts"
                )
            joined = "".join([plain, *runs] if plain is not None else runs)
            strings.append(joined.replace("x005F_", ""))
            plain = None
            runs.clear()

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = characters
    while chunk := source.read(CHUNK):
        parser.Parse(chunk, False)
    parser.Parse(b"", True)
    return strings
