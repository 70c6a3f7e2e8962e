"""Business rules of examples.

- A row that does not exist is a 404 ("Example not found").
- An update may carry the `version` the client read: if the row has moved on, 409; the
  mapper's version column also turns a concurrent write into a 409.
- Every change is written to the change log with its before/after values.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.access import Principal
from app.core.concurrency import check_version, versioned_flush
from app.core.pagination import CursorPage, PageParams, fetch_page
from app.modules.example import repository as repo
from app.modules.example.exceptions import ExampleNotFound, ExampleVersionMismatch
from app.modules.example.models import Example
from app.modules.example.schemas import (
    ExampleCreate,
    ExampleFilters,
    ExampleRead,
    ExampleReplace,
    ExampleUpdate,
)
from app.modules.system.operation_log.changes import record_change, snapshot

# The change log's name for examples, and what it records of one.
ENTITY = "example"
CHANGE_FIELDS = ("name", "description")


def _snapshot(item: Example) -> dict[str, Any]:
    return snapshot(item, CHANGE_FIELDS)


async def list_examples(
    db: AsyncSession, principal: Principal, *, filters: ExampleFilters, page: PageParams
) -> CursorPage[ExampleRead]:
    """One page: the filters, then the sort, the cursor and a bounded count (`fetch_page`).

    Not data-scoped: `principal` is where a scope would apply (docs/access-control.md)."""
    result = await fetch_page(db, repo.list_statement(filters), page, tiebreaker=[Example.id])
    return result.as_page(ExampleRead)


async def get_example(db: AsyncSession, example_id: int) -> Example:
    item = await repo.get(db, example_id)
    if item is None:
        raise ExampleNotFound()
    return item


async def create_example(db: AsyncSession, data: ExampleCreate) -> Example:
    item = await repo.add(db, Example(**data.model_dump()))
    await record_change(
        db, entity=ENTITY, entity_id=item.id, action="create", after=_snapshot(item)
    )
    return item


async def update_example(db: AsyncSession, example_id: int, data: ExampleUpdate) -> Example:
    """PATCH: only the fields sent change."""
    return await _change(db, example_id, data.model_dump(exclude_unset=True))


async def replace_example(db: AsyncSession, example_id: int, data: ExampleReplace) -> Example:
    """PUT: every field is set from the body (an omitted optional field takes its default)."""
    return await _change(db, example_id, data.model_dump())


async def _change(db: AsyncSession, example_id: int, changes: dict[str, Any]) -> Example:
    item = await get_example(db, example_id)
    check_version(changes.pop("version", None), item.version, ExampleVersionMismatch)
    before = _snapshot(item)
    for field, value in changes.items():
        setattr(item, field, value)
    await versioned_flush(db, ExampleVersionMismatch)  # a concurrent writer's flush: the same 409
    await record_change(
        db, entity=ENTITY, entity_id=item.id, action="update", before=before, after=_snapshot(item)
    )
    return item


async def delete_example(db: AsyncSession, example_id: int) -> None:
    item = await get_example(db, example_id)
    before = _snapshot(item)
    await repo.delete(db, item)
    await record_change(db, entity=ENTITY, entity_id=example_id, action="delete", before=before)
