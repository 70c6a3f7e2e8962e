"""Structured logging with structlog: console lines in dev, JSON lines in production.

Every line carries the request id and user id of the request it belongs to (contextvars), and
values under secret-looking keys are masked before rendering, at any depth.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import orjson
import structlog
from structlog.typing import EventDict, Processor

from app.core.config import Settings

SECRET_KEY_PATTERN = re.compile(
    r"pass(word|wd)?|secret|token|authorization|cookie|otp|api[_-]?key|private[_-]?key|"
    r"recovery[_-]?code|captcha[_-]?code|credential",
    re.IGNORECASE,
)
MASK = "***"


def is_secret(key: object, value: Any) -> bool:
    """Whether `value` under `key` must be masked: the key looks secret, and the value is not a
    flag, an absence or a time (`must_change_password: true`, `mfa_secret: null` and
    `password_changed_at` tell an auditor what happened and reveal no secret)."""
    if not isinstance(key, str) or not SECRET_KEY_PATTERN.search(key):
        return False
    return not (isinstance(value, bool) or value is None or key.lower().endswith("_at"))


def mask_secrets(value: Any, _depth: int = 0) -> Any:
    """A copy of `value` with every value under a secret-looking key replaced by `***`
    (`is_secret`)."""
    if _depth > 20:
        return value
    if isinstance(value, MutableMapping):
        return {
            key: MASK if is_secret(key, item) else mask_secrets(item, _depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [mask_secrets(item, _depth + 1) for item in value]
    return value


def _mask_processor(_logger: Any, _name: str, event_dict: EventDict) -> EventDict:
    for key in list(event_dict):
        if key in ("event", "level", "timestamp", "logger"):
            continue
        if SECRET_KEY_PATTERN.search(key):
            event_dict[key] = MASK
        elif isinstance(event_dict[key], MutableMapping | list | tuple):
            event_dict[key] = mask_secrets(event_dict[key])
    return event_dict


def _json_dumps(value: Any, **_kwargs: Any) -> str:
    return orjson.dumps(value, default=str).decode()


class _StdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stdout` is at emit time (so redirected or captured output works)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stdout
        super().emit(record)


def configure_logging(settings: Settings) -> None:
    """Route structlog and the standard library (uvicorn, SQLAlchemy) through one renderer."""
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _mask_processor,
    ]
    renderer: Processor
    if settings.json_logs:
        shared.append(structlog.processors.format_exc_info)
        renderer = structlog.processors.JSONRenderer(serializer=_json_dumps)
    else:
        # Plain tracebacks: the default (rich, with local variables) takes seconds per
        # exception on the event loop and prints locals such as connection settings.
        renderer = structlog.dev.ConsoleRenderer(
            colors=False, exception_formatter=structlog.dev.plain_traceback
        )

    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    # One stream, one line per record: several processes writing stdout stay line-atomic,
    # and the supervisor (systemd, docker) owns files and rotation.
    handler = _StdoutHandler(sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(settings.log_level)
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers = []
        logger.propagate = True
    # Alembic announces each of its autogenerate plugins at INFO when it is first imported
    # (in production, each worker's schema check at startup): seven lines of no use to an
    # operator. Set here, before that import: its own module would be too late.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    # Our middleware writes the access line (with request id, user id and latency).
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("sqlalchemy.engine").setLevel(
        logging.INFO if settings.db_echo else logging.WARNING
    )
