"""Storage backends: no key ever escapes the local root, writes are all-or-nothing, and the
S3 backend (against moto's server) does the same round trip; an unreachable store is a 503."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from app.core.config import load_settings
from app.modules.files.exceptions import StorageUnavailable
from app.modules.files.storage import (
    FileStorage,
    InvalidKey,
    LocalStorage,
    ObjectNotFound,
    S3Storage,
    storage_for,
)
from tests.modules.files.conftest import free_port
from tests.modules.files.helpers import stored_files

TRAVERSAL_KEYS = [
    "../outside.png",
    "../../etc/passwd",
    "2026/../../outside.png",
    "2026/01/../../../outside.png",
    "/etc/passwd",
    "/tmp/outside.png",
    "..",
    ".",
    "",
    "a//b.png",
    "a/./b.png",
    "a/b/",
    "..\\..\\outside.png",
    "a\\b.png",
    "%2e%2e/outside.png",
    "..%2Foutside.png",
    "2026/01/.hidden",
    "a/b\x00.png",
    "a/\u2025/b.png",
    "x" * 300,
]


async def chunks_of(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def failing_chunks() -> AsyncIterator[bytes]:
    yield b"first part"
    raise RuntimeError("upload refused half-way")


async def read_all(storage: FileStorage, key: str) -> bytes:
    return b"".join([chunk async for chunk in await storage.open(key)])


def s3_storage(overrides: dict[str, Any]) -> S3Storage:
    storage = storage_for(load_settings("test", **overrides))
    assert isinstance(storage, S3Storage)
    return storage


@pytest.fixture(params=["local", "s3"])
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[FileStorage]:
    if request.param == "local":
        yield LocalStorage(tmp_path / "root")
        return
    backend = s3_storage(request.getfixturevalue("s3_settings"))
    yield backend
    await backend.close()


async def test_round_trip(storage: FileStorage) -> None:
    data = os.urandom(200_000)
    key = "2026/01/0123456789abcdef0123456789abcdef.png"
    assert not await storage.exists(key)
    await storage.save(key, chunks_of(data[:1000], data[1000:]))
    assert await storage.exists(key)
    assert await read_all(storage, key) == data
    await storage.delete(key)
    assert not await storage.exists(key)
    await storage.delete(key)  # deleting a missing object is fine
    with pytest.raises(ObjectNotFound):
        await storage.open(key)


async def test_failed_save_leaves_nothing(storage: FileStorage, tmp_path: Path) -> None:
    key = "2026/01/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.png"
    with pytest.raises(RuntimeError, match="half-way"):
        await storage.save(key, failing_chunks())
    assert not await storage.exists(key)
    assert stored_files(tmp_path / "root") == []  # not even a temporary file


@pytest.mark.parametrize("key", TRAVERSAL_KEYS)
async def test_unsafe_keys_are_refused(storage: FileStorage, tmp_path: Path, key: str) -> None:
    """Path traversal: a key can never name anything outside the storage."""
    with pytest.raises(InvalidKey):
        await storage.save(key, chunks_of(b"x"))
    with pytest.raises(InvalidKey):
        await storage.open(key)
    with pytest.raises(InvalidKey):
        await storage.exists(key)
    with pytest.raises(InvalidKey):
        await storage.delete(key)
    assert stored_files(tmp_path) == []


async def test_local_storage_refuses_symlinks(tmp_path: Path) -> None:
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "secret.png"
    secret.write_bytes(b"secret")
    storage = LocalStorage(root)
    await storage.save("2026/01/ok.png", chunks_of(b"ok"))
    (root / "2026" / "link").symlink_to(outside, target_is_directory=True)
    (root / "2026" / "01" / "evil.png").symlink_to(secret)

    for key in ("2026/link/secret.png", "2026/01/evil.png", "2026/link/new.png"):
        with pytest.raises(InvalidKey):
            await storage.open(key)
        with pytest.raises(InvalidKey):
            await storage.save(key, chunks_of(b"overwritten"))
        with pytest.raises(InvalidKey):
            await storage.delete(key)
        with pytest.raises(InvalidKey):
            await storage.exists(key)
    assert secret.read_bytes() == b"secret"
    assert sorted(p.name for p in outside.iterdir()) == ["secret.png"]


async def test_local_write_is_atomic(tmp_path: Path) -> None:
    """Until the last chunk is written the final name does not exist (temp file + replace)."""
    root = tmp_path / "root"
    storage = LocalStorage(root)
    key = "2026/02/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.pdf"
    seen: list[tuple[bool, list[str]]] = []

    async def watched() -> AsyncIterator[bytes]:
        for _ in range(3):
            yield os.urandom(700_000)
            seen.append(((root / key).exists(), stored_files(root)))

    await storage.save(key, watched())
    assert all(not exists for exists, _ in seen)
    assert all(len(files) == 1 and files[0].startswith("2026/02/.") for _, files in seen)
    assert stored_files(root) == [key]
    assert (root / key).stat().st_size == 2_100_000
    assert oct((root / key).stat().st_mode & 0o777) == "0o600"


async def test_s3_multipart_upload_of_a_large_file(s3_settings: dict[str, Any]) -> None:
    storage = s3_storage(s3_settings)
    data = os.urandom(9 * 1024 * 1024)  # above the 8 MiB multipart threshold
    key = "2026/03/cccccccccccccccccccccccccccccccc.zip"
    await storage.save(key, chunks_of(*(data[i : i + 65536] for i in range(0, len(data), 65536))))
    assert await read_all(storage, key) == data
    await storage.close()


async def test_s3_unreachable_is_storage_unavailable(s3_settings: dict[str, Any]) -> None:
    storage = s3_storage(
        {**s3_settings, "s3_endpoint_url": f"http://127.0.0.1:{free_port()}", "s3_timeout": 1}
    )
    key = "2026/03/dddddddddddddddddddddddddddddddd.png"
    with pytest.raises(StorageUnavailable):
        await storage.save(key, chunks_of(b"data"))
    with pytest.raises(StorageUnavailable):
        await storage.open(key)
    with pytest.raises(StorageUnavailable):
        await storage.exists(key)
    with pytest.raises(StorageUnavailable):
        await storage.delete(key)


async def test_s3_missing_bucket_is_storage_unavailable(s3_settings: dict[str, Any]) -> None:
    storage = s3_storage({**s3_settings, "s3_bucket": "no-such-bucket-here"})
    with pytest.raises(StorageUnavailable):
        await storage.save("2026/03/e.png", chunks_of(b"data"))


def test_storage_for_picks_the_backend(tmp_path: Path, s3_settings: dict[str, Any]) -> None:
    local = storage_for(load_settings("test", file_dir=tmp_path / "f"))
    assert isinstance(local, LocalStorage)
    assert local.root == tmp_path / "f"
    assert isinstance(s3_storage(s3_settings), S3Storage)
