"""Permission codes of the monitor module."""

from app.core.access import registry

SESSION_LIST = registry.declare("monitor:session:list", "List online sessions")
SESSION_DELETE = registry.declare("monitor:session:delete", "Force a session to log out")
SERVER_READ = registry.declare("monitor:server:read", "View server status")
CACHE_LIST = registry.declare("monitor:cache:list", "View cache status")
CACHE_DELETE = registry.declare("monitor:cache:delete", "Clear a cache namespace")
