"""The application factory.

`uvicorn --factory app.main:create_app` (what `python main.py run` does) builds one app per
worker process: settings, logging, the database engine, the cache, middleware, error handlers,
docs and the routers of every enabled module.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import structlog
from fastapi import APIRouter, Depends, FastAPI
from fastapi.routing import APIRoute

from app.core.cache import create_cache
from app.core.config import Settings, load_settings
from app.core.database import create_engine, create_read_sessionmaker, create_sessionmaker
from app.core.docs import DOCS_PREFIXES, OPENAPI_URL, install_docs
from app.core.errors import install_error_handlers
from app.core.guard import install_principal_resolver
from app.core.logging import configure_logging
from app.core.metrics import install_metrics
from app.core.middleware import MAX_BODY_BYTES, build_middleware
from app.core.modules import load_module_settings, load_modules
from app.core.openapi import operation_id
from app.core.retry import transaction_retry
from app.core.routing import (
    declare_shared_responses,
    fast_matching,
    refuse_unknown_query,
    relative_slash_redirects,
)

log = structlog.get_logger("app")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    if settings.is_production:
        # Production never migrates implicitly; refuse to serve a schema the code does not expect.
        from app.core.migrations import pending_message

        message = await pending_message(app.state.engine)
        if message:
            raise RuntimeError(message)
    if app.state.metrics is not None:
        app.state.metrics.instrument_pool(app.state.engine)
    log.info(
        "startup",
        env=settings.app_env,
        database=settings.db_dialect,
        cache=app.state.cache.backend,
        modules=[spec.name for spec in app.state.modules],  # what `*` and the rest enabled
        modules_disabled=list(settings.modules_disabled),
    )
    async with AsyncExitStack() as stack:
        for spec in app.state.modules:
            if spec.lifespan is not None:
                await stack.enter_async_context(spec.lifespan(app))
        try:
            yield
        finally:
            # Module lifespans close first (last started, first stopped): they may still
            # need the database and cache to flush what they hold.
            await stack.aclose()
            await app.state.cache.close()
            await app.state.engine.dispose()
            if app.state.metrics is not None:
                app.state.metrics.close()
            log.info("shutdown")


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the application for `settings` (default: from the environment)."""
    settings = settings or load_settings()
    configure_logging(settings)
    modules = load_modules(settings)

    app = FastAPI(
        title=settings.app_name,
        version="0.1.0",
        summary="Enterprise admin backend: identity, RBAC, audit, monitoring, jobs, files.",
        openapi_url=OPENAPI_URL if settings.docs_on else None,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
        middleware=[
            *build_middleware(settings, DOCS_PREFIXES),
            *(m for spec in modules for m in spec.middleware),
            # Innermost: a request the database broke as a deadlock runs again from here.
            *transaction_retry(settings.db_retry_attempts, max_body=MAX_BODY_BYTES),
        ],
    )
    app.state.settings = settings
    app.state.modules = modules
    install_principal_resolver(app, modules)
    app.state.module_settings = {
        spec.settings: load_module_settings(spec, settings) for spec in modules if spec.settings
    }
    app.state.engine = create_engine(settings)
    app.state.sessionmaker = create_sessionmaker(app.state.engine)
    app.state.read_sessionmaker = create_read_sessionmaker(app.state.engine, settings)
    app.state.cache = create_cache(
        settings.redis_url,
        prefix=settings.cache_prefix,
        socket_timeout=settings.redis_socket_timeout,
        connect_timeout=settings.redis_connect_timeout,
    )
    install_metrics(app, settings)
    install_error_handlers(app)
    if settings.docs_on:
        install_docs(app)
    routers = [router for spec in modules for router in spec.routers]
    if settings.enable_test_routes:  # fault-injection tests only; refused in production
        from app.core.testing import router as test_router

        routers.append(test_router)
    for router in routers:
        _summaries_from_docstrings(router)
        declare_shared_responses(router)
        # Every route refuses query parameters it does not read (docs/http.md).
        app.include_router(fast_matching(router), dependencies=[Depends(refuse_unknown_query)])
    relative_slash_redirects(app)
    return app


def _summaries_from_docstrings(router: APIRouter) -> None:
    """House style: an endpoint's one-line docstring is its OpenAPI summary."""
    for route in router.routes:
        if isinstance(route, APIRoute) and not route.summary and route.endpoint.__doc__:
            route.summary = route.endpoint.__doc__.strip().splitlines()[0].rstrip(".")
