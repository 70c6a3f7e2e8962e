"""Render a `ResourceSpec` into files: `{relative path: source}`.

The Jinja2 environment is strict twice over: an undefined name is an error (`StrictUndefined`),
and every `{{ value }}` must be an `Ident`, `Prose`, `Code`, int or bool (the `finalize` hook
refuses any other string), so text a user typed reaches the code only as a checked identifier,
checked prose, or a literal made by `literal()`.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from app.core.sorts import index_name_of
from app.devtools.generator.naming import Code, Ident, Prose, kebab
from app.devtools.generator.spec import TEXT_MAX_LENGTH, ResourceSpec
from app.devtools.generator.views import (
    FieldView,
    field_views,
    from_imports,
    import_order,
    literal,
)

TEMPLATES = Path(__file__).parent / "templates"


def _finalize(value: Any) -> Any:
    if isinstance(value, Ident | Prose | Code | bool | int) or value is None:
        return "" if value is None else value
    raise TypeError(f"unchecked value {value!r} in a template: build it as Ident, Prose or Code")


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        undefined=StrictUndefined,
        # We write Python, not HTML: nothing is escaped; `_finalize` guards the values instead.
        autoescape=select_autoescape(enabled_extensions=("html", "xml"), default=False),
        finalize=_finalize,
        extensions=["jinja2.ext.do"],
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["py"] = literal
    env.filters["imports"] = lambda names: Code(", ".join(import_order(set(names))))
    env.filters["from_imports"] = from_imports
    return env


REVISION = re.compile(r"^[0-9a-z]{4,32}$")


@dataclass(frozen=True)
class Migration:
    """The create-table migration: its revision, parent and date."""

    revision: str
    down_revision: str
    created: datetime

    def __post_init__(self) -> None:
        for value in (self.revision, self.down_revision):
            if not REVISION.match(value):
                raise ValueError(f"revision {value!r}: use 4-32 characters a-z, 0-9")

    @property
    def path(self) -> str:
        stamp = self.created.strftime("%Y_%m_%d_%H%M")
        return f"migrations/versions/{stamp}-{self.revision}_{{name}}.py"


def reproduce_command(spec: ResourceSpec) -> list[Code]:
    """`python main.py generate ...` for this spec, as comment lines of at most 100 chars."""
    args = spec.command()
    lines = [f"python main.py generate {shlex.quote(args[0])} --force"]
    index = 1
    while index < len(args):
        option, value = args[index], args[index + 1]
        lines.append(f"    {option} {shlex.quote(value)}")
        index += 2
    return [Code(f"{line} \\" if i < len(lines) - 1 else line) for i, line in enumerate(lines)]


ACTIONS = ("list", "read", "create", "update", "delete")


def sort_indexes(table: str, fields: list[FieldView]) -> list[SimpleNamespace]:
    """The indexes the model's `list_sorts` attaches for the list's sorts, in the migration's
    order: `(field, id)` for each sortable field that needs one, then the timestamps."""
    names = [f.name for f in fields if f.sort_indexed] + ["created_at", "updated_at"]
    return [
        SimpleNamespace(
            name=literal(index_name_of(table, [name, "id"])),
            columns=Code(f"[{literal(name)}, {literal('id')}]"),
        )
        for name in names
    ]


def context(spec: ResourceSpec, migration: Migration | None) -> dict[str, Any]:
    fields = field_views(spec)
    types = {f.spec.type for f in fields}
    name = spec.name
    upper = Ident(name.upper())
    return {
        "spec": spec,
        "name": name,
        "Model": spec.pascal,
        "kebab": spec.kebab,
        "plural": spec.plural,
        "table": spec.table,
        "path": Code(literal(spec.path)),
        "path_text": Prose(spec.path),
        "label": spec.label,
        "label_lower": spec.label_lower,
        "plural_label": spec.plural_label,
        "plural_label_lower": spec.plural_label_lower,
        "article": spec.article,
        "fields": fields,
        "types": types,
        "filter": next((f for f in fields if f.spec is spec.filter_field), None),
        "unique_fields": [f for f in fields if f.unique],
        "sorts_name": Ident(f"{upper}_SORTS"),
        "sort_indexes": sort_indexes(spec.table, fields),
        "nullable_fields": [f for f in fields if f.nullable],
        "default_fields": [f for f in fields if f.default_json is not None],
        "required_fields": [f for f in fields if f.required],
        "first": fields[0],
        "codes": SimpleNamespace(**{a: Ident(f"{upper}_{a.upper()}") for a in ACTIONS}),
        "code_names": [Ident(f"{upper}_{a.upper()}") for a in ACTIONS],
        "code_text": SimpleNamespace(
            **{a: literal(f"{spec.kebab}:{spec.kebab}:{a}") for a in ACTIONS}
        ),
        "menu_name": literal(f"Business{spec.pascal}"),
        "menu_path": literal(f"/business/{kebab(spec.plural)}"),
        "text_max_length": TEXT_MAX_LENGTH,
        "command": reproduce_command(spec),
        "migration": migration,
        "revision": literal(migration.revision) if migration else None,
        "down_revision": literal(migration.down_revision) if migration else None,
        "revision_text": Ident(migration.revision) if migration else None,
        "down_revision_text": Ident(migration.down_revision) if migration else None,
        "create_date": Prose(str(migration.created)) if migration else None,
    }


FILES = {
    "app/modules/{name}/__init__.py": "module_init.py.jinja",
    "app/modules/{name}/models.py": "models.py.jinja",
    "app/modules/{name}/schemas.py": "schemas.py.jinja",
    "app/modules/{name}/repository.py": "repository.py.jinja",
    "app/modules/{name}/service.py": "service.py.jinja",
    "app/modules/{name}/router.py": "router.py.jinja",
    "app/modules/{name}/permissions.py": "permissions.py.jinja",
    "app/modules/{name}/exceptions.py": "exceptions.py.jinja",
    "tests/modules/{name}/__init__.py": "tests_init.py.jinja",
    "tests/modules/{name}/test_{name}.py": "test_module.py.jinja",
}


def render(spec: ResourceSpec, migration: Migration | None) -> dict[str, str]:
    """Every file of the module (and its migration, unless None), formatted."""
    env = environment()
    values = context(spec, migration)
    files = {path.format(name=spec.name): template for path, template in FILES.items()}
    if migration is not None:
        files[migration.path.format(name=spec.name)] = "migration.py.jinja"
    rendered = {path: env.get_template(template).render(values) for path, template in files.items()}
    return format_sources(rendered)


def ruff_command() -> list[str] | None:
    """How to run ruff: next to this Python, or on PATH."""
    beside = Path(sys.executable).parent / ("ruff.exe" if os.name == "nt" else "ruff")
    if beside.is_file():
        return [str(beside)]
    found = shutil.which("ruff")
    return [found] if found else None


def format_sources(files: dict[str, str]) -> dict[str, str]:
    """Run `ruff format` (the project's settings) over each file, so long names wrap exactly
    as the formatter wants; without ruff the templates' own layout is kept."""
    from app.core.config import BASE_DIR

    ruff = ruff_command()
    if ruff is None:
        return files
    formatted = {}
    for path, source in files.items():
        result = subprocess.run(  # noqa: S603  (our own ruff, fixed arguments)
            [*ruff, "format", "--quiet", "--stdin-filename", path, "-"],
            input=source,
            capture_output=True,
            text=True,
            cwd=BASE_DIR,
            timeout=60,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"ruff format failed on the generated {path}: {result.stderr}")
        formatted[path] = result.stdout
    return formatted
