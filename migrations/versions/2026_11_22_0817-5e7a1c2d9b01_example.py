"""example: examples

Revision ID: 5e7a1c2d9b01
Revises: c1f23fd99b28
Create Date: 2026-11-22 08:17:21.445448+00:00

Written by `python main.py generate example`.
The table is created whether or not the module is enabled (MODULES_DISABLED); Alembic leaves a
disabled module's table alone.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.database  # noqa: F401, RUF100  (custom column types such as UtcDateTime)

revision: str = "5e7a1c2d9b01"
down_revision: str | Sequence[str] | None = "c1f23fd99b28"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "example",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", app.core.database.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.core.database.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_example")),
        sqlite_autoincrement=True,
    )
    # The order of each offered sort of the list (app/core/sorts.py, the model's list_sorts).
    op.create_index("ix_example_name_id", "example", ["name", "id"])
    op.create_index("ix_example_description_id", "example", ["description", "id"])
    op.create_index("ix_example_created_at_id", "example", ["created_at", "id"])
    op.create_index("ix_example_updated_at_id", "example", ["updated_at", "id"])


def downgrade() -> None:
    op.drop_table("example")
