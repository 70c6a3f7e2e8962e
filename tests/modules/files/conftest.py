"""Fixtures of the files tests: a private local storage per test, settings overrides, and
moto's S3 server as the fake object store."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from fastapi import FastAPI

from app.modules.files.storage import LocalStorage
from tests.support.startup import shared_fixture

S3_CREDENTIALS = {"s3_access_key": "testing-key", "s3_secret_key": "testing-secret"}


@pytest.fixture(autouse=True)
def storage_root(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    """Each test that uses the app stores bytes in its own temporary folder."""
    root = tmp_path / "files"
    if "app" not in request.fixturenames:
        yield root
        return
    app: FastAPI = request.getfixturevalue("app")
    previous = app.state.storage
    app.state.storage = LocalStorage(root)
    yield root
    app.state.storage = previous


@pytest.fixture
def override_settings(app: FastAPI) -> Iterator[Callable[..., None]]:
    """Change settings of the shared app for one test (limits, allowed types)."""
    original = app.state.settings

    def override(**changes: Any) -> None:
        app.state.settings = original.model_copy(update=changes)

    yield override
    app.state.settings = original


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@shared_fixture("moto's S3 server", scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server on a free local port (we cannot reach a real S3 here)."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_settings(s3_endpoint: str) -> dict[str, Any]:
    """Settings overrides for S3 storage in a fresh bucket."""
    bucket = f"files-{uuid.uuid4().hex[:12]}"
    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id=S3_CREDENTIALS["s3_access_key"],
        aws_secret_access_key=S3_CREDENTIALS["s3_secret_key"],
    )
    client.create_bucket(Bucket=bucket)
    return {
        "file_storage": "s3",
        "s3_bucket": bucket,
        "s3_endpoint_url": s3_endpoint,
        "s3_region": "us-east-1",
        **S3_CREDENTIALS,
    }
