"""Checks `run` and `worker` make before doing any work, each failing in one line that names
what is wrong and the setting to look at (docs/deployment.md, "Start-up checks")."""

from __future__ import annotations

import asyncio
import socket
from urllib.parse import urlsplit, urlunsplit

from app.cli.errors import AppErrorLine
from app.core.config import Settings


def check_port_free(host: str, port: int) -> None:
    """Refuse a port another process listens on (or that cannot be bound)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise AppErrorLine(f"cannot listen on {host}:{port}: {exc.strerror} (HOST)", 2) from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind(address)
        except OSError as exc:
            raise AppErrorLine(
                f"cannot listen on {host}:{port}: {exc.strerror}; stop the other server or "
                "choose another port (--port or PORT)"
            ) from None


def redis_address(url: str) -> str:
    """REDIS_URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname or ''}"
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def check_cache_reachable(settings: Settings) -> None:
    """The scale shape needs Redis for every signed-in request (sessions, revocations, rate
    limits): refuse to start without it, as without the database, rather than start and
    answer 503 to everyone."""
    if not settings.redis_url:
        return
    from app.core.cache import CacheUnavailableError, create_cache

    async def ping() -> None:
        cache = create_cache(
            settings.redis_url,
            prefix=settings.cache_prefix,
            socket_timeout=settings.redis_socket_timeout,
            connect_timeout=settings.redis_connect_timeout,
        )
        try:
            await cache.ping()
        finally:
            await cache.close()

    try:
        asyncio.run(ping())
    except (CacheUnavailableError, OSError) as exc:
        cause = exc.__cause__ or exc
        reason = " ".join(str(cause).split())[:160] or type(cause).__name__
        raise AppErrorLine(
            f"cache unreachable: Redis at {redis_address(settings.redis_url)} (REDIS_URL) does "
            f"not answer ({reason}); start it or correct REDIS_URL"
        ) from None
