"""Branding (`GET /api/v1/system/branding`): public, read-only, driven by the `site.*`
parameters (seeded by the initial data), changes seen on the next read."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from pydantic import SecretStr

from app.core.config import Settings
from app.modules.system.bootstrap import load_initial_data
from tests.support.identity import superuser_headers

URL = "/api/v1/system/branding"


async def test_public_with_defaults_before_any_data(client: httpx.AsyncClient) -> None:
    response = await client.get(URL)  # no token
    assert response.status_code == 200
    assert response.json()["data"] == {
        "site_name": "FastapiAdmin",
        "logo_url": None,
        "login_title": "FastapiAdmin",
        "footer": "",
    }


async def test_driven_by_the_parameters(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    configured = settings.model_copy(
        update={"init_admin_password": SecretStr("a long tea kettle phrase 42")}
    )
    async with app.state.sessionmaker() as db, db.begin():
        await load_initial_data(db, configured)
    seeded = (await client.get(URL)).json()["data"]
    assert seeded == {
        "site_name": "FastapiAdmin",
        "logo_url": None,
        "login_title": "FastapiAdmin",
        "footer": "FastapiAdmin",
    }
    headers = await superuser_headers(app)
    params = (
        await client.get("/api/v1/system/params", params={"page_size": 100}, headers=headers)
    ).json()["data"]["items"]
    ids = {p["key"]: p["id"] for p in params}
    for key, value in {
        "site.name": "Acme Back Office",
        "site.logo_url": "/console/logo.svg",
        "site.login_title": "Acme sign-in",
        "site.footer": "© Acme",
    }.items():
        changed = await client.patch(
            f"/api/v1/system/params/{ids[key]}", json={"value": value}, headers=headers
        )
        assert changed.status_code == 200, changed.text
    assert (await client.get(URL)).json()["data"] == {
        "site_name": "Acme Back Office",
        "logo_url": "/console/logo.svg",
        "login_title": "Acme sign-in",
        "footer": "© Acme",
    }


async def test_read_only(client: httpx.AsyncClient) -> None:
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        response = await client.request(method, URL, json={"site_name": "x"})
        assert response.status_code == 405, method
