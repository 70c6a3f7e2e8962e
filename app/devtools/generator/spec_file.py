"""`--spec FILE`: a resource described in YAML."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from app.devtools.generator.parse import build_spec, make_field, parse_field
from app.devtools.generator.spec import FieldSpec, GeneratorError, ResourceSpec


def load_spec_file(path: Path) -> ResourceSpec:
    """Read a YAML spec::

    name: gadget
    label: Gadget            # optional
    plural: gadgets          # optional
    unique: [code]           # optional
    fields:
      - code:str:32          # command-line syntax, or a mapping:
      - {name: price, type: decimal, precision: 10, scale: 2, nullable: true, default: "9.99"}
    """
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise GeneratorError(f"--spec {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise GeneratorError(f"--spec {path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise GeneratorError(f"--spec {path}: expected a mapping with name and fields")
    unknown = set(data) - {"name", "label", "plural", "unique", "fields"}
    if unknown:
        raise GeneratorError(f"--spec {path}: unknown keys {', '.join(sorted(unknown))}")
    fields: list[FieldSpec] = []
    for item in data.get("fields") or []:
        if isinstance(item, str):
            fields.append(parse_field(item))
        elif isinstance(item, dict):
            fields.append(_field_from_mapping(item))
        else:
            raise GeneratorError(f"--spec {path}: each field is a string or a mapping")
    unique = data.get("unique") or []
    if not isinstance(unique, list) or not all(isinstance(u, str) for u in unique):
        raise GeneratorError(f"--spec {path}: unique is a list of field names")
    for key in ("name", "label", "plural"):
        if key in data and not isinstance(data[key], str):
            raise GeneratorError(f"--spec {path}: {key} must be a string")
    if "name" not in data:
        raise GeneratorError(f"--spec {path}: name is required")
    return build_spec(
        data["name"], fields, label=data.get("label"), plural=data.get("plural"), unique=unique
    )


def _field_from_mapping(item: Mapping[str, Any]) -> FieldSpec:
    allowed = {
        "name",
        "type",
        "nullable",
        "unique",
        "max_length",
        "precision",
        "scale",
        "default",
    }
    unknown = set(item) - allowed
    if unknown or "name" not in item or "type" not in item:
        raise GeneratorError(
            f"field {item!r}: keys are {', '.join(sorted(allowed))} (name and type required)"
        )
    for key in ("max_length", "precision", "scale"):
        if item.get(key) is not None and (
            not isinstance(item[key], int) or isinstance(item[key], bool)
        ):
            raise GeneratorError(f"field {item['name']!r}: {key} must be an integer")
    default = item.get("default")
    if isinstance(default, bool):
        default = "true" if default else "false"
    elif isinstance(default, int | float | date):
        default = str(default)
    elif default is not None and not isinstance(default, str):
        raise GeneratorError(f"field {item['name']!r}: default must be a scalar")
    return make_field(
        str(item["name"]),
        str(item["type"]),
        nullable=bool(item.get("nullable", False)),
        unique=bool(item.get("unique", False)),
        max_length=item.get("max_length"),
        precision=item.get("precision"),
        scale=item.get("scale"),
        default=default,
    )
