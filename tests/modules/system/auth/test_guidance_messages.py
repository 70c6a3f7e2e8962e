"""Messages that tell a person where to go next (operator experience, item 9): a refusal that
asks for something names the endpoint that provides it, and that endpoint exists."""

from __future__ import annotations

import re

import httpx
from fastapi import FastAPI

from app.core.config import Settings
from tests.modules.system.auth.conftest import login
from tests.support.identity import auth_headers, create_role, create_user

ENDPOINT = re.compile(r"\b(GET|POST|PUT|PATCH|DELETE) (/api/v1/[a-z0-9/_-]+)")


def _named_endpoints(app: FastAPI, message: str) -> list[tuple[str, str]]:
    """The `METHOD /path` pairs a message names; each must be a real operation."""
    named = ENDPOINT.findall(message)
    assert named, message
    paths = app.openapi()["paths"]
    for method, path in named:
        assert method.lower() in paths.get(path, {}), f"{method} {path} is not an operation"
    return named


async def test_password_change_required_names_where_to_change_it(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    async with app.state.sessionmaker() as db, db.begin():
        user = await create_user(db, must_change_password=True, is_superuser=True)
    headers = await auth_headers(app, user)
    response = await client.get("/api/v1/system/users", headers=headers)
    assert response.status_code == 403
    message = response.json()["message"]
    assert ("PUT", "/api/v1/auth/me/password") in _named_endpoints(app, message)


async def test_mfa_enrollment_required_names_where_to_set_it_up(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    async with app.state.sessionmaker() as db, db.begin():
        role = await create_role(db, permissions=["system:user:list"], require_mfa=True)
        user = await create_user(db, roles=[role])
    headers = await auth_headers(app, user)
    response = await client.get("/api/v1/system/users", headers=headers)
    assert response.status_code == 403, response.text
    message = response.json()["message"]
    assert ("POST", "/api/v1/auth/mfa/setup") in _named_endpoints(app, message)


async def test_captcha_required_names_where_to_get_one(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    async with app.state.sessionmaker() as db, db.begin():
        await create_user(db, username="captchauser")
    for _ in range(settings.captcha_after_failures):
        await login(client, "captchauser", "wrong password!")
    response = await login(client, "captchauser")
    assert response.status_code == 400, response.text
    body = response.json()
    assert ("GET", "/api/v1/auth/captcha") in _named_endpoints(app, body["message"])
    assert "captcha_id" in body["message"] and "captcha_code" in body["message"]
    assert "/api/v1/auth/captcha" in body["errors"][0]["message"]
    wrong = await login(client, "captchauser", captcha_id="nope", captcha_code="zzzzz")
    assert wrong.status_code == 400
    assert ("GET", "/api/v1/auth/captcha") in _named_endpoints(app, wrong.json()["message"])
