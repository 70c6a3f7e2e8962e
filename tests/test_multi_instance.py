"""Two real app processes, A and B, on two ports, sharing one database and one Redis
(docs/security-checklist.md §6, §0 #8, #20).

Each process has its own memory; only the database, Redis and (for files) the object store
are shared. Requests alternate between A and B deterministically, so a state kept in one
process's memory would show as a wrong answer on the other. One pair serves the whole module
(starting processes is the expensive part); it runs with `CAPTCHA_MODE=always`, so every
sign-in also proves that a captcha issued by one process is accepted by the other, with JSON
access logs at INFO, and with S3 file storage (moto's server as the object store) and a
separate local `FILE_DIR` per process. Every answer is checked like the in-process client
checks it (envelope, no secret keys) and counted for the fault figures
(`tests/support/fault_stats.py`).

The empty-database start of two processes is in `test_multi_instance_startup.py`; the
scheduler across processes in `tests/modules/scheduler/test_multi_process.py`.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import itertools
import json
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import boto3
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from app.core.config import Settings
from app.core.security.captcha import KEY_PREFIX as CAPTCHA_KEY_PREFIX
from app.modules.files.permissions import FILE_READ, FILE_UPLOAD
from app.modules.monitor.permissions import SESSION_DELETE, SESSION_LIST
from app.modules.system.permissions import DICT_LIST, PARAM_LIST
from app.modules.system.position.models import Position
from tests.conftest import check_envelope
from tests.support import fault_stats
from tests.support.databases import TEST_REDIS_URL
from tests.support.identity import (
    DEFAULT_PASSWORD,
    create_dept,
    create_role,
    create_user,
    menu_for,
)
from tests.support.instances import Instance, running_pair
from tests.support.startup import shared_fixture
from tests.support.tcp_proxy import free_port

pytestmark = pytest.mark.skipif(
    not TEST_REDIS_URL,
    reason="several processes share sessions, throttles and captchas only through Redis "
    "(set TEST_REDIS_URL); the lite shape (no Redis) is one process by design",
)

API = "/api/v1"
S3_CREDENTIALS = {"S3_ACCESS_KEY": "testing-key", "S3_SECRET_KEY": "testing-secret"}
NEW_PASSWORD = "a completely different passphrase"
IP_LIMIT = 120  # requests per client address per hour, on the pair
_addresses = itertools.count(1)


def new_address() -> str:
    """A client address of its own (from 198.18.0.0/15, the range reserved for tests)."""
    return str(ipaddress.IPv4Address("198.18.0.0") + next(_addresses))


# ------------------------------------------------------------------------------ fixtures --
@shared_fixture("moto's S3 server with a bucket", scope="module")
def s3_bucket() -> Iterator[dict[str, str]]:
    """moto's S3 server on a free local port with one fresh bucket, as settings (env names)."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    bucket = f"multi-{uuid.uuid4().hex[:12]}"
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=S3_CREDENTIALS["S3_ACCESS_KEY"],
        aws_secret_access_key=S3_CREDENTIALS["S3_SECRET_KEY"],
    ).create_bucket(Bucket=bucket)
    try:
        yield {
            "FILE_STORAGE": "s3",
            "S3_BUCKET": bucket,
            "S3_ENDPOINT_URL": endpoint,
            "S3_REGION": "us-east-1",
            **S3_CREDENTIALS,
        }
    finally:
        server.stop()


@shared_fixture("two app processes", scope="module")
def pair(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory, s3_bucket: dict[str, str]
) -> Iterator[tuple[Instance, Instance]]:
    env = {
        **s3_bucket,
        "CAPTCHA_MODE": "always",
        "LOG_LEVEL": "INFO",
        "LOG_FORMAT": "json",
        # The id test sends 100 concurrent creates to each process: it is about ids, not
        # about pool sizing (pool exhaustion has its own test, F6).
        "DB_POOL_TIMEOUT": "15",
        # Behind a proxy: each test is a client address of its own (X-Forwarded-For, several
        # for the bulk tests), with a per-IP limit no other test reaches (hourly windows: a
        # test never straddles one, see `test_api_rate_limit_is_shared`).
        "TRUSTED_PROXIES": "127.0.0.1/32",
        "RATE_LIMIT_ENABLED": "true",
        "RATE_LIMIT_PER_IP": f"{IP_LIMIT}/hour",
        "RATE_LIMIT_PER_USER": "100000/hour",
    }
    with running_pair(settings, tmp_path_factory.mktemp("pair"), env) as instances:
        yield instances


class Traffic:
    """The test's HTTP traffic to the pair, from one client address of its own (sent as
    `X-Forwarded-For` through the trusted local proxy): every answer is checked (the envelope,
    no secret keys) and counted; `label` names the scenario in the fault figures."""

    def __init__(self, app: FastAPI, pair: tuple[Instance, Instance], http: httpx.AsyncClient):
        self.app = app
        self.a, self.b = pair
        self.http = http
        self.address = new_address()
        self.label = ""
        self.sent = 0
        self.server_errors = 0

    def other(self, instance: Instance) -> Instance:
        return self.b if instance is self.a else self.a

    async def request(
        self,
        instance: Instance,
        method: str,
        path: str,
        token: str | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        headers = {"X-Forwarded-For": self.address, **kwargs.pop("headers", {})}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        response = await self.http.request(
            method, instance.base + API + path, headers=headers, **kwargs
        )
        self.sent += 1
        self.server_errors += response.status_code >= 500
        check_envelope(response)
        return response

    async def status(self, instance: Instance, method: str, path: str, token: str) -> int:
        return (await self.request(instance, method, path, token)).status_code

    async def captcha(self, instance: Instance) -> tuple[str, str]:
        """A captcha issued by `instance`, and its answer (read from the shared cache, as a
        person would read the image)."""
        response = await self.request(instance, "GET", "/auth/captcha")
        assert response.status_code == 200, response.text
        captcha_id: str = response.json()["data"]["captcha_id"]
        answer = await self.app.state.cache.get(CAPTCHA_KEY_PREFIX + captcha_id)
        assert answer is not None
        return captcha_id, answer.decode()

    async def login(
        self, instance: Instance, username: str, password: str = DEFAULT_PASSWORD
    ) -> httpx.Response:
        """Sign in on `instance` with a captcha issued by the other process."""
        captcha_id, answer = await self.captcha(self.other(instance))
        return await self.request(
            instance,
            "POST",
            "/auth/login",
            data={
                "username": username,
                "password": password,
                "captcha_id": captcha_id,
                "captcha_code": answer,
            },
        )

    async def tokens(self, instance: Instance, username: str) -> tuple[str, str]:
        """(access token, refresh token) of a new session opened on `instance`."""
        response = await self.login(instance, username)
        assert response.status_code == 200, response.text
        body = response.json()
        return body["access_token"], body["refresh_token"]

    async def refresh(self, instance: Instance, refresh_token: str) -> int:
        response = await self.request(
            instance, "POST", "/auth/refresh", json={"refresh_token": refresh_token}
        )
        return response.status_code


@pytest.fixture
async def traffic(app: FastAPI, pair: tuple[Instance, Instance]) -> AsyncIterator[Traffic]:
    for instance in pair:
        assert instance.running, f"an app process died:\n{instance.log()[-3000:]}"
    # Idle connections are dropped well before the server's 5 s keep-alive ends: reusing one
    # the server is closing at that moment is a client-side ReadError, not an app failure.
    limits = httpx.Limits(max_connections=250, max_keepalive_connections=50, keepalive_expiry=1)
    async with httpx.AsyncClient(timeout=30, limits=limits) as http:
        seen = Traffic(app, pair, http)
        try:
            yield seen
        finally:
            fault_stats.record(
                f"§6 {seen.label}", requests=seen.sent, server_errors=seen.server_errors
            )


async def make_users(app: FastAPI, *names: str, permissions: tuple[str, ...] = ()) -> list[int]:
    """Users with one role granting `permissions` (none: no role), password DEFAULT_PASSWORD."""
    async with app.state.sessionmaker() as db, db.begin():
        roles = [await create_role(db, permissions=permissions)] if permissions else []
        users = [await create_user(db, username=name, roles=roles) for name in names]
        return [user.id for user in users]


async def make_superuser(app: FastAPI, traffic: Traffic, instance: Instance) -> str:
    async with app.state.sessionmaker() as db, db.begin():
        await create_user(db, username="root", is_superuser=True)
    access, _ = await traffic.tokens(instance, "root")
    return access


# ------------------------------------------------------------------ sessions and tokens --
async def test_logout_on_a_ends_the_access_and_refresh_tokens_on_b(
    app: FastAPI, traffic: Traffic
) -> None:
    """docs/security-checklist.md §0 #8, §6 "token denylist / logout", ASVS 7.4.1: log out on A; the
    access
    token is 401 on B at once, and its refresh token is refused on B."""
    traffic.label = "logout on A, token and refresh on B"
    a, b = traffic.a, traffic.b
    await make_users(app, "alice")
    access, refresh = await traffic.tokens(a, "alice")
    assert await traffic.status(b, "GET", "/auth/me", access) == 200  # B knows the session
    assert await traffic.status(a, "POST", "/auth/logout", access) == 204
    assert await traffic.status(b, "GET", "/auth/me", access) == 401
    assert await traffic.status(a, "GET", "/auth/me", access) == 401
    assert await traffic.refresh(b, refresh) == 401
    assert await traffic.refresh(a, refresh) == 401


async def test_password_change_on_a_ends_the_other_sessions_on_b(
    app: FastAPI, traffic: Traffic
) -> None:
    """docs/security-checklist.md §0 #8, ASVS 7.4.3: the password changed through a session on A
    ends the
    user's session opened on B (access and refresh), keeps the current one, and B checks the
    new password."""
    traffic.label = "password change on A, sessions on B"
    a, b = traffic.a, traffic.b
    await make_users(app, "alice")
    current, _ = await traffic.tokens(a, "alice")
    other, other_refresh = await traffic.tokens(b, "alice")
    assert await traffic.status(b, "GET", "/auth/me", other) == 200
    changed = await traffic.request(
        a,
        "PUT",
        "/auth/me/password",
        current,
        json={"current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert changed.status_code == 204, changed.text
    assert await traffic.status(b, "GET", "/auth/me", other) == 401
    assert await traffic.refresh(b, other_refresh) == 401
    assert await traffic.status(b, "GET", "/auth/me", current) == 200  # the one that changed it
    assert (await traffic.login(b, "alice")).status_code == 401
    assert (await traffic.login(b, "alice", NEW_PASSWORD)).status_code == 200


async def test_disabling_an_account_on_a_ends_its_sessions_on_b(
    app: FastAPI, traffic: Traffic
) -> None:
    """docs/security-checklist.md §0 #8, ASVS 7.4.2: an admin disables the user on A; the user's
    token and
    refresh token opened on B are refused on B at once, and B refuses the sign-in."""
    traffic.label = "account disabled on A, sessions on B"
    a, b = traffic.a, traffic.b
    (alice,) = await make_users(app, "alice")
    admin = await make_superuser(app, traffic, a)
    access, refresh = await traffic.tokens(b, "alice")
    assert await traffic.status(b, "GET", "/auth/me", access) == 200
    disabled = await traffic.request(
        a, "PATCH", f"/system/users/{alice}", admin, json={"status": "disabled"}
    )
    assert disabled.status_code == 200, disabled.text
    assert await traffic.status(b, "GET", "/auth/me", access) == 401
    assert await traffic.refresh(b, refresh) == 401
    assert (await traffic.login(b, "alice")).status_code == 401


async def test_disabling_a_department_on_a_ends_its_users_sessions_on_b(
    app: FastAPI, traffic: Traffic
) -> None:
    """docs/security-checklist.md §0 #8, ASVS 7.4.2 (docs/access-control.md, "Departments"): an
    admin
    disables a department on A; the token and refresh token of a user of a department below
    it, opened on B, are refused on B at once, and B refuses the sign-in; enabled again on
    A, B lets the user sign in."""
    traffic.label = "department disabled on A, sessions on B"
    a, b = traffic.a, traffic.b
    async with app.state.sessionmaker() as db, db.begin():
        parent = await create_dept(db, name="Parent")
        child = await create_dept(db, name="Child", parent=parent)
        await create_user(db, username="alice", dept_id=child.id)
        parent_id = parent.id
    admin = await make_superuser(app, traffic, a)
    access, refresh = await traffic.tokens(b, "alice")
    assert await traffic.status(b, "GET", "/auth/me", access) == 200
    disabled = await traffic.request(
        a, "PATCH", f"/system/depts/{parent_id}", admin, json={"status": "disabled"}
    )
    assert disabled.status_code == 200, disabled.text
    assert await traffic.status(b, "GET", "/auth/me", access) == 401
    assert await traffic.refresh(b, refresh) == 401
    assert (await traffic.login(b, "alice")).status_code == 401
    enabled = await traffic.request(
        a, "PATCH", f"/system/depts/{parent_id}", admin, json={"status": "active"}
    )
    assert enabled.status_code == 200, enabled.text
    assert (await traffic.login(b, "alice")).status_code == 200


async def test_permission_and_role_changes_on_a_apply_on_b_within_a_second(
    app: FastAPI, traffic: Traffic
) -> None:
    """docs/security-checklist.md §6 "permission / menu cache diverges", §0 #8 (role change), ASVS
    8.3.2:
    remove permission X from role R on A; within 1 s B answers 403 to a holder of R (whose
    principal B has cached); then take the role away from the user on A: B refuses the
    remaining permission too. The pass criterion is 1 s; the design makes it the next
    request (versions are read from Redis on every request)."""
    traffic.label = "permission revoked on A, 403 on B"
    a, b = traffic.a, traffic.b
    async with app.state.sessionmaker() as db, db.begin():
        role = await create_role(db, permissions=[PARAM_LIST, DICT_LIST])
        keep = (await menu_for(db, DICT_LIST)).id
        user = await create_user(db, username="alice", roles=[role])
        role_id, user_id = role.id, user.id
    admin = await make_superuser(app, traffic, a)
    access, _ = await traffic.tokens(a, "alice")
    for instance in (a, b, a, b):  # both processes have built and memoised the principal
        assert await traffic.status(instance, "GET", "/system/params", access) == 200

    revoked = await traffic.request(
        a, "PATCH", f"/system/roles/{role_id}", admin, json={"menu_ids": [keep]}
    )
    assert revoked.status_code == 200, revoked.text
    deadline = time.monotonic() + 1.0
    while (status := await traffic.status(b, "GET", "/system/params", access)) != 403:
        assert status == 200, status
        assert time.monotonic() < deadline, "B still grants the revoked permission after 1 s"
    assert await traffic.status(a, "GET", "/system/params", access) == 403
    assert await traffic.status(b, "GET", "/system/dict-types", access) == 200

    moved = await traffic.request(
        a, "PATCH", f"/system/users/{user_id}", admin, json={"role_ids": []}
    )
    assert moved.status_code == 200, moved.text
    deadline = time.monotonic() + 1.0
    while (status := await traffic.status(b, "GET", "/system/dict-types", access)) != 403:
        assert status == 200, status
        assert time.monotonic() < deadline, "B still grants the removed role after 1 s"


async def test_online_list_shows_sessions_of_both_and_force_logout_ends_both(
    app: FastAPI, traffic: Traffic
) -> None:
    """docs/security-checklist.md §6 "online-users list / force logout", ASVS 7.4.5: a user signed
    in
    through A and through B is listed twice, by either process; forcing each session out
    (one through A, one through B) ends both tokens on both processes."""
    traffic.label = "online list and force logout across A and B"
    a, b = traffic.a, traffic.b
    await make_users(app, "alice")
    await make_users(app, "auditor", permissions=(SESSION_LIST, SESSION_DELETE))
    via_a, _ = await traffic.tokens(a, "alice")
    via_b, _ = await traffic.tokens(b, "alice")
    admin, _ = await traffic.tokens(b, "auditor")
    listed: dict[int, list[str]] = {}
    for instance in (a, b):
        response = await traffic.request(
            instance, "GET", "/monitor/sessions", admin, params={"username": "alice"}
        )
        assert response.status_code == 200, response.text
        items = response.json()["data"]["items"]
        listed[instance.port] = sorted(item["session_id"] for item in items)
        assert all(item["username"] == "alice" for item in items)
    assert listed[a.port] == listed[b.port]
    assert len(listed[a.port]) == 2

    for instance, session_id in zip((a, b), listed[a.port], strict=True):
        assert (
            await traffic.status(instance, "DELETE", f"/monitor/sessions/{session_id}", admin)
            == 204
        )
    for token in (via_a, via_b):
        for instance in (a, b):
            assert await traffic.status(instance, "GET", "/auth/me", token) == 401
    left = await traffic.request(a, "GET", "/monitor/sessions", admin, params={"username": "alice"})
    assert left.json()["data"]["items"] == []


async def test_login_throttle_is_shared(app: FastAPI, traffic: Traffic, settings: Settings) -> None:
    """docs/security-checklist.md §6 "rate limits and login throttles multiply by N", §0 #20:
    failures spread
    over A and B trip the one shared (account, IP) lock on both."""
    traffic.label = "login throttle across A and B"
    await make_users(app, "alice")
    statuses = [
        (await traffic.login((traffic.a, traffic.b)[n % 2], "alice", "wrong password!")).status_code
        for n in range(settings.login_max_failures)
    ]
    assert statuses == [401] * settings.login_max_failures
    assert (await traffic.login(traffic.a, "alice")).status_code == 429
    assert (await traffic.login(traffic.b, "alice")).status_code == 429


async def test_captcha_issued_on_a_is_accepted_once_on_b(app: FastAPI, traffic: Traffic) -> None:
    """docs/security-checklist.md §6 "captcha, OTP, reset codes stored in memory", ASVS 6.1.1: a
    captcha
    issued by A passes a sign-in on B exactly once: a second use fails on B and on A, and a
    wrong answer on B spends the captcha for A as well."""
    traffic.label = "captcha issued on A, verified on B"
    a, b = traffic.a, traffic.b
    await make_users(app, "alice")

    async def login(instance: Instance, captcha_id: str, answer: str) -> httpx.Response:
        form = {"username": "alice", "password": DEFAULT_PASSWORD}
        form |= {"captcha_id": captcha_id, "captcha_code": answer}
        return await traffic.request(instance, "POST", "/auth/login", data=form)

    captcha_id, answer = await traffic.captcha(a)
    assert (await login(b, captcha_id, answer)).status_code == 200
    for instance in (b, a):
        again = await login(instance, captcha_id, answer)
        assert again.status_code == 400
        assert again.json()["errors"][0]["field"] == "captcha_code"

    captcha_id, answer = await traffic.captcha(a)
    wrong = "".join("A" if c != "A" else "C" for c in answer)
    assert (await login(b, captcha_id, wrong)).status_code == 400
    assert (await login(a, captcha_id, answer)).status_code == 400
    # Without a captcha the sign-in is refused on both (CAPTCHA_MODE=always).
    for instance in (a, b):
        bare = await traffic.request(
            instance,
            "POST",
            "/auth/login",
            data={"username": "alice", "password": DEFAULT_PASSWORD},
        )
        assert bare.status_code == 400


# ----------------------------------------------------------------- configuration caches --
async def test_parameter_and_dictionary_edits_on_a_show_on_b_next_request(
    app: FastAPI, traffic: Traffic
) -> None:
    """docs/security-checklist.md §6 "in-memory config and feature flags / dictionary cache": the
    documented
    bound is the next request (versions in Redis, `param/reader.py`, `dict/cache.py`).

    Parameter: `login.max_failures` lowered to 2 on A after B has read it; B then locks the
    (account, IP) pair after two failures instead of five. Dictionary: an item added and a
    label edited on A are served by B's (warm) public read at once; a type disabled on A is
    404 on B."""
    traffic.label = "parameter and dictionary edits on A, read on B"
    a, b = traffic.a, traffic.b
    await make_users(app, "alice", "bob")
    admin = await make_superuser(app, traffic, a)

    created = await traffic.request(
        a,
        "POST",
        "/system/params",
        admin,
        json={"key": "login.max_failures", "name": "Lockout", "value": "5", "value_type": "int"},
    )
    assert created.status_code == 201, created.text
    param = created.json()["data"]
    assert (await traffic.login(b, "bob", "wrong password!")).status_code == 401  # B reads 5
    edited = await traffic.request(
        a, "PATCH", f"/system/params/{param['id']}", admin, json={"value": "2"}
    )
    assert edited.status_code == 200, edited.text
    assert [(await traffic.login(b, "alice", "wrong password!")).status_code for _ in "12"] == [
        401,
        401,
    ]
    assert (await traffic.login(b, "alice")).status_code == 429

    user, _ = await traffic.tokens(b, "bob")
    dict_type = await traffic.request(
        a, "POST", "/system/dict-types", admin, json={"name": "Colour", "code": "colour"}
    )
    assert dict_type.status_code == 201, dict_type.text
    item = await traffic.request(
        a,
        "POST",
        "/system/dict-data",
        admin,
        json={"type_code": "colour", "label": "Red", "value": "red", "sort": 1},
    )
    assert item.status_code == 201, item.text

    async def labels(instance: Instance) -> list[str]:
        response = await traffic.request(instance, "GET", "/system/dicts/colour", user)
        assert response.status_code == 200, response.text
        return [entry["label"] for entry in response.json()["data"]]

    assert await labels(b) == ["Red"]
    assert await labels(b) == ["Red"]  # warm on B
    added = await traffic.request(
        a,
        "POST",
        "/system/dict-data",
        admin,
        json={"type_code": "colour", "label": "Green", "value": "green", "sort": 2},
    )
    assert added.status_code == 201, added.text
    assert await labels(b) == ["Red", "Green"]
    renamed = await traffic.request(
        a, "PATCH", f"/system/dict-data/{item.json()['data']['id']}", admin, json={"label": "Rot"}
    )
    assert renamed.status_code == 200, renamed.text
    assert await labels(b) == ["Rot", "Green"]
    off = await traffic.request(
        a,
        "PATCH",
        f"/system/dict-types/{dict_type.json()['data']['id']}",
        admin,
        json={"status": "disabled"},
    )
    assert off.status_code == 200, off.text
    assert (await traffic.request(b, "GET", "/system/dicts/colour", user)).status_code == 404


# ---------------------------------------------------------------------------- files --
async def test_upload_on_a_downloads_on_b_with_shared_object_storage(
    app: FastAPI, traffic: Traffic
) -> None:
    """docs/security-checklist.md §6 "uploads on local disk", ASVS 5.x: with S3 storage (one bucket)
    and a
    different local `FILE_DIR` per process, a file uploaded on A downloads on B with
    identical bytes, and a delete on B is seen by A. The other half of the row (purely local
    storage on separate disks: B cannot serve A's file, a clean 404) is
    `tests/modules/files/test_multi_host.py::test_local_storage_on_separate_disks_is_a_clean_404`."""
    traffic.label = "upload on A, download on B (S3)"
    a, b = traffic.a, traffic.b
    await make_users(app, "alice", permissions=(FILE_UPLOAD, FILE_READ))
    access, _ = await traffic.tokens(a, "alice")
    data = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + os.urandom(256 * 1024)
    uploaded = await traffic.request(
        a, "POST", "/files", access, files={"file": ("shared.png", data, "image/png")}
    )
    assert uploaded.status_code == 201, uploaded.text
    meta = uploaded.json()["data"]
    assert meta["sha256"] == hashlib.sha256(data).hexdigest()

    download = await traffic.request(b, "GET", f"/files/{meta['id']}/content", access)
    assert download.status_code == 200
    assert download.content == data
    for instance in (a, b):  # nothing landed on either process's own disk
        files = instance.directory / "files"
        assert not files.exists() or not [p for p in files.rglob("*") if p.is_file()]

    assert await traffic.status(b, "DELETE", f"/files/{meta['id']}", access) == 204
    assert await traffic.status(a, "GET", f"/files/{meta['id']}/content", access) == 404


# ------------------------------------------------------------------------ ids and logs --
async def test_concurrent_creates_on_both_get_distinct_ids_and_no_5xx(
    app: FastAPI, traffic: Traffic
) -> None:
    """docs/security-checklist.md §6 "ID generators with a worker id": 2 processes x 100 concurrent
    creates,
    interleaved A, B, A, B: every one is 201, 200 distinct ids, 200 rows, zero 5xx. (Ids come
    from the database's own sequence / AUTO_INCREMENT, never from a per-process counter.)"""
    traffic.label = "2 x 100 concurrent creates"
    a, b = traffic.a, traffic.b
    admin = await make_superuser(app, traffic, a)
    run = uuid.uuid4().hex[:8]

    clients = [new_address() for _ in range(4)]  # 50 creates each, under the per-IP limit

    async def create(n: int) -> httpx.Response:
        body = {"name": f"Position {n}", "code": f"p-{run}-{n}"}
        headers = {"X-Forwarded-For": clients[n % 4]}
        return await traffic.request(
            (a, b)[n % 2], "POST", "/system/positions", admin, json=body, headers=headers
        )

    responses = await asyncio.gather(*(create(n) for n in range(200)))
    statuses = [response.status_code for response in responses]
    assert statuses == [201] * 200, sorted(set(statuses))
    ids = [response.json()["data"]["id"] for response in responses]
    assert len(set(ids)) == 200
    async with app.state.sessionmaker() as db:
        stored = set((await db.execute(select(Position.id))).scalars())
        assert stored == set(ids)
        assert await db.scalar(select(func.count()).select_from(Position)) == 200


def access_lines(instance: Instance) -> tuple[list[dict[str, Any]], list[str]]:
    """Every line of the process's output parsed as JSON, and the lines that are not JSON."""
    parsed: list[dict[str, Any]] = []
    broken: list[str] = []
    for line in instance.log().splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            broken.append(line)
            continue
        if isinstance(value, dict):
            parsed.append(value)
        else:
            broken.append(line)
    return parsed, broken


async def test_json_logs_of_both_processes_have_one_whole_line_per_request(
    app: FastAPI, traffic: Traffic
) -> None:
    """docs/security-checklist.md §6 "log files": each process logs JSON to its own stdout (never to
    a shared
    file). 2 processes x 200 requests (20 in flight): every line of both outputs, from start
    to now, parses as a JSON object, and each process wrote exactly one access line per
    request it served (matched by X-Request-ID), none of the other's."""
    traffic.label = "2 x 200 requests, JSON logs"
    a, b = traffic.a, traffic.b
    await make_users(app, "alice")
    access, _ = await traffic.tokens(a, "alice")
    run = uuid.uuid4().hex[:12]
    sent: dict[int, set[str]] = {a.port: set(), b.port: set()}
    gate = asyncio.Semaphore(20)

    clients = [new_address() for _ in range(4)]  # 100 requests each, under the per-IP limit

    async def one(n: int) -> None:
        instance = (a, b)[n % 2]
        request_id = f"logs-{run}-{n}"
        sent[instance.port].add(request_id)
        headers = {"X-Request-ID": request_id, "X-Forwarded-For": clients[n % 4]}
        async with gate:
            response = await traffic.request(instance, "GET", "/auth/me", access, headers=headers)
        assert response.status_code == 200
        assert response.headers["x-request-id"] == request_id

    await asyncio.gather(*(one(n) for n in range(400)))

    def ours(instance: Instance) -> list[dict[str, Any]]:
        parsed, _ = access_lines(instance)
        return [
            line
            for line in parsed
            if line.get("logger") == "app.access"
            and str(line.get("request_id", "")).startswith(f"logs-{run}-")
        ]

    deadline = time.monotonic() + 10  # the line is written just after the answer is sent
    while time.monotonic() < deadline and any(len(ours(i)) < 200 for i in (a, b)):
        await asyncio.sleep(0.1)
    for instance in (a, b):
        parsed, broken = access_lines(instance)
        assert broken == [], broken[:5]
        lines = ours(instance)
        assert len(lines) == 200
        assert {line["request_id"] for line in lines} == sent[instance.port]
        assert all(line["status"] == 200 and line["route"] for line in lines)
        assert all(line["user_id"] is not None for line in lines)
        assert {line["client"] for line in lines} <= set(clients)  # the proxy's client
        assert len(parsed) >= 200


async def test_api_rate_limit_is_shared(traffic: Traffic) -> None:
    """docs/security-checklist.md §6 "rate limits and login throttles multiply by N", §0 #20: with a
    limit
    of IP_LIMIT requests per client address, IP_LIMIT + 10 requests alternating A, B (20 in
    flight) get exactly IP_LIMIT answers and 10 times 429 with `Retry-After`; per-process
    counters would have let all of them through (each process saw about half)."""
    traffic.label = "API rate limit across A and B"
    seconds_left = 3600 - time.time() % 3600
    if seconds_left < 60:  # the fixed hourly window must not roll over in the middle
        await asyncio.sleep(seconds_left + 0.5)
    gate = asyncio.Semaphore(20)

    async def one(n: int) -> httpx.Response:
        async with gate:
            return await traffic.request((traffic.a, traffic.b)[n % 2], "GET", "/auth/me")

    responses = await asyncio.gather(*(one(n) for n in range(IP_LIMIT + 10)))
    statuses = [response.status_code for response in responses]
    assert statuses.count(401) == IP_LIMIT, sorted(set(statuses))
    assert statuses.count(429) == 10
    refused = [response for response in responses if response.status_code == 429]
    assert all(int(response.headers["Retry-After"]) >= 1 for response in refused)
    for instance in (traffic.a, traffic.b):  # both refuse the address now
        assert (await traffic.request(instance, "GET", "/auth/me")).status_code == 429
