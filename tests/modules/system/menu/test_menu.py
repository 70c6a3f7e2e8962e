"""Menus (`/api/v1/system/menus`): CRUD, the tree, shape rules, moves, and that permission
changes reach the holders on their next request."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from app.modules.system.menu import repository as menu_repository
from app.modules.system.menu.models import Menu
from app.modules.system.permissions import (
    MENU_CREATE,
    MENU_DELETE,
    MENU_LIST,
    MENU_READ,
    MENU_UPDATE,
    POSITION_LIST,
)
from app.modules.system.role.models import role_menu
from tests.support.identity import (
    auth_headers,
    create_role,
    create_user,
    holder_headers,
    menu_for,
    superuser_headers,
)

URL = "/api/v1/system/menus"
ALL_MENU = [MENU_LIST, MENU_READ, MENU_CREATE, MENU_UPDATE, MENU_DELETE]
READ_FIELDS = {
    "id",
    "parent_id",
    "type",
    "title",
    "name",
    "path",
    "component",
    "icon",
    "permission",
    "sort",
    "visible",
    "status",
    "keep_alive",
    "link",
    "redirect",
    "version",
    "created_at",
    "updated_at",
}


async def post(client: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    response = await client.post(URL, json=body, headers=headers)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def menu_count(app: FastAPI) -> int:
    async with app.state.sessionmaker() as db:
        return int(await db.scalar(select(func.count()).select_from(Menu)) or 0)


def titles(nodes: list[dict[str, Any]]) -> list[Any]:
    """A tree as nested `[title, [children...]]` lists, in answer order."""
    return [[node["title"], titles(node["children"])] for node in nodes]


async def test_crud_happy_path(app: FastAPI, client: httpx.AsyncClient) -> None:
    # The codes put on menus must be held by the editor (a wildcard grant covers them).
    headers = await holder_headers(app, [*ALL_MENU, "system:user:*"])
    directory = await post(
        client, headers, type="directory", title="System", path="/system", icon="ep:setting"
    )
    assert set(directory) == READ_FIELDS
    assert (directory["type"], directory["title"], directory["path"]) == (
        "directory",
        "System",
        "/system",
    )
    assert (directory["visible"], directory["status"], directory["sort"]) == (True, "active", 0)
    page = await post(
        client,
        headers,
        parent_id=directory["id"],
        type="menu",
        title="Users",
        name="SystemUser",
        path="users",
        component="system/user/index",
        permission="system:user:list",
        sort=1,
    )
    assert page["parent_id"] == directory["id"]
    assert (page["name"], page["component"], page["permission"]) == (
        "SystemUser",
        "system/user/index",
        "system:user:list",
    )
    button = await post(
        client, headers, parent_id=page["id"], type="button", permission="system:user:create"
    )
    assert button["title"] == "system:user:create"  # a button is labelled by its code
    assert (button["path"], button["component"]) == (None, None)

    got = await client.get(f"{URL}/{page['id']}", headers=headers)
    assert got.status_code == 200
    assert got.json()["data"] == page

    patched = await client.patch(
        f"{URL}/{page['id']}",
        json={"title": "People", "visible": False, "icon": "", "sort": 4},
        headers=headers,
    )
    assert patched.status_code == 200, patched.text
    data = patched.json()["data"]
    assert (data["title"], data["visible"], data["icon"], data["sort"]) == (
        "People",
        False,
        None,
        4,
    )
    assert data["version"] == page["version"] + 1

    assert (await client.delete(f"{URL}/{button['id']}", headers=headers)).status_code == 204
    assert (await client.get(f"{URL}/{button['id']}", headers=headers)).status_code == 404


async def test_missing_menu_is_404(app: FastAPI, client: httpx.AsyncClient) -> None:
    headers = await superuser_headers(app)
    response = await client.get(f"{URL}/31337", headers=headers)
    assert response.status_code == 404
    assert response.json()["message"] == "Menu not found"
    assert (
        await client.patch(f"{URL}/31337", json={"sort": 1}, headers=headers)
    ).status_code == 404
    assert (await client.delete(f"{URL}/31337", headers=headers)).status_code == 404


async def test_tree_nests_three_levels_in_sort_order(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    headers = await superuser_headers(app)
    monitor = await post(client, headers, type="directory", title="Monitor", sort=2)
    system = await post(client, headers, type="directory", title="System", sort=1)
    roles = await post(client, headers, type="menu", title="Roles", sort=2, parent_id=system["id"])
    users = await post(client, headers, type="menu", title="Users", sort=1, parent_id=system["id"])
    for code in ("system:user:update", "system:user:create"):  # same sort: by id
        await post(client, headers, type="button", permission=code, parent_id=users["id"])
    await post(client, headers, type="menu", title="Online", parent_id=monitor["id"])
    await post(client, headers, type="button", permission="system:role:list", parent_id=roles["id"])

    response = await client.get(f"{URL}/tree", headers=headers)
    assert response.status_code == 200
    tree = response.json()["data"]
    assert titles(tree) == [
        [
            "System",
            [
                ["Users", [["system:user:update", []], ["system:user:create", []]]],
                ["Roles", [["system:role:list", []]]],
            ],
        ],
        ["Monitor", [["Online", []]]],
    ]
    assert set(tree[0]) == READ_FIELDS | {"children"}


async def test_list_filters_sorting_and_paging(app: FastAPI, client: httpx.AsyncClient) -> None:
    """§0 #12: only whitelisted sort fields reach SQL."""
    headers = await superuser_headers(app)
    system = await post(client, headers, type="directory", title="System", sort=3)
    await post(client, headers, type="menu", title="System users", sort=2, visible=False)
    await post(
        client,
        headers,
        type="button",
        permission="system:user:create",
        sort=1,
        status="disabled",
        parent_id=system["id"],
    )

    async def listed(query: str) -> list[str]:
        response = await client.get(f"{URL}?{query}", headers=headers)
        assert response.status_code == 200, response.text
        return [item["title"] for item in response.json()["data"]["items"]]

    assert await listed("") == ["system:user:create", "System users", "System"]
    assert await listed("title=EM%20U") == ["System users"]
    assert await listed("type=directory") == ["System"]
    assert await listed("status=disabled") == ["system:user:create"]
    assert await listed("visible=false") == ["System users"]
    assert await listed("sort=-sort") == ["System", "System users", "system:user:create"]
    assert await listed("sort=id") == ["System", "System users", "system:user:create"]

    page = (await client.get(f"{URL}?page=1&page_size=1", headers=headers)).json()["data"]
    assert (page["total"], len(page["items"])) == (3, 1)
    for bad in ("sort=permission", "type=page", "visible=maybe"):
        assert (await client.get(f"{URL}?{bad}", headers=headers)).status_code == 422, bad


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "button", "title": "Create"}, "permission"),
        ({"type": "button", "permission": ""}, "permission"),
        ({"type": "menu", "title": "X", "permission": "system:user"}, "permission"),
        ({"type": "menu", "title": "X", "permission": "System:User:List"}, "permission"),
        ({"type": "menu", "title": "X", "permission": "system:user:list "}, None),
        ({"type": "button", "permission": "a:b:c", "path": "/x"}, "path"),
        ({"type": "button", "permission": "a:b:c", "component": "x/index"}, "component"),
        ({"type": "menu"}, "title"),
        ({"type": "directory", "title": " "}, "title"),
        ({"type": "page", "title": "X"}, "type"),
        ({"type": "menu", "title": "X", "path": "https://evil.example"}, "path"),
        ({"type": "menu", "title": "X", "path": "/a/../b"}, "path"),
        ({"type": "menu", "title": "X", "path": "/" + "a" * 255}, "path"),
        ({"type": "menu", "title": "X", "component": "../secret"}, "component"),
        ({"type": "menu", "title": "X", "id": 3}, "id"),
        ({"type": "menu", "title": "X", "version": 3}, "version"),
        ({"type": "menu", "title": "X", "parent_id": 999999}, "parent_id"),
    ],
)
async def test_create_rejects_bad_input(
    app: FastAPI, client: httpx.AsyncClient, body: dict[str, Any], field: str | None
) -> None:
    """§0 #4: unknown fields are a 422; type rules name the field at fault."""
    headers = await superuser_headers(app)
    response = await client.post(URL, json=body, headers=headers)
    if field is None:  # surrounding blanks are trimmed, not an error
        assert response.status_code == 201
        assert response.json()["data"]["permission"] == "system:user:list"
        return
    assert response.status_code == 422, response.text
    assert field in [e["field"] for e in response.json()["errors"]]
    assert await menu_count(app) == 0


async def test_a_button_cannot_have_children(app: FastAPI, client: httpx.AsyncClient) -> None:
    headers = await superuser_headers(app)
    page = await post(client, headers, type="menu", title="Users")
    button = await post(client, headers, type="button", permission="a:b:c", parent_id=page["id"])
    other = await post(client, headers, type="menu", title="Roles")

    under_button = await client.post(
        URL,
        json={"type": "button", "permission": "a:b:d", "parent_id": button["id"]},
        headers=headers,
    )
    assert under_button.status_code == 422
    assert under_button.json()["errors"][0]["field"] == "parent_id"
    moved = await client.patch(
        f"{URL}/{other['id']}", json={"parent_id": button["id"]}, headers=headers
    )
    assert moved.status_code == 422
    # A menu with children cannot turn into a button.
    to_button = await client.patch(
        f"{URL}/{page['id']}", json={"type": "button", "permission": "a:b:e"}, headers=headers
    )
    assert to_button.status_code == 409
    # The merged record is checked: a button needs its code, and cannot lose it.
    no_code = await client.patch(f"{URL}/{other['id']}", json={"type": "button"}, headers=headers)
    assert no_code.status_code == 422
    assert no_code.json()["errors"][0]["field"] == "permission"
    drop = await client.patch(f"{URL}/{button['id']}", json={"permission": None}, headers=headers)
    assert drop.status_code == 422
    assert drop.json()["errors"][0]["field"] == "permission"
    became = await client.patch(
        f"{URL}/{other['id']}", json={"type": "button", "permission": "a:b:f"}, headers=headers
    )
    assert became.status_code == 200
    assert became.json()["data"]["type"] == "button"


@pytest.mark.parametrize("target", ["self", "child", "grandchild"])
async def test_move_under_itself_or_a_descendant_is_409(
    app: FastAPI, client: httpx.AsyncClient, target: str
) -> None:
    headers = await superuser_headers(app)
    top = await post(client, headers, type="directory", title="Top")
    child = await post(client, headers, type="directory", title="Child", parent_id=top["id"])
    grandchild = await post(client, headers, type="menu", title="Leaf", parent_id=child["id"])
    new_parent = {"self": top, "child": child, "grandchild": grandchild}[target]

    response = await client.patch(
        f"{URL}/{top['id']}", json={"parent_id": new_parent["id"]}, headers=headers
    )
    assert response.status_code == 409
    assert "cannot move a menu under itself or its descendant" in response.json()["message"]
    assert (await client.get(f"{URL}/{top['id']}", headers=headers)).json()["data"] == top


async def test_move_to_another_parent_and_to_the_top(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    headers = await superuser_headers(app)
    first = await post(client, headers, type="directory", title="First")
    second = await post(client, headers, type="directory", title="Second", sort=1)
    leaf = await post(client, headers, type="menu", title="Leaf", parent_id=first["id"])
    moved = await client.patch(
        f"{URL}/{leaf['id']}", json={"parent_id": second["id"]}, headers=headers
    )
    assert moved.status_code == 200
    tree = (await client.get(f"{URL}/tree", headers=headers)).json()["data"]
    assert titles(tree) == [["First", []], ["Second", [["Leaf", []]]]]
    top = await client.patch(f"{URL}/{leaf['id']}", json={"parent_id": None}, headers=headers)
    assert top.status_code == 200
    assert top.json()["data"]["parent_id"] is None


async def test_delete_refused_with_children_and_takes_its_grants(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    headers = await superuser_headers(app)
    page = await post(client, headers, type="menu", title="Users")
    button = await post(client, headers, type="button", permission="a:b:c", parent_id=page["id"])
    async with app.state.sessionmaker() as db, db.begin():
        await create_role(db, permissions=["a:b:c"])

    response = await client.delete(f"{URL}/{page['id']}", headers=headers)
    assert response.status_code == 409
    assert "menu has sub-menus" in response.json()["message"]
    assert await menu_count(app) == 2

    assert (await client.delete(f"{URL}/{button['id']}", headers=headers)).status_code == 204
    async with app.state.sessionmaker() as db:
        grants = await db.scalar(
            select(func.count()).select_from(role_menu).where(role_menu.c.menu_id == button["id"])
        )
    assert grants == 0
    assert (await client.delete(f"{URL}/{page['id']}", headers=headers)).status_code == 204
    assert await menu_count(app) == 0


@pytest.mark.parametrize(
    "change",
    [
        {"status": "disabled"},
        {"permission": "system:position:read"},
        None,  # delete
    ],
)
async def test_permission_changes_apply_on_the_holders_next_request(
    app: FastAPI, client: httpx.AsyncClient, change: dict[str, str] | None
) -> None:
    """ASVS 8.3.2: disabling, re-coding or deleting the button that grants a permission takes
    it away from its holders on their very next request (the principal cache is invalidated)."""
    holder = await holder_headers(app, [POSITION_LIST])
    async with app.state.sessionmaker() as db:
        button = await menu_for(db, POSITION_LIST)
    admin = await superuser_headers(app)
    positions = "/api/v1/system/positions"
    assert (await client.get(positions, headers=holder)).status_code == 200

    if change is None:
        done = await client.delete(f"{URL}/{button.id}", headers=admin)
        assert done.status_code == 204
    else:
        done = await client.patch(f"{URL}/{button.id}", json=change, headers=admin)
        assert done.status_code == 200
    denied = await client.get(positions, headers=holder)
    assert denied.status_code == 403
    assert POSITION_LIST in denied.json()["message"]

    if change == {"status": "disabled"}:
        restored = await client.patch(
            f"{URL}/{button.id}", json={"status": "active"}, headers=admin
        )
        assert restored.status_code == 200
        assert (await client.get(positions, headers=holder)).status_code == 200


async def test_permissions_are_required(app: FastAPI, client: httpx.AsyncClient) -> None:
    """§0 #2: no token is 401, a token without the permission is 403, on every route."""
    async with app.state.sessionmaker() as db, db.begin():
        menu = Menu(type="directory", title="Top")
        db.add(menu)
    routes = [
        ("GET", URL, None, MENU_LIST),
        ("GET", f"{URL}/tree", None, MENU_LIST),
        ("GET", f"{URL}/{menu.id}", None, MENU_READ),
        ("POST", URL, {"type": "directory", "title": "N"}, MENU_CREATE),
        ("PATCH", f"{URL}/{menu.id}", {"title": "N"}, MENU_UPDATE),
        ("DELETE", f"{URL}/{menu.id}", None, MENU_DELETE),
    ]
    for method, url, body, needed in routes:
        assert (await client.request(method, url, json=body)).status_code == 401
        others = [code for code in ALL_MENU if code != needed]
        denied = await client.request(
            method, url, json=body, headers=await holder_headers(app, others)
        )
        assert denied.status_code == 403, (method, url)
        assert needed in denied.json()["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"id": 5}, "id"),
        ({"version": 0}, "version"),  # a precondition (optimistic lock); 0 is impossible
        ({"type": None}, "type"),
        ({"visible": None}, "visible"),
        ({"title": ""}, "title"),
        ({"permission": "nope"}, "permission"),
    ],
)
async def test_update_rejects_bad_input(
    app: FastAPI, client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    """§0 #4: mass assignment on PATCH is a 422 and changes nothing."""
    headers = await superuser_headers(app)
    menu = await post(client, headers, type="menu", title="Users", path="/users")
    response = await client.patch(f"{URL}/{menu['id']}", json=body, headers=headers)
    assert response.status_code == 422
    assert field in [e["field"] for e in response.json()["errors"]]
    assert (await client.get(f"{URL}/{menu['id']}", headers=headers)).json()["data"] == menu


async def test_crossing_moves_cannot_make_a_cycle(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A under B and, at the same time, B under A: one wins, the tree keeps every menu."""
    headers = await superuser_headers(app)
    a = await post(client, headers, type="directory", title="A")
    b = await post(client, headers, type="directory", title="B")

    # Widen the window between reading the tree and writing, so the two requests overlap:
    # without locking both would pass the cycle check.
    read_parents = menu_repository.parent_map

    async def slow_parent_map(*args: Any, **kwargs: Any) -> dict[int, int | None]:
        parents = await read_parents(*args, **kwargs)
        await asyncio.sleep(0.3)
        return parents

    monkeypatch.setattr(menu_repository, "parent_map", slow_parent_map)
    first, second = await asyncio.gather(
        client.patch(f"{URL}/{a['id']}", json={"parent_id": b["id"]}, headers=headers),
        client.patch(f"{URL}/{b['id']}", json={"parent_id": a["id"]}, headers=headers),
    )
    assert sorted([first.status_code, second.status_code]) == [200, 409]
    tree = (await client.get(f"{URL}/tree", headers=headers)).json()["data"]
    assert titles(tree) in ([["B", [["A", []]]]], [["A", [["B", []]]]])


async def test_menu_codes_cannot_be_used_to_escalate(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """Anti-escalation: a code on a menu is a grant in waiting; only its holder may place it."""
    async with app.state.sessionmaker() as db, db.begin():
        role = await create_role(
            db, permissions=["system:menu:create", "system:menu:update", "system:menu:list"]
        )
        editor = await create_user(db, roles=[role])
        granted = (
            await db.execute(select(Menu).where(Menu.permission == "system:menu:list"))
        ).scalar_one()
    headers = await auth_headers(app, editor)
    for code in ("*", "system:*", "system:user:delete"):
        response = await client.post(
            "/api/v1/system/menus",
            headers=headers,
            json={"type": "button", "title": "x", "permission": code},
        )
        assert response.status_code == 403, code
    # Re-pointing a menu the editor's own role holds would grant the new code to that role.
    response = await client.patch(
        f"/api/v1/system/menus/{granted.id}", headers=headers, json={"permission": "*"}
    )
    assert response.status_code == 403
    ok = await client.post(
        "/api/v1/system/menus",
        headers=headers,
        json={"type": "button", "title": "y", "permission": "system:menu:list"},
    )
    assert ok.status_code == 201
