"""What the cross-cutting security tests need to know about the app's operations, read from
the app itself (its routes and its OpenAPI document), so new modules are covered unasked."""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from fastapi.routing import RouteContext

from tests.core.test_access import api_routes, declared, method_of

PARAM = re.compile(r"{[^}]+}")
MISSING_ID = "999999"

__all__ = ["api_routes", "declared", "fill", "method_of", "operations", "protected_routes"]


def fill(path: str, value: str = MISSING_ID) -> str:
    """`path` with every `{param}` replaced by `value`."""
    return PARAM.sub(value, path)


def operations(app: FastAPI) -> list[tuple[str, str, dict[str, Any]]]:
    """(METHOD, path, operation object) of every operation in the OpenAPI document."""
    found = []
    for path, item in app.openapi()["paths"].items():
        for method, operation in item.items():
            found.append((method.upper(), path, operation))
    return found


def protected_routes(app: FastAPI) -> list[tuple[RouteContext, tuple[str, ...]]]:
    """Every route that requires permission codes, with the codes."""
    found = []
    for route in api_routes(app):
        _public, codes = declared(route)
        if codes:
            found.append((route, codes))
    return found
