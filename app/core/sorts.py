"""The sorts a list offers and the indexes that serve them, declared once, next to the model.

    USER_SORTS = list_sorts(
        sortable={"created_at": User.created_at, "name": User.name, "id": User.id},
        default="-created_at",
        cursor_key=User.id,
        leads=[(User.dept_id,)],        # a scoped caller's page is always filtered by dept
    )

    users_page = pagination(sorts=USER_SORTS, exact_count_limit=LARGE_LIST_EXACT_COUNT)

A list pages by cursor: `WHERE (sort key, id) < (last row) ORDER BY sort key, id LIMIT n`.
For each *offered* sort (the default, and each sortable name alone, in either direction: one
B-tree read forwards or backwards serves both) `list_sorts` attaches to the table the index
that reads such a page in order: `(sort column, id)`, or `(lead columns..., sort column, id)`
for each always-applied equality/IN filter in `leads`. An index is added only where none
serves already (the primary key for `id`, a unique column's own index, an index whose leading
columns are the same), so the models' metadata, and the migrations that follow it, hold one
index per offered sort and no more. `tests/core/test_list_sort_indexes.py` walks the list
routes and fails for an offered sort without its index, and for an index no list needs.

Not indexed: a sort naming several fields other than the default (`?sort=name,-created_at`)
sorts the filtered rows (docs/performance.md, "Sorts and filters that no index serves").
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import Column, Index, PrimaryKeyConstraint, Table, UniqueConstraint

from app.core.pagination import SortColumn, _element, _keyset, _parse

MAX_NAME = 60  # PostgreSQL cuts identifiers at 63 bytes, MariaDB refuses more than 64


@dataclass(frozen=True, slots=True)
class ListSorts:
    """What a list may be sorted by (for `pagination(sorts=...)`) and which prefixes lead it."""

    sortable: Mapping[str, SortColumn]
    default: str
    cursor_key: SortColumn
    leads: tuple[tuple[SortColumn, ...], ...] = ((),)

    def offered(self) -> list[str]:
        """The default sort, then each sortable name alone (the ascending form)."""
        canonical, _ = _parse(self.default, self.sortable, self.default)
        return [canonical, *(name for name in self.sortable if name != canonical.lstrip("-"))]

    def index_keys(self) -> list[tuple[Column[object], ...]]:
        """The index columns each offered sort needs, for each lead, without repeats."""
        found: list[tuple[Column[object], ...]] = []
        for spec in self.offered():
            for lead in self.leads:
                columns = index_columns(self, spec, lead)
                if columns not in found:
                    found.append(columns)
        return found


def _column(expression: SortColumn) -> Column[object]:
    element = _element(expression)
    if not isinstance(element, Column):
        raise ValueError(f"a list sort must be a table column, not {element!r}")
    return element


def index_columns(
    sorts: ListSorts, spec: str, lead: Sequence[SortColumn] = ()
) -> tuple[Column[object], ...]:
    """The columns of the index that reads a page of `spec` in order under `lead` filters.

    The cursor key of `spec` (the sort columns then `id`, or up to a unique column); a sort
    on a nullable column pages by OFFSET with `id` as tiebreaker, which the same index serves.
    """
    _, parsed = _parse(spec, sorts.sortable, sorts.default)
    if len({descending for _, descending in parsed}) > 1:
        raise ValueError(f"sort {spec!r} mixes directions: no plain index serves it")
    keyset = _keyset(parsed, sorts.cursor_key)
    if keyset is not None:
        expressions = [part.expression for part in keyset]
    else:
        expressions = [column for column, _ in parsed] + [sorts.cursor_key]
    columns: list[Column[object]] = []
    for expression in [*lead, *expressions]:
        column = _column(expression)
        if column not in columns:
            columns.append(column)
    return tuple(columns)


def _existing(table: Table) -> Iterable[tuple[Column[object], ...]]:
    for index in table.indexes:
        if all(isinstance(e, Column) for e in index.expressions):  # not `lower(code)`
            yield tuple(c for c in index.columns)
    for constraint in table.constraints:
        if isinstance(constraint, PrimaryKeyConstraint | UniqueConstraint):
            yield tuple(c for c in constraint.columns)
    for column in table.columns:
        if column.unique:
            yield (column,)


def served(columns: Sequence[Column[object]]) -> bool:
    """Whether an index or key of the table starts with exactly `columns`."""
    table = columns[0].table
    assert isinstance(table, Table)
    wanted = tuple(columns)
    return any(existing[: len(wanted)] == wanted for existing in _existing(table))


def index_name(columns: Sequence[Column[object]]) -> str:
    """`ix_<table>_<col>_<col>...`, shortened with a hash when too long for every database."""
    table = columns[0].table
    assert isinstance(table, Table)
    return index_name_of(table.name, [c.name for c in columns])


def index_name_of(table: str, columns: Sequence[str]) -> str:
    """`index_name` from names (the generator writes it into a migration)."""
    name = "_".join(["ix", table, *columns])
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: MAX_NAME - 9]}_{digest}"


def list_sorts(
    *,
    sortable: Mapping[str, SortColumn],
    default: str,
    cursor_key: SortColumn,
    leads: Iterable[Sequence[SortColumn]] = (),
) -> ListSorts:
    """Declare a list's sorts and attach the index each one needs to its table (see above).

    `leads`: the column sets of filters some callers always apply (equality or IN), such as
    the department of a department-scoped caller; every offered sort is then also indexed
    behind each of them. The unfiltered order is always indexed.
    """
    sorts = ListSorts(dict(sortable), default, cursor_key, ((), *(tuple(lead) for lead in leads)))
    for columns in sorts.index_keys():
        if not served(columns):
            Index(index_name(columns), *columns)
    return sorts
