"""initial schema: the baseline every later migration builds on

The foundation defines no tables of its own; each module adds its tables in its own
revisions on top of this one.

Revision ID: 0001
Revises:
Create Date: 2026-11-22 04:00:00+00:00
"""

from collections.abc import Sequence

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
