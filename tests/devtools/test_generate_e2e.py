"""The generator end to end, as a developer uses it, in a temporary copy of the repository:
`generate`, `upgrade`, `init`, `run`, then the new routes over real HTTP, then the generated
files through ruff, mypy and their own tests.

Only in the default SQLite run (skipped when TEST_DATABASE_URL is set): it is a slow test (a
server, mypy, a pytest run) and what it adds does not depend on the database. The generated
code still runs on all three databases in every CI run: the Example module is the generator's
output (tests/devtools/test_generator.py proves it byte for byte) and its tests are part of the
normal suite.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.databases import TEST_DATABASE_URL
from tests.support.processes import AppProcess
from tests.support.repo_copy import copy_repository
from tests.support.startup import shared_fixture

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        bool(TEST_DATABASE_URL),
        reason="runs once per CI run, in the SQLite run; the generated code's behaviour on "
        "PostgreSQL and MariaDB is covered by the Example module's tests",
    ),
]

ADMIN_PASSWORD = "Qv7-lantern-Orbit-3x9!"
USER_PASSWORD = "Kp4-meadow-Quartz-8z2!"
FIELDS = [
    "title:str:120",
    "notes:text?",
    "stock:int=0",
    "weight:float?",
    "price:decimal:10,2",
    "published:bool=false",
    "due:date?",
    "starts_at:datetime?",
]
GADGETS = "/api/v1/gadgets"
GENERATED = ["app/modules/gadget", "tests/modules/gadget"]


def clean_env(data_dir: Path) -> dict[str, str]:
    """The environment of a developer's shell: no test or deployment settings leak in."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TEST_", "PYTEST_"))
        and key
        not in (
            "DATABASE_URL",
            "REDIS_URL",
            "SECRET_KEY",
            "WORKERS",
            "APP_ENV",
            "MODULES",
            "MODULES_DISABLED",
            "PROMETHEUS_MULTIPROC_DIR",
        )
    }
    env.update(DATA_DIR=str(data_dir), INIT_ADMIN_PASSWORD=ADMIN_PASSWORD, LOG_LEVEL="WARNING")
    return env


def run(
    root: Path, args: Sequence[str], env: Mapping[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        list(args), cwd=root, env=dict(env), capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, (
        f"{' '.join(args)} exited {result.returncode}\n{result.stdout[-3000:]}\n"
        f"{result.stderr[-3000:]}"
    )
    return result


@shared_fixture("a repository copy with a generated module", scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the repository with the gadget module generated into it."""
    root = copy_repository(tmp_path_factory.mktemp("e2e") / "repo")
    env = clean_env(root / "data")
    args = [sys.executable, "main.py", "generate", "gadget", "--label", "Gadget"]
    for field in FIELDS:
        args += ["--field", field]
    result = run(root, [*args, "--unique", "title"], env, timeout=120)
    assert "create     app/modules/gadget/router.py" in result.stdout
    assert (root / "app" / "modules" / "gadget" / "__init__.py").is_file()
    return root


@shared_fixture("the generated module's server", scope="module")
def server(project: Path) -> Iterator[str]:
    """`upgrade`, `init`, then `run` on a free port of a fresh SQLite data folder."""
    env = clean_env(project / "data")
    run(project, [sys.executable, "main.py", "upgrade"], env, timeout=120)
    initialised = run(project, [sys.executable, "main.py", "init"], env, timeout=120)
    assert "initial data loaded" in initialised.stdout
    app = AppProcess(project / "server", env, cwd=project).start()
    try:
        app.wait_ready()
        yield app.base
    finally:
        app.stop()


def login(http: httpx.Client, username: str, password: str) -> dict[str, str]:
    response = http.post(
        "/api/v1/auth/login", data={"username": username, "password": password}, timeout=30
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def data(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()["data"]


def test_the_generated_module_serves_its_routes(server: str) -> None:
    with httpx.Client(base_url=server, timeout=30) as http:
        admin = login(http, "admin", ADMIN_PASSWORD)
        body = {
            "title": "Lamp",
            "notes": "Bright",
            "stock": 3,
            "weight": 1.5,
            "price": "19.90",
            "published": True,
            "due": "2030-05-01",
            "starts_at": "2030-05-01T08:00:00Z",
        }
        created = data(http.post(GADGETS, json=body, headers=admin), 201)
        assert {key: created[key] for key in body} == body
        assert created["version"] == 1
        item = f"{GADGETS}/{created['id']}"

        listed = data(http.get(GADGETS, params={"title": "lam"}, headers=admin))
        assert listed["total"] == 1
        assert [row["id"] for row in listed["items"]] == [created["id"]]
        assert data(http.get(item, headers=admin)) == created

        patched = data(http.patch(item, json={"stock": 4, "version": 1}, headers=admin))
        assert (patched["stock"], patched["version"], patched["title"]) == (4, 2, "Lamp")
        stale = http.patch(item, json={"stock": 5, "version": 1}, headers=admin)
        assert stale.status_code == 409
        whole = body | {"title": "Desk lamp", "stock": 7, "version": 2}
        replaced = data(http.put(item, json=whole, headers=admin))
        assert {key: replaced[key] for key in body} == {k: whole[k] for k in body}
        assert replaced["version"] == 3
        assert http.put(item, json=whole, headers=admin).status_code == 409  # version 2 is stale
        body["title"] = "Desk lamp"  # the duplicate below
        duplicate = http.post(GADGETS, json=body, headers=admin)
        assert duplicate.status_code == 409
        assert duplicate.json()["errors"][0]["field"] == "title"
        invalid = http.post(GADGETS, json=body | {"price": "1.234"}, headers=admin)
        assert invalid.status_code == 422
        assert invalid.json()["errors"][0]["field"] == "price"

        # A signed-in user without the module's permissions is refused.
        user = {
            "username": "plain",
            "name": "Plain User",
            "password": USER_PASSWORD,
            "must_change_password": False,
        }
        data(http.post("/api/v1/system/users", json=user, headers=admin), 201)
        plain = login(http, "plain", USER_PASSWORD)
        refused = http.get(GADGETS, headers=plain)
        assert refused.status_code == 403
        assert refused.json()["message"] == "Permission denied: gadget:gadget:list"
        assert http.get(GADGETS).status_code == 401

        deleted = http.delete(item, headers=admin)
        assert deleted.status_code == 204
        gone = http.get(item, headers=admin)
        assert gone.status_code == 404
        assert gone.json()["message"] == "Gadget not found"

        paths = http.get("/api/v1/openapi.json").json()["paths"]
        assert set(paths[GADGETS]) == {"get", "post"}
        assert set(paths[f"{GADGETS}/{{gadget_id}}"]) == {"get", "patch", "put", "delete"}

        # `init` installed the page, under the Business directory, with one button per code.
        tree = data(http.get("/api/v1/system/menus/tree", headers=admin))
        business = next(node for node in tree if node["name"] == "Business")
        page = next(node for node in business["children"] if node["name"] == "BusinessGadget")
        assert (page["title"], page["permission"]) == ("Gadgets", "gadget:gadget:list")
        assert {button["permission"] for button in page["children"]} == {
            f"gadget:gadget:{action}" for action in ("read", "create", "update", "delete")
        }


def test_the_generated_files_pass_ruff_mypy_and_their_own_tests(
    project: Path, tmp_path: Path
) -> None:
    env = clean_env(tmp_path / "data")
    bin_dir = Path(sys.executable).parent
    migrations = list((project / "migrations" / "versions").glob("*_gadget.py"))
    assert len(migrations) == 1
    files = [*GENERATED, migrations[0].relative_to(project).as_posix()]
    ruff = str(bin_dir / "ruff")
    run(project, [ruff, "check", "--no-cache", *files], env, timeout=60)
    run(project, [ruff, "format", "--check", "--no-cache", *files], env, timeout=60)
    run(
        project,
        [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "mypy"), *GENERATED],
        env,
        timeout=300,
    )
    env["PYTEST_DATA_DIR"] = str(tmp_path / "pytest-data")
    tests = run(
        project,
        [sys.executable, "-m", "pytest", "tests/modules/gadget", "-q", "-p", "no:cacheprovider"],
        env,
        timeout=300,
    )
    assert " passed" in tests.stdout
    assert "failed" not in tests.stdout
