"""Factories of the blog tests: signed-in users and articles written straight to the database."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from app.modules.blog.models import Article
from app.modules.system.user.models import User
from tests.support.identity import auth_headers, create_role, create_user

URL = "/api/v1/articles"
START = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
_seq = itertools.count(1)


@dataclass(frozen=True)
class Writer:
    """A signed-in user: their row's id and names, and their bearer header."""

    id: int
    username: str
    name: str
    headers: dict[str, str]


async def writer(
    app: FastAPI,
    *,
    permissions: list[str] | None = None,
    data_scope: str = "self",
    **overrides: Any,
) -> Writer:
    """A new signed-in user; with `permissions`, through one role holding them."""
    async with app.state.sessionmaker() as db, db.begin():
        roles = []
        if permissions:
            roles.append(await create_role(db, permissions=permissions, data_scope=data_scope))
        user = await create_user(db, roles=roles, **overrides)
    return Writer(user.id, user.username, user.name, await auth_headers(app, user))


async def create_article(
    db: AsyncSession, author_id: int, *, minutes: int | None = None, **overrides: Any
) -> Article:
    """An article by `author_id`, created `minutes` after START (a fresh minute by default)."""
    n = next(_seq)
    at = START + timedelta(minutes=n if minutes is None else minutes)
    values: dict[str, Any] = {
        "title": f"Article {n}",
        "content": f"Content of article {n}.",
        "published": True,
        "created_at": at,
        "updated_at": at,
    }
    values.update(overrides)
    article = Article(author_id=author_id, **values)
    db.add(article)
    await db.flush()
    return article


async def article(app: FastAPI, author: Writer | User, **overrides: Any) -> int:
    """Write one article for `author` and return its id."""
    async with app.state.sessionmaker() as db, db.begin():
        return (await create_article(db, author.id, **overrides)).id
