"""`python main.py generate`: check the name against the project, plan the files, then show
them (`--dry-run`) or write them.

The checks run against the project as it is: the packages under app/modules (every enabled or
disabled module), their models' tables, their routes, and the migrations in
migrations/versions. Nothing is written unless every check passes, and no existing file is
replaced without `--force`.
"""

from __future__ import annotations

import difflib
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from alembic.script import ScriptDirectory

from app.core.config import BASE_DIR, Settings
from app.devtools.generator.parse import build_spec, parse_field
from app.devtools.generator.render import Migration, render
from app.devtools.generator.spec import GeneratorError, ResourceSpec
from app.devtools.generator.spec_file import load_spec_file


@dataclass
class Options:
    """The command line, as given."""

    name: str | None = None
    fields: Sequence[str] = ()
    label: str | None = None
    plural: str | None = None
    table: str | None = None
    unique: Sequence[str] = ()
    spec_file: Path | None = None
    from_table: str | None = None
    rev_id: str | None = None
    down_revision: str | None = None
    dry_run: bool = False
    force: bool = False
    root: Path = BASE_DIR


@dataclass
class Result:
    """What happened, for the command to print."""

    spec: ResourceSpec
    files: dict[str, str]
    lines: list[str] = field(default_factory=list)


def resolve_spec(
    options: Options, settings: Settings | None = None
) -> tuple[ResourceSpec, list[str]]:
    """The validated spec from --spec, --from-table or NAME and --field; plus notes."""
    notes: list[str] = []
    if options.spec_file is not None:
        if options.fields or options.label or options.plural or options.unique or options.table:
            raise GeneratorError("--spec holds everything: give no --field/--label/--plural/...")
        if options.from_table:
            raise GeneratorError("use --spec or --from-table, not both")
        spec = load_spec_file(options.spec_file)
        if options.name and options.name != spec.name:
            raise GeneratorError(f"NAME {options.name!r} differs from the spec's {spec.name!r}")
        return spec, notes
    if not options.name:
        raise GeneratorError("give the module NAME (or --spec FILE)")
    if options.from_table is not None:
        from app.devtools.generator.from_table import read_table

        if options.fields:
            raise GeneratorError("--from-table reads the fields from the table: give no --field")
        if settings is None:
            raise GeneratorError("--from-table needs the database settings")
        found = read_table(settings, options.from_table)
        notes += found.notes
        if found.missing:
            notes.append(
                f"table {options.from_table} lacks {', '.join(found.missing)}, which the model "
                'has: add them with `python main.py revision "<message>"` before using the module'
            )
        return (
            build_spec(
                options.name,
                found.fields,
                label=options.label,
                plural=options.plural,
                unique=options.unique,
                table=options.from_table,
            ),
            notes,
        )
    return (
        build_spec(
            options.name,
            [parse_field(text) for text in options.fields],
            label=options.label,
            plural=options.plural,
            unique=options.unique,
            table=options.table,
        ),
        notes,
    )


# ------------------------------------------------------------------ the project --


@dataclass
class Project:
    """What the project already has, besides the module being generated."""

    modules: set[str]
    tables: set[str]
    routes: set[str]
    warnings: list[str]


def survey(own: str) -> Project:
    """Import every package under app/modules (except `own`): names, tables and routes."""
    from sqlalchemy import Table

    from app.core.database import Base
    from app.core.modules import import_models, load_module, local_modules

    modules = set(local_modules())
    routes: set[str] = set()
    notes: list[str] = []
    for name in sorted(modules - {own}):
        try:
            spec = load_module(name)
            import_models([spec])
        except Exception as exc:  # a half-written module must not stop the generator
            notes.append(f"could not import module {name} ({type(exc).__name__}: {exc})")
            continue
        for router in spec.routers:
            routes |= {getattr(route, "path", "") for route in router.routes}
    prefix = f"app.modules.{own}."
    own_tables = {
        mapper.local_table.name
        for mapper in Base.registry.mappers
        if mapper.class_.__module__.startswith(prefix) and isinstance(mapper.local_table, Table)
    }
    return Project(modules, set(Base.metadata.tables) - own_tables, routes, notes)


def _route_clash(path: str, routes: set[str]) -> str | None:
    for route in sorted(routes):
        if route == path or route.startswith(f"{path}/") or path.startswith(f"{route}/"):
            return route
    return None


def migrations_creating(root: Path, table: str) -> list[Path]:
    """Migration files that create `table`."""
    pattern = re.compile(rf"create_table\(\s*[\"']{re.escape(table)}[\"']")
    versions = root / "migrations" / "versions"
    return sorted(p for p in versions.glob("*.py") if pattern.search(p.read_text("utf-8")))


# Prefixes of tables that belong to the system: the core modules' and the databases' own.
SYSTEM_TABLE_PREFIXES = ("sys_", "auth_", "alembic_", "sqlite_", "pg_", "mysql", "information_")


def sql_reserved_words() -> frozenset[str]:
    """Words reserved in SQL on any database we run on (SQLite, PostgreSQL, MySQL, MariaDB)."""
    from sqlalchemy.dialects.mysql.reserved_words import (
        RESERVED_WORDS_MARIADB,
        RESERVED_WORDS_MYSQL,
    )
    from sqlalchemy.dialects.postgresql.base import RESERVED_WORDS as POSTGRESQL
    from sqlalchemy.sql.compiler import RESERVED_WORDS as ANSI

    return frozenset(ANSI | POSTGRESQL | RESERVED_WORDS_MYSQL | RESERVED_WORDS_MARIADB)


def check_table_name(table: str) -> None:
    """Refuse a table name that is an SQL reserved word (`user`, `order`: every hand-written
    statement would need quoting, differently per database) or lies in a system namespace."""
    if table.lower() in sql_reserved_words():
        raise GeneratorError(
            f"table {table!r} is a reserved word in SQL; choose another name (e.g. "
            f"{table}_item) or --table"
        )
    if table.lower().startswith(SYSTEM_TABLE_PREFIXES):
        raise GeneratorError(
            f"table {table!r} is in a name space of the system's tables "
            f"({', '.join(p + '*' for p in SYSTEM_TABLE_PREFIXES)}); choose another name or --table"
        )


def check_project(spec: ResourceSpec, options: Options, project: Project) -> list[str]:
    """Refuse clashes with existing modules, tables and routes; notes for the output."""
    notes = list(project.warnings)
    exists = spec.name in project.modules or (options.root / "app/modules" / spec.name).exists()
    if exists and not options.force:
        raise GeneratorError(
            f"module {spec.name!r} already exists (app/modules/{spec.name}); choose another "
            "name, or pass --force to regenerate it (its files are overwritten)"
        )
    if spec.table in project.tables:
        raise GeneratorError(
            f"table {spec.table!r} already belongs to another module's model; choose another "
            "name (or --table)"
        )
    if options.from_table is None:  # an existing table is taken as it is named
        check_table_name(spec.table)
    clash = _route_clash(spec.path, project.routes)
    if clash:
        raise GeneratorError(
            f"the routes {spec.path} would clash with the existing route {clash}; choose "
            "another name (or --plural)"
        )
    return notes


def plan_migration(spec: ResourceSpec, options: Options, notes: list[str]) -> Migration | None:
    """The create-table migration to write, or None (with the reason in `notes`)."""
    from alembic.util import rev_id

    if options.from_table is not None:
        notes.append(
            f"no create-table migration written: table {spec.table} already exists (--from-table)"
        )
        return None
    creating = migrations_creating(options.root, spec.table)
    if creating:
        if not options.force:
            raise GeneratorError(
                f"table {spec.table!r} is already created by {creating[0].name}; choose another "
                "name (or --table)"
            )
        notes.append(
            f"no migration written: {creating[0].name} already creates {spec.table}; if you "
            'changed fields, run `python main.py revision "<message>"` and review it'
        )
        return None
    script = ScriptDirectory(str(options.root / "migrations"))
    try:
        heads = script.get_heads()
    except Exception as exc:  # a broken chain: say so instead of a traceback
        raise GeneratorError(
            f"the migrations cannot be read ({type(exc).__name__}: {exc}); fix them first"
        ) from None
    if options.down_revision is not None:
        if not _known(script, options.down_revision):
            raise GeneratorError(f"--down-revision {options.down_revision!r}: no such revision")
        parent = options.down_revision
    else:
        if len(heads) != 1:
            raise GeneratorError(
                f"the migrations have {len(heads)} heads ({', '.join(sorted(heads))}): merge "
                "them first (`alembic merge`), or pass --down-revision"
            )
        parent = heads[0]
    revision = options.rev_id or rev_id()
    if _known(script, revision):
        raise GeneratorError(f"--rev-id {revision!r} is taken by an existing migration")
    try:
        return Migration(revision, parent, datetime.now(UTC))
    except ValueError as exc:
        raise GeneratorError(f"--rev-id: {exc}") from None


def _known(script: ScriptDirectory, revision: str) -> bool:
    """True if `revision` is (a prefix of) an existing revision id."""
    from alembic.script.revision import RevisionError
    from alembic.util import CommandError

    try:
        return script.get_revision(revision) is not None
    except (RevisionError, CommandError):
        return False


# ------------------------------------------------------------------------ output --


def diff_lines(root: Path, files: dict[str, str], *, force: bool) -> tuple[list[str], list[str]]:
    """(what each file would do, with a diff for changed ones; the existing files that differ)."""
    out: list[str] = []
    blocked: list[str] = []
    for path, source in files.items():
        target = root / path
        if not target.exists():
            out.append(f"create     {path} ({source.count(chr(10))} lines)")
            continue
        current = target.read_text("utf-8")
        if current == source:
            out.append(f"unchanged  {path}")
            continue
        if not force:
            blocked.append(path)
        out.append(f"{'overwrite' if force else 'EXISTS'}  {path}")
        out += [
            line.rstrip("\n")
            for line in difflib.unified_diff(
                current.splitlines(keepends=True),
                source.splitlines(keepends=True),
                fromfile=f"a/{path}",
                tofile=f"b/{path}",
            )
        ]
    return out, blocked


def next_steps(spec: ResourceSpec, migration: Migration | None) -> list[str]:
    steps = [
        "",
        f"The module is enabled by MODULES=* (disable it with MODULES_DISABLED={spec.name}).",
        "Next:",
    ]
    if migration is not None:
        steps.append("  python main.py upgrade            # create the table")
    steps += [
        "  python main.py init               # its menu and one button per permission code",
        f"  python -m pytest tests/modules/{spec.name}",
        f"  routes under {spec.path}; grant {spec.kebab}:{spec.kebab}:* to roles that need them",
    ]
    return steps


def generate(options: Options, settings: Settings | None = None) -> Result:
    """Validate, plan and (unless --dry-run) write the module. Raises GeneratorError."""
    spec, notes = resolve_spec(options, settings)
    if options.table is not None and options.from_table is not None:
        raise GeneratorError("--from-table names the table: give no --table")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # importing every module may warn; not our concern
        project = survey(spec.name)
    notes += check_project(spec, options, project)
    migration = plan_migration(spec, options, notes)
    files = render(spec, migration)
    summary, blocked = diff_lines(options.root, files, force=options.force)
    lines = [f"{'Would write' if options.dry_run else 'Writing'} module {spec.name!r}:", *summary]
    lines += [f"note: {note}" for note in notes]
    if options.dry_run:
        if blocked:
            lines.append(f"{len(blocked)} existing file(s) differ: they need --force")
        lines.append("dry run: nothing written")
        return Result(spec, files, lines)
    if blocked:
        raise GeneratorError(
            "these files exist and differ; pass --force to overwrite them:\n  "
            + "\n  ".join(blocked)
        )
    for path, source in files.items():
        target = options.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(source, encoding="utf-8")
    lines += next_steps(spec, migration)
    return Result(spec, files, lines)
