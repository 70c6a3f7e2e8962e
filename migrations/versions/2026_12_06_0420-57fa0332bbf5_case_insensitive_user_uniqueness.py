"""users: usernames and e-mail addresses unique regardless of case

Revision ID: 57fa0332bbf5
Revises: b10c4a7e2f33
Create Date: 2026-12-06 04:20:00.000000+00:00

Unique indexes on `lower(username)` and `lower(email)` on PostgreSQL and SQLite
(docs/security-checklist.md
F17: two concurrent creates of `Alice` and `alice` must give one 201 and one 409). MariaDB and
MySQL get none: their `utf8mb4_*_ci` collations already make `uq_sys_user_username` and
`uq_sys_user_email` case-insensitive, and MariaDB has no expression indexes.

A database that already holds two users differing only in case cannot take the index: the
upgrade stops and names the column, and the duplicates must be renamed first.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "57fa0332bbf5"
down_revision: str | Sequence[str] | None = "b10c4a7e2f33"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DIALECTS = ("postgresql", "sqlite")
INDEXES = (("uq_sys_user_lower_username", "username"), ("uq_sys_user_lower_email", "email"))


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name not in DIALECTS:
        return
    for name, column in INDEXES:
        duplicates = bind.execute(
            sa.text(
                f"SELECT lower({column}) FROM sys_user WHERE {column} IS NOT NULL "
                f"GROUP BY lower({column}) HAVING count(*) > 1"
            )
        ).first()
        if duplicates is not None:
            raise RuntimeError(
                f"sys_user.{column}: several users share a value that differs only in case; "
                f"rename them so that each {column} is unique regardless of case, then upgrade"
            )
        op.create_index(name, "sys_user", [sa.text(f"lower({column})")], unique=True)


def downgrade() -> None:
    if op.get_bind().dialect.name not in DIALECTS:
        return
    for name, _column in reversed(INDEXES):
        op.drop_index(name, table_name="sys_user")
