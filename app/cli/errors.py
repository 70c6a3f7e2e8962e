"""One line per command-line failure (see `app.cli`)."""

from __future__ import annotations

import os
import re
import sys
import traceback
from collections.abc import Callable
from typing import NoReturn, TypeVar

import typer

# Typer (pinned) ships its own copy of click; its exceptions are these, not `click`'s.
from typer._click import exceptions as click

from app.core.config import ConfigError

T = TypeVar("T")

UPGRADE_FIRST = "run `python main.py upgrade` first"
# Set to show the traceback of an unexpected failure (for a bug report), never by default.
TRACEBACK_VARIABLE = "FASTAPIADMIN_TRACEBACK"


class AppErrorLine(Exception):
    """Raised by a command to fail with `message` and exit `code` (used inside `guarded`)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def fail(message: str, code: int = 2) -> NoReturn:
    """Print `error: <message>` as one line on stderr and exit with `code`."""
    line = " ".join(message.split())  # never more than one line, whatever the message held
    typer.echo(f"error: {line}", err=True)
    raise typer.Exit(code)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [""])[0][:200]


def _missing_table(exc: BaseException) -> bool:
    """The statement used a table that does not exist: the schema is missing or behind."""
    orig = getattr(exc, "orig", None)
    sqlstate = str(getattr(orig, "sqlstate", None) or "")
    args = getattr(orig, "args", None) or (None,)
    text = str(exc)
    return (
        sqlstate == "42P01"  # PostgreSQL undefined_table
        or args[0] == 1146  # MySQL/MariaDB ER_NO_SUCH_TABLE
        or "no such table" in text  # SQLite
    )


def failure_line(exc: BaseException) -> str:
    """What went wrong, in one line, and what to do when we know it."""
    from sqlalchemy.exc import DBAPIError

    from app.core.errors import is_dependency_outage

    first = _first_line(exc)
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"cannot use {exc.filename}: {exc.strerror or first}"
    if isinstance(exc, DBAPIError) and _missing_table(exc):
        return f"the database has no schema yet or is behind the code: {UPGRADE_FIRST}"
    kind = "database unreachable" if is_dependency_outage(exc) else "database error"
    return f"{kind}: {type(exc).__name__}: {first}"


_UNKNOWN_REVISION = re.compile(r"Can't locate revision identified by '([^']*)'")


def migration_line(exc: BaseException) -> str:
    """Alembic's `CommandError`s, said for an operator."""
    message = _first_line(exc)
    if "Target database is not up to date" in message:
        return f"the database is behind the migrations: {UPGRADE_FIRST}"
    unknown = _UNKNOWN_REVISION.search(message)
    if unknown:
        return (
            f"unknown revision {unknown.group(1)!r}: use a revision id from "
            "`python main.py history`, `head`, `base` or a relative step such as -1"
        )
    if "Relative revision" in message and "didn't produce" in message:
        return f"{message.rstrip('.')}: see `python main.py history`"
    return f"migration failed: {message}"


def app_error_line(exc: BaseException) -> str:
    """An `AppError`'s message with the field problems it carries (e.g. a password policy)."""
    message = str(getattr(exc, "message", exc))
    details = []
    for error in getattr(exc, "errors", ()):
        field = getattr(error, "field", None) or (
            error.get("field") if isinstance(error, dict) else None
        )
        text = getattr(error, "message", None) or (
            error.get("message") if isinstance(error, dict) else str(error)
        )
        if field and field in message and str(text).lower() in message.lower():
            continue  # the message says it already ("Missing column: password")
        details.append(f"{field} {text}" if field else str(text))
    return f"{message}: {'; '.join(details)}" if details else message


def guarded(action: Callable[[], T], *, what: str = "") -> T:
    """Run `action`, turning each expected failure into one readable line: a configuration
    mistake (exit 2), the database unreachable or refusing, a migration problem, a refused
    value (`AppError`, with its field problems), a file that cannot be used (exit 1)."""
    from alembic.util.exc import CommandError
    from sqlalchemy.exc import DBAPIError, SQLAlchemyError

    from app.core.cache import CacheUnavailableError
    from app.core.errors import AppError

    prefix = f"{what}: " if what else ""
    try:
        return action()
    except AppErrorLine as exc:
        fail(f"{prefix}{exc}", exc.code)
    except ConfigError as exc:  # e.g. a module in MODULES that does not exist
        fail(str(exc))
    except AppError as exc:
        fail(f"{prefix}{app_error_line(exc)}", 1)
    except CommandError as exc:
        fail(f"{prefix}{migration_line(exc)}", 1)
    except CacheUnavailableError as exc:
        fail(f"{prefix}cache unreachable: {_first_line(exc)}", 1)
    except (DBAPIError, OSError) as exc:
        fail(f"{prefix}{failure_line(exc)}", 1)
    except SQLAlchemyError as exc:
        fail(f"{prefix}database error: {type(exc).__name__}: {_first_line(exc)}", 1)


def _usage_line(exc: click.UsageError) -> str:
    command = exc.ctx.command_path if exc.ctx is not None else "main.py"
    return f"{exc.format_message()} (see `python {command} --help`)"


def run_cli(command: Callable[..., object], argv: list[str] | None = None) -> int:
    """Run the typer app with the one-line rule applied to every failure: usage mistakes,
    an interrupt, and (last resort) anything unexpected, which is a bug: one line saying so
    and how to see the traceback."""
    try:
        result = command(args=argv, standalone_mode=False, prog_name="main.py")
    except click.NoArgsIsHelpError as exc:  # `python main.py` alone: the help, as usual
        if exc.ctx is not None:
            typer.echo(exc.ctx.get_help())
        return 0
    except click.UsageError as exc:
        typer.echo(f"error: {' '.join(_usage_line(exc).split())}", err=True)
        return 2
    except click.ClickException as exc:
        typer.echo(f"error: {' '.join(exc.format_message().split())}", err=True)
        return exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("error: interrupted", err=True)
        return 130
    except typer.Exit as exc:
        return exc.exit_code
    except Exception as exc:
        if os.environ.get(TRACEBACK_VARIABLE):
            traceback.print_exc()
        typer.echo(
            f"error: unexpected {type(exc).__name__}: {' '.join(_first_line(exc).split())} "
            f"(this is a bug; {TRACEBACK_VARIABLE}=1 shows the traceback)",
            err=True,
        )
        return 1
    sys.stdout.flush()
    return result if isinstance(result, int) else 0
