"""The module contract: each business module declares itself in one `ModuleSpec`.

`app/modules/<name>/__init__.py` (or an installed package) exposes `module = ModuleSpec(...)`:
routers, models, permission codes, menus, job targets, initial data, settings, lifespan and
middleware. The app includes the routers of the enabled modules -- those listed in `MODULES`,
plus installed plugins found through the entry-point group `fastapiadmin.modules` -- Alembic
imports their models, `init` installs their menus and buttons and loads their initial data.
Adding or removing a module needs no edit here or in any other module. See docs/modules.md.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, TypeVar

from fastapi import APIRouter, FastAPI
from pydantic import ValidationError
from pydantic_settings import BaseSettings
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.middleware import Middleware

from app.core.access import PrincipalResolver
from app.core.cache.namespaces import protect_namespace
from app.core.config import ConfigError, Settings, env_file_for

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
    # Import path of the module's job targets (`jobs.py`), registered for the scheduler.
    jobs: str | None = None
    # Import path of the module's permission codes (`permissions.py`, `registry.declare`);
    # `init` makes one button per code under the page whose permission is `<m>:<r>:list`.
    permissions: str | None = None
    # Menu entries `init` installs (matched by `name`, never overwritten): dicts with name,
    # title, type (directory | menu), path, component, icon, permission, sort, children.
    menus: Sequence[Mapping[str, Any]] = ()
    # The module's own settings: a pydantic-settings class with an `env_prefix` (e.g. BLOG_),
    # read from the environment and env/.env.<env> like the core settings.
    settings: type[BaseSettings] | None = None
    # Who the caller is, for the core's route guard (`app.core.guard`): provided by the one
    # identity module (system); every other module guards its routes through the core.
    principal_resolver: PrincipalResolver | None = None
    # The cache namespaces holding the module's state rather than cache (sessions, counters,
    # queues), with what each holds: protected from the operator's "clear namespace" while
    # the module is enabled (`app.core.cache.namespaces`).
    cache_namespaces: Mapping[str, str] = field(default_factory=dict)


ENTRY_POINT_GROUP = "fastapiadmin.modules"


def load_module(name: str) -> ModuleSpec:
    """The spec of `name`: `app.modules.<name>`, a dotted path (`pkg.sub`), or an entry-point
    value (`pkg:attribute`, the attribute defaulting to `module`)."""
    path, colon, attribute = name.partition(":")
    if not colon and "." not in path:
        path = f"app.modules.{path}"
    try:
        package = importlib.import_module(path)
    except ModuleNotFoundError as exc:
        if exc.name and path.startswith(exc.name):
            raise ConfigError(f"invalid setting MODULES: no module named {name!r}") from None
        raise
    spec = getattr(package, attribute or "module", None)
    if not isinstance(spec, ModuleSpec):
        raise ConfigError(
            f"invalid setting MODULES: {name} does not define `module = ModuleSpec(...)`"
        )
    return spec


def plugin_modules() -> list[str]:
    """The modules installed packages declare in the entry-point group `fastapiadmin.modules`
    (`name = "package"` or `name = "package:attribute"`), as `package:attribute`."""
    found = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        package, _, attribute = ep.value.partition(":")
        found.append(f"{package.strip()}:{attribute.strip() or 'module'}")
    return sorted(found)


def local_modules() -> list[str]:
    """The packages under `app/modules/` (what `*` in MODULES stands for)."""
    import app.modules

    return sorted(info.name for info in pkgutil.iter_modules(app.modules.__path__) if info.ispkg)


def module_names(settings: Settings) -> list[str]:
    """MODULES with `*` expanded to every package under app/modules, then the plugins, minus
    MODULES_DISABLED; duplicates dropped, first occurrence kept."""
    names: list[str] = []
    for name in settings.modules:
        names += local_modules() if name == "*" else [name]
    if settings.module_plugins:
        names += plugin_modules()
    disabled = set(settings.modules_disabled)
    return [
        name
        for index, name in enumerate(names)
        if name not in names[:index] and name not in disabled
    ]


def enabled_module_names(settings: Settings) -> list[str]:
    """The names of the enabled modules, in load order: the one answer to "is it enabled?"
    for the server, the worker, `init` and the startup log (MODULES means nothing before
    `*`, the plugins and MODULES_DISABLED are applied)."""
    return [spec.name for spec in load_modules(settings)]


def is_enabled(settings: Settings, name: str) -> bool:
    """Whether module `name` is enabled (see `enabled_module_names`)."""
    return name in enabled_module_names(settings)


def load_modules(settings: Settings) -> list[ModuleSpec]:
    """The enabled modules, each after the modules it depends on (otherwise in the order
    given), with their permission codes declared and their cache namespaces protected."""
    specs: dict[str, ModuleSpec] = {}
    for name in module_names(settings):
        spec = load_module(name)
        if spec.name in specs:
            raise ConfigError(f"invalid setting MODULES: two modules are named {spec.name!r}")
        if spec.name in settings.modules_disabled:
            continue
        specs[spec.name] = spec
    for spec in specs.values():
        missing = [dep for dep in spec.depends_on if dep not in specs]
        if missing:
            raise ConfigError(
                f"invalid setting MODULES: {spec.name} needs {', '.join(missing)} enabled too"
            )
        if spec.permissions:
            importlib.import_module(spec.permissions)
        for namespace, reason in spec.cache_namespaces.items():
            protect_namespace(namespace, reason)
    ordered: list[ModuleSpec] = []

    def visit(spec: ModuleSpec, path: tuple[str, ...]) -> None:
        if spec in ordered:
            return
        if spec.name in path:
            raise ConfigError(f"invalid setting MODULES: circular depends_on via {spec.name}")
        for dep in spec.depends_on:
            visit(specs[dep], (*path, spec.name))
        ordered.append(spec)

    for spec in specs.values():
        visit(spec, ())
    return ordered


S = TypeVar("S", bound=BaseSettings)


def load_module_settings(spec: ModuleSpec, settings: Settings) -> BaseSettings | None:
    """The module's settings, from the environment and the same env file as the core ones."""
    if spec.settings is None:
        return None
    return read_module_settings(spec.settings, settings)


def read_module_settings(cls: type[S], settings: Settings) -> S:
    """Module settings class `cls`, read like the core settings: the overrides given to
    `load_settings` (by their full name, `scheduler_enabled`), the environment, then
    env/.env.<env>. For code that holds the core settings only (a worker, a job target)."""
    env_file = env_file_for(settings.app_env)
    prefix = str(cls.model_config.get("env_prefix", "")).lower()
    given = {
        name.lower().removeprefix(prefix): value
        for name, value in settings.module_overrides.items()
        if name.lower().startswith(prefix) and name.lower().removeprefix(prefix) in cls.model_fields
    }
    try:
        return cls(_env_file=env_file if env_file.is_file() else None, **given)
    except ValidationError as exc:
        error = exc.errors()[0]
        name = f"{prefix}{error['loc'][0]}".upper() if error["loc"] else cls.__name__
        raise ConfigError(f"invalid setting {name}: {error['msg']}") from None


def module_settings(state: Any, cls: type[S]) -> S:
    """The instance of the module settings class `cls` (`app.state` or a request's)."""
    found = getattr(state, "module_settings", {}).get(cls)
    if not isinstance(found, cls):
        raise LookupError(f"{cls.__name__} is not the settings of an enabled module")
    return found


def import_jobs(specs: Sequence[ModuleSpec]) -> None:
    """Import every enabled module's `jobs.py`, which registers its job targets."""
    for spec in specs:
        if spec.jobs:
            importlib.import_module(spec.jobs)


def import_models(specs: Sequence[ModuleSpec]) -> None:
    """Import every enabled module's models so that `Base.metadata` knows all tables."""
    for spec in specs:
        for path in spec.models:
            importlib.import_module(path)
