"""Small SQL constructs shared by repositories.

`in_values(column, values)`: `column IN (v1, v2, ...)` everywhere except PostgreSQL, where it
is `column = ANY($1)` with one array parameter. An IN list is expanded at every execution, one
bound parameter (and, with asyncpg, one rendered cast) per value; the array is one parameter
whatever its length, which makes a 20-id lookup about 40 % cheaper in CPU (the data-scope
filter and the link lookups of every list run one or two of these). The result is the same
set of rows; an empty `values` matches nothing on every database.

Building it costs one bound parameter holding the sorted values, not an `in_()` (which checks
every value): each dialect's form is made from that parameter when the statement is compiled,
which happens once per statement shape (SQLAlchemy caches the compiled form and binds the
values of later calls to it by the parameter's key).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Boolean, bindparam
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import ColumnElement, coercions, roles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.sql.visitors import InternalTraversal
from sqlalchemy.types import ARRAY


class InValues(ColumnElement[bool]):
    """See the module docstring. Holds the column and one expanding parameter of its values."""

    inherit_cache = True
    type = Boolean()
    _traverse_internals = [
        ("column", InternalTraversal.dp_clauseelement),
        ("values", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, column: Any, values: Iterable[Any]) -> None:
        self.column = coercions.expect(roles.ExpressionElementRole, column)
        self.values: BindParameter[Any] = bindparam(
            None, sorted(set(values)), type_=self.column.type, expanding=True
        )

    def self_group(self, against: Any = None) -> ColumnElement[Any]:
        # Already a predicate: without this, a Boolean-typed element standing alone in a
        # WHERE renders `(col IN (...)) = 1` on MariaDB/SQLite, which no index serves.
        return self


def in_values(column: Any, values: Iterable[Any]) -> ColumnElement[bool]:
    return InValues(column, values)


@compiles(InValues)
def _compile_in(element: InValues, compiler: SQLCompiler, **kw: Any) -> str:
    # `in_()` takes the expanding parameter as it is (no per-value coercion); the empty list
    # renders SQLAlchemy's always-false "empty IN" on every dialect.
    return compiler.process(element.column.in_(element.values), **kw)


@compiles(InValues, "postgresql")
def _compile_any(element: InValues, compiler: SQLCompiler, **kw: Any) -> str:
    # The same parameter (a copy keeps its key, so later executions of the cached statement
    # bind their own values), sent whole as one array.
    array = element.values._with_binary_element_type(ARRAY(element.column.type))
    array.expanding = False
    column = compiler.process(element.column, **kw)
    return f"{column} = ANY ({compiler.process(array, **kw)})"
