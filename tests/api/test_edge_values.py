"""Edge values on every operation of the OpenAPI document (docs/security-checklist.md §4.2, §1.7
16.5.1;
docs/security.md "Round two: input at the edges").

The fuzzer draws its values at random; this sweep sends, to every operation and every integer
or `date-time` input it declares (path, query, and the fields of a JSON body), the values that
broke the API before: naive datetimes and datetimes at the edge of the UTC range, integers one
past their bounds and past BIGINT, and integers at their bounds (which reach the database).
Nothing may answer 5xx; a value outside its bounds is a 422 naming the input. The operations
come from the document, so a new module is covered without a line here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.api.fuzz_stats import EDGE_VALUES
from tests.security.routes import operations
from tests.support.identity import auth_headers, create_user

NAIVE_AND_EDGE_DATETIMES = (
    "2026-01-01T00:00:00",
    "0001-01-01T00:00:00",
    "9999-12-31T23:59:59.999999",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59.999999Z",
)
DATETIMES_WITHOUT_UTC = ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00")
PAST_BIGINT = (2**63, 2**64, -(2**63) - 1)
FILLER = "edge-value"  # for path parameters that are not integers


@dataclass(frozen=True)
class Input:
    location: str  # path | query | body
    name: str  # the parameter, or the dotted field of the body
    schema: dict[str, Any]
    # For a body field inside a tagged union: the tags on its way (`{"trigger": {"type": ...}}`).
    tags: tuple[tuple[str, object], ...] = ()


def _resolve(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _kinds(schema: dict[str, Any], components: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The schema itself, or each member of an anyOf/oneOf (`int | None`)."""
    schema = _resolve(schema, components)
    members = schema.get("anyOf") or schema.get("oneOf")
    if members:
        for member in members:
            yield _resolve(member, components)
    else:
        yield schema


def _tags(kind: dict[str, Any], prefix: str) -> tuple[tuple[str, object], ...]:
    """The single-valued properties of an object (a tagged union's `type: "date"`)."""
    found = []
    for name, field in kind.get("properties", {}).items():
        if "const" in field:
            found.append((f"{prefix}{name}", field["const"]))
        elif len(field.get("enum", ())) == 1:
            found.append((f"{prefix}{name}", field["enum"][0]))
    return tuple(found)


def _body_inputs(
    schema: dict[str, Any],
    components: dict[str, Any],
    prefix: str = "",
    tags: tuple[tuple[str, object], ...] = (),
) -> Iterator[Input]:
    for kind in _kinds(schema, components):
        here = tags + _tags(kind, prefix)
        for name, field in kind.get("properties", {}).items():
            dotted = f"{prefix}{name}"
            for member in _kinds(field, components):
                if member.get("type") == "integer" or member.get("format") == "date-time":
                    yield Input("body", dotted, member, here)
                elif member.get("type") == "object" and "properties" in member:
                    yield from _body_inputs(member, components, f"{dotted}.", here)


def edge_inputs(app: FastAPI) -> Iterator[tuple[str, str, dict[str, Any], list[Input]]]:
    """(method, path, operation, its integer and date-time inputs) for every operation."""
    components = app.openapi()["components"]["schemas"]
    for method, path, operation in operations(app):
        found: list[Input] = []
        for parameter in operation.get("parameters", []):
            if parameter["in"] not in ("path", "query"):
                continue
            for member in _kinds(parameter["schema"], components):
                if member.get("type") == "integer" or member.get("format") == "date-time":
                    found.append(Input(parameter["in"], parameter["name"], member))
        json_body = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if json_body:
            found.extend(_body_inputs(json_body["schema"], components))
        if found:
            yield method, path, operation, found


def _values(schema: dict[str, Any]) -> Iterator[tuple[object, bool]]:
    """(value, must be refused with 422) for one integer or date-time input."""
    if schema.get("format") == "date-time":
        for moment in NAIVE_AND_EDGE_DATETIMES:
            yield moment, False
        for moment in DATETIMES_WITHOUT_UTC:
            yield moment, True
        return
    # The document's bounds are floats (FastAPI's OpenAPI model): 2**63-1 reads as 2.0**63.
    low, high = int(schema["minimum"]), min(int(schema["maximum"]), 2**63 - 1)
    for number in (low, high):
        yield number, False
    for number in (low - 1, high + 1, *PAST_BIGINT):
        if not low <= number <= high:
            yield number, True


def _put(body: dict[str, Any], name: str, value: object) -> None:
    head, _, rest = name.partition(".")
    if rest:
        _put(body.setdefault(head, {}), rest, value)
    else:
        body[head] = value


def _request(path: str, target: Input, value: object) -> dict[str, Any]:
    """httpx arguments sending `value` as `target` (other path parameters filled in)."""
    url = path
    params: dict[str, str] = {}
    body: dict[str, Any] | None = None
    if target.location == "path":
        url = url.replace(f"{{{target.name}}}", str(value))
    elif target.location == "query":
        params = {target.name: str(value)}
    else:
        body = {}
        assert body is not None
        for name, tag in target.tags:
            _put(body, name, tag)
        _put(body, target.name, value)
    while "{" in url:  # the other path parameters: a valid-looking id or a word
        start, end = url.index("{"), url.index("}")
        filler = "1" if url[start + 1 : end].endswith("id") else FILLER
        url = url[:start] + filler + url[end + 1 :]
    return {"url": url, "params": params, **({"json": body} if body is not None else {})}


@pytest.fixture
async def admin(app: FastAPI) -> dict[str, str]:
    async with app.state.sessionmaker() as db, db.begin():
        user = await create_user(db, is_superuser=True)
    return await auth_headers(app, user)


async def test_edge_values_on_every_operation_never_answer_5xx(
    app: FastAPI, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    """Naive and edge datetimes, integers at and past their bounds, on every operation:
    never a 5xx; out of range is a 422 naming the input (items 8 and 9)."""
    failures: list[str] = []
    sent = operations_seen = 0
    for method, path, _operation, inputs in edge_inputs(app):
        operations_seen += 1
        for target in inputs:
            for value, refused in _values(target.schema):
                arguments = _request(path, target, value)
                response = await client.request(method, headers=admin, **arguments)
                sent += 1
                where = f"{method} {path} {target.location}.{target.name}={value!r}"
                if response.status_code >= 500:
                    failures.append(f"{where}: {response.status_code} {response.text[:200]}")
                elif refused:
                    named = {
                        (e.get("location"), e.get("field"))
                        for e in response.json().get("errors", [])
                    }
                    if response.status_code != 422 or (target.location, target.name) not in named:
                        failures.append(f"{where}: {response.status_code} {response.text[:200]}")
    assert not failures, "\n".join(failures)
    assert operations_seen >= 40 and sent >= 500, (operations_seen, sent)
    EDGE_VALUES.update(requests=sent, operations=operations_seen)
