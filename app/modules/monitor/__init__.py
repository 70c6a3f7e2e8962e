"""Monitor module: health and readiness, online sessions, server status, cache status.

- `health`: `GET /api/v1/health/live|ready` (public probes).
- `session`: live sessions and force logout (`monitor:session:list|delete`).
- `server`: host, CPU, memory, disks and this process, via psutil off the event loop
  (`monitor:server:read`); its lifespan takes the CPU baselines at startup.
- `cache`: backend figures and key counts per namespace, never a value or key name
  (`monitor:cache:list`); clearing one namespace, refusing security state
  (`monitor:cache:delete`).
"""

from app.core.modules import ModuleSpec
from app.modules.monitor.cache.router import router as cache_router
from app.modules.monitor.health.router import router as health_router
from app.modules.monitor.server.router import router as server_router
from app.modules.monitor.server.service import server_lifespan
from app.modules.monitor.session.router import router as session_router

module = ModuleSpec(
    name="monitor",
    routers=[health_router, session_router, server_router, cache_router],
    depends_on=("system",),
    lifespan=server_lifespan,
    permissions="app.modules.monitor.permissions",
    menus=[
        {
            "name": "Monitor",
            "title": "Monitor",
            "type": "directory",
            "path": "/monitor",
            "icon": "monitor",
            "sort": 20,
            "children": [
                {
                    "name": "MonitorSession",
                    "title": "Online sessions",
                    "type": "menu",
                    "path": "/monitor/sessions",
                    "component": "monitor/session/index",
                    "icon": "online",
                    "permission": "monitor:session:list",
                    "sort": 1,
                },
                {
                    "name": "MonitorServer",
                    "title": "Server",
                    "type": "menu",
                    "path": "/monitor/server",
                    "component": "monitor/server/index",
                    "icon": "server",
                    "permission": "monitor:server:read",
                    "sort": 2,
                },
                {
                    "name": "MonitorCache",
                    "title": "Cache",
                    "type": "menu",
                    "path": "/monitor/cache",
                    "component": "monitor/cache/index",
                    "icon": "redis",
                    "permission": "monitor:cache:list",
                    "sort": 3,
                },
            ],
        }
    ],
)
