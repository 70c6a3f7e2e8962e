"""HTTP routes for examples (`/api/v1/examples`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from app.core.access import Principal
from app.core.database import SessionDep
from app.core.guard import require
from app.core.pagination import (
    LARGE_LIST_EXACT_COUNT,
    CursorPage,
    PageParams,
    pagination,
)
from app.core.responses import Envelope, created, error_responses, ok
from app.core.schemas import Id
from app.modules.example import service
from app.modules.example.models import EXAMPLE_SORTS
from app.modules.example.permissions import (
    EXAMPLE_CREATE,
    EXAMPLE_DELETE,
    EXAMPLE_LIST,
    EXAMPLE_READ,
    EXAMPLE_UPDATE,
)
from app.modules.example.schemas import (
    ExampleCreate,
    ExampleFilters,
    ExampleRead,
    ExampleReplace,
    ExampleUpdate,
)

router = APIRouter(prefix="/api/v1/examples", tags=["example"])

examples_page = pagination(sorts=EXAMPLE_SORTS, exact_count_limit=LARGE_LIST_EXACT_COUNT)
# A row id: plain digits, 1 to 2**63-1; `1_0` or `+1` is a 422 (docs/http.md).
ExampleIdPath = Annotated[Id, Path()]


@router.get("", responses=error_responses(401, 403, 422))
async def list_examples(
    principal: Annotated[Principal, Depends(require(EXAMPLE_LIST))],
    db: SessionDep,
    page: Annotated[PageParams, Depends(examples_page)],
    name: Annotated[str | None, Query(max_length=100, description="Name contains")] = None,
) -> Envelope[CursorPage[ExampleRead]]:
    """List examples (newest first unless `sort` says otherwise)."""
    filters = ExampleFilters(name=name)
    return ok(await service.list_examples(db, principal, filters=filters, page=page))


@router.get("/{example_id}", responses=error_responses(401, 403, 404, 422))
async def get_example(
    _principal: Annotated[Principal, Depends(require(EXAMPLE_READ))],
    db: SessionDep,
    example_id: ExampleIdPath,
) -> Envelope[ExampleRead]:
    """One example."""
    return ok(ExampleRead.model_validate(await service.get_example(db, example_id)))


@router.post("", status_code=201, responses=error_responses(401, 403, 422))
async def create_example(
    _principal: Annotated[Principal, Depends(require(EXAMPLE_CREATE))],
    db: SessionDep,
    body: ExampleCreate,
) -> Envelope[ExampleRead]:
    """Create an example."""
    return created(ExampleRead.model_validate(await service.create_example(db, body)))


@router.patch("/{example_id}", responses=error_responses(401, 403, 404, 409, 422))
async def update_example(
    _principal: Annotated[Principal, Depends(require(EXAMPLE_UPDATE))],
    db: SessionDep,
    example_id: ExampleIdPath,
    body: ExampleUpdate,
) -> Envelope[ExampleRead]:
    """Edit an example: only the fields sent change (`version`: see 409)."""
    item = await service.update_example(db, example_id, body)
    return ok(ExampleRead.model_validate(item))


@router.put("/{example_id}", responses=error_responses(401, 403, 404, 409, 422))
async def replace_example(
    _principal: Annotated[Principal, Depends(require(EXAMPLE_UPDATE))],
    db: SessionDep,
    example_id: ExampleIdPath,
    body: ExampleReplace,
) -> Envelope[ExampleRead]:
    """Replace an example: the body sets every field (`version`: see 409)."""
    item = await service.replace_example(db, example_id, body)
    return ok(ExampleRead.model_validate(item))


@router.delete("/{example_id}", status_code=204, responses=error_responses(401, 403, 404, 422))
async def delete_example(
    _principal: Annotated[Principal, Depends(require(EXAMPLE_DELETE))],
    db: SessionDep,
    example_id: ExampleIdPath,
) -> Response:
    """Delete an example."""
    await service.delete_example(db, example_id)
    return Response(status_code=204)
