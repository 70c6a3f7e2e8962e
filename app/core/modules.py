"""The module contract: each business module declares itself in one `ModuleSpec`.

`app/modules/<name>/__init__.py` exposes `module = ModuleSpec(...)`. The app includes the
routers of the enabled modules (setting `MODULES`), Alembic imports their models, and `init`
loads their initial data. Adding a module needs no edit here.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field

from fastapi import APIRouter, FastAPI
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.middleware import Middleware

from app.core.config import ConfigError, Settings

InitialData = Callable[[AsyncSession, Settings], Awaitable[None]]
ModuleLifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


@dataclass(frozen=True)
class ModuleSpec:
    """What one module contributes to the application."""

    name: str
    routers: Sequence[APIRouter] = ()
    # Import paths of the module's SQLAlchemy model modules, so Alembic sees them.
    models: Sequence[str] = ()
    # Loads the module's initial data; must be idempotent (run by every `init`).
    initial_data: InitialData | None = None
    depends_on: Sequence[str] = field(default_factory=tuple)
    # Runs for the lifetime of each app process (start background writers, flush on stop).
    lifespan: ModuleLifespan | None = None
    # ASGI middleware the module adds, innermost of the core stack (inside CORS and GZip).
    middleware: Sequence[Middleware] = ()


def load_module(name: str) -> ModuleSpec:
    """Import `app.modules.<name>` (or a dotted path for a plugin) and return its spec."""
    path = name if "." in name else f"app.modules.{name}"
    try:
        package = importlib.import_module(path)
    except ModuleNotFoundError as exc:
        if exc.name and path.startswith(exc.name):
            raise ConfigError(f"invalid setting MODULES: no module named {name!r}") from None
        raise
    spec = getattr(package, "module", None)
    if not isinstance(spec, ModuleSpec):
        raise ConfigError(
            f"invalid setting MODULES: {path} does not define `module = ModuleSpec(...)`"
        )
    return spec


def load_modules(settings: Settings) -> list[ModuleSpec]:
    """The enabled modules, in the order given, after checking their dependencies."""
    specs = [load_module(name) for name in settings.modules]
    names = {spec.name for spec in specs}
    for spec in specs:
        missing = [dep for dep in spec.depends_on if dep not in names]
        if missing:
            raise ConfigError(
                f"invalid setting MODULES: {spec.name} needs {', '.join(missing)} enabled too"
            )
    return specs


def import_models(specs: Sequence[ModuleSpec]) -> None:
    """Import every enabled module's models so that `Base.metadata` knows all tables."""
    for spec in specs:
        for path in spec.models:
            importlib.import_module(path)
