"""All SQL of the blog module.

Every read goes through `visible()`: published articles, the caller's own, and (for holders of
`blog:article:list`) the rest within their data scope. Moderation scope is judged by the
author's current department and `app.core.access.scope_filter`, like every other module
(docs/security-checklist.md §0 #3, API1). Authors are loaded with one `selectinload` per query,
never lazily.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.core.access import Principal, scope_filter
from app.modules.blog.models import Article
from app.modules.blog.permissions import ARTICLE_LIST
from app.modules.system.user.models import User

# One query for all the authors of a page, and only the columns an article shows of them (the
# user row also holds secrets that have no business in this module's memory).
_WITH_AUTHOR = selectinload(Article.author).load_only(User.id, User.username, User.name)
# The author's department, for the data scope (articles carry no department of their own).
_AUTHOR_DEPT = select(User.dept_id).where(User.id == Article.author_id).scalar_subquery()


def _scope(principal: Principal) -> ColumnElement[bool] | None:
    """Articles whose author is in the caller's data scope (moderation reach); None: all."""
    return scope_filter(principal, dept_column=_AUTHOR_DEPT, owner_column=Article.author_id)


def visible(principal: Principal) -> ColumnElement[bool]:
    """Articles the caller may see; anything else answers 404 (drafts never leak)."""
    if principal.can(ARTICLE_LIST):
        scope = _scope(principal)
        if scope is None:
            return true()
        return or_(Article.published == true(), Article.author_id == principal.user_id, scope)
    return or_(Article.published == true(), Article.author_id == principal.user_id)


def list_statement(
    principal: Principal,
    *,
    title: str | None = None,
    published: bool | None = None,
    author_id: int | None = None,
) -> Select[Any]:
    statement = select(Article).where(visible(principal)).options(_WITH_AUTHOR)
    if title:
        statement = statement.where(Article.title.icontains(title, autoescape=True))
    if published is not None:
        statement = statement.where(Article.published == published)
    if author_id is not None:
        statement = statement.where(Article.author_id == author_id)
    return statement


async def get_visible(db: AsyncSession, principal: Principal, article_id: int) -> Article | None:
    """The article with its author, if the caller may see it."""
    statement = list_statement(principal).where(Article.id == article_id)
    # populate_existing: an article just flushed by this session gets its author loaded too.
    statement = statement.execution_options(populate_existing=True)
    article: Article | None = (await db.execute(statement)).scalar_one_or_none()
    return article


async def is_in_scope(db: AsyncSession, principal: Principal, article_id: int) -> bool:
    """True if the article's author is in the caller's data scope."""
    condition = _scope(principal)
    if condition is None:
        return True
    statement = select(Article.id).where(Article.id == article_id, condition)
    return (await db.execute(statement)).first() is not None


async def add(db: AsyncSession, article: Article) -> Article:
    db.add(article)
    await db.flush()
    return article


async def delete(db: AsyncSession, article: Article) -> None:
    await db.delete(article)
    await db.flush()
