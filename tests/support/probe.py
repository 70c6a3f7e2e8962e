"""A probe app: the real app plus test-only routes and a test-only table, to exercise the
foundation (transactions, error mapping, pagination) before any module has tables.

The table lives in its own MetaData so it never enters the migrations or `alembic check`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import MetaData, String, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from app.core.access import public
from app.core.config import Settings
from app.core.database import NAMING_CONVENTION, SessionDep, TimestampMixin
from app.core.errors import InvalidState
from app.core.guard import require
from app.core.pagination import Page, PageParams, paginate, pagination
from app.core.responses import Envelope, created, ok
from app.main import create_app


class ProbeBase(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Widget(TimestampMixin, ProbeBase):
    __tablename__ = "probe_widget"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50), unique=True)


class WidgetCreate(BaseModel):
    name: str = Field(min_length=1, max_length=50)
    password: str | None = Field(default=None, max_length=100)


class WidgetRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str


class ProbeFailure(InvalidState):
    default_message = "Probe failed after insert"


widgets_page = pagination(
    sortable={"name": Widget.name, "created_at": Widget.created_at, "id": Widget.id},
    default="id",
)

router = APIRouter(prefix="/__test")


@router.get("/guarded", dependencies=[Depends(require("system:user:list"))])
async def guarded() -> Envelope[str]:
    """Authentication and a permission check, and no database work of its own."""
    return ok("guarded")


@router.post("/noop", dependencies=[Depends(public)])
async def noop() -> Envelope[str]:
    """A mutating request that does no database work of its own."""
    return ok("noop")


@router.get("/boom")
async def boom() -> None:
    raise RuntimeError("kaboom at /srv/app/secret.py: SELECT * FROM users")


@router.post("/widgets", status_code=201)
async def create_widget(body: WidgetCreate, session: SessionDep) -> Envelope[WidgetRead]:
    widget = Widget(name=body.name)
    session.add(widget)
    await session.flush()
    return created(WidgetRead.model_validate(widget))


@router.post("/widgets/fail-after-insert")
async def fail_after_insert(body: WidgetCreate, session: SessionDep) -> None:
    session.add(Widget(name=body.name))
    await session.flush()
    raise ProbeFailure()


@router.post("/widgets/duplicate-at-commit", status_code=201)
async def duplicate_at_commit(body: WidgetCreate, session: SessionDep) -> Envelope[None]:
    # No flush: the unique violation surfaces only when the dependency commits.
    session.add_all([Widget(name=body.name), Widget(name=body.name)])
    return created(None)


@router.get("/widgets")
async def list_widgets(
    session: SessionDep, params: Annotated[PageParams, Depends(widgets_page)]
) -> Envelope[Page[WidgetRead]]:
    items, total = await paginate(session, select(Widget), params, tiebreaker=[Widget.id])
    return ok(
        Page[WidgetRead](
            items=[WidgetRead.model_validate(w) for w in items],
            total=total,
            page=params.page,
            page_size=params.page_size,
        )
    )


def create_probe_app(settings: Settings) -> FastAPI:
    app = create_app(settings)
    app.include_router(router)
    return app
