"""Business rules of the notices feature: sanitised HTML content, and publishing.

Content is cleaned with `nh3` (ammonia) on every create and update: it parses the fragment
like a browser would and keeps only an allow-list of tags and attributes, so `<script>`,
`<style>`, `<iframe>`, event handlers (`on*=`) and `javascript:`/`data:` URLs never reach
storage, however they are spelled or encoded.

Links may point anywhere over http(s) or mailto: (a reader chooses to follow them). Images load
by themselves when a notice is shown, so an image from elsewhere is a tracking pixel, or a
probe of internal addresses from every reader's browser: an `<img>` keeps its `src` only when
it is this API's own file content route, `/api/v1/files/{id}/content` (relative, so it loads
from whichever host serves the console). Absolute URLs, protocol-relative `//host/...`, other
paths and `data:` URLs (they would carry the image, up to the content limit, inside every
notice) are removed; upload the image as a file instead.
"""

from __future__ import annotations

import re
from dataclasses import asdict
from typing import Any

import nh3
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.access import Principal
from app.core.database import utcnow
from app.core.pagination import CursorPage, PageParams, fetch_page
from app.modules.system.notice import repository as repo
from app.modules.system.notice.exceptions import NoticeContentTooLong, NoticeNotFound
from app.modules.system.notice.models import Notice
from app.modules.system.notice.schemas import (
    NoticeCreate,
    NoticeFilters,
    NoticeRead,
    NoticeUpdate,
    PublishedNoticeFilters,
)

# The content column is TEXT: 65 535 bytes on MySQL/MariaDB. Checked on every database so a
# notice that fits one deployment fits all of them.
MAX_CONTENT_BYTES = 65_535

ALLOWED_TAGS = frozenset(
    {
        "p", "br", "hr", "span", "strong", "b", "em", "i", "u", "s", "del", "sub", "sup",
        "a", "ul", "ol", "li", "h1", "h2", "h3", "h4", "blockquote", "code", "pre", "img",
        "table", "caption", "thead", "tbody", "tfoot", "tr", "th", "td",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES: dict[str, frozenset[str]] = {
    "a": frozenset({"href", "title"}),
    "img": frozenset({"src", "alt", "title", "width", "height"}),
    "ol": frozenset({"start"}),
    "th": frozenset({"colspan", "rowspan", "scope"}),
    "td": frozenset({"colspan", "rowspan"}),
}
# Removed together with everything inside them (other unknown tags keep their text).
DROPPED_WITH_CONTENT = frozenset(
    {"script", "style", "iframe", "frame", "frameset", "object", "embed", "noscript",
     "template", "textarea", "select", "svg", "math", "title", "head"}
)  # fmt: skip
LINK_REL = "noopener noreferrer"

_LINK_URL = re.compile(r"^(https?://|mailto:)", re.IGNORECASE)
# The files module's content route, with an id of at most 19 digits (`app.core.schemas.MAX_ID`).
IMAGE_PATH = re.compile(r"^/api/v1/files/[1-9][0-9]{0,18}/content$")


def _filter_attribute(tag: str, attribute: str, value: str) -> str | None:
    """Links: absolute http(s) and mailto: only. Images: this API's file content route only."""
    if tag == "a" and attribute == "href":
        return value if _LINK_URL.match(value.strip()) else None
    if tag == "img" and attribute == "src":
        return value if IMAGE_PATH.fullmatch(value) else None
    return value


def sanitize_html(html: str) -> str:
    """The fragment with only the allowed tags, attributes and URL schemes left."""
    return nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        clean_content_tags=set(DROPPED_WITH_CONTENT),
        attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
        attribute_filter=_filter_attribute,
        url_schemes={"http", "https", "mailto"},
        # Relative URLs reach the filter, which keeps only the file content route (images).
        url_relative="pass_through",
        link_rel=LINK_REL,
        strip_comments=True,
    )


def clean_content(html: str) -> str:
    """Sanitised content that fits the column on every database, or a 422 naming `content`."""
    cleaned = sanitize_html(html)
    if len(cleaned.encode("utf-8")) > MAX_CONTENT_BYTES:
        raise NoticeContentTooLong(MAX_CONTENT_BYTES)
    return cleaned


async def list_notices(
    db: AsyncSession, principal: Principal, *, filters: NoticeFilters, page: PageParams
) -> CursorPage[NoticeRead]:
    """One page of notices, drafts included; notices are not data-scoped."""
    statement = repo.list_statement(**asdict(filters))
    result = await fetch_page(db, statement, page, tiebreaker=[Notice.id.desc()])
    return result.as_page(NoticeRead)


async def list_published_notices(
    db: AsyncSession, principal: Principal, *, filters: PublishedNoticeFilters, page: PageParams
) -> CursorPage[NoticeRead]:
    """One page of published notices (any signed-in user), newest first."""
    statement = repo.published_statement(**asdict(filters))
    result = await fetch_page(db, statement, page, tiebreaker=[Notice.id.desc()])
    return result.as_page(NoticeRead)


async def get_notice(db: AsyncSession, notice_id: int) -> Notice:
    notice = await repo.get(db, notice_id)
    if notice is None:
        raise NoticeNotFound()
    return notice


def _apply_status(notice: Notice, status: str) -> None:
    notice.status = status
    # The first publication date stays when a notice is withdrawn and published again.
    if status == "published" and notice.published_at is None:
        notice.published_at = utcnow()


async def create_notice(db: AsyncSession, principal: Principal, data: NoticeCreate) -> Notice:
    notice = Notice(
        title=data.title,
        type=data.type,
        content=clean_content(data.content),
        created_by=principal.user_id,
    )
    _apply_status(notice, data.status)
    return await repo.add(db, notice)


async def update_notice(db: AsyncSession, notice_id: int, data: NoticeUpdate) -> Notice:
    notice = await get_notice(db, notice_id)
    changes: dict[str, Any] = data.model_dump(exclude_unset=True)
    if "content" in changes:
        notice.content = clean_content(changes.pop("content"))
    if "status" in changes:
        _apply_status(notice, changes.pop("status"))
    for field, value in changes.items():
        setattr(notice, field, value)
    await db.flush()
    return notice


async def delete_notice(db: AsyncSession, notice_id: int) -> None:
    await repo.delete(db, await get_notice(db, notice_id))
