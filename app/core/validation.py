"""Validation errors in words a person can act on (docs/http.md, "Validation errors").

pydantic describes a failure for a programmer: `String should match pattern '^[A-Za-z0-9_.@-]+$'`,
a union member's type as part of the location (`value.function-after[...]`), and, for a body
that is not JSON, the character offset where the parser stopped as if it were a field. Every
request validation error, and every spreadsheet row error, goes through `human_message` and
`field_path` instead, so the answer names a real field and says what would be accepted,
without echoing the submitted value (it may be a password) or the regular expression.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import Request, params
from fastapi.routing import APIRoute

from app.core.responses import ErrorDetail
from app.core.schemas import pattern_hint

LOCATIONS = ("body", "query", "path", "header", "cookie")

# Labels pydantic puts in a location for the member of a union that failed, not field names.
_UNION_LABELS = frozenset(
    {"int", "str", "float", "bool", "bytes", "list", "dict", "set", "tuple", "none", "decimal"}
    | {"datetime", "date", "time", "timedelta", "uuid", "url", "json", "any", "is-instance"}
)
_LABEL_SYNTAX = re.compile(r"[\[\]()<>,]|^(?:constrained|lax|function|nullable|tagged)-")


def field_path(loc: Sequence[Any], body: Any = None) -> tuple[str | None, str | None]:
    """(location, dotted field name) of a pydantic error location; list indices stay numbers.

    With the submitted `body`, a part that is not a key of the object it would index but one
    of its values is the tag of a tagged union (`trigger.interval.seconds` for a trigger sent
    as `{"type": "interval"}`) and is left out: the field is `trigger.seconds`.
    """
    parts = list(loc)
    location = parts.pop(0) if parts and parts[0] in LOCATIONS else None
    names: list[str] = []
    current = body if location == "body" else None
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        tags = {str(v) for v in current.values()} if isinstance(current, dict) else set()
        if not last and isinstance(current, dict) and part not in current and part in tags:
            continue  # a union tag, not a field
        if isinstance(part, int):
            names.append(str(part))
            current = current[part] if isinstance(current, list) and part < len(current) else None
            continue
        if part in _UNION_LABELS or _LABEL_SYNTAX.search(part):
            continue
        names.append(part)
        current = current.get(part) if isinstance(current, dict) else None
    return location, ".".join(names) or None


def _size(ctx: Mapping[str, Any], kind: str) -> str:
    """too_short / too_long of a list, a set or a dict."""
    if "min_length" in ctx:
        return f"must have at least {ctx['min_length']} {kind}"
    return f"must have at most {ctx.get('max_length')} {kind}"


_FIXED: dict[str, str] = {
    "missing": "is required",
    "extra_forbidden": "is not a field of this request",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "int_parsing_size": "is too large a number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "finite_number": "must be a finite number",
    "decimal_type": "must be a number",
    "decimal_parsing": "must be a number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "string_type": "must be text",
    "string_unicode": "must be valid UTF-8 text",
    "string_sub_type": "must be text",
    "bytes_type": "must be text",
    "list_type": "must be a list",
    "set_type": "must be a list of distinct values",
    "tuple_type": "must be a list",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "dataclass_type": "must be an object",
    "json_type": "must be JSON text",
    "uuid_type": "must be a UUID",
    "uuid_parsing": "must be a UUID such as 7c1e0d5a-4f7e-4a53-9a7b-2f0c2f4a9e10",
    "url_type": "must be a URL",
    "url_parsing": "must be a URL such as https://example.com/path",
    "url_scheme": "must be an http or https URL",
    "date_type": "must be a date such as 2026-01-31",
    "date_parsing": "must be a date such as 2026-01-31",
    "date_from_datetime_parsing": "must be a date such as 2026-01-31",
    "date_from_datetime_inexact": "must be a date without a time",
    "time_type": "must be a time such as 13:45:00",
    "time_parsing": "must be a time such as 13:45:00",
    "datetime_type": "must be a date and time such as 2026-01-31T13:45:00Z",
    "datetime_parsing": "must be a date and time such as 2026-01-31T13:45:00Z",
    "datetime_from_date_parsing": "must be a date and time such as 2026-01-31T13:45:00Z",
    "datetime_object_invalid": "must be a date and time such as 2026-01-31T13:45:00Z",
    "timezone_aware": "must include a time zone offset, such as Z or +08:00",
    "timezone_naive": "must not include a time zone offset",
    "no_such_attribute": "is not a field of this request",
    "frozen_field": "cannot be changed",
    "none_required": "must be null",
    "callable_type": "is not valid",
    "is_instance_of": "is not valid",
    "body_invalid": "could not be decoded",
}

# Values a JSON number may not carry here (the request would only say "invalid").
_NUMBER_BOUNDS = {
    "greater_than_equal": ("ge", "must be at least {}"),
    "greater_than": ("gt", "must be greater than {}"),
    "less_than_equal": ("le", "must be at most {}"),
    "less_than": ("lt", "must be less than {}"),
    "multiple_of": ("multiple_of", "must be a multiple of {}"),
}


def human_message(error: Mapping[str, Any]) -> str:
    """What is wrong with the value, in words; the value itself is never shown."""
    kind = str(error.get("type", "value_error"))
    ctx: Mapping[str, Any] = error.get("ctx") or {}
    if kind in _FIXED:
        return _FIXED[kind]
    if kind in _NUMBER_BOUNDS:
        key, text = _NUMBER_BOUNDS[kind]
        return text.format(ctx.get(key, "the limit"))
    if kind == "string_too_short":
        minimum = ctx.get("min_length", 1)
        if minimum == 1:
            return "must not be empty"
        return f"must be at least {minimum} characters long"
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters long"
    if kind == "string_pattern_mismatch":
        hint = pattern_hint(str(ctx.get("pattern", "")))
        if hint is None:
            return "contains characters or a format that is not allowed here"
        return hint if hint.startswith("must") else f"may contain only {hint}"
    if kind in ("too_short", "too_long"):
        return _size(ctx, "items")
    if kind in ("literal_error", "enum"):
        return f"must be one of {ctx.get('expected', 'the documented values')}"
    if kind == "union_tag_invalid":
        return f"must be one of {ctx.get('expected_tags', 'the documented values')}"
    if kind == "union_tag_not_found":
        return f"needs its {ctx.get('discriminator', 'type')} field"
    if kind == "json_invalid":
        return "is not valid JSON"
    if kind in ("value_error", "assertion_error"):
        # Our own validators phrase their messages for people; pydantic only prefixes them.
        message = str(error.get("msg", "is not valid"))
        return message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return _reworded(str(error.get("msg") or "is not valid"))


_PYDANTIC_SUBJECT = re.compile(
    r"^(?:Input|String|Value|List|Dictionary|Object|Data|Decimal|Tuple|Set|Number) should "
)


def _reworded(message: str) -> str:
    """pydantic's "Input should be a valid IPv4 address" as "must be a valid IPv4 address";
    a message of our own (a `PydanticCustomError`, app/core/schemas.py) as it is."""
    if _PYDANTIC_SUBJECT.match(message):
        # Anything quoted may be a pattern or a submitted value: leave it out.
        return _PYDANTIC_SUBJECT.sub("must ", message.split(" '", 1)[0]).rstrip(",:")
    return message


_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def media_type_mismatch(request: Request) -> ErrorDetail | None:
    """The `Content-Type` problem behind a failed body, if that is what it is.

    JSON sent to the sign-in form fails as "username: is required" and "password: is
    required", which leaves a person looking at a body that has both. Said first instead:
    the endpoint takes form fields (or a JSON body) and the request was something else.
    """
    route = request.scope.get("route")
    body_field = getattr(route, "body_field", None) if isinstance(route, APIRoute) else None
    if body_field is None:
        return None
    expected = str(getattr(body_field.field_info, "media_type", "application/json"))
    sent = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if not sent:
        return None  # no body at all: "is required" says it
    is_form = isinstance(body_field.field_info, params.Form)
    if is_form:
        if sent in _FORM_TYPES:
            return None
        takes = f"form fields, not {sent}"
    else:
        if sent == "application/json" or sent.endswith("+json"):
            return None
        takes = f"a JSON body, not {sent}"
    return ErrorDetail(
        field="Content-Type",
        location="header",
        message=f"must be {expected}: this endpoint takes {takes}",
        type="content_type",
    )
