"""HTTP routes of the blog (`/api/v1/articles`).

Every route admits any signed-in user (`require()`); what each caller may see and change is
decided per article by the service (visibility, authorship, moderation codes).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from app.core.access import Principal
from app.core.database import SessionDep
from app.core.guard import require
from app.core.pagination import (
    LARGE_LIST_EXACT_COUNT,
    CursorPage,
    PageParams,
    pagination,
)
from app.core.responses import Envelope, created, error_responses, ok
from app.core.schemas import Id
from app.modules.blog import service
from app.modules.blog.models import ARTICLE_SORTS
from app.modules.blog.schemas import (
    TITLE_MAX_LENGTH,
    ArticleCreate,
    ArticleFilters,
    ArticleRead,
    ArticleUpdate,
)

router = APIRouter(prefix="/api/v1/articles", tags=["blog: articles"])

articles_page = pagination(sorts=ARTICLE_SORTS, exact_count_limit=LARGE_LIST_EXACT_COUNT)
ArticleIdPath = Annotated[Id, Path()]
SignedIn = Annotated[Principal, Depends(require())]


@router.get("", responses=error_responses(401, 403, 422))
async def list_articles(
    principal: SignedIn,
    db: SessionDep,
    params: Annotated[PageParams, Depends(articles_page)],
    title: Annotated[
        str | None, Query(max_length=TITLE_MAX_LENGTH, description="Title contains")
    ] = None,
    published: Annotated[bool | None, Query(description="Published or draft")] = None,
    author_id: Annotated[Id | None, Query(description="Written by")] = None,
) -> Envelope[CursorPage[ArticleRead]]:
    """List the published articles and the caller's drafts, newest first."""
    filters = ArticleFilters(
        title=title.strip() if title and title.strip() else None,
        published=published,
        author_id=author_id,
    )
    return ok(await service.list_articles(db, principal, filters=filters, page=params))


@router.get("/{article_id}", responses=error_responses(401, 403, 404, 422))
async def get_article(
    principal: SignedIn, db: SessionDep, article_id: ArticleIdPath
) -> Envelope[ArticleRead]:
    """One article (someone else's draft is not found)."""
    return ok(ArticleRead.model_validate(await service.get_article(db, principal, article_id)))


@router.post("", status_code=201, responses=error_responses(401, 403, 422))
async def create_article(
    principal: SignedIn, db: SessionDep, body: ArticleCreate
) -> Envelope[ArticleRead]:
    """Write an article; its author is the caller."""
    return created(ArticleRead.model_validate(await service.create_article(db, principal, body)))


@router.patch("/{article_id}", responses=error_responses(401, 403, 404, 422))
async def update_article(
    principal: SignedIn, db: SessionDep, article_id: ArticleIdPath, body: ArticleUpdate
) -> Envelope[ArticleRead]:
    """Edit one's own article (only the fields sent change)."""
    article = await service.update_article(db, principal, article_id, body)
    return ok(ArticleRead.model_validate(article))


@router.delete("/{article_id}", status_code=204, responses=error_responses(401, 403, 404, 422))
async def delete_article(
    principal: SignedIn, db: SessionDep, article_id: ArticleIdPath
) -> Response:
    """Delete one's own article (or any in the data scope, with `blog:article:delete-any`)."""
    await service.delete_article(db, principal, article_id)
    return Response(status_code=204)
