"""Concurrent writers on users, roles, menus and departments (docs/security-checklist.md
§0 #18, #19;
§5.3 F16, F17, F18, F19).

The requests run concurrently (`asyncio.gather`) against the app and its real connection
pool: on PostgreSQL and MariaDB each request has its own connection and transaction; on
SQLite the writers queue for the database lock.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from app.core.metrics import TRANSACTION_RETRIES
from app.core.retry import SCOPE_KEY, Attempt
from app.modules.system.dept.models import Dept
from app.modules.system.menu.models import Menu
from app.modules.system.operation_log.models import ChangeLog, OperationLog
from app.modules.system.operation_log.recorder import writer_for as operation_log_writer
from app.modules.system.position.models import Position
from app.modules.system.role.models import Role, role_menu
from app.modules.system.user import repository as user_repository
from app.modules.system.user.models import User, user_role
from tests.modules.system.user.helpers import GOOD_PASSWORD
from tests.support.databases import TEST_DATABASE_URL
from tests.support.identity import create_role, superuser_headers

USERS = "/api/v1/system/users"
ROLES = "/api/v1/system/roles"
POSITIONS = "/api/v1/system/positions"
MENUS = "/api/v1/system/menus"
DEPTS = "/api/v1/system/depts"
RACERS = 20


def fields(response: httpx.Response) -> list[str | None]:
    return [error.get("field") for error in response.json().get("errors", [])]


async def count(app: FastAPI, statement: Any) -> int:
    async with app.state.sessionmaker() as db:
        return int((await db.execute(statement)).scalar_one())


# ----------------------------------------------------------------- F17: unique races --


@dataclass(frozen=True)
class UniqueCase:
    url: str
    body: dict[str, Any]
    field: str
    rows: Callable[[], Any]  # a COUNT(*) statement of the rows holding the unique value


UNIQUE_CASES = {
    "user.username": UniqueCase(
        USERS,
        {"username": "racer", "name": "Racer", "password": GOOD_PASSWORD},
        "username",
        lambda: select(func.count()).select_from(User).where(User.username == "racer"),
    ),
    "dept.code": UniqueCase(
        DEPTS,
        {"name": "Racing", "code": "racing"},
        "code",
        lambda: select(func.count()).select_from(Dept).where(Dept.code == "racing"),
    ),
    "role.code": UniqueCase(
        ROLES,
        {"name": "Racing", "code": "racing"},
        "code",
        lambda: select(func.count()).select_from(Role).where(Role.code == "racing"),
    ),
}


@pytest.mark.parametrize("case", UNIQUE_CASES.values(), ids=UNIQUE_CASES.keys())
async def test_concurrent_creates_of_one_unique_value_give_one_201(
    app: FastAPI, client: httpx.AsyncClient, case: UniqueCase
) -> None:
    """docs/security-checklist.md §0 #18, §5.3 F17: 20 concurrent creates with the same unique value
    give
    exactly one 201 and nineteen 409 naming the field; zero 5xx; one row."""
    headers = await superuser_headers(app)
    responses = await asyncio.gather(
        *(client.post(case.url, json=case.body, headers=headers) for _ in range(RACERS))
    )
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201] + [409] * (RACERS - 1), statuses
    for response in responses:
        if response.status_code == 409:
            assert fields(response) == [case.field], response.json()
            assert response.json()["type"] == "duplicate"
    assert await count(app, case.rows()) == 1


CODED = {"dept": DEPTS, "role": ROLES, "position": POSITIONS}
CODED_MODELS: dict[str, Any] = {"dept": Dept, "role": Role, "position": Position}


def case_variant(text: str, n: int) -> str:
    """The n-th mix of upper and lower case of `text` (n = 0: as it is)."""
    return "".join(c.upper() if n >> i & 1 else c for i, c in enumerate(text))


@pytest.mark.parametrize("resource", CODED.keys())
async def test_concurrent_creates_of_case_variants_of_one_code_give_one_201(
    app: FastAPI, client: httpx.AsyncClient, resource: str
) -> None:
    """docs/security-checklist.md §5.3 F17, case variants: 20 concurrent creates of `racing`,
    `Racing`,
    `rAcing`, ... give one 201 and nineteen 409 naming `code`; one row. The check before the
    insert cannot settle it; the unique index on `lower(code)` (PostgreSQL, SQLite) or the
    case-insensitive collation (MariaDB) does."""
    headers = await superuser_headers(app)
    bodies = [{"name": f"Racing {n}", "code": case_variant("racing", n)} for n in range(RACERS)]
    assert len({body["code"] for body in bodies}) == RACERS
    responses = await asyncio.gather(
        *(client.post(CODED[resource], json=body, headers=headers) for body in bodies)
    )
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201] + [409] * (RACERS - 1), statuses
    for response in responses:
        if response.status_code == 409:
            assert fields(response) == ["code"], response.json()
            assert response.json()["type"] == "duplicate"
    model = CODED_MODELS[resource]
    rows = select(func.count()).select_from(model).where(func.lower(model.code) == "racing")
    assert await count(app, rows) == 1


# ---------------------------------------------------------------- F16: lost updates --


@dataclass(frozen=True)
class Resource:
    url: str
    create: dict[str, Any]
    field: str  # the field both writers change


RESOURCES = {
    "user": Resource(
        USERS, {"username": "contended", "name": "Start", "password": GOOD_PASSWORD}, "name"
    ),
    "role": Resource(ROLES, {"name": "Start", "code": "contended"}, "name"),
    "menu": Resource(MENUS, {"type": "menu", "title": "Start", "path": "/contended"}, "title"),
    "dept": Resource(DEPTS, {"name": "Start", "code": "contended"}, "name"),
}


@pytest.mark.parametrize("resource", RESOURCES.values(), ids=RESOURCES.keys())
async def test_two_writers_holding_one_version_give_one_200_and_one_409(
    app: FastAPI, client: httpx.AsyncClient, resource: Resource
) -> None:
    """docs/security-checklist.md §0 #19, §5.3 F16: two clients read version N and both PATCH with
    it: one
    200 (version N+1), one 409 naming `version`; the row holds the winner's payload."""
    headers = await superuser_headers(app)
    created = await client.post(resource.url, json=resource.create, headers=headers)
    assert created.status_code == 201, created.text
    url = f"{resource.url}/{created.json()['data']['id']}"
    read = (await client.get(url, headers=headers)).json()["data"]
    version = read["version"]
    assert version >= 1

    bodies = [{resource.field: name, "version": version} for name in ("First", "Second")]
    responses = await asyncio.gather(
        *(client.patch(url, json=body, headers=headers) for body in bodies)
    )
    assert sorted(r.status_code for r in responses) == [200, 409], [r.text for r in responses]
    winner = next(i for i, r in enumerate(responses) if r.status_code == 200)
    loser = responses[1 - winner]
    assert fields(loser) == ["version"]
    assert loser.json()["type"] == "stale_version"
    assert loser.json()["data"] is None
    won = responses[winner].json()["data"]
    assert (won[resource.field], won["version"]) == (bodies[winner][resource.field], version + 1)

    final = (await client.get(url, headers=headers)).json()["data"]
    assert (final[resource.field], final["version"]) == (won[resource.field], version + 1)

    # A client still holding the old version, after the winner committed: 409, no change.
    late = await client.patch(
        url, json={resource.field: "Late", "version": version}, headers=headers
    )
    assert late.status_code == 409
    assert fields(late) == ["version"]
    # The current version passes; sending none skips the check.
    current = await client.patch(
        url, json={resource.field: "Current", "version": version + 1}, headers=headers
    )
    assert current.status_code == 200, current.text
    assert current.json()["data"]["version"] == version + 2
    unchecked = await client.patch(url, json={resource.field: "Unchecked"}, headers=headers)
    assert unchecked.status_code == 200
    assert unchecked.json()["data"][resource.field] == "Unchecked"


@pytest.mark.parametrize("resource", RESOURCES.values(), ids=RESOURCES.keys())
async def test_a_version_that_cannot_be_one_is_422(
    app: FastAPI, client: httpx.AsyncClient, resource: Resource
) -> None:
    """A `version` that is not a positive INTEGER (or is null) is a 422 naming it."""
    headers = await superuser_headers(app)
    created = await client.post(resource.url, json=resource.create, headers=headers)
    url = f"{resource.url}/{created.json()['data']['id']}"
    for version in (0, -1, 2**31, "two", None):
        response = await client.patch(
            url, json={resource.field: "Changed", "version": version}, headers=headers
        )
        assert response.status_code == 422, version
        assert "version" in fields(response)
    final = (await client.get(url, headers=headers)).json()["data"]
    assert (final[resource.field], final["version"]) == ("Start", 1)


# ------------------------------------------------------------------- F18: deadlocks --

DEADLOCK_ROUNDS = 50


def transaction_retries() -> float:
    """Retries of conflicting transactions this process has counted, all routes together."""
    return sum(
        sample.value
        for metric in TRANSACTION_RETRIES.collect()
        for sample in metric.samples
        if sample.name.endswith("_total")
    )


async def test_role_and_menu_writers_in_opposite_lock_order_never_5xx(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """docs/security-checklist.md §5.3 F18: in each of 50 rounds, two roles get their menus replaced
    (sent
    in opposite orders; a role update locks role → links → menus) while a menu both held is
    deleted (left to ON DELETE CASCADE: menu → links, the opposite order). Each request is
    sent once: a deadlock is retried by the server (DB_RETRY_ATTEMPTS, app/core/retry.py),
    so a 409 only comes after the server spent all its attempts. No 5xx; the final links are
    exactly those of each role's last successful update, minus the deleted menus."""
    headers = await superuser_headers(app)
    async with app.state.sessionmaker() as db, db.begin():
        roles = [await create_role(db, code="left"), await create_role(db, code="right")]
        base = [Menu(type="menu", title=f"Base {i}", path=f"/base-{i}") for i in range(6)]
        db.add_all(base)
        await db.flush()
        # One fresh menu per round, created after the base ones (so with higher ids).
        fresh = [Menu(type="menu", title=f"Fresh {i}") for i in range(DEADLOCK_ROUNDS)]
        db.add_all(fresh)
        await db.flush()
        role_ids = [role.id for role in roles]
        base_ids = sorted(menu.id for menu in base)
        fresh_ids = [menu.id for menu in fresh]

    def assign(role_id: int, menu_ids: list[int]) -> Awaitable[httpx.Response]:
        return client.patch(f"{ROLES}/{role_id}", json={"menu_ids": menu_ids}, headers=headers)

    def delete(menu_id: int) -> Awaitable[httpx.Response]:
        return client.delete(f"{MENUS}/{menu_id}", headers=headers)

    expected: dict[int, set[int]] = {role_id: set() for role_id in role_ids}
    menus_left = set(base_ids) | set(fresh_ids)
    successes = dict.fromkeys(role_ids, 0)
    answers: list[httpx.Response] = []
    previous: int | None = None
    retries_before = transaction_retries()
    for round_ in range(DEADLOCK_ROUNDS):
        fresh_id = fresh_ids[round_]
        # Alternate between two sets so every round really rewrites the links.
        chosen = [*base_ids[round_ % 2 :: 2], fresh_id]
        # Every other round the left role also keeps the menu being deleted: its update
        # re-inserts that link (role → link → menu) while the delete removes the menu and
        # its links (menu → links), the textbook opposite order. One of them must lose.
        keep = [previous] if previous is not None and round_ % 2 else []
        payloads = {
            role_ids[0]: sorted(chosen + keep),
            role_ids[1]: sorted(chosen, reverse=True),
        }
        writers = [assign(role_id, payloads[role_id]) for role_id in role_ids]
        if previous is not None:  # held by both roles since the last round
            writers.append(delete(previous))
        results = await asyncio.gather(*writers)
        answers.extend(results)
        for role_id, answer in zip(role_ids, results, strict=False):
            # 422: the kept menu was gone when the update checked the ids it adds.
            allowed = (200, 409, 422, 503) if role_id == role_ids[0] else (200, 409, 503)
            assert answer.status_code in allowed, answer.text
            if answer.status_code == 200:
                successes[role_id] += 1
                expected[role_id] = set(payloads[role_id])
        if previous is not None:
            assert results[2].status_code in (204, 409, 503), results[2].text
            if results[2].status_code == 204:
                menus_left.discard(previous)
                for links in expected.values():
                    links.discard(previous)
        previous = fresh_id

    server_errors = [r for r in answers if r.status_code >= 500 and r.status_code != 503]
    assert not server_errors, [r.text for r in server_errors]
    assert all("retry-after" in r.headers for r in answers if r.status_code == 503)
    # A deadlock reaches the client only after DB_RETRY_ATTEMPTS attempts (3): every such 409
    # (the one with `Retry-After`; a link to a menu deleted meanwhile is a 409 without) stands
    # for two retries the server counted first. How many there are depends on the timing:
    # about none, against about 5 in 150 answers before the server retried.
    conflicts = [r for r in answers if r.status_code == 409 and "retry-after" in r.headers]
    assert all(r.json()["type"] == "concurrent_change" for r in conflicts)
    assert transaction_retries() - retries_before >= 2 * len(conflicts)
    # Only the rounds where the left role keeps the doomed menu are real conflicts; all other
    # updates go through (a retry budget spent round after round would be a livelock).
    assert successes[role_ids[1]] > DEADLOCK_ROUNDS * 9 // 10, successes
    assert successes[role_ids[0]] > DEADLOCK_ROUNDS * 4 // 10, successes

    async with app.state.sessionmaker() as db:
        links = (await db.execute(select(role_menu.c.role_id, role_menu.c.menu_id))).all()
        menus = set((await db.execute(select(Menu.id))).scalars())
        versions = dict((await db.execute(select(Role.id, Role.version))).all())
    stored: dict[int, set[int]] = {role_id: set() for role_id in role_ids}
    for role_id, menu_id in links:
        stored[role_id].add(menu_id)
    assert stored == expected
    assert menus == menus_left
    # Each successful update moved the role's version once, each failed one (and each
    # attempt the server ran again) not at all.
    assert versions == {role_id: 1 + successes[role_id] for role_id in role_ids}


@pytest.mark.skipif(
    not TEST_DATABASE_URL, reason="SQLite has no row locks: its writers queue, never deadlock"
)
async def test_a_deadlock_the_database_breaks_is_a_409_with_retry_after(app: FastAPI) -> None:
    """docs/security-checklist.md §5.3 F18: the transaction the database kills to break a real
    deadlock
    (PostgreSQL 40P01, MariaDB 1213) is marked for the server's retry while attempts remain,
    and answered 409 with `Retry-After` (never a 500) once they are spent, or where nothing
    retries (the retry itself: tests/core/test_retry.py)."""
    async with app.state.sessionmaker() as db, db.begin():
        first, second = (await create_role(db)).id, (await create_role(db)).id

    def lock(role_id: int) -> Any:
        return select(Role.id).where(Role.id == role_id).with_for_update()

    async def cross(connection: AsyncConnection, role_id: int) -> DBAPIError | None:
        try:
            await connection.execute(lock(role_id))
        except DBAPIError as exc:
            return exc
        finally:
            await connection.rollback()  # the victim's locks go; the other one proceeds
        return None

    async with app.state.engine.connect() as a, app.state.engine.connect() as b:
        await a.execute(lock(first))
        await b.execute(lock(second))
        outcomes = await asyncio.gather(cross(a, second), cross(b, first))
    [victim] = [outcome for outcome in outcomes if outcome is not None]

    handler = app.exception_handlers[SQLAlchemyError]
    for attempt in (Attempt(number=1, last=False), Attempt(number=3, last=True), None):
        scope: dict[str, Any] = {"type": "http", "headers": [], SCOPE_KEY: attempt}
        answer = handler(Request(scope), victim)
        response = await answer if inspect.isawaitable(answer) else answer
        assert response.status_code == 409
        assert response.headers["retry-after"] == "1"
        body = json.loads(bytes(response.body))
        assert (body["code"], body["data"]) == (409, None)
        assert "send it again" in body["message"]
        # The mark stays in the scope; nothing of it is in the answer.
        assert attempt is None or attempt.conflict
        assert b"attempt" not in bytes(response.body).lower()


# --------------------------------------------------- F19: atomic multi-table writes --


async def test_a_failure_between_the_user_and_its_roles_leaves_nothing(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/security-checklist.md §5.3 F19: a failure after the `sys_user` insert and before the
    `sys_user_role` insert leaves no user row, no link and no "success" audit entry."""
    headers = await superuser_headers(app)
    async with app.state.sessionmaker() as db, db.begin():
        role = await create_role(db, code="granted")
    inserted: list[int] = []

    async def fail_before_links(db: Any, user_id: int, role_ids: Any, position_ids: Any) -> None:
        # The user row is flushed (it has an id) inside the request's transaction.
        assert (await db.execute(select(User.id).where(User.id == user_id))).scalar() == user_id
        inserted.append(user_id)
        raise RuntimeError("injected failure before the user-role insert")

    monkeypatch.setattr(user_repository, "add_links", fail_before_links)
    body = {"username": "halfway", "name": "Half", "password": GOOD_PASSWORD, "role_ids": [role.id]}
    response = await client.post(USERS, json=body, headers=headers)
    assert response.status_code == 500
    assert "injected" not in response.text
    assert len(inserted) == 1

    writer = operation_log_writer(app)
    if writer is not None:
        await writer.flush()
    assert (
        await count(app, select(func.count()).select_from(User).where(User.username == "halfway"))
        == 0
    )
    assert (
        await count(app, select(func.count()).select_from(User).where(User.id == inserted[0])) == 0
    )
    assert await count(app, select(func.count()).select_from(user_role)) == 0
    assert (
        await count(
            app,
            select(func.count())
            .select_from(ChangeLog)
            .where(ChangeLog.entity == "user", ChangeLog.action == "create"),
        )
        == 0
    )
    assert (
        await count(
            app,
            select(func.count())
            .select_from(OperationLog)
            .where(OperationLog.path == USERS, OperationLog.method == "POST", OperationLog.success),
        )
        == 0
    )
