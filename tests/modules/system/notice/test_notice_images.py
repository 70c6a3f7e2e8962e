"""Notice images come only from this API's file content route (SECURITY.md §2 API7, ASVS 3.2.x:
no tracking pixels, no requests to internal addresses from every reader's browser).

Before: `<img src="https://...">` (any host, internal ones included) was kept, and loaded by
every reader's browser when the notice was shown.
"""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from app.modules.system.notice.service import sanitize_html
from tests.modules.system.notice.test_notice import ALL_NOTICE, holder, post, stored_content

OWN_IMAGE = '<img src="/api/v1/files/42/content" alt="chart">'


@pytest.mark.parametrize(
    "src",
    [
        "https://tracker.example.com/pixel.gif?u=1",
        "http://10.0.0.1/admin",
        "http://169.254.169.254/latest/meta-data/",
        "HTTPS://CDN.EXAMPLE.COM/A.PNG",
        "//tracker.example.com/pixel.gif",
        "https://tracker.example.com/api/v1/files/42/content",
        "/api/v1/files/42/content?track=1",
        "/api/v1/files/42/content#x",
        "/api/v1/files/0/content",
        "/api/v1/files/abc/content",
        "/api/v1/files/../system/users",
        "/api/v1/files/42/content/../../../system/users",
        "/api/v1/system/users/export",
        " /api/v1/files/42/content",
        "api/v1/files/42/content",
        "data:image/png;base64,iVBORw0KGgo=",
        "data:image/svg+xml,<svg onload=alert(1)>",
        "javascript:alert(1)",
    ],
)
def test_images_from_anywhere_else_lose_their_src(src: str) -> None:
    cleaned = sanitize_html(f'<p>x</p><img src="{src}" alt="a">')
    assert "src=" not in cleaned, cleaned
    assert cleaned == '<p>x</p><img alt="a">'


@pytest.mark.parametrize("file_id", ["1", "42", "9223372036854775807"])
def test_images_of_this_apis_file_route_are_kept(file_id: str) -> None:
    html = f'<img src="/api/v1/files/{file_id}/content" alt="chart">'
    assert sanitize_html(html) == html


def test_links_keep_their_rule() -> None:
    """Links are followed by choice, not loaded: absolute http(s) and mailto: stay."""
    html = '<a href="https://example.com/docs">docs</a><a href="/relative">rel</a>'
    assert sanitize_html(html) == (
        '<a href="https://example.com/docs" rel="noopener noreferrer">docs</a>'
        '<a rel="noopener noreferrer">rel</a>'
    )


async def test_a_notice_keeps_only_its_own_images(app: FastAPI, client: httpx.AsyncClient) -> None:
    _, headers = await holder(app, ALL_NOTICE)
    content = OWN_IMAGE + '<img src="https://tracker.example.com/p.gif" alt="pixel">'
    notice = await post(client, headers, title="Images", content=content)
    expected = OWN_IMAGE + '<img alt="pixel">'
    assert notice["content"] == expected
    assert await stored_content(app, notice["id"]) == expected
