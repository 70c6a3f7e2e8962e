"""HTTP routes for users (`/api/v1/system/users`)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import StreamingResponse

from app.core.access import Principal
from app.core.database import SessionDep
from app.core.deps import CacheDep, SettingsDep
from app.core.excel import XLSX_MEDIA_TYPE, receive_upload, upload_openapi
from app.core.guard import require
from app.core.pagination import (
    LARGE_LIST_EXACT_COUNT,
    CursorPage,
    PageParams,
    pagination,
)
from app.core.responses import Envelope, created, error_responses, ok
from app.core.schemas import Id
from app.modules.system.auth.deps import PasswordHasherDep
from app.modules.system.permissions import (
    USER_CREATE,
    USER_DELETE,
    USER_EXPORT,
    USER_IMPORT,
    USER_LIST,
    USER_READ,
    USER_RESET_MFA,
    USER_RESET_PASSWORD,
    USER_UPDATE,
)
from app.modules.system.user import service, transfer
from app.modules.system.user.models import USER_SORTS
from app.modules.system.user.schemas import (
    PasswordResetRead,
    UserCreate,
    UserFilters,
    UserImportReport,
    UserRead,
    UserUpdate,
    user_filters,
)

router = APIRouter(prefix="/api/v1/system/users", tags=["system: users"])

users_page = pagination(sorts=USER_SORTS, exact_count_limit=LARGE_LIST_EXACT_COUNT)
UserIdPath = Annotated[Id, Path()]
Filters = Annotated[UserFilters, Depends(user_filters)]


@router.get("", responses=error_responses(401, 403, 422))
async def list_users(
    principal: Annotated[Principal, Depends(require(USER_LIST))],
    db: SessionDep,
    params: Annotated[PageParams, Depends(users_page)],
    filters: Filters,
) -> Envelope[CursorPage[UserRead]]:
    """List the users in your data scope."""
    return ok(await service.list_users(db, principal, filters=filters, page=params))


# Declared before `/{user_id}` so that "export" is not read as an id.
@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"text/csv": {}, XLSX_MEDIA_TYPE: {}},
            "description": "CSV (default) or xlsx of the matching users",
        },
        **error_responses(401, 403, 422),
    },
)
async def export_users(
    principal: Annotated[Principal, Depends(require(USER_EXPORT))],
    request: Request,
    db: SessionDep,
    filters: Filters,
    file_format: Annotated[
        Literal["csv", "xlsx"], Query(alias="format", description="`csv` (default) or `xlsx`")
    ] = "csv",
) -> StreamingResponse:
    """Export the users the list would show (same filters, same data scope) as CSV or xlsx."""
    body = await transfer.export(
        db, request.app.state.sessionmaker, principal, filters, file_format
    )
    media_type, name = (
        (XLSX_MEDIA_TYPE, "users.xlsx")
        if file_format == "xlsx"
        else ("text/csv; charset=utf-8", "users.csv")
    )
    return StreamingResponse(
        body,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get(
    "/import-template",
    response_class=Response,
    responses={
        200: {"content": {XLSX_MEDIA_TYPE: {}}, "description": "The xlsx import template"},
        **error_responses(401, 403),
    },
)
async def get_import_template(
    principal: Annotated[Principal, Depends(require(USER_IMPORT))],
) -> Response:
    """Download the xlsx template for importing users."""
    return Response(
        await transfer.template(),
        media_type=XLSX_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{transfer.TEMPLATE_NAME}"'},
    )


@router.post(
    "/import",
    responses={
        201: {"model": Envelope[UserImportReport], "description": "Every row created"},
        **error_responses(401, 403, 409, 413, 422),
    },
    openapi_extra=upload_openapi("file"),
)
async def import_users(
    principal: Annotated[Principal, Depends(require(USER_IMPORT))],
    request: Request,
    response: Response,
    db: SessionDep,
    settings: SettingsDep,
    hasher: PasswordHasherDep,
    dry_run: Annotated[
        bool,
        Query(description="Only check the file and report (default); false creates the users"),
    ] = True,
) -> Envelope[UserImportReport]:
    """Import users from an xlsx file (multipart field `file`): all rows or none."""
    data = await receive_upload(request, max_bytes=settings.import_max_bytes, field="file")
    report = await transfer.import_users(db, settings, hasher, principal, data, dry_run=dry_run)
    if dry_run:
        return ok(report)
    response.status_code = 201
    return created(report)


@router.get("/{user_id}", responses=error_responses(401, 403, 404, 422))
async def get_user(
    principal: Annotated[Principal, Depends(require(USER_READ))],
    db: SessionDep,
    user_id: UserIdPath,
) -> Envelope[UserRead]:
    """One user in your data scope."""
    return ok(await service.get_user(db, principal, user_id))


@router.post("", status_code=201, responses=error_responses(401, 403, 409, 422))
async def create_user(
    principal: Annotated[Principal, Depends(require(USER_CREATE))],
    db: SessionDep,
    settings: SettingsDep,
    hasher: PasswordHasherDep,
    body: UserCreate,
) -> Envelope[UserRead]:
    """Create a user in your data scope, with roles whose permissions you hold."""
    return created(await service.create_user(db, settings, hasher, principal, body))


@router.patch("/{user_id}", responses=error_responses(401, 403, 404, 409, 422))
async def update_user(
    principal: Annotated[Principal, Depends(require(USER_UPDATE))],
    db: SessionDep,
    cache: CacheDep,
    user_id: UserIdPath,
    body: UserUpdate,
) -> Envelope[UserRead]:
    """Edit a user; new roles, department or status apply on their next request."""
    user = await service.update_user(db, cache, principal, user_id, body)
    return ok(user)


@router.delete("/{user_id}", status_code=204, responses=error_responses(401, 403, 404, 409, 422))
async def delete_user(
    principal: Annotated[Principal, Depends(require(USER_DELETE))],
    db: SessionDep,
    cache: CacheDep,
    user_id: UserIdPath,
) -> Response:
    """Delete a user and end all their sessions."""
    await service.delete_user(db, cache, principal, user_id)
    return Response(status_code=204)


@router.post("/{user_id}/reset-password", responses=error_responses(401, 403, 404, 422))
async def reset_user_password(
    principal: Annotated[Principal, Depends(require(USER_RESET_PASSWORD))],
    db: SessionDep,
    cache: CacheDep,
    hasher: PasswordHasherDep,
    user_id: UserIdPath,
) -> Envelope[PasswordResetRead]:
    """Give a user a generated one-time password (shown once) and end their sessions."""
    result = await service.reset_password(db, cache, hasher, principal, user_id)
    return ok(result)


@router.delete("/{user_id}/mfa", status_code=204, responses=error_responses(401, 403, 404, 422))
async def reset_user_mfa(
    principal: Annotated[Principal, Depends(require(USER_RESET_MFA))],
    db: SessionDep,
    cache: CacheDep,
    user_id: UserIdPath,
) -> Response:
    """Turn a user's MFA off (lost authenticator) and end their sessions; they enrol again."""
    await service.reset_mfa(db, cache, principal, user_id)
    return Response(status_code=204)
