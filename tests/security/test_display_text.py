"""Names, titles and labels are one line of visible text, everywhere (SECURITY.md §1.4 ASVS
2.2.1 positive validation, 16.4.1 log injection; the pen test's "bidi override in a name").

`app.core.schemas.DisplayText` refuses C0/C1 controls (NUL, new lines, ESC and so ANSI escape
sequences), lone surrogates, U+2028/U+2029 and the bidi embeddings, overrides and isolates
(U+202A-U+202E, U+2066-U+2069). The rule is tested once here, then: every request body of
the app (read from its routes, so a new module is covered unasked) refuses such a character
in each human-readable field, and the create routes of every module answer 422 naming it.
"""

from __future__ import annotations

from typing import Annotated, Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import BaseModel, StringConstraints, TypeAdapter, ValidationError

from app.core.schemas import DisplayText
from app.modules.system.user.schemas import UserImportRow
from tests.core.test_access import api_routes
from tests.support.identity import superuser_headers

Line = DisplayText[
    Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
]
LINE: TypeAdapter[str] = TypeAdapter(Line)

REFUSED = [
    "\x00",
    "\x1b",  # ESC: "\x1b[2J" clears a terminal that shows a log line
    "\n",
    "\r",
    "\t",
    "\x7f",
    "\x85",  # NEL
    "\x9b",  # C1 CSI
    "\u2028",
    "\u2029",
    "\ud800",  # a lone surrogate (pydantic's own `string_unicode` refuses it first)
    *(chr(c) for c in range(0x202A, 0x202F)),  # LRE RLE PDF LRO RLO
    *(chr(c) for c in range(0x2066, 0x206A)),  # LRI RLI FSI PDI
]
PERSIAN = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"  # "I want", with a ZWNJ
# Human-readable fields of request bodies: each must refuse the characters above.
HUMAN_FIELDS = frozenset({"name", "title", "label", "leader", "description"})


@pytest.mark.parametrize("char", REFUSED, ids=[f"U+{ord(c):04X}" for c in REFUSED])
def test_display_text_refuses_characters_that_change_how_text_looks(char: str) -> None:
    with pytest.raises(ValidationError) as caught:
        LINE.validate_python(f"Admin{char}istrator")
    error = caught.value.errors()[0]
    if char == "\ud800":
        assert error["type"] == "string_unicode"
        return
    assert error["type"] == "text_unsafe_character"
    assert f"U+{ord(char):04X}" in error["msg"]


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        ("Zoë Ångström", "Zoë Ångström"),
        ("李小龍", "李小龍"),
        ("👩\u200d💻 Dev", "👩\u200d💻 Dev"),  # zero-width joiner (emoji)
        (PERSIAN, PERSIAN),  # zero-width non-joiner
        ("שלום\u200f", "שלום\u200f"),  # a right-to-left mark is not an override
        ("  padded \n", "padded"),  # surrounding whitespace is stripped first, not refused
    ],
)
def test_display_text_keeps_what_people_write(value: str, kept: str) -> None:
    assert LINE.validate_python(value) == kept


def _models(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models in a field annotation (unions, lists and Annotated unwrapped)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in getattr(annotation, "__args__", ()) or ():
        found.extend(_models(arg))
    return found


def _human_fields(model: type[BaseModel], seen: set[type[BaseModel]]) -> list[tuple[str, Any]]:
    """(model.field, field info) of every human-readable field of `model` and the models in it."""
    if model in seen:
        return []
    seen.add(model)
    found: list[tuple[str, Any]] = []
    for name, info in model.model_fields.items():
        if name in HUMAN_FIELDS:
            found.append((f"{model.__name__}.{name}", info))
        for inner in _models(info.annotation):
            found.extend(_human_fields(inner, seen))
    return found


def test_every_human_readable_body_field_refuses_them(app: FastAPI) -> None:
    """Mechanism check: every request body of every route (and the spreadsheet import row),
    read from the app, refuses a bidi override and an ANSI escape in each of its name, title,
    label, leader and description fields. A new schema that forgets `DisplayText` fails here."""
    models: set[type[BaseModel]] = {UserImportRow}
    for context in api_routes(app):
        route = context.original_route
        assert isinstance(route, APIRoute)
        if route.body_field is not None:
            models.update(_models(route.body_field.field_info.annotation))
    seen: set[type[BaseModel]] = set()
    fields = [field for model in models for field in _human_fields(model, seen)]
    assert len(fields) >= 15, fields  # users, roles, depts, menus, dicts, ... and the profile
    accepted = []
    for where, info in fields:
        adapter: TypeAdapter[Any] = TypeAdapter(info.rebuild_annotation())
        for value in ("Admin\u202eistrator", "\x1b[31mAdmin"):
            try:
                adapter.validate_python(value)
            except ValidationError:
                continue
            accepted.append((where, value))
    assert accepted == []


BIDI = "Admin\u202eistrator"
ANSI = "\x1b[2JAdmin"
# (method, path, body with the field set to the value, the field) for every module's create
# route and the profile.
ROUTES: list[tuple[str, str, dict[str, Any], str]] = [
    (
        "POST",
        "/api/v1/system/users",
        {"username": "bidi", "password": "velvet-orbit-quarry-58"},
        "name",
    ),
    ("PATCH", "/api/v1/auth/me", {}, "name"),
    ("POST", "/api/v1/system/roles", {"code": "bidi"}, "name"),
    ("POST", "/api/v1/system/depts", {"code": "bidi"}, "name"),
    ("POST", "/api/v1/system/depts", {"code": "bidi", "name": "Sales"}, "leader"),
    ("POST", "/api/v1/system/positions", {"code": "bidi"}, "name"),
    ("POST", "/api/v1/system/menus", {"type": "directory", "path": "/bidi"}, "title"),
    ("POST", "/api/v1/system/dict-types", {"code": "bidi"}, "name"),
    ("POST", "/api/v1/system/dict-data", {"type_code": "bidi", "value": "v"}, "label"),
    ("POST", "/api/v1/system/params", {"key": "bidi.key", "value": "v"}, "name"),
    ("POST", "/api/v1/system/notices", {}, "title"),
    (
        "POST",
        "/api/v1/scheduler/jobs",
        {"target": "testjobs.behave", "trigger": {"type": "interval", "seconds": 60}},
        "name",
    ),
    ("POST", "/api/v1/examples", {}, "name"),
    ("POST", "/api/v1/examples", {"name": "Fine"}, "description"),
    ("POST", "/api/v1/articles", {"content": "long enough content"}, "title"),
]


@pytest.mark.parametrize("value", [BIDI, ANSI], ids=["bidi", "ansi"])
@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    ROUTES,
    ids=[f"{method} {path} {field}" for method, path, _, field in ROUTES],
)
async def test_every_module_refuses_them_naming_the_field(
    client: httpx.AsyncClient,
    app: FastAPI,
    method: str,
    path: str,
    body: dict[str, Any],
    field: str,
    value: str,
) -> None:
    headers = await superuser_headers(app)
    response = await client.request(method, path, json={**body, field: value}, headers=headers)
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert [e["field"] for e in errors] == [field]
    assert errors[0]["type"] == "text_unsafe_character"
