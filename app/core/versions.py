"""Versioned invalidation of data cached from the database, shared by every process.

A version is a random token under a cache key; cached entries embed the version they were built
for. A change bumps the version **before and after its commit**: the bump after the commit
discards an entry a concurrent reader built from the old rows in between. Tokens are random,
not counters: after a cache flush a counter would restart at a value some process may still hold
an entry for; a fresh random token never repeats.
"""

from __future__ import annotations

import secrets

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.cache import Cache
from app.core.database import after_commit


def new_version() -> str:
    return secrets.token_hex(8)


async def bump_version(cache: Cache, key: str, db: AsyncSession | None = None) -> None:
    """Invalidate everything cached under the version at `key`, now and (with `db`) after the
    request's transaction commits."""

    async def bump() -> None:
        await cache.set(key, new_version())

    await bump()
    if db is not None:
        after_commit(db, bump)


async def current_version(cache: Cache, key: str, raw: bytes | None = None) -> str:
    """The version at `key` (`raw` if already read, e.g. with `get_many`); created if missing."""
    if raw is None:
        raw = await cache.get(key)
    if raw is None:
        await cache.set_nx(key, new_version())  # another process may win; read theirs
        raw = await cache.get(key) or b"?"
    return raw.decode()
