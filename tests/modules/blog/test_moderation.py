"""Beyond the author: moderators (`blog:article:list`, `blog:article:delete-any`) within their
data scope, what happens to articles when their author is deleted, and the module's menus."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import func, select

from app.core.config import Settings
from app.modules.blog.models import Article
from app.modules.blog.permissions import ARTICLE_DELETE_ANY, ARTICLE_LIST
from app.modules.system.bootstrap import load_initial_data
from app.modules.system.menu.models import Menu
from tests.modules.blog.helpers import URL, article, writer
from tests.support.identity import create_dept, superuser_headers


async def _ids(client: httpx.AsyncClient, headers: dict[str, str]) -> set[int]:
    response = await client.get(URL, params={"page_size": 100}, headers=headers)
    assert response.status_code == 200, response.text
    return {item["id"] for item in response.json()["data"]["items"]}


async def test_a_moderator_sees_drafts_in_scope_but_edits_nothing(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    bob = await writer(app)
    draft = await article(app, bob, published=False)
    published = await article(app, bob)
    reader = await writer(app, permissions=[ARTICLE_LIST], data_scope="all")

    assert await _ids(client, reader.headers) == {draft, published}
    assert (await client.get(f"{URL}/{draft}", headers=reader.headers)).status_code == 200
    edit = await client.patch(f"{URL}/{draft}", json={"title": "x"}, headers=reader.headers)
    assert edit.status_code == 403, "moderators never rewrite someone else's article"
    assert (await client.delete(f"{URL}/{draft}", headers=reader.headers)).status_code == 403


async def test_moderation_is_bounded_by_the_authors_department(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """docs/security-checklist.md §0 #3 (API1, ASVS 8.2.2): outside the data scope a draft is not
    found and a
    published article cannot be deleted."""
    async with app.state.sessionmaker() as db, db.begin():
        sales = await create_dept(db, name="Sales")
        support = await create_dept(db, name="Support")
    colleague = await writer(app, dept_id=sales.id)
    stranger = await writer(app, dept_id=support.id)
    near_draft = await article(app, colleague, published=False)
    near_pub = await article(app, colleague)
    far_draft = await article(app, stranger, published=False)
    far_pub = await article(app, stranger)
    moderator = await writer(
        app, permissions=[ARTICLE_LIST, ARTICLE_DELETE_ANY], data_scope="dept", dept_id=sales.id
    )
    headers = moderator.headers

    assert await _ids(client, headers) == {near_draft, near_pub, far_pub}
    assert (await client.get(f"{URL}/{far_draft}", headers=headers)).status_code == 404
    assert (await client.delete(f"{URL}/{far_draft}", headers=headers)).status_code == 404
    assert (await client.delete(f"{URL}/{far_pub}", headers=headers)).status_code == 403
    assert (await client.delete(f"{URL}/{near_draft}", headers=headers)).status_code == 204
    assert (await client.delete(f"{URL}/{near_pub}", headers=headers)).status_code == 204
    assert await _ids(client, stranger.headers) == {far_draft, far_pub}


async def test_delete_any_without_list_reaches_only_what_the_caller_sees(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    bob = await writer(app)
    draft = await article(app, bob, published=False)
    published = await article(app, bob)
    deleter = await writer(app, permissions=[ARTICLE_DELETE_ANY], data_scope="all")
    assert (await client.delete(f"{URL}/{draft}", headers=deleter.headers)).status_code == 404
    assert (await client.delete(f"{URL}/{published}", headers=deleter.headers)).status_code == 204

    admin = await superuser_headers(app)
    assert await _ids(client, admin) == {draft}
    assert (await client.delete(f"{URL}/{draft}", headers=admin)).status_code == 204


async def test_deleting_a_user_deletes_their_articles(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """The rule: articles go with their author (FK ON DELETE CASCADE on the hard delete that
    `DELETE /api/v1/system/users/{id}` performs)."""
    alice = await writer(app)
    bob = await writer(app)
    kept = await article(app, alice)
    gone = [await article(app, bob), await article(app, bob, published=False)]
    admin = await superuser_headers(app)

    deleted = await client.delete(f"/api/v1/system/users/{bob.id}", headers=admin)
    assert deleted.status_code == 204, deleted.text

    assert await _ids(client, alice.headers) == {kept}
    assert await _ids(client, admin) == {kept}
    for article_id in gone:
        assert (await client.get(f"{URL}/{article_id}", headers=admin)).status_code == 404
    async with app.state.sessionmaker() as db:
        authors = (await db.execute(select(Article.author_id))).scalars().all()
    assert authors == [alice.id]
    assert (await client.get(URL, headers=bob.headers)).status_code == 401


async def test_init_installs_the_blog_menu_with_its_moderation_buttons(
    app: FastAPI, settings: Settings
) -> None:
    configured = settings.model_copy(
        update={"init_admin_password": SecretStr("a long tea kettle phrase 42")}
    )
    async with app.state.sessionmaker() as db, db.begin():
        await load_initial_data(db, configured)
    async with app.state.sessionmaker() as db:
        menus = {
            menu.permission or menu.name: menu
            for menu in (await db.execute(select(Menu))).scalars()
            if (menu.name or "").startswith("Blog") or (menu.permission or "").startswith("blog:")
        }
        buttons = (
            await db.execute(
                select(func.count())
                .select_from(Menu)
                .where(Menu.type == "button", Menu.permission.like("blog:%"))
            )
        ).scalar_one()
    page = menus[ARTICLE_LIST]
    assert (page.type, page.name, page.parent_id) == ("menu", "BlogArticle", menus["Blog"].id)
    assert menus[ARTICLE_DELETE_ANY].parent_id == page.id
    assert buttons == 1, "the list code is the page itself; delete-any is its one button"
