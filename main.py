"""FastapiAdmin command line: run the server, manage migrations, load initial data.

python main.py run                      # dev, SQLite + in-process cache, migrates itself
python main.py run --env=prod --workers 4
python main.py upgrade | downgrade -1 | current | history | check
python main.py revision "add invoices"
python main.py generate invoice --field number:str:32 --field total:decimal:12,2 --unique number
python main.py init
python main.py worker --env=prod         # job runs from the Redis queue, no HTTP
python main.py export-users users.xlsx | import-users users.xlsx --dry-run
python main.py reset-password alice | reset-mfa alice
"""

from __future__ import annotations

import asyncio
import atexit
import os
import secrets
import shutil
import signal
import sys
import tempfile
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from app.cli import Progress, fail, guarded, run_cli
from app.cli.errors import AppErrorLine
from app.cli.preflight import check_cache_reachable, check_port_free
from app.core.config import ConfigError, Settings, load_settings

cli = typer.Typer(
    name="fastapiadmin",
    help="FastapiAdmin: enterprise admin backend on FastAPI.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain help: rich's boxed tables cut long option names to fit narrow terminals.
    rich_markup_mode=None,
)


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


def settings_for(env: Env | None, *, signs: bool = True, **overrides: Any) -> Settings:
    """Load settings for `env` and export APP_ENV so worker processes load the same ones.

    `signs=False` for commands that neither sign nor encrypt anything (the migration
    commands): they run without SECRET_KEY, also in production.
    """
    if env is not None:
        os.environ["APP_ENV"] = env.value
    if not signs and not os.environ.get("SECRET_KEY"):
        overrides.setdefault("secret_key", secrets.token_urlsafe(48))
    try:
        return load_settings(env.value if env else None, **overrides)
    except ConfigError as exc:
        fail(str(exc))


def prepare_metrics_dir() -> Path:
    """Give this run's processes a fresh directory for their metrics (PROMETHEUS_MULTIPROC_DIR).

    prometheus-client's multiprocess mode: every worker writes its values to its own files
    there and /metrics adds them up, so the totals cover all workers. The variable must be set
    before prometheus-client is first imported (it picks its mode then), so `run` calls this
    before importing the app; workers inherit it. A private temporary directory per run (never
    an inherited one: two runs sharing files would add up each other's numbers, and files of
    an earlier run would count again), removed when `run` exits.
    """
    path = Path(tempfile.mkdtemp(prefix="fastapiadmin-metrics-"))
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def _exit_cleanly(_signum: int, _frame: object) -> None:
    raise SystemExit(0)


@cli.command()
def run(
    env: EnvOption = None,
    host: Annotated[
        str | None, typer.Option(help="Bind address (default HOST, 127.0.0.1).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default PORT, 8001).")] = None,
    workers: Annotated[
        int | None, typer.Option(help="Worker processes (needs REDIS_URL if > 1).")
    ] = None,
    reload: Annotated[
        bool, typer.Option(help="Restart on code changes (development only).")
    ] = False,
) -> None:
    """Start the HTTP server (lite default: applies migrations and initial data first)."""
    prepare_metrics_dir()  # first: before anything imports prometheus-client
    import uvicorn

    from app.core import migrations
    from app.core.database import create_engine
    from app.core.logging import configure_logging

    overrides: dict[str, Any] = {
        k: v for k, v in {"host": host, "port": port, "workers": workers}.items() if v
    }
    settings = settings_for(env, **overrides)
    for key, value in overrides.items():  # worker processes rebuild settings from the env
        os.environ[key.upper()] = str(value)
    if reload and settings.is_production:
        fail("--reload is for development; it is refused with --env=prod")
    # First, before migrating: a busy port or a dead Redis is one line, not a failure after
    # minutes of work (or a server answering 503 to everyone).
    guarded(lambda: check_port_free(settings.host, settings.port))
    guarded(lambda: check_cache_reachable(settings))
    configure_logging(settings)

    if settings.migrate_on_start:
        guarded(lambda: migrations.upgrade(settings.database_url, settings=settings))
        initial_data(settings)
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

    # Build the app once here: a broken module then stops `run` with one line, instead of
    # every worker process failing at import and being restarted in a loop.
    from app.main import create_app

    try:
        create_app(settings)
    except Exception as exc:
        fail(f"the app cannot start: {type(exc).__name__}: {exc}", 1)

    # uvicorn re-raises the signal it stopped for once its graceful shutdown is complete; with
    # the default action the process would end "killed by SIGTERM" (143). A complete shutdown
    # is a success: exit 0.
    signal.signal(signal.SIGTERM, _exit_cleanly)
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
        timeout_graceful_shutdown=settings.graceful_shutdown_timeout,
        timeout_keep_alive=5,
    )


def database_revisions(settings: Settings) -> set[str]:
    """The revision(s) the database is at (empty for a fresh database)."""
    from app.core import migrations
    from app.core.database import create_engine

    async def read() -> set[str]:
        engine = create_engine(settings)
        try:
            return await migrations.current_revisions(engine)
        finally:
            await engine.dispose()

    return guarded(lambda: asyncio.run(read()))


def revisions_text(revisions: set[str]) -> str:
    return ", ".join(sorted(revisions)) or "base (empty)"


@cli.command()
def upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision (e.g. +1).")] = "head",
    env: EnvOption = None,
) -> None:
    """Apply migrations up to REVISION (default: head)."""
    from app.core import migrations

    settings = settings_for(env, signs=False)
    guarded(lambda: migrations.upgrade(settings.database_url, revision, settings=settings))
    typer.echo(f"upgraded to {revisions_text(database_revisions(settings))}")


# `-1` is a revision, not an option: let it through as the argument.
RELATIVE_REVISIONS = {"ignore_unknown_options": True}


@cli.command(context_settings=RELATIVE_REVISIONS)
def downgrade(
    revision: Annotated[
        str, typer.Argument(help="Target revision: -1 (one step), an id or base.")
    ] = "-1",
    env: EnvOption = None,
) -> None:
    """Revert migrations down to REVISION (default: one step, -1)."""
    from app.core import migrations

    settings = settings_for(env, signs=False)
    if revision.startswith("--"):
        fail(f"no such option: {revision} (see `python main.py downgrade --help`)")
    if settings.is_production and revision == "base":
        fail("refusing to downgrade a production database to base")
    if not database_revisions(settings):
        fail("the database has no migrations applied: nothing to downgrade", 1)
    guarded(lambda: migrations.downgrade(settings.database_url, revision, settings=settings))
    typer.echo(f"downgraded to {revisions_text(database_revisions(settings))}")


@cli.command(context_settings=RELATIVE_REVISIONS)
def revision(
    message: Annotated[str, typer.Argument(help="Short description; becomes the file slug.")],
    autogenerate: Annotated[bool, typer.Option(help="Compare models with the database.")] = True,
    empty: Annotated[
        bool, typer.Option("--empty", help="Write the file even when nothing changed.")
    ] = False,
    env: EnvOption = None,
) -> None:
    """Create a migration file (autogenerated from the models by default)."""
    from app.core import migrations

    settings = settings_for(env, signs=False)
    if autogenerate:
        # Autogenerate compares the models with the database: a database behind the code
        # would turn already written migrations into a new one.
        at = database_revisions(settings)
        if not at and settings.migrate_on_start:
            # A fresh database (dev, test): `run` would migrate it anyway, so do it first.
            guarded(lambda: migrations.upgrade(settings.database_url, settings=settings))
            at = database_revisions(settings)
            typer.echo(f"the database was empty: upgraded to {revisions_text(at)} first")
        if at != migrations.heads():
            fail(
                f"the database is at {revisions_text(at)}, not at the latest migration: "
                "run `python main.py upgrade` first, then `revision` again",
                1,
            )
    try:
        paths = guarded(
            lambda: migrations.revision(
                settings.database_url,
                message,
                autogenerate=autogenerate,
                allow_empty=empty,
                settings=settings,
            )
        )
    except migrations.EmptyRevision:
        fail(
            "the models and the migrations agree: nothing to migrate, no file written "
            "(--empty writes one anyway, e.g. for a data migration)",
            1,
        )
    for path in paths:
        typer.echo(f"wrote {path}")


@cli.command()
def current(env: EnvOption = None) -> None:
    """Show the revision the database is at, and whether it is behind."""
    from app.core import migrations

    settings = settings_for(env, signs=False)
    at, expected = database_revisions(settings), migrations.heads()
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

    settings = settings_for(env, signs=False)
    config = migrations.alembic_config(settings.database_url, settings)
    guarded(lambda: command.history(config, verbose=False))


@cli.command()
def check(env: EnvOption = None) -> None:
    """Verify that the models and the migrations agree (exit 1 if a migration is missing)."""
    from alembic.util.exc import AutogenerateDiffsDetected

    from app.core import migrations

    settings = settings_for(env, signs=False)
    at = database_revisions(settings)
    if at != migrations.heads():
        fail(
            f"the database is at {revisions_text(at)}: the check compares the models with a "
            "database at the latest migration; run `python main.py upgrade` first",
            1,
        )

    def compare() -> None:
        try:
            migrations.check(settings.database_url, settings=settings)
        except AutogenerateDiffsDetected as exc:
            raise AppErrorLine(
                f"models and migrations differ ({_first(exc)}): write the migration with "
                '`python main.py revision "<message>"`'
            ) from None

    guarded(compare)
    typer.echo("models and migrations agree")


def _first(exc: BaseException) -> str:
    return " ".join((str(exc).strip().splitlines() or [""])[0].split())[:300]


@cli.command()
def generate(
    name: Annotated[
        str | None, typer.Argument(help="Module name in snake_case; also its table.")
    ] = None,
    field: Annotated[
        list[str] | None,
        typer.Option(
            "--field",
            "-f",
            help="NAME:TYPE[:ARG][?][=DEFAULT], repeatable: title:str:200, price:decimal:10,2, "
            "'note:text?', published:bool=false (docs/generator.md).",
        ),
    ] = None,
    label: Annotated[
        str | None, typer.Option(help="Human name, singular (default: from NAME).")
    ] = None,
    plural: Annotated[
        str | None, typer.Option(help="Plural of NAME in snake_case (routes /api/v1/<plural>).")
    ] = None,
    table: Annotated[str | None, typer.Option(help="Table name (default: NAME).")] = None,
    unique: Annotated[
        list[str] | None, typer.Option("--unique", help="A field whose values are unique.")
    ] = None,
    spec: Annotated[
        Path | None,
        typer.Option("--spec", help="A YAML file with name, fields, label, plural, unique."),
    ] = None,
    from_table: Annotated[
        str | None,
        typer.Option(
            "--from-table", help="Read the fields from this table (DATABASE_URL); no migration."
        ),
    ] = None,
    rev_id: Annotated[
        str | None, typer.Option("--rev-id", help="Revision id of the migration.")
    ] = None,
    down_revision: Annotated[
        str | None,
        typer.Option("--down-revision", help="Parent of the migration (default: the head)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be written; write nothing.")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing files.")] = False,
    env: EnvOption = None,
) -> None:
    """Write a new business module: model, schemas, CRUD routes, permissions, migration, tests."""
    from app.devtools.generator import GeneratorError, Options
    from app.devtools.generator import generate as write_module

    options = Options(
        name=name,
        fields=field or [],
        label=label,
        plural=plural,
        table=table,
        unique=unique or [],
        spec_file=spec,
        from_table=from_table,
        rev_id=rev_id,
        down_revision=down_revision,
        dry_run=dry_run,
        force=force,
    )
    settings = settings_for(env) if from_table else None
    try:
        result = guarded(lambda: write_module(options, settings))
    except GeneratorError as exc:
        fail(str(exc))
    for line in result.lines:
        typer.echo(line)


def initial_data(settings: Settings) -> list[str]:
    """Load initial data; a refused value (e.g. INIT_ADMIN_PASSWORD) is one readable line."""
    from app.core.bootstrap import load_initial_data

    return guarded(lambda: asyncio.run(load_initial_data(settings)), what="initial data refused")


@cli.command()
def init(env: EnvOption = None) -> None:
    """Load the initial data of every enabled module (idempotent)."""
    settings = settings_for(env)
    loaded = initial_data(settings)
    typer.echo(f"initial data loaded: {', '.join(loaded) or 'nothing to load'}")


@cli.command("reencrypt-secrets")
def reencrypt_secrets(env: EnvOption = None) -> None:
    """After a SECRET_KEY rotation: re-encrypt MFA seeds under the new key."""
    from app.modules.system.commands import reencrypt_mfa_secrets

    settings = settings_for(env)
    changed, unreadable = guarded(lambda: asyncio.run(reencrypt_mfa_secrets(settings)))
    typer.echo(
        f"MFA seeds re-encrypted: {changed}; unreadable with every configured key: {unreadable}"
    )
    if unreadable:
        raise typer.Exit(1)


@cli.command()
def worker(
    env: EnvOption = None,
    leader: Annotated[
        bool, typer.Option(help="Also compete for the scheduler leader lease.")
    ] = False,
) -> None:
    """Execute job runs from the Redis queue (no HTTP); stop with SIGTERM."""
    from app.core.logging import configure_logging
    from app.core.modules import is_enabled
    from app.modules.scheduler.commands import run_worker

    settings = settings_for(env)
    if not settings.redis_url:
        fail("a separate worker needs REDIS_URL (without it, runs execute in the web process)")
    if not guarded(lambda: is_enabled(settings, "scheduler")):
        fail(
            "the scheduler module is not enabled: add it to MODULES or take it out of "
            "MODULES_DISABLED"
        )
    guarded(lambda: check_cache_reachable(settings))
    configure_logging(settings)
    guarded(lambda: asyncio.run(run_worker(settings, leader=leader)))


@cli.command()
def createsuperuser(
    username: Annotated[str, typer.Option(help="Login name (required).", show_default=False)],
    name: Annotated[str, typer.Option(help="Display name (default: the username).")] = "",
    email: Annotated[str | None, typer.Option(help="Email address.")] = None,
    password_stdin: Annotated[
        bool, typer.Option(help="Read the password from standard input instead of generating one.")
    ] = False,
    env: EnvOption = None,
) -> None:
    """Create a superuser (a generated one-time password is printed once unless given)."""
    from app.modules.system.commands import create_superuser

    settings = settings_for(env)
    password = sys.stdin.readline().rstrip("\n") if password_stdin else None
    generated = guarded(
        lambda: asyncio.run(
            create_superuser(
                settings, username=username, name=name or username, email=email, password=password
            )
        ),
        what="superuser not created",
    )
    typer.echo(f"superuser {username!r} created")
    if generated:
        typer.echo(f"one-time password (must be changed at first sign-in): {generated}")


@cli.command("reset-password")
def reset_password(username: Annotated[str, typer.Argument()], env: EnvOption = None) -> None:
    """Give USERNAME a generated one-time password; their sessions end at once."""
    from app.modules.system.commands import reset_password as reset

    settings = settings_for(env)
    secret = guarded(lambda: asyncio.run(reset(settings, username=username)))
    typer.echo(f"one-time password for {username!r} (must be changed at next sign-in): {secret}")


@cli.command("reset-mfa")
def reset_mfa(username: Annotated[str, typer.Argument()], env: EnvOption = None) -> None:
    """Turn USERNAME's MFA off (lost authenticator); their sessions end, they enrol again."""
    from app.core.errors import AppError
    from app.modules.system.commands import reset_mfa as reset

    settings = settings_for(env)
    try:
        done = guarded(lambda: asyncio.run(reset(settings, username=username)))
    except AppError as exc:
        fail(exc.message, 1)
    if done:
        typer.echo(f"MFA of {username!r} reset: they sign in with their password and enrol again")
    else:
        typer.echo(f"{username!r} has no MFA to reset")


@cli.command("export-users")
def export_users(
    path: Annotated[Path, typer.Argument(help="The .xlsx file to write.", dir_okay=False)],
    env: EnvOption = None,
) -> None:
    """Export every user to an xlsx file (as an operator: no data scope), with progress."""
    from app.modules.system.user.commands import export_to_file

    if path.suffix.lower() != ".xlsx":
        fail("the file name must end in .xlsx")
    settings = settings_for(env)
    show = Progress("users")
    try:
        count = guarded(lambda: asyncio.run(export_to_file(settings, path, show)))
    finally:
        show.finish()
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
    from app.modules.system.user.commands import import_from_file
    from app.modules.system.user.schemas import UserImportReport
    from app.modules.system.user.transfer import ImportRejected

    settings = settings_for(env)
    show = Progress("users")

    async def attempt() -> UserImportReport:
        try:
            return await import_from_file(settings, path, dry_run=dry_run, progress=show)
        except ImportRejected as exc:
            return exc.report

    try:
        report = guarded(lambda: asyncio.run(attempt()))
    finally:
        show.finish()
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
    sys.exit(run_cli(cli))
