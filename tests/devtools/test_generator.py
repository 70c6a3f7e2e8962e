"""The module generator: the Example module is exactly its output, names and fields are
checked, nothing a user types becomes code, `--dry-run` and existing files, `--from-table`."""

from __future__ import annotations

import ast
import asyncio
import re
import shutil
import subprocess
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from typer.testing import CliRunner

from app.core.config import BASE_DIR, load_settings
from app.devtools.generator import GeneratorError, Options, generate
from app.devtools.generator.naming import Code, pluralize
from app.devtools.generator.parse import build_spec, parse_field
from app.devtools.generator.render import Migration, environment, render, ruff_command
from app.devtools.generator.spec_file import load_spec_file
from main import cli

# How app/modules/example was made (its __init__.py repeats it).
EXAMPLE_FIELDS = ["name:str:100", "description:str:500?"]
EXAMPLE_REVISION, EXAMPLE_PARENT = "5e7a1c2d9b01", "c1f23fd99b28"


def example_migration() -> Path:
    found = sorted((BASE_DIR / "migrations" / "versions").glob(f"*-{EXAMPLE_REVISION}_*.py"))
    assert len(found) == 1, found
    return found[0]


def test_the_example_module_is_exactly_what_the_generator_writes() -> None:
    """Regenerated with the committed migration's date, every file is byte for byte equal:
    app/modules/example, tests/modules/example and the migration (its name included)."""
    committed = example_migration()
    stamp = re.search(r"^Create Date: (.+)$", committed.read_text(), re.MULTILINE)
    assert stamp is not None
    spec = build_spec("example", [parse_field(field) for field in EXAMPLE_FIELDS])
    migration = Migration(EXAMPLE_REVISION, EXAMPLE_PARENT, datetime.fromisoformat(stamp[1]))
    files = render(spec, migration)
    assert committed.relative_to(BASE_DIR).as_posix() in files
    for path, source in files.items():
        assert (BASE_DIR / path).read_text(encoding="utf-8") == source, f"{path} differs"
    generated = {path for path in files if path.startswith(("app/", "tests/"))}
    on_disk = {
        path.relative_to(BASE_DIR).as_posix()
        for folder in ("app/modules/example", "tests/modules/example")
        for path in (BASE_DIR / folder).glob("*.py")
    }
    assert on_disk == generated, "files in the example module that the generator does not write"


def test_the_command_sees_the_example_as_up_to_date() -> None:
    """The real command, against the real tree: nothing would change, no new migration."""
    result = CliRunner().invoke(
        cli,
        ["generate", "example", "--dry-run", "--force"]
        + [arg for field in EXAMPLE_FIELDS for arg in ("--field", field)],
    )
    assert result.exit_code == 0, result.output
    assert "create " not in result.output
    assert "overwrite" not in result.output
    assert result.output.count("unchanged") == 10
    assert f"{example_migration().name} already creates example" in result.output
    assert "nothing written" in result.output


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["generate", *args])
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["class", "--field", "a:str"], "keyword or builtin"),
        (["list", "--field", "a:str"], "keyword or builtin"),
        (["Gadget", "--field", "a:str"], "snake_case"),
        (["gad-get", "--field", "a:str"], "snake_case"),
        (["gadget"], "at least one --field"),
        (["system", "--field", "a:str"], "already exists"),
        (["sys_user", "--field", "a:str"], "table 'sys_user' already belongs"),
        (["user", "--field", "a:str"], "table 'user' is a reserved word in SQL"),
        (["order", "--field", "a:str"], "table 'order' is a reserved word in SQL"),
        (["gadget", "--field", "a:str", "--table", "group"], "reserved word in SQL"),
        (["sys_report", "--field", "a:str"], "name space of the system's tables"),
        (["auth_gadget", "--field", "a:str"], "name space of the system's tables"),
        (["article", "--field", "a:str"], "clash with the existing route /api/v1/articles"),
        (["string", "--field", "a:str"], "clashes with a name the generated code imports"),
        (["gadget", "--field", "id:int"], "reserved"),
        (["gadget", "--field", "created_at:datetime"], "reserved"),
        (["gadget", "--field", "version:int"], "reserved"),
        (["gadget", "--field", "class:str"], "Python keyword"),
        (["gadget", "--field", "model_dump:str"], "reserved"),
        (["gadget", "--field", "title:str", "--field", "title:int"], "given twice"),
        (["gadget", "--field", "title:varchar2"], "unknown type"),
        (["gadget", "--field", "title"], "expected NAME:TYPE"),
        (["gadget", "--field", "title:str:0"], "str length"),
        (["gadget", "--field", "title:str:5000"], "use text"),
        (["gadget", "--field", "price:decimal:40,2"], "precision"),
        (["gadget", "--field", "n:int=ten"], "not an integer"),
        (["gadget", "--field", "n:int=99999999999"], "not an integer"),
        (["gadget", "--field", "on:bool=maybe"], "true or false"),
        (["gadget", "--field", "d:date=tomorrow"], "ISO date"),
        (["gadget", "--field", "at:datetime=2030-01-01"], "only datetime default"),
        (["gadget", "--field", "x:float=nan"], "finite"),
        (["gadget", "--field", "body:text", "--unique", "body"], "unique works on"),
        (["gadget", "--field", "a:str", "--unique", "b"], "no such field"),
        (["gadget", "--field", "a:str", "--label", 'Ga"dget'], "--label"),
        (["gadget", "--field", "a:str", "--label", "Gadget\nimport os"], "--label"),
        (["gadget", "--field", "page:str"], "list route filters"),
        (["gadget", "--field", "t:str=" + "x" * 41], "at most 40"),
        (["gadget", "--field", "t:str=" + "'" * 30], "too long to record"),
        (["gadget", "--field", "a:str", "--rev-id", EXAMPLE_REVISION], "taken"),
        (["gadget", "--field", "a:str", "--rev-id", "X!"], "--rev-id"),
        (["gadget", "--field", "a:str", "--down-revision", "ffffffffffff"], "no such revision"),
    ],
)
def test_bad_input_is_one_clear_error_with_exit_status_2(args: list[str], message: str) -> None:
    code, output = invoke(*args)
    assert code == 2, output
    assert output.startswith("error: ")
    assert message in output
    assert "Traceback" not in output
    assert not (BASE_DIR / "app" / "modules" / "gadget").exists()


def test_dry_run_shows_the_files_and_writes_nothing() -> None:
    code, output = invoke("gadget", "--field", "title:str:200", "--dry-run")
    assert code == 0, output
    for path in (
        "app/modules/gadget/models.py",
        "app/modules/gadget/router.py",
        "tests/modules/gadget/test_gadget.py",
    ):
        assert f"create     {path}" in output
    assert re.search(r"migrations/versions/\d{4}_\d\d_\d\d_\d{4}-[0-9a-f]{12}_gadget\.py", output)
    assert "nothing written" in output
    assert not (BASE_DIR / "app" / "modules" / "gadget").exists()
    assert not list((BASE_DIR / "migrations" / "versions").glob("*_gadget.py"))


def migrations_copy(tmp_path: Path) -> Path:
    """A project root holding a copy of the migrations (the generator writes there)."""
    root = tmp_path / "project"
    shutil.copytree(BASE_DIR / "migrations", root / "migrations")
    return root


def test_existing_files_are_kept_unless_forced(tmp_path: Path) -> None:
    root = migrations_copy(tmp_path)
    options = Options(name="gadget", fields=["title:str:200"], root=root)
    first = generate(options)
    model = root / "app" / "modules" / "gadget" / "models.py"
    assert model.is_file()
    assert any(path.startswith("migrations/versions/") for path in first.files)
    model.write_text("# edited by hand\n")
    with pytest.raises(GeneratorError, match=r"already exists.*--force"):
        generate(Options(name="gadget", fields=["title:str:100"], root=root))
    assert model.read_text() == "# edited by hand\n"
    preview = generate(
        Options(name="gadget", fields=["title:str:100"], root=root, dry_run=True, force=True)
    )
    assert "-# edited by hand" in preview.lines
    assert model.read_text() == "# edited by hand\n"
    forced = generate(Options(name="gadget", fields=["title:str:100"], root=root, force=True))
    assert "String(100)" in model.read_text()
    assert not any(path.startswith("migrations/") for path in forced.files), (
        "the table's migration exists: regenerating writes no second one"
    )


def test_the_migration_follows_the_single_head_and_refuses_several(tmp_path: Path) -> None:
    root = migrations_copy(tmp_path)
    from alembic.script import ScriptDirectory

    head = ScriptDirectory(str(root / "migrations")).get_current_head()
    result = generate(Options(name="gadget", fields=["title:str"], root=root, dry_run=True))
    migration = next(source for path, source in result.files.items() if "migrations/" in path)
    assert f'down_revision: str | Sequence[str] | None = "{head}"' in migration
    assert re.search(r'^revision: str = "[0-9a-f]{12}"$', migration, re.MULTILINE)
    fork = root / "migrations" / "versions" / "2030_01_01_0000-fork00000001_fork.py"
    fork.write_text(
        f'revision = "fork00000001"\ndown_revision = "{EXAMPLE_PARENT}"\n'
        "def upgrade() -> None: ...\ndef downgrade() -> None: ...\n"
    )
    with pytest.raises(GeneratorError, match="2 heads"):
        generate(Options(name="gadget", fields=["title:str"], root=root, dry_run=True))


def test_user_text_reaches_the_code_only_as_literals() -> None:
    """A default full of quotes and code stays one string constant; everything parses."""
    nasty = "x\"\"\"'); import os; os.system('id') #"
    spec = build_spec(
        "gadget",
        [parse_field(f"title:str:60={nasty}"), parse_field("body:text?=a\\nb")],
        label="Gadget (v2) & co",
    )
    files = render(spec, Migration("abcd00000001", EXAMPLE_PARENT, datetime(2030, 1, 1)))
    for path, source in files.items():
        tree = ast.parse(source, filename=path)
        imported = {
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.Import | ast.ImportFrom)
            for alias in node.names
        }
        assert "os" not in imported, path
        calls = [n for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr == "system"]
        assert not calls, path
    constants = {
        node.value
        for node in ast.walk(ast.parse(files["app/modules/gadget/schemas.py"]))
        if isinstance(node, ast.Constant)
    }
    assert nasty in constants
    assert "a\\nb" in constants


def test_the_templates_refuse_unchecked_strings() -> None:
    template = environment().from_string("x = {{ value }}\n")
    assert template.render(value=Code("1")) == "x = 1\n"
    with pytest.raises(TypeError, match="unchecked value"):
        template.render(value="__import__('os')")


def ruff_check(files: dict[str, str]) -> None:
    """`ruff check` with the project's settings on each file, without writing it."""
    ruff = ruff_command()
    if ruff is None:
        pytest.skip("ruff is not installed")
    # On standard input ruff cannot see that a new package is first-party: say so.
    first_party = "lint.isort.known-first-party=['app', 'tests']"
    for path, source in files.items():
        checked = subprocess.run(
            [*ruff, "check", "--config", first_party, "--stdin-filename", path, "-"],
            input=source,
            capture_output=True,
            text=True,
            cwd=BASE_DIR,
            timeout=60,
            check=False,
        )
        assert checked.returncode == 0, f"{path}:\n{checked.stdout}"


@pytest.mark.parametrize(
    ("name", "fields"),
    [
        ("account", ["item10:str", "amount:decimal"]),
        ("thing", ["body:text", "at:datetime=now", "note:str?"]),
        ("item2", ["n:int"]),
        ("ledger", ["memo:text?", "total:decimal:8,2=0", "on:date?"]),
    ],
)
def test_imports_and_layout_pass_ruff_whatever_the_name_and_fields(
    name: str, fields: list[str]
) -> None:
    """The new module's imports sort before or after `auth` and `system` by its name; the
    optional imports and helpers each field type brings keep ruff's layout."""
    spec = build_spec(name, [parse_field(field) for field in fields])
    ruff_check(render(spec, Migration("abcd00000003", EXAMPLE_PARENT, datetime(2030, 1, 1))))


def test_longest_names_still_pass_ruff() -> None:
    """30-character names and label: ruff format wraps the code, and no line is too long."""
    long = "abcdefghij_klmnopqrst_uvwxyzab"
    kinds = "str:255 text? int=7 bigint? float decimal:38,10 bool=true date? datetime=now"
    fields = [
        parse_field(f"{long[:27]}_{index}:{kind}") for index, kind in enumerate(kinds.split())
    ]
    longest_default = parse_field(f"{long[:26]}_dd:str:254={'word ' * 7}words")
    assert len(longest_default.spec_text) == 78  # quoted: 80, the most a field may take
    spec = build_spec(
        long,
        [*fields, longest_default, parse_field("code:str:40")],
        label="A" * 30,
        unique=["code"],
    )
    ruff_check(render(spec, Migration("abcd00000002", EXAMPLE_PARENT, datetime(2030, 1, 1))))


def test_plurals_labels_and_a_spec_file(tmp_path: Path) -> None:
    assert [pluralize(w) for w in ("gadget", "category", "box", "day", "status")] == [
        "gadgets",
        "categories",
        "boxes",
        "days",
        "statuses",
    ]
    spec_file = tmp_path / "person.yaml"
    spec_file.write_text(
        "name: person\nplural: people\nunique: [email]\nfields:\n"
        "  - email:str:200\n"
        "  - {name: born, type: date, nullable: true}\n"
        "  - {name: score, type: decimal, precision: 5, scale: 1, default: 2.5}\n"
    )
    spec = load_spec_file(spec_file)
    assert spec.path == "/api/v1/people"
    assert (spec.label, spec.plural_label) == ("Person", "People")
    assert [f.name for f in spec.unique_fields] == ["email"]
    assert spec.command() == [
        "person",
        "--plural",
        "people",
        "--field",
        "email:str:200",
        "--field",
        "born:date?",
        "--field",
        "score:decimal:5,1=2.5",
        "--unique",
        "email",
    ]
    spec_file.write_text("name: person\nfields: [{name: a, type: str, colour: red}]\n")
    with pytest.raises(GeneratorError, match="keys are"):
        load_spec_file(spec_file)


# ------------------------------------------------------------------- --from-table --


def make_table(url: str, ddl: str) -> None:
    async def create() -> None:
        engine = create_async_engine(url)
        try:
            async with engine.begin() as connection:
                await connection.execute(text(ddl))
        finally:
            await engine.dispose()

    asyncio.run(create())


def test_from_table_maps_the_columns_and_writes_no_migration(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'legacy.db'}"
    make_table(
        url,
        "CREATE TABLE legacy_item (id INTEGER PRIMARY KEY, title VARCHAR(80) NOT NULL UNIQUE,"
        " body TEXT, qty INTEGER NOT NULL, price NUMERIC(8, 2), active BOOLEAN NOT NULL,"
        " born DATE, seen DATETIME, ratio FLOAT, created_at DATETIME NOT NULL,"
        " updated_at DATETIME NOT NULL)",
    )
    settings = load_settings("test", database_url=url)
    result = generate(
        Options(name="legacy", from_table="legacy_item", dry_run=True, root=tmp_path), settings
    )
    assert [f.spec_text for f in result.spec.fields] == [
        "title:str:80",
        "body:text?",
        "qty:int",
        "price:decimal:8,2?",
        "active:bool",
        "born:date?",
        "seen:datetime?",
        "ratio:float?",
    ]
    assert [f.name for f in result.spec.unique_fields] == ["title"]
    assert not any(path.startswith("migrations/") for path in result.files)
    output = "\n".join(result.lines)
    assert "no create-table migration written: table legacy_item already exists" in output
    assert "lacks version" in output
    assert '__tablename__ = "legacy_item"' in result.files["app/modules/legacy/models.py"]
    assert "--table legacy_item" in result.files["app/modules/legacy/__init__.py"]


@pytest.mark.parametrize(
    ("ddl", "message"),
    [
        ("CREATE TABLE t (id INTEGER PRIMARY KEY, data JSON, blob BLOB)", "data (JSON), blob"),
        ("CREATE TABLE t (code VARCHAR(10) PRIMARY KEY, name TEXT)", "integer primary key"),
        ("CREATE TABLE t (id INTEGER PRIMARY KEY, class TEXT)", "Python keyword"),
    ],
)
def test_from_table_refuses_what_it_cannot_map(tmp_path: Path, ddl: str, message: str) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'legacy.db'}"
    make_table(url, ddl)
    settings = load_settings("test", database_url=url)
    with pytest.raises(GeneratorError, match=re.escape(message)):
        generate(Options(name="legacy", from_table="t", dry_run=True, root=tmp_path), settings)
    with pytest.raises(GeneratorError, match="no such table"):
        generate(Options(name="legacy", from_table="nope", dry_run=True), settings)
