"""Every list route bounds its count and pages by cursor (docs/performance.md, "Lists at any
size"): a list that counted all its rows, or read a deep page by OFFSET, would cost more the
larger the table. A new list that forgets `cursor_key` / `exact_count_limit` fails here."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from app.core.pagination import ListDeclaration, declaration_of

# Lists exempt from the rule, each with its reason.
EXEMPT: set[str] = set()


def _declarations(dependant: Dependant) -> list[ListDeclaration]:
    found: list[ListDeclaration] = []
    for sub in dependant.dependencies:
        declared = declaration_of(sub.call) if sub.call is not None else None
        if declared is not None:
            found.append(declared)
        found += _declarations(sub)
    return found


def _query_names(dependant: Dependant) -> set[str]:
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def _lists(app: FastAPI) -> list[tuple[str | None, Any]]:
    return [
        (context.path, context.dependant)
        for context in iter_route_contexts(app.routes)
        if isinstance(context.original_route, APIRoute)
        and "GET" in (context.methods or {"GET"})
        and "page_size" in _query_names(context.dependant)
    ]


def test_every_list_route_declares_a_bounded_count_and_a_cursor(app: FastAPI) -> None:
    lists = _lists(app)
    assert len(lists) >= 14  # users, roles, depts, ... : the walk finds them
    missing = []
    for path, dependant in lists:
        if path in EXEMPT:
            continue
        declared = _declarations(dependant)
        if not (
            len(declared) == 1
            and declared[0].cursor_key is not None
            and declared[0].exact_count_limit is not None
        ):
            missing.append(path)
    assert missing == []
    assert {"/api/v1/system/users", "/api/v1/articles", "/api/v1/examples"} <= {p for p, _ in lists}
