"""auth: revocation epoch (lite-shape revocations seen by every process)

Revision ID: d4e5f6a7b8c9
Revises: 8995b6e2e92b
Create Date: 2026-12-07 20:00:00.000000+00:00

One row (`id` 1) whose `epoch` every session revocation replaces in its own transaction. In the
lite shape (SQLite, in-process cache) a second process -- `python main.py reset-password` --
cannot reach the server's session cache; the server reads this row on each authenticated
request and drops what it cached under an older epoch (docs/security.md, "Revocation").
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.database  # custom column types such as UtcDateTime

revision: str = "d4e5f6a7b8c9"
down_revision: str | Sequence[str] | None = "8995b6e2e92b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "auth_revocation_epoch",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("epoch", sa.String(length=32), nullable=False),
        sa.Column("changed_at", app.core.database.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_revocation_epoch")),
    )


def downgrade() -> None:
    op.drop_table("auth_revocation_epoch")
