"""Object-level authorization across departments (SECURITY.md §0 #3, §2 API1, ASVS 8.2.2,
8.4.1): every route taking an object id is classified, as department-scoped or as global; a
caller scoped to department A, holding every permission, reaches none of department B's
objects by id (404, and B's data appears nowhere in the answer) nor through list filters or
the export. Per-module matrices with every scope type: tests/modules/system/user/
test_user_scope.py, tests/modules/files/test_access.py, tests/modules/blog/test_moderation.py."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from app.core.access import registry
from tests.security.routes import api_routes, method_of
from tests.support.identity import auth_headers, create_dept, create_role, create_user

MARKER = "Bravo-Secret"
# Routes whose object belongs to a department (directly, or through its owner or author).
SCOPED = {
    "GET /api/v1/system/users/{user_id}",
    "PATCH /api/v1/system/users/{user_id}",
    "DELETE /api/v1/system/users/{user_id}",
    "POST /api/v1/system/users/{user_id}/reset-password",
    "DELETE /api/v1/system/users/{user_id}/mfa",
    "GET /api/v1/system/depts/{dept_id}",
    "PATCH /api/v1/system/depts/{dept_id}",
    "DELETE /api/v1/system/depts/{dept_id}",
    "GET /api/v1/files/{file_id}",
    "GET /api/v1/files/{file_id}/content",
    "DELETE /api/v1/files/{file_id}",
    "GET /api/v1/articles/{article_id}",
    "PATCH /api/v1/articles/{article_id}",
    "DELETE /api/v1/articles/{article_id}",
    "DELETE /api/v1/monitor/sessions/{session_id}",
}
# Routes whose object is system-wide configuration or records, governed by permissions only,
# or the caller's own (checked against the caller, tests in the module named).
GLOBAL = {
    "roles": "/api/v1/system/roles/{role_id}",
    "menus": "/api/v1/system/menus/{menu_id}",
    "positions": "/api/v1/system/positions/{position_id}",
    "dict types": "/api/v1/system/dict-types/{type_id}",
    "dict data": "/api/v1/system/dict-data/{data_id}",
    "dict read": "/api/v1/system/dicts/{type_code}",
    "params": "/api/v1/system/params/{param_id}",
    "param by key": "/api/v1/system/params/key/{key}",
    "notices": "/api/v1/system/notices/{notice_id}",
    "operation log": "/api/v1/system/operation-logs/{log_id}",
    "examples (sample module, no owner)": "/api/v1/examples/{example_id}",
    "jobs": "/api/v1/scheduler/jobs/{job_id}",
    "job runs": "/api/v1/scheduler/job-runs/{run_id}",
    "cache namespaces": "/api/v1/monitor/cache/namespaces/{namespace}",
    "own sessions (test_tokens.py::test_own_session_can_be_revoked_but_not_anyone_elses)": (
        "/api/v1/auth/me/sessions/{session_id}"
    ),
}


def test_every_route_with_an_id_is_classified(app: FastAPI) -> None:
    """§2 API1: a new route taking an id must be added to SCOPED (and get B's object here)
    or to GLOBAL with its reason."""
    global_paths = set(GLOBAL.values())
    unclassified = [
        f"{method_of(r)} {r.path}"
        for r in api_routes(app)
        if "{" in (r.path or "")
        and f"{method_of(r)} {r.path}" not in SCOPED
        and not any((r.path or "").startswith(p) for p in global_paths)
    ]
    assert not unclassified, unclassified


async def _objects(
    app: FastAPI, client: httpx.AsyncClient, dept_id: int, label: str
) -> dict[str, str]:
    """A user, their session, a file and a draft article, all of department `dept_id`."""
    async with app.state.sessionmaker() as db, db.begin():
        role = await create_role(db, permissions=["files:file:upload"])
        user = await create_user(db, name=f"{label} user", dept_id=dept_id, roles=[role])
    headers = await auth_headers(app, user)
    sessions = await client.get("/api/v1/auth/me/sessions", headers=headers)
    uploaded = await client.post(
        "/api/v1/files",
        files={"file": (f"{label}.txt", f"{label} file\n".encode(), "text/plain")},
        headers=headers,
    )
    article = await client.post(
        "/api/v1/articles",
        json={"title": f"{label} draft", "content": f"{label} draft content"},
        headers=headers,
    )
    assert uploaded.status_code == 201 and article.status_code == 201, (uploaded, article)
    return {
        "user_id": str(user.id),
        "dept_id": str(dept_id),
        "session_id": str(sessions.json()["data"][0]["session_id"]),
        "file_id": str(uploaded.json()["data"]["id"]),
        "article_id": str(article.json()["data"]["id"]),
    }


async def test_a_dept_scoped_caller_reaches_no_object_of_another_dept(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """§0 #3, §2 API1: by id (404, no trace of B), through list filters and the export."""
    async with app.state.sessionmaker() as db, db.begin():
        dept_a = await create_dept(db, name="Alpha")
        dept_b = await create_dept(db, name=MARKER)
        role = await create_role(
            db, permissions=[p.code for p in registry.all()], data_scope="dept"
        )
        caller = await create_user(db, dept_id=dept_a.id, roles=[role])
    headers = await auth_headers(app, caller)
    own = await _objects(app, client, dept_a.id, "Alpha")
    foreign = await _objects(app, client, dept_b.id, MARKER)

    routes = {f"{method_of(r)} {r.path}": r for r in api_routes(app)}
    assert set(routes) >= SCOPED, sorted(SCOPED - set(routes))
    for label in sorted(SCOPED):
        method, path = label.split(" ", 1)
        param = path[path.index("{") + 1 : path.index("}")]
        if method == "GET":  # the caller's permissions do reach department A's object
            reached = await client.get(path.replace(f"{{{param}}}", own[param]), headers=headers)
            assert reached.status_code == 200, (label, reached.text)
        url = path.replace(f"{{{param}}}", foreign[param])
        response = await client.request(method, url, headers=headers, json={})
        assert response.status_code in (403, 404), (label, response.status_code, response.text)
        assert MARKER not in response.text and MARKER.encode() not in response.content, label

    # Nothing was changed or deleted: B's objects are all still there, as they were.
    async with app.state.sessionmaker() as db, db.begin():
        root = await create_user(db, is_superuser=True)
    root_headers = await auth_headers(app, root)
    for param, path in (
        ("user_id", "/api/v1/system/users/{user_id}"),
        ("dept_id", "/api/v1/system/depts/{dept_id}"),
        ("file_id", "/api/v1/files/{file_id}"),
        ("article_id", "/api/v1/articles/{article_id}"),
    ):
        kept = await client.get(path.replace(f"{{{param}}}", foreign[param]), headers=root_headers)
        assert kept.status_code == 200, (path, kept.text)
        assert MARKER in kept.text, (path, kept.text)

    # Lists and exports, asked for B by filter: nothing of B.
    for path, params in (
        ("/api/v1/system/users", {"dept_id": foreign["dept_id"]}),
        ("/api/v1/system/users", {"dept_id": [own["dept_id"], foreign["dept_id"]]}),
        ("/api/v1/system/users/export", {"dept_id": foreign["dept_id"], "format": "csv"}),
        ("/api/v1/system/users", {"name": MARKER}),
        ("/api/v1/system/depts", {"name": MARKER}),
        ("/api/v1/system/depts/tree", {}),
        ("/api/v1/files", {"name": MARKER}),
        ("/api/v1/articles", {"author_id": foreign["user_id"]}),
        ("/api/v1/monitor/sessions", {}),
    ):
        listed = await client.get(path, params=params, headers=headers)
        assert listed.status_code in (200, 422), (path, params, listed.text)
        assert MARKER not in listed.text, (path, params, listed.text[:300])
