"""Pagination, whitelisted sorting, bounded counts and cursor (keyset) paging for list endpoints.

A list route declares which fields clients may sort by; anything else is a 422 naming `sort`,
so a sort value never reaches SQL as text:

    users_page = pagination(sortable={"created_at": User.created_at, "username": User.username},
                            default="-created_at")

    @router.get("")
    async def list_users(session: SessionDep, params: Annotated[PageParams, Depends(users_page)]):
        items, total = await paginate(session, select(User), params)

A list that reads plain columns and builds its items from rows can count in the page query
instead (`count(*) OVER ()`, one round trip fewer; a count query only for a page past the end):

    rows, total = await paginate_rows(session, select(User.id, User.name), params,
                                      tiebreaker=[User.id])

A list that grows without bound also declares its unique `cursor_key` (then it accepts `cursor`
and answers `next_cursor`, so deep pages read `WHERE (sort key, id) < (last row) LIMIT n` from
an index instead of an OFFSET) and an `exact_count_limit` (beyond it `total` is an estimate and
`total_exact` is false), and reads with `fetch_page`:

    logs_page = pagination(sortable={"created_at": Log.created_at}, default="-created_at",
                           cursor_key=Log.id, exact_count_limit=1_000)

    result = await fetch_page(session, select(Log), params)
    return ok(result.as_page(LogRead))         # a CursorPage: adds total_exact, next_cursor

The rules are in docs/http.md ("Lists").
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, Field
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Integer,
    Row,
    Select,
    SmallInteger,
    String,
    and_,
    bindparam,
    func,
    literal,
    or_,
    select,
    text,
    tuple_,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement, ColumnElement, UnaryExpression
from sqlalchemy.sql.schema import Table
from sqlalchemy.types import TypeDecorator, TypeEngine

from app.core.errors import ValidationFailed
from app.core.responses import ErrorDetail

if TYPE_CHECKING:
    from app.core.sorts import ListSorts

T = TypeVar("T")
# A model attribute (`User.username`) or any SQL expression clients may sort by.
SortColumn = ColumnElement[Any] | QueryableAttribute[Any]
# A select of any columns: `select(User)`, `select(User.id, User.name)`.
AnySelect = Select[*tuple[Any, ...]]

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 10
# The exact-count limit for lists that grow without bound (logs): counting 1,000 rows costs well
# under a millisecond on PostgreSQL; past it the database's estimate is as useful to a reader.
LARGE_LIST_EXACT_COUNT = 1_000
MAX_CURSOR_LENGTH = 512
_CURSOR_VERSION = 1
_CURSOR_CHARS = re.compile(r"[A-Za-z0-9_-]+")
_INT_BITS = {BigInteger: 64, SmallInteger: 16, Integer: 32}


class Page(BaseModel, Generic[T]):
    """One page of a list: `items`, the `total` matching rows, and the page asked for."""

    items: list[T]
    total: int = Field(ge=0)
    page: int = Field(ge=1)
    page_size: int = Field(ge=1, le=MAX_PAGE_SIZE)


class CursorPage(Page[T], Generic[T]):
    """The page of a list that bounds its count and/or pages by cursor (`fetch_page`)."""

    total: int = Field(
        ge=0, description="Matching rows; an estimate (or lower bound) when `total_exact` is false"
    )
    total_exact: bool = Field(
        default=True,
        description="False when the list holds more rows than it counts exactly and `total` is "
        "the database's estimate (at least the exact-count limit + 1)",
    )
    next_cursor: str | None = Field(
        default=None,
        description="Pass as `cursor` to read the rows after this page (lists that page by "
        "cursor); null on the last page",
    )


M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class KeyPart:
    """One column of a cursor key: the expression, its direction and how its values travel."""

    expression: SortColumn
    descending: bool
    kind: type
    int_bits: int = 64

    @property
    def clause(self) -> UnaryExpression[Any]:
        return self.expression.desc() if self.descending else self.expression.asc()


@dataclass(frozen=True, slots=True)
class PageParams:
    """Validated paging and ordering for one list request.

    `keyset` is set when the list pages by cursor and the requested sort allows it: the sort
    columns followed by the unique key. `after` holds the decoded cursor (the key values of the
    last row the client has seen).
    """

    page: int = 1
    page_size: int = DEFAULT_PAGE_SIZE
    order_by: tuple[UnaryExpression[Any], ...] = field(default_factory=tuple)
    sort: str = ""
    keyset: tuple[KeyPart, ...] = ()
    after: tuple[Any, ...] | None = None
    exact_count_limit: int | None = None

    @property
    def offset(self) -> int:
        return 0 if self.after is not None else (self.page - 1) * self.page_size


@dataclass(frozen=True, slots=True)
class PageResult:
    """What `fetch_page` read: the rows of the page, the count and the cursor to the next page."""

    items: list[Any]
    total: int
    total_exact: bool
    next_cursor: str | None
    params: PageParams

    def as_page(self, schema: type[M]) -> CursorPage[M]:
        """The rows (ORM objects) validated into `schema`, e.g. `result.as_page(LogRead)`."""
        page_type = CursorPage[schema]  # type: ignore[valid-type]  # parametrised at run time
        page: CursorPage[M] = page_type(
            items=[schema.model_validate(row) for row in self.items],
            total=self.total,
            page=self.params.page,
            page_size=self.params.page_size,
            total_exact=self.total_exact,
            next_cursor=self.next_cursor,
        )
        return page


def _query_error(name: str, message: str) -> ValidationFailed:
    return ValidationFailed(
        f"Validation failed: {name}",
        errors=[ErrorDetail(field=name, location="query", message=message, type="value_error")],
    )


def _parse(
    sort: str | None, sortable: Mapping[str, SortColumn], default: str
) -> tuple[str, list[tuple[SortColumn, bool]]]:
    spec = sort if sort else default
    parsed: list[tuple[SortColumn, bool]] = []
    canonical: list[str] = []
    seen: set[str] = set()
    for raw in spec.split(","):
        token = raw.strip()
        descending = token.startswith("-")
        name = token.lstrip("+-")
        if name not in sortable or name in seen:
            allowed = ", ".join(sorted(sortable))
            raise _query_error(
                "sort",
                f"must be a comma-separated list of: {allowed} "
                "(prefix - for descending), each at most once",
            )
        seen.add(name)
        parsed.append((sortable[name], descending))
        canonical.append(f"-{name}" if descending else name)
    return ",".join(canonical), parsed


def parse_sort(
    sort: str | None, sortable: Mapping[str, SortColumn], default: str
) -> tuple[UnaryExpression[Any], ...]:
    """Turn `-created_at,name` into ORDER BY clauses, accepting only whitelisted names.

    Raises:
        ValidationFailed: 422 naming the `sort` query parameter.
    """
    _, parsed = _parse(sort, sortable, default)
    return tuple(column.desc() if desc else column.asc() for column, desc in parsed)


# ------------------------------------------------------------------------------ cursor keys --
def _element(expression: SortColumn) -> ColumnElement[Any]:
    if isinstance(expression, QueryableAttribute):
        clause: ColumnElement[Any] = expression.__clause_element__()
        return clause
    return expression


def _base_type(type_: TypeEngine[Any]) -> TypeEngine[Any]:
    while isinstance(type_, TypeDecorator):
        type_ = type_.impl_instance
    return type_


def _key_kind(expression: SortColumn) -> tuple[type, int] | None:
    """How values of `expression` travel in a cursor, or None when it cannot be a key part.

    Exact types only: a float read back from a single-precision column (MariaDB FLOAT) does
    not compare equal to itself, and a nullable column breaks `<` on its NULLs.
    """
    element = _element(expression)
    if isinstance(element, Column) and element.nullable:
        return None
    type_ = _base_type(element.type)
    if isinstance(type_, DateTime):
        return datetime, 0
    if isinstance(type_, Boolean):
        return bool, 0
    if isinstance(type_, Integer):
        bits = next(b for cls, b in _INT_BITS.items() if isinstance(type_, cls))
        return int, bits
    if isinstance(type_, String):
        return str, 0
    return None


def _unique(expression: SortColumn) -> bool:
    """A NOT NULL column with a single-column unique constraint or index of its own."""
    element = _element(expression)
    return isinstance(element, Column) and not element.nullable and bool(element.unique)


def _keyset(
    parsed: Sequence[tuple[SortColumn, bool]], key: SortColumn
) -> tuple[KeyPart, ...] | None:
    """The sort columns then the unique key, or None when the sort cannot page by cursor."""
    parts: list[KeyPart] = []
    key_element = _element(key)
    for column, descending in parsed:
        kind = _key_kind(column)
        if kind is None:
            return None
        parts.append(KeyPart(column, descending, kind[0], kind[1]))
        if _element(column).compare(key_element) or _unique(column):
            # A unique column already decides the order: ending the key there lets the
            # database read its own unique index in order (MariaDB will not add `id` to it).
            return tuple(parts)
    kind = _key_kind(key)
    assert kind is not None  # checked by `pagination()`
    last_descending = parsed[-1][1] if parsed else False
    parts.append(KeyPart(key, last_descending, kind[0], kind[1]))
    return tuple(parts)


def _target(expression: Any) -> ColumnElement[Any]:
    """The column of an ORDER BY item (`User.id`, `User.id.desc()`)."""
    if isinstance(expression, UnaryExpression):
        expression = expression.element
    return _element(expression)


def _ends_unique(parsed: Sequence[tuple[SortColumn, bool]], key: SortColumn) -> bool:
    """Whether the sort already names the key (so nothing is left to break ties)."""
    return any(_element(column).compare(_element(key)) for column, _ in parsed)


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return value


def encode_cursor(sort: str, values: Sequence[Any]) -> str:
    """The opaque cursor for a position: base64url of `[version, sort, [key values]]`.

    Not signed: it holds only values of a row the client has already read, and any position
    it can name is reachable by paging anyway. It is validated strictly on the way back in.
    """
    payload = [_CURSOR_VERSION, sort, [_encode_value(v) for v in values]]
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


class _BadCursor(ValueError):
    pass


def _reject_constant(name: str) -> Any:
    raise _BadCursor(name)  # NaN / Infinity


def _decode_value(part: KeyPart, value: Any) -> Any:
    if part.kind is datetime:
        if not isinstance(value, str) or len(value) > 40:
            raise _BadCursor("datetime")
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            raise _BadCursor("naive datetime")
        return parsed.astimezone(UTC)
    if part.kind is bool:
        if not isinstance(value, bool):
            raise _BadCursor("bool")
        return value
    if part.kind is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise _BadCursor("int")
        bound = 1 << (part.int_bits - 1)
        if not -bound <= value < bound:
            raise _BadCursor("int range")
        return value
    if not isinstance(value, str) or "\x00" in value:
        raise _BadCursor("str")
    value.encode("utf-8")  # lone surrogates raise UnicodeEncodeError, a ValueError
    return value


def decode_cursor(raw: str, sort: str, keyset: Sequence[KeyPart]) -> tuple[Any, ...]:
    """The key values in `raw`, checked against the list's key and the request's sort.

    Raises:
        ValidationFailed: 422 naming `cursor` for anything this list did not issue for `sort`.
    """
    try:
        if not _CURSOR_CHARS.fullmatch(raw):
            raise _BadCursor("alphabet")
        data = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
        payload = json.loads(data, parse_constant=_reject_constant)
        if not (isinstance(payload, list) and len(payload) == 3 and payload[0] == _CURSOR_VERSION):
            raise _BadCursor("shape")
        _, cursor_sort, values = payload
        if not isinstance(cursor_sort, str) or not isinstance(values, list):
            raise _BadCursor("shape")
    except (ValueError, binascii.Error, RecursionError):
        raise _query_error("cursor", "is not a cursor issued by this list") from None
    if cursor_sort != sort:
        raise _query_error(
            "cursor", "was issued for another sort: send the same `sort`, or start without cursor"
        )
    try:
        if len(values) != len(keyset):
            raise _BadCursor("length")
        return tuple(_decode_value(part, v) for part, v in zip(keyset, values, strict=True))
    except (ValueError, OverflowError):  # OverflowError: a time zone pushing year 1 to year 0
        raise _query_error("cursor", "is not a cursor issued by this list") from None


def _after(keyset: Sequence[KeyPart], values: Sequence[Any], dialect: str) -> ColumnElement[bool]:
    """Rows strictly after `values` in the keyset order."""
    binds = [
        literal(v, type_=_element(p.expression).type) for p, v in zip(keyset, values, strict=True)
    ]
    columns = [p.expression for p in keyset]
    directions = {p.descending for p in keyset}
    if len(keyset) > 1 and len(directions) == 1 and dialect in ("postgresql", "sqlite"):
        # A row comparison: PostgreSQL turns its leading column into an index bound.
        row, bound = tuple_(*columns), tuple_(*binds)
        return row < bound if keyset[0].descending else row > bound
    branches = []
    for i, part in enumerate(keyset):
        equal = [columns[j] == binds[j] for j in range(i)]
        step = columns[i] < binds[i] if part.descending else columns[i] > binds[i]
        branches.append(and_(*equal, step))
    first = columns[0] <= binds[0] if keyset[0].descending else columns[0] >= binds[0]
    # The redundant bound on the first column lets MariaDB/MySQL use an index range.
    return and_(first, or_(*branches)) if len(keyset) > 1 else branches[0]


# ------------------------------------------------------------------------------- dependency --
@dataclass(frozen=True, slots=True)
class ListDeclaration:
    """What a list declared to `pagination()`; kept on the dependency as `.declaration` so a
    test can walk the routes and check that every list bounds its count and pages by cursor."""

    sortable: dict[str, SortColumn]
    default: str
    cursor_key: SortColumn | None
    exact_count_limit: int | None
    # The model's declaration of the sorts and their indexes (`app.core.sorts.list_sorts`).
    sorts: ListSorts | None = None


def declaration_of(dependency: Callable[..., Any]) -> ListDeclaration | None:
    """The `ListDeclaration` of a dependency made by `pagination()`, None for anything else."""
    found = getattr(dependency, "declaration", None)
    return found if isinstance(found, ListDeclaration) else None


def pagination(
    *,
    sorts: ListSorts | None = None,
    sortable: Mapping[str, SortColumn] | None = None,
    default: str = "",
    cursor_key: SortColumn | None = None,
    exact_count_limit: int | None = None,
) -> Callable[..., Awaitable[PageParams]]:
    """A FastAPI dependency reading `page`, `page_size` and `sort` for one list endpoint.

    Args:
        sorts: the list's sorts as its model declares them with their indexes
            (`app.core.sorts.list_sorts`): gives `sortable`, `default` and `cursor_key`.
        sortable: the names clients may sort by and their columns.
        default: the sort when the request names none.
        cursor_key: a unique, non-null column (the primary key). Declaring it makes the list
            accept `cursor` and answer `next_cursor`; it is also the ORDER BY tiebreaker, in
            the direction of the last sort field.
        exact_count_limit: count exactly up to this many rows; beyond it `total` is an
            estimate and `total_exact` false. None (the default): always count exactly.
    """
    if sorts is not None:
        sortable, default, cursor_key = sorts.sortable, sorts.default, sorts.cursor_key
    if sortable is None or not default:
        raise ValueError("pagination() needs `sorts`, or `sortable` and `default`")
    names: Mapping[str, SortColumn] = sortable
    _parse(default, sortable, default)  # fail at import time on a bad default
    if cursor_key is not None and _key_kind(cursor_key) is None:
        raise ValueError("cursor_key must be a non-null integer, string or datetime column")
    if exact_count_limit is not None and exact_count_limit < 1:
        raise ValueError("exact_count_limit must be at least 1")
    declaration = ListDeclaration(dict(sortable), default, cursor_key, exact_count_limit, sorts)
    allowed = ", ".join(sorted(sortable))
    page_query = Query(1, ge=1, le=1_000_000, description="Page number, from 1")
    size_query = Query(
        DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE, description="Rows per page (1-100)"
    )
    sort_query = Query(
        None,
        max_length=200,
        description=f"Comma-separated fields, `-` for descending. Allowed: {allowed}. "
        f"Default: `{default}`.",
    )

    def build(page: int, page_size: int, sort: str | None, cursor: str | None) -> PageParams:
        spec, parsed = _parse(sort, names, default)
        order_by = tuple(column.desc() if desc else column.asc() for column, desc in parsed)
        keyset = _keyset(parsed, cursor_key) if cursor_key is not None else None
        if keyset is None and cursor_key is not None and not _ends_unique(parsed, cursor_key):
            # A sort that pages by OFFSET (nullable or float column) still ends with the key in
            # the direction of the last field, so the `(sort column, id)` index serves it.
            last = cursor_key.desc() if parsed[-1][1] else cursor_key.asc()
            order_by = (*order_by, last)
        after = None
        if cursor:
            if keyset is None:
                raise _query_error("cursor", f"cursor paging is not available with sort={spec}")
            if page != 1:
                raise _query_error("cursor", "send either `page` or `cursor`, not both")
            after = decode_cursor(cursor, spec, keyset)
        return PageParams(page, page_size, order_by, spec, keyset or (), after, exact_count_limit)

    if cursor_key is None:

        async def dependency(
            page: int = page_query, page_size: int = size_query, sort: str | None = sort_query
        ) -> PageParams:
            return build(page, page_size, sort, None)

        dependency.declaration = declaration  # type: ignore[attr-defined]
        return dependency

    async def cursor_dependency(
        page: int = page_query,
        page_size: int = size_query,
        sort: str | None = sort_query,
        cursor: str | None = Query(
            None,
            max_length=MAX_CURSOR_LENGTH,
            description="`next_cursor` of the previous page: reads the rows after it through "
            "an index (use it for deep pages instead of a large `page`)",
        ),
    ) -> PageParams:
        return build(page, page_size, sort, cursor)

    cursor_dependency.declaration = declaration  # type: ignore[attr-defined]
    return cursor_dependency


# ---------------------------------------------------------------------------------- counting --
class _Explain(Executable, ClauseElement):
    """`EXPLAIN (FORMAT JSON) <select>` with the select's bound parameters (PostgreSQL)."""

    inherit_cache = False  # compiled each time (~0.3 ms): cached results need row metadata

    def __init__(self, statement: AnySelect) -> None:
        self.statement = statement


@compiles(_Explain)
def _compile_explain(element: _Explain, compiler: SQLCompiler, **kw: Any) -> str:
    return "EXPLAIN (FORMAT JSON) " + compiler.process(element.statement, **kw)


def _only_table(statement: AnySelect) -> Table | None:
    """The table of `SELECT ... FROM t` with no WHERE, join, grouping or DISTINCT, else None.

    Reads the statement's attributes only: `get_final_froms()` would build the ORM compile
    state, which costs more than the query it saves.
    """
    if (
        statement.whereclause is not None
        or statement._setup_joins
        or statement._from_obj
        or statement._group_by_clauses
        or statement._having_criteria
        or statement._distinct
    ):
        return None
    froms = statement.columns_clause_froms
    return froms[0] if len(froms) == 1 and isinstance(froms[0], Table) else None


# What the planner does for a bare table (estimate_rel_size): the density seen by the last
# VACUUM/ANALYZE times the table's current number of pages. NULL when never analyzed.
_PG_TABLE_ROWS = text(
    "SELECT CASE WHEN c.reltuples >= 0 AND c.relpages > 0 THEN c.reltuples / c.relpages "
    "* (pg_relation_size(c.oid) / current_setting('block_size')::int) END "
    "FROM pg_class c WHERE c.oid = to_regclass(CASE WHEN :schema IS NULL THEN quote_ident(:name) "
    "ELSE quote_ident(:schema) || '.' || quote_ident(:name) END)"
).bindparams(bindparam("schema", type_=String()), bindparam("name", type_=String()))
_MYSQL_TABLE_ROWS = text(
    "SELECT TABLE_ROWS FROM information_schema.TABLES "
    "WHERE TABLE_SCHEMA = COALESCE(:schema, DATABASE()) AND TABLE_NAME = :name"
)


async def estimate_rows(session: AsyncSession, statement: AnySelect) -> int | None:
    """The database's own estimate of the rows `statement` returns, None when it has none.

    PostgreSQL: for a bare table `pg_class.reltuples` scaled to the table's current size (what
    the planner assumes), else, or when the table was never analyzed, the planner's row
    estimate of the query (`EXPLAIN`, from the column statistics). MariaDB/MySQL:
    `information_schema.TABLES.TABLE_ROWS` for a bare table (InnoDB's sampled estimate; MySQL 8
    caches it for `information_schema_stats_expiry`), none for a filtered one. SQLite: none.
    """
    dialect = session.bind.dialect.name if session.bind else ""
    table = _only_table(statement)
    if dialect == "postgresql":
        if table is not None:
            names = {"schema": table.schema, "name": table.name}
            rows = (await session.execute(_PG_TABLE_ROWS, names)).scalar()
            if rows is not None:
                return round(float(rows))
        plan = (await session.execute(_Explain(statement.order_by(None)))).scalar_one()
        if isinstance(plan, str):
            plan = json.loads(plan)
        return int(plan[0]["Plan"]["Plan Rows"])
    if dialect in ("mysql", "mariadb") and table is not None:
        names = {"schema": table.schema, "name": table.name}
        rows = (await session.execute(_MYSQL_TABLE_ROWS, names)).scalar()
        return int(rows) if rows is not None else None
    return None


async def count_rows(
    session: AsyncSession, statement: AnySelect, exact_limit: int | None = None
) -> tuple[int, bool]:
    """`(total, exact)` for `statement`: exact up to `exact_limit` rows, an estimate beyond.

    The exact part counts over `LIMIT exact_limit + 1`, so it reads at most that many rows.
    Beyond it `total` is the database's estimate (`estimate_rows`), never less than
    `exact_limit + 1`, which is also the answer where there is no estimate.
    """
    base = statement.order_by(None)
    if exact_limit is None:
        count = select(func.count()).select_from(base.subquery())
        return int((await session.execute(count)).scalar_one()), True
    capped = select(func.count()).select_from(base.limit(exact_limit + 1).subquery())
    total = int((await session.execute(capped)).scalar_one())
    if total <= exact_limit:
        return total, True
    estimate = await estimate_rows(session, base)
    return max(estimate or 0, exact_limit + 1), False


# ---------------------------------------------------------------------------------- reading --
async def fetch_page(
    session: AsyncSession,
    statement: AnySelect,
    params: PageParams,
    *,
    tiebreaker: Sequence[SortColumn] = (),
    whole_rows: bool = False,
) -> PageResult:
    """Read one page of `statement` (by OFFSET, or after the cursor) and count the matches.

    `tiebreaker` (usually the primary key) is appended to the ORDER BY so pages are stable;
    a list with a `cursor_key` uses that instead. Items are the first column of each row, or
    with `whole_rows` the rows themselves (a select of columns; a row may carry extra
    `_page_key_<n>` columns after them).
    """
    total, exact = await count_rows(session, statement, params.exact_count_limit)
    if not params.keyset:
        if total == 0 or (exact and params.offset >= total):
            return PageResult([], total, exact, None, params)
        named = [_target(clause) for clause in params.order_by]
        extra = [t for t in tiebreaker if not any(_target(t).compare(n) for n in named)]
        page_stmt = (
            statement.order_by(*params.order_by, *extra)
            .limit(params.page_size)
            .offset(params.offset)
        )
        result = await session.execute(page_stmt)
        items = list(result.all()) if whole_rows else list(result.scalars().all())
        return PageResult(items, total, exact, None, params)

    keyset = params.keyset
    on_entity = _keys_on_entity(statement, keyset)
    page_stmt = statement.order_by(*(p.clause for p in keyset))
    if not on_entity:  # read the key values as extra columns
        labels = (_element(p.expression).label(f"_page_key_{i}") for i, p in enumerate(keyset))
        page_stmt = page_stmt.add_columns(*labels)
    if params.after is not None:
        dialect = session.bind.dialect.name if session.bind else ""
        page_stmt = page_stmt.where(_after(keyset, params.after, dialect))
    elif params.offset:
        page_stmt = page_stmt.offset(params.offset)
    rows = (await session.execute(page_stmt.limit(params.page_size + 1))).all()
    next_cursor = None
    if len(rows) > params.page_size:
        rows = rows[: params.page_size]
        last = rows[-1]
        if on_entity:
            values = tuple(getattr(last[0], _attribute_key(p.expression)) for p in keyset)
        else:
            values = tuple(last)[-len(keyset) :]
        next_cursor = encode_cursor(params.sort, values)
    items = list(rows) if whole_rows else [row[0] for row in rows]
    return PageResult(items, total, exact, next_cursor, params)


def _attribute_key(expression: SortColumn) -> str:
    assert isinstance(expression, QueryableAttribute)
    return expression.key


def _keys_on_entity(statement: AnySelect, keyset: Sequence[KeyPart]) -> bool:
    """Whether every key part is a mapped attribute of the entity in the first column.

    Then the cursor is read from the loaded objects. Selecting the key columns a second time
    costs PostgreSQL a projection per row, which doubles the time of a deep OFFSET page.
    """
    descriptions = statement.column_descriptions
    entity = descriptions[0].get("entity") if descriptions else None
    if not isinstance(entity, type) or descriptions[0].get("expr") is not entity:
        return False
    return all(
        isinstance(p.expression, QueryableAttribute)
        and isinstance(p.expression.class_, type)
        and issubclass(entity, p.expression.class_)
        for p in keyset
    )


async def paginate(
    session: AsyncSession,
    statement: AnySelect,
    params: PageParams,
    *,
    tiebreaker: Sequence[SortColumn] = (),
) -> tuple[list[Any], int]:
    """Run `statement` for one page and count all matching rows: `(items, total)`.

    `tiebreaker` (usually the primary key) is appended to the ORDER BY so pages are stable.
    `fetch_page` answers the same plus `total_exact` and `next_cursor`.
    """
    result = await fetch_page(session, statement, params, tiebreaker=tiebreaker)
    return result.items, result.total


TOTAL_LABEL = "page_total"


async def paginate_rows(
    session: AsyncSession,
    statement: AnySelect,
    params: PageParams,
    *,
    tiebreaker: Sequence[SortColumn] = (),
) -> tuple[list[Row[Any]], int]:
    """One page of a select of columns and the count of all its rows, in one query.

    The total rides on every row as `count(*) OVER ()` (labelled `page_total`, the last
    column): the window is computed over all matching rows before LIMIT/OFFSET, so it is the
    count a separate query would give, one round trip cheaper. A page past the end has no row
    to carry it; then (and only then) a count query answers. Not for a DISTINCT select (the
    window would count the rows before DISTINCT), nor for lists that page by cursor or bound
    their count: `fetch_page` serves those.
    """
    if params.keyset or params.exact_count_limit is not None or statement._distinct:
        raise ValueError("paginate_rows: use fetch_page for cursor, bounded-count or DISTINCT")
    page_stmt = (
        statement.add_columns(func.count().over().label(TOTAL_LABEL))
        .order_by(*params.order_by, *tiebreaker)
        .limit(params.page_size)
        .offset(params.offset)
    )
    rows = list((await session.execute(page_stmt)).all())
    if rows:
        return rows, int(rows[0][-1])
    if params.offset == 0:
        return rows, 0  # the first page is empty: nothing matches
    total, _ = await count_rows(session, statement)
    return rows, total


def page_of(schema: type[M], rows: Sequence[Any], total: int, params: PageParams) -> Page[M]:
    """One page of `rows` (ORM objects) validated into `schema`, e.g. `page_of(UserRead, ...)`."""
    page_type = Page[schema]  # type: ignore[valid-type]  # parametrised at run time
    page: Page[M] = page_type(
        items=[schema.model_validate(row) for row in rows],
        total=total,
        page=params.page,
        page_size=params.page_size,
    )
    return page
