"""Reading, downloading, deleting and listing files: the owner, or the permission within the
data scope; everyone else gets 404. Download headers make the bytes inert in a browser."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from app.modules.files.models import StoredFile
from app.modules.files.permissions import FILE_DELETE, FILE_LIST, FILE_READ, FILE_UPLOAD
from app.modules.system.dept.models import Dept
from tests.modules.files.helpers import (
    READ_FIELDS,
    SAMPLES,
    URL,
    png,
    stored_files,
    upload_ok,
)
from tests.support.identity import auth_headers, create_dept, create_role, create_user


async def member(
    app: FastAPI,
    dept: Dept | None,
    permissions: tuple[str, ...] = (),
    scope: str = "self",
    dept_ids: tuple[int, ...] = (),
) -> tuple[int, dict[str, str]]:
    async with app.state.sessionmaker() as db, db.begin():
        role = await create_role(
            db,
            permissions=[FILE_UPLOAD, *permissions],
            data_scope=scope,
            dept_ids=list(dept_ids),
        )
        user = await create_user(db, roles=[role], dept_id=dept.id if dept else None)
    return user.id, await auth_headers(app, user)


async def depts(app: FastAPI) -> tuple[Dept, Dept, Dept]:
    """Sales with a child team, and Engineering."""
    async with app.state.sessionmaker() as db, db.begin():
        sales = await create_dept(db, name="Sales")
        team = await create_dept(db, name="Sales team", parent=sales)
        engineering = await create_dept(db, name="Engineering")
    return sales, team, engineering


async def storage_key(app: FastAPI, file_id: int) -> str:
    async with app.state.sessionmaker() as db:
        key = await db.scalar(select(StoredFile.storage_key).where(StoredFile.id == file_id))
        assert key is not None
        return str(key)


async def reachable(client: httpx.AsyncClient, headers: dict[str, str], file_id: int) -> bool:
    """True if both metadata and content answer 200; both 404 otherwise (never 403)."""
    meta = await client.get(f"{URL}/{file_id}", headers=headers)
    content = await client.get(f"{URL}/{file_id}/content", headers=headers)
    assert meta.status_code == content.status_code, (meta.status_code, content.status_code)
    assert meta.status_code in (200, 404)
    if meta.status_code == 404:
        assert meta.json()["message"] == "File not found"
    return meta.status_code == 200


async def test_download_streams_the_bytes_with_safe_headers(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """docs/security-checklist.md §0 #13, ASVS 5.4.1, 3.2.1: `Content-Disposition: attachment` and
    `nosniff`."""
    sales, _, _ = await depts(app)
    _, headers = await member(app, sales)
    data = png(300_000)
    meta = await upload_ok(client, headers, "Quarterly report 报告; 100%.png", data)

    got = await client.get(f"{URL}/{meta['id']}", headers=headers)
    assert got.status_code == 200
    assert got.json()["data"] == meta
    assert set(meta) == READ_FIELDS

    response = await client.get(f"{URL}/{meta['id']}/content", headers=headers)
    assert response.status_code == 200
    assert response.content == data
    assert response.headers["content-type"] == "image/png"
    assert response.headers["content-length"] == str(len(data))
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "private, no-store"
    disposition = response.headers["content-disposition"]
    ascii_part, _, encoded_part = disposition.partition("; filename*=UTF-8''")
    assert ascii_part == 'attachment; filename="Quarterly report ___ 100_.png"'
    assert unquote(encoded_part) == "Quarterly report 报告; 100%.png"
    assert not {" ", ";", '"'} & set(encoded_part)
    assert "content-encoding" not in response.headers


@pytest.mark.parametrize("extension", ["txt", "csv", "pdf", "xlsx"])
async def test_download_media_types(
    app: FastAPI, client: httpx.AsyncClient, extension: str
) -> None:
    _, headers = await member(app, None)
    data, media_type = SAMPLES[extension]
    meta = await upload_ok(client, headers, f"file.{extension}", data)
    response = await client.get(
        f"{URL}/{meta['id']}/content", headers={**headers, "Accept-Encoding": "identity"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == media_type
    assert response.headers["content-length"] == str(len(data))
    assert response.content == data
    # A client accepting gzip may get compressed text (no Content-Length then): same bytes.
    big = data * (20_000 // len(data) + 1) if extension in ("txt", "csv") else data
    if big is not data:
        meta = await upload_ok(client, headers, f"big.{extension}", big)
    gzipped = await client.get(
        f"{URL}/{meta['id']}/content", headers={**headers, "Accept-Encoding": "gzip"}
    )
    assert gzipped.status_code == 200
    assert gzipped.content == big
    if extension in ("txt", "csv"):
        assert gzipped.headers["content-encoding"] == "gzip"


async def test_owner_reaches_own_file_without_permissions(
    app: FastAPI, client: httpx.AsyncClient, storage_root: Path
) -> None:
    sales, _, _ = await depts(app)
    _, owner = await member(app, sales)  # FILE_UPLOAD only
    meta = await upload_ok(client, owner, "mine.png", png())
    assert await reachable(client, owner, meta["id"])
    assert (await client.get(URL, headers=owner)).status_code == 403  # listing needs FILE_LIST
    key = await storage_key(app, meta["id"])
    assert (storage_root / key).exists()
    assert (await client.delete(f"{URL}/{meta['id']}", headers=owner)).status_code == 204
    assert not (storage_root / key).exists()
    assert stored_files(storage_root) == []
    assert not await reachable(client, owner, meta["id"])


async def test_other_users_without_permission_get_404(
    app: FastAPI, client: httpx.AsyncClient, storage_root: Path
) -> None:
    """§0 #3: another user's file is "not found", even in the same department."""
    sales, _, _ = await depts(app)
    _, owner = await member(app, sales)
    _, colleague = await member(app, sales, (FILE_LIST,), scope="dept")
    meta = await upload_ok(client, owner, "private.png", png())
    assert not await reachable(client, colleague, meta["id"])
    deleted = await client.delete(f"{URL}/{meta['id']}", headers=colleague)
    assert deleted.status_code == 404
    assert len(stored_files(storage_root)) == 1
    for path in (f"/{meta['id']}", f"/{meta['id']}/content"):
        assert (await client.get(URL + path)).status_code == 401
    assert (await client.delete(f"{URL}/{meta['id']}")).status_code == 401


async def test_read_permission_within_scope_only(app: FastAPI, client: httpx.AsyncClient) -> None:
    """§0 #3: FILE_READ reaches files in the data scope; outside it, 404."""
    sales, team, engineering = await depts(app)
    _, sales_owner = await member(app, sales)
    _, team_owner = await member(app, team)
    _, eng_owner = await member(app, engineering)
    _, no_dept_owner = await member(app, None)
    sales_file = (await upload_ok(client, sales_owner, "s.png", png()))["id"]
    team_file = (await upload_ok(client, team_owner, "t.png", png()))["id"]
    eng_file = (await upload_ok(client, eng_owner, "e.png", png()))["id"]
    orphan_file = (await upload_ok(client, no_dept_owner, "o.png", png()))["id"]
    every = [sales_file, team_file, eng_file, orphan_file]

    cases: list[tuple[Dept | None, str, tuple[int, ...], list[int]]] = [
        (sales, "dept", (), [sales_file]),
        (sales, "dept_and_children", (), [sales_file, team_file]),
        (team, "dept_and_children", (), [team_file]),
        (sales, "custom", (engineering.id,), [eng_file]),
        (sales, "self", (), []),
        (None, "all", (), every),
    ]
    for dept, scope, dept_ids, expected in cases:
        _, reader = await member(app, dept, (FILE_READ,), scope, dept_ids)
        seen = [file_id for file_id in every if await reachable(client, reader, file_id)]
        assert seen == expected, (scope, dept_ids)


async def test_delete_permission_within_scope(
    app: FastAPI, client: httpx.AsyncClient, storage_root: Path
) -> None:
    sales, _, engineering = await depts(app)
    _, sales_owner = await member(app, sales)
    _, eng_owner = await member(app, engineering)
    sales_file = (await upload_ok(client, sales_owner, "s.png", png()))["id"]
    eng_file = (await upload_ok(client, eng_owner, "e.png", png()))["id"]
    eng_key = await storage_key(app, eng_file)

    _, reader = await member(app, sales, (FILE_READ,), "dept")
    assert (await client.delete(f"{URL}/{sales_file}", headers=reader)).status_code == 404

    _, deleter = await member(app, sales, (FILE_DELETE,), "dept")
    assert (await client.delete(f"{URL}/{eng_file}", headers=deleter)).status_code == 404
    assert (await client.delete(f"{URL}/{sales_file}", headers=deleter)).status_code == 204
    assert stored_files(storage_root) == [eng_key]
    assert not await reachable(client, sales_owner, sales_file)
    assert (await client.delete(f"{URL}/{sales_file}", headers=deleter)).status_code == 404


async def test_list_is_limited_to_the_data_scope(app: FastAPI, client: httpx.AsyncClient) -> None:
    """§0 #3 and #12: lists show only the scope; sorting is whitelisted."""
    sales, _, engineering = await depts(app)
    _, sales_owner = await member(app, sales)
    _, eng_owner = await member(app, engineering)
    small = await upload_ok(client, sales_owner, "small chart.png", png(100))
    large = await upload_ok(client, sales_owner, "large notes.txt", b"x" * 5000)
    eng = await upload_ok(client, eng_owner, "engineering chart.png", png(1000))

    async def listed(headers: dict[str, str], query: str = "") -> list[int]:
        response = await client.get(f"{URL}?{query}", headers=headers)
        assert response.status_code == 200, response.text
        page: dict[str, Any] = response.json()["data"]
        assert page["total"] == len(page["items"]) or "page_size" in query
        return [item["id"] for item in page["items"]]

    _, sales_lister = await member(app, sales, (FILE_LIST,), "dept")
    assert await listed(sales_lister) == [large["id"], small["id"]]
    _, own_lister = await member(app, engineering, (FILE_LIST,), "self")
    assert await listed(own_lister) == []
    _, all_lister = await member(app, None, (FILE_LIST,), "all")
    assert await listed(all_lister) == [eng["id"], large["id"], small["id"]]
    assert await listed(all_lister, "sort=size") == [small["id"], eng["id"], large["id"]]
    assert await listed(all_lister, "sort=-size&page=2&page_size=2") == [small["id"]]
    assert await listed(all_lister, "name=CHART") == [eng["id"], small["id"]]
    assert await listed(all_lister, "name=%25") == []
    assert await listed(all_lister, "extension=TXT") == [large["id"]]
    assert await listed(all_lister, "sort=original_name") == [
        eng["id"],
        large["id"],
        small["id"],
    ]
    for bad in ("sort=storage_key", "sort=sha256", "extension=../x", "page_size=101"):
        assert (await client.get(f"{URL}?{bad}", headers=all_lister)).status_code == 422, bad
    assert (await client.get(URL)).status_code == 401


async def test_missing_file_is_404(app: FastAPI, client: httpx.AsyncClient) -> None:
    async with app.state.sessionmaker() as db, db.begin():
        admin = await create_user(db, is_superuser=True)
    headers = await auth_headers(app, admin)
    for method, path in (("GET", ""), ("GET", "/content"), ("DELETE", "")):
        response = await client.request(method, f"{URL}/424242{path}", headers=headers)
        assert response.status_code == 404
    assert (await client.get(f"{URL}/0", headers=headers)).status_code == 422


async def test_row_without_bytes_is_a_clean_404(
    app: FastAPI, client: httpx.AsyncClient, storage_root: Path
) -> None:
    """Bytes gone (another host's local disk, manual cleanup): 404, never a 500; delete
    still works so the row can be cleaned up."""
    _, owner = await member(app, None)
    meta = await upload_ok(client, owner, "gone.png", png())
    (storage_root / await storage_key(app, meta["id"])).unlink()
    response = await client.get(f"{URL}/{meta['id']}/content", headers=owner)
    assert response.status_code == 404
    assert response.json()["message"] == "File content not found"
    assert (await client.get(f"{URL}/{meta['id']}", headers=owner)).status_code == 200
    assert (await client.delete(f"{URL}/{meta['id']}", headers=owner)).status_code == 204
