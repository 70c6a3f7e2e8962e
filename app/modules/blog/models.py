"""Blog articles, each written by one user and removed with them (ON DELETE CASCADE)."""

from __future__ import annotations

from sqlalchemy import Boolean, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.database import Base, BigId, TimestampMixin
from app.core.sorts import list_sorts
from app.modules.system.user.models import User


class Article(TimestampMixin, Base):
    __tablename__ = "blog_article"
    __table_args__ = (
        # The list: published articles (and one's own drafts), newest first.
        Index("ix_blog_article_published_created_at", "published", "created_at"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    title: Mapped[str] = mapped_column(String(200))
    # TEXT holds 65,535 bytes on MySQL; the schema caps content at 16,000 characters, which
    # fit even when every one takes four bytes (utf8mb4).
    content: Mapped[str] = mapped_column(Text)
    published: Mapped[bool] = mapped_column(Boolean, default=False)
    # The database removes a user's articles when the user row is deleted; the user model
    # (another module) knows nothing of articles, so nothing in the ORM gets in the way.
    author_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("sys_user.id", ondelete="CASCADE"), index=True
    )

    # Loaded explicitly (`selectinload(Article.author)`), never lazily: no N+1 can hide.
    author: Mapped[User] = relationship(lazy="raise")


# Keyset order of the list (default and offered sorts; migration c3d9e1f0a7b2).

ARTICLE_SORTS = list_sorts(
    sortable={
        "created_at": Article.created_at,
        "updated_at": Article.updated_at,
        "title": Article.title,
        "id": Article.id,
    },
    default="-created_at",
    cursor_key=Article.id,
)
