"""Auth module: login, tokens, sessions, MFA, captcha and the caller's own profile."""

from app.core.modules import ModuleSpec
from app.modules.auth.router import router

module = ModuleSpec(
    name="auth",
    routers=[router],
    models=["app.modules.auth.models"],
    depends_on=("system",),
    permissions="app.modules.auth.permissions",
)
