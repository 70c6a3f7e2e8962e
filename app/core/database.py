"""Database engine, declarative base and the per-request session.

One engine per process, built for the configured dialect with every timeout set, so that an
outage answers 503 within seconds instead of hanging:

- SQLite: WAL, foreign keys on, a busy timeout.
- PostgreSQL (asyncpg): connect timeout, server-side `statement_timeout`, `lock_timeout` and
  `idle_in_transaction_session_timeout`, plus a client-side command timeout.
- MySQL 8 / MariaDB 10.11 (asyncmy): connect timeout, `innodb_lock_wait_timeout`, and the
  statement limit each server knows (`max_statement_time` on MariaDB, `max_execution_time` on
  MySQL).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import structlog
from fastapi import Depends, Request
from sqlalchemy import (
    BigInteger,
    DateTime,
    Dialect,
    Index,
    Integer,
    MetaData,
    TypeDecorator,
    event,
    func,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.types import TypeEngine

from app.core.config import Settings

_log = structlog.get_logger("app.database")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every model; its metadata carries the constraint naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# Databases whose plain unique indexes compare text case-sensitively: there a value that must
# be unique regardless of case gets a unique index on `lower(column)` too. MariaDB/MySQL need
# none: their `utf8mb4_*_ci` collations already compare without case (and MariaDB has no
# expression indexes).
CASE_SENSITIVE_DIALECTS = ("postgresql", "sqlite")


def unique_ignoring_case(column: Any) -> Index:
    """A unique index on `lower(column)` where the database needs one
    (docs/security-checklist.md F17: two
    concurrent creates of `Alice` and `alice` give one 201 and one 409). Named
    `uq_<table>_lower_<column>`; lookups must compare `lower(column)`, the indexed expression.
    `migrations/env.py` leaves it out of `alembic check` on the other databases."""
    name = f"uq_{column.table.name}_lower_{column.name}"
    # `ddl_if` takes a tuple of dialect names (`DDLIf._should_execute`); its annotation says
    # `str`.
    return Index(name, func.lower(column), unique=True).ddl_if(
        dialect=CASE_SENSITIVE_DIALECTS  # type: ignore[arg-type]
    )


# 64-bit ids on PostgreSQL/MySQL; SQLite only auto-increments an INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every database.

    SQLite and MySQL store no zone; values are written as UTC and read back as aware UTC, so
    comparisons with `utcnow()` work the same everywhere.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))  # keep microseconds
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: use timezone-aware UTC values")
        value = value.astimezone(UTC)
        return value if dialect.name == "postgresql" else value.replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class TimestampMixin:
    """`created_at` / `updated_at`, set by the application clock in UTC."""

    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        UtcDateTime(), default=utcnow, onupdate=utcnow, nullable=False
    )


def engine_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for `create_async_engine`, per dialect."""
    dialect = settings.db_dialect
    options: dict[str, Any] = {"echo": settings.db_echo}
    if dialect == "sqlite":
        url = make_url(settings.database_url)
        if url.database and url.database != ":memory:":
            options["connect_args"] = {"timeout": settings.sqlite_busy_timeout}
        return options

    options.update(
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout,
        pool_recycle=settings.db_pool_recycle,
        # Pinging on every checkout costs a round trip per request; `_install_idle_ping`
        # pings only connections that sat idle (the ones a server or firewall may have cut).
        pool_pre_ping=False,
    )
    if dialect == "postgresql":
        options["connect_args"] = {
            "timeout": settings.db_connect_timeout,
            # Client-side guard in case the server stops answering altogether.
            "command_timeout": settings.db_statement_timeout + 1,
            "server_settings": {
                "application_name": settings.app_name.lower(),
                "statement_timeout": str(int(settings.db_statement_timeout * 1000)),
                "lock_timeout": str(int(settings.db_lock_timeout * 1000)),
                "idle_in_transaction_session_timeout": str(
                    int((settings.db_statement_timeout + 30) * 1000)
                ),
            },
        }
    else:  # mysql / mariadb
        options["connect_args"] = {
            "connect_timeout": max(1, round(settings.db_connect_timeout)),
            # Client-side guard: a frozen server must not hold a request forever.
            "read_timeout": settings.db_statement_timeout + 1,
            "charset": "utf8mb4",
        }
    return options


def _install_idle_ping(engine: AsyncEngine, idle_seconds: float) -> None:
    """Ping a pooled connection at checkout when it has been idle `idle_seconds` or longer.

    A connection in steady use is known to be alive (its last statement just succeeded); one
    that sat in the pool may have been dropped by the server (`wait_timeout`), a proxy or a
    restart. A failed ping discards it and the pool hands out another (SQLAlchemy retries
    the checkout), so the request never sees the dead connection.
    """
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(sync_engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        since = record.info.pop("idle_since", None)
        if since is None or time.monotonic() - since < idle_seconds:
            return
        try:
            sync_engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:  # any failure: this connection is not to be trusted
            raise DisconnectionError(f"stale pooled connection: {exc}") from exc


def _install_connect_hooks(engine: AsyncEngine, settings: Settings) -> None:
    dialect = settings.db_dialect
    if dialect == "sqlite":
        busy_ms = int(settings.sqlite_busy_timeout * 1000)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
            # WAL lets readers proceed during a write; `memory` databases ignore it.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

    elif dialect == "mysql":
        lock_seconds = max(1, round(settings.db_lock_timeout))
        statement_seconds = settings.db_statement_timeout

        @event.listens_for(engine.sync_engine, "connect")
        def _mysql_session(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("SELECT VERSION()")
            version = str(cursor.fetchone()[0]).lower()
            cursor.execute(f"SET SESSION innodb_lock_wait_timeout = {lock_seconds}")
            if "mariadb" in version:
                cursor.execute(f"SET SESSION max_statement_time = {statement_seconds:.3f}")
            else:
                cursor.execute(f"SET SESSION max_execution_time = {int(statement_seconds * 1000)}")
            cursor.execute("SET SESSION time_zone = '+00:00'")
            cursor.close()


def ensure_sqlite_dir(database_url: str) -> None:
    """Create the folder of a SQLite database file (SQLite creates the file, not the folder)."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)


@contextmanager
def sqlite_file_lock(database_url: str) -> Iterator[None]:
    """Serialise the processes sharing one SQLite file, which has no advisory lock, with an OS
    lock on `<file>.lock`: `upgrade` and `init` take it where PostgreSQL and MariaDB take their
    database locks (two `run`s starting at once). A no-op for other databases."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        yield
        return
    import fcntl  # POSIX; a SQLite file is shared only by processes on one host

    ensure_sqlite_dir(database_url)
    with open(f"{url.database}.lock", "a", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def create_engine(settings: Settings) -> AsyncEngine:
    """Create the process's engine for `settings.database_url`."""
    ensure_sqlite_dir(settings.database_url)
    engine = create_async_engine(settings.database_url, **engine_options(settings))
    _install_connect_hooks(engine, settings)
    if settings.db_dialect != "sqlite":
        _install_idle_ping(engine, settings.db_ping_after_idle)
    return engine


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit (responses are built after it)."""
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class ReadOnlySession(Session):
    """The session of a safe request (GET, HEAD, OPTIONS) on PostgreSQL: see
    `create_read_sessionmaker`. Flushing a change through it is a programming error."""


@event.listens_for(ReadOnlySession, "before_flush")
def _refuse_writes(session: Session, _context: Any, _instances: Any) -> None:
    raise RuntimeError(
        "a GET/HEAD/OPTIONS request tried to write through the ORM: reads run without a "
        "transaction (app.core.database.create_read_sessionmaker); use a POST/PUT/PATCH route"
    )


def create_read_sessionmaker(
    engine: AsyncEngine, settings: Settings
) -> async_sessionmaker[AsyncSession] | None:
    """Sessions for safe requests on PostgreSQL, in autocommit mode: no `BEGIN` and no
    `COMMIT`, two round trips fewer per request (a 20-row page becomes one or two).

    Nothing is lost: under PostgreSQL's READ COMMITTED every statement takes its own snapshot
    whether or not a transaction surrounds it, and a safe request does not write
    (`ReadOnlySession` refuses ORM flushes). MariaDB sends no `BEGIN` anyway and switching
    its autocommit would cost round trips; SQLite reads take no write lock. Those (None) use
    the ordinary sessions.
    """
    if settings.db_dialect != "postgresql":
        return None
    return async_sessionmaker(
        engine.execution_options(isolation_level="AUTOCOMMIT"),
        expire_on_commit=False,
        autoflush=False,
        sync_session_class=ReadOnlySession,
    )


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session and one transaction per request: commit on success, roll back on error
    (safe requests on PostgreSQL: autocommit, see `create_read_sessionmaker`).

    Declared with `scope="function"` (see `SessionDep`) so the commit happens before the
    response is sent: a failing commit becomes an error response, never a false 2xx.
    """
    state = request.app.state
    sessionmaker: async_sessionmaker[AsyncSession] = state.sessionmaker
    if request.method in SAFE_METHODS:
        sessionmaker = getattr(state, "read_sessionmaker", None) or sessionmaker
    async with sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise
        await run_after_commit(session)


AfterCommit = Callable[[], Awaitable[object]]
_AFTER_COMMIT = "after_commit"


def after_commit(session: AsyncSession, callback: AfterCommit) -> None:
    """Run `callback` once the request's transaction has committed (before the response).

    For side effects that must not be seen before the data they describe, such as bumping a
    cache version: bumped earlier, a concurrent request could cache the old state again.
    """
    session.info.setdefault(_AFTER_COMMIT, []).append(callback)


async def run_after_commit(session: AsyncSession) -> None:
    for callback in session.info.pop(_AFTER_COMMIT, []):
        try:
            await callback()
        except Exception as exc:  # the data is committed; report, don't turn it into an error
            _log.warning(
                "after_commit_failed",
                callback=getattr(callback, "__name__", "?"),
                error=type(exc).__name__,
            )


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def delete_older_than(
    sessionmaker: async_sessionmaker[AsyncSession],
    model: type[Base],
    cutoff: datetime,
    *,
    batch: int = 5000,
) -> int:
    """Delete rows of `model` whose `created_at` is before `cutoff`, `batch` rows per
    transaction, so purging a large log never holds a long lock or hits the statement timeout.
    """
    from sqlalchemy import delete, select

    table: Any = model
    deleted = 0
    while True:
        async with sessionmaker() as session, session.begin():
            ids = (
                (
                    await session.execute(
                        select(table.id).where(table.created_at < cutoff).limit(batch)
                    )
                )
                .scalars()
                .all()
            )
            if ids:
                await session.execute(
                    delete(table)
                    .where(table.id.in_(ids))
                    .execution_options(synchronize_session=False)
                )
        deleted += len(ids)
        if len(ids) < batch:
            return deleted
