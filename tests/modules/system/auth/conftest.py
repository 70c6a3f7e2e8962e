from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from app.modules.system.user.models import User
from tests.conftest import _check_response
from tests.support.identity import DEFAULT_PASSWORD, create_role, create_user


async def login(
    client: httpx.AsyncClient, username: str, password: str = DEFAULT_PASSWORD, **form: str
) -> httpx.Response:
    return await client.post(
        "/api/v1/auth/login", data={"username": username, "password": password, **form}
    )


async def solve_captcha(client: httpx.AsyncClient, app: FastAPI) -> dict[str, str]:
    """Fetch a captcha and read its answer from the shared cache (as a human would read it)."""
    captcha = (await client.get("/api/v1/auth/captcha")).json()["data"]
    answer = await app.state.cache.get(f"captcha:{captcha['captcha_id']}")
    assert answer is not None
    return {"captcha_id": captcha["captcha_id"], "captcha_code": answer.decode()}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def alice(app: FastAPI) -> User:
    async with app.state.sessionmaker() as db, db.begin():
        role = await create_role(db, permissions=["system:user:list"], data_scope="self")
        return await create_user(db, username="alice", name="Alice", roles=[role])


def client_from(app: FastAPI, ip: str) -> httpx.AsyncClient:
    """A client whose requests come from `ip` (the app sees it as the peer address)."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(ip, 40000))
    return httpx.AsyncClient(
        transport=transport,
        base_url="http://testserver",
        event_hooks={"response": [_check_response]},
    )


@pytest.fixture
async def other_ip_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_from(app, "198.51.100.23") as http:
        yield http
