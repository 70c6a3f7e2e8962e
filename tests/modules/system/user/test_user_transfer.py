"""Users through spreadsheets: the xlsx export, the import template and the import.

docs/security-checklist.md §0 #3 (the export holds exactly the list's rows), #13 (upload limits, zip
bomb,
not-xlsx), #14 (formula escaping); the import applies the rules of `POST /users` to every row,
including anti-escalation (§0 #4, ASVS 8.2.x), all or nothing (ASVS 2.3.3), and never echoes a
password (ASVS 16.x). The command-line commands run in a subprocess on a throwaway database.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import zipfile
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import openpyxl
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import BASE_DIR
from app.core.excel import XLSX_MEDIA_TYPE
from app.core.security.passwords import PasswordHasher
from app.modules.system.permissions import USER_DELETE, USER_EXPORT, USER_IMPORT, USER_LIST
from app.modules.system.user import repository as user_repo
from app.modules.system.user.models import User, user_role
from tests.modules.system.user.helpers import GOOD_PASSWORD, USERS, seed, signed_in, superuser
from tests.support.databases import temporary_database
from tests.support.identity import create_dept, create_role, create_user

HEADER = ["username", "name", "email", "phone", "dept_code", "role_codes", "status", "password"]
OTHER_PASSWORD = "lantern-mosaic-thistle-91"


def xlsx(*rows: Sequence[object], header: Sequence[object] = HEADER) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(list(header))
    for row in rows:
        sheet.append(list(row))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def row(username: str, **cells: object) -> list[object]:
    values: dict[str, object] = {
        "username": username,
        "name": username.title(),
        "password": GOOD_PASSWORD,
        **cells,
    }
    return [values.get(column) for column in HEADER]


async def upload(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    data: bytes,
    *,
    dry_run: bool | None = True,
) -> httpx.Response:
    params = {} if dry_run is None else {"dry_run": str(dry_run).lower()}
    return await client.post(
        f"{USERS}/import",
        params=params,
        files={"file": ("users.xlsx", data, XLSX_MEDIA_TYPE)},
        headers=headers,
    )


async def user_count(app: FastAPI) -> int:
    async with app.state.sessionmaker() as db:
        return int((await db.execute(select(func.count()).select_from(User))).scalar_one())


def sheet_rows(response: httpx.Response) -> list[list[Any]]:
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    return [[cell.value for cell in line] for line in sheet.iter_rows()]


@pytest.fixture
def limits(app: FastAPI) -> Iterator[Callable[..., None]]:
    """Change the app's import limits for one test."""
    original = app.state.settings

    def apply(**values: int) -> None:
        app.state.settings = original.model_copy(update=values)

    yield apply
    app.state.settings = original


# ------------------------------------------------------------------------- access --


@pytest.mark.parametrize(
    ("method", "path", "code"),
    [
        ("GET", "/import-template", USER_IMPORT),
        ("POST", "/import", USER_IMPORT),
        ("GET", "/export?format=xlsx", USER_EXPORT),
    ],
)
async def test_each_route_needs_its_permission(
    client: httpx.AsyncClient, app: FastAPI, method: str, path: str, code: str
) -> None:
    """§0 #1, #2: 401 without a token, 403 without the permission."""
    files = {"file": ("u.xlsx", xlsx(), XLSX_MEDIA_TYPE)} if method == "POST" else None
    url = f"{USERS}{path}"
    assert (await client.request(method, url, files=files)).status_code == 401
    others = [c for c in (USER_IMPORT, USER_EXPORT, USER_LIST, USER_DELETE) if c != code]
    _, headers = await signed_in(app, others)
    denied = await client.request(method, url, files=files, headers=headers)
    assert denied.status_code == 403
    assert code in denied.json()["message"]
    _, allowed = await signed_in(app, [code])
    assert (await client.request(method, url, files=files, headers=allowed)).status_code == 200


# ------------------------------------------------------------------------- export --


async def test_xlsx_export_is_an_attachment_with_escaped_cells(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """§0 #14: text a spreadsheet would run as a formula is exported as escaped text."""
    _, headers = await superuser(app, username="exporter", name="Ex")

    async def build(db: AsyncSession) -> None:
        dept = await create_dept(db, code="sales")
        roles = [await create_role(db, code="ops"), await create_role(db, code="audit")]
        await create_user(db, username="f1", name='=HYPERLINK("http://x","y")', dept_id=dept.id,
                          roles=roles, phone="+86 100")  # fmt: skip
        await create_user(db, username="-f2", name="@SUM(A1)", email=None)

    await seed(app, build)
    response = await client.get(f"{USERS}/export", params={"format": "xlsx"}, headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == XLSX_MEDIA_TYPE
    assert response.headers["content-disposition"] == 'attachment; filename="users.xlsx"'
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    sheet = book.active
    assert sheet.title == "Users"
    rows = [[cell.value for cell in line] for line in sheet.iter_rows()]
    assert rows[0] == ["ID", "Username", "Name", "Email", "Phone", "Status", "Dept ID",
                       "Dept code", "Role codes", "Created at (UTC)"]  # fmt: skip
    by_name = {r[1]: r for r in rows[1:]}
    assert set(by_name) == {"exporter", "f1", "'-f2"}
    f1 = by_name["f1"]
    assert f1[2] == '\'=HYPERLINK("http://x","y")'
    assert (f1[4], f1[7], f1[8]) == ("'+86 100", "sales", "audit, ops")
    assert by_name["'-f2"][2:4] == ["'@SUM(A1)", None]
    assert isinstance(f1[9], datetime) and f1[9].tzinfo is None
    assert all(cell.data_type != "f" for line in sheet.iter_rows() for cell in line)
    assert b"argon2" not in response.content


async def test_xlsx_export_holds_exactly_the_lists_ids_for_a_scoped_caller(
    client: httpx.AsyncClient, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """§0 #3: a caller scoped to department A exports A's users only, across batches, the
    same set the list shows, also through filters."""
    monkeypatch.setattr(user_repo, "EXPORT_BATCH", 2)

    async def build(db: AsyncSession) -> tuple[int, int]:
        a, b = await create_dept(db, name="A"), await create_dept(db, name="B")
        for _ in range(4):
            await create_user(db, dept_id=a.id)
            await create_user(db, dept_id=b.id)
        return a.id, b.id

    dept_a, dept_b = await seed(app, build)
    _, headers = await signed_in(app, [USER_LIST, USER_EXPORT], data_scope="dept", dept_id=dept_a)
    for params in ({}, {"dept_id": dept_a}, {"dept_id": dept_b}, {"status": "active"}):
        listed = await client.get(USERS, params={**params, "page_size": 100}, headers=headers)
        expected = sorted(item["id"] for item in listed.json()["data"]["items"])
        exported = await client.get(
            f"{USERS}/export", params={**params, "format": "xlsx"}, headers=headers
        )
        ids = [line[0] for line in sheet_rows(exported)[1:]]
        assert ids == expected, params
    assert len(expected) == 5  # four users of A and the caller
    assert {line[6] for line in sheet_rows(exported)[1:]} == {dept_a}


async def test_an_unknown_export_format_is_a_422(client: httpx.AsyncClient, app: FastAPI) -> None:
    _, headers = await superuser(app)
    response = await client.get(f"{USERS}/export", params={"format": "xls"}, headers=headers)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "format"
    csv = await client.get(f"{USERS}/export", headers=headers)  # the default is unchanged
    assert csv.headers["content-type"].startswith("text/csv")


# ------------------------------------------------------------------------ template --


async def test_the_template_lists_the_import_columns_and_imports_as_empty(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    _, headers = await signed_in(app, [USER_IMPORT])
    response = await client.get(f"{USERS}/import-template", headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == XLSX_MEDIA_TYPE
    assert response.headers["content-disposition"] == (
        'attachment; filename="users-import-template.xlsx"'
    )
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    assert [c.value for c in book.worksheets[0][1]] == HEADER
    assert book.worksheets[0].max_row == 1
    assert [r[0] for r in book["Notes"].iter_rows(min_row=2, values_only=True)] == HEADER
    report = await upload(client, headers, response.content)
    assert report.status_code == 200
    empty = {"total": 0, "valid": 0, "invalid": 0, "created": 0, "errors": []}
    assert report.json()["data"] == {"dry_run": True, **empty, "errors_truncated": False}


# -------------------------------------------------------------------------- import --


async def test_a_dry_run_reports_every_bad_row_and_changes_nothing(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """Each row is checked by the rules of `POST /users`; the default is a dry run."""
    _, headers = await superuser(app, username="root")

    async def build(db: AsyncSession) -> None:
        await create_user(db, username="Taken", email="taken@example.com")
        await create_role(db, code="ops")

    await seed(app, build)
    before = await user_count(app)
    data = xlsx(
        row("good", email="good@example.com", phone=13800138000),  # 2
        row("x"),  # 3: username too short
        row("GOOD"),  # 4: same username as row 2, another case
        row("taken"),  # 5: exists in the database
        row("mail", email="TAKEN@example.com"),  # 6: email exists
        row("weakling", password="weakling-1"),  # 7: contains the username
        row("shorty", password="qz9"),  # 8: too short
        row("nodept", dept_code="nowhere", role_codes="ops, nobody"),  # 9
        [None] * len(HEADER),  # 10: blank, skipped
        row("state", status="paused", email="not-an-email"),  # 11
        row("noname", name=None),  # 12
    )
    response = await upload(client, headers, data, dry_run=None)
    assert response.status_code == 200, response.text
    report = response.json()["data"]
    assert (report["dry_run"], report["total"], report["valid"]) == (True, 10, 1)
    assert (report["invalid"], report["created"]) == (9, 0)
    found = {(e["row"], e["field"]) for e in report["errors"]}
    assert found == {
        (3, "username"), (4, "username"), (5, "username"), (6, "email"), (7, "password"),
        (8, "password"), (9, "dept_code"), (9, "role_codes"), (11, "status"), (11, "email"),
        (12, "name"),
    }  # fmt: skip
    messages = {(e["row"], e["field"]): e["message"] for e in report["errors"]}
    assert messages[(4, "username")] == "same as row 2"
    assert messages[(5, "username")] == "already exists"
    assert messages[(9, "role_codes")] == "no such role (code #2)"
    for value in (GOOD_PASSWORD, "weakling-1", "qz9", "nobody", "nowhere", "paused"):
        assert value not in response.text, value  # errors name fields, never values
    assert await user_count(app) == before


async def test_a_dry_run_reports_format_and_lookup_errors_of_a_row_in_one_pass(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """A row with a format error used to get its unknown department, roles and duplicates
    reported only after the format was fixed (a second dry run): now every problem of every
    row comes in the first report."""
    _, headers = await superuser(app, username="root")

    async def build(db: AsyncSession) -> None:
        await create_user(db, username="Taken", email="taken@example.com")
        await create_role(db, code="ops")

    await seed(app, build)
    data = xlsx(
        row("first", email="first@example.com"),  # 2
        row("taken", status="paused", dept_code="nowhere", role_codes="ops; nobody"),  # 3
        row("FIRST", email="bad-email", phone="call me"),  # 4: format + duplicate of row 2
        row("fine", email="TAKEN@example.com", name="x" * 200),  # 5: name + email exists
    )
    response = await upload(client, headers, data, dry_run=None)
    assert response.status_code == 200, response.text
    messages = {(e["row"], e["field"]): e["message"] for e in response.json()["data"]["errors"]}
    assert set(messages) == {
        (3, "status"), (3, "dept_code"), (3, "role_codes"), (3, "username"),
        (4, "email"), (4, "phone"), (4, "username"),
        (5, "name"), (5, "email"),
    }, messages  # fmt: skip
    assert messages[(3, "username")] == "already exists"
    assert messages[(3, "role_codes")] == "no such role (code #2)"
    assert messages[(4, "username")] == "same as row 2"
    assert messages[(5, "email")] == "already exists"


async def test_one_pass_reports_policy_and_assignability_with_format_errors(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """Issue 14 item 8: the password policy and what the caller may assign (department in
    scope, roles they may grant) used to wait for a row whose format was valid, and only the
    first assignability problem was named; now one dry run names every problem of every row,
    and the real import refuses exactly what the dry run reported."""

    async def build(db: AsyncSession) -> int:
        a = await create_dept(db, code="dept-a")
        await create_dept(db, code="dept-b")
        await create_role(db, code="viewer", permissions=[USER_LIST], data_scope="self")
        await create_role(db, code="deleter", permissions=[USER_DELETE], data_scope="self")
        await create_role(db, code="wide", permissions=[USER_LIST], data_scope="all")
        return a.id

    dept_a = await seed(app, build)
    _, headers = await signed_in(app, [USER_IMPORT, USER_LIST], data_scope="dept", dept_id=dept_a)
    rows = [
        row("okay", dept_code="dept-a", role_codes="viewer"),  # 2
        row("a b", dept_code="dept-a", password="qz9"),  # 3: format + policy
        row("four", phone="call me", dept_code="dept-b", role_codes="deleter"),  # 4
        row("five", status="paused", role_codes="wide"),  # 5: no department, wide role
        row("weakling", email="bad", dept_code="dept-a", password="weakling-mosaic-91"),  # 6
        row("seven", name="x" * 200, dept_code="nowhere", role_codes="deleter"),  # 7
        row("eight", dept_code="dept-a", role_codes="viewer; bad code!; nobody"),  # 8
        row("nine", dept_code="dept-b", role_codes="deleter", password="short"),  # 9
    ]
    before = await user_count(app)
    response = await upload(client, headers, xlsx(*rows))
    assert response.status_code == 200, response.text
    report = response.json()["data"]
    assert (report["total"], report["valid"], report["invalid"]) == (8, 1, 7)
    errors = [(e["row"], e["field"], e["message"]) for e in report["errors"]]
    scope, grant = "outside your data scope", "includes permissions you do not hold"
    policy = {(r, m) for r, f, m in errors if f == "password"}
    assert {(r, f) for r, f, _ in errors} == {
        (3, "username"), (3, "password"),
        (4, "phone"), (4, "dept_code"), (4, "role_codes"),
        (5, "status"), (5, "dept_code"), (5, "role_codes"),
        (6, "email"), (6, "password"),
        (7, "name"), (7, "dept_code"), (7, "role_codes"),
        (8, "role_codes"),
        (9, "password"), (9, "dept_code"), (9, "role_codes"),
    }, errors  # fmt: skip
    assert {(4, "dept_code", scope), (4, "role_codes", grant)} <= set(errors)
    assert {(5, "dept_code", scope), (7, "dept_code", "no such department")} <= set(errors)
    assert (5, "role_codes", "reaches data outside your own data scope") in errors
    assert {(7, "role_codes", grant), (9, "dept_code", scope), (9, "role_codes", grant)} <= set(
        errors
    )
    assert (8, "role_codes", "no such role (code #3)") in errors  # besides its format error
    assert len([e for e in errors if e[:2] == (8, "role_codes")]) == 2
    assert any(r == 3 and "at least" in m for r, m in policy)
    assert any(r == 6 and "user name" in m for r, m in policy)
    assert any(r == 9 and "at least" in m for r, m in policy)

    refused = await upload(client, headers, xlsx(*rows), dry_run=False)
    assert refused.status_code == 422, refused.text
    real = [(e["location"], e["field"], e["message"]) for e in refused.json()["errors"]]
    assert real == [(f"row {r}", f, m) for r, f, m in errors]
    assert await user_count(app) == before


async def test_an_import_creates_every_user_with_the_rules_of_create(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    _, headers = await superuser(app, username="root")

    async def build(db: AsyncSession) -> tuple[int, int, int]:
        dept = await create_dept(db, code="Sales")
        ops, audit = await create_role(db, code="ops"), await create_role(db, code="audit")
        return dept.id, ops.id, audit.id

    dept_id, ops, audit = await seed(app, build)
    data = xlsx(
        row("ann", email="ann@example.com", dept_code="sales", role_codes="OPS; audit"),
        row("ben", phone="+1 555 0100", status="disabled", password=OTHER_PASSWORD),
        row("'-cat", name="'+Cat"),  # an export's escaped cells import as their value
    )
    response = await upload(client, headers, data, dry_run=False)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["code"] == 201
    assert body["data"] == {"dry_run": False, "total": 3, "valid": 3, "invalid": 0,
                            "created": 3, "errors": [], "errors_truncated": False}  # fmt: skip
    assert GOOD_PASSWORD not in response.text
    hasher = PasswordHasher(app.state.settings)
    async with app.state.sessionmaker() as db:
        users = {u.username: u for u in (await db.execute(select(User))).scalars()}
        links = set((await db.execute(select(user_role.c.user_id, user_role.c.role_id))).all())
    ann, ben, cat = users["ann"], users["ben"], users["-cat"]
    assert (ann.dept_id, ann.email, ann.status) == (dept_id, "ann@example.com", "active")
    assert {(ann.id, ops), (ann.id, audit)} <= links
    assert (ben.status, ben.phone, ben.dept_id) == ("disabled", "+1 555 0100", None)
    assert cat.name == "+Cat"
    for user, password in ((ann, GOOD_PASSWORD), (ben, OTHER_PASSWORD)):
        assert user.password_hash.startswith("$argon2id$")
        assert await hasher.verify(user.password_hash, password)
        assert user.must_change_password and not user.is_superuser
    listed = await client.get(USERS, params={"username": "ann"}, headers=headers)
    assert listed.json()["data"]["items"][0]["role_ids"] == sorted([ops, audit])


async def test_a_real_import_with_one_bad_row_writes_nothing(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """All or nothing (ASVS 2.3.3): the errors come back in the error envelope."""
    _, headers = await superuser(app, username="root")
    before = await user_count(app)
    data = xlsx(row("fine1"), row("fine2"), row("bad", password="short"))
    response = await upload(client, headers, data, dry_run=False)
    assert response.status_code == 422
    body = response.json()
    assert body["data"] is None
    assert "nothing was written" in body["message"]
    assert [(e["location"], e["field"]) for e in body["errors"]] == [("row 4", "password")]
    assert "short" not in response.text.replace("must be at least", "")
    assert await user_count(app) == before


async def test_the_import_does_not_let_a_caller_grant_more_than_they_hold(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """§0 #4, ASVS 8.2.2: roles whose permissions or reach the caller lacks, and departments
    outside the caller's scope, are row errors; only the rest could be imported."""

    async def build(db: AsyncSession) -> tuple[int, int]:
        a, b = await create_dept(db, code="dept-a"), await create_dept(db, code="dept-b")
        await create_role(db, code="viewer", permissions=[USER_LIST], data_scope="self")
        await create_role(db, code="deleter", permissions=[USER_DELETE], data_scope="self")
        await create_role(db, code="wide", permissions=[USER_LIST], data_scope="all")
        return a.id, b.id

    dept_a, _ = await seed(app, build)
    _, headers = await signed_in(app, [USER_IMPORT, USER_LIST], data_scope="dept", dept_id=dept_a)
    rows = [
        row("okay", dept_code="dept-a", role_codes="viewer"),  # 2
        row("deleter", dept_code="dept-a", role_codes="deleter"),  # 3
        row("elsewhere", dept_code="dept-b", role_codes="viewer"),  # 4
        row("widened", dept_code="dept-a", role_codes="wide"),  # 5
        row("homeless"),  # 6: no department is outside a department scope
    ]
    report = (await upload(client, headers, xlsx(*rows))).json()["data"]
    assert report["valid"] == 1
    assert {(e["row"], e["field"], e["message"]) for e in report["errors"]} == {
        (3, "role_codes", "includes permissions you do not hold"),
        (4, "dept_code", "outside your data scope"),
        (5, "role_codes", "reaches data outside your own data scope"),
        (6, "dept_code", "outside your data scope"),
    }
    before = await user_count(app)
    refused = await upload(client, headers, xlsx(*rows), dry_run=False)
    assert refused.status_code == 422
    assert await user_count(app) == before
    accepted = await upload(client, headers, xlsx(rows[0]), dry_run=False)
    assert accepted.status_code == 201
    assert await user_count(app) == before + 1


# -------------------------------------------------------------------- hostile files --


async def test_more_rows_than_the_limit_is_a_413(
    client: httpx.AsyncClient, app: FastAPI, limits: Callable[..., None]
) -> None:
    _, headers = await superuser(app)
    limits(import_max_rows=3)
    response = await upload(client, headers, xlsx(*(row(f"user{i}") for i in range(5))))
    assert response.status_code == 413
    assert response.json()["message"] == "The file has more than 3 data rows; split it"
    assert (await upload(client, headers, xlsx(*(row(f"u{i}x") for i in range(3))))).is_success


async def test_a_file_over_the_byte_limit_is_a_413(
    client: httpx.AsyncClient, app: FastAPI, limits: Callable[..., None]
) -> None:
    """§0 #13: refused by its Content-Length, or by its size within the body."""
    _, headers = await superuser(app)
    data = xlsx(*(row(f"user{i}") for i in range(50)))
    limits(import_max_bytes=len(data) - 1)
    response = await upload(client, headers, data)
    assert response.status_code == 413
    assert response.json()["errors"][0]["field"] == "file"
    limits(import_max_bytes=1024)
    multipart = {**headers, "content-type": "multipart/form-data; boundary=b"}
    huge = await client.post(f"{USERS}/import", content=b"x" * (200 * 1024), headers=multipart)
    assert huge.status_code == 413

    async def chunked() -> AsyncIterator[bytes]:
        """No Content-Length, and a small file: only counting the body as it streams (a
        long epilogue after the last boundary) can refuse it."""
        yield b"--b\r\nContent-Disposition: form-data; name=file; filename=u.xlsx\r\n\r\n"
        yield b"tiny\r\n--b--\r\n"
        for _ in range(20):
            yield b"x" * (16 * 1024)

    streamed = await client.post(f"{USERS}/import", content=chunked(), headers=multipart)
    assert "content-length" not in streamed.request.headers
    assert streamed.status_code == 413


async def test_a_zip_bomb_is_refused(client: httpx.AsyncClient, app: FastAPI) -> None:
    """§0 #13: a ~1 MB upload that would inflate to 210 MB."""
    _, headers = await superuser(app)
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(xlsx(row("bomb")))) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as bomb,
    ):
        for info in source.infolist():
            bomb.writestr(info.filename, source.read(info.filename))
        with bomb.open("xl/media/zeros.bin", "w", force_zip64=True) as member:
            for _ in range(210):
                member.write(bytes(1024 * 1024))
    response = await upload(client, headers, out.getvalue(), dry_run=False)
    assert response.status_code == 413
    assert "zip bomb" in response.json()["message"]
    assert await user_count(app) == 1


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"username,name\nann,Ann\n", "text/csv"),
        (b"\x89PNG\r\n\x1a\n" + bytes(100), "image/png"),
        (b"", XLSX_MEDIA_TYPE),
    ],
)
async def test_a_file_that_is_not_xlsx_is_a_422(
    client: httpx.AsyncClient, app: FastAPI, content: bytes, content_type: str
) -> None:
    _, headers = await superuser(app)
    response = await client.post(
        f"{USERS}/import", files={"file": ("users.xlsx", content, content_type)}, headers=headers
    )
    assert response.status_code == 422
    assert response.json()["message"].startswith("The file is not an xlsx workbook")


async def test_a_missing_file_or_a_wrong_header_is_a_422_naming_it(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    _, headers = await superuser(app)
    no_file = await client.post(f"{USERS}/import", json={"file": "x"}, headers=headers)
    assert no_file.status_code == 422
    assert no_file.json()["errors"][0]["field"] == "file"
    other_field = await client.post(
        f"{USERS}/import", files={"upload": ("u.xlsx", xlsx(), XLSX_MEDIA_TYPE)}, headers=headers
    )
    assert other_field.status_code == 422
    wrong = await upload(client, headers, xlsx(row("ann"), header=HEADER[:-1]))
    assert wrong.status_code == 422
    assert wrong.json()["message"].startswith("Missing column: password")
    assert [e["field"] for e in wrong.json()["errors"]] == ["password"]


# --------------------------------------------------------------------- command line --


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "main.py", *args, "--env=test"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def cli_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    with temporary_database(tmp_path, "cli") as url:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TEST_", "PYTEST_"))}
        for name in ("REDIS_URL", "SECRET_KEY", "WORKERS", "APP_ENV"):
            env.pop(name, None)
        env.update(DATABASE_URL=url, DATA_DIR=str(tmp_path / "data"))
        assert cli("upgrade", env=env).returncode == 0
        yield env


def test_the_commands_import_then_export_users(cli_env: dict[str, str], tmp_path: Path) -> None:
    """`import-users` (dry run, refused, real) and `export-users`, as an operator."""
    source = tmp_path / "in.xlsx"
    source.write_bytes(xlsx(row("ann"), row("ben", password="bad")))
    refused = cli("import-users", str(source), env=cli_env)
    assert refused.returncode == 1
    assert "row 3, password: must be at least 8 characters" in refused.stderr
    assert "nothing was written" in refused.stderr and "bad" not in refused.stdout

    source.write_bytes(xlsx(row("ann"), row("'-ben", email="ben@example.com")))
    checked = cli("import-users", str(source), "--dry-run", env=cli_env)
    assert checked.returncode == 0, checked.stderr
    assert "checked 2 rows: 2 valid, 0 with errors, 0 users created" in checked.stdout
    imported = cli("import-users", str(source), env=cli_env)
    assert imported.returncode == 0, imported.stderr
    assert "2 users created" in imported.stdout
    again = cli("import-users", str(source), env=cli_env)
    assert again.returncode == 1
    assert "row 2, username: already exists" in again.stderr

    target = tmp_path / "out.xlsx"
    exported = cli("export-users", str(target), env=cli_env)
    assert exported.returncode == 0, exported.stderr
    assert f"exported 2 users to {target}" in exported.stdout
    # The progress bar, with the total known in advance (stderr; stdout is the result).
    assert "exported [" in exported.stderr and "2/2 users" in exported.stderr
    rows = list(openpyxl.load_workbook(target).active.iter_rows(min_row=2, values_only=True))
    assert sorted((r[1], r[3]) for r in rows) == [("'-ben", "ben@example.com"), ("ann", None)]
    assert not list(tmp_path.glob(".*.part"))
    assert cli("export-users", str(tmp_path / "out.csv"), env=cli_env).returncode == 2
