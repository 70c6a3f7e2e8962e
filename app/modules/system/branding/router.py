"""Branding route: public (the sign-in page shows it before anyone signs in), read-only."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from app.core.access import public
from app.core.responses import Envelope, ok
from app.core.routing import outage_response
from app.modules.system.branding.schemas import BrandingRead
from app.modules.system.param.reader import params_for

router = APIRouter(prefix="/api/v1/system/branding", tags=["system: branding"])

DEFAULT_SITE_NAME = "FastapiAdmin"


@router.get(
    "",
    dependencies=[Depends(public)],
    # The parameters come from the cache or the database: both can be out.
    responses={503: outage_response()},
)
async def get_branding(request: Request) -> Envelope[BrandingRead]:
    """Site name, logo, sign-in title and footer, from the `site.*` parameters."""
    params = params_for(request.app)
    site_name = (await params.get_str("site.name", DEFAULT_SITE_NAME)).strip()
    site_name = site_name or DEFAULT_SITE_NAME
    logo_url = (await params.get_str("site.logo_url", "")).strip()
    login_title = (await params.get_str("site.login_title", "")).strip()
    footer = (await params.get_str("site.footer", "")).strip()
    return ok(
        BrandingRead(
            site_name=site_name,
            logo_url=logo_url or None,
            login_title=login_title or site_name,
            footer=footer,
        )
    )
