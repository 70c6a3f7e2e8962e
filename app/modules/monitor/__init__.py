"""Monitor module: health and readiness, online sessions (server, cache and metrics follow)."""

from app.core.modules import ModuleSpec
from app.modules.monitor.health.router import router as health_router
from app.modules.monitor.session.router import router as session_router

module = ModuleSpec(
    name="monitor", routers=[health_router, session_router], depends_on=("system", "auth")
)
