"""Permission codes of the monitor module."""

from app.core.access import registry

SESSION_LIST = registry.declare("monitor:session:list", "List online sessions")
SESSION_DELETE = registry.declare("monitor:session:delete", "Force a session to log out")
