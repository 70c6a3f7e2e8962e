"""departments, roles, positions: codes unique regardless of case

Revision ID: 8995b6e2e92b
Revises: 57fa0332bbf5
Create Date: 2026-12-06 05:45:00.000000+00:00

Unique indexes on `lower(code)` of `sys_dept`, `sys_role` and `sys_position` on PostgreSQL and
SQLite, as for usernames in 57fa0332bbf5 (docs/security-checklist.md F17: two concurrent creates of
`Sales`
and `sales` must give one 201 and one 409). MariaDB and MySQL get none: their `utf8mb4_*_ci`
collations already make the plain unique indexes on `code` case-insensitive.

A database that already holds two codes differing only in case cannot take the index: the
upgrade stops and names the table, and the duplicates must be renamed first.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "8995b6e2e92b"
down_revision: str | Sequence[str] | None = "57fa0332bbf5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DIALECTS = ("postgresql", "sqlite")
TABLES = ("sys_dept", "sys_role", "sys_position")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name not in DIALECTS:
        return
    for table in TABLES:
        duplicates = bind.execute(
            sa.text(f"SELECT lower(code) FROM {table} GROUP BY lower(code) HAVING count(*) > 1")
        ).first()
        if duplicates is not None:
            raise RuntimeError(
                f"{table}.code: several rows share a code that differs only in case; rename "
                "them so that each code is unique regardless of case, then upgrade"
            )
        op.create_index(f"uq_{table}_lower_code", table, [sa.text("lower(code)")], unique=True)


def downgrade() -> None:
    if op.get_bind().dialect.name not in DIALECTS:
        return
    for table in reversed(TABLES):
        op.drop_index(f"uq_{table}_lower_code", table_name=table)
