"""Permission codes of the system module (collected into `app.core.access.registry`)."""

from app.core.access import registry

USER_LIST = registry.declare("system:user:list", "List users")
USER_READ = registry.declare("system:user:read", "View a user")
USER_CREATE = registry.declare("system:user:create", "Create users")
USER_UPDATE = registry.declare("system:user:update", "Edit users")
USER_DELETE = registry.declare("system:user:delete", "Delete users")
USER_RESET_PASSWORD = registry.declare("system:user:reset-password", "Reset a user's password")
USER_EXPORT = registry.declare("system:user:export", "Export users")

ROLE_LIST = registry.declare("system:role:list", "List roles")
ROLE_READ = registry.declare("system:role:read", "View a role")
ROLE_CREATE = registry.declare("system:role:create", "Create roles")
ROLE_UPDATE = registry.declare("system:role:update", "Edit roles and their grants")
ROLE_DELETE = registry.declare("system:role:delete", "Delete roles")

MENU_LIST = registry.declare("system:menu:list", "List menus")
MENU_READ = registry.declare("system:menu:read", "View a menu")
MENU_CREATE = registry.declare("system:menu:create", "Create menus and buttons")
MENU_UPDATE = registry.declare("system:menu:update", "Edit menus and buttons")
MENU_DELETE = registry.declare("system:menu:delete", "Delete menus and buttons")

DEPT_LIST = registry.declare("system:dept:list", "List departments")
DEPT_READ = registry.declare("system:dept:read", "View a department")
DEPT_CREATE = registry.declare("system:dept:create", "Create departments")
DEPT_UPDATE = registry.declare("system:dept:update", "Edit and move departments")
DEPT_DELETE = registry.declare("system:dept:delete", "Delete departments")

POSITION_LIST = registry.declare("system:position:list", "List positions")
POSITION_READ = registry.declare("system:position:read", "View a position")
POSITION_CREATE = registry.declare("system:position:create", "Create positions")
POSITION_UPDATE = registry.declare("system:position:update", "Edit positions")
POSITION_DELETE = registry.declare("system:position:delete", "Delete positions")
