"""Monitor module: health and readiness (sessions, server, cache and metrics come later)."""

from app.core.modules import ModuleSpec
from app.modules.monitor.health.router import router as health_router

module = ModuleSpec(name="monitor", routers=[health_router])
