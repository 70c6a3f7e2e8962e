"""Routes serving the console's static build (public: the sign-in page must load)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, PlainTextResponse, RedirectResponse, Response

from app.core.access import public
from app.core.modules import module_settings
from app.core.routing import any_query
from app.modules.console.settings import ConsoleSettings

# The pages take any query string: the browser app reads it (`/console/login?redirect=...`).
router = APIRouter(dependencies=[Depends(public), Depends(any_query)], include_in_schema=False)

BASE = "/console/"
BUILD_HINT = "The console is not built: run `cd console && npm ci && npm run build`.\n"
# Scripts and styles from this origin only; Element Plus sets inline style attributes
# (positions of popovers, widths of columns), hence 'unsafe-inline' for styles only.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
NO_CACHE = "no-cache"
IMMUTABLE = "public, max-age=31536000, immutable"


async def get_dist(request: Request) -> Path:
    return module_settings(request.app.state, ConsoleSettings).dist_dir


DistDep = Annotated[Path, Depends(get_dist)]


def _headers(cache_control: str) -> dict[str, str]:
    return {"Cache-Control": cache_control, "Content-Security-Policy": CSP}


def _file_in(root: Path, relative: str) -> Path | None:
    """`relative` under `root` if it names a file there (never outside it)."""
    if not relative or "\\" in relative or "\x00" in relative:
        return None
    candidate = (root / relative).resolve()
    try:
        candidate.relative_to(root.resolve())
    except ValueError:
        return None
    return candidate if candidate.is_file() else None


def _index(dist: Path) -> Response:
    index = dist / "index.html"
    if not index.is_file():
        return PlainTextResponse(BUILD_HINT, status_code=503, headers=_headers("no-store"))
    return FileResponse(index, media_type="text/html", headers=_headers(NO_CACHE))


@router.api_route("/", methods=["GET", "HEAD"])
async def root() -> RedirectResponse:
    """The site's root opens the console."""
    return RedirectResponse(BASE, status_code=302)


@router.api_route("/console", methods=["GET", "HEAD"])
async def console_bare() -> RedirectResponse:
    """`/console` without its slash: the console's base has one."""
    return RedirectResponse(BASE, status_code=302)


@router.api_route("/console/assets/{name:path}", methods=["GET", "HEAD"])
async def console_asset(name: str, dist: DistDep) -> Response:
    """A hashed file of the build: cached for a year; a missing one is 404, not the page."""
    found = _file_in(dist / "assets", name)
    if found is None:
        return PlainTextResponse("Not found\n", status_code=404, headers=_headers("no-store"))
    return FileResponse(found, headers=_headers(IMMUTABLE))


@router.api_route("/console/{path:path}", methods=["GET", "HEAD"])
async def console_page(path: str, dist: DistDep) -> Response:
    """index.html for the console and every deep link (history routing); files at the
    build's top level (favicon, build-info.json) as themselves, revalidated."""
    found = _file_in(dist, path)
    if found is not None and found.name != "index.html":
        return FileResponse(found, headers=_headers(NO_CACHE))
    return _index(dist)
