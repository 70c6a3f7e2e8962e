"""list sort indexes: (sort column, id) for the default and offered sorts of growing lists

Revision ID: c3d9e1f0a7b2
Revises: 3c9e5d7a1b42
Create Date: 2026-12-07 20:45:00.000000+00:00

Every list pages by cursor: `ORDER BY <sort>, id LIMIT n` and `WHERE (<sort>, id) < (...)`.
These composite indexes let the database read a page (page 1 or a deep cursor page) from the
index in order instead of scanning and sorting the table (docs/performance.md, "Lists at any
size"). `sys_user (dept_id, created_at, id)` serves a scoped user's default page
(`WHERE dept_id IN (...) ORDER BY created_at DESC, id DESC`).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "c3d9e1f0a7b2"
down_revision: str | Sequence[str] | None = "3c9e5d7a1b42"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = (
    ("ix_sys_user_created_at_id", "sys_user", ["created_at", "id"]),
    ("ix_sys_user_name_id", "sys_user", ["name", "id"]),
    ("ix_sys_user_dept_id_created_at_id", "sys_user", ["dept_id", "created_at", "id"]),
    ("ix_blog_article_created_at_id", "blog_article", ["created_at", "id"]),
    ("ix_sys_notice_created_at_id", "sys_notice", ["created_at", "id"]),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
