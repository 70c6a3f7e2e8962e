"""Permission codes of examples, in `app.core.access.registry`."""

from app.core.access import registry

EXAMPLE_LIST = registry.declare("example:example:list", "List examples")
EXAMPLE_READ = registry.declare("example:example:read", "View an example")
EXAMPLE_CREATE = registry.declare("example:example:create", "Create examples")
EXAMPLE_UPDATE = registry.declare("example:example:update", "Edit examples")
EXAMPLE_DELETE = registry.declare("example:example:delete", "Delete examples")
