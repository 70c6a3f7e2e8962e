"""The `type` of every error envelope: a stable, machine-readable name of what went wrong.

Clients (the console) choose their words by `type`, never by the English `message`. Every
error the API returns carries one of the names below (docs/http.md, "Error types");
`tests/conftest.py` checks it on every response of the suite, and a 409 must name its kind
(the bare `conflict` is never sent).
"""

from __future__ import annotations

# The type an error gets from its status alone, when nothing more precise is known.
STATUS_TYPES: dict[int, str] = {
    400: "bad_request",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",  # never sent: each 409 names its kind (CONFLICT_TYPES)
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}
OTHER_STATUS_TYPE = "http_error"

# The kinds of 409: each has a helper class in app/core/errors.py (or a handler there).
CONFLICT_TYPES: dict[str, str] = {
    "duplicate": "a record with the same unique value exists; `errors` names the field(s)",
    "in_use": "the record is still used by others (a position held by users, ...)",
    "has_children": "the record has children (sub-departments, sub-menus)",
    "reference": "the record is referenced by, or refers to, a missing record",
    "stale_version": "the record changed since it was read; reload and retry",
    "invalid_state": "the action does not fit the record's current state",
    "tree_cycle": "a move would put a node under itself or its descendant",
    "protected": "a built-in or last-of-its-kind record that cannot be changed this way",
    "concurrent_change": "the request collided with a concurrent change; send it again",
    "request_in_progress": "a request with the same Idempotency-Key is still running",
    "request_processed": "the request with this Idempotency-Key was processed; not kept",
}

# Refinements of other statuses that a client words differently from the status alone.
REFINED_TYPES: dict[str, tuple[int, str]] = {
    "invalid_credentials": (401, "incorrect username or password"),
    "mfa_required": (401, "a multi-factor authentication code is required"),
    "invalid_mfa_code": (401, "the multi-factor authentication code is wrong"),
    "invalid_refresh_token": (401, "the refresh token is invalid or expired"),
    "captcha_required": (400, "the captcha must be answered"),
    "invalid_captcha": (400, "the captcha answer is wrong or expired"),
    "wrong_password": (400, "the current password is wrong"),
    "malformed_upload": (400, "the multipart body is malformed or incomplete"),
    "scope_exceeded": (403, "the target lies outside the caller's data scope"),
    "grant_exceeded": (403, "the action needs or hands out permissions the caller does not hold"),
    "superuser_only": (403, "only a superuser may manage a superuser"),
    "self_management": (403, "the caller cannot do this to their own account here"),
    "too_many_failures": (429, "too many failed sign-ins, passwords or codes; `Retry-After`"),
}

ERROR_TYPES: frozenset[str] = frozenset(
    {*STATUS_TYPES.values(), OTHER_STATUS_TYPE, *CONFLICT_TYPES, *REFINED_TYPES} - {"conflict"}
)


def status_type(status: int) -> str:
    """The type of an error known only by its status."""
    return STATUS_TYPES.get(status, OTHER_STATUS_TYPE)
