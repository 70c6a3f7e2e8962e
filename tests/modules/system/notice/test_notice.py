"""Notices (`/api/v1/system/notices`): CRUD, sanitised HTML content, publishing, and the
published list every signed-in user reads."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from app.modules.system.notice.models import Notice
from app.modules.system.permissions import (
    NOTICE_CREATE,
    NOTICE_DELETE,
    NOTICE_LIST,
    NOTICE_READ,
    NOTICE_UPDATE,
)
from tests.support.identity import auth_headers, create_role, create_user

URL = "/api/v1/system/notices"
ALL_NOTICE = [NOTICE_LIST, NOTICE_READ, NOTICE_CREATE, NOTICE_UPDATE, NOTICE_DELETE]
READ_FIELDS = {
    "id",
    "title",
    "type",
    "content",
    "status",
    "published_at",
    "created_by",
    "created_at",
    "updated_at",
}


async def holder(app: FastAPI, permissions: list[str]) -> tuple[int, dict[str, str]]:
    async with app.state.sessionmaker() as db, db.begin():
        role = await create_role(db, permissions=permissions, data_scope="self")
        user = await create_user(db, roles=[role])
    return user.id, await auth_headers(app, user)


async def post(client: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    body.setdefault("content", "<p>Hello</p>")
    response = await client.post(URL, json=body, headers=headers)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def count_notices(app: FastAPI) -> int:
    async with app.state.sessionmaker() as db:
        return int(await db.scalar(select(func.count()).select_from(Notice)) or 0)


async def stored_content(app: FastAPI, notice_id: int) -> str:
    async with app.state.sessionmaker() as db:
        notice = await db.get(Notice, notice_id)
        assert notice is not None
        return str(notice.content)


async def test_crud_happy_path(app: FastAPI, client: httpx.AsyncClient) -> None:
    user_id, headers = await holder(app, ALL_NOTICE)
    notice = await post(
        client, headers, title="  Maintenance  ", type="announcement", content="<p>Sat</p>"
    )
    assert set(notice) == READ_FIELDS
    assert (notice["title"], notice["type"], notice["content"], notice["status"]) == (
        "Maintenance",
        "announcement",
        "<p>Sat</p>",
        "draft",
    )
    assert notice["created_by"] == user_id
    assert notice["published_at"] is None

    got = await client.get(f"{URL}/{notice['id']}", headers=headers)
    assert got.status_code == 200
    assert got.json()["data"] == notice

    patched = await client.patch(
        f"{URL}/{notice['id']}", json={"title": "Maintenance window"}, headers=headers
    )
    assert patched.status_code == 200, patched.text
    data = patched.json()["data"]
    assert (data["title"], data["type"], data["content"], data["status"]) == (
        "Maintenance window",
        "announcement",
        "<p>Sat</p>",
        "draft",
    )
    assert data["created_by"] == user_id

    deleted = await client.delete(f"{URL}/{notice['id']}", headers=headers)
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert (await client.get(f"{URL}/{notice['id']}", headers=headers)).status_code == 404
    assert await count_notices(app) == 0


async def test_missing_notice_is_404(app: FastAPI, client: httpx.AsyncClient) -> None:
    _, headers = await holder(app, ALL_NOTICE)
    response = await client.get(f"{URL}/424242", headers=headers)
    assert response.status_code == 404
    assert response.json()["message"] == "Notice not found"
    patched = await client.patch(f"{URL}/424242", json={"title": "x"}, headers=headers)
    assert patched.status_code == 404
    assert (await client.delete(f"{URL}/424242", headers=headers)).status_code == 404


DANGEROUS = (
    '<p>Read <strong>this</strong> <em>now</em><script>alert("xss")</script></p>'
    '<img src="https://cdn.example.com/a.png" alt="a" onerror="alert(1)">'
    '<a href="javascript:alert(1)">bad link</a>'
    '<a href=" JaVa&#x09;ScRiPt:alert(1)">encoded link</a>'
    '<a href="https://example.com/docs" onclick="steal()" target="_blank">docs</a>'
    '<iframe src="https://evil.example.com">framed</iframe>'
    "<style>body{display:none}</style>"
    '<p style="position:fixed" onmouseover="x()">styled</p>'
    '<img src="javascript:alert(1)"><img src="data:image/png;base64,AAAA">'
    "<ul><li>one</li></ul><h2>Title</h2><blockquote>q</blockquote><pre><code>a &lt; b</code></pre>"
    '<table><tr><td colspan="2">cell</td></tr></table><a href="mailto:ops@example.com">mail</a>'
)


def assert_safe(html: str) -> None:
    lowered = html.lower()
    for needle in ("<script", "alert(", "onerror", "onclick", "onmouseover", "javascript:",
                   "<iframe", "framed", "<style", "display:none", "style=", "data:"):  # fmt: skip
        assert needle not in lowered, (needle, html)


async def test_content_is_sanitised_on_create_and_update(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """Stored XSS: script, event handlers, javascript: URLs and iframes never reach storage."""
    _, headers = await holder(app, ALL_NOTICE)
    notice = await post(client, headers, title="Sanitised", content=DANGEROUS)
    for html in (notice["content"], await stored_content(app, notice["id"])):
        assert_safe(html)
        # Formatting survives.
        for kept in (
            "<p>Read <strong>this</strong> <em>now</em></p>",
            '<img alt="a">',  # an image from elsewhere loses its src (test_notice_images.py)
            '<a href="https://example.com/docs" rel="noopener noreferrer">docs</a>',
            '<a href="mailto:ops@example.com" rel="noopener noreferrer">mail</a>',
            "<ul><li>one</li></ul>",
            "<h2>Title</h2>",
            "<blockquote>q</blockquote>",
            "<pre><code>a &lt; b</code></pre>",
            '<td colspan="2">cell</td>',
            "bad link",
            "<p>styled</p>",
        ):
            assert kept in html, (kept, html)

    patched = await client.patch(
        f"{URL}/{notice['id']}",
        json={"content": '<p>ok</p><svg onload="alert(1)"><script>alert(2)</script></svg>'},
        headers=headers,
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["data"]["content"] == "<p>ok</p>"
    assert await stored_content(app, notice["id"]) == "<p>ok</p>"


async def test_content_length_limits(app: FastAPI, client: httpx.AsyncClient) -> None:
    _, headers = await holder(app, ALL_NOTICE)
    too_many_chars = "a" * 100_001
    response = await client.post(
        URL, json={"title": "Long", "content": too_many_chars}, headers=headers
    )
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["content"]

    # Fewer than 100 000 characters, but more bytes than the column holds on MySQL (TEXT).
    wide = "<p>" + "公" * 30_000 + "</p>"
    response = await client.post(URL, json={"title": "Wide", "content": wide}, headers=headers)
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["content"]
    assert await count_notices(app) == 0

    # Just under the limit fits on every database.
    fits = "<p>" + "公" * 21_000 + "</p>"
    notice = await post(client, headers, title="Fits", content=fits)
    assert await stored_content(app, notice["id"]) == fits

    response = await client.patch(f"{URL}/{notice['id']}", json={"content": wide}, headers=headers)
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["content"]
    assert await stored_content(app, notice["id"]) == fits


async def test_publishing_sets_published_at_once(app: FastAPI, client: httpx.AsyncClient) -> None:
    _, headers = await holder(app, ALL_NOTICE)
    draft = await post(client, headers, title="Draft")
    assert draft["status"] == "draft"
    assert draft["published_at"] is None

    published = await client.patch(
        f"{URL}/{draft['id']}", json={"status": "published"}, headers=headers
    )
    assert published.status_code == 200
    first = published.json()["data"]["published_at"]
    assert first is not None

    withdrawn = await client.patch(
        f"{URL}/{draft['id']}", json={"status": "draft"}, headers=headers
    )
    assert withdrawn.json()["data"]["status"] == "draft"
    assert withdrawn.json()["data"]["published_at"] == first

    again = await client.patch(
        f"{URL}/{draft['id']}", json={"status": "published"}, headers=headers
    )
    assert again.json()["data"]["published_at"] == first  # the first publication date

    direct = await post(client, headers, title="Direct", status="published")
    assert direct["status"] == "published"
    assert direct["published_at"] is not None


async def test_published_list_for_any_signed_in_user(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    _, admin = await holder(app, ALL_NOTICE)
    _, reader = await holder(app, [])  # signed in, no permission at all
    older = await post(client, admin, title="Older", status="published")
    await post(client, admin, title="Hidden draft")
    newer = await post(client, admin, title="Newer", type="announcement", status="published")
    # Published later than "Newer" even though it was created first.
    latest = await post(client, admin, title="Latest")
    await client.patch(f"{URL}/{latest['id']}", json={"status": "published"}, headers=admin)

    response = await client.get(f"{URL}/published", headers=reader)
    assert response.status_code == 200, response.text
    page = response.json()["data"]
    assert [item["title"] for item in page["items"]] == ["Latest", "Newer", "Older"]
    assert page["total"] == 3
    assert set(page["items"][0]) == READ_FIELDS

    paged = (await client.get(f"{URL}/published?page=2&page_size=2", headers=reader)).json()
    assert [item["id"] for item in paged["data"]["items"]] == [older["id"]]
    typed = (await client.get(f"{URL}/published?type=announcement", headers=reader)).json()
    assert [item["id"] for item in typed["data"]["items"]] == [newer["id"]]

    # The same reader may not see drafts or manage notices.
    assert (await client.get(URL, headers=reader)).status_code == 403
    assert (await client.get(f"{URL}/{older['id']}", headers=reader)).status_code == 403
    assert (await client.get(f"{URL}/published")).status_code == 401
    bad = await client.get(f"{URL}/published?sort=status", headers=reader)
    assert bad.status_code == 422


async def test_list_filters_sorting_and_paging(app: FastAPI, client: httpx.AsyncClient) -> None:
    """§0 #12: only whitelisted sort fields reach SQL."""
    _, headers = await holder(app, ALL_NOTICE)
    await post(client, headers, title="Holiday schedule", type="announcement")
    await post(client, headers, title="Office move", status="published")
    await post(client, headers, title="Holiday party", status="published")

    async def listed(query: str) -> list[str]:
        response = await client.get(f"{URL}?{query}", headers=headers)
        assert response.status_code == 200, response.text
        return [item["title"] for item in response.json()["data"]["items"]]

    assert await listed("") == ["Holiday party", "Office move", "Holiday schedule"]
    assert await listed("title=HOLIDAY") == ["Holiday party", "Holiday schedule"]
    assert await listed("title=%25") == []  # LIKE wildcards are literal
    assert await listed("type=announcement") == ["Holiday schedule"]
    assert await listed("status=published") == ["Holiday party", "Office move"]
    assert await listed("status=draft&type=notice") == []
    assert await listed("sort=title") == ["Holiday party", "Holiday schedule", "Office move"]
    assert await listed("sort=created_at") == ["Holiday schedule", "Office move", "Holiday party"]

    page = (await client.get(f"{URL}?page=2&page_size=2", headers=headers)).json()["data"]
    assert (page["total"], page["page"], page["page_size"]) == (3, 2, 2)
    assert [item["title"] for item in page["items"]] == ["Holiday schedule"]

    for bad in ("sort=content", "sort=title%20desc", "type=memo", "status=live", "page=0"):
        response = await client.get(f"{URL}?{bad}", headers=headers)
        assert response.status_code == 422, bad


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": "", "content": "x"}, "title"),
        ({"title": "   ", "content": "x"}, "title"),
        ({"title": "t" * 201, "content": "x"}, "title"),
        ({"title": "x", "type": "memo"}, "type"),
        ({"title": "x", "status": "archived"}, "status"),
        ({"content": "x"}, "title"),
        ({"title": "x", "content": 5}, "content"),
    ],
)
async def test_invalid_input_is_422_naming_the_field(
    app: FastAPI, client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    _, headers = await holder(app, ALL_NOTICE)
    response = await client.post(URL, json=body, headers=headers)
    assert response.status_code == 422
    assert field in [e["field"] for e in response.json()["errors"]]
    assert await count_notices(app) == 0


async def test_patch_rejects_null_and_bad_values(app: FastAPI, client: httpx.AsyncClient) -> None:
    _, headers = await holder(app, ALL_NOTICE)
    notice = await post(client, headers, title="Keep")
    for body, field in (
        ({"title": None}, "title"),
        ({"content": None}, "content"),
        ({"status": "archived"}, "status"),
        ({"type": None}, "type"),
    ):
        response = await client.patch(f"{URL}/{notice['id']}", json=body, headers=headers)
        assert response.status_code == 422, body
        assert field in [e["field"] for e in response.json()["errors"]]
    got = (await client.get(f"{URL}/{notice['id']}", headers=headers)).json()["data"]
    assert got == notice


@pytest.mark.parametrize(
    "extra",
    [{"id": 99}, {"created_by": 1}, {"published_at": "2020-01-01T00:00:00Z"}, {"version": 3}],
)
async def test_mass_assignment_is_422(
    app: FastAPI, client: httpx.AsyncClient, extra: dict[str, Any]
) -> None:
    """§0 #4: server-owned fields cannot be set by the client."""
    _, headers = await holder(app, ALL_NOTICE)
    response = await client.post(URL, json={"title": "x", **extra}, headers=headers)
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == list(extra)
    notice = await post(client, headers, title="y")
    patched = await client.patch(f"{URL}/{notice['id']}", json=extra, headers=headers)
    assert patched.status_code == 422
    assert await count_notices(app) == 1


@pytest.mark.parametrize(
    ("method", "path", "code"),
    [
        ("GET", "", NOTICE_LIST),
        ("GET", "/{id}", NOTICE_READ),
        ("POST", "", NOTICE_CREATE),
        ("PATCH", "/{id}", NOTICE_UPDATE),
        ("DELETE", "/{id}", NOTICE_DELETE),
    ],
)
async def test_each_route_needs_its_permission(
    app: FastAPI, client: httpx.AsyncClient, method: str, path: str, code: str
) -> None:
    _, admin = await holder(app, ALL_NOTICE)
    notice = await post(client, admin, title="Target")
    url = URL + path.format(id=notice["id"])
    body = {"title": "Changed"} if method in ("POST", "PATCH") else None
    others = [c for c in ALL_NOTICE if c != code]
    _, without = await holder(app, others)
    denied = await client.request(method, url, json=body, headers=without)
    assert denied.status_code == 403
    assert denied.json()["message"] == f"Permission denied: {code}"
    assert (await client.request(method, url, json=body)).status_code == 401
    _, with_code = await holder(app, [code])
    allowed = await client.request(method, url, json=body, headers=with_code)
    assert allowed.status_code in (200, 201, 204)
