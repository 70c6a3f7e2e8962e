"""Typed access to parameters from code, shared by every process and cheap on the hot path.

    from app.modules.system.param.reader import ParamsDep

    @router.post("/login")
    async def login(params: ParamsDep, ...) -> ...:
        max_failures = await params.get_int("login.max_failures", default=5)

Outside a request (jobs, startup), use `params_for(app)`.

All parameters are read as one `{key: value}` map, cached in the shared cache under
`param:map:<version>`. The version is a random token under `param:version`, bumped by every
change (before the transaction commits and again after it, see `invalidate`). Each process also
keeps the last map it saw, keyed by its version, so a warm read is one cache round trip (the
version) and no database query, yet a change made by any process is seen everywhere on the
next read. Map entries expire after `MAP_TTL` as a backstop. When the cache is down, reads go
to the database.

A missing key returns the default; so does a value that does not parse as the type asked for
(with a warning in the log, once per key and version).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Annotated, Any, TypeVar, overload

import orjson
import structlog
from fastapi import Depends, FastAPI, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.cache import Cache, CacheUnavailableError
from app.core.versions import bump_version, current_version
from app.modules.system.param import repository as repo
from app.modules.system.param.schemas import parse_bool, parse_float, parse_int, parse_json

VERSION_KEY = "param:version"
MAP_TTL = 3600.0

T = TypeVar("T")
log = structlog.get_logger("app.params")


def map_key(version: str) -> str:
    return f"param:map:{version}"


async def invalidate(cache: Cache, db: AsyncSession | None = None) -> None:
    """A parameter changed: every process reads the parameters afresh on its next read."""
    await bump_version(cache, VERSION_KEY, db)


class ParamReader:
    """Typed, cached reads of parameters: `await params.get_int("login.max_failures", 5)`.

    Args:
        cache: The shared cache (versions and the map live there).
        sessionmaker: Opens a short session of its own when the map must be read.
    """

    def __init__(self, cache: Cache, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._cache = cache
        self._sessionmaker = sessionmaker
        self._memo: tuple[str, Mapping[str, str]] | None = None
        self._warned: set[tuple[str, str]] = set()

    async def _load(self) -> Mapping[str, str]:
        async with self._sessionmaker() as db:
            return MappingProxyType(await repo.all_values(db))

    async def _version(self) -> str:
        return await current_version(self._cache, VERSION_KEY)

    async def values(self) -> Mapping[str, str]:
        """Every parameter as a read-only `{key: value}` map of stored texts."""
        try:
            version = await self._version()
        except CacheUnavailableError as exc:
            log.warning("param_cache_unavailable", error=str(exc))
            return await self._load()
        memo = self._memo
        if memo is not None and memo[0] == version:
            return memo[1]
        values: Mapping[str, str] | None = None
        try:
            cached = await self._cache.get_json(map_key(version))
            if isinstance(cached, dict):
                values = MappingProxyType({str(k): str(v) for k, v in cached.items()})
        except CacheUnavailableError as exc:
            log.warning("param_cache_unavailable", error=str(exc))
        except orjson.JSONDecodeError:
            pass  # unreadable: rebuilt below
        if values is None:
            values = await self._load()
            try:
                await self._cache.set_json(map_key(version), dict(values), ttl=MAP_TTL)
            except CacheUnavailableError as exc:
                log.warning("param_cache_unavailable", error=str(exc))
        self._memo = (version, values)
        self._warned.clear()
        return values

    def clear(self) -> None:
        """Forget the in-process memo (tests)."""
        self._memo = None
        self._warned.clear()

    async def _typed(self, key: str, default: T, parse: Callable[[str], Any], kind: str) -> Any:
        text = (await self.values()).get(key)
        if text is None:
            return default
        try:
            return parse(text)
        except ValueError:
            if (key, kind) not in self._warned:
                self._warned.add((key, kind))
                log.warning("param_bad_value", key=key, expected=kind)
            return default

    @overload
    async def get_str(self, key: str, default: str) -> str: ...
    @overload
    async def get_str(self, key: str, default: None = None) -> str | None: ...
    async def get_str(self, key: str, default: str | None = None) -> str | None:
        """The value as stored, or `default` if there is no such parameter."""
        value: str | None = (await self.values()).get(key, default)
        return value

    @overload
    async def get_int(self, key: str, default: int) -> int: ...
    @overload
    async def get_int(self, key: str, default: None = None) -> int | None: ...
    async def get_int(self, key: str, default: int | None = None) -> int | None:
        """The value as an int; `default` if missing or not an integer."""
        value: int | None = await self._typed(key, default, parse_int, "int")
        return value

    @overload
    async def get_float(self, key: str, default: float) -> float: ...
    @overload
    async def get_float(self, key: str, default: None = None) -> float | None: ...
    async def get_float(self, key: str, default: float | None = None) -> float | None:
        """The value as a float; `default` if missing or not a finite number."""
        value: float | None = await self._typed(key, default, parse_float, "float")
        return value

    @overload
    async def get_bool(self, key: str, default: bool) -> bool: ...
    @overload
    async def get_bool(self, key: str, default: None = None) -> bool | None: ...
    async def get_bool(self, key: str, default: bool | None = None) -> bool | None:
        """The value as a bool (true/false, 1/0, yes/no); `default` otherwise."""
        value: bool | None = await self._typed(key, default, parse_bool, "bool")
        return value

    async def get_json(self, key: str, default: Any = None) -> Any:
        """The value parsed as JSON; `default` if missing or not valid JSON."""
        return await self._typed(key, default, parse_json, "json")


def params_for(app: FastAPI) -> ParamReader:
    """The app's parameter reader (one per app, built on first use)."""
    reader: ParamReader | None = getattr(app.state, "param_reader", None)
    if reader is None:
        reader = ParamReader(app.state.cache, app.state.sessionmaker)
        app.state.param_reader = reader
    return reader


def get_params(request: Request) -> ParamReader:
    """Dependency: the app's `ParamReader`."""
    return params_for(request.app)


ParamsDep = Annotated[ParamReader, Depends(get_params)]
