"""Response body of the branding feature."""

from __future__ import annotations

from pydantic import BaseModel, Field


class BrandingRead(BaseModel):
    site_name: str = Field(description="Parameter `site.name`")
    logo_url: str | None = Field(description="Parameter `site.logo_url`; null: the built-in logo")
    login_title: str = Field(description="Parameter `site.login_title`; empty: the site name")
    footer: str = Field(description="Parameter `site.footer` (plain text)")
