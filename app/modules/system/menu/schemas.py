"""Request and response bodies of the menus feature."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from app.core.access import GRANT_PATTERN
from app.core.schemas import DisplayText, Id, Sort, Status, Version, blank_to_none, pattern

MenuType = Literal["directory", "menu", "button"]
MenuId = Id
Title = DisplayText[
    Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
]

# `module:resource:action` as the registry declares codes, or a wildcard grant
# (`system:user:*`, `system:*`, `*`); granting a wildcard needs holding it (anti-escalation).
PERMISSION_PATTERN = pattern(
    GRANT_PATTERN.pattern,
    "must be a permission code module:resource:action in lowercase letters, digits and -, "
    "or a wildcard such as system:user:*",
)
# A front-end route path: `/system/users`, `users`, `/users/:id`; no spaces, schemes or `..`.
_SEGMENT = r"(?:[A-Za-z0-9_.~-]+|:[A-Za-z_][A-Za-z0-9_]*\??)"
ROUTE_PATH_PATTERN = pattern(
    rf"^(?:/|/?{_SEGMENT}(?:/{_SEGMENT})*/?)$",
    "must be a route path such as /system/users or /users/:id",
)
# A front-end component: `Layout`, `system/user/index`, `@/views/home.vue`.
COMPONENT_PATTERN = pattern(
    r"^[A-Za-z0-9_@][A-Za-z0-9_./@-]*$", "letters, digits and _ . / @ -, as in system/user/index"
)


def _no_dot_segments(value: str | None) -> str | None:
    if value is not None and any(part in (".", "..") for part in value.split("/")):
        raise ValueError("must not contain '.' or '..' segments")
    return value


def _text(max_length: int, regex: str) -> StringConstraints:
    return StringConstraints(strip_whitespace=True, max_length=max_length, pattern=regex)


_Optional = (BeforeValidator(blank_to_none), AfterValidator(_no_dot_segments))
ROUTE_NAME_PATTERN = pattern(
    r"^[A-Za-z][A-Za-z0-9_.:-]*$", "letters, digits and _ . : -, starting with a letter"
)
LINK_PATTERN = pattern(
    r"^https?://[^\s/?#]+[^\s]*$", "an http:// or https:// address without spaces"
)
ICON_PATTERN = pattern(
    r"^[A-Za-z0-9][A-Za-z0-9_:./-]*$", "letters, digits and _ : . / -, starting with one of them"
)
RouteName = Annotated[Annotated[str, _text(64, ROUTE_NAME_PATTERN)] | None, *_Optional]
RoutePath = Annotated[Annotated[str, _text(255, ROUTE_PATH_PATTERN)] | None, *_Optional]
Component = Annotated[Annotated[str, _text(255, COMPONENT_PATTERN)] | None, *_Optional]
Icon = Annotated[Annotated[str, _text(64, ICON_PATTERN)] | None, *_Optional]
Permission = Annotated[Annotated[str, _text(128, PERMISSION_PATTERN)] | None, *_Optional]
# An external address the menu opens instead of a view: http(s) only (never `javascript:`).
Link = Annotated[Annotated[str, _text(512, LINK_PATTERN)] | None, BeforeValidator(blank_to_none)]


class MenuCreate(BaseModel):
    """A directory, a page (`menu`) or a `button`.

    A button needs `permission` (its `title` defaults to it) and has no route; a directory or
    menu needs `title`.
    """

    model_config = ConfigDict(extra="forbid")

    parent_id: MenuId | None = None
    type: MenuType
    title: Title | None = None
    name: RouteName = None
    path: RoutePath = None
    component: Component = None
    icon: Icon = None
    permission: Permission = None
    sort: Sort = 0
    visible: bool = True
    status: Status = "active"
    keep_alive: bool = False
    link: Link = None
    redirect: RoutePath = None


class MenuUpdate(BaseModel):
    """Partial update: only the fields sent change; the rules of `MenuCreate` apply to the
    result. `version`, when sent, must be the menu's current version (optimistic locking):
    otherwise 409."""

    model_config = ConfigDict(extra="forbid")

    parent_id: MenuId | None = None
    type: MenuType | None = None
    title: Title | None = None
    name: RouteName = None
    path: RoutePath = None
    component: Component = None
    icon: Icon = None
    permission: Permission = None
    sort: Sort | None = None
    visible: bool | None = None
    status: Status | None = None
    keep_alive: bool | None = None
    link: Link = None
    redirect: RoutePath = None
    version: Version | None = None

    @field_validator("type", "title", "sort", "visible", "status", "keep_alive", "version")
    @classmethod
    def _not_null(cls, value: object) -> object:
        # Runs only for values sent: these columns have no "empty" state.
        if value is None:
            raise ValueError("may not be null")
        return value


class MenuRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    parent_id: int | None
    type: str
    title: str
    name: str | None
    path: str | None
    component: str | None
    icon: str | None
    permission: str | None
    sort: int
    visible: bool = Field(description="false: a hidden route (registered, not in the navigation)")
    status: str
    keep_alive: bool = Field(description="Keep the page's state when the user leaves it")
    link: str | None = Field(description="External address opened instead of a view")
    redirect: str | None = Field(description="Where the route's own path leads")
    version: int
    created_at: datetime
    updated_at: datetime


class MenuTreeNode(MenuRead):
    """A menu with its sub-menus (ordered by `sort`, then `id`)."""

    children: list[MenuTreeNode] = Field(default_factory=list)


@dataclass(frozen=True, slots=True)
class MenuFilters:
    """What `service.list_menus` filters by (the list route's query parameters)."""

    title: str | None = None
    type_: str | None = None
    status: str | None = None
    visible: bool | None = None
