"""The shared cache of the public dictionary read (`GET /api/v1/system/dicts/{type_code}`).

Each type's active items are cached under `dict:items:<code>` together with the dictionary
version they were read at; the version (a random token under `dict:version`) is bumped by every
change to any type or item, before the transaction commits and again after it. A read fetches
the version and the entry in one round trip (`get_many`) and uses the entry only when its
version is the current one, so a change made by any process is seen by every process on its
next request. Entries also expire after `ITEMS_TTL` as a backstop.

The cache is a pure cache here: when it is down the read falls back to the database.
"""

from __future__ import annotations

import secrets
from typing import Any

import orjson
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.cache import Cache, CacheUnavailableError
from app.core.database import after_commit
from app.modules.system.dict import repository as repo

VERSION_KEY = "dict:version"
ITEMS_TTL = 3600.0
# Unknown or disabled types are remembered briefly, so probing them does not hit the database.
MISSING_TTL = 60.0

Items = list[dict[str, Any]]
log = structlog.get_logger("app.dict")


def items_key(type_code: str) -> str:
    return f"dict:items:{type_code}"


def _new_version() -> str:
    # Random, not a counter: after a cache flush a counter could repeat a version some entry
    # was stored under; a fresh random token never does.
    return secrets.token_hex(8)


async def invalidate(cache: Cache, db: AsyncSession | None = None) -> None:
    """A dictionary changed: bump the version now and, with `db`, again after its commit.

    The second bump matters: a reader that fetched the new version before the commit read the
    old rows, and cached them under that version.
    """

    async def bump() -> None:
        await cache.set(VERSION_KEY, _new_version())

    await bump()
    if db is not None:
        after_commit(db, bump)


async def _current_version(cache: Cache, raw: bytes | None) -> str:
    if raw is not None:
        return raw.decode()
    await cache.set_nx(VERSION_KEY, _new_version())
    return ((await cache.get(VERSION_KEY)) or b"?").decode()


async def _from_db(db: AsyncSession, type_code: str) -> Items | None:
    rows = await repo.active_items(db, type_code)
    if rows is None:
        return None
    return [{"label": r.label, "value": r.value, "tag": r.tag, "sort": r.sort} for r in rows]


def _decode(raw: bytes | None) -> Any:
    """A cache entry, or None if absent or unreadable (then it is simply rebuilt)."""
    if raw is None:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


async def active_items(db: AsyncSession, cache: Cache, type_code: str) -> Items | None:
    """The active items of the active type `type_code` (sorted), or None if there is none."""
    key = items_key(type_code)
    try:
        raw_version, raw_entry = await cache.get_many([VERSION_KEY, key])
        version = await _current_version(cache, raw_version)
    except CacheUnavailableError as exc:
        log.warning("dict_cache_unavailable", error=str(exc))
        return await _from_db(db, type_code)
    entry = _decode(raw_entry)
    if isinstance(entry, dict) and entry.get("v") == version:
        cached: Items | None = entry.get("items")
        return cached
    items = await _from_db(db, type_code)
    try:
        await cache.set_json(
            key, {"v": version, "items": items}, ttl=ITEMS_TTL if items is not None else MISSING_TTL
        )
    except CacheUnavailableError as exc:
        log.warning("dict_cache_unavailable", error=str(exc))
    return items
