"""Which unique value the database refused: the one reading of a unique violation, for the
error handlers (a 409 naming the field) and for services that turn a lost race into their
own error (`UsernameTaken`, `RoleCodeTaken`).

Constraint and index names follow the naming convention (`uq_<table>_<column>`, an index on
`lower(<column>)` for codes compared regardless of case), so the columns come from the models,
never from SQL or the offending value shown to the caller. The name is read only where each
database puts it: after the words that introduce it, PostgreSQL's first (the duplicate value
follows it), MySQL/MariaDB's last (the value precedes it); SQLite quotes no value.
"""

from __future__ import annotations

import re

from sqlalchemy import Column
from sqlalchemy import exc as sa_exc
from sqlalchemy.sql import visitors

from app.core.database import Base

_POSTGRESQL = re.compile(r'constraint "(?P<name>\w+)"')
_MYSQL = re.compile(r"for key '(?:\w+\.)?(?P<name>\w+)'")
_SQLITE_INDEX = re.compile(r"UNIQUE constraint failed: index '(?P<name>\w+)'")
_SQLITE_COLUMNS = re.compile(r"UNIQUE constraint failed: (?P<cols>[\w.]+(?:, [\w.]+)*)")


def _constraint_columns(name: str) -> list[str]:
    """The columns of the unique constraint or index called `name`, from the models."""
    for table in Base.metadata.tables.values():
        for constraint in table.constraints:
            if constraint.name == name:
                return [column.name for column in getattr(constraint, "columns", ())]
        for index in table.indexes:
            if index.name == name:
                # An index on `lower(code)` names the column inside the expression.
                return [
                    element.name
                    for expression in index.expressions
                    if not isinstance(expression, str)
                    for element in visitors.iterate(expression)
                    if isinstance(element, Column)
                ]
    return []


def conflict_fields(message: str) -> list[str]:
    """The columns of the unique constraint a database error message names; [] if none."""
    match = _SQLITE_COLUMNS.search(message)
    if match and not _SQLITE_INDEX.search(message):
        return [col.rsplit(".", 1)[-1] for col in match["cols"].split(", ")]
    found = _POSTGRESQL.search(message) or _SQLITE_INDEX.search(message)
    if found is None:
        found = next(reversed(list(_MYSQL.finditer(message))), None)
    name = found["name"] if found else ""
    if name.startswith("uq_"):
        return _constraint_columns(name) or [name]
    return []


def violated_fields(exc: sa_exc.IntegrityError) -> list[str]:
    """The fields whose unique value `exc` refused ([] for any other integrity error)."""
    text = str(exc.orig) if exc.orig is not None else str(exc)
    if "foreign key" in text.lower():
        return []
    return conflict_fields(text)
