"""Operation ids a generated client can use as names (`users-list`, `auth-login`): every
route of every module, and of modules the generator writes, gets one from `app.core.openapi`."""

from __future__ import annotations

import re
from collections import Counter
from types import SimpleNamespace

from fastapi import FastAPI

from app.core.openapi import operation_id

OPERATION_ID = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)+$")


def operations(app: FastAPI) -> dict[tuple[str, str], str]:
    return {
        (method.upper(), path): operation["operationId"]
        for path, item in app.openapi()["paths"].items()
        for method, operation in item.items()
    }


def test_every_operation_id_is_a_name_and_unique(app: FastAPI) -> None:
    ids = operations(app)
    assert len(ids) > 100  # every module is enabled in the tests
    bad = {key: value for key, value in ids.items() if not OPERATION_ID.match(value)}
    assert not bad, bad
    repeated = [value for value, count in Counter(ids.values()).items() if count > 1]
    assert not repeated, repeated


def test_the_names_follow_resource_and_action(app: FastAPI) -> None:
    ids = operations(app)
    expected = {
        ("GET", "/api/v1/system/users"): "users-list",
        ("GET", "/api/v1/system/users/{user_id}"): "users-get",
        ("POST", "/api/v1/system/users"): "users-create",
        ("POST", "/api/v1/system/users/{user_id}/reset-password"): "users-reset-password",
        ("POST", "/api/v1/auth/login"): "auth-login",
        ("GET", "/api/v1/auth/me/menus"): "auth-get-my-menus",
        ("GET", "/api/v1/system/positions"): "positions-list",
        ("PATCH", "/api/v1/system/positions/{position_id}"): "positions-update",
        ("GET", "/api/v1/system/operation-logs"): "operation-log-list",
        ("GET", "/api/v1/system/dict-types"): "dictionaries-list-types",
        ("GET", "/api/v1/system/params"): "parameters-list",
        ("GET", "/api/v1/system/branding"): "branding-get",
        # The example module is exactly what `main.py generate` writes
        # (tests/devtools/test_generator.py): generated modules get the same names.
        ("GET", "/api/v1/examples"): "example-list",
        ("DELETE", "/api/v1/examples/{example_id}"): "example-delete",
        ("GET", "/api/v1/articles/{article_id}"): "articles-get",
    }
    assert {key: ids.get(key) for key in expected} == expected


def test_the_rule_on_names_a_generated_module_may_have() -> None:
    def route(name: str, tags: list[str], path: str = "/api/v1/x") -> SimpleNamespace:
        return SimpleNamespace(name=name, tags=tags, path_format=path, path=path)

    assert operation_id(route("list_purchase_orders", ["purchase_order"])) == (
        "purchase-order-list"
    )
    assert operation_id(route("get_purchase_order", ["purchase_order"])) == "purchase-order-get"
    assert operation_id(route("list_categories", ["shop: categories"])) == "categories-list"
    assert operation_id(route("get_category", ["shop: categories"])) == "categories-get"
    # No tag: the first path segment after the API prefix names the resource.
    assert operation_id(route("list_things", [], "/api/v1/things/{id}")) == "things-list"
    # A function named only after its resource keeps its words.
    assert operation_id(route("users", ["users"])) == "users-users"
