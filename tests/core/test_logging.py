"""Logs: JSON lines with request id, user id and latency; secrets masked at any depth."""

from __future__ import annotations

import json

import httpx
import pytest
import structlog
from asgi_lifespan import LifespanManager

from app.core.logging import MASK, mask_secrets
from app.main import create_app
from tests.conftest import make_settings
from tests.support.timing import LIFESPAN_TIMEOUT


def test_mask_secrets_masks_by_key_name_at_any_depth() -> None:
    value = {
        "username": "alice",
        "password": "p",
        "nested": {"Refresh_Token": "r", "items": [{"otp": "123456", "ok": 1}]},
        "Authorization": "Bearer x",
        "new_password": "n",
        "client_secret": "s",
    }
    masked = mask_secrets(value)
    assert masked == {
        "username": "alice",
        "password": MASK,
        "nested": {"Refresh_Token": MASK, "items": [{"otp": MASK, "ok": 1}]},
        "Authorization": MASK,
        "new_password": MASK,
        "client_secret": MASK,
    }
    assert value["password"] == "p"  # the original is untouched


async def test_json_access_line_has_request_id_status_and_latency(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    app = create_app(make_settings(database_url, log_format="json", log_level="INFO"))
    async with LifespanManager(
        app, startup_timeout=LIFESPAN_TIMEOUT, shutdown_timeout=LIFESPAN_TIMEOUT
    ):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            capsys.readouterr()
            await http.get("/api/v1/health/live?token=abc", headers={"X-Request-ID": "log-1"})
            structlog.get_logger("test").info("with_secret", password="hunter2", user="bob")
    lines = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")
    ]
    access = [line for line in lines if line.get("event") == "request"]
    assert access, lines
    entry = access[-1]
    assert entry["request_id"] == "log-1"
    assert entry["status"] == 422  # an unknown query parameter is refused (docs/http.md)
    assert entry["route"] == "/api/v1/health/live"
    assert isinstance(entry["duration_ms"], float)
    assert "user_id" in entry
    assert "abc" not in json.dumps(entry)  # the query string is not logged
    secret_line = next(line for line in lines if line.get("event") == "with_secret")
    assert secret_line["password"] == MASK


def test_flags_absences_and_times_under_secret_looking_keys_are_not_masked() -> None:
    """An audit record of a password reset shows `must_change_password` (a flag, not a
    secret); the password itself stays masked."""
    masked = mask_secrets(
        {
            "must_change_password": True,
            "password_changed_at": "2026-12-07T10:00:00Z",
            "mfa_secret": None,
            "password": "hunter2",
            "token": "abc",
            "nested": [{"password_change_required": False, "new_password": "x"}],
        }
    )
    assert masked == {
        "must_change_password": True,
        "password_changed_at": "2026-12-07T10:00:00Z",
        "mfa_secret": None,
        "password": MASK,
        "token": MASK,
        "nested": [{"password_change_required": False, "new_password": MASK}],
    }
