"""All SQL of the files module. Every read and delete goes through the caller's data scope."""

from __future__ import annotations

from sqlalchemy import ColumnElement, Select, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.access import Principal, scope_filter
from app.modules.files.models import StoredFile


def _scope(principal: Principal) -> ColumnElement[bool] | None:
    return scope_filter(principal, dept_column=StoredFile.dept_id, owner_column=StoredFile.owner_id)


def reach(principal: Principal, code: str) -> ColumnElement[bool]:
    """Rows the caller may act on: their own files, plus (holding `code`) the data scope."""
    own = StoredFile.owner_id == principal.user_id
    if not principal.can(code):
        return own
    scope = _scope(principal)
    return true() if scope is None else or_(own, scope)


def list_statement(
    principal: Principal, *, name: str | None = None, extension: str | None = None
) -> Select[StoredFile]:
    statement = select(StoredFile)
    scope = _scope(principal)
    if scope is not None:
        statement = statement.where(scope)
    if name:
        statement = statement.where(StoredFile.original_name.icontains(name, autoescape=True))
    if extension:
        statement = statement.where(StoredFile.extension == extension)
    return statement


async def get_reachable(
    db: AsyncSession, principal: Principal, file_id: int, code: str
) -> StoredFile | None:
    statement = select(StoredFile).where(StoredFile.id == file_id, reach(principal, code))
    return (await db.execute(statement)).scalars().first()


async def add(db: AsyncSession, stored: StoredFile) -> StoredFile:
    db.add(stored)
    await db.flush()
    return stored


async def delete(db: AsyncSession, stored: StoredFile) -> None:
    await db.delete(stored)
    await db.flush()
