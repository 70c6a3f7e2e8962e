"""What to generate: a resource (module) name, its labels and its fields, validated.

Field syntax on the command line (`--field`)::

    NAME:TYPE[:ARG][?][=DEFAULT]

    title:str:200            a required string of at most 200 characters
    "summary:str:500?"       optional (nullable)
    body:text                long text
    stock:int=0              with a default
    price:decimal:10,2       10 digits, 2 after the point (default 12,2)
    published:bool=false
    due:date?                nullable date
    starts_at:datetime=now   datetime (no offset: UTC), default: the current time

Types: str (ARG: max length, default 255), text, int, bigint, float, decimal (ARG: precision,scale),
bool, date, datetime. Parsing and checks live in `parse.py`, YAML specs in `spec_file.py`; every
error is a `GeneratorError` naming what is wrong.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from app.devtools.generator.naming import Ident, Prose, article, kebab, lower_first, pascal


class GeneratorError(Exception):
    """Bad input to the generator (exit status 2): the message says what and how to fix it."""


TYPES = ("str", "text", "int", "bigint", "float", "decimal", "bool", "date", "datetime")
TYPE_ALIASES = {
    "string": "str",
    "varchar": "str",
    "integer": "int",
    "boolean": "bool",
    "double": "float",
    "numeric": "decimal",
}
DEFAULT_STR_LENGTH = 255
MAX_STR_LENGTH = 1000  # MySQL rows hold 65,535 bytes: longer texts are `text`
MAX_UNIQUE_STR_LENGTH = 255  # unique indexes on MySQL hold at most 3,072 bytes
TEXT_MAX_LENGTH = 16_000  # TEXT is 65,535 bytes on MySQL: 16,000 four-byte characters fit
DEFAULT_PRECISION, DEFAULT_SCALE = 12, 2
MAX_PRECISION = 38
MAX_DEFAULT_TEXT = 40
MAX_SPEC_TEXT = 80  # so that `#       --field <spec> \` fits in 100 characters
INT_BOUNDS = {"int": (-(2**31), 2**31 - 1), "bigint": (-(2**63), 2**63 - 1)}
UNIQUE_TYPES = ("str", "int", "bigint", "date")

# Columns every generated model has.
MANAGED_FIELDS = frozenset({"id", "created_at", "updated_at", "version"})


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# SQLAlchemy's declarative attributes, and names the models and schemas use in class bodies.
RESERVED_FIELDS = _words(
    "metadata registry date datetime decimal mapped_column field_validator classmethod utcnow"
    " self cls"
)
# Names next to the list filter (the first str field) in the router and the repository: the
# list route's other query parameters and its locals.
FILTER_CLASHES = _words(
    "page page_size sort db params service statement select items total ok page_of paginate"
)
# PascalCase names imported by the generated files, which the model class must not take.
IMPORTED_NAMES = _words(
    "AfterValidator Annotated Any APIRouter AsyncSession Base BaseModel"
    " BeforeValidator BigId BigInteger Boolean Conflict ConfigDict Date Decimal Depends Double"
    " Envelope ErrorDetail FastAPI Field Integer Mapped ModuleSpec NotFound Numeric Page"
    " PageParams Path Principal Query Response Select SessionDep String StringConstraints"
    " Text TimestampMixin UtcDateTime Id Version"
)
TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,59}$")


@dataclass(frozen=True)
class FieldSpec:
    """One column of the resource."""

    name: Ident
    type: str
    nullable: bool = False
    unique: bool = False
    max_length: int | None = None  # str
    precision: int | None = None  # decimal
    scale: int | None = None  # decimal
    default: Any = None  # parsed value; `now` for datetime; None: no default
    raw_default: str | None = None  # as written, for the reproduction command

    @property
    def has_default(self) -> bool:
        return self.raw_default is not None

    @property
    def pascal(self) -> Ident:
        return pascal(self.name)

    @property
    def spec_text(self) -> str:
        """The field in command-line syntax (what `parse_field` reads back)."""
        arg = ""
        if self.type == "str" and self.max_length != DEFAULT_STR_LENGTH:
            arg = f":{self.max_length}"
        elif self.type == "decimal" and (self.precision, self.scale) != (
            DEFAULT_PRECISION,
            DEFAULT_SCALE,
        ):
            arg = f":{self.precision},{self.scale}"
        text = f"{self.name}:{self.type}{arg}{'?' if self.nullable else ''}"
        return text if self.raw_default is None else f"{text}={self.raw_default}"


@dataclass(frozen=True)
class ResourceSpec:
    """A module with one resource: `name` is the package, the table and the permission
    module; the routes live under `/api/v1/<plural, kebab-case>`."""

    name: Ident
    fields: tuple[FieldSpec, ...]
    label: Prose
    plural: Ident
    plural_label: Prose
    table: Ident
    explicit: Mapping[str, Any] = field(default_factory=dict)  # options given, for the comment

    @property
    def pascal(self) -> Ident:
        return pascal(self.name)

    @property
    def kebab(self) -> Ident:
        return kebab(self.name)

    @property
    def path(self) -> str:
        return f"/api/v1/{kebab(self.plural)}"

    @property
    def label_lower(self) -> Prose:
        return Prose(lower_first(self.label))

    @property
    def plural_label_lower(self) -> Prose:
        return Prose(lower_first(self.plural_label))

    @property
    def article(self) -> Prose:
        return Prose(article(self.label_lower))

    @property
    def filter_field(self) -> FieldSpec | None:
        """The list route filters on the first `str` field (contains, case-insensitive)."""
        return next((f for f in self.fields if f.type == "str"), None)

    @property
    def unique_fields(self) -> list[FieldSpec]:
        return [f for f in self.fields if f.unique]

    def command(self) -> list[str]:
        """The `generate` arguments that reproduce this spec."""
        args = [str(self.name)]
        for option in ("label", "plural", "table"):
            if option in self.explicit:
                args += [f"--{option}", str(self.explicit[option])]
        for item in self.fields:
            args += ["--field", item.spec_text]
        for item in self.unique_fields:
            args += ["--unique", str(item.name)]
        return args
