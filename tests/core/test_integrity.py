"""One reading of a unique violation (`app.core.integrity`), for the 409 handler and for the
services that name their own conflict: each database's wording, and a duplicate value that
looks like a constraint name cannot pass for one."""

from __future__ import annotations

import pytest
from sqlalchemy import exc as sa_exc

import app.modules.system.role.models
import app.modules.system.user.models  # noqa: F401  (the tables the names resolve against)
from app.core.integrity import conflict_fields, violated_fields

PG = (
    'duplicate key value violates unique constraint "{name}"\n'
    "DETAIL:  Key (lower(username::text))=({value}) already exists."
)
MYSQL = "(1062, \"Duplicate entry '{value}' for key 'sys_user.{name}'\")"


@pytest.mark.parametrize(
    ("message", "fields"),
    [
        (PG.format(name="uq_sys_user_lower_username", value="alice"), ["username"]),
        (PG.format(name="uq_sys_user_email", value="a@b.c"), ["email"]),
        (MYSQL.format(name="uq_sys_user_username", value="alice"), ["username"]),
        ("UNIQUE constraint failed: index 'uq_sys_user_lower_email'", ["email"]),
        ("UNIQUE constraint failed: sys_user.username", ["username"]),
        ("UNIQUE constraint failed: sys_role.code", ["code"]),
        (PG.format(name="pk_sys_user", value="1"), []),  # not a unique constraint we name
        ("something else entirely", []),
    ],
)
def test_each_database_wording_names_the_columns(message: str, fields: list[str]) -> None:
    assert conflict_fields(message) == fields


def test_a_duplicate_value_cannot_pass_for_the_constraint() -> None:
    """MySQL quotes the value before the key, PostgreSQL after the constraint: the name is
    read where the database puts it, so a value spelling another name changes nothing."""
    fake = "x' for key 'sys_user.uq_sys_user_email"
    assert conflict_fields(MYSQL.format(name="uq_sys_user_username", value=fake)) == ["username"]
    fake = 'x constraint "uq_sys_user_email"'
    assert conflict_fields(PG.format(name="uq_sys_user_username", value=fake)) == ["username"]


def test_a_foreign_key_failure_names_no_field() -> None:
    orig = Exception("FOREIGN KEY constraint failed: UNIQUE constraint failed: sys_role.code")
    assert violated_fields(sa_exc.IntegrityError("INSERT", {}, orig)) == []
    orig = Exception("UNIQUE constraint failed: sys_role.code")
    assert violated_fields(sa_exc.IntegrityError("INSERT", {}, orig)) == ["code"]
