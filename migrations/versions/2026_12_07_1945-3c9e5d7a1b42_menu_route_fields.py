"""menus: what a front-end router needs (keep_alive, link, redirect)

Revision ID: 3c9e5d7a1b42
Revises: 8995b6e2e92b
Create Date: 2026-12-07 19:45:00.000000+00:00

`sys_menu` gains `keep_alive` (keep the page's state when the user leaves it), `link` (an
external address opened instead of a view) and `redirect` (where a directory's own path
leads). The route name (`name`) and hidden routes (`visible` false) already exist.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "3c9e5d7a1b42"
down_revision: str | Sequence[str] | None = "8995b6e2e92b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The server default only fills the existing rows; like every other column, the default
    # of new rows is the model's, so it is dropped again.
    with op.batch_alter_table("sys_menu") as batch:
        batch.add_column(
            sa.Column("keep_alive", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("link", sa.String(length=512), nullable=True))
        batch.add_column(sa.Column("redirect", sa.String(length=255), nullable=True))
    with op.batch_alter_table("sys_menu") as batch:
        batch.alter_column("keep_alive", existing_type=sa.Boolean(), server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("sys_menu") as batch:
        batch.drop_column("redirect")
        batch.drop_column("link")
        batch.drop_column("keep_alive")
