"""Cache and coordination layer: one small interface, an in-process and a Redis backend.

`create_cache()` picks the backend from configuration: no Redis URL means the lite shape
(single process, `MemoryCache`); a URL means the scale shape (`RedisCache`, shared by all
processes).
"""

from __future__ import annotations

from app.core.cache.base import (
    Cache,
    CacheStats,
    CacheUnavailableError,
    Lock,
    LockNotAcquired,
    NamespaceCounts,
    Subscription,
)
from app.core.cache.memory import MemoryCache, MemoryStore
from app.core.cache.redis import RedisCache

__all__ = [
    "Cache",
    "CacheStats",
    "CacheUnavailableError",
    "Lock",
    "LockNotAcquired",
    "MemoryCache",
    "MemoryStore",
    "NamespaceCounts",
    "RedisCache",
    "Subscription",
    "create_cache",
]


def create_cache(
    redis_url: str, *, prefix: str, socket_timeout: float, connect_timeout: float
) -> Cache:
    """Build the configured cache without doing any I/O.

    Args:
        redis_url: Redis URL; empty selects the in-process `MemoryCache`.
        prefix: Namespace for every key and channel.
        socket_timeout: Redis reply timeout in seconds (ignored for memory).
        connect_timeout: Redis connect timeout in seconds (ignored for memory).
    """
    if not redis_url:
        return MemoryCache(prefix)
    return RedisCache(
        redis_url, prefix=prefix, socket_timeout=socket_timeout, connect_timeout=connect_timeout
    )
