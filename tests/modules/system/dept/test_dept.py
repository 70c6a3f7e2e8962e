"""Departments (`/api/v1/system/depts`): CRUD, the tree, moves, delete guards, data scope."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from app.modules.system.dept import repository as dept_repository
from app.modules.system.dept import service as dept_service
from app.modules.system.dept.models import Dept
from app.modules.system.permissions import (
    DEPT_CREATE,
    DEPT_DELETE,
    DEPT_LIST,
    DEPT_READ,
    DEPT_UPDATE,
)
from app.modules.system.user.models import User
from tests.support.identity import (
    create_dept,
    create_user,
    holder_headers,
    superuser_headers,
)

URL = "/api/v1/system/depts"
ALL_DEPT = [DEPT_LIST, DEPT_READ, DEPT_CREATE, DEPT_UPDATE, DEPT_DELETE]
READ_FIELDS = {
    "id",
    "parent_id",
    "name",
    "code",
    "leader",
    "phone",
    "email",
    "sort",
    "status",
    "version",
    "created_at",
    "updated_at",
}


async def scoped_headers(
    app: FastAPI, dept_id: int | None, permissions: list[str], data_scope: str
) -> dict[str, str]:
    return await holder_headers(app, permissions, data_scope=data_scope, dept_id=dept_id)


async def paths(app: FastAPI) -> dict[int, str]:
    async with app.state.sessionmaker() as db:
        rows = await db.execute(select(Dept.id, Dept.path))
        return dict(rows.all())


async def post(client: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    response = await client.post(URL, json=body, headers=headers)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def names(nodes: list[dict[str, Any]]) -> list[Any]:
    """A tree as nested `[name, [children...]]` lists, in answer order."""
    return [[node["name"], names(node["children"])] for node in nodes]


async def test_crud_happy_path(app: FastAPI, client: httpx.AsyncClient) -> None:
    headers = await superuser_headers(app)
    body = {
        "name": "  Head office ",
        "code": "hq",
        "leader": "Ada",
        "phone": "+44 20 7946 0000",
        "email": "hq@example.com",
        "sort": 3,
    }
    root = await post(client, headers, **body)
    assert set(root) == READ_FIELDS
    assert root["name"] == "Head office"  # stripped
    assert root["parent_id"] is None
    assert (root["code"], root["leader"], root["sort"], root["status"]) == (
        "hq",
        "Ada",
        3,
        "active",
    )
    assert root["version"] == 1
    child = await post(client, headers, name="R&D", code="rd", parent_id=root["id"])
    assert child["parent_id"] == root["id"]
    assert await paths(app) == {
        root["id"]: f"/{root['id']}/",
        child["id"]: f"/{root['id']}/{child['id']}/",
    }

    got = await client.get(f"{URL}/{child['id']}", headers=headers)
    assert got.status_code == 200
    assert got.json()["data"] == child

    patched = await client.patch(
        f"{URL}/{child['id']}", json={"name": "Research", "leader": ""}, headers=headers
    )
    assert patched.status_code == 200, patched.text
    data = patched.json()["data"]
    assert (data["name"], data["leader"], data["code"]) == ("Research", None, "rd")
    assert data["version"] == 2

    deleted = await client.delete(f"{URL}/{child['id']}", headers=headers)
    assert deleted.status_code == 204
    assert deleted.content == b""
    missing = await client.get(f"{URL}/{child['id']}", headers=headers)
    assert missing.status_code == 404
    assert missing.json()["message"] == "Department not found"


async def test_missing_department_is_404(app: FastAPI, client: httpx.AsyncClient) -> None:
    headers = await superuser_headers(app)
    assert (await client.get(f"{URL}/999", headers=headers)).status_code == 404
    assert (
        await client.patch(f"{URL}/999", json={"name": "x"}, headers=headers)
    ).status_code == 404
    assert (await client.delete(f"{URL}/999", headers=headers)).status_code == 404


async def test_tree_nests_three_levels_in_sort_order(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    headers = await superuser_headers(app)
    b = await post(client, headers, name="B", code="b", sort=2)
    a = await post(client, headers, name="A", code="a", sort=1)
    a2 = await post(client, headers, name="A2", code="a2", sort=5, parent_id=a["id"])
    a1 = await post(client, headers, name="A1", code="a1", sort=4, parent_id=a["id"])
    await post(client, headers, name="A1-y", code="a1-y", sort=1, parent_id=a1["id"])
    await post(client, headers, name="A1-x", code="a1-x", sort=1, parent_id=a1["id"])
    await post(client, headers, name="B1", code="b1", parent_id=b["id"])
    await post(client, headers, name="A2-x", code="a2-x", parent_id=a2["id"])

    response = await client.get(f"{URL}/tree", headers=headers)
    assert response.status_code == 200
    tree = response.json()["data"]
    # Sorted by `sort`, then id: A1-y was created before A1-x with the same sort.
    assert names(tree) == [
        ["A", [["A1", [["A1-y", []], ["A1-x", []]]], ["A2", [["A2-x", []]]]]],
        ["B", [["B1", []]]],
    ]
    assert set(tree[0]) == READ_FIELDS | {"children"}
    assert tree[0]["children"][0]["parent_id"] == a["id"]

    disabled = await client.patch(f"{URL}/{b['id']}", json={"status": "disabled"}, headers=headers)
    assert disabled.status_code == 200
    active = (await client.get(f"{URL}/tree?status=active", headers=headers)).json()["data"]
    # B is filtered out, so its child is shown at the top level (sort 0 comes before A's 1).
    assert names(active) == [
        ["B1", []],
        ["A", [["A1", [["A1-y", []], ["A1-x", []]]], ["A2", [["A2-x", []]]]]],
    ]


async def test_list_filters_sorting_and_paging(app: FastAPI, client: httpx.AsyncClient) -> None:
    """§0 #12: only whitelisted sort fields reach SQL."""
    headers = await superuser_headers(app)
    root = await post(client, headers, name="Sales EMEA", code="sales-emea", sort=2)
    await post(client, headers, name="Sales APAC", code="sales-apac", sort=1, status="disabled")
    other = await post(client, headers, name="Finance", code="fin", parent_id=root["id"])

    async def listed(query: str) -> list[str]:
        response = await client.get(f"{URL}?{query}", headers=headers)
        assert response.status_code == 200, response.text
        return [item["name"] for item in response.json()["data"]["items"]]

    assert await listed("") == ["Finance", "Sales APAC", "Sales EMEA"]  # sort 0, 1, 2
    assert await listed("name=sales") == ["Sales APAC", "Sales EMEA"]  # contains, any case
    assert await listed("name=100%25") == []  # LIKE wildcards are literal
    assert await listed("code=FIN") == ["Finance"]
    assert await listed("status=disabled") == ["Sales APAC"]
    assert await listed(f"parent_id={root['id']}") == ["Finance"]
    assert await listed("sort=-name") == ["Sales EMEA", "Sales APAC", "Finance"]
    assert await listed("sort=-created_at") == ["Finance", "Sales APAC", "Sales EMEA"]

    page = (await client.get(f"{URL}?page=2&page_size=2", headers=headers)).json()["data"]
    assert (page["total"], page["page"], page["page_size"]) == (3, 2, 2)
    assert [item["id"] for item in page["items"]] == [root["id"]]
    assert other["id"] != root["id"]

    for bad in ("sort=path", "sort=name;drop table sys_dept", "status=gone", "page_size=101"):
        response = await client.get(f"{URL}?{bad}", headers=headers)
        assert response.status_code == 422, bad
    bad_sort = await client.get(f"{URL}?sort=path", headers=headers)
    assert bad_sort.json()["errors"][0]["field"] == "sort"


async def test_move_rewrites_the_paths_of_the_whole_subtree(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    headers = await superuser_headers(app)
    a = await post(client, headers, name="A", code="a")
    a1 = await post(client, headers, name="A1", code="a1", parent_id=a["id"])
    a1x = await post(client, headers, name="A1x", code="a1x", parent_id=a1["id"])
    a1xy = await post(client, headers, name="A1xy", code="a1xy", parent_id=a1x["id"])
    b = await post(client, headers, name="B", code="b")
    a_ids = (a["id"], a1["id"], a1x["id"], a1xy["id"])

    moved = await client.patch(f"{URL}/{a1['id']}", json={"parent_id": b["id"]}, headers=headers)
    assert moved.status_code == 200, moved.text
    assert moved.json()["data"]["parent_id"] == b["id"]
    ida, id1, idx, idxy = a_ids
    idb = b["id"]
    assert await paths(app) == {
        ida: f"/{ida}/",
        idb: f"/{idb}/",
        id1: f"/{idb}/{id1}/",
        idx: f"/{idb}/{id1}/{idx}/",
        idxy: f"/{idb}/{id1}/{idx}/{idxy}/",
    }

    to_root = await client.patch(f"{URL}/{idx}", json={"parent_id": None}, headers=headers)
    assert to_root.status_code == 200, to_root.text
    assert to_root.json()["data"]["parent_id"] is None
    after = await paths(app)
    assert (after[idx], after[idxy], after[id1]) == (
        f"/{idx}/",
        f"/{idx}/{idxy}/",
        f"/{idb}/{id1}/",
    )


async def test_move_changes_who_sees_the_subtree_on_the_next_request(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """§0 #3: "dept_and_children" follows the tree as it is now (cache invalidated)."""
    headers = await superuser_headers(app)
    a = await post(client, headers, name="A", code="a")
    b = await post(client, headers, name="B", code="b")
    b1 = await post(client, headers, name="B1", code="b1", parent_id=b["id"])
    b1x = await post(client, headers, name="B1x", code="b1x", parent_id=b1["id"])
    viewer = await scoped_headers(app, a["id"], [DEPT_LIST, DEPT_READ], "dept_and_children")

    async def visible() -> set[int]:
        response = await client.get(URL, headers=viewer)
        assert response.status_code == 200
        return {item["id"] for item in response.json()["data"]["items"]}

    assert await visible() == {a["id"]}
    assert (await client.get(f"{URL}/{b1x['id']}", headers=viewer)).status_code == 404
    moved = await client.patch(f"{URL}/{b1['id']}", json={"parent_id": a["id"]}, headers=headers)
    assert moved.status_code == 200
    assert await visible() == {a["id"], b1["id"], b1x["id"]}
    assert (await client.get(f"{URL}/{b1x['id']}", headers=viewer)).status_code == 200


@pytest.mark.parametrize("target", ["self", "child", "grandchild"])
async def test_move_under_itself_or_a_descendant_is_409(
    app: FastAPI, client: httpx.AsyncClient, target: str
) -> None:
    headers = await superuser_headers(app)
    a = await post(client, headers, name="A", code="a")
    child = await post(client, headers, name="A1", code="a1", parent_id=a["id"])
    grandchild = await post(client, headers, name="A1x", code="a1x", parent_id=child["id"])
    new_parent = {"self": a, "child": child, "grandchild": grandchild}[target]
    before = await paths(app)

    response = await client.patch(
        f"{URL}/{a['id']}", json={"parent_id": new_parent["id"]}, headers=headers
    )
    assert response.status_code == 409
    assert "cannot move a department under itself or its descendant" in response.json()["message"]
    assert await paths(app) == before


async def test_delete_refused_while_it_has_sub_departments_or_users(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    headers = await superuser_headers(app)
    parent = await post(client, headers, name="Parent", code="parent")
    child = await post(client, headers, name="Child", code="child", parent_id=parent["id"])
    async with app.state.sessionmaker() as db, db.begin():
        member = await create_user(db, dept_id=child["id"])

    response = await client.delete(f"{URL}/{parent['id']}", headers=headers)
    assert response.status_code == 409
    assert "department has sub-departments" in response.json()["message"]
    response = await client.delete(f"{URL}/{child['id']}", headers=headers)
    assert response.status_code == 409
    assert "department has users" in response.json()["message"]

    async with app.state.sessionmaker() as db, db.begin():
        (await db.get_one(User, member.id)).dept_id = None
    assert (await client.delete(f"{URL}/{child['id']}", headers=headers)).status_code == 204
    assert (await client.delete(f"{URL}/{parent['id']}", headers=headers)).status_code == 204
    assert await paths(app) == {}


async def test_data_scope_dept_and_children(app: FastAPI, client: httpx.AsyncClient) -> None:
    """§0 #3: a caller scoped to A and its children never reaches sibling B (404, not 403)."""
    async with app.state.sessionmaker() as db, db.begin():
        a = await create_dept(db, name="A")
        a1 = await create_dept(db, name="A1", parent=a)
        a1x = await create_dept(db, name="A1x", parent=a1)
        b = await create_dept(db, name="B")
        b1 = await create_dept(db, name="B1", parent=b)
        ids = {d.name: d.id for d in (a, a1, a1x, b, b1)}
        b_version = b.version
    headers = await scoped_headers(app, ids["A1"], ALL_DEPT, "dept_and_children")

    listed = (await client.get(URL, headers=headers)).json()["data"]
    assert {item["id"] for item in listed["items"]} == {ids["A1"], ids["A1x"]}
    assert listed["total"] == 2
    # Filters cannot widen the scope.
    by_parent = await client.get(f"{URL}?parent_id={ids['B']}", headers=headers)
    assert by_parent.json()["data"]["items"] == []

    tree = (await client.get(f"{URL}/tree", headers=headers)).json()["data"]
    assert names(tree) == [["A1", [["A1x", []]]]]  # A is hidden, so A1 is a root

    assert (await client.get(f"{URL}/{ids['A1x']}", headers=headers)).status_code == 200
    for hidden in ("A", "B", "B1"):
        dept_url = f"{URL}/{ids[hidden]}"
        assert (await client.get(dept_url, headers=headers)).status_code == 404
        patch = await client.patch(dept_url, json={"name": "taken"}, headers=headers)
        assert patch.status_code == 404
        assert (await client.delete(dept_url, headers=headers)).status_code == 404

    # Nothing can be placed under, or moved to, a department outside the scope.
    under_b = await client.post(
        URL, json={"name": "X", "code": "x", "parent_id": ids["B"]}, headers=headers
    )
    assert under_b.status_code == 422
    assert under_b.json()["errors"][0]["field"] == "parent_id"
    move = await client.patch(f"{URL}/{ids['A1x']}", json={"parent_id": ids["B"]}, headers=headers)
    assert move.status_code == 422
    root = await client.post(URL, json={"name": "X", "code": "x"}, headers=headers)
    assert root.status_code == 403
    to_root = await client.patch(f"{URL}/{ids['A1x']}", json={"parent_id": None}, headers=headers)
    assert to_root.status_code == 403

    async with app.state.sessionmaker() as db:
        b_row = await db.get_one(Dept, ids["B"])
        assert (b_row.name, b_row.version) == ("B", b_version)

    # A department created inside the scope is visible on the very next request.
    created = await client.post(
        URL, json={"name": "A1y", "code": "a1y", "parent_id": ids["A1"]}, headers=headers
    )
    assert created.status_code == 201
    got = await client.get(f"{URL}/{created.json()['data']['id']}", headers=headers)
    assert got.status_code == 200


async def test_data_scope_self_sees_no_department(app: FastAPI, client: httpx.AsyncClient) -> None:
    async with app.state.sessionmaker() as db, db.begin():
        a = await create_dept(db, name="A")
    headers = await scoped_headers(app, a.id, [DEPT_LIST, DEPT_READ], "self")
    assert (await client.get(URL, headers=headers)).json()["data"]["total"] == 0
    assert (await client.get(f"{URL}/tree", headers=headers)).json()["data"] == []
    assert (await client.get(f"{URL}/{a.id}", headers=headers)).status_code == 404


async def test_permissions_are_required(app: FastAPI, client: httpx.AsyncClient) -> None:
    """§0 #2: no token is 401, a token without the permission is 403, on every route."""
    async with app.state.sessionmaker() as db, db.begin():
        dept = await create_dept(db)
    # Holding every other department permission is not enough for a route.
    routes = [
        ("GET", URL, None, DEPT_LIST),
        ("GET", f"{URL}/tree", None, DEPT_LIST),
        ("GET", f"{URL}/{dept.id}", None, DEPT_READ),
        ("POST", URL, {"name": "N", "code": "n"}, DEPT_CREATE),
        ("PATCH", f"{URL}/{dept.id}", {"name": "N"}, DEPT_UPDATE),
        ("DELETE", f"{URL}/{dept.id}", None, DEPT_DELETE),
    ]
    for method, url, body, needed in routes:
        anonymous = await client.request(method, url, json=body)
        assert anonymous.status_code == 401, (method, url)
        others = [code for code in ALL_DEPT if code != needed]
        headers = await scoped_headers(app, dept.id, others, "all")
        denied = await client.request(method, url, json=body, headers=headers)
        assert denied.status_code == 403, (method, url)
        assert needed in denied.json()["message"]


async def test_duplicate_code_is_409_naming_code(app: FastAPI, client: httpx.AsyncClient) -> None:
    headers = await superuser_headers(app)
    await post(client, headers, name="Ops", code="ops")
    other = await post(client, headers, name="Legal", code="legal")
    for body in ({"name": "Ops 2", "code": "ops"}, {"name": "Ops 3", "code": "OPS"}):
        response = await client.post(URL, json=body, headers=headers)
        assert response.status_code == 409
        assert [e["field"] for e in response.json()["errors"]] == ["code"]
    response = await client.patch(f"{URL}/{other['id']}", json={"code": "ops"}, headers=headers)
    assert response.status_code == 409
    assert [e["field"] for e in response.json()["errors"]] == ["code"]
    # Re-sending its own code (in another case) is not a conflict.
    same = await client.patch(f"{URL}/{other['id']}", json={"code": "LEGAL"}, headers=headers)
    assert same.status_code == 200
    assert same.json()["data"]["code"] == "LEGAL"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "X", "code": "x", "path": "/1/"}, "path"),
        ({"name": "X", "code": "x", "id": 42}, "id"),
        ({"name": "X", "code": "x", "version": 7}, "version"),
        ({"name": "", "code": "x"}, "name"),
        ({"name": "X" * 65, "code": "x"}, "name"),
        ({"name": "X", "code": "has space"}, "code"),
        ({"name": "X"}, "code"),
        ({"name": "X", "code": "x", "status": "archived"}, "status"),
        ({"name": "X", "code": "x", "sort": -1}, "sort"),
        ({"name": "X", "code": "x", "email": "not-an-email"}, "email"),
        ({"name": "X", "code": "x", "parent_id": 0}, "parent_id"),
        ({"name": "X", "code": "x", "parent_id": 987654}, "parent_id"),
    ],
)
async def test_create_rejects_bad_input(
    app: FastAPI, client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    """§0 #4: mass assignment of `path`, `id`, `version` is refused."""
    headers = await superuser_headers(app)
    response = await client.post(URL, json=body, headers=headers)
    assert response.status_code == 422
    assert field in [e["field"] for e in response.json()["errors"]]
    assert await paths(app) == {}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"path": "/"}, "path"),
        ({"id": 1}, "id"),
        ({"version": 0}, "version"),  # a precondition (optimistic lock); 0 is impossible
        ({"created_at": "2020-01-01T00:00:00Z"}, "created_at"),
        ({"name": None}, "name"),
        ({"status": None}, "status"),
    ],
)
async def test_update_rejects_bad_input(
    app: FastAPI, client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    """§0 #4: mass assignment on PATCH is a 422 and changes nothing."""
    headers = await superuser_headers(app)
    dept = await post(client, headers, name="A", code="a")
    response = await client.patch(f"{URL}/{dept['id']}", json=body, headers=headers)
    assert response.status_code == 422
    assert field in [e["field"] for e in response.json()["errors"]]
    assert (await client.get(f"{URL}/{dept['id']}", headers=headers)).json()["data"] == dept


async def assert_paths_consistent(app: FastAPI) -> None:
    """Every path is its parent's path plus its own id: no cycle, no stale subtree."""
    async with app.state.sessionmaker() as db:
        rows = {row.id: row for row in (await db.execute(select(Dept))).scalars()}
    for dept in rows.values():
        parent_path = rows[dept.parent_id].path if dept.parent_id is not None else "/"
        assert dept.path == f"{parent_path}{dept.id}/", (dept.id, dept.path)


async def test_crossing_moves_cannot_make_a_cycle(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A under B and, at the same time, B under A: one wins, the tree stays a tree."""
    headers = await superuser_headers(app)
    a = await post(client, headers, name="A", code="a")
    b = await post(client, headers, name="B", code="b")
    await post(client, headers, name="A1", code="a1", parent_id=a["id"])
    await post(client, headers, name="B1", code="b1", parent_id=b["id"])

    # Widen the window between reading the new parent and writing, so the two requests
    # overlap: without locking both would pass the cycle check.
    find_parent = dept_service._parent

    async def slow_parent(*args: Any, **kwargs: Any) -> Dept | None:
        parent = await find_parent(*args, **kwargs)
        await asyncio.sleep(0.3)
        return parent

    monkeypatch.setattr(dept_service, "_parent", slow_parent)
    first, second = await asyncio.gather(
        client.patch(f"{URL}/{a['id']}", json={"parent_id": b["id"]}, headers=headers),
        client.patch(f"{URL}/{b['id']}", json={"parent_id": a["id"]}, headers=headers),
    )
    assert sorted([first.status_code, second.status_code]) == [200, 409]
    loser = first if first.status_code == 409 else second
    assert "cannot move a department under itself or its descendant" in loser.json()["message"]
    await assert_paths_consistent(app)


async def test_create_during_a_move_of_its_ancestor_gets_the_new_path(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A department created under X while X's ancestor moves ends up with X's new path."""
    headers = await superuser_headers(app)
    a = await post(client, headers, name="A", code="a")
    x = await post(client, headers, name="X", code="x", parent_id=a["id"])
    b = await post(client, headers, name="B", code="b")

    # Hold the create open after it has read (and, where it can, locked) its parent.
    code_taken = dept_repository.code_taken

    async def slow_code_taken(*args: Any, **kwargs: Any) -> bool:
        taken = await code_taken(*args, **kwargs)
        await asyncio.sleep(0.4)
        return taken

    monkeypatch.setattr(dept_repository, "code_taken", slow_code_taken)

    async def move_later() -> httpx.Response:
        await asyncio.sleep(0.1)
        return await client.patch(f"{URL}/{a['id']}", json={"parent_id": b["id"]}, headers=headers)

    created, moved = await asyncio.gather(
        client.post(URL, json={"name": "C", "code": "c", "parent_id": x["id"]}, headers=headers),
        move_later(),
    )
    assert (created.status_code, moved.status_code) == (201, 200)
    await assert_paths_consistent(app)
