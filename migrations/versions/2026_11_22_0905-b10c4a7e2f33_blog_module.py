"""blog: articles

Revision ID: b10c4a7e2f33
Revises: 5e7a1c2d9b01
Create Date: 2026-11-22 09:05:00.000000+00:00

The table is created whether or not the blog module is enabled (MODULES_DISABLED); Alembic
leaves a disabled module's table alone.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.database  # noqa: F401, RUF100  (custom column types such as UtcDateTime)

revision: str = "b10c4a7e2f33"
down_revision: str | Sequence[str] | None = "5e7a1c2d9b01"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "blog_article",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("published", sa.Boolean(), nullable=False),
        sa.Column(
            "author_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("created_at", app.core.database.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.core.database.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["sys_user.id"],
            name=op.f("fk_blog_article_author_id_sys_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_blog_article")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("blog_article", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_blog_article_author_id"), ["author_id"], unique=False)
        batch_op.create_index(
            "ix_blog_article_published_created_at", ["published", "created_at"], unique=False
        )


def downgrade() -> None:
    # Tables only: their indexes go with them (MySQL refuses to drop an index that backs a
    # foreign key while the table exists).
    op.drop_table("blog_article")
