"""The `AppError` family and the one place that turns exceptions into error envelopes.

Modules subclass these in their `exceptions.py` (`class UserNotFound(NotFound)`), raise them
from services, and never build error responses themselves. Every error names its `type`
(app/core/error_types.py); a 409 names its kind by subclassing one of the conflict helpers
below (`Duplicate`, `InUse`, `HasChildren`, `StaleVersion`, `InvalidState`, `TreeCycle`,
`Protected`): a `Conflict` subclass that names no kind fails at import.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any, ClassVar

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import exc as sa_orm_exc
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from app.core.cache import CacheUnavailableError
from app.core.error_types import CONFLICT_TYPES, ERROR_TYPES, status_type
from app.core.integrity import conflict_fields as _conflict_fields
from app.core.responses import ErrorDetail, error_response
from app.core.retry import mark_conflict
from app.core.validation import field_path, human_message, media_type_mismatch

log = structlog.get_logger("app.errors")


class AppError(Exception):
    """Base of every expected error. `message` is safe to show to the client."""

    status_code: ClassVar[int] = 400
    default_message: ClassVar[str] = "Bad request"
    # The envelope's `type`; None: the status's own (`not_found` for a 404).
    error_type: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.error_type is not None and cls.error_type not in ERROR_TYPES:
            raise TypeError(f"{cls.__name__}.error_type {cls.error_type!r} is not in ERROR_TYPES")

    def __init__(
        self,
        message: str | None = None,
        *,
        errors: Sequence[ErrorDetail | Mapping[str, Any]] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.errors = list(errors)
        self.headers = dict(headers or {})
        super().__init__(self.message)

    @property
    def type(self) -> str:
        return self.error_type or status_type(self.status_code)


class BadRequest(AppError):
    status_code = 400
    default_message = "Bad request"


class NotAuthenticated(AppError):
    status_code = 401
    default_message = "Not authenticated"

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.headers.setdefault("WWW-Authenticate", "Bearer")


class PermissionDenied(AppError):
    status_code = 403
    default_message = "Permission denied"


class NotFound(AppError):
    status_code = 404
    default_message = "Not found"


class Conflict(AppError):
    """409. Not raised itself: raise (a subclass of) one of the kinds below, which name it."""

    status_code = 409
    default_message = "Conflict"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.error_type not in CONFLICT_TYPES:
            raise TypeError(
                f"{cls.__name__} must subclass a conflict kind of app.core.errors "
                f"(Duplicate, InUse, HasChildren, StaleVersion, ...), not Conflict itself"
            )


# Kinds of 409. `Conflict.__init_subclass__` reads `error_type` of the class being defined,
# so each kind sets it in its class body.
class Duplicate(Conflict):
    """A record with the same unique value exists; names the field(s), not the value."""

    error_type = "duplicate"
    default_message = "Conflict: a record with the same unique value exists"
    fields: ClassVar[tuple[str, ...]] = ()

    def __init__(self, message: str | None = None, *, fields: Sequence[str] = ()) -> None:
        named = list(fields or self.fields)
        super().__init__(
            message,
            errors=[
                ErrorDetail(field=f, location="body", message="already exists", type="unique")
                for f in named
            ],
        )


class InUse(Conflict):
    error_type = "in_use"
    default_message = "Conflict: the record is in use"


class HasChildren(Conflict):
    error_type = "has_children"
    default_message = "Conflict: the record has children"


class StaleVersion(Conflict):
    """The row changed since the client read it; the body names the field `version`."""

    error_type = "stale_version"
    default_message = "Conflict: the record was modified by someone else; reload it and retry"
    detail: ClassVar[str] = "modified by someone else"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(
            message,
            errors=[
                ErrorDetail(field="version", location="body", message=self.detail, type="stale")
            ],
        )


class InvalidState(Conflict):
    error_type = "invalid_state"
    default_message = "Conflict: not possible in the record's current state"


class TreeCycle(Conflict):
    error_type = "tree_cycle"
    default_message = "Conflict: cannot move a node under itself or its descendant"


class Protected(Conflict):
    error_type = "protected"
    default_message = "Conflict: this record is protected"


class PayloadTooLarge(AppError):
    status_code = 413
    default_message = "Payload too large"


class ValidationFailed(AppError):
    status_code = 422
    default_message = "Validation failed"


class TooManyRequests(AppError):
    status_code = 429
    default_message = "Too many requests"

    def __init__(self, message: str | None = None, *, retry_after: int = 60, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.headers["Retry-After"] = str(max(1, int(retry_after)))


class ServiceUnavailable(AppError):
    status_code = 503
    default_message = "Service temporarily unavailable"

    def __init__(self, message: str | None = None, *, retry_after: int = 5, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.headers["Retry-After"] = str(max(1, int(retry_after)))


# --------------------------------------------------------------------------- handlers --


async def _app_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AppError)
    return error_response(exc.status_code, exc.message, exc.errors, exc.headers, exc.type)


def validation_details(errors: Sequence[Any], body: Any = None) -> list[ErrorDetail]:
    """Field errors in words (app/core/validation.py), without echoing the submitted values
    (they may be secrets); one entry per field."""
    details: list[ErrorDetail] = []
    seen: set[tuple[str | None, str | None]] = set()
    for error in errors:
        location, field = field_path(error.get("loc", ()), body)
        if error.get("type") == "json_invalid":
            field = None  # pydantic's location is the parser's character offset, not a field
        if (location, field) in seen:
            continue  # the other members of a union failing on the same value
        seen.add((location, field))
        details.append(
            ErrorDetail(
                field=field,
                location=location,
                message=human_message(error),
                type=str(error.get("type", "value_error")),
            )
        )
    return details


def validation_message(details: Sequence[ErrorDetail], *, limit: int = 3) -> str:
    """The headline: `Validation failed: body.username may contain only ...; query.since ...`."""
    parts = []
    for detail in details[:limit]:
        name = ".".join(part for part in (detail.location, detail.field) if part)
        parts.append(f"{name} {detail.message}" if name else detail.message)
    if len(details) > limit:
        parts.append(f"and {len(details) - limit} more (see errors)")
    return f"Validation failed: {'; '.join(parts)}" if parts else "Validation failed"


async def _request_validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    details = validation_details(exc.errors(), exc.body)
    wrong_media = media_type_mismatch(request)
    if wrong_media is not None:
        details.insert(0, wrong_media)
    return error_response(422, validation_message(details), details)


# FastAPI's answer to a body it cannot decode at all (e.g. bytes that are not UTF-8 sent as JSON,
# a broken multipart stream). Like a JSON syntax error, that is a validation failure of the body.
_BODY_PARSE_ERROR = "There was an error parsing the body"


async def _http_exception(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    if status == 400 and exc.detail == _BODY_PARSE_ERROR:
        detail = ErrorDetail(
            location="body", message="The body could not be decoded", type="body_invalid"
        )
        return error_response(422, "Validation failed: body", [detail])
    try:
        default = HTTPStatus(status).phrase
    except ValueError:
        default = "Error"
    message = exc.detail if isinstance(exc.detail, str) and exc.detail else default
    if status == 404 and message == "Not Found":
        message = "Not found"
    return error_response(status, message, headers=exc.headers)


async def _stale_data(_request: Request, exc: Exception) -> Response:
    detail = ErrorDetail(
        field="version", location="body", message=StaleVersion.detail, type="stale"
    )
    return error_response(
        409,
        "Conflict: the record was changed by someone else; reload it and try again",
        [detail],
        error_type="stale_version",
    )


async def _integrity_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, sa_exc.IntegrityError)
    text = str(exc.orig) if exc.orig is not None else str(exc)
    lowered = text.lower()
    if "foreign key" in lowered:
        return error_response(
            409,
            "Conflict: the record is referenced by, or refers to, a missing record",
            error_type="reference",
        )
    fields = _conflict_fields(text)
    details = [ErrorDetail(field=f, message="already exists", type="unique") for f in fields]
    return error_response(
        409, "Conflict: a record with the same unique value exists", details, error_type="duplicate"
    )


# SQLSTATE classes meaning "the server cannot serve now" rather than "the request is wrong":
# 08 connection exception, 53 insufficient resources (too many connections), 57 operator
# intervention (admin/crash shutdown, 57P03 "the database system is shutting down" while
# connecting, 57014 statement timeout). asyncpg reports some of them as a plain DBAPIError.
_OUTAGE_SQLSTATE_CLASSES = frozenset({"08", "53", "57"})
# Single states of the same kind: 55P03 lock_not_available (`lock_timeout` ran out waiting for
# a lock another session holds; DB_LOCK_TIMEOUT, docs/security-checklist.md F5). MySQL/MariaDB
# report their
# lock wait timeout (1205) as an OperationalError, which is an outage below already.
_OUTAGE_SQLSTATES = frozenset({"55P03"})


def is_dependency_outage(exc: BaseException) -> bool:
    """True for errors that mean the database is unreachable, overloaded or timing out."""
    if isinstance(exc, sa_exc.TimeoutError):  # pool exhausted
        return True
    if isinstance(exc, sa_exc.DBAPIError):
        sqlstate = str(getattr(exc.orig, "sqlstate", None) or "")
        return (
            bool(exc.connection_invalidated)
            or isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError)
            or sqlstate[:2] in _OUTAGE_SQLSTATE_CLASSES
            or sqlstate in _OUTAGE_SQLSTATES
        )
    return isinstance(exc, ConnectionError | TimeoutError | OSError)


def is_transaction_conflict(exc: BaseException) -> bool:
    """True for a deadlock or serialization failure: PostgreSQL 40P01 / 40001, MySQL/MariaDB
    error 1213 (reported as an OperationalError). The database rolled the transaction back so
    that a concurrent one could finish; neither the request nor the server is at fault, and
    the same request run again normally goes through (docs/security-checklist.md §5.3 F18)."""
    orig = getattr(exc, "orig", None)
    args = getattr(orig, "args", None) or (None,)
    return str(getattr(orig, "sqlstate", None) or "") in ("40001", "40P01") or args[0] == 1213


async def _database_error(request: Request | None, exc: Exception) -> Response:
    if is_transaction_conflict(exc):
        # The retry middleware drops this answer and runs the request again unless this was
        # its last attempt (app/core/retry.py); the mark stays in the attempt's scope.
        retried = mark_conflict(request.scope if request is not None else None)
        log.info("database_transaction_conflict", error=type(exc).__name__, retried=retried)
        return error_response(
            409,
            "Conflict: the request collided with a concurrent change; send it again",
            headers={"Retry-After": "1"},
            error_type="concurrent_change",
        )
    if is_dependency_outage(exc):
        log.warning("database_unavailable", error=type(exc).__name__)
        return error_response(
            503, "Service temporarily unavailable: database", headers={"Retry-After": "5"}
        )
    sqlstate = str(getattr(getattr(exc, "orig", None), "sqlstate", None) or "")
    if sqlstate.startswith("22"):
        # Data exception: a value the database cannot store (a NUL byte in text on PostgreSQL,
        # a number out of range). The request is wrong, not the server (found by API fuzzing).
        log.info("database_rejected_value", sqlstate=sqlstate)
        return error_response(422, "Validation failed: a value cannot be stored")
    log.error("database_error", exc_info=exc)
    return error_response(500, "Internal server error")


async def _cache_unavailable(_request: Request, exc: Exception) -> Response:
    log.warning("cache_unavailable", error=str(exc))
    return error_response(
        503, "Service temporarily unavailable: cache", headers={"Retry-After": "5"}
    )


async def _os_timeout(_request: Request, exc: Exception) -> Response:
    # Raised by drivers when a dependency stops answering (asyncio/socket timeouts, refused
    # connections); anything else of this kind is still not the client's fault.
    log.warning("dependency_timeout", error=type(exc).__name__)
    return error_response(503, "Service temporarily unavailable", headers={"Retry-After": "5"})


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers; unhandled exceptions become a generic 500 in the middleware."""
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    app.add_exception_handler(sa_exc.IntegrityError, _integrity_error)
    app.add_exception_handler(sa_orm_exc.StaleDataError, _stale_data)
    app.add_exception_handler(sa_exc.SQLAlchemyError, _database_error)
    app.add_exception_handler(CacheUnavailableError, _cache_unavailable)
    app.add_exception_handler(TimeoutError, _os_timeout)
    app.add_exception_handler(ConnectionError, _os_timeout)
