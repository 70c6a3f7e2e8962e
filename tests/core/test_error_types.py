"""Every error the API returns names a stable `type` (app/core/error_types.py, docs/http.md
"Error types"); a 409 names its kind. Walks the error classes, the source and the docs; the
envelope check in tests/conftest.py asserts the type on every error response of the suite.
"""

from __future__ import annotations

import ast
import importlib
import json
import pkgutil
import re
from pathlib import Path

import pytest

import app
from app.core import errors
from app.core.error_types import CONFLICT_TYPES, ERROR_TYPES, REFINED_TYPES, STATUS_TYPES

ROOT = Path(__file__).resolve().parents[2]


def _import_everything() -> None:
    for module in pkgutil.walk_packages(app.__path__, "app."):
        if ".devtools.generator.templates" in module.name:
            continue
        importlib.import_module(module.name)


def _subclasses(cls: type[errors.AppError]) -> list[type[errors.AppError]]:
    found: list[type[errors.AppError]] = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


def test_every_error_class_names_a_documented_type() -> None:
    _import_everything()
    classes = _subclasses(errors.AppError)
    assert len(classes) > 40  # the modules' errors were found
    for cls in classes:
        if cls is errors.Conflict:
            continue  # the base of the kinds; never raised itself
        kind = cls.error_type or STATUS_TYPES.get(cls.status_code)
        assert kind in ERROR_TYPES, (cls, kind)
        if issubclass(cls, errors.Conflict):
            assert cls.error_type in CONFLICT_TYPES, cls
        if cls.error_type in REFINED_TYPES:
            assert REFINED_TYPES[cls.error_type][0] == cls.status_code, cls


def test_a_conflict_without_a_kind_fails_at_definition() -> None:
    with pytest.raises(TypeError, match="conflict kind"):

        class Unnamed(errors.Conflict):  # pragma: no cover - never defined
            default_message = "Conflict: something"

    with pytest.raises(TypeError, match="ERROR_TYPES"):

        class Misspelt(errors.InUse):  # pragma: no cover - never defined
            error_type = "in-use"


def _calls(tree: ast.AST) -> list[ast.Call]:
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call)]


def _name(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def test_no_409_is_raised_or_rendered_without_its_kind() -> None:
    """`raise Conflict(...)` or `error_response(409, ...)` without `error_type` would send the
    bare `conflict`: the class must be a kind, the hand-built answer must name one."""
    offenders = []
    for path in sorted((ROOT / "app").rglob("*.py")):
        for call in _calls(ast.parse(path.read_text(), str(path))):
            where = f"{path.relative_to(ROOT)}:{call.lineno}"
            if _name(call) == "Conflict":
                offenders.append(where)
            if _name(call) in ("error_response", "_refuse"):
                statuses = [
                    a.value for a in call.args if isinstance(a, ast.Constant) and a.value == 409
                ]
                if statuses and "error_type" not in {k.arg for k in call.keywords}:
                    offenders.append(where)
    assert not offenders, offenders


def test_docs_list_every_type() -> None:
    text = (ROOT / "docs/http.md").read_text()
    section = text.split("### Error types", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", section, re.MULTILINE))
    assert documented == set(ERROR_TYPES)


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_the_console_words_every_type(lang: str) -> None:
    path = ROOT / "console/src/locales" / lang / "apierror.json"
    words = json.loads(path.read_text())
    assert set(ERROR_TYPES) <= set(words), sorted(set(ERROR_TYPES) - set(words))
    texts = {k: v for k, v in words.items() if isinstance(v, str)} | {
        f"field.{k}": v for k, v in words["field"].items()
    }
    if lang == "zh-CN":
        english = {
            k: v for k, v in texts.items() if re.search(r"[A-Za-z]{3,}", re.sub(r"\{\w+\}", "", v))
        }
        assert not english, english
