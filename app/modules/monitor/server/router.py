"""Server status: the host, its CPU, memory and disks, and the app process that answers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from app.core.access import Principal
from app.core.guard import require
from app.core.responses import Envelope, error_responses, ok
from app.modules.monitor.permissions import SERVER_READ
from app.modules.monitor.server import service
from app.modules.monitor.server.schemas import ServerRead

router = APIRouter(prefix="/api/v1/monitor/server", tags=["monitor: server"])


@router.get("", responses=error_responses(401, 403))
async def get_server_status(
    _principal: Annotated[Principal, Depends(require(SERVER_READ))],
) -> Envelope[ServerRead]:
    """Host, CPU, memory, swap, disks, load, Python and this process (sampled off the loop)."""
    return ok(await service.server_status())
