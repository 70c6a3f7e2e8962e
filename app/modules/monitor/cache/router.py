"""Cache status and clearing one application namespace (never a value, never a key name)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from app.core.access import Principal
from app.core.cache.namespaces import NAMESPACE_PATTERN
from app.core.deps import CacheDep, SettingsDep
from app.core.guard import require
from app.core.responses import Envelope, error_responses, ok
from app.modules.monitor.cache import service
from app.modules.monitor.cache.schemas import CacheRead, NamespaceCleared
from app.modules.monitor.permissions import CACHE_DELETE, CACHE_LIST

router = APIRouter(prefix="/api/v1/monitor/cache", tags=["monitor: cache"])


@router.get("", responses=error_responses(401, 403, 503))
async def get_cache_status(
    _principal: Annotated[Principal, Depends(require(CACHE_LIST))],
    cache: CacheDep,
    settings: SettingsDep,
) -> Envelope[CacheRead]:
    """Backend, prefix, memory, hit rate, Redis facts and key counts per namespace."""
    return ok(await service.cache_status(cache, settings.cache_scan_limit))


@router.delete("/namespaces/{namespace}", responses=error_responses(401, 403, 409, 422, 503))
async def clear_cache_namespace(
    _principal: Annotated[Principal, Depends(require(CACHE_DELETE))],
    cache: CacheDep,
    namespace: Annotated[
        str,
        Path(
            max_length=64,
            pattern=NAMESPACE_PATTERN,
            description="Namespace name: lower-case letters, digits, `_`, `.`, `-`",
        ),
    ],
) -> Envelope[NamespaceCleared]:
    """Delete every key of one namespace; namespaces holding security state are refused (409)."""
    return ok(await service.clear_namespace(cache, namespace))
