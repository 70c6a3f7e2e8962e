"""Mass assignment on every write operation (docs/security-checklist.md §0 #4, §2 API3 (a), ASVS
15.3.3):
every JSON body refuses keys it does not declare, and privileged keys sent to any create or
update are a 422 naming them. Field-level rules on declared fields (`status`, `dept_id`,
`role_ids` of users, ...) have their own tests per module (see docs/security.md)."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from tests.security.routes import fill, operations
from tests.support.identity import superuser_headers

PRIVILEGED = (
    "is_superuser",
    "roles",
    "role_ids",
    "dept_id",
    "password_hash",
    "status",
    "created_by",
    "author_id",
    "owner_id",
    "id",
    "created_at",
    "permissions",
    "mfa_secret",
)


def _json_writes(app: FastAPI) -> list[tuple[str, str, set[str]]]:
    """(METHOD, path, declared body fields) of every operation taking a JSON object."""
    components = app.openapi()["components"]["schemas"]
    found = []
    for method, path, operation in operations(app):
        media = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if media is None:
            continue
        schema = components[media["schema"]["$ref"].rsplit("/", 1)[1]]
        found.append((method, path, set(schema.get("properties", {}))))
    return found


def test_every_json_body_forbids_undeclared_keys(app: FastAPI) -> None:
    """§0 #4: `additionalProperties: false` on every JSON request body (extra="forbid")."""
    components = app.openapi()["components"]["schemas"]
    open_bodies = []
    checked = 0
    for method, path, operation in operations(app):
        media = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if media is None:  # form logins and multipart uploads have no undeclared-key case
            continue
        checked += 1
        schema = components[media["schema"]["$ref"].rsplit("/", 1)[1]]
        if schema.get("additionalProperties") is not False:
            open_bodies.append(f"{method} {path}")
    assert not open_bodies, open_bodies
    assert checked >= 25, checked


async def test_privileged_keys_are_refused_on_every_write(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """§0 #4, API3: even a superuser's request with an undeclared privileged key is a 422
    naming it (validation runs before the id is looked up, so the id need not exist)."""
    headers = await superuser_headers(app)
    writes = _json_writes(app)
    assert len(writes) >= 25, writes
    for method, path, declared in writes:
        for key in PRIVILEGED:
            if key in declared:
                continue
            response = await client.request(method, fill(path), json={key: True}, headers=headers)
            assert response.status_code == 422, (method, path, key, response.status_code)
            fields = {error["field"] for error in response.json()["errors"]}
            assert key in fields, (method, path, key, fields)
