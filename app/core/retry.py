"""Server-side retry of a write the database broke as a deadlock or serialization failure.

PostgreSQL (40P01 deadlock, 40001 serialization failure) and MySQL/MariaDB (error 1213) roll a
transaction back so that a concurrent one can finish; neither the request nor the server is at
fault, and the same request run again normally goes through (docs/security-checklist.md §5.3 F18).
So the
request is run again from the start, in a new session and transaction, up to
`DB_RETRY_ATTEMPTS` attempts in all, with a short jittered pause between two attempts; only
after the last one does the client get the 409 with `Retry-After` (docs/http.md, "Retries of
conflicting transactions").

How the pieces fit:

- `TransactionRetryMiddleware` is the innermost user middleware (`create_app` puts
  `transaction_retry()` after every other one, module middleware included), so metrics, the
  access log, the operation log and `Idempotency-Key` see one request and its final answer.
- Only unsafe methods whose whole body is small are retried: the body is read up front (at
  most the body size limit) and replayed to every attempt. Multipart uploads, and bodies that
  stream past the limit, run once, as before.
- The database error handler (`app.core.errors`) calls `mark_conflict(scope)` when it turns a
  deadlock or serialization failure into its 409; the mark lives in this attempt's copy of the
  ASGI scope and nowhere else. The middleware holds nothing back otherwise: a response start
  that is not marked goes straight on; a marked one (and its body) is dropped when another
  attempt follows.
- Nothing of a failed attempt survives it: its session was rolled back and closed by the
  session dependency, which runs `after_commit` callbacks only after a commit; each attempt
  gets a fresh copy of the scope (`request.state` included).
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from typing import Any

import structlog
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.database import SAFE_METHODS
from app.core.metrics import record_transaction_retry, route_template

log = structlog.get_logger("app.retry")

# The attempt in progress, in the scope handed to the app (never the client's).
SCOPE_KEY = "fastapiadmin.transaction_attempt"
# Pause before attempt n+1: a random 10-50 ms, times n (jitter keeps two colliding requests
# from colliding again in lock step).
BACKOFF_SECONDS = (0.010, 0.050)
# Scope entries that the app mutates in place: each attempt gets its own copy.
_PER_ATTEMPT_DICTS = ("state", "fastapi")


@dataclass(slots=True)
class Attempt:
    """One run of a request: its number, whether it is the last, whether it hit a conflict."""

    number: int
    last: bool
    conflict: bool = False


def mark_conflict(scope: Scope | None) -> bool:
    """Note that this attempt ended in a deadlock or serialization failure.

    Called by the database error handler before it builds its 409. Returns True when the
    middleware will discard that answer and run the request again, False when the 409 goes
    to the client (last attempt, retry disabled, a safe method, or a body not replayable).
    """
    attempt = scope.get(SCOPE_KEY) if scope is not None else None
    if not isinstance(attempt, Attempt):
        return False
    attempt.conflict = True
    return not attempt.last


def is_rerun(scope: Scope) -> bool:
    """True for the second and later attempts of a request: what its first attempt already
    counted (rate limits) is not counted again."""
    attempt = scope.get(SCOPE_KEY)
    return isinstance(attempt, Attempt) and attempt.number > 1


# ------------------------------------------------------------------------ request bodies --


@dataclass(slots=True)
class BufferedBody:
    """The request messages read so far, to replay to the app in order."""

    messages: list[Message] = field(default_factory=list)
    size: int = 0
    # The whole body was read (the last message said no more is coming).
    complete: bool = False
    # Reading stopped because the body passed the limit (the rest is left unread).
    over_limit: bool = False


async def buffer_body(receive: Receive, limit: int) -> BufferedBody:
    """Read the request body from `receive`, holding at most `limit` bytes (plus one chunk).

    Stops at the end of the body, when the client disconnects (then `complete` is False and
    the disconnect message is the last one kept), or once more than `limit` bytes came
    (`over_limit`). Shared by the body size limit and the transaction retry.
    """
    body = BufferedBody()
    while True:
        message = await receive()
        body.messages.append(message)
        if message["type"] != "http.request":  # the client left: the app sees it too
            return body
        body.size += len(message.get("body", b""))
        if body.size > limit:
            body.over_limit = True
            return body
        if not message.get("more_body", False):
            body.complete = True
            return body


class Replay:
    """Request messages read up front, handed out again to each reader in order, then the real
    `receive` for what comes next; a disconnect seen by one reader is remembered for the next
    ones (each attempt of a retried request is a reader)."""

    def __init__(self, messages: list[Message], receive: Receive) -> None:
        self._messages = messages
        self._receive = receive
        self._disconnect: Message | None = None

    def reader(self) -> Receive:
        pending = list(self._messages)

        async def receive() -> Message:
            if pending:
                return pending.pop(0)
            if self._disconnect is None:
                message = await self._receive()
                if message["type"] != "http.disconnect":
                    return message
                self._disconnect = message
            return self._disconnect

        return receive


def replay(messages: list[Message], receive: Receive) -> Receive:
    """A `receive` that hands out `messages` first, then asks `receive` (one reader)."""
    return Replay(messages, receive).reader()


# --------------------------------------------------------------------------- middleware --


def _is_multipart(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            return bool(value.lower().startswith(b"multipart/"))
    return False


def _attempt_scope(scope: Scope, attempt: Attempt) -> Scope:
    copy = dict(scope)
    for key in _PER_ATTEMPT_DICTS:
        value = scope.get(key)
        if isinstance(value, dict):
            copy[key] = dict(value)
    copy[SCOPE_KEY] = attempt
    return copy


def _publish(scope: Scope, attempt_scope: Scope) -> None:
    """Let the outer layers see what routing put in the scope of the attempt that answers
    (the route for the access log, metrics and the operation log)."""
    scope.update((key, value) for key, value in attempt_scope.items() if key != SCOPE_KEY)


class TransactionRetryMiddleware:
    """Re-runs an unsafe request whose transaction the database broke (see the module
    docstring), up to `attempts` attempts in all."""

    def __init__(self, app: ASGIApp, attempts: int, max_body: int) -> None:
        self.app = app
        self.attempts = attempts
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or self.attempts <= 1
            or scope["method"] in SAFE_METHODS
            or _is_multipart(scope)
        ):
            await self.app(scope, receive, send)
            return
        body = await buffer_body(receive, self.max_body)
        if not body.complete:  # streamed past the limit, or the client left: run it once
            await self.app(scope, replay(body.messages, receive), send)
            return
        receiver = Replay(body.messages, receive)
        for number in range(1, self.attempts + 1):
            attempt = Attempt(number=number, last=number == self.attempts)
            attempt_scope = _attempt_scope(scope, attempt)
            if not await self._run(scope, attempt_scope, receiver.reader(), send):
                return
            route = route_template(attempt_scope)
            log.info(
                "transaction_retry",
                attempt=number + 1,
                of=self.attempts,
                method=scope["method"],
                route=route,
            )
            record_transaction_retry(route)
            low, high = BACKOFF_SECONDS
            # Jitter, not security: `random` is the right tool.
            await asyncio.sleep(random.uniform(low, high) * number)  # noqa: S311

    async def _run(self, scope: Scope, attempt_scope: Scope, receive: Receive, send: Send) -> bool:
        """Run one attempt; True if its answer was a marked conflict and was dropped."""
        attempt: Any = attempt_scope[SCOPE_KEY]
        dropped = False

        async def send_attempt(message: Message) -> None:
            nonlocal dropped
            if message["type"] == "http.response.start":
                if attempt.conflict and not attempt.last:
                    dropped = True
                    return
                _publish(scope, attempt_scope)
            elif dropped:
                return
            await send(message)

        try:
            await self.app(attempt_scope, receive, send_attempt)
        finally:
            if not dropped:
                _publish(scope, attempt_scope)
        return dropped


def transaction_retry(attempts: int, *, max_body: int) -> list[Middleware]:
    """The retry layer for the end of the app's middleware list (the innermost place, after
    the module middleware), or nothing when `attempts <= 1` (`DB_RETRY_ATTEMPTS`). `max_body`
    is the request body cap (`app.core.middleware.MAX_BODY_BYTES`), passed in so that this
    module, which the error handlers import, imports no middleware."""
    if attempts <= 1:
        return []
    return [Middleware(TransactionRetryMiddleware, attempts=attempts, max_body=max_body)]
