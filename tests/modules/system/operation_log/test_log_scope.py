"""The audit logs are "all data": reading, exporting or clearing the operation log or the
login log needs the data scope "all" as well as the permission.

Before, a department-scoped reader saw, in an operation's detail (its body and change
records), the e-mail, phone and remark of users they get 404 for. Entries cannot be sorted
by data scope reliably (a failed request has no change record, a deleted user no
department), so list, detail, export and clear all refuse scoped callers alike (403).
docs/security-checklist.md §0 #3 (list and export agree), §2 API1; ASVS 8.2.2.
docs/access-control.md,
"Audit logs".
"""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.modules.system.login_log.models import LoginLog
from app.modules.system.login_log.recorder import writer_for as login_writer
from app.modules.system.operation_log.models import OperationLog
from app.modules.system.operation_log.recorder import writer_for as operation_writer
from app.modules.system.permissions import (
    LOGIN_LOG_CLEAR,
    LOGIN_LOG_EXPORT,
    LOGIN_LOG_LIST,
    OPERATION_LOG_CLEAR,
    OPERATION_LOG_EXPORT,
    OPERATION_LOG_LIST,
    USER_READ,
)
from app.modules.system.user.models import User
from tests.modules.system.user.helpers import seed
from tests.support.identity import (
    DEFAULT_PASSWORD,
    auth_headers,
    create_dept,
    create_role,
    create_user,
)

LOG_CODES = [
    OPERATION_LOG_LIST,
    OPERATION_LOG_EXPORT,
    OPERATION_LOG_CLEAR,
    LOGIN_LOG_LIST,
    LOGIN_LOG_EXPORT,
    LOGIN_LOG_CLEAR,
    USER_READ,
]
OPS = "/api/v1/system/operation-logs"
LOGINS = "/api/v1/system/login-logs"
SECRET_EMAIL = "bravo.private@example.com"
SECRET_PHONE = "+15550001234"
SECRET_REMARK = "bravo-remark-xyz"


async def _flushed(app: FastAPI) -> tuple[int, int]:
    """Flush both log writers; the number of operation and login entries stored."""
    for writer in (operation_writer(app), login_writer(app)):
        assert writer is not None
        await writer.flush()
    async with app.state.sessionmaker() as db:
        ops = (await db.execute(select(func.count()).select_from(OperationLog))).scalar_one()
        logins = (await db.execute(select(func.count()).select_from(LoginLog))).scalar_one()
    return int(ops), int(logins)


@pytest.mark.parametrize("scope", ["dept", "dept_and_children", "custom", "self"])
async def test_scoped_readers_get_403_on_every_log_route_and_all_scope_readers_get_the_data(
    app: FastAPI, client: httpx.AsyncClient, scope: str
) -> None:
    async def build(db: AsyncSession) -> tuple[User, User, User, User]:
        alpha = await create_dept(db, name="Alpha")
        bravo = await create_dept(db, name="Bravo")
        scoped_role = await create_role(
            db, permissions=LOG_CODES, data_scope=scope, dept_ids=[alpha.id]
        )
        all_role = await create_role(db, permissions=LOG_CODES, data_scope="all")
        reader = await create_user(db, dept_id=alpha.id, roles=[scoped_role])
        auditor = await create_user(db, dept_id=alpha.id, roles=[all_role])
        root = await create_user(db, username="root", is_superuser=True)
        target = await create_user(db, username="bravo-user", dept_id=bravo.id)
        return reader, auditor, root, target

    reader, auditor, root, target = await seed(app, build)
    root_headers = await auth_headers(app, root)
    # An operation on B's user carrying their personal data, and a sign-in of that user.
    edited = await client.patch(
        f"/api/v1/system/users/{target.id}",
        json={"email": SECRET_EMAIL, "phone": SECRET_PHONE, "remark": SECRET_REMARK},
        headers={**root_headers, "X-Request-ID": "edit-bravo"},
    )
    assert edited.status_code == 200, edited.text
    login = await client.post(
        "/api/v1/auth/login", data={"username": "bravo-user", "password": DEFAULT_PASSWORD}
    )
    assert login.status_code == 200
    before = await _flushed(app)
    async with app.state.sessionmaker() as db:
        entry_id = (
            await db.execute(select(OperationLog.id).where(OperationLog.request_id == "edit-bravo"))
        ).scalar_one()

    headers = await auth_headers(app, reader)
    hidden = await client.get(f"/api/v1/system/users/{target.id}", headers=headers)
    assert hidden.status_code == 404
    for method, url, params in (
        ("GET", OPS, {}),
        ("GET", f"{OPS}/{entry_id}", {}),
        ("GET", f"{OPS}/export", {"format": "csv"}),
        ("DELETE", OPS, {}),
        ("GET", LOGINS, {}),
        ("GET", f"{LOGINS}/export", {"format": "csv"}),
        ("DELETE", LOGINS, {}),
    ):
        response = await client.request(method, url, params=params, headers=headers)
        assert response.status_code == 403, (method, url, response.status_code)
        for secret in (SECRET_EMAIL, SECRET_PHONE, SECRET_REMARK, "bravo-user"):
            assert secret not in response.text, (method, url, secret)
    # Nothing was cleared (the refusals themselves are recorded, so there may be more).
    after = await _flushed(app)
    assert after[0] >= before[0] and after[1] >= before[1]

    # A reader whose data scope is "all" reads the same routes: list, detail and export agree.
    auditor_headers = await auth_headers(app, auditor)
    detail = await client.get(f"{OPS}/{entry_id}", headers=auditor_headers)
    assert detail.status_code == 200
    assert SECRET_EMAIL in detail.text
    listed = await client.get(OPS, params={"user_id": root.id}, headers=auditor_headers)
    assert listed.status_code == 200
    assert entry_id in {item["id"] for item in listed.json()["data"]["items"]}
    exported = await client.get(
        f"{OPS}/export", params={"format": "csv", "user_id": root.id}, headers=auditor_headers
    )
    assert exported.status_code == 200
    assert "edit-bravo" in exported.text
    logins = await client.get(LOGINS, params={"username": "bravo-user"}, headers=auditor_headers)
    assert logins.status_code == 200
    assert logins.json()["data"]["items"]
