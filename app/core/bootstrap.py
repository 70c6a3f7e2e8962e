"""Initial data: every enabled module's idempotent loader, in one transaction."""

from __future__ import annotations

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.database import create_engine, create_sessionmaker, sqlite_file_lock
from app.core.modules import load_modules

log = structlog.get_logger("app.init")

INIT_LOCK = "fastapiadmin_init"
INIT_LOCK_KEY = 0x46415F49


async def _lock(session: AsyncSession) -> None:
    """Serialise `init` across hosts for the rest of the transaction."""
    dialect = session.bind.dialect.name if session.bind else ""
    if dialect == "postgresql":
        await session.execute(text(f"SELECT pg_advisory_xact_lock({INIT_LOCK_KEY})"))
    elif dialect in ("mysql", "mariadb"):
        got = (await session.execute(text(f"SELECT GET_LOCK('{INIT_LOCK}', 120)"))).scalar()
        if got != 1:  # 0: timed out, NULL: error; never load without the lock
            raise RuntimeError("another process has held the init lock for 120 s; retry")


async def load_initial_data(settings: Settings) -> list[str]:
    """Run each module's `initial_data`; returns the names of the modules that loaded data.

    Loaders must be idempotent (insert what is missing, never duplicate), so `init` can run on
    every start and from several hosts at once.
    """
    engine = create_engine(settings)
    sessionmaker = create_sessionmaker(engine)
    loaded: list[str] = []
    try:
        # SQLite: a file lock (blocking; the CLI has nothing else to run meanwhile).
        with sqlite_file_lock(settings.database_url):
            async with sessionmaker() as session, session.begin():
                await _lock(session)
                for spec in load_modules(settings):
                    if spec.initial_data is not None:
                        await spec.initial_data(session, settings)
                        loaded.append(spec.name)
                        log.info("initial_data_loaded", module=spec.name)
    finally:
        await engine.dispose()
    return loaded
