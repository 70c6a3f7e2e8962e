"""Session revocation against a cache that loses its entries mid-flight
(docs/security-checklist.md F10)."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from fastapi import FastAPI

from app.core.database import run_after_commit
from app.modules.system.auth import sessions
from app.modules.system.auth.deps import token_service
from tests.support.identity import superuser_headers


async def test_a_revocation_overwrites_a_live_entry_cached_before_its_commit(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """F10: the tombstone is written before the commit and again after it, so a request that
    re-cached the session as live while the revoking transaction was in flight (after the
    cache lost the first tombstone) does not keep the session alive."""
    headers = await superuser_headers(app)
    assert (await client.get("/api/v1/auth/me", headers=headers)).status_code == 200
    token = headers["Authorization"].removeprefix("Bearer ")
    session_id = token_service(app).decode_access(token).session_id
    cache = app.state.cache
    key = sessions.session_key(session_id)
    live = await cache.get(key)
    assert live is not None and live != sessions.REVOKED  # cached live by the request above

    async with app.state.sessionmaker() as db:
        await sessions.revoke_sessions(
            db, cache, [session_id], reason="test", now=datetime.now(UTC)
        )
        assert await cache.get(key) == sessions.REVOKED
        await cache.set(key, live, ttl=600)  # lost tombstone, re-cached from the old row
        await db.commit()
        await run_after_commit(db)

    assert await cache.get(key) == sessions.REVOKED
    assert (await client.get("/api/v1/auth/me", headers=headers)).status_code == 401
