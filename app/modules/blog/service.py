"""Business rules of the blog.

- Visibility: a signed-in user sees published articles and their own drafts; a holder of
  `blog:article:list` also sees the other articles whose author is in their data scope.
  Anything else is "not found", never "forbidden", so a draft's existence does not leak
  (docs/security-checklist.md §0 #3, API1 BOLA).
- The author is the caller, always (the input schemas have no author field).
- Only the author edits an article; another user who can see it gets 403. The author, or a
  holder of `blog:article:delete-any` whose data scope covers the author, deletes it.
- Deleting a user deletes their articles (foreign key ON DELETE CASCADE).
"""

from __future__ import annotations

from dataclasses import asdict

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.access import Principal
from app.core.pagination import CursorPage, PageParams, fetch_page
from app.modules.blog import repository as repo
from app.modules.blog.exceptions import ArticleNotFound, NotTheAuthor
from app.modules.blog.models import Article
from app.modules.blog.permissions import ARTICLE_DELETE_ANY
from app.modules.blog.schemas import ArticleCreate, ArticleFilters, ArticleRead, ArticleUpdate


async def list_articles(
    db: AsyncSession, principal: Principal, *, filters: ArticleFilters, page: PageParams
) -> CursorPage[ArticleRead]:
    """One page of the articles the caller may see (published, their own drafts, and with
    `blog:article:list` the others in their data scope); newest first among equal times."""
    statement = repo.list_statement(principal, **asdict(filters))
    result = await fetch_page(db, statement, page, tiebreaker=[Article.id.desc()])
    return result.as_page(ArticleRead)


async def get_article(db: AsyncSession, principal: Principal, article_id: int) -> Article:
    article = await repo.get_visible(db, principal, article_id)
    if article is None:
        raise ArticleNotFound()
    return article


async def create_article(db: AsyncSession, principal: Principal, data: ArticleCreate) -> Article:
    article = await repo.add(db, Article(**data.model_dump(), author_id=principal.user_id))
    return await get_article(db, principal, article.id)  # with its author


async def update_article(
    db: AsyncSession, principal: Principal, article_id: int, data: ArticleUpdate
) -> Article:
    article = await get_article(db, principal, article_id)
    if article.author_id != principal.user_id:
        raise NotTheAuthor()
    for field, value in data.model_dump(exclude_unset=True).items():
        setattr(article, field, value)
    await db.flush()
    return article


async def delete_article(db: AsyncSession, principal: Principal, article_id: int) -> None:
    article = await get_article(db, principal, article_id)
    if article.author_id != principal.user_id and not (
        principal.can(ARTICLE_DELETE_ANY) and await repo.is_in_scope(db, principal, article.id)
    ):
        raise NotTheAuthor("Permission denied: only the author or a moderator may delete this")
    await repo.delete(db, article)
