"""Articles (`/api/v1/articles`) for any signed-in user: validation, visibility (published and
one's own drafts), authorship, pagination, and no N+1 when loading authors."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from app.modules.blog.models import Article
from tests.modules.blog.helpers import URL, article, create_article, writer
from tests.support.identity import create_user
from tests.support.queries import beyond_session_check, counting, settle

READ_FIELDS = {
    "id",
    "title",
    "content",
    "published",
    "author_id",
    "author",
    "created_at",
    "updated_at",
}
BODY = {"title": "Hello", "content": "Ten chars!"}


def fields(response: httpx.Response) -> list[str | None]:
    return [error["field"] for error in response.json()["errors"]]


def ids(response: httpx.Response) -> list[int]:
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["data"]["items"]]


# --------------------------------------------------------------------------- create --


async def test_create_returns_201_with_the_caller_as_author(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    alice = await writer(app, name="Alice Liddell")
    response = await client.post(
        URL, json={"title": "  First post ", "content": "  Indented text."}, headers=alice.headers
    )
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    assert set(data) == READ_FIELDS
    assert data["title"] == "First post"
    assert data["content"] == "  Indented text.", "content is stored as written"
    assert data["published"] is False, "a new article is a draft unless published is sent"
    assert data["author_id"] == alice.id
    assert data["author"] == {"id": alice.id, "username": alice.username, "name": "Alice Liddell"}
    created_at = datetime.fromisoformat(data["created_at"])
    assert created_at.tzinfo is not None
    assert datetime.fromisoformat(data["updated_at"]) >= created_at

    got = await client.get(f"{URL}/{data['id']}", headers=alice.headers)
    assert got.status_code == 200
    assert got.json()["data"] == data


async def test_the_author_comes_from_the_caller_never_from_the_body(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """docs/security-checklist.md §0 #4 (API3): an author in the body is refused, not applied."""
    alice = await writer(app)
    bob = await writer(app)
    for extra in ({"author_id": bob.id}, {"author": {"id": bob.id}}, {"id": 5}):
        response = await client.post(URL, json=BODY | extra, headers=alice.headers)
        assert response.status_code == 422, (extra, response.text)
        assert fields(response) == list(extra)
    mine = await client.post(URL, json=BODY | {"published": True}, headers=alice.headers)
    assert mine.json()["data"]["author_id"] == alice.id
    async with app.state.sessionmaker() as db:
        authors = list((await db.execute(select(Article.author_id))).scalars())
    assert authors == [alice.id]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"content": "123456789"}, "content"),
        ({"content": "          "}, "content"),
        ({"content": "x" * 16_001}, "content"),
        ({"published": "maybe"}, "published"),
        ({"tags": ["a"]}, "tags"),
    ],
)
async def test_invalid_bodies_are_422_naming_the_field(
    app: FastAPI, client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    alice = await writer(app)
    created = await client.post(URL, json=BODY | body, headers=alice.headers)
    assert created.status_code == 422, created.text
    assert fields(created) == [field]
    assert created.json()["message"].startswith(f"Validation failed: body.{field} ")

    article_id = await article(app, alice)
    patched = await client.patch(f"{URL}/{article_id}", json=body, headers=alice.headers)
    assert patched.status_code == 422, patched.text
    assert fields(patched) == [field]


async def test_missing_fields_and_nulls_are_422(app: FastAPI, client: httpx.AsyncClient) -> None:
    alice = await writer(app)
    response = await client.post(URL, json={}, headers=alice.headers)
    assert response.status_code == 422
    assert sorted(f for f in fields(response) if f) == ["content", "title"]
    article_id = await article(app, alice)
    for field in ("title", "content", "published"):
        patched = await client.patch(
            f"{URL}/{article_id}", json={field: None}, headers=alice.headers
        )
        assert patched.status_code == 422, field
        assert fields(patched) == [field]


async def test_the_limits_themselves_are_accepted(app: FastAPI, client: httpx.AsyncClient) -> None:
    alice = await writer(app)
    body = {"title": "é" * 200, "content": "😀" * 16_000, "published": True}
    response = await client.post(URL, json=body, headers=alice.headers)
    assert response.status_code == 201, response.text
    got = (await client.get(f"{URL}/{response.json()['data']['id']}", headers=alice.headers)).json()
    assert (got["data"]["title"], got["data"]["content"]) == (body["title"], body["content"])
    short = await client.post(URL, json={"title": "x", "content": "x" * 10}, headers=alice.headers)
    assert short.status_code == 201


async def test_anonymous_callers_get_401_everywhere(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    alice = await writer(app)
    article_id = await article(app, alice)
    for method, path in (
        ("GET", URL),
        ("POST", URL),
        ("GET", f"{URL}/{article_id}"),
        ("PATCH", f"{URL}/{article_id}"),
        ("DELETE", f"{URL}/{article_id}"),
    ):
        response = await client.request(method, path, json=BODY)
        assert response.status_code == 401, (method, path)
        assert response.headers["www-authenticate"] == "Bearer"
    bad = {"Authorization": "Bearer not-a-token"}
    assert (await client.get(URL, headers=bad)).status_code == 401


# ------------------------------------------------------------------- list and read --


async def test_the_list_shows_published_articles_and_own_drafts_newest_first(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    alice = await writer(app)
    bob = await writer(app)
    a_old = await article(app, alice, minutes=1)
    b_draft = await article(app, bob, minutes=2, published=False)
    a_draft = await article(app, alice, minutes=3, published=False)
    b_pub = await article(app, bob, minutes=4)
    a_new = await article(app, alice, minutes=5)

    assert ids(await client.get(URL, headers=alice.headers)) == [a_new, b_pub, a_draft, a_old]
    assert ids(await client.get(URL, headers=bob.headers)) == [a_new, b_pub, b_draft, a_old]
    carol = await writer(app)
    listed = await client.get(URL, headers=carol.headers)
    assert ids(listed) == [a_new, b_pub, a_old]
    assert listed.json()["data"] | {"items": None} == {
        "items": None,
        "total": 3,
        "page": 1,
        "page_size": 10,
        "total_exact": True,
        "next_cursor": None,
    }
    # Filters never widen what is visible: bob's drafts stay hidden from alice.
    hidden = await client.get(
        URL, params={"author_id": bob.id, "published": "false"}, headers=alice.headers
    )
    assert ids(hidden) == []
    assert hidden.json()["data"]["total"] == 0
    mine = await client.get(URL, params={"published": "false"}, headers=alice.headers)
    assert ids(mine) == [a_draft]
    by_bob = await client.get(URL, params={"author_id": bob.id}, headers=bob.headers)
    assert ids(by_bob) == [b_pub, b_draft]


async def test_pagination_totals_sorting_and_title_filter(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    alice = await writer(app)
    made = [
        await article(app, alice, minutes=i, title=f"Post {i} {'news' if i % 2 else 'howto'}")
        for i in range(1, 6)
    ]
    newest_first = made[::-1]
    first = await client.get(URL, params={"page_size": 2}, headers=alice.headers)
    assert ids(first) == newest_first[:2]
    assert first.json()["data"]["total"] == 5
    third = await client.get(URL, params={"page_size": 2, "page": 3}, headers=alice.headers)
    assert ids(third) == newest_first[4:]
    assert (third.json()["data"]["total"], third.json()["data"]["page"]) == (5, 3)
    beyond = await client.get(URL, params={"page_size": 2, "page": 4}, headers=alice.headers)
    assert ids(beyond) == []
    assert beyond.json()["data"]["total"] == 5

    oldest_first = await client.get(URL, params={"sort": "created_at"}, headers=alice.headers)
    assert ids(oldest_first) == made
    news = await client.get(URL, params={"title": "NEWS"}, headers=alice.headers)
    assert ids(news) == [made[4], made[2], made[0]]
    assert news.json()["data"]["total"] == 3
    # LIKE wildcards in the filter are literal characters.
    assert ids(await client.get(URL, params={"title": "%"}, headers=alice.headers)) == []

    for params, field in (
        ({"sort": "content"}, "sort"),
        ({"sort": "author_id;drop"}, "sort"),
        ({"page_size": 101}, "page_size"),
        ({"page": 0}, "page"),
        ({"title": "x" * 201}, "title"),
        ({"author_id": 0}, "author_id"),
    ):
        response = await client.get(URL, params=params, headers=alice.headers)
        assert response.status_code == 422, params
        assert fields(response) == [field]


async def test_equal_timestamps_still_list_the_latest_first(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    alice = await writer(app)
    first = await article(app, alice, minutes=7)
    second = await article(app, alice, minutes=7)
    assert ids(await client.get(URL, headers=alice.headers)) == [second, first]


async def test_someone_elses_draft_is_not_found_not_forbidden(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """docs/security-checklist.md §0 #3 (API1 BOLA): a draft's existence does not leak through its
    id."""
    alice = await writer(app)
    bob = await writer(app)
    draft = await article(app, bob, published=False, title="Secret plans")
    published = await article(app, bob)

    assert (await client.get(f"{URL}/{draft}", headers=bob.headers)).status_code == 200
    assert (await client.get(f"{URL}/{published}", headers=alice.headers)).status_code == 200
    hidden = await client.get(f"{URL}/{draft}", headers=alice.headers)
    missing = await client.get(f"{URL}/{draft + 1000}", headers=alice.headers)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["message"] == missing.json()["message"] == "Article not found"
    assert "Secret" not in hidden.text
    for method, body in (("PATCH", {"title": "Mine now"}), ("DELETE", None)):
        response = await client.request(method, f"{URL}/{draft}", json=body, headers=alice.headers)
        assert response.status_code == 404, method
    for bad in ("0", "-1", "abc", str(2**63)):
        assert (await client.get(f"{URL}/{bad}", headers=alice.headers)).status_code == 422


# ------------------------------------------------------------------ update, delete --


async def test_the_author_edits_partially_and_publishing_makes_it_visible(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    alice = await writer(app)
    bob = await writer(app)
    created = await client.post(URL, json=BODY, headers=alice.headers)
    data = created.json()["data"]
    assert (await client.get(f"{URL}/{data['id']}", headers=bob.headers)).status_code == 404

    patched = await client.patch(
        f"{URL}/{data['id']}", json={"title": " Renamed ", "published": True}, headers=alice.headers
    )
    assert patched.status_code == 200, patched.text
    after = patched.json()["data"]
    assert (after["title"], after["content"], after["published"]) == (
        "Renamed",
        BODY["content"],
        True,
    )
    assert after["author"] == data["author"]
    assert after["created_at"] == data["created_at"]
    assert datetime.fromisoformat(after["updated_at"]) > datetime.fromisoformat(data["updated_at"])
    seen = await client.get(f"{URL}/{data['id']}", headers=bob.headers)
    assert seen.status_code == 200
    assert seen.json()["data"] == after

    empty = await client.patch(f"{URL}/{data['id']}", json={}, headers=alice.headers)
    assert empty.status_code == 200
    assert empty.json()["data"]["title"] == "Renamed"


async def test_only_the_author_updates_or_deletes(app: FastAPI, client: httpx.AsyncClient) -> None:
    alice = await writer(app)
    bob = await writer(app)
    published = await article(app, alice, title="Original")
    url = f"{URL}/{published}"

    refused = await client.patch(url, json={"title": "Defaced"}, headers=bob.headers)
    assert refused.status_code == 403
    assert (await client.delete(url, headers=bob.headers)).status_code == 403
    assert (await client.get(url, headers=bob.headers)).json()["data"]["title"] == "Original"

    missing = f"{URL}/{published + 1000}"
    assert (
        await client.patch(missing, json={"title": "x"}, headers=alice.headers)
    ).status_code == 404
    assert (await client.delete(missing, headers=alice.headers)).status_code == 404

    deleted = await client.delete(url, headers=alice.headers)
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert (await client.get(url, headers=alice.headers)).status_code == 404
    assert (await client.delete(url, headers=alice.headers)).status_code == 404


# ----------------------------------------------------------------------------- N+1 --


async def test_listing_authors_takes_the_same_queries_for_any_number_of_authors(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """N articles by N different authors: the statement count does not grow with N."""
    reader = await writer(app)
    assert (await client.get(URL, headers=reader.headers)).status_code == 200  # warm the principal

    async def statements_for(n: int) -> list[str]:
        async with app.state.sessionmaker() as db, db.begin():
            for _ in range(n):
                author = await create_user(db)
                await create_article(db, author.id)
        await settle(app)
        with counting(app) as statements:
            response = await client.get(URL, params={"page_size": 100}, headers=reader.headers)
        assert response.status_code == 200
        items = response.json()["data"]["items"]
        assert len({item["author"]["id"] for item in items}) == len(items)
        assert all(item["author"]["username"] for item in items)
        return statements

    few = await statements_for(2)
    many = await statements_for(10)
    assert len(many) == len(few), many
    # A count, the page, and one query for all the page's authors (plus, in the lite shape,
    # the revocation epoch every signed-in request reads: docs/security.md).
    assert len(beyond_session_check(many)) <= 3, many
