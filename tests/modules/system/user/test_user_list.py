"""Users: list filters, sorting and pages, and the CSV export (same rows as the list)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from app.modules.system.user import repository as user_repo
from app.modules.system.user.models import User, user_position
from tests.modules.system.user.helpers import (
    USERS,
    add_position,
    seed,
    superuser,
)
from tests.support.identity import auth_headers, create_dept, create_role
from tests.support.identity import create_user as make_user

# ------------------------------------------------------------------------------ lists --


async def test_list_filters(client: httpx.AsyncClient, app: FastAPI) -> None:
    _, headers = await superuser(app, username="root", name="Root")

    async def build(db: AsyncSession) -> dict[str, int]:
        top = await create_dept(db, name="Top")
        child = await create_dept(db, name="Child", parent=top)
        other = await create_dept(db, name="Other")
        role = await create_role(db)
        await make_user(db, username="alpha_one", name="Ann Lee", dept_id=top.id, roles=[role])
        await make_user(db, username="alpha_two", name="Bob Lee", dept_id=child.id)
        await make_user(db, username="beta_one", name="Cid Moe", dept_id=other.id, roles=[role])
        await make_user(db, username="gamma%_x", name="Dee", status="disabled")
        return {"top": top.id, "child": child.id, "other": other.id, "role": role.id}

    ids = await seed(app, build)

    async def names(**params: str | int | bool) -> list[str]:
        response = await client.get(USERS, params={**params, "sort": "username"}, headers=headers)
        assert response.status_code == 200, response.text
        return [item["username"] for item in response.json()["data"]["items"]]

    assert await names(username="ALPHA") == ["alpha_one", "alpha_two"]
    assert await names(username="%") == ["gamma%_x"]  # LIKE wildcards are literal
    assert await names(username="p_") == []  # "_" too
    assert await names(name="lee") == ["alpha_one", "alpha_two"]
    assert await names(status="disabled") == ["gamma%_x"]
    assert await names(dept_id=ids["top"]) == ["alpha_one", "alpha_two"]
    assert await names(dept_id=ids["top"], include_children=False) == ["alpha_one"]
    assert await names(dept_id=ids["child"]) == ["alpha_two"]
    assert await names(dept_id=987654) == []
    assert await names(role_id=ids["role"]) == ["alpha_one", "beta_one"]
    assert await names(role_id=ids["role"], dept_id=ids["other"]) == ["beta_one"]
    bad = await client.get(USERS, params={"status": "gone"}, headers=headers)
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "status"


async def test_list_sorting_and_pages(client: httpx.AsyncClient, app: FastAPI) -> None:
    """§0 #12: only whitelisted sort fields; default newest first."""
    root, headers = await superuser(app, username="u0", name="Zed")
    base = datetime(2030, 1, 1, tzinfo=UTC)

    async def build(db: AsyncSession) -> None:
        for i, (username, name) in enumerate([("u3", "Amy"), ("u1", "Cat"), ("u2", "Bea")]):
            await make_user(
                db, username=username, name=name, created_at=base + timedelta(minutes=i)
            )

    await seed(app, build)
    pages = []
    for sort, expected in [
        (None, ["u2", "u1", "u3", "u0"]),
        ("username", ["u0", "u1", "u2", "u3"]),
        ("-username", ["u3", "u2", "u1", "u0"]),
        ("name", ["u3", "u2", "u1", "u0"]),
        ("-id", ["u2", "u1", "u3", "u0"]),
        ("created_at", ["u0", "u3", "u1", "u2"]),
    ]:
        params = {"sort": sort} if sort else {}
        response = await client.get(USERS, params=params, headers=headers)
        data = response.json()["data"]
        assert [item["username"] for item in data["items"]] == expected, sort
        pages.append(data["total"])
    assert pages == [4] * 6
    page = (
        await client.get(
            USERS, params={"sort": "username", "page": 2, "page_size": 3}, headers=headers
        )
    ).json()["data"]
    assert ([i["username"] for i in page["items"]], page["total"]) == (["u3"], 4)
    assert root.username == "u0"


@pytest.mark.parametrize(
    "sort", ["password_hash", "mfa_secret", "username;DROP TABLE sys_user", "(select 1)", "email"]
)
async def test_unlisted_sort_is_422_naming_sort(
    client: httpx.AsyncClient, app: FastAPI, sort: str
) -> None:
    """§0 #12, ASVS 1.2.4."""
    _, headers = await superuser(app)
    response = await client.get(USERS, params={"sort": sort}, headers=headers)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "sort"


async def test_list_loads_links_for_the_whole_page(client: httpx.AsyncClient, app: FastAPI) -> None:
    _, headers = await superuser(app, username="aaa_root")

    async def build(db: AsyncSession) -> tuple[int, int, int]:
        r1, r2 = await create_role(db), await create_role(db)
        pos = await add_position(db, "lead")
        u1 = await make_user(db, username="bbb1", roles=[r1, r2])
        await make_user(db, username="bbb2")
        from app.modules.system.user.models import user_position

        await db.execute(user_position.insert().values(user_id=u1.id, position_id=pos.id))
        return r1.id, r2.id, pos.id

    r1, r2, pos = await seed(app, build)
    items = (await client.get(USERS, params={"sort": "username"}, headers=headers)).json()
    rows = {i["username"]: (i["role_ids"], i["position_ids"]) for i in items["data"]["items"]}
    assert rows["bbb1"] == (sorted([r1, r2]), [pos])
    assert rows["bbb2"] == ([], [])


async def test_list_items_equal_single_reads_and_a_page_past_the_end_keeps_the_total(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """The list builds its items from plain rows and counts in the page query
    (`count(*) OVER ()`): each item is exactly the body `GET /users/{id}` answers (read
    through the ORM), and a page past the end (no row to carry the count) still answers the
    scoped total (§0 #3: the users of another department count nowhere)."""

    async def build(db: AsyncSession) -> tuple[User, int]:
        mine, other = await create_dept(db, name="Mine"), await create_dept(db, name="Other")
        role = await create_role(
            db, permissions=["system:user:list", "system:user:read"], data_scope="dept"
        )
        pos = await add_position(db, "listed")
        caller = await make_user(db, username="scoped_caller", dept_id=mine.id, roles=[role])
        for i in range(4):
            user = await make_user(
                db, username=f"mine{i}", email=f"Mine{i}@Example.com", dept_id=mine.id
            )
            if i % 2:
                await db.execute(user_position.insert().values(user_id=user.id, position_id=pos.id))
        for i in range(3):
            await make_user(db, username=f"other{i}", dept_id=other.id)
        return caller, role.id

    caller, _ = await seed(app, build)
    headers = await auth_headers(app, caller)
    listed = (
        await client.get(USERS, params={"sort": "username", "page_size": 3}, headers=headers)
    ).json()["data"]
    assert listed["total"] == 5  # the caller and mine0..mine3
    assert [item["username"] for item in listed["items"]] == ["mine0", "mine1", "mine2"]
    for item in listed["items"]:
        single = await client.get(f"{USERS}/{item['id']}", headers=headers)
        assert single.json()["data"] == item
    second = (
        await client.get(
            USERS, params={"sort": "username", "page": 2, "page_size": 3}, headers=headers
        )
    ).json()["data"]
    assert ([i["username"] for i in second["items"]], second["total"]) == (
        ["mine3", "scoped_caller"],
        5,
    )
    for page in (3, 50):
        past = (
            await client.get(USERS, params={"page": page, "page_size": 3}, headers=headers)
        ).json()["data"]
        assert (past["items"], past["total"], past["page"]) == ([], 5, page)
    nothing = (await client.get(USERS, params={"username": "other"}, headers=headers)).json()[
        "data"
    ]
    assert (nothing["items"], nothing["total"]) == ([], 0)


# ----------------------------------------------------------------------------- export --


def _csv(response: httpx.Response) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))


async def test_export_is_an_attachment_with_the_listed_columns(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    _, headers = await superuser(app, username="exporter", name="Ex")
    dept = await seed(app, lambda db: create_dept(db))
    await seed(app, lambda db: make_user(db, username="plain", name="Plain", dept_id=dept.id))
    response = await client.get(f"{USERS}/export", headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"] == 'attachment; filename="users.csv"'
    assert response.headers["x-request-id"]
    reader = csv.reader(io.StringIO(response.content.decode("utf-8-sig")))
    assert next(reader) == [
        "id",
        "username",
        "name",
        "email",
        "phone",
        "status",
        "dept_id",
        "created_at",
    ]
    rows = {row["username"]: row for row in _csv(response)}
    assert set(rows) == {"exporter", "plain"}
    assert rows["plain"]["dept_id"] == str(dept.id)
    assert rows["plain"]["email"] == "plain@example.com"
    assert rows["plain"]["status"] == "active"
    assert datetime.fromisoformat(rows["plain"]["created_at"]).tzinfo is not None
    assert "password" not in response.text and "argon2" not in response.text


async def test_export_escapes_formula_cells(client: httpx.AsyncClient, app: FastAPI) -> None:
    """§0 #14, ASVS 1.2.10: a cell starting with = + - @ tab or CR gets a leading quote."""
    _, headers = await superuser(app, username="exporter", name="Ex")

    async def build(db: AsyncSession) -> None:
        await make_user(db, username="f1", name='=HYPERLINK("http://x","y")')
        await make_user(db, username="f2", name="+1+1", phone="+86 100")
        await make_user(db, username="-f3", name="@SUM(A1)")
        await make_user(db, username="f4", name="\tTab", remark="x")
        await make_user(db, username="f5", name="\rCR")
        await make_user(db, username="f6", name="a=b")

    await seed(app, build)
    rows = {r["username"]: r for r in _csv(await client.get(f"{USERS}/export", headers=headers))}
    assert rows["f1"]["name"] == '\'=HYPERLINK("http://x","y")'
    assert (rows["f2"]["name"], rows["f2"]["phone"]) == ("'+1+1", "'+86 100")
    assert rows["'-f3"]["name"] == "'@SUM(A1)"
    assert rows["f4"]["name"] == "'\tTab"
    assert rows["f5"]["name"] == "'\rCR"
    assert rows["f6"]["name"] == "a=b"


async def test_export_honours_the_list_filters_across_batches(
    client: httpx.AsyncClient, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The export streams keyset batches; the rows are those the list returns."""
    monkeypatch.setattr(user_repo, "EXPORT_BATCH", 3)
    _, headers = await superuser(app, username="root", name="Root")

    async def build(db: AsyncSession) -> int:
        dept = await create_dept(db)
        for i in range(7):
            await make_user(db, username=f"batch{i}", dept_id=dept.id)
        for i in range(2):
            await make_user(db, username=f"other{i}")
        return dept.id

    dept_id = await seed(app, build)
    for params in ({}, {"dept_id": dept_id}, {"username": "batch"}, {"username": "other"}):
        listed = await client.get(USERS, params={**params, "page_size": 100}, headers=headers)
        expected = sorted(i["id"] for i in listed.json()["data"]["items"])
        rows = _csv(await client.get(f"{USERS}/export", params=params, headers=headers))
        exported = [int(r["id"]) for r in rows]
        assert exported == expected, params  # id order, no duplicates across batches
    assert len(exported) == 2
    everything = _csv(await client.get(f"{USERS}/export", headers=headers))
    assert len(everything) == 10  # 7 + 2 + root: a batch boundary at 3, 6 and 9
    bad = await client.get(f"{USERS}/export", params={"dept_id": "x"}, headers=headers)
    assert bad.status_code == 422


async def test_export_batches_query_by_keyset(app: FastAPI) -> None:
    """The batch reader pages on id, never by OFFSET, and stops on a short batch."""
    await seed(app, lambda db: _many(db, 5))
    async with app.state.sessionmaker() as db:
        batches = [
            [row[0] for row in batch]
            async for batch in user_repo.iter_batches(db, [], [User.username], batch_size=2)
        ]
    assert [len(b) for b in batches] == [2, 2, 1]
    flat = [i for b in batches for i in b]
    assert flat == sorted(flat) and len(set(flat)) == 5


async def _many(db: AsyncSession, n: int) -> None:
    for _ in range(n):
        await make_user(db)
