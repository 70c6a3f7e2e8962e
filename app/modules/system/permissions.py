"""Permission codes of the system module (collected into `app.core.access.registry`)."""

from app.core.access import registry

USER_LIST = registry.declare("system:user:list", "List users")
USER_READ = registry.declare("system:user:read", "View a user")
USER_CREATE = registry.declare("system:user:create", "Create users")
USER_UPDATE = registry.declare("system:user:update", "Edit users")
USER_DELETE = registry.declare("system:user:delete", "Delete users")
USER_RESET_PASSWORD = registry.declare("system:user:reset-password", "Reset a user's password")
USER_RESET_MFA = registry.declare(
    "system:user:reset-mfa", "Reset a user's multi-factor authentication (lost authenticator)"
)
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

DICT_LIST = registry.declare("system:dict:list", "List dictionary types and items")
DICT_READ = registry.declare("system:dict:read", "View a dictionary type or item")
DICT_CREATE = registry.declare("system:dict:create", "Create dictionary types and items")
DICT_UPDATE = registry.declare("system:dict:update", "Edit dictionary types and items")
DICT_DELETE = registry.declare("system:dict:delete", "Delete dictionary types and items")

PARAM_LIST = registry.declare("system:param:list", "List parameters")
PARAM_READ = registry.declare("system:param:read", "View a parameter")
PARAM_CREATE = registry.declare("system:param:create", "Create parameters")
PARAM_UPDATE = registry.declare("system:param:update", "Edit parameters")
PARAM_DELETE = registry.declare("system:param:delete", "Delete parameters")

NOTICE_LIST = registry.declare("system:notice:list", "List all notices, drafts included")
NOTICE_READ = registry.declare("system:notice:read", "View a notice")
NOTICE_CREATE = registry.declare("system:notice:create", "Create notices")
NOTICE_UPDATE = registry.declare("system:notice:update", "Edit and publish notices")
NOTICE_DELETE = registry.declare("system:notice:delete", "Delete notices")

OPERATION_LOG_LIST = registry.declare("system:operation-log:list", "Read the operation log")
OPERATION_LOG_EXPORT = registry.declare("system:operation-log:export", "Export the operation log")
OPERATION_LOG_CLEAR = registry.declare("system:operation-log:clear", "Clear the operation log")

LOGIN_LOG_LIST = registry.declare("system:login-log:list", "Read the login log")
LOGIN_LOG_EXPORT = registry.declare("system:login-log:export", "Export the login log")
LOGIN_LOG_CLEAR = registry.declare("system:login-log:clear", "Clear the login log")

USER_IMPORT = registry.declare("system:user:import", "Import users from a spreadsheet")
