"""Cache status and clearing one application namespace.

What is shown: backend, prefix, memory, hit/miss counters, Redis server facts, and key counts
per namespace (the first key segment after the prefix). What is never shown: a value, or a full
key name (session ids and other tokens live in key names). Counting is bounded by
`CACHE_SCAN_LIMIT`. Clearing deletes only ``<prefix><namespace>:*`` and refuses the namespaces
that hold security state (`app.core.cache.namespaces`).
"""

from __future__ import annotations

import structlog

from app.core.cache import Cache
from app.core.cache.namespaces import protected_namespaces
from app.modules.monitor.cache.exceptions import ProtectedNamespace
from app.modules.monitor.cache.schemas import (
    CacheHitsRead,
    CacheKeysRead,
    CacheMemoryRead,
    CacheRead,
    NamespaceCleared,
    NamespaceRead,
    ProtectedNamespaceRead,
    RedisServerRead,
)

log = structlog.get_logger("app.monitor.cache")


def _hit_rate(hits: int | None, misses: int | None) -> float | None:
    if hits is None or misses is None or hits + misses == 0:
        return None
    return round(hits / (hits + misses), 4)


async def cache_status(cache: Cache, scan_limit: int) -> CacheRead:
    """Figures of the cache backend and key counts per namespace (examining <= `scan_limit`)."""
    stats = await cache.stats()
    counted = await cache.namespace_counts(scan_limit)
    protected = protected_namespaces()
    redis = cache.backend == "redis"
    return CacheRead(
        backend="redis" if redis else "memory",
        shared=cache.shared,
        prefix=cache.prefix,
        memory=CacheMemoryRead(
            used_memory=stats.used_memory,
            used_memory_human=stats.used_memory_human,
            maxmemory=stats.maxmemory,
            approximate=not redis,
            entries=stats.entries,
        ),
        hits=CacheHitsRead(
            hits=stats.hits,
            misses=stats.misses,
            hit_rate=_hit_rate(stats.hits, stats.misses),
            scope="server" if redis else "process",
        ),
        keys=CacheKeysRead(
            total=counted.total,
            namespaces=[
                NamespaceRead(namespace=name, keys=count, protected=name in protected)
                for name, count in sorted(counted.counts.items())
            ],
            other=counted.other,
            truncated=counted.truncated,
            scan_limit=scan_limit,
        ),
        protected_namespaces=[
            ProtectedNamespaceRead(namespace=name, reason=reason)
            for name, reason in protected.items()
        ],
        server=(
            RedisServerRead(
                version=stats.version,
                uptime_seconds=stats.uptime_seconds,
                connected_clients=stats.connected_clients,
                role=stats.role,
            )
            if redis
            else None
        ),
    )


async def clear_namespace(cache: Cache, namespace: str) -> NamespaceCleared:
    """Delete the keys of one namespace; refuse a protected one (409).

    `namespace` must already match `NAMESPACE_PATTERN` (the route validates it).
    """
    reason = protected_namespaces().get(namespace)
    if reason is not None:
        raise ProtectedNamespace(namespace, reason)
    deleted = await cache.clear_namespace(namespace)
    log.info("cache namespace cleared", namespace=namespace, deleted=deleted)
    return NamespaceCleared(namespace=namespace, deleted=deleted)
