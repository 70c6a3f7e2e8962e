"""Property-based fuzzing of every API operation with Schemathesis (SECURITY.md §4.2, §2).

The OpenAPI document of the in-process app (`/api/v1/openapi.json`) drives the generation of
valid and invalid requests for every operation, sent as two identities:

- a superuser, who reaches every handler (finds 5xx, undocumented status codes, responses that
  do not match their schema);
- a user whose only role grants a few read permissions (the same, plus API5: everything else
  answers a documented 401/403, never a 5xx).

Checks on every response: no 5xx, the status code is documented for the operation, the
content type and the body match the documented response, and (`ignored_auth`) the same request
without or with a broken token is refused (ASVS 8.2.1, API2). On top, every JSON body must be
the envelope and carry no secret key (§0 #5, API3), as `check_envelope` does for the whole
suite.

The run is bounded and reproducible: a fixed seed, derandomized generation and a fixed number
of examples per operation (fewer when TEST_DATABASE_URL points at a server, where each request
costs more). The number of generated cases is printed in the terminal summary and asserted.

Schemathesis sends the requests through its own ASGI client, which runs the app (and its
lifespan) on an event loop thread of its own; the app here is therefore a separate instance on
a database of its own, not the session `app` fixture, whose engine lives on pytest's loop.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import hypothesis
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import strategies as st
from schemathesis import BaseSchema
from schemathesis.config import SchemathesisConfig
from schemathesis.core.result import Err
from schemathesis.generation import GenerationMode
from schemathesis.python import asgi as schemathesis_asgi
from schemathesis.specs.openapi import checks as openapi_checks

from app.core import migrations
from app.main import create_app
from tests.api.fuzz_stats import CASES, OPERATIONS
from tests.conftest import FORBIDDEN_KEYS, PASSWORD_PATH_SUFFIX, TOKEN_PATHS, make_settings
from tests.support.databases import TEST_DATABASE_URL, temporary_database
from tests.support.identity import auth_headers, create_role, create_user

T = TypeVar("T")

OPENAPI_PATH = "/api/v1/openapi.json"
SEED = 20260101
# Generated cases per operation and identity (valid and invalid requests mixed). SQLite runs the
# larger set; on PostgreSQL / MariaDB a smaller run still reaches every operation. FUZZ_MAX_EXAMPLES
# overrides it for a longer run by hand.
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", 5 if TEST_DATABASE_URL else 12))
# Each identity must have sent at least this many cases, or the run proved little.
MIN_CASES = 110 * (MAX_EXAMPLES // 2)

LIMITED_PERMISSIONS = (
    "system:user:list",
    "system:dept:list",
    "system:role:list",
    "monitor:session:list",
    "files:file:list",
)

# Operations that cannot run in-process as a fuzzing target, with the reason.
EXCLUDED_PATHS: dict[str, str] = {
    # Prometheus scrape endpoint, outside the API and its envelope; access is by network
    # policy, not tokens, and it has tests of its own (tests/core/test_metrics.py).
    "/metrics": "not an API operation",
}


def _config() -> SchemathesisConfig:
    # Generation is driven below by Hypothesis settings of our own (fixed examples per operation,
    # derandomized, no example database); the seed keeps Schemathesis' own choices stable too.
    return SchemathesisConfig.from_dict({"seed": SEED})


def _run(fn: Callable[..., Coroutine[Any, Any, T]], *args: Any) -> T:
    """Run `fn(*args)` on the event loop that serves the app under Schemathesis."""
    # A private helper of the pinned Schemathesis version: its ASGI client runs every app on
    # one portal thread, and the app's engine and cache are bound to that loop.
    result: T = schemathesis_asgi._get_portal().call(fn, *args)
    return result


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    with temporary_database(tmp_path_factory.mktemp("fuzz-db"), "fuzz") as url:
        migrations.upgrade(url)
        application = create_app(make_settings(url))
        yield application
        schemathesis_asgi.shutdown_lifespans()


@pytest.fixture(scope="module")
def fuzz_schema(fuzz_app: FastAPI) -> BaseSchema:
    schema: BaseSchema = schemathesis.openapi.from_asgi(OPENAPI_PATH, fuzz_app, config=_config())
    for path in EXCLUDED_PATHS:
        schema = schema.exclude(path=path)
    return schema


async def _superuser(app: FastAPI) -> dict[str, str]:
    async with app.state.sessionmaker() as db, db.begin():
        user = await create_user(db, is_superuser=True)
    return await auth_headers(app, user)


async def _limited(app: FastAPI) -> dict[str, str]:
    async with app.state.sessionmaker() as db, db.begin():
        role = await create_role(db, permissions=LIMITED_PERMISSIONS, data_scope="self")
        user = await create_user(db, roles=[role])
    return await auth_headers(app, user)


def _forbidden_keys(value: object, path: str = "") -> list[str]:
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}"
            if key in FORBIDDEN_KEYS or key == "password":
                found.append(here)
            found.extend(_forbidden_keys(item, here))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(_forbidden_keys(item, f"{path}[{index}]"))
    return found


def envelope_and_no_secrets(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every JSON body is the envelope (`code` repeats the status) and carries no secret key."""
    assert response.headers.get("x-request-id"), "every response carries X-Request-ID"
    content_type = (response.headers.get("content-type") or [""])[0]
    if not content_type.startswith("application/json"):
        return None
    body = json.loads(response.content)
    path = case.operation.path
    if path in TOKEN_PATHS and response.status_code == 200:
        assert not _forbidden_keys({k: v for k, v in body.items() if k != "refresh_token"})
        return None
    assert isinstance(body, dict), body
    assert body.get("code") == response.status_code, (response.status_code, body)
    assert {"message", "data"} <= set(body), body
    leaks = _forbidden_keys(body)
    if path.endswith(PASSWORD_PATH_SUFFIX):
        leaks = [leak for leak in leaks if leak != ".data.password"]
    assert not leaks, f"secret keys in the response: {leaks}"
    return None


CHECKS = [
    schemathesis.checks.not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_schema_conformance,
    openapi_checks.ignored_auth,
    envelope_and_no_secrets,
]


def _fuzz(
    schema: BaseSchema, identity: str, make_headers: Callable[[], dict[str, str]]
) -> list[str]:
    """Send generated cases to every operation; return one line per failing operation."""
    failures: list[str] = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):  # the schema of this operation cannot be used
            failures.append(f"invalid schema: {result.err()}")
            continue
        operation = result.ok()
        strategy = st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE),
            operation.as_strategy(GenerationMode.NEGATIVE),
        )

        @hypothesis.settings(
            max_examples=MAX_EXAMPLES,
            derandomize=True,
            database=None,
            deadline=None,
            # No shrinking: the first failing case is reported as generated, which keeps a
            # failing run as fast as a passing one.
            phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
            suppress_health_check=list(hypothesis.HealthCheck),
            print_blob=False,
        )
        @hypothesis.given(case=strategy)
        def run(case: Any) -> None:
            CASES[identity] += 1
            OPERATIONS[identity].add(case.operation.label)
            case.call_and_validate(headers=make_headers(), checks=CHECKS)

        try:
            run()
        except (Exception, BaseExceptionGroup) as exc:  # report every failing operation
            failures.append(f"{operation.label}: {exc}")
    return failures


def test_fuzz_as_superuser(fuzz_app: FastAPI, fuzz_schema: BaseSchema) -> None:
    """§4.2: every operation, as a superuser: no 5xx, documented codes and bodies."""
    # A fresh user and session per case: a case may sign out, change the password of, disable
    # or delete the identity it runs as.
    failures = _fuzz(fuzz_schema, "superuser", lambda: _run(_superuser, fuzz_app))
    assert not failures, "\n\n".join(failures)
    assert CASES["superuser"] >= MIN_CASES, CASES
    assert len(OPERATIONS["superuser"]) >= 100, OPERATIONS


def test_fuzz_as_limited_user(fuzz_app: FastAPI, fuzz_schema: BaseSchema) -> None:
    """§4.2, API5: every operation, as a user holding a few read permissions."""
    failures = _fuzz(fuzz_schema, "limited user", lambda: _run(_limited, fuzz_app))
    assert not failures, "\n\n".join(failures)
    assert CASES["limited user"] >= MIN_CASES, CASES
    assert len(OPERATIONS["limited user"]) >= 100, OPERATIONS
