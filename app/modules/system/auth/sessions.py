"""Server-side sessions: the database row is the truth, the shared cache answers the warm path.

A live session is cached as `sess:<sid>` for the rest of its absolute lifetime. Revoking writes
a tombstone there (not a delete), and cold loads only ever `set_nx`, so a load racing a
revocation can never resurrect the session. If the cache loses everything, the next request
reads the row again, so revocations survive a Redis flush (docs/security-checklist.md F10).

In the lite shape the cache lives in one process, and a revocation made by another process
(the command line) cannot write its tombstones there. Every revocation therefore also
replaces the revocation epoch (`RevocationEpoch`, one row) in its own transaction; with a
process-local cache each authenticated request reads the epoch (one primary-key read) and
trusts a cached live session only if it was cached under that epoch. The scale shape shares
its cache (Redis): no epoch read, the warm path stays free of queries.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import orjson
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.cache import Cache
from app.core.config import Settings
from app.core.database import after_commit
from app.modules.system.auth.models import AuthSession, RevocationEpoch

REVOKED = b"revoked"
EPOCH_ROW = 1


def shares_revocations(cache: Cache) -> bool:
    """Whether every process that serves the API sees this cache (Redis), so tombstones
    written here reach them all; otherwise (in-process) the epoch row carries revocations."""
    return cache.backend != "memory"


async def current_epoch(db: AsyncSession, cache: Cache) -> str | None:
    """The revocation epoch a process-local cache must check against, or None when the cache
    is shared (no query). A missing row reads as "" (no revocation recorded yet)."""
    if shares_revocations(cache):
        return None
    value = (
        await db.execute(select(RevocationEpoch.epoch).where(RevocationEpoch.id == EPOCH_ROW))
    ).scalar_one_or_none()
    return value or ""


async def _bump_epoch(db: AsyncSession, now: datetime) -> None:
    """Replace the epoch in the revoking transaction (created on first use: a fresh or
    emptied database has no row)."""
    token = secrets.token_hex(8)
    result = await db.execute(
        update(RevocationEpoch)
        .where(RevocationEpoch.id == EPOCH_ROW)
        .values(epoch=token, changed_at=now)
        .execution_options(synchronize_session=False)
    )
    if not getattr(result, "rowcount", 0):
        # SQLite serialises writers: the UPDATE above already holds the write lock.
        await db.execute(insert(RevocationEpoch).values(id=EPOCH_ROW, epoch=token, changed_at=now))


def session_key(session_id: str) -> str:
    return f"sess:{session_id}"


@dataclass(frozen=True)
class LiveSession:
    session_id: str
    user_id: int
    expires_at: datetime


def new_session_id() -> str:
    return secrets.token_hex(16)


async def create_session(
    db: AsyncSession,
    cache: Cache,
    settings: Settings,
    *,
    user_id: int,
    ip: str | None,
    user_agent: str | None,
    now: datetime,
) -> AuthSession:
    """Open a session; beyond `MAX_SESSIONS_PER_USER` live ones, the oldest are ended."""
    row = AuthSession(
        id=new_session_id(),
        user_id=user_id,
        ip=ip,
        user_agent=(user_agent or "")[:512] or None,
        created_at=now,
        last_seen_at=now,
        idle_expires_at=now + timedelta(seconds=settings.session_idle_timeout),
        expires_at=now + timedelta(seconds=settings.session_absolute_timeout),
    )
    db.add(row)
    await db.flush()
    live = (
        await db.execute(
            select(AuthSession.id)
            .where(
                AuthSession.user_id == user_id,
                AuthSession.revoked_at.is_(None),
                AuthSession.expires_at > now,
            )
            .order_by(AuthSession.created_at.desc(), AuthSession.id)
        )
    ).scalars()
    excess = list(live)[settings.max_sessions_per_user :]
    if excess:
        await revoke_sessions(db, cache, excess, reason="session_limit", now=now)
    await _cache_live(cache, row, now, nx=False, epoch=await current_epoch(db, cache))
    return row


async def _cache_live(
    cache: Cache, row: AuthSession, now: datetime, *, nx: bool, epoch: str | None
) -> None:
    remaining = (row.expires_at - now).total_seconds()
    if remaining <= 0:
        return
    entry: dict[str, object] = {"u": row.user_id, "exp": row.expires_at.timestamp()}
    if epoch is not None:
        entry["e"] = epoch
    value = orjson.dumps(entry)
    if nx:
        await cache.set_nx(session_key(row.id), value, ttl=remaining)
    else:
        await cache.set(session_key(row.id), value, ttl=remaining)


def parse_cached(
    session_id: str, raw: bytes | None, now: datetime, epoch: str | None = None
) -> LiveSession | Literal[False] | None:
    """Interpret a cached entry: a LiveSession, False (revoked/expired) or None (not cached,
    or cached under an older revocation epoch than `epoch`: to be read again)."""
    if raw is None:
        return None
    if raw == REVOKED:
        return False
    data = orjson.loads(raw)
    if epoch is not None and data.get("e") != epoch:
        return None
    expires_at = datetime.fromtimestamp(float(data["exp"]), tz=now.tzinfo)
    if expires_at <= now:
        return False
    return LiveSession(session_id, int(data["u"]), expires_at)


async def load_live(
    db: AsyncSession,
    cache: Cache,
    session_id: str,
    now: datetime,
    epoch: str | None = None,
    *,
    stale: bool = False,
) -> LiveSession | None:
    """The cold path: read the row, cache the answer, return the session if it is live.

    `epoch` is the one read before (`current_epoch`), so an entry cached here is never newer
    than the row it came from. `stale`: a live entry of an older epoch is in the cache; it is
    replaced (a tombstone never is: it is never stale)."""
    row = await db.get(AuthSession, session_id)
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        if row is not None:
            await _tombstone(cache, session_id, row.expires_at, now)
        return None
    if stale:
        await cache.delete(session_key(session_id))
    await _cache_live(cache, row, now, nx=True, epoch=epoch)
    return LiveSession(row.id, row.user_id, row.expires_at)


async def _tombstone(
    cache: Cache, session_id: str, expires_at: datetime | None, now: datetime
) -> None:
    # Long enough to outlive every access token of the session; the row stays the truth.
    ttl = max(60.0, (expires_at - now).total_seconds()) if expires_at else 86400.0
    await cache.set(session_key(session_id), REVOKED, ttl=ttl)


async def revoke_sessions(
    db: AsyncSession, cache: Cache, session_ids: list[str], *, reason: str, now: datetime
) -> int:
    """End these sessions at once on every process (row updated, tombstones written)."""
    if not session_ids:
        return 0
    if not shares_revocations(cache):
        # Not with Redis: the tombstones reach every process, and one row updated by every
        # revocation would serialise them on PostgreSQL and MariaDB.
        await _bump_epoch(db, now)
    result = await db.execute(
        update(AuthSession)
        .where(AuthSession.id.in_(session_ids), AuthSession.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=reason[:32])
        .execution_options(synchronize_session=False)
    )
    for session_id in session_ids:
        # Tombstones are written before the commit: if the commit then fails, the session is
        # dead in the cache but alive in the row -- the safe direction.
        await _tombstone(cache, session_id, None, now)

    async def tombstone_again() -> None:
        # ...and again after it: if the cache lost the first ones (flushed, failed over)
        # while the commit was in flight, a concurrent request may have cached the session
        # as live from the not-yet-updated row (F10).
        for session_id in session_ids:
            await _tombstone(cache, session_id, None, now)

    after_commit(db, tombstone_again)
    return int(getattr(result, "rowcount", 0) or 0)


async def revoke_user_sessions(
    db: AsyncSession,
    cache: Cache,
    user_id: int,
    *,
    reason: str,
    now: datetime,
    keep: str | None = None,
) -> int:
    """End every live session of a user (optionally keeping the caller's own)."""
    ids = list(
        (
            await db.execute(
                select(AuthSession.id).where(
                    AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None)
                )
            )
        ).scalars()
    )
    return await revoke_sessions(db, cache, [i for i in ids if i != keep], reason=reason, now=now)


async def revoke_sessions_of_users(
    db: AsyncSession, cache: Cache, user_ids: Collection[int], *, reason: str, now: datetime
) -> int:
    """End every live session of these users (a department disabled)."""
    if not user_ids:
        return 0
    ids = list(
        (
            await db.execute(
                select(AuthSession.id).where(
                    AuthSession.user_id.in_(sorted(set(user_ids))),
                    AuthSession.revoked_at.is_(None),
                    AuthSession.expires_at > now,
                )
            )
        ).scalars()
    )
    return await revoke_sessions(db, cache, ids, reason=reason, now=now)
