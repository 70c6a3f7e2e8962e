"""FastapiAdmin command line: run the server, manage migrations, load initial data.

python main.py run                      # dev, SQLite + in-process cache, migrates itself
python main.py run --env=prod --workers 4
python main.py upgrade | downgrade -1 | current | history | check
python main.py revision "add invoices"
python main.py init
python main.py export-users users.xlsx | import-users users.xlsx --dry-run
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer

from app.core.config import ConfigError, Settings, load_settings

cli = typer.Typer(
    name="fastapiadmin",
    help="FastapiAdmin: enterprise admin backend on FastAPI.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

T = TypeVar("T")


class Env(StrEnum):
    dev = "dev"
    test = "test"
    prod = "prod"


EnvOption = Annotated[
    Env | None,
    typer.Option(
        "--env", "-e", help="Settings environment (reads env/.env.<env>); default APP_ENV or dev."
    ),
]


def fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def settings_for(env: Env | None, **overrides: Any) -> Settings:
    """Load settings for `env` and export APP_ENV so worker processes load the same ones."""
    if env is not None:
        os.environ["APP_ENV"] = env.value
    try:
        return load_settings(env.value if env else None, **overrides)
    except ConfigError as exc:
        fail(str(exc))


def guarded(action: Callable[[], T]) -> T:
    """Run a database action, turning connection failures into one readable line."""
    from sqlalchemy.exc import DBAPIError, OperationalError

    try:
        return action()
    except (OperationalError, DBAPIError, OSError) as exc:
        fail(f"database unreachable: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}", 1)


@cli.command()
def run(
    env: EnvOption = None,
    host: Annotated[
        str | None, typer.Option(help="Bind address (default HOST, 127.0.0.1).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default PORT, 8000).")] = None,
    workers: Annotated[
        int | None, typer.Option(help="Worker processes (needs REDIS_URL if > 1).")
    ] = None,
    reload: Annotated[
        bool, typer.Option(help="Restart on code changes (development only).")
    ] = False,
) -> None:
    """Start the HTTP server (lite default: applies migrations and initial data first)."""
    import uvicorn

    from app.core import migrations
    from app.core.bootstrap import load_initial_data
    from app.core.database import create_engine
    from app.core.logging import configure_logging

    overrides = {k: v for k, v in {"host": host, "port": port, "workers": workers}.items() if v}
    settings = settings_for(env, **overrides)
    for key, value in overrides.items():  # worker processes rebuild settings from the env
        os.environ[key.upper()] = str(value)
    if reload and settings.is_production:
        fail("--reload is for development; it is refused with --env=prod")
    configure_logging(settings)

    if settings.migrate_on_start:
        guarded(lambda: migrations.upgrade(settings.database_url))
        guarded(lambda: asyncio.run(load_initial_data(settings)))
    else:

        async def pending() -> str | None:
            engine = create_engine(settings)
            try:
                return await migrations.pending_message(engine)
            finally:
                await engine.dispose()

        message = guarded(lambda: asyncio.run(pending()))
        if message:
            fail(f"{message} (e.g. `python main.py upgrade --env={settings.app_env}`)", 1)

    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=None if reload else settings.workers,
        reload=reload,
        log_config=None,
        access_log=False,
        proxy_headers=False,  # X-Forwarded-* is honoured only from TRUSTED_PROXIES, in the app
        server_header=False,
        timeout_graceful_shutdown=30,
        timeout_keep_alive=5,
    )


@cli.command()
def upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
    env: EnvOption = None,
) -> None:
    """Apply migrations up to REVISION (default: head)."""
    from app.core import migrations

    settings = settings_for(env)
    guarded(lambda: migrations.upgrade(settings.database_url, revision))
    typer.echo(f"upgraded to {revision}")


@cli.command()
def downgrade(
    revision: Annotated[str, typer.Argument(help="Target revision, e.g. -1 or base.")] = "-1",
    env: EnvOption = None,
) -> None:
    """Revert migrations down to REVISION (default: one step)."""
    from app.core import migrations

    settings = settings_for(env)
    if settings.is_production and revision == "base":
        fail("refusing to downgrade a production database to base")
    guarded(lambda: migrations.downgrade(settings.database_url, revision))
    typer.echo(f"downgraded to {revision}")


@cli.command()
def revision(
    message: Annotated[str, typer.Argument(help="Short description; becomes the file slug.")],
    autogenerate: Annotated[bool, typer.Option(help="Compare models with the database.")] = True,
    env: EnvOption = None,
) -> None:
    """Create a migration file (autogenerated from the models by default)."""
    from alembic import command

    from app.core import migrations

    settings = settings_for(env)
    config = migrations.alembic_config(settings.database_url)
    guarded(lambda: command.revision(config, message=message, autogenerate=autogenerate))


@cli.command()
def current(env: EnvOption = None) -> None:
    """Show the revision the database is at, and whether it is behind."""
    from app.core import migrations
    from app.core.database import create_engine

    settings = settings_for(env)

    async def show() -> tuple[set[str], set[str]]:
        engine = create_engine(settings)
        try:
            return await migrations.current_revisions(engine), migrations.heads()
        finally:
            await engine.dispose()

    at, expected = guarded(lambda: asyncio.run(show()))
    typer.echo(f"database: {', '.join(sorted(at)) or '(empty)'}")
    typer.echo(f"code head: {', '.join(sorted(expected))}")
    typer.echo(
        "status: up to date" if at == expected else "status: behind, run `python main.py upgrade`"
    )


@cli.command()
def history(env: EnvOption = None) -> None:
    """List the migrations, newest first."""
    from alembic import command

    from app.core import migrations

    settings = settings_for(env)
    command.history(migrations.alembic_config(settings.database_url), verbose=False)


@cli.command()
def check(env: EnvOption = None) -> None:
    """Verify that the models and the migrations agree (exit 1 if a migration is missing)."""
    from alembic.util.exc import AutogenerateDiffsDetected

    from app.core import migrations

    settings = settings_for(env)
    try:
        guarded(lambda: migrations.check(settings.database_url))
    except AutogenerateDiffsDetected as exc:
        fail(f"models and migrations differ: {exc}", 1)
    typer.echo("models and migrations agree")


@cli.command()
def init(env: EnvOption = None) -> None:
    """Load the initial data of every enabled module (idempotent)."""
    from app.core.bootstrap import load_initial_data

    settings = settings_for(env)
    loaded = guarded(lambda: asyncio.run(load_initial_data(settings)))
    typer.echo(f"initial data loaded: {', '.join(loaded) or 'nothing to load'}")


@cli.command()
def createsuperuser(
    username: Annotated[str, typer.Option(prompt=True, help="Login name.")],
    name: Annotated[str, typer.Option(help="Display name (default: the username).")] = "",
    email: Annotated[str | None, typer.Option(help="Email address.")] = None,
    password_stdin: Annotated[
        bool, typer.Option(help="Read the password from standard input instead of generating one.")
    ] = False,
    env: EnvOption = None,
) -> None:
    """Create a superuser (a generated one-time password is printed once unless given)."""
    from app.core.errors import AppError
    from app.modules.system.commands import create_superuser

    settings = settings_for(env)
    password = sys.stdin.readline().rstrip("\n") if password_stdin else None
    try:
        generated = guarded(
            lambda: asyncio.run(
                create_superuser(
                    settings,
                    username=username,
                    name=name or username,
                    email=email,
                    password=password,
                )
            )
        )
    except AppError as exc:
        fail(exc.message, 1)
    typer.echo(f"superuser {username!r} created")
    if generated:
        typer.echo(f"one-time password (must be changed at first sign-in): {generated}")


@cli.command("reset-password")
def reset_password(username: Annotated[str, typer.Argument()], env: EnvOption = None) -> None:
    """Give USERNAME a generated one-time password; their sessions end at once."""
    from app.core.errors import AppError
    from app.modules.system.commands import reset_password as reset

    settings = settings_for(env)
    try:
        secret = guarded(lambda: asyncio.run(reset(settings, username=username)))
    except AppError as exc:
        fail(exc.message, 1)
    typer.echo(f"one-time password for {username!r} (must be changed at next sign-in): {secret}")


def progress_printer(unit: str = "users") -> Callable[[str, int], None]:
    """A progress callback for long runs: one updating line on a terminal, otherwise a line at
    most every two seconds (on stderr, so stdout stays the result)."""
    import time

    interactive = sys.stderr.isatty()
    last = 0.0

    def show(stage: str, done: int) -> None:
        nonlocal last
        now = time.monotonic()
        if interactive:
            typer.echo(f"\r{stage} {done} {unit}", err=True, nl=False)
        elif now - last >= 2:
            typer.echo(f"{stage} {done} {unit}", err=True)
        last = now

    return show


@cli.command("export-users")
def export_users(
    path: Annotated[Path, typer.Argument(help="The .xlsx file to write.", dir_okay=False)],
    env: EnvOption = None,
) -> None:
    """Export every user to an xlsx file (as an operator: no data scope)."""
    from app.core.errors import AppError
    from app.modules.system.user.commands import export_to_file

    if path.suffix.lower() != ".xlsx":
        fail("the file name must end in .xlsx")
    settings = settings_for(env)
    show = progress_printer()
    try:
        count = guarded(lambda: asyncio.run(export_to_file(settings, path, show)))
    except AppError as exc:
        fail(exc.message, 1)
    if sys.stderr.isatty():
        typer.echo("", err=True)
    typer.echo(f"exported {count} users to {path}")


@cli.command("import-users")
def import_users(
    path: Annotated[
        Path, typer.Argument(help="The .xlsx file (see the import template).", exists=True)
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only check the file; write nothing.")
    ] = False,
    env: EnvOption = None,
) -> None:
    """Import users from an xlsx file, all or none (as an operator: no data scope)."""
    from app.core.errors import AppError
    from app.modules.system.user.commands import import_from_file
    from app.modules.system.user.transfer import ImportRejected

    settings = settings_for(env)
    show = progress_printer()
    try:
        report = guarded(
            lambda: asyncio.run(import_from_file(settings, path, dry_run=dry_run, progress=show))
        )
    except ImportRejected as exc:
        report = exc.report
    except AppError as exc:
        fail(exc.message, 1)
    if sys.stderr.isatty():
        typer.echo("", err=True)
    for error in report.errors:
        typer.echo(f"row {error.row}, {error.field or 'row'}: {error.message}", err=True)
    if report.errors_truncated:
        typer.echo("(more errors not shown)", err=True)
    typer.echo(
        f"{'checked' if dry_run else 'imported'} {report.total} rows: {report.valid} valid, "
        f"{report.invalid} with errors, {report.created} users created"
    )
    if report.invalid:
        fail("the file has errors (listed above)" if dry_run else "nothing was written", 1)


if __name__ == "__main__":
    sys.exit(cli())
