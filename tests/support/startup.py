"""Shared fixtures that start something (a server, a process, a database): a failed start
fails only the tests that need it, and fails them at once.

Under load one start that timed out used to be tried again by every module that needed the
same thing, each waiting its full limit again (a 120 s timeout cascaded into 13 errors and
25 minutes). `@shared_fixture("what", scope=...)`, in place of `@pytest.fixture`,
remembers for the rest of the run that "what" failed to start and why: a later request for
it fails at once, naming the first failure's reason and test, instead of waiting again.
Tests that do not need it run as usual. A test's own (function-scoped) fixture is refused:
one test's failing setup must affect no other test, so it is never remembered.

Only the start is watched (up to a generator fixture's `yield`): a failing teardown is the
teardown's error, not a reason to refuse the next start. A skip (a server not installed)
is not a failure and is not remembered.

    @shared_fixture("a private PostgreSQL cluster", scope="module", name="private_postgres")
    def private_postgres_fixture() -> Iterator[PrivatePostgres]: ...
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import Any, Literal, TypeVar

import pytest

F = TypeVar("F", bound=Callable[..., Any])

# what -> "reason (in test id)": the first failed start of each thing, for this run.
_FAILED: dict[str, str] = {}


def failed_starts() -> dict[str, str]:
    """What failed to start so far in this run, and why (a copy)."""
    return dict(_FAILED)


def _reason(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


@contextmanager
def starting(what: str) -> Iterator[None]:
    """Around the start of `what`: fail at once if it failed before in this run; remember
    the reason if it fails now."""
    first = _FAILED.get(what)
    if first is not None:
        pytest.fail(f"{what} failed to start earlier in this run: {first}", pytrace=False)
    try:
        yield
    except pytest.skip.Exception:
        raise
    except (Exception, pytest.fail.Exception) as exc:
        test = os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" ", 1)[0]
        _FAILED[what] = _reason(exc) + (f" (in {test})" if test else "")
        raise


def shared_fixture(
    what: str, *, scope: Literal["session", "package", "module", "class"], name: str | None = None
) -> Callable[[F], F]:
    """`pytest.fixture(scope=scope, name=name)` for a shared fixture that starts `what`
    (see the module docstring)."""
    if scope not in ("session", "package", "module", "class"):
        raise ValueError(f"{what}: shared_fixture is for shared fixtures, not scope={scope!r}")

    def decorate(fixture: F) -> F:
        wrapper: Any
        if inspect.isasyncgenfunction(fixture):

            async def async_gen(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
                steps = fixture(*args, **kwargs)
                with starting(what):
                    value = await steps.__anext__()
                yield value
                async for _ in steps:
                    raise RuntimeError(f"the fixture starting {what} yields more than once")

            wrapper = async_gen
        elif inspect.iscoroutinefunction(fixture):

            async def coroutine(*args: Any, **kwargs: Any) -> Any:
                with starting(what):
                    return await fixture(*args, **kwargs)

            wrapper = coroutine
        elif inspect.isgeneratorfunction(fixture):

            def gen(*args: Any, **kwargs: Any) -> Iterator[Any]:
                steps = fixture(*args, **kwargs)
                with starting(what):
                    value = next(steps)
                yield value
                yield from steps

            wrapper = gen
        else:

            def plain(*args: Any, **kwargs: Any) -> Any:
                with starting(what):
                    return fixture(*args, **kwargs)

            wrapper = plain
        functools.update_wrapper(wrapper, fixture)
        # pytest would follow `__wrapped__` back to the undecorated fixture: keep only its
        # signature (the fixtures it requests).
        del wrapper.__wrapped__
        wrapper.__signature__ = inspect.signature(fixture)
        return pytest.fixture(scope=scope, name=name)(wrapper)  # type: ignore[return-value]

    return decorate
