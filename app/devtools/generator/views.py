"""What the templates need to know about each field, as Python source fragments.

Every fragment is built here from validated parts (identifiers, integers, and literals through
`literal()`), so the templates never see raw user text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from app.devtools.generator.naming import Code, Ident, pascal
from app.devtools.generator.spec import INT_BOUNDS, TEXT_MAX_LENGTH, FieldSpec, ResourceSpec

MAX_INDEXED_STR_LENGTH = 760


def literal(value: Any) -> Code:
    """Python source for a plain value (str, bool, int, float, Decimal, date, None).

    Strings come out double-quoted when that needs no escape (ruff format's style) and are
    otherwise `repr`'s own, escaped, literal: nothing inside can end the string.
    """
    if value is None or isinstance(value, bool):
        return Code(repr(value))
    if isinstance(value, int | float):
        return Code(repr(value))
    if isinstance(value, Decimal):
        return Code(f"Decimal({literal(str(value))})")
    if isinstance(value, date):
        return Code(f"date({value.year}, {value.month}, {value.day})")
    if isinstance(value, str):
        text = repr(value)
        if text.startswith("'") and '"' not in value:
            text = '"' + text[1:-1].replace("\\'", "'") + '"'
        return Code(text)
    raise TypeError(f"no literal for {type(value).__name__}")


def _natural(text: str) -> list[int | str]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text.lower())]


def import_order(names: set[str]) -> list[str]:
    """Names of one `from x import ...` in ruff's isort order: CONSTANTS, Classes, functions."""

    def key(name: str) -> tuple[int, list[int | str]]:
        kind = 0 if name.isupper() and len(name) > 1 else 1 if name[:1].isupper() else 2
        return kind, _natural(name)

    return sorted(names, key=key)


def from_imports(imports: Iterable[tuple[str, str]]) -> Code:
    """`from <module> import <names>` lines of one section, in ruff's isort order (by module,
    naturally), for blocks that mix the new module with others (`auth`, `system`)."""
    lines = sorted(imports, key=lambda item: _natural(item[0]))
    return Code("\n".join(f"from {module} import {names}" for module, names in lines))


@dataclass(frozen=True)
class FieldView:
    """One field as the templates write it."""

    spec: FieldSpec
    alias: Ident  # the type alias in schemas.py

    @property
    def name(self) -> Ident:
        return self.spec.name

    @property
    def nullable(self) -> bool:
        return self.spec.nullable

    @property
    def unique(self) -> bool:
        return self.spec.unique

    @property
    def required(self) -> bool:
        """Must be sent on create."""
        return not self.spec.nullable and not self.spec.has_default

    @property
    def python_type(self) -> Code:
        return Code(
            {
                "str": "str",
                "text": "str",
                "int": "int",
                "bigint": "int",
                "float": "float",
                "decimal": "Decimal",
                "bool": "bool",
                "date": "date",
                "datetime": "datetime",
            }[self.spec.type]
        )

    @property
    def annotation(self) -> Code:
        """`str`, `Decimal | None`, ...: the model attribute and the read schema field."""
        return Code(f"{self.python_type} | None" if self.nullable else self.python_type)

    @property
    def column_type(self) -> Code:
        spec = self.spec
        return Code(
            {
                "str": f"String({spec.max_length})",
                "text": "Text",
                "int": "Integer",
                "bigint": "BigInteger",
                "float": "Double",
                "decimal": f"Numeric({spec.precision}, {spec.scale})",
                "bool": "Boolean",
                "date": "Date",
                "datetime": "UtcDateTime()",
            }[spec.type]
        )

    @property
    def column_import(self) -> str:
        return self.column_type.split("(")[0]

    @property
    def migration_type(self) -> Code:
        spec = self.spec
        return Code(
            {
                "str": f"sa.String(length={spec.max_length})",
                "text": "sa.Text()",
                "int": "sa.Integer()",
                "bigint": "sa.BigInteger()",
                "float": "sa.Double()",
                "decimal": f"sa.Numeric(precision={spec.precision}, scale={spec.scale})",
                "bool": "sa.Boolean()",
                "date": "sa.Date()",
                "datetime": "app.core.database.UtcDateTime(timezone=True)",
            }[spec.type]
        )

    @property
    def column_arguments(self) -> Code:
        """Inside `mapped_column(...)`."""
        parts = [str(self.column_type)]
        if self.unique:
            parts.append("unique=True")
        # Only for NOT NULL columns: the ORM inserts a column's default in place of None, so
        # on a nullable column it would turn an explicit null into the default.
        if self.spec.has_default and not self.nullable:
            parts.append(f"default={self.model_default}")
        return Code(", ".join(parts))

    @property
    def model_default(self) -> Code:
        if self.spec.default == "now":
            return Code("utcnow")
        return literal(self.spec.default)

    @property
    def constraint(self) -> Code:
        """The pydantic type of the field's values (without None)."""
        spec = self.spec
        at_least = "" if spec.nullable else "min_length=1, "
        if spec.type == "str":  # one line a person reads: app.core.schemas.DisplayText
            return Code(
                "DisplayText[Annotated[str, StringConstraints(strip_whitespace=True, "
                f"{at_least}max_length={spec.max_length})]]"
            )
        if spec.type == "text":
            return Code(f"Annotated[str, StringConstraints({at_least}max_length=TEXT_MAX_LENGTH)]")
        if spec.type in INT_BOUNDS:
            low, high = INT_BOUNDS[spec.type]
            return Code(f"Annotated[int, Field(ge={low}, le={high})]")
        if spec.type == "float":
            return Code("Annotated[float, Field(allow_inf_nan=False)]")
        if spec.type == "decimal":
            return Code(
                f"Annotated[Decimal, Field(max_digits={spec.precision}, "
                f"decimal_places={spec.scale}), _places({spec.scale})]"
            )
        if spec.type == "datetime":
            return Code("UtcDateTime")  # no offset: UTC; range-checked (docs/http.md)
        return Code(spec.type)  # bool, date

    @property
    def alias_definition(self) -> Code:
        """The right-hand side of `<Alias> = ...` in schemas.py."""
        if not self.nullable:
            return self.constraint
        if self.spec.type == "str":  # a blank optional string is stored as NULL
            return Code(f"Annotated[{self.constraint} | None, BeforeValidator(blank_to_none)]")
        return Code(f"{self.constraint} | None")

    @property
    def create_default(self) -> Code | None:
        """` = <default>` in the create schema, or None for a required field."""
        if self.spec.default == "now":
            return Code("Field(default_factory=utcnow)")
        if self.spec.has_default:
            return literal(self.spec.default)
        return Code("None") if self.nullable else None

    @property
    def update_annotation(self) -> Code:
        return Code(self.alias if self.nullable else f"{self.alias} | None")

    @property
    def sortable(self) -> bool:
        """Offered as a sort (with its `(field, id)` index): not a text, nor a string too long
        for an index key on MariaDB (3,072 bytes, 4 per character, with the 8-byte id)."""
        if self.spec.type == "str":
            return (self.spec.max_length or 0) <= MAX_INDEXED_STR_LENGTH
        return self.spec.type != "text"

    @property
    def sort_indexed(self) -> bool:
        """Whether its sort needs an index of its own: a NOT NULL unique column's cursor ends
        at it, so its unique index serves (app/core/sorts.py)."""
        return self.sortable and not (self.unique and not self.nullable)

    # ------------------------------------------------------------------- test data --

    def sample(self, n: int) -> Any:
        """A valid value (as JSON) for sample `n` (1-3); samples differ, and for strings none
        contains another, so a filter finds exactly one."""
        spec = self.spec
        if spec.type == "str":
            assert spec.max_length is not None
            word = ("Alpha", "Bravo", "Charlie")[n - 1]
            return word if spec.max_length >= len("Charlie") else "abc"[n - 1] * spec.max_length
        if spec.type == "text":
            return f"Some text, sample {n}."
        if spec.type == "int":
            return 10 * n + 1
        if spec.type == "bigint":
            return 2**40 + n
        if spec.type == "float":
            return n + 0.5
        if spec.type == "decimal":
            assert spec.precision is not None and spec.scale is not None
            if spec.precision > spec.scale:
                return f"{n}.{'5' * spec.scale}" if spec.scale else str(n)
            return f"0.{n}{'0' * (spec.scale - 1)}"
        if spec.type == "bool":
            return n % 2 == 1
        if spec.type == "date":
            return f"2030-0{n}-15"
        return f"2030-0{n}-15T10:30:00Z"  # datetime

    def sample_code(self, n: int) -> Code:
        return literal(self.sample(n))

    @property
    def filter_term(self) -> Code:
        """Part of sample 2, in another case: what the list filter must find."""
        value = str(self.sample(2))
        return literal(value[1:4].upper() if len(value) >= 4 else value.upper())

    @property
    def invalid_code(self) -> Code:
        """A value the create route must refuse with a 422 naming this field."""
        spec = self.spec
        if spec.type == "str":
            return Code(f'"x" * {(spec.max_length or 0) + 1}')
        if spec.type == "text":
            return Code(f'"x" * {TEXT_MAX_LENGTH + 1}')
        if spec.type == "decimal":
            return literal("9" * ((spec.precision or 0) + 1))
        return literal(
            {
                "int": "eleven",
                "bigint": "eleven",
                "float": "a lot",
                "bool": "maybe",
                "date": "2030-02-30",
                "datetime": "9999-12-31T23:59:59-14:00",  # past year 9999 in UTC
            }[spec.type]
        )

    @property
    def unsafe_code(self) -> Code | None:
        """A value the create route must refuse for its characters (a bidi override), or
        None for a field without that rule."""
        return Code('"\\u202e"') if self.spec.type == "str" else None

    @property
    def default_json(self) -> Code | None:
        """The JSON value a row created without this field has (None: not checkable)."""
        spec = self.spec
        if not spec.has_default or spec.default == "now":
            return None
        value = spec.default
        if isinstance(value, Decimal):
            return literal(str(value))
        if isinstance(value, date):
            return literal(value.isoformat())
        return literal(value)


def field_views(spec: ResourceSpec) -> list[FieldView]:
    """The fields with a schema type alias each: the field's PascalCase name, suffixed when it
    would clash with an imported name or a schema class."""
    from app.devtools.generator.spec import IMPORTED_NAMES

    taken = set(IMPORTED_NAMES) | {
        f"{spec.pascal}{suffix}" for suffix in ("Create", "Update", "Read")
    }
    views = []
    for item in spec.fields:
        alias = pascal(item.name)
        while alias in taken:
            alias = Ident(f"{alias}Value")
        taken.add(alias)
        views.append(FieldView(item, alias))
    return views
