"""Which tests reach the servers under test (TEST_DATABASE_URL, TEST_REDIS_URL).

CI runs the suite three times: on SQLite with the in-process cache (everything), then on
PostgreSQL and on MariaDB, both with Redis. About 300 tests reach neither the database nor the
cache of the run, so their outcome cannot change between the three; the PostgreSQL and MariaDB
runs set `TEST_SCOPE=servers` and leave them out (they ran in the SQLite run). A developer's
`python -m pytest` (TEST_SCOPE unset) runs everything.

The rule errs towards running a test: it reaches the servers when

- its fixtures include `database_url` (the session database; `settings`, `app`, `client`,
  `engine`, `probe_app`... all depend on it), or
- its module, or the module of any fixture it uses (tests/conftest.py aside: its fixtures are
  judged by name, above), names what reads TEST_DATABASE_URL / TEST_REDIS_URL
  (`SERVER_NAMES`), directly or through another `tests` module it imports from.
"""

from __future__ import annotations

import sys
from functools import cache
from types import ModuleType

import pytest

# What a module uses to reach the servers under test: the URLs themselves and the helpers that
# build settings or databases from them.
SERVER_NAMES = frozenset(
    {
        "TEST_DATABASE_URL",
        "TEST_REDIS_URL",
        "REDIS_URL",
        "make_settings",
        "temporary_database",
        "create_database",
        "server_url",
        "settings_env",
    }
)
SESSION_DATABASE_FIXTURE = "database_url"
ROOT_CONFTEST = "tests.conftest"


def _tests_module_of(value: object) -> ModuleType | None:
    name = value.__name__ if isinstance(value, ModuleType) else getattr(value, "__module__", None)
    if not isinstance(name, str) or not name.startswith("tests") or name == ROOT_CONFTEST:
        return None
    return sys.modules.get(name)


@cache
def module_reaches_servers(name: str) -> bool:
    """Whether module `name`, or a `tests` module it takes anything from (transitively),
    names one of `SERVER_NAMES`."""
    seen, pending = {name}, [name]
    while pending:
        module = sys.modules.get(pending.pop())
        if module is None:
            return True  # cannot tell: run it
        namespace = vars(module)
        if SERVER_NAMES & namespace.keys():
            return True
        for value in list(namespace.values()):
            other = _tests_module_of(value)
            if other is not None and other.__name__ not in seen:
                seen.add(other.__name__)
                pending.append(other.__name__)
    return False


def reaches_servers(item: pytest.Item) -> bool:
    """Whether the test may use the database or the cache under test (see the module doc)."""
    if SESSION_DATABASE_FIXTURE in getattr(item, "fixturenames", ()):
        return True
    module = getattr(item, "module", None)
    if module is None or module_reaches_servers(module.__name__):
        return True
    info = getattr(item, "_fixtureinfo", None)
    for definitions in info.name2fixturedefs.values() if info else ():
        for definition in definitions:
            owner = getattr(definition.func, "__module__", "")
            ours = owner.startswith("tests") and owner != ROOT_CONFTEST
            if ours and module_reaches_servers(owner):
                return True
    return False
