"""Users: CRUD through HTTP, the contract fields, validation, mass assignment, permissions.

Lists and export: `test_user_list.py`; sessions: `test_user_sessions.py`; data scope:
`test_user_scope.py`; anti-escalation: `test_user_escalation.py`.
"""

from __future__ import annotations

import asyncio

import argon2
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from app.modules.system.permissions import (
    USER_CREATE,
    USER_DELETE,
    USER_EXPORT,
    USER_LIST,
    USER_READ,
    USER_RESET_MFA,
    USER_RESET_PASSWORD,
    USER_UPDATE,
)
from app.modules.system.user.models import User
from tests.modules.system.user.helpers import (
    GOOD_PASSWORD,
    USER_FIELDS,
    USERS,
    add_position,
    secret_keys,
    seed,
    signed_in,
    stored_user,
    superuser,
)
from tests.support.identity import create_dept, create_role
from tests.support.identity import create_user as make_user

# ------------------------------------------------------------------------------- CRUD --


async def test_create_returns_the_contract_fields_and_stores_an_argon2id_hash(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """§0 #5 (no secret in the answer), §0 #10 (argon2id hash), ASVS 6.4.1."""
    _, headers = await superuser(app)

    async def build(db: AsyncSession) -> tuple[int, int, int, int]:
        dept = await create_dept(db)
        r1, r2 = await create_role(db), await create_role(db)
        return dept.id, r1.id, r2.id, (await add_position(db, "eng")).id

    dept_id, r1, r2, pos = await seed(app, build)
    body = {
        "username": "new.user",
        "name": "New User",
        "email": "new.user@example.com",
        "phone": "+86 138 0000 0000",
        "password": GOOD_PASSWORD,
        "dept_id": dept_id,
        "role_ids": [r2, r1, r2],
        "position_ids": [pos],
        "remark": "hired today",
    }
    response = await client.post(USERS, json=body, headers=headers)
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    assert set(data) == USER_FIELDS
    assert secret_keys(response.json()) == []
    assert data["username"] == "new.user"
    assert data["name"] == "New User"
    assert data["email"] == "new.user@example.com"
    assert data["phone"] == "+86 138 0000 0000"
    assert data["status"] == "active"
    assert data["is_superuser"] is False
    assert data["dept_id"] == dept_id
    assert data["role_ids"] == sorted([r1, r2])
    assert data["position_ids"] == [pos]
    assert data["must_change_password"] is True
    stored = await stored_user(app, data["id"])
    assert stored is not None
    assert stored.password_hash.startswith("$argon2id$")
    assert argon2.PasswordHasher().verify(stored.password_hash, GOOD_PASSWORD)
    got = await client.get(f"{USERS}/{data['id']}", headers=headers)
    assert got.status_code == 200
    assert got.json()["data"] == data


async def test_get_missing_user_is_404(client: httpx.AsyncClient, app: FastAPI) -> None:
    _, headers = await superuser(app)
    response = await client.get(f"{USERS}/999999", headers=headers)
    assert response.status_code == 404
    assert (await client.get(f"{USERS}/0", headers=headers)).status_code == 422


async def test_patch_changes_only_the_fields_sent(client: httpx.AsyncClient, app: FastAPI) -> None:
    _, headers = await superuser(app)

    async def build(db: AsyncSession) -> tuple[User, int, int, int]:
        dept = await create_dept(db)
        r1, r2 = await create_role(db), await create_role(db)
        user = await make_user(db, roles=[r1], dept_id=dept.id, phone="12345", remark="x")
        return user, r1.id, r2.id, (await add_position(db, "ops")).id

    user, r1, r2, pos = await seed(app, build)
    response = await client.patch(f"{USERS}/{user.id}", json={"name": "Renamed"}, headers=headers)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["name"] == "Renamed"
    assert (data["phone"], data["remark"], data["dept_id"]) == ("12345", "x", user.dept_id)
    assert data["role_ids"] == [r1]
    response = await client.patch(
        f"{USERS}/{user.id}",
        json={"role_ids": [r2], "position_ids": [pos], "phone": None, "email": "x@example.org"},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert (data["role_ids"], data["position_ids"]) == ([r2], [pos])
    assert (data["phone"], data["email"], data["name"]) == (None, "x@example.org", "Renamed")
    assert secret_keys(response.json()) == []
    null_name = await client.patch(f"{USERS}/{user.id}", json={"name": None}, headers=headers)
    assert null_name.status_code == 422
    assert null_name.json()["errors"][0]["field"] == "name"


async def test_delete_is_204_and_then_404(client: httpx.AsyncClient, app: FastAPI) -> None:
    _, headers = await superuser(app)
    user = await seed(app, lambda db: make_user(db))
    response = await client.delete(f"{USERS}/{user.id}", headers=headers)
    assert response.status_code == 204
    assert response.content == b""
    assert await stored_user(app, user.id) is None
    assert (await client.get(f"{USERS}/{user.id}", headers=headers)).status_code == 404
    assert (await client.delete(f"{USERS}/{user.id}", headers=headers)).status_code == 404


async def test_no_answer_carries_a_secret(client: httpx.AsyncClient, app: FastAPI) -> None:
    """§0 #5: recursive key scan over every user endpoint's JSON."""
    _, headers = await superuser(app)
    user = await seed(app, lambda db: make_user(db, mfa_secret="enc:SEED", mfa_enabled=True))
    bodies = [
        (await client.get(USERS, headers=headers)).json(),
        (await client.get(f"{USERS}/{user.id}", headers=headers)).json(),
        (await client.patch(f"{USERS}/{user.id}", json={"name": "N"}, headers=headers)).json(),
    ]
    for body in bodies:
        assert body["code"] == 200
        assert secret_keys(body) == [], body
        assert "SEED" not in str(body)
    reset = (await client.post(f"{USERS}/{user.id}/reset-password", headers=headers)).json()
    assert secret_keys(reset, allow_password=True) == []
    assert set(reset["data"]) == {"password", "must_change_password"}


# ------------------------------------------------------------------------- validation --


@pytest.mark.parametrize(
    "password", ["password123", "Password1!", "12345678", "qwertyuiop", "Zq9!x"]
)
async def test_weak_password_is_422_naming_password(
    client: httpx.AsyncClient, app: FastAPI, password: str
) -> None:
    """ASVS 6.2.1, 6.2.4: short and common passwords are refused at creation."""
    _, headers = await superuser(app)
    body = {"username": "weakling", "name": "Weak", "password": password}
    response = await client.post(USERS, json=body, headers=headers)
    assert response.status_code == 422
    assert {e["field"] for e in response.json()["errors"]} == {"password"}
    assert password not in response.text  # never echoed
    assert (await client.get(USERS, headers=headers)).json()["data"]["total"] == 1


async def test_password_with_the_username_is_422(client: httpx.AsyncClient, app: FastAPI) -> None:
    """ASVS 6.2.11: context words (username, name, email local part) are refused."""
    _, headers = await superuser(app)
    for body in (
        {"username": "kowalski", "name": "K", "password": "kowalski-velvet-77"},
        {"username": "kw1", "name": "Zebediah", "password": "zebediah-velvet-77"},
        {"username": "kw2", "name": "K", "email": "marmaduke@x.io", "password": "Marmaduke#velvet"},
    ):
        response = await client.post(USERS, json=body, headers=headers)
        assert response.status_code == 422, body
        assert response.json()["errors"][0]["field"] == "password"


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"username": "ab"}, "username"),
        ({"username": "has space"}, "username"),
        ({"username": "x" * 65}, "username"),
        ({"username": "semi;colon"}, "username"),
        ({"email": "not-an-email"}, "email"),
        ({"email": "a@b"}, "email"),
        ({"phone": "call me"}, "phone"),
        ({"status": "locked"}, "status"),
        ({"name": ""}, "name"),
        ({"name": "line\nbreak"}, "name"),
        ({"dept_id": 0}, "dept_id"),
        ({"role_ids": [0]}, "role_ids.0"),
        ({"remark": "r" * 501}, "remark"),
    ],
)
async def test_create_validation_names_the_field(
    client: httpx.AsyncClient, app: FastAPI, patch: dict[str, object], field: str
) -> None:
    _, headers = await superuser(app)
    body = {"username": "valid_user", "name": "Valid", "password": GOOD_PASSWORD, **patch}
    response = await client.post(USERS, json=body, headers=headers)
    assert response.status_code == 422
    assert field in {e["field"] for e in response.json()["errors"]}


async def test_duplicate_username_or_email_is_409_naming_it(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """Usernames and emails are compared without case on every database."""
    _, headers = await superuser(app)
    await seed(app, lambda db: make_user(db, username="taken", email="taken@example.com"))
    for body, field in (
        ({"username": "TAKEN", "name": "A", "password": GOOD_PASSWORD}, "username"),
        (
            {
                "username": "free",
                "name": "A",
                "password": GOOD_PASSWORD,
                "email": "Taken@Example.com",
            },
            "email",
        ),
    ):
        response = await client.post(USERS, json=body, headers=headers)
        assert response.status_code == 409
        assert response.json()["errors"][0]["field"] == field
    other = await seed(app, lambda db: make_user(db, email="other@example.com"))
    response = await client.patch(
        f"{USERS}/{other.id}", json={"email": "TAKEN@example.com"}, headers=headers
    )
    assert response.status_code == 409
    assert response.json()["errors"][0]["field"] == "email"


@pytest.mark.parametrize(
    ("field", "value"),
    [("dept_id", 987654), ("role_ids", [987654]), ("position_ids", [987654])],
)
async def test_unknown_reference_is_422_naming_the_field(
    client: httpx.AsyncClient, app: FastAPI, field: str, value: object
) -> None:
    _, headers = await superuser(app)
    body = {"username": "refs", "name": "R", "password": GOOD_PASSWORD, field: value}
    response = await client.post(USERS, json=body, headers=headers)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == field
    user = await seed(app, lambda db: make_user(db))
    response = await client.patch(f"{USERS}/{user.id}", json={field: value}, headers=headers)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == field


@pytest.mark.parametrize(
    "extra",
    [
        {"is_superuser": True},
        {"password_hash": "$argon2id$x"},
        {"mfa_secret": "x"},
        {"id": 1},
        {"version": 9},
        {"created_by": 1},
    ],
)
async def test_mass_assignment_on_create_is_422(
    client: httpx.AsyncClient, app: FastAPI, extra: dict[str, object]
) -> None:
    """§0 #4, ASVS 15.3.3."""
    _, headers = await superuser(app)
    body = {"username": "mass", "name": "M", "password": GOOD_PASSWORD, **extra}
    response = await client.post(USERS, json=body, headers=headers)
    assert response.status_code == 422
    assert next(iter(extra)) in {e["field"] for e in response.json()["errors"]}


@pytest.mark.parametrize(
    "extra",
    [
        {"is_superuser": True},
        {"password_hash": "$argon2id$x"},
        {"username": "renamed"},
        {"password": GOOD_PASSWORD},
        {"must_change_password": False},
        {"mfa_enabled": False},
        {"version": 0},  # a precondition (optimistic lock), never stored; 0 is impossible
    ],
)
async def test_mass_assignment_on_patch_is_422_and_changes_nothing(
    client: httpx.AsyncClient, app: FastAPI, extra: dict[str, object]
) -> None:
    """§0 #4, ASVS 15.3.3: privileged fields are refused, even next to a legal one."""
    _, headers = await superuser(app)
    user = await seed(app, lambda db: make_user(db, name="Before"))
    response = await client.patch(
        f"{USERS}/{user.id}", json={"name": "After", **extra}, headers=headers
    )
    assert response.status_code == 422
    assert next(iter(extra)) in {e["field"] for e in response.json()["errors"]}
    stored = await stored_user(app, user.id)
    assert stored is not None
    assert (stored.name, stored.username, stored.is_superuser) == ("Before", user.username, False)
    assert stored.password_hash == user.password_hash


# ------------------------------------------------------------------------ permissions --


ROUTES = [
    ("GET", USERS, USER_LIST),
    ("GET", f"{USERS}/export", USER_EXPORT),
    ("GET", f"{USERS}/{{id}}", USER_READ),
    ("POST", USERS, USER_CREATE),
    ("PATCH", f"{USERS}/{{id}}", USER_UPDATE),
    ("DELETE", f"{USERS}/{{id}}", USER_DELETE),
    ("POST", f"{USERS}/{{id}}/reset-password", USER_RESET_PASSWORD),
    ("DELETE", f"{USERS}/{{id}}/mfa", USER_RESET_MFA),
]


@pytest.mark.parametrize(("method", "path", "code"), ROUTES)
async def test_each_route_needs_its_permission(
    client: httpx.AsyncClient, app: FastAPI, method: str, path: str, code: str
) -> None:
    """§0 #1, #2: 401 without a token; 403 holding every user permission but this one."""
    target = await seed(app, lambda db: make_user(db))
    url = path.format(id=target.id)
    kwargs: dict[str, object] = {}
    if method == "POST" and url == USERS:
        kwargs = {"json": {"username": "someone", "name": "S", "password": GOOD_PASSWORD}}
    elif method == "PATCH":
        kwargs = {"json": {"name": "S"}}
    anonymous = await client.request(method, url, **kwargs)  # type: ignore[arg-type]
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == "Bearer"
    others = [c for _, _, c in ROUTES if c != code]
    _, headers = await signed_in(app, others)
    denied = await client.request(method, url, headers=headers, **kwargs)  # type: ignore[arg-type]
    assert denied.status_code == 403
    assert code in denied.json()["message"]
    _, allowed_headers = await signed_in(app, [code])
    allowed = await client.request(method, url, headers=allowed_headers, **kwargs)  # type: ignore[arg-type]
    assert allowed.status_code in (200, 201, 204), allowed.text


async def test_concurrent_creates_of_one_username_give_one_201(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """§0 #18 (F17): exactly one 201; the others 409 naming `username`; no 5xx."""
    _, headers = await superuser(app)
    body = {"username": "racer", "name": "Racer", "password": GOOD_PASSWORD}
    responses = await asyncio.gather(
        *(client.post(USERS, json=body, headers=headers) for _ in range(8))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 7, statuses
    for response in responses:
        if response.status_code == 409:
            assert response.json()["errors"][0]["field"] == "username"
