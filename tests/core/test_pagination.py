"""Pages and whitelisted sorting (docs/security-checklist.md §0 #12, ASVS 1.2.4: sort fields come
from a list),
bounded counts and cursor paging for lists that grow without bound (API4)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import APIRouter, Depends, FastAPI, Query
from sqlalchemy import Float, cast, delete, select, text, update

from app.core.config import Settings
from app.core.database import SessionDep
from app.core.pagination import (
    CursorPage,
    PageParams,
    encode_cursor,
    fetch_page,
    paginate,
    paginate_rows,
    pagination,
)
from app.core.responses import Envelope, ok
from tests.conftest import check_envelope
from tests.support.probe import ProbeBase, Widget, WidgetRead, create_probe_app
from tests.support.queries import counting
from tests.support.startup import shared_fixture
from tests.support.timing import LIFESPAN_TIMEOUT


async def _seed(probe: httpx.AsyncClient, names: list[str]) -> None:
    for name in names:
        assert (await probe.post("/__test/widgets", json={"name": name})).status_code == 201


async def test_page_shape_and_totals(probe: httpx.AsyncClient) -> None:
    await _seed(probe, [f"w{i:02d}" for i in range(23)])
    response = await probe.get("/__test/widgets", params={"page": 3, "page_size": 10})
    data = response.json()["data"]
    assert data["total"] == 23
    assert data["page"] == 3
    assert data["page_size"] == 10
    assert [item["name"] for item in data["items"]] == ["w20", "w21", "w22"]
    past_end = (await probe.get("/__test/widgets", params={"page": 9})).json()["data"]
    assert past_end["items"] == []
    assert past_end["total"] == 23


async def test_default_page_size_is_10(probe: httpx.AsyncClient) -> None:
    await _seed(probe, [f"d{i:02d}" for i in range(12)])
    data = (await probe.get("/__test/widgets")).json()["data"]
    assert data["page"] == 1
    assert data["page_size"] == 10
    assert len(data["items"]) == 10


async def test_sort_descending_and_multiple_keys(probe: httpx.AsyncClient) -> None:
    await _seed(probe, ["b", "a", "c"])
    data = (await probe.get("/__test/widgets", params={"sort": "-name"})).json()["data"]
    assert [item["name"] for item in data["items"]] == ["c", "b", "a"]
    data = (await probe.get("/__test/widgets", params={"sort": "name,-id"})).json()["data"]
    assert [item["name"] for item in data["items"]] == ["a", "b", "c"]


@pytest.mark.parametrize(
    "sort",
    [
        "password",
        "name;DROP TABLE probe_widget",
        "(select 1)",
        "name desc",
        "name,name",
        "id,",
        "  ",
    ],
)
async def test_unlisted_sort_is_422_naming_sort(probe: httpx.AsyncClient, sort: str) -> None:
    response = await probe.get("/__test/widgets", params={"sort": sort})
    assert response.status_code == 422
    body = response.json()
    assert body["errors"][0]["field"] == "sort"
    assert body["errors"][0]["location"] == "query"


@pytest.mark.parametrize(
    ("params", "field"),
    [({"page": 0}, "page"), ({"page_size": 101}, "page_size"), ({"page_size": 0}, "page_size")],
)
async def test_paging_bounds_are_422(
    probe: httpx.AsyncClient, params: dict[str, int], field: str
) -> None:
    response = await probe.get("/__test/widgets", params=params)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == field


# ----------------------------------------------------------- bounded counts and cursor paging --
# A list on the probe table that opts in to both: an exact count up to 5 rows, a cursor keyed
# on the primary key. `ratio` is a float sort, which cannot carry a cursor.
capped_page = pagination(
    sortable={
        "name": Widget.name,
        "created_at": Widget.created_at,
        "id": Widget.id,
        "ratio": cast(Widget.id, Float),
    },
    default="id",
    cursor_key=Widget.id,
    exact_count_limit=5,
)
paged_router = APIRouter(prefix="/__test/paged")
PAGED = "/__test/paged"


@paged_router.get("")
async def list_paged(
    session: SessionDep,
    params: Annotated[PageParams, Depends(capped_page)],
    prefix: Annotated[str | None, Query(max_length=10)] = None,
) -> Envelope[CursorPage[WidgetRead]]:
    statement = select(Widget)
    if prefix:
        statement = statement.where(Widget.name.startswith(prefix))
    return ok((await fetch_page(session, statement, params)).as_page(WidgetRead))


@shared_fixture("the paged probe app", scope="module")
async def paged_app(settings: Settings) -> AsyncIterator[FastAPI]:
    app = create_probe_app(settings)
    app.include_router(paged_router)
    async with LifespanManager(
        app, startup_timeout=LIFESPAN_TIMEOUT, shutdown_timeout=LIFESPAN_TIMEOUT
    ):
        async with app.state.engine.begin() as connection:
            await connection.run_sync(ProbeBase.metadata.create_all)
        yield app
        async with app.state.engine.begin() as connection:
            await connection.run_sync(ProbeBase.metadata.drop_all)


@pytest.fixture
async def paged(paged_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=paged_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http
    async with paged_app.state.engine.begin() as connection:
        await connection.execute(delete(Widget))


async def _widgets(app: FastAPI, names: list[str], *, analyze: bool = False) -> list[int]:
    async with app.state.sessionmaker() as db, db.begin():
        rows = [Widget(name=name) for name in names]
        db.add_all(rows)
        await db.flush()
        ids = [row.id for row in rows]
    if analyze:  # fresh statistics, so the estimate is the table's real size
        async with app.state.engine.begin() as connection:
            dialect = connection.dialect.name
            if dialect == "postgresql":
                await connection.execute(text("ANALYZE probe_widget"))
            elif dialect in ("mysql", "mariadb"):
                await connection.execute(text("ANALYZE TABLE probe_widget"))
    return ids


async def _data(client: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    response = await client.get(PAGED, params=params)
    assert response.status_code == 200, response.text
    check_envelope(response)
    data: dict[str, Any] = response.json()["data"]
    return data


async def _walk(client: httpx.AsyncClient, **params: Any) -> list[list[int]]:
    """Every page of the list, following `next_cursor` until it is null."""
    pages: list[list[int]] = []
    data = await _data(client, **params)
    while True:
        pages.append([item["id"] for item in data["items"]])
        if data["next_cursor"] is None:
            return pages
        assert len(pages) < 50, "the cursor does not advance"
        data = await _data(client, **params, cursor=data["next_cursor"])


async def test_lists_that_do_not_opt_in_count_exactly_and_have_no_cursor(
    probe: httpx.AsyncClient,
) -> None:
    await _seed(probe, [f"x{i:02d}" for i in range(12)])
    data = (await probe.get("/__test/widgets", params={"page_size": 5})).json()["data"]
    assert set(data) == {"items", "total", "page", "page_size"}  # the shape they always had
    assert data["total"] == 12
    unknown = await probe.get("/__test/widgets", params={"cursor": "AAAA"})
    assert unknown.status_code == 200  # not a parameter of this list: ignored like any other


async def test_count_is_exact_up_to_the_limit(paged_app: FastAPI, paged: httpx.AsyncClient) -> None:
    """API4: the count reads at most limit + 1 rows; below that it is exact."""
    await _widgets(paged_app, [f"w{i:02d}" for i in range(5)])
    data = await _data(paged, page_size=2)
    assert (data["total"], data["total_exact"]) == (5, True)
    assert len(data["items"]) == 2


async def test_count_beyond_the_limit_is_an_estimate_and_says_so(
    paged_app: FastAPI, paged: httpx.AsyncClient
) -> None:
    await _widgets(paged_app, [f"w{i:02d}" for i in range(23)], analyze=True)
    dialect = paged_app.state.engine.dialect.name
    data = await _data(paged, page_size=10, page=3)
    assert data["total_exact"] is False
    assert [item["name"] for item in data["items"]] == ["w20", "w21", "w22"]
    # PostgreSQL: the planner's estimate of the bare table (reltuples); MariaDB: TABLE_ROWS;
    # SQLite keeps no statistics, so the answer is the lower bound limit + 1.
    assert data["total"] == (6 if dialect == "sqlite" else 23)

    filtered = await _data(paged, prefix="w1")  # 10 matches
    assert filtered["total_exact"] is False
    if dialect == "postgresql":
        assert filtered["total"] >= 6  # the planner's estimate, never below what was counted
    else:
        assert filtered["total"] == 6  # no estimate for a filtered list: the lower bound
    few = await _data(paged, prefix="w2")  # w20, w21, w22
    assert (few["total"], few["total_exact"]) == (3, True)


@pytest.mark.parametrize("sort", ["-created_at", "created_at", "-name", "id", "-id"])
async def test_cursor_walks_every_row_once_in_order_even_with_ties(
    paged_app: FastAPI, paged: httpx.AsyncClient, sort: str
) -> None:
    """The cursor carries the sort key and the id, so rows sharing a `created_at` are neither
    skipped nor repeated at a page boundary."""
    ids = await _widgets(paged_app, [f"w{i:02d}" for i in range(23)])
    base = datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)
    async with paged_app.state.sessionmaker() as db, db.begin():
        for index, widget_id in enumerate(ids):  # three distinct times: many ties
            at = base + timedelta(minutes=index % 3)
            await db.execute(update(Widget).where(Widget.id == widget_id).values(created_at=at))
    rows: list[tuple[datetime, str, int]] = [
        (base + timedelta(minutes=n % 3), f"w{n:02d}", widget_id) for n, widget_id in enumerate(ids)
    ]
    field = sort.lstrip("-")
    column = {"created_at": 0, "name": 1, "id": 2}[field]
    # The id breaks ties in the direction of the sort field.
    ordered = sorted(rows, key=lambda row: (row[column], row[2]), reverse=sort.startswith("-"))
    pages = await _walk(paged, sort=sort, page_size=4)
    assert [len(page) for page in pages] == [4, 4, 4, 4, 4, 3]
    assert [i for page in pages for i in page] == [row[2] for row in ordered]


async def test_an_offset_page_hands_over_to_the_cursor(
    paged_app: FastAPI, paged: httpx.AsyncClient
) -> None:
    await _widgets(paged_app, [f"w{i:02d}" for i in range(12)])
    second = await _data(paged, page=2, page_size=5)
    third = await _data(paged, page=3, page_size=5)
    after = await _data(paged, cursor=second["next_cursor"], page_size=5)
    assert [i["id"] for i in after["items"]] == [i["id"] for i in third["items"]]
    assert len(after["items"]) == 2
    assert after["next_cursor"] is None
    assert third["next_cursor"] is None
    # 12 rows, past the limit of 5: an estimate (stale statistics may say more), at least 6.
    assert (after["page"], after["total_exact"]) == (1, False)
    assert after["total"] >= 6


async def test_cursor_with_filters_reads_only_matching_rows(
    paged_app: FastAPI, paged: httpx.AsyncClient
) -> None:
    """§0 #3 in spirit: a cursor only positions the reader; the filters still decide the set."""
    await _widgets(paged_app, [f"{p}{i:02d}" for i in range(9) for p in ("a", "b")])
    pages = await _walk(paged, prefix="b", sort="-name", page_size=2)
    names = await _names(paged_app, [i for page in pages for i in page])
    assert names == [f"b{i:02d}" for i in reversed(range(9))]
    # A cursor taken from the unfiltered list (a00, b00, a01, b01, a02 | ...) positions the
    # filtered one.
    first = await _data(paged, sort="id", page_size=5)
    after = await _data(paged, sort="id", prefix="b", cursor=first["next_cursor"])
    assert [i["name"] for i in after["items"]] == [f"b{i:02d}" for i in range(2, 9)]


async def _names(app: FastAPI, ids: list[int]) -> list[str]:
    async with app.state.sessionmaker() as db:
        by_id = {row.id: row.name for row in await db.execute(select(Widget.id, Widget.name))}
    return [by_id[i] for i in ids]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "cursor",
    [
        "not a cursor!",
        "%%%",
        "AAAA",
        _b64(b'[1, "id"]'),
        _b64(b'{"id": 3}'),
        _b64(b'[2, "id", [3]]'),  # an unknown version
        _b64(b'[1, "id", ["3"]]'),  # a string where the id is an integer
        _b64(b'[1, "id", [true]]'),
        _b64(b'[1, "id", [3.5]]'),
        _b64(b'[1, "id", [NaN]]'),
        _b64(b'[1, "id", [99999999999999999999999]]'),  # past BIGINT: no driver error
        _b64(b'[1, "id", [3, 4]]'),
        _b64(b'[1, "id", []]'),
        _b64(b'[1, "id", null]'),
        _b64(
            b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]"
        ),
        _b64('[1, "id", ["\u00e9"]]'.encode("latin-1")),  # not UTF-8
        "A" * 513,  # longer than any cursor the list issues
    ],
)
async def test_a_cursor_the_list_did_not_issue_is_422_naming_cursor(
    paged: httpx.AsyncClient, cursor: str
) -> None:
    """§0 #11 and #12: a forged or damaged cursor is a 422 naming `cursor`, never a 500."""
    response = await paged.get(PAGED, params={"cursor": cursor})
    assert response.status_code == 422, response.text
    check_envelope(response)
    error = response.json()["errors"][0]
    assert (error["field"], error["location"]) == ("cursor", "query")


@pytest.mark.parametrize(
    ("sort", "value"),
    [
        ("-created_at", "2026-01-01T00:00:00"),  # no time zone
        ("-created_at", "yesterday"),
        ("-created_at", 20260101),
        ("-created_at", "0001-01-01T00:00:00+14:00"),  # before year 1 once in UTC
        ("name", "a\u0000b"),  # NUL: PostgreSQL refuses it in text
        ("name", "\ud800"),  # a lone surrogate: not encodable
        ("name", 7),
    ],
)
async def test_cursor_values_are_checked_against_the_key_types(
    paged: httpx.AsyncClient, sort: str, value: Any
) -> None:
    cursor = encode_cursor(sort, [value, 1])
    response = await paged.get(PAGED, params={"cursor": cursor, "sort": sort})
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "cursor"


async def test_extreme_but_valid_cursor_values_answer_an_empty_or_full_page(
    paged_app: FastAPI, paged: httpx.AsyncClient
) -> None:
    """Values at the edges of their types reach the database as typed parameters: no 500."""
    await _widgets(paged_app, ["w1", "w2"])
    cases: list[tuple[str, list[Any], int]] = [
        ("-created_at", ["9999-12-31T23:59:59.999999+00:00", 2**31 - 1], 2),  # INTEGER id
        ("created_at", ["0001-01-01T00:00:00+00:00", -(2**31)], 2),
        ("-name", ["\U0001f600" * 20], 2),  # a unique column ends the key: no id
        ("name", [""], 2),
        ("-id", [-(2**31)], 0),
    ]
    for sort, values, count in cases:
        data = await _data(paged, sort=sort, cursor=encode_cursor(sort, values))
        assert len(data["items"]) == count, (sort, values)


async def test_cursor_rules_sort_page_and_float_keys(
    paged_app: FastAPI, paged: httpx.AsyncClient
) -> None:
    await _widgets(paged_app, [f"w{i:02d}" for i in range(6)])
    cursor = (await _data(paged, sort="-name", page_size=2))["next_cursor"]
    assert cursor is not None
    other_sort = await paged.get(PAGED, params={"cursor": cursor, "sort": "name"})
    assert other_sort.status_code == 422
    assert "sort" in other_sort.json()["errors"][0]["message"]
    both = await paged.get(PAGED, params={"cursor": cursor, "sort": "-name", "page": 2})
    assert both.status_code == 422
    assert both.json()["errors"][0]["field"] == "cursor"
    # A float sort pages by OFFSET only: no cursor out, none accepted.
    by_ratio = await _data(paged, sort="-ratio", page_size=2)
    assert by_ratio["next_cursor"] is None
    assert len(by_ratio["items"]) == 2
    refused = await paged.get(PAGED, params={"cursor": cursor, "sort": "-ratio"})
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "cursor"


def test_a_cursor_key_must_be_exact_and_not_null() -> None:
    with pytest.raises(ValueError, match="cursor_key"):
        pagination(sortable={"id": Widget.id}, default="id", cursor_key=cast(Widget.id, Float))
    with pytest.raises(ValueError, match="exact_count_limit"):
        pagination(sortable={"id": Widget.id}, default="id", exact_count_limit=0)


async def test_cursor_of_a_select_without_an_entity(paged_app: FastAPI) -> None:
    """A statement of plain columns: the key values are read as extra columns."""
    await _widgets(paged_app, [f"w{i:02d}" for i in range(7)])
    seen: list[int] = []
    cursor: str | None = None
    async with paged_app.state.sessionmaker() as db:
        for _ in range(5):
            params = await capped_page(page=1, page_size=3, sort="-name", cursor=cursor)
            result = await fetch_page(db, select(Widget.id, Widget.name), params)
            seen += result.items
            cursor = result.next_cursor
            if cursor is None:
                break
        names = {row.id: row.name for row in await db.execute(select(Widget.id, Widget.name))}
        await db.execute(delete(Widget))
        await db.commit()
    assert [names[i] for i in seen] == [f"w{i:02d}" for i in reversed(range(7))]


async def test_paginate_rows_counts_in_the_page_query(paged_app: FastAPI) -> None:
    """`paginate_rows` reads the same rows and total as `paginate` (a count query plus a page
    query) in one query per page; only a page past the end costs a count query, and its total
    is still right. Also with a filter, so the window counts the matching rows only."""
    await _widgets(paged_app, [f"r{i:02d}" for i in range(7)] + ["other"])
    with counting(paged_app) as statements:
        async with paged_app.state.sessionmaker() as db:
            for where, expected_total in ((Widget.name.startswith("r"), 7), (Widget.id < 0, 0)):
                statement = select(Widget.id, Widget.name).where(where)
                for page in (1, 2, 3, 4, 9):
                    params = PageParams(page=page, page_size=3, order_by=(Widget.name.desc(),))
                    statements.clear()
                    rows, total = await paginate_rows(db, statement, params, tiebreaker=[Widget.id])
                    queries = len(statements)
                    items, count = await paginate(db, statement, params, tiebreaker=[Widget.id])
                    assert total == count == expected_total
                    assert [r.id for r in rows] == items  # `paginate` reads the first column
                    assert all(r.page_total == expected_total for r in rows)
                    # One query, unless the page is empty past the first (then a count).
                    assert queries == (2 if not rows and page > 1 else 1), statements
    with pytest.raises(ValueError, match="DISTINCT"):
        async with paged_app.state.sessionmaker() as db:
            await paginate_rows(db, select(Widget.name).distinct(), PageParams())
    async with paged_app.state.engine.begin() as connection:
        await connection.execute(delete(Widget))
