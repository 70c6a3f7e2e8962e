"""Liveness and readiness probes for load balancers and orchestrators."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from app.core.access import public
from app.core.deps import CacheDep, EngineDep, SettingsDep
from app.core.errors import ServiceUnavailable
from app.core.responses import Envelope, ErrorDetail, error_responses, ok
from app.modules.monitor.health import service
from app.modules.monitor.health.schemas import Liveness, Readiness

router = APIRouter(prefix="/api/v1/health", tags=["health"])


@router.get("/live", summary="Process is up", dependencies=[Depends(public)])
async def liveness() -> Envelope[Liveness]:
    """Process is up; touches no dependency."""
    return ok(Liveness())


@router.get(
    "/ready",
    summary="Dependencies reachable",
    responses=error_responses(503),
    dependencies=[Depends(public)],
)
async def readiness(
    settings: SettingsDep, engine: EngineDep, cache: CacheDep
) -> Envelope[Readiness]:
    """Database and cache reachable; 503 naming what is down otherwise."""
    database, cache_status = await service.readiness(engine, cache, settings.health_check_timeout)
    down = {
        name: s
        for name, s in (("database", database), ("cache", cache_status))
        if s.status == "down"
    }
    if down:
        raise ServiceUnavailable(
            f"Not ready: {', '.join(down)} down",
            errors=[
                ErrorDetail(field=name, message=s.detail or "down", type="unavailable")
                for name, s in down.items()
            ],
        )
    return ok(Readiness(database=database, cache=cache_status))
