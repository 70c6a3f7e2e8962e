"""System module, the identity module: sign-in (`auth`: login, tokens, sessions, MFA, the
caller's profile), users, roles, menus, departments, positions, dictionaries, parameters,
notices, and the operation and login logs. It provides the core's route guard
(`app.core.guard`); the other modules guard their routes through the core only."""

from starlette.middleware import Middleware

from app.core.modules import ModuleSpec
from app.modules.system.auth.deps import resolve_principal
from app.modules.system.auth.router import router as auth_router
from app.modules.system.bootstrap import load_initial_data
from app.modules.system.branding.router import router as branding_router
from app.modules.system.dept.router import router as dept_router
from app.modules.system.dict.router import dict_data_router, dict_router, dict_type_router
from app.modules.system.lifespan import system_lifespan
from app.modules.system.login_log.router import router as login_log_router
from app.modules.system.menu.router import router as menu_router
from app.modules.system.notice.router import router as notice_router
from app.modules.system.operation_log.recorder import OperationLogMiddleware
from app.modules.system.operation_log.router import router as operation_log_router
from app.modules.system.param.router import router as param_router
from app.modules.system.position.router import router as position_router
from app.modules.system.role.router import router as role_router
from app.modules.system.user.router import router as user_router

module = ModuleSpec(
    name="system",
    routers=[
        user_router,
        role_router,
        menu_router,
        dept_router,
        position_router,
        operation_log_router,
        login_log_router,
        dict_type_router,
        dict_data_router,
        dict_router,
        param_router,
        notice_router,
        branding_router,
        auth_router,
    ],
    models=[
        "app.modules.system.dept.models",
        "app.modules.system.position.models",
        "app.modules.system.menu.models",
        "app.modules.system.role.models",
        "app.modules.system.user.models",
        "app.modules.system.dict.models",
        "app.modules.system.param.models",
        "app.modules.system.notice.models",
        "app.modules.system.operation_log.models",
        "app.modules.system.login_log.models",
        "app.modules.system.auth.models",
    ],
    initial_data=load_initial_data,
    lifespan=system_lifespan,
    middleware=[Middleware(OperationLogMiddleware)],
    jobs="app.modules.system.jobs",
    permissions="app.modules.system.permissions",
    principal_resolver=resolve_principal,
    # Security state: clearing it would weaken sign-in (monitor's "clear namespace" refuses).
    cache_namespaces={
        "sess": "sessions and their revocation tombstones (logout, force logout, refresh-token "
        "reuse); a tombstone is written before the revocation commits, so clearing it can let "
        "a revoked session through",
        "login": "login failure counters and account+IP lockouts (brute force)",
        "mfa": "counters of wrong MFA codes (brute force)",
    },
)
