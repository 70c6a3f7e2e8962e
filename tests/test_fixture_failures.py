"""A shared fixture that fails to start fails only the tests that need it, at once and naming
the first failure's reason (tests/support/startup.py). Issue 14 item 12: one 120 s startup
timeout used to be waited again by every module that needed the same server.

Each case runs a small suite of its own in a subprocess (`pytester`), so what it remembers
stays out of this run. The start counts come from a file the fixtures append to: the proof
that the failed start was not tried (and waited for) again. No timing is asserted.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core.config import BASE_DIR

pytest_plugins = ("pytester",)

INI = """
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = session
asyncio_default_test_loop_scope = session
"""

CONFTEST = """
import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.startup import shared_fixture

LOG = Path(__file__).parent / "starts.log"


def started(name):
    with LOG.open("a") as log:
        log.write(name + "\\n")


@shared_fixture("the test server", scope="module")
def server():
    started("server")
    raise TimeoutError("the test server did not answer within 5 s\\nmore detail")
    yield "never"


@shared_fixture("the async worker", scope="module")
async def worker():
    started("worker")
    await asyncio.sleep(0)
    raise RuntimeError("the worker exited with status 3")
    yield "never"


@shared_fixture("the database", scope="module")
def database():
    started("database")
    return "sqlite://"


@shared_fixture("the cache", scope="module")
def cache():
    started("cache")
    yield "cache"
    raise RuntimeError("teardown failed")


@pytest.fixture
def own_process(request):
    started("own")
    if request.node.name == "test_own_fails":
        raise RuntimeError("this test's process did not start")
    return "process"
"""

FIRST = """
def test_server_a(server): pass
def test_server_b(server): pass
def test_worker(worker): pass
def test_unrelated(): pass
def test_database(database): assert database == "sqlite://"
def test_cache(cache): pass
def test_own_fails(own_process): pass
def test_own_passes(own_process): pass
"""

SECOND = """
def test_server_c(server): pass
async def test_worker_again(worker): pass
def test_database_again(database): pass
def test_cache_again(cache): pass
def test_still_fine(): pass
"""


def test_a_failed_shared_start_fails_its_dependants_at_once_naming_the_reason(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The inner run imports `tests.support.startup` from this checkout, whatever the caller's
    # PYTHONPATH (CI sets none; the inner run's rootdir is a scratch folder).
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(BASE_DIR), os.environ.get("PYTHONPATH")]))
    )
    pytester.makeini(INI)
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_one=FIRST, test_two=SECOND)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-rA", f"--rootdir={pytester.path}", "-W", "default"
    )
    outcomes = result.parseoutcomes()
    starts = (pytester.path / "starts.log").read_text().split()
    # The failed starts ran once for the whole run, though two modules need each of them;
    # what started fine starts again in the second module as before.
    assert starts.count("server") == 1, starts
    assert starts.count("worker") == 1, starts
    assert starts.count("database") == 2 and starts.count("cache") == 2, starts
    # A test's own fixture failing affects no other test: the next one starts its own.
    assert starts.count("own") == 2, starts
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_server_c*",
            "*the test server failed to start earlier in this run: TimeoutError: the test"
            " server did not answer within 5 s (in test_one.py::test_server_a)",
            "*ERROR at setup of test_worker_again*",
            "*the async worker failed to start earlier in this run: RuntimeError: the worker"
            " exited with status 3 (in test_one.py::test_worker)",
        ]
    )
    passed = {line.split()[1] for line in result.outlines if line.startswith("PASSED test_")}
    assert passed == {
        "test_one.py::test_unrelated",
        "test_one.py::test_database",
        "test_one.py::test_cache",
        "test_one.py::test_own_passes",
        "test_two.py::test_database_again",
        "test_two.py::test_cache_again",
        "test_two.py::test_still_fine",
    }, result.outlines
    # server x3, worker x2 and the one test whose own setup failed; the two cache teardowns.
    assert outcomes.get("errors") == 8, outcomes


SHARED_SCOPES = ("session", "package", "module")


# What a fixture calls or hands to a thread when it starts something: a process, a server, an
# app's lifespan, a database, a copy of the repository.
STARTERS = {
    "LifespanManager", "start", "_start", "_serve", "instance", "temporary_database", "upgrade",
    "prepare_database", "create_database", "start_private_postgres", "start_private_mariadb",
    "Popen", "run", "sync_playwright", "copy_repository", "ThreadedMotoServer",
    "wrap_async_context_manager", "running_pair", "AppProcess",
}  # fmt: skip


def _names(node: ast.AST) -> Iterator[str]:
    """The names a function body uses, leaving out the functions defined inside it (they
    run later, if at all)."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        if isinstance(child, ast.Name):
            yield child.id
        elif isinstance(child, ast.Attribute):
            yield child.attr
        yield from _names(child)


def _starts_something(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """A shared fixture whose body starts something, as opposed to one returning a value."""
    return any(name in STARTERS for name in _names(node))


def _shared_fixtures(path: Path) -> list[tuple[str, bool]]:
    """(name, declared with `shared_fixture`) of the shared fixtures in `path` that start
    something."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        decorators = [ast.unparse(d) for d in node.decorator_list]
        shared = any(
            "fixture" in d and any(f"scope={s!r}" in d for s in SHARED_SCOPES) for d in decorators
        )
        if shared and _starts_something(node):
            found.append((node.name, any(d.startswith("shared_fixture(") for d in decorators)))
    return found


def test_every_shared_fixture_that_starts_something_uses_the_helper() -> None:
    files = [*(BASE_DIR / "tests").rglob("conftest.py"), *(BASE_DIR / "tests/support").glob("*.py")]
    files += (BASE_DIR / "tests").rglob("test_*.py")
    found = {f"{path.relative_to(BASE_DIR)}::{name}": ok for path in files
             for name, ok in _shared_fixtures(path)}  # fmt: skip
    assert len(found) >= 8, found  # the scan sees them: the app, the servers, the browser...
    assert [name for name, ok in found.items() if not ok] == []


def test_a_test_s_own_fixture_cannot_be_remembered() -> None:
    """One test's failing setup must affect no other test."""
    from tests.support.startup import shared_fixture

    with pytest.raises(ValueError, match="not scope='function'"):
        shared_fixture("a process", scope="function")  # type: ignore[arg-type]
