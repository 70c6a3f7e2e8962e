"""`--from-table`: fields read from an existing table with SQLAlchemy's inspector.

id, created_at, updated_at and version are the columns every generated model has, so they are
not fields; every other column becomes one, or the command stops naming the columns it cannot
map (JSON, binary, enums, times of day, ...).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import inspect, types
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Connection
from sqlalchemy.engine.interfaces import ReflectedColumn

from app.core.config import Settings
from app.devtools.generator.parse import make_field
from app.devtools.generator.spec import (
    MANAGED_FIELDS,
    MAX_STR_LENGTH,
    TABLE_NAME,
    UNIQUE_TYPES,
    FieldSpec,
    GeneratorError,
)


@dataclass
class TableFields:
    """What the table gives: its fields, and notes for the user."""

    fields: list[FieldSpec]
    missing: list[str] = field(default_factory=list)  # managed columns the table lacks
    notes: list[str] = field(default_factory=list)


def _field_type(column: ReflectedColumn) -> tuple[str, dict[str, Any]] | None:
    """(generator type, arguments) for a reflected column, or None if there is none."""
    sql_type = column["type"]
    if isinstance(sql_type, types.Boolean) or (
        isinstance(sql_type, mysql.TINYINT) and getattr(sql_type, "display_width", None) == 1
    ):
        return "bool", {}
    if isinstance(sql_type, types.BigInteger):
        return "bigint", {}
    if isinstance(sql_type, types.Integer):
        return "int", {}
    if isinstance(sql_type, types.Float):
        return "float", {}
    if isinstance(sql_type, types.Numeric):
        if sql_type.precision is None:
            return None
        return "decimal", {"precision": sql_type.precision, "scale": sql_type.scale or 0}
    if isinstance(sql_type, types.Text):
        return "text", {}
    if isinstance(sql_type, types.String) and not isinstance(sql_type, types.Enum):
        length = sql_type.length
        if length is None or length > MAX_STR_LENGTH:
            return "text", {}
        return "str", {"max_length": length}
    if isinstance(sql_type, types.DateTime):
        return "datetime", {}
    if isinstance(sql_type, types.Date):
        return "date", {}
    return None


def _inspect(connection: Connection, table: str) -> TableFields:
    inspector = inspect(connection)
    if not inspector.has_table(table):
        raise GeneratorError(f"--from-table {table!r}: no such table in the database")
    columns = inspector.get_columns(table)
    primary = inspector.get_pk_constraint(table).get("constrained_columns") or []
    if primary != ["id"]:
        raise GeneratorError(
            f"--from-table {table!r}: the generated model needs an integer primary key `id` "
            f"(the table's primary key is {primary or 'missing'})"
        )
    unique_columns: set[tuple[str | None, ...]] = {
        tuple(constraint["column_names"]) for constraint in inspector.get_unique_constraints(table)
    }
    # SQLite keeps a column's inline UNIQUE as an automatic index only.
    extra: dict[str, Any] = (
        {"include_auto_indexes": True} if connection.dialect.name == "sqlite" else {}
    )
    unique_columns |= {
        tuple(index["column_names"])
        for index in inspector.get_indexes(table, schema=None, **extra)
        if index["unique"]
    }
    names = {column["name"] for column in columns}
    result = TableFields(fields=[], missing=sorted(MANAGED_FIELDS - names))
    unmapped = []
    for column in columns:
        name = column["name"]
        if name in MANAGED_FIELDS:
            continue
        mapped = _field_type(column)
        if mapped is None:
            unmapped.append(f"{name} ({column['type']})")
            continue
        type_, arguments = mapped
        unique = (name,) in unique_columns
        if unique and type_ not in UNIQUE_TYPES:
            result.notes.append(f"column {name}: unique in the table, not checked by the service")
            unique = False
        try:
            result.fields.append(
                make_field(
                    name, type_, nullable=bool(column["nullable"]), unique=unique, **arguments
                )
            )
        except GeneratorError as exc:
            raise GeneratorError(f"--from-table {table!r}: column {exc}") from None
        if column.get("default") is not None:
            result.notes.append(f"column {name}: its server default stays in the database")
    if unmapped:
        raise GeneratorError(
            f"--from-table {table!r}: no field type for {', '.join(unmapped)}; supported are "
            "strings, text, integers, floats, decimals with a precision, booleans, dates and "
            "datetimes (drop or convert those columns, or write the module by hand)"
        )
    if not result.fields:
        raise GeneratorError(f"--from-table {table!r}: the table has no columns besides id")
    return result


def read_table(settings: Settings, table: str) -> TableFields:
    """The fields of `table` in the database at `settings.database_url`."""
    from app.core.database import create_engine

    if not TABLE_NAME.match(table):
        raise GeneratorError(f"--from-table {table!r}: not a plain table name")

    async def read() -> TableFields:
        engine = create_engine(settings)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(_inspect, table)
        finally:
            await engine.dispose()

    return asyncio.run(read())
