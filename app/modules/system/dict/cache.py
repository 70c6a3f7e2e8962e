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

from typing import Any

import orjson
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.cache import Cache, CacheUnavailableError
from app.core.versions import bump_version, current_version
from app.modules.system.dict import repository as repo

VERSION_KEY = "dict:version"
ITEMS_TTL = 3600.0
# Unknown or disabled types are remembered briefly, so probing them does not hit the database.
MISSING_TTL = 60.0

Items = list[dict[str, Any]]
log = structlog.get_logger("app.dict")


def items_key(type_code: str) -> str:
    return f"dict:items:{type_code}"


async def invalidate(cache: Cache, db: AsyncSession | None = None) -> None:
    """A dictionary changed: every process reads it afresh on its next request."""
    await bump_version(cache, VERSION_KEY, db)


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
        version = await current_version(cache, VERSION_KEY, raw_version)
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
