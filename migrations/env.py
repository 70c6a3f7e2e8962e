"""Alembic environment: async engines for SQLite, PostgreSQL and MySQL/MariaDB.

The URL comes from `config.attributes["database_url"]` (set by `app.core.migrations`) or from
the application settings. Concurrent `upgrade`s from several hosts are serialised with a
database lock, so only one of them applies each revision.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import warnings
from logging.config import fileConfig

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from app.core.config import load_settings
from app.core.database import Base
from app.core.modules import import_models, load_modules

config = context.config
if config.config_file_name is not None and not config.attributes.get("skip_logging_config"):
    fileConfig(config.config_file_name, disable_existing_loggers=False)
log = logging.getLogger("alembic.env")

# The CLI passes its settings: a migration signs nothing, so it must not need SECRET_KEY.
settings = config.attributes.get("settings") or load_settings()
import_models(load_modules(settings))
target_metadata = Base.metadata
database_url: str = config.attributes.get("database_url") or settings.database_url

MIGRATION_LOCK = "fastapiadmin_migrations"
MIGRATION_LOCK_KEY = 0x46415F4D  # pg_advisory_lock takes a bigint


def _include_object(
    obj: object,
    name: str | None,
    type_: str,
    reflected: bool,
    compare_to: object,
    *,
    dialect: str,
) -> bool:
    """Leave alone a table the database has and no enabled module models: it belongs to a
    disabled module (MODULES_DISABLED), so autogenerate must not propose to drop it. Dropping a
    model's table is therefore written by hand (`op.drop_table`).

    A model's index declared `.ddl_if(dialect=...)` exists only on those databases (the users'
    `lower(username)` index: MariaDB/MySQL collations already ignore case), so elsewhere
    autogenerate must not ask for it."""
    if type_ == "table" and reflected and compare_to is None:
        return False
    ddl_if = getattr(obj, "_ddl_if", None)
    if type_ == "index" and not reflected and ddl_if is not None and ddl_if.dialect:
        wanted = ddl_if.dialect
        return dialect in ((wanted,) if isinstance(wanted, str) else wanted)
    return True


def _configure(connection: Connection | None = None) -> None:
    dialect = connection.dialect.name if connection is not None else database_url.split(":")[0]
    context.configure(
        connection=connection,
        url=None if connection is not None else database_url,
        target_metadata=target_metadata,
        include_object=functools.partial(_include_object, dialect=dialect.split("+")[0]),
        compare_type=True,
        compare_server_default=True,
        render_as_batch=dialect.startswith("sqlite"),
        literal_binds=connection is None,
        process_revision_directives=config.attributes.get("process_revision_directives"),
    )


def do_run_migrations(connection: Connection) -> None:
    dialect = connection.dialect.name
    if dialect == "postgresql":
        connection.execute(text(f"SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))
    elif dialect in ("mysql", "mariadb"):
        got = connection.execute(text(f"SELECT GET_LOCK('{MIGRATION_LOCK}', 120)")).scalar()
        if got != 1:  # 0: timed out, NULL: error; never migrate without the lock
            raise RuntimeError("another process has held the migration lock for 120 s; retry")
    if connection.in_transaction():
        connection.commit()  # the lock is session-level; migrations run in their own transaction
    try:
        _configure(connection)
        with context.begin_transaction(), warnings.catch_warnings():
            # SQLite cannot reflect expression indexes (the users' `lower(username)`), so
            # autogenerate skips them and says so; tests/modules/system/user checks them instead.
            warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-")
            warnings.filterwarnings("ignore", "autogenerate skipping metadata-specified expr")
            context.run_migrations()
    finally:
        if dialect == "postgresql":
            connection.execute(text(f"SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"))
        elif dialect in ("mysql", "mariadb"):
            connection.execute(text(f"SELECT RELEASE_LOCK('{MIGRATION_LOCK}')"))
        if connection.in_transaction():
            connection.commit()


async def run_async_migrations() -> None:
    engine = create_async_engine(database_url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(do_run_migrations)
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        do_run_migrations(connection)
    else:
        asyncio.run(run_async_migrations())


if context.is_offline_mode():
    _configure()
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
