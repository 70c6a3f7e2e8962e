"""Several app processes (hosts), one database: files must be readable from every host.

With S3 (moto's server standing in for the object store) a file uploaded through one app
downloads through another, even though each has its own local `FILE_DIR`. With purely local
storage on separate disks the other host cannot find the bytes: it answers a clean 404
(docs/files.md explains why and what to deploy instead).
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import func, select

from app.core.config import Settings
from app.main import create_app
from app.modules.files.models import StoredFile
from app.modules.files.permissions import FILE_READ, FILE_UPLOAD
from app.modules.files.storage import LocalStorage, S3Storage
from tests.conftest import check_envelope, make_settings
from tests.modules.files.conftest import free_port
from tests.modules.files.helpers import URL, png, stored_files, upload_ok
from tests.support.identity import auth_headers, create_role, create_user
from tests.support.timing import LIFESPAN_TIMEOUT


@asynccontextmanager
async def host(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """One more app process on the same database and cache."""
    application = create_app(settings)

    async def checked(response: httpx.Response) -> None:
        await response.aread()
        check_envelope(response)

    async with LifespanManager(
        application, startup_timeout=LIFESPAN_TIMEOUT, shutdown_timeout=LIFESPAN_TIMEOUT
    ):
        transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://testserver",
            event_hooks={"response": [checked]},
        ) as http:
            yield application, http


def host_settings(app: FastAPI, **overrides: Any) -> Settings:
    shared: Settings = app.state.settings
    return make_settings(shared.database_url, cache_prefix=shared.cache_prefix, **overrides)


async def signed_in(app: FastAPI) -> dict[str, str]:
    async with app.state.sessionmaker() as db, db.begin():
        role = await create_role(db, permissions=[FILE_UPLOAD, FILE_READ], data_scope="self")
        user = await create_user(db, roles=[role])
    return await auth_headers(app, user)


async def test_upload_on_one_host_downloads_on_another_with_s3(
    app: FastAPI, tmp_path: Path, s3_settings: dict[str, Any]
) -> None:
    headers = await signed_in(app)
    data = png(3 * 1024 * 1024)
    settings_a = host_settings(app, file_dir=tmp_path / "host-a", **s3_settings)
    settings_b = host_settings(app, file_dir=tmp_path / "host-b", **s3_settings)
    async with host(settings_a) as (app_a, client_a), host(settings_b) as (app_b, client_b):
        assert isinstance(app_a.state.storage, S3Storage)
        assert app_b.state.storage is not app_a.state.storage
        meta = await upload_ok(client_a, headers, "shared.png", data)
        assert meta["sha256"] == hashlib.sha256(data).hexdigest()

        response = await client_b.get(f"{URL}/{meta['id']}/content", headers=headers)
        assert response.status_code == 200
        assert response.content == data
        assert response.headers["content-length"] == str(len(data))
        # Nothing was written to either host's local folder.
        assert stored_files(tmp_path / "host-a") == []
        assert stored_files(tmp_path / "host-b") == []

        # Deleting through B removes the object A would read.
        assert (await client_b.delete(f"{URL}/{meta['id']}", headers=headers)).status_code == 204
        gone = await client_a.get(f"{URL}/{meta['id']}/content", headers=headers)
        assert gone.status_code == 404


async def test_local_storage_on_separate_disks_is_a_clean_404(app: FastAPI, tmp_path: Path) -> None:
    """The documented limitation: local storage is per host unless FILE_DIR is shared."""
    headers = await signed_in(app)
    data = png()
    settings_a = host_settings(app, file_dir=tmp_path / "host-a")
    settings_b = host_settings(app, file_dir=tmp_path / "host-b")
    async with host(settings_a) as (_, client_a), host(settings_b) as (app_b, client_b):
        assert isinstance(app_b.state.storage, LocalStorage)
        meta = await upload_ok(client_a, headers, "local.png", data)
        assert len(stored_files(tmp_path / "host-a")) == 1

        response = await client_b.get(f"{URL}/{meta['id']}/content", headers=headers)
        assert response.status_code == 404
        assert response.json()["message"] == "File content not found"
        # The metadata is shared (one database); only the bytes are missing on B.
        assert (await client_b.get(f"{URL}/{meta['id']}", headers=headers)).status_code == 200
        ok = await client_a.get(f"{URL}/{meta['id']}/content", headers=headers)
        assert (ok.status_code, ok.content) == (200, data)


async def test_shared_folder_works_like_one_host(app: FastAPI, tmp_path: Path) -> None:
    """Local storage on a volume both hosts mount (same FILE_DIR) is fine."""
    headers = await signed_in(app)
    data = png()
    settings = host_settings(app, file_dir=tmp_path / "shared")
    async with host(settings) as (_, client_a), host(settings) as (_, client_b):
        meta = await upload_ok(client_a, headers, "nfs.png", data)
        response = await client_b.get(f"{URL}/{meta['id']}/content", headers=headers)
        assert (response.status_code, response.content) == (200, data)


async def test_object_store_down_is_503_and_nothing_is_kept(
    app: FastAPI, tmp_path: Path, s3_settings: dict[str, Any]
) -> None:
    headers = await signed_in(app)
    down = {**s3_settings, "s3_endpoint_url": f"http://127.0.0.1:{free_port()}", "s3_timeout": 1}
    async with host(host_settings(app, **down)) as (_, client):
        response = await client.post(
            URL, files={"file": ("a.png", png(), "image/png")}, headers=headers
        )
        assert response.status_code == 503
        assert response.json()["message"] == "Service temporarily unavailable: file storage"
        assert response.headers["retry-after"]
    async with app.state.sessionmaker() as db:
        assert await db.scalar(select(func.count()).select_from(StoredFile)) == 0
    assert stored_files(tmp_path) == []
