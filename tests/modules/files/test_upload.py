"""Uploads (`POST /api/v1/files`): accepted types, type spoofing, size limits enforced while
streaming, server-generated storage keys, and safe file names."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from app.modules.files.models import StoredFile
from app.modules.files.permissions import FILE_LIST, FILE_READ, FILE_UPLOAD
from tests.modules.files.helpers import (
    KEY_PATTERN,
    READ_FIELDS,
    SAMPLES,
    URL,
    docx,
    multipart,
    plain_zip,
    png,
    raw_request,
    stored_files,
    upload,
    upload_ok,
)
from tests.support.identity import auth_headers, create_dept, create_role, create_user

HTML = b"<!doctype html><html><script>alert(document.cookie)</script></html>"
ELF = b"\x7fELF\x02\x01\x01\x00" + bytes(200)
PE = b"MZ\x90\x00" + bytes(60) + b"PE\x00\x00" + bytes(200)


async def uploader(
    app: FastAPI, permissions: tuple[str, ...] = (FILE_UPLOAD,)
) -> tuple[int, int, dict[str, str]]:
    async with app.state.sessionmaker() as db, db.begin():
        dept = await create_dept(db)
        role = await create_role(db, permissions=list(permissions), data_scope="self")
        user = await create_user(db, roles=[role], dept_id=dept.id)
    return user.id, dept.id, await auth_headers(app, user)


async def rows(app: FastAPI) -> list[StoredFile]:
    async with app.state.sessionmaker() as db:
        return list((await db.execute(select(StoredFile).order_by(StoredFile.id))).scalars())


async def count_rows(app: FastAPI) -> int:
    async with app.state.sessionmaker() as db:
        return int(await db.scalar(select(func.count()).select_from(StoredFile)) or 0)


async def test_upload_stores_bytes_and_metadata(
    app: FastAPI, client: httpx.AsyncClient, storage_root: Path
) -> None:
    user_id, dept_id, headers = await uploader(app)
    data = png(50_000)
    body = await upload_ok(client, headers, "Holiday photo.PNG", data)
    assert set(body) == READ_FIELDS
    assert body["original_name"] == "Holiday photo.PNG"
    assert (body["content_type"], body["extension"], body["size"]) == ("image/png", "png", 50_000)
    assert body["sha256"] == hashlib.sha256(data).hexdigest()
    assert body["owner_id"] == user_id

    [row] = await rows(app)
    assert row.id == body["id"]
    assert KEY_PATTERN.match(row.storage_key), row.storage_key
    assert row.storage_key.endswith(".png")
    assert (row.backend, row.dept_id, row.owner_id) == ("local", dept_id, user_id)
    assert stored_files(storage_root) == [row.storage_key]
    assert (storage_root / row.storage_key).read_bytes() == data
    # Neither the key nor the storage path is ever shown.
    assert row.storage_key not in str(body)
    assert str(storage_root) not in str(body)


@pytest.mark.parametrize("extension", sorted(SAMPLES))
async def test_every_allowed_type_is_accepted(
    app: FastAPI, client: httpx.AsyncClient, extension: str
) -> None:
    _, _, headers = await uploader(app)
    data, media_type = SAMPLES[extension]
    body = await upload_ok(client, headers, f"sample.{extension}", data)
    assert (body["extension"], body["content_type"], body["size"]) == (
        extension,
        media_type,
        len(data),
    )


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("avatar.png", HTML),
        ("avatar.png", ELF),
        ("avatar.png", PE),
        ("scan.pdf", PE),
        ("photo.jpg", png()),
        ("report.xlsx", plain_zip()),
        ("report.docx", SAMPLES["xlsx"][0]),
        ("notes.txt", HTML),
        ("notes.txt", ELF),
        ("data.csv", png()),
        ("data.csv", b"a,b\n\xc3\x28\n"),
        ("empty.txt", b""),
    ],
)
async def test_type_spoofing_is_refused(
    app: FastAPI, client: httpx.AsyncClient, storage_root: Path, name: str, data: bytes
) -> None:
    """docs/security-checklist.md §0 #13, ASVS 5.2.2: content that does not match its extension is a
    422
    naming `file`; nothing is kept."""
    _, _, headers = await uploader(app)
    response = await upload(client, headers, name, data)
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == ["file"]
    assert await count_rows(app) == 0
    assert stored_files(storage_root) == []


@pytest.mark.parametrize(
    "name", ["page.html", "setup.exe", "logo.svg", "script.js", "README", "archive.tar.gz", ".png"]
)
async def test_disallowed_extensions_are_refused(
    app: FastAPI, client: httpx.AsyncClient, storage_root: Path, name: str
) -> None:
    _, _, headers = await uploader(app)
    response = await upload(client, headers, name, b"plain text is fine content")
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["field"] == "file"
    assert "allowed: csv, docx, gif" in error["message"]
    assert stored_files(storage_root) == []


async def test_allowed_types_come_from_settings(
    app: FastAPI, client: httpx.AsyncClient, override_settings: Callable[..., None]
) -> None:
    _, _, headers = await uploader(app)
    override_settings(file_allowed_types=["png", "exe"])  # exe is unknown to detection
    assert (await upload(client, headers, "a.png", png())).status_code == 201
    for name, data in (("a.pdf", SAMPLES["pdf"][0]), ("a.exe", PE)):
        response = await upload(client, headers, name, data)
        assert response.status_code == 422
        assert response.json()["errors"][0]["message"].endswith("allowed: png")


async def test_size_limit_is_exact(
    app: FastAPI,
    client: httpx.AsyncClient,
    storage_root: Path,
    override_settings: Callable[..., None],
) -> None:
    _, _, headers = await uploader(app)
    override_settings(file_max_size=4096)
    assert (await upload(client, headers, "max.png", png(4096))).status_code == 201
    response = await upload(client, headers, "over.png", png(4097))
    assert response.status_code == 413
    assert response.json()["errors"][0]["field"] == "file"
    assert await count_rows(app) == 1
    assert len(stored_files(storage_root)) == 1


async def test_default_limit_applies(
    app: FastAPI, client: httpx.AsyncClient, storage_root: Path
) -> None:
    """docs/security-checklist.md §0 #13, ASVS 5.2.1: FILE_MAX_SIZE (10 MiB by default): one byte
    more is a
    413 and nothing is stored."""
    _, _, headers = await uploader(app)
    limit = app.state.settings.file_max_size
    response = await upload(client, headers, "big.txt", b"a" * (limit + 1))
    assert response.status_code == 413
    assert await count_rows(app) == 0
    assert stored_files(storage_root) == []


def endless(chunk: bytes, total: int) -> Iterator[bytes]:
    """A multipart body of `total` file bytes, produced lazily."""
    body, _ = multipart([("file", "huge.txt", b"")])
    head, _, tail = body.partition(b"\r\n\r\n")
    yield head + b"\r\n\r\n"
    for _ in range(total // len(chunk)):
        yield chunk
    yield tail


async def test_oversize_stream_is_cut_off_without_reading_it_all(
    app: FastAPI, storage_root: Path, override_settings: Callable[..., None]
) -> None:
    """docs/security-checklist.md §0 #13, API4: no Content-Length (chunked): the upload stops just
    past the
    limit, not at the end."""
    _, _, headers = await uploader(app)
    override_settings(file_max_size=256 * 1024)
    _, content_type = multipart([])
    response = await raw_request(
        app, "POST", URL, {**headers, **content_type}, endless(b"a" * 65536, 200 * 1024 * 1024)
    )
    assert response.status == 413
    assert response.consumed < 512 * 1024  # of a 200 MiB body
    assert await count_rows(app) == 0
    assert stored_files(storage_root) == []


async def test_announced_oversize_is_refused_before_reading(
    app: FastAPI, override_settings: Callable[..., None]
) -> None:
    _, _, headers = await uploader(app)
    override_settings(file_max_size=1024 * 1024)
    _, content_type = multipart([])
    announced = {**headers, **content_type, "Content-Length": str(5 * 1024 * 1024)}
    response = await raw_request(app, "POST", URL, announced, endless(b"a" * 65536, 5 << 20))
    assert response.status == 413
    assert response.consumed == 0


async def test_permission_is_checked_before_the_body_is_read(app: FastAPI) -> None:
    _, _, headers = await uploader(app, permissions=(FILE_LIST,))
    _, content_type = multipart([])
    for auth in (headers, {}):
        response = await raw_request(
            app, "POST", URL, {**auth, **content_type}, endless(b"a" * 65536, 1 << 20)
        )
        assert response.status == (403 if auth else 401)
        assert response.consumed == 0
    assert await count_rows(app) == 0


@pytest.mark.parametrize(
    ("raw_name", "kept"),
    [
        ("../../etc/passwd.png", "passwd.png"),
        ("..\\..\\windows\\system32\\evil.png", "evil.png"),
        ("..%2F..%2Fetc%2Fpasswd.png", "%2F..%2Fetc%2Fpasswd.png"),
        ("%2e%2e%2f%2e%2e%2fpasswd.png", "%2e%2e%2f%2e%2e%2fpasswd.png"),
        ("/etc/cron.d/job.png", "job.png"),
        ("C:\\Users\\me\\photo.png", "photo.png"),
        ("....//....//photo.png", "photo.png"),
        ("photo\u202egnp.png", "photognp.png"),
        ("tab\there\x7f\x1b.png", "tabhere.png"),
        ("  .hidden.png  ", "hidden.png"),
        ("报告 2026.png", "报告 2026.png"),
        ("x" * 300 + ".png", "x" * 251 + ".png"),
    ],
)
async def test_client_file_names_are_metadata_only(
    app: FastAPI, client: httpx.AsyncClient, storage_root: Path, raw_name: str, kept: str
) -> None:
    """docs/security-checklist.md §0 #13, ASVS 5.3.2: path traversal via the file name: the name is
    sanitised metadata, the storage key is generated server-side."""
    _, _, headers = await uploader(app)
    body, content_type = multipart([("file", raw_name, png())])
    response = await client.post(URL, content=body, headers={**headers, **content_type})
    assert response.status_code == 201, response.text
    assert response.json()["data"]["original_name"] == kept
    [row] = await rows(app)
    assert row.original_name == kept
    assert stored_files(storage_root) == [row.storage_key]
    assert KEY_PATTERN.match(row.storage_key)
    assert not (storage_root.parent / "etc").exists()


async def test_names_that_reduce_to_nothing_are_refused(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    _, _, headers = await uploader(app)
    for raw_name in ("../../", "..", "\x00\x01", "dir/"):
        body, content_type = multipart([("file", raw_name, png())])
        response = await client.post(URL, content=body, headers={**headers, **content_type})
        assert response.status_code == 422, raw_name
        assert response.json()["errors"][0]["field"] == "file"
    assert await count_rows(app) == 0


@pytest.mark.parametrize(
    ("parts", "field"),
    [
        ([("other", "a.png", png())], "file"),  # wrong field
        ([("file", None, png())], "file"),  # a field, not a file
        ([("file", "a.png", png()), ("file", "b.png", png())], "file"),  # two files
        ([], "file"),
    ],
)
async def test_malformed_uploads_are_422(
    app: FastAPI,
    client: httpx.AsyncClient,
    storage_root: Path,
    parts: list[tuple[str, str | None, bytes]],
    field: str,
) -> None:
    _, _, headers = await uploader(app)
    body, content_type = multipart(parts)
    response = await client.post(URL, content=body, headers={**headers, **content_type})
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == [field]
    assert await count_rows(app) == 0
    assert stored_files(storage_root) == []


async def test_other_fields_are_ignored(app: FastAPI, client: httpx.AsyncClient) -> None:
    _, _, headers = await uploader(app)
    body, content_type = multipart([("note", None, b"hello"), ("file", "a.png", png())])
    response = await client.post(URL, content=body, headers={**headers, **content_type})
    assert response.status_code == 201


async def test_not_multipart_is_422(app: FastAPI, client: httpx.AsyncClient) -> None:
    _, _, headers = await uploader(app)
    response = await client.post(URL, json={"file": "x"}, headers=headers)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "file"


async def test_truncated_body_is_400_and_nothing_is_kept(
    app: FastAPI, client: httpx.AsyncClient, storage_root: Path
) -> None:
    _, _, headers = await uploader(app)
    body, content_type = multipart([("file", "a.zip", docx())])
    cut = body[: len(body) - 40]  # the closing boundary never arrives
    response = await client.post(URL, content=cut, headers={**headers, **content_type})
    assert response.status_code == 400
    assert await count_rows(app) == 0
    assert stored_files(storage_root) == []


async def test_many_uploads_get_distinct_keys(
    app: FastAPI, client: httpx.AsyncClient, storage_root: Path
) -> None:
    _, _, headers = await uploader(app)
    data = png()
    for _ in range(5):
        await upload_ok(client, headers, "same.png", data)
    keys = [row.storage_key for row in await rows(app)]
    assert len(set(keys)) == 5
    assert stored_files(storage_root) == sorted(keys)
    assert {row.sha256 for row in await rows(app)} == {hashlib.sha256(data).hexdigest()}


async def test_upload_needs_the_permission(app: FastAPI, client: httpx.AsyncClient) -> None:
    _, _, headers = await uploader(app, permissions=(FILE_LIST, FILE_READ))
    response = await upload(client, headers, "a.png", png())
    assert response.status_code == 403
    assert response.json()["message"] == f"Permission denied: {FILE_UPLOAD}"
    assert (await upload(client, {}, "a.png", png())).status_code == 401
    assert await count_rows(app) == 0


def _chunks(data: bytes, size: int) -> Iterator[bytes]:
    it = iter(data)
    while chunk := bytes(itertools.islice(it, size)):
        yield chunk


async def test_upload_in_tiny_chunks(app: FastAPI, storage_root: Path) -> None:
    """Boundaries and part headers split across any chunking are parsed correctly."""
    _, _, headers = await uploader(app)
    data = SAMPLES["xlsx"][0]
    body, content_type = multipart([("note", None, b"x"), ("file", "book.xlsx", data)])
    response = await raw_request(app, "POST", URL, {**headers, **content_type}, _chunks(body, 7))
    assert response.status == 201, response.body
    [row] = await rows(app)
    assert (storage_root / row.storage_key).read_bytes() == data


def test_upload_is_documented_as_multipart(app: FastAPI) -> None:
    schema: dict[str, Any] = app.openapi()["paths"]["/api/v1/files"]["post"]
    content = schema["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert content["properties"]["file"] == {"type": "string", "format": "binary"}
    assert {"201", "413", "422"} <= set(schema["responses"])
