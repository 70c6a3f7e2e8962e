"""All SQL of examples.

Not data-scoped: whoever may list them sees every row. To limit rows to the caller's
departments, add owner/department columns and filter every query through
`app.core.access.scope_filter` (see docs/access-control.md).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.modules.example.models import Example
from app.modules.example.schemas import ExampleFilters


def list_statement(filters: ExampleFilters) -> Select[Any]:
    """The rows the list shows; the service pages them."""
    statement = select(Example)
    name = (filters.name or "").strip()
    if name:
        statement = statement.where(Example.name.icontains(name, autoescape=True))
    return statement


async def get(db: AsyncSession, example_id: int) -> Example | None:
    return await db.get(Example, example_id)


async def add(db: AsyncSession, item: Example) -> Example:
    db.add(item)
    await db.flush()
    return item


async def delete(db: AsyncSession, item: Example) -> None:
    await db.delete(item)
    await db.flush()
