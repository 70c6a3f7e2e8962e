"""Cache status as the operator's cache page shows it: figures and namespace names, never a
key's value and never a full key name (keys can embed session ids and other tokens)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class CacheMemoryRead(BaseModel):
    used_memory: int | None = Field(
        description="Bytes in use: the Redis server's `used_memory`; for the in-process "
        "backend the approximate size of this application's keys and values"
    )
    used_memory_human: str | None = Field(description='`used_memory` for people, e.g. "1.05M"')
    maxmemory: int | None = Field(description="Redis `maxmemory` (0: no limit); None in-process")
    approximate: bool = Field(description="True when `used_memory` is an estimate (in-process)")
    entries: int | None = Field(description="Keys held (in-process backend only)")


class CacheHitsRead(BaseModel):
    hits: int | None
    misses: int | None
    hit_rate: float | None = Field(description="hits / (hits + misses), 0-1; None before any")
    scope: Literal["server", "process"] = Field(
        description="server: Redis counters since its start, every client included; "
        "process: lookups of this app process since it started"
    )


class NamespaceRead(BaseModel):
    namespace: str = Field(description='First key segment after the prefix, e.g. "sess"')
    keys: int
    protected: bool = Field(description="Holds security state: cannot be cleared here")


class CacheKeysRead(BaseModel):
    total: int = Field(description="Keys under the prefix that were counted")
    namespaces: list[NamespaceRead] = Field(description="Sorted by name")
    other: int = Field(description="Keys in no well-formed namespace (names not shown)")
    truncated: bool = Field(description="The count stopped at `scan_limit`: a lower bound")
    scan_limit: int = Field(description="Most keys examined (setting CACHE_SCAN_LIMIT)")


class ProtectedNamespaceRead(BaseModel):
    namespace: str
    reason: str


class RedisServerRead(BaseModel):
    version: str | None
    uptime_seconds: int | None
    connected_clients: int | None
    role: str | None = Field(description='Replication role, e.g. "master"')


class CacheRead(BaseModel):
    backend: Literal["memory", "redis"]
    shared: bool = Field(description="Whether every app process sees the same data")
    prefix: str = Field(description="Prefix of every key this application writes")
    memory: CacheMemoryRead
    hits: CacheHitsRead
    keys: CacheKeysRead
    protected_namespaces: list[ProtectedNamespaceRead]
    server: RedisServerRead | None = Field(description="Redis server facts; None in-process")


class NamespaceCleared(BaseModel):
    namespace: str
    deleted: int = Field(description="Keys deleted")
