"""Optimistic locking shared by every module whose rows carry a `version` column.

A model declares `version: Mapped[int] = mapped_column(Integer, default=1)` with
`__mapper_args__ = {"version_id_col": version}`: SQLAlchemy then adds `AND version = :read`
to every UPDATE and DELETE of the row and moves the version on. Two guards use it
(docs/security-checklist.md §0 #19, §5.3 F16):

- the client sends the `version` it read in the PATCH body (`app.core.schemas.Version`); if the row
  has moved on, `check_version` refuses with a 409 naming `version`;
- two writers that both passed that check (or sent none) race at the flush: the second
  UPDATE matches no row and `versioned_flush` turns SQLAlchemy's `StaleDataError` into the
  same 409.

    changes = data.model_dump(exclude_unset=True)
    check_version(changes.pop("version", None), row.version)
    ... set the attributes ...
    await versioned_flush(db)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from app.core.errors import StaleVersion


class VersionConflict(StaleVersion):
    """409: the row changed since the client read it; the body names the field `version`."""


def check_version(
    expected: int | None, current: int, error: type[VersionConflict] = VersionConflict
) -> None:
    """Refuse (409) when the client sent a `version` other than the row's; None skips it."""
    if expected is not None and expected != current:
        raise error()


@asynccontextmanager
async def stale_as_conflict(
    error: type[VersionConflict] = VersionConflict,
) -> AsyncIterator[None]:
    """A write whose row changed under it (`StaleDataError`) becomes the 409 naming `version`."""
    try:
        yield
    except StaleDataError:
        raise error() from None


async def versioned_flush(db: AsyncSession, error: type[VersionConflict] = VersionConflict) -> None:
    """Flush; a concurrent writer that moved the version first makes it a 409."""
    async with stale_as_conflict(error):
        await db.flush()
