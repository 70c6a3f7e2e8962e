"""Pagination and whitelisted sorting for list endpoints.

A list route declares which fields clients may sort by; anything else is a 422 naming `sort`,
so a sort value never reaches SQL as text:

    users_page = pagination(sortable={"created_at": User.created_at, "username": User.username},
                            default="-created_at")

    @router.get("")
    async def list_users(session: SessionDep, params: Annotated[PageParams, Depends(users_page)]):
        items, total = await paginate(session, select(User), params)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, Field
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql.elements import ColumnElement, UnaryExpression

from app.core.errors import ValidationFailed
from app.core.responses import ErrorDetail

T = TypeVar("T")
# A model attribute (`User.username`) or any SQL expression clients may sort by.
SortColumn = ColumnElement[Any] | QueryableAttribute[Any]

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 10


class Page(BaseModel, Generic[T]):
    """One page of a list: `items`, the `total` matching rows, and the page asked for."""

    items: list[T]
    total: int = Field(ge=0)
    page: int = Field(ge=1)
    page_size: int = Field(ge=1, le=MAX_PAGE_SIZE)


M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class PageParams:
    """Validated paging and ordering for one list request."""

    page: int = 1
    page_size: int = DEFAULT_PAGE_SIZE
    order_by: tuple[UnaryExpression[Any], ...] = field(default_factory=tuple)

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size


def parse_sort(
    sort: str | None, sortable: Mapping[str, SortColumn], default: str
) -> tuple[UnaryExpression[Any], ...]:
    """Turn `-created_at,name` into ORDER BY clauses, accepting only whitelisted names.

    Raises:
        ValidationFailed: 422 naming the `sort` query parameter.
    """
    spec = sort if sort else default
    clauses: list[UnaryExpression[Any]] = []
    seen: set[str] = set()
    for raw in spec.split(","):
        token = raw.strip()
        descending = token.startswith("-")
        name = token.lstrip("+-")
        if name not in sortable or name in seen:
            allowed = ", ".join(sorted(sortable))
            raise ValidationFailed(
                "Validation failed: sort",
                errors=[
                    ErrorDetail(
                        field="sort",
                        location="query",
                        message=f"must be a comma-separated list of: {allowed} "
                        "(prefix - for descending), each at most once",
                        type="value_error",
                    )
                ],
            )
        seen.add(name)
        column = sortable[name]
        clauses.append(column.desc() if descending else column.asc())
    return tuple(clauses)


def pagination(*, sortable: Mapping[str, SortColumn], default: str) -> Callable[..., PageParams]:
    """A FastAPI dependency reading `page`, `page_size` and `sort` for one list endpoint."""
    parse_sort(default, sortable, default)  # fail at import time on a bad default
    allowed = ", ".join(sorted(sortable))

    def dependency(
        page: int = Query(1, ge=1, le=1_000_000, description="Page number, from 1"),
        page_size: int = Query(
            DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE, description="Rows per page (1-100)"
        ),
        sort: str | None = Query(
            None,
            max_length=200,
            description=f"Comma-separated fields, `-` for descending. Allowed: {allowed}. "
            f"Default: `{default}`.",
        ),
    ) -> PageParams:
        return PageParams(page, page_size, parse_sort(sort, sortable, default))

    return dependency


async def paginate(
    session: AsyncSession,
    statement: Select[Any],
    params: PageParams,
    *,
    tiebreaker: Sequence[SortColumn] = (),
) -> tuple[list[Any], int]:
    """Run `statement` for one page and count all matching rows.

    `tiebreaker` (usually the primary key) is appended to the ORDER BY so pages are stable.
    """
    count_stmt = select(func.count()).select_from(statement.order_by(None).subquery())
    total = int((await session.execute(count_stmt)).scalar_one())
    if total == 0 or params.offset >= total:
        return [], total
    page_stmt = (
        statement.order_by(*params.order_by, *tiebreaker)
        .limit(params.page_size)
        .offset(params.offset)
    )
    result = await session.execute(page_stmt)
    return list(result.scalars().all()), total


def page_of(schema: type[M], rows: Sequence[Any], total: int, params: PageParams) -> Page[M]:
    """One page of `rows` (ORM objects) validated into `schema`, e.g. `page_of(UserRead, ...)`."""
    page_type = Page[schema]  # type: ignore[valid-type]  # parametrised at run time
    page: Page[M] = page_type(
        items=[schema.model_validate(row) for row in rows],
        total=total,
        page=params.page,
        page_size=params.page_size,
    )
    return page
