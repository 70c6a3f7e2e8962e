"""Parse and check what the user asked for: field specs, names, labels, the whole resource."""

from __future__ import annotations

import keyword
import math
import re
import shlex
from collections.abc import Sequence
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from app.devtools.generator.naming import (
    MAX_LABEL_LENGTH,
    MAX_NAME_LENGTH,
    Ident,
    check_prose,
    humanize,
    is_snake_identifier,
    pascal,
    pluralize,
    shadows_python,
)
from app.devtools.generator.spec import (
    DEFAULT_PRECISION,
    DEFAULT_SCALE,
    DEFAULT_STR_LENGTH,
    FILTER_CLASHES,
    IMPORTED_NAMES,
    INT_BOUNDS,
    MANAGED_FIELDS,
    MAX_DEFAULT_TEXT,
    MAX_PRECISION,
    MAX_SPEC_TEXT,
    MAX_STR_LENGTH,
    MAX_UNIQUE_STR_LENGTH,
    RESERVED_FIELDS,
    TABLE_NAME,
    TYPE_ALIASES,
    TYPES,
    UNIQUE_TYPES,
    FieldSpec,
    GeneratorError,
    ResourceSpec,
)

_FIELD = re.compile(r"^(?P<name>[^:]+):(?P<type>[A-Za-z0-9_]+)(?::(?P<arg>[0-9,.]+))?$")


def _check_field_name(name: str) -> Ident:
    if not is_snake_identifier(name) or len(name) > MAX_NAME_LENGTH:
        raise GeneratorError(
            f"field name {name!r}: use snake_case (a-z, 0-9, _), starting with a letter, "
            f"at most {MAX_NAME_LENGTH} characters"
        )
    if name in MANAGED_FIELDS:
        raise GeneratorError(
            f"field name {name!r} is reserved: every generated model has id, created_at, "
            "updated_at and version"
        )
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        raise GeneratorError(f"field name {name!r} is a Python keyword")
    if name in RESERVED_FIELDS or name.startswith("model_") or name in _BASEMODEL_NAMES:
        raise GeneratorError(
            f"field name {name!r} is reserved (it names something the generated code uses)"
        )
    if name in ("str", "int", "float", "bool", "object", "list", "dict", "bytes"):
        raise GeneratorError(f"field name {name!r} shadows a type the generated code uses")
    return Ident(name)


def _basemodel_names() -> frozenset[str]:
    from pydantic import BaseModel

    return frozenset(name for name in dir(BaseModel) if not name.startswith("_"))


_BASEMODEL_NAMES = _basemodel_names()


def _parse_default(
    name: str, type_: str, text: str, *, max_length: int | None, precision: int | None, scale: int
) -> Any:
    where = f"field {name!r}: default {text!r}"
    if type_ in ("str", "text"):
        if len(text) > MAX_DEFAULT_TEXT or any(not ch.isprintable() for ch in text):
            raise GeneratorError(
                f"{where}: text defaults are at most {MAX_DEFAULT_TEXT} printable characters"
            )
        if not text.strip():
            raise GeneratorError(f"{where}: must not be blank")
        if max_length is not None and len(text.strip()) > max_length:
            raise GeneratorError(f"{where}: longer than {max_length} characters")
        return text.strip() if type_ == "str" else text
    if type_ == "bool":
        lowered = text.lower()
        if lowered in ("true", "yes", "1"):
            return True
        if lowered in ("false", "no", "0"):
            return False
        raise GeneratorError(f"{where}: use true or false")
    if type_ in INT_BOUNDS:
        low, high = INT_BOUNDS[type_]
        if not re.fullmatch(r"[+-]?[0-9]{1,20}", text) or not low <= int(text) <= high:
            raise GeneratorError(f"{where}: not an integer between {low} and {high}")
        return int(text)
    if type_ == "float":
        try:
            number = float(text)
        except ValueError:
            raise GeneratorError(f"{where}: not a number") from None
        if not math.isfinite(number) or not re.fullmatch(r"[0-9eE+.-]+", text):
            raise GeneratorError(f"{where}: not a finite number")
        return number
    if type_ == "decimal":
        assert precision is not None
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise GeneratorError(f"{where}: not a decimal number") from None
        if not value.is_finite():
            raise GeneratorError(f"{where}: not a finite number")
        value = value.quantize(Decimal(1).scaleb(-scale))
        if len(value.as_tuple().digits) > precision:
            raise GeneratorError(f"{where}: more than {precision} digits")
        return value
    if type_ == "date":
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise GeneratorError(f"{where}: use an ISO date, e.g. 2030-01-31") from None
    if type_ == "datetime":
        if text != "now":
            raise GeneratorError(f"{where}: the only datetime default is `now`")
        return "now"
    raise AssertionError(type_)  # pragma: no cover


def make_field(
    name: str,
    type_: str,
    *,
    nullable: bool = False,
    unique: bool = False,
    max_length: int | None = None,
    precision: int | None = None,
    scale: int | None = None,
    default: str | None = None,
) -> FieldSpec:
    """A validated field; every argument as the user wrote it."""
    ident = _check_field_name(name)
    type_ = TYPE_ALIASES.get(type_, type_)
    if type_ not in TYPES:
        raise GeneratorError(
            f"field {name!r}: unknown type {type_!r}; use one of {', '.join(TYPES)}"
        )
    if type_ == "str":
        max_length = DEFAULT_STR_LENGTH if max_length is None else max_length
        if not 1 <= max_length <= MAX_STR_LENGTH:
            raise GeneratorError(
                f"field {name!r}: str length must be 1-{MAX_STR_LENGTH} (longer: use text)"
            )
    elif max_length is not None:
        raise GeneratorError(f"field {name!r}: only str takes a length")
    if type_ == "decimal":
        precision = DEFAULT_PRECISION if precision is None else precision
        scale = DEFAULT_SCALE if scale is None else scale
        if not 1 <= precision <= MAX_PRECISION or not 0 <= scale <= precision:
            raise GeneratorError(
                f"field {name!r}: decimal needs 1 <= precision <= {MAX_PRECISION} and "
                "0 <= scale <= precision (e.g. price:decimal:10,2)"
            )
    elif precision is not None or scale is not None:
        raise GeneratorError(f"field {name!r}: only decimal takes a precision and scale")
    if unique:
        if type_ not in UNIQUE_TYPES:
            raise GeneratorError(
                f"field {name!r}: unique works on {', '.join(UNIQUE_TYPES)} fields, not {type_}"
            )
        if type_ == "str" and max_length is not None and max_length > MAX_UNIQUE_STR_LENGTH:
            raise GeneratorError(
                f"field {name!r}: a unique str is at most {MAX_UNIQUE_STR_LENGTH} characters"
            )
    parsed = None
    if default is not None:
        parsed = _parse_default(
            name, type_, default, max_length=max_length, precision=precision, scale=scale or 0
        )
    return FieldSpec(
        name=ident,
        type=type_,
        nullable=nullable,
        unique=unique,
        max_length=max_length,
        precision=precision,
        scale=scale,
        default=parsed,
        raw_default=default,
    )


def parse_field(text: str) -> FieldSpec:
    """Parse `NAME:TYPE[:ARG][?][=DEFAULT]`."""
    head, sep, default = text.partition("=")
    head = head.strip()
    nullable = head.endswith("?")
    head = head.removesuffix("?")
    match = _FIELD.match(head)
    if not match:
        raise GeneratorError(
            f"field {text!r}: expected NAME:TYPE[:ARG][?][=DEFAULT], e.g. title:str:200, "
            "price:decimal:10,2, 'note:text?', published:bool=false"
        )
    type_ = TYPE_ALIASES.get(match["type"], match["type"])
    arg = match["arg"]
    max_length = precision = scale = None
    if arg is not None:
        if type_ == "str" and arg.isdigit():
            max_length = int(arg)
        elif type_ == "decimal" and re.fullmatch(r"[0-9]{1,2}[,.][0-9]{1,2}", arg):
            precision, scale = (int(part) for part in re.split(r"[,.]", arg))
        else:
            raise GeneratorError(
                f"field {text!r}: {type_} takes no argument {arg!r} "
                "(str:LENGTH, decimal:PRECISION,SCALE)"
            )
    return make_field(
        match["name"],
        type_,
        nullable=nullable,
        max_length=max_length,
        precision=precision,
        scale=scale,
        default=default if sep else None,
    )


def _check_module_name(name: str) -> Ident:
    if not is_snake_identifier(name) or len(name) > MAX_NAME_LENGTH:
        raise GeneratorError(
            f"module name {name!r}: use snake_case (a-z, 0-9, _), starting with a letter, "
            f"at most {MAX_NAME_LENGTH} characters"
        )
    if shadows_python(name):
        raise GeneratorError(f"module name {name!r} is a Python keyword or builtin name")
    return Ident(name)


def _check_class_name(name: Ident) -> None:
    own = pascal(name)
    taken = IMPORTED_NAMES | {f"{own}{suffix}" for suffix in ("Create", "Update", "Read")}
    if own in taken:
        raise GeneratorError(
            f"module name {name!r}: its class name {own} clashes with a name the generated "
            "code imports; choose another name"
        )


def _made_unique(item: FieldSpec) -> FieldSpec:
    return make_field(
        item.name,
        item.type,
        nullable=item.nullable,
        unique=True,
        max_length=item.max_length,
        precision=item.precision,
        scale=item.scale,
        default=item.raw_default,
    )


def build_spec(
    name: str,
    fields: Sequence[FieldSpec],
    *,
    label: str | None = None,
    plural: str | None = None,
    unique: Sequence[str] = (),
    table: str | None = None,
) -> ResourceSpec:
    """Validate the whole resource: names, labels, at least one field, no duplicates."""
    ident = _check_module_name(name)
    if not fields:
        raise GeneratorError("give at least one --field (or a --spec file, or --from-table)")
    seen: set[str] = set()
    for item in fields:
        if item.name in seen:
            raise GeneratorError(f"field {item.name!r} is given twice")
        seen.add(item.name)
    missing = [u for u in unique if u not in seen]
    if missing:
        raise GeneratorError(f"--unique {missing[0]!r}: there is no such field")
    fields = [_made_unique(f) if f.name in unique else f for f in fields]
    _check_class_name(ident)
    first_str = next((f for f in fields if f.type == "str"), None)
    if first_str is not None and first_str.name in FILTER_CLASHES:
        raise GeneratorError(
            f"field {first_str.name!r}: the list route filters on the first str field, and "
            "this name clashes with its other parameters; rename it or put another str "
            "field first"
        )
    plural_name = plural if plural is not None else pluralize(name)
    if plural is not None:
        if not is_snake_identifier(plural) or len(plural) > MAX_NAME_LENGTH:
            raise GeneratorError(f"--plural {plural!r}: use snake_case, like the module name")
        if plural == name:
            raise GeneratorError("--plural must differ from the module name")
    explicit: dict[str, Any] = {}
    if label is not None:
        explicit["label"] = label
    if plural is not None:
        explicit["plural"] = plural
    if table is not None and table != name:
        explicit["table"] = table
    try:
        human = check_prose(label if label is not None else humanize(name), "--label")
    except ValueError as exc:
        raise GeneratorError(str(exc)) from None
    # Without a label, an irregular --plural (people) is the better guess for the plural label.
    plural_human = humanize(plural) if plural is not None and label is None else pluralize(human)
    if table is not None and not TABLE_NAME.match(table):
        raise GeneratorError(f"table name {table!r}: letters, digits and _, at most 60 characters")
    table_name = Ident(table if table is not None else name)
    for item in fields:  # the module records its command in comments of at most 100 chars
        if len(shlex.quote(item.spec_text)) > MAX_SPEC_TEXT:
            raise GeneratorError(
                f"field {item.name!r}: {item.spec_text!r} is too long to record in the module; "
                "shorten its default"
            )
    for item in fields:
        constraint = f"uq_{table_name}_{item.name}"
        if item.unique and len(constraint) > 63:
            raise GeneratorError(
                f"field {item.name!r}: the constraint name {constraint} is longer than 63 "
                "characters (PostgreSQL's limit); shorten the module or field name"
            )
    return ResourceSpec(
        name=ident,
        fields=tuple(fields),
        label=human,
        plural=Ident(plural_name),
        plural_label=check_prose(plural_human, "plural label", MAX_LABEL_LENGTH + 2),
        table=table_name,
        explicit=explicit,
    )
