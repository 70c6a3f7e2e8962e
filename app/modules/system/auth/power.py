"""Power over another principal: one rule, checked by every action that affects someone else.

    You may act on a user, a role, a menu subtree or a session only if your own grants and
    data scope cover everything the action changes.

What "cover" means for each kind of target (superusers pass every check; docs/access-control.md
lists the routes that use each function):

- **a user** (`ensure_power_over_users`): the user is inside your data scope (else 404), is not
  a superuser unless you are one (403), and every role they hold, whatever its status, is
  covered: you hold each of its permission codes, and what its data scope reaches for that
  user lies inside your own data scope (403). Used by user update, delete, password reset,
  role assignment, the force logout of a session (a session is its user) and the disabling
  or moving of a department (it signs its users out, or changes their scope).
- **a role** (`ensure_power_over_role`): the role as it is now is covered (its codes, and
  what its data scope reaches for its holders), and every holder is inside your data scope
  (a change to the role changes their power). Used by role update (narrowing too: stripping
  or disabling a stronger role is acting on it) and delete; what the role becomes is checked
  by `ensure_grantable`.
- **a menu subtree** (`ensure_power_over_menu`): you hold every permission code carried by the
  menu and by every menu below it, enabled or not (enabling, moving or editing a directory
  hands those codes back to the roles that hold them). Used by menu update and delete.

Grants that are disabled (roles, menus) count as held by their holders: someone may enable
them again. Yourself: acting on your own account is allowed by this rule (other rules, such as
"nobody changes their own roles", apply on top).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.access import Principal, scope_filter
from app.modules.system.menu import repository as menu_repo
from app.modules.system.menu.exceptions import MenuPermissionNotHeld
from app.modules.system.role import repository as role_repo
from app.modules.system.role.exceptions import RoleOutranksCaller
from app.modules.system.role.repository import RoleGrant
from app.modules.system.user import repository as user_repo
from app.modules.system.user.exceptions import (
    SuperuserProtected,
    TargetOutranksCaller,
    UserNotFound,
)
from app.modules.system.user.models import User

Uncovered = Literal["permissions", "scope"] | None

__all__ = [
    "Uncovered",
    "ensure_power_over_menu",
    "ensure_power_over_role",
    "ensure_power_over_users",
    "first_uncovered",
    "scope_unlimited",
    "within_scope",
]


# ------------------------------------------------------------------ the comparisons --


def scope_unlimited(principal: Principal) -> bool:
    return principal.is_superuser or principal.scope.all


def within_scope(principal: Principal, dept_ids: Collection[int]) -> bool:
    """True if rows of every department in `dept_ids` are inside the caller's data scope."""
    return scope_unlimited(principal) or set(dept_ids) <= principal.scope.dept_ids


def user_in_scope(principal: Principal, *, user_id: int, dept_id: int | None) -> bool:
    """True if a user (in `dept_id`) is a row the caller's data scope reaches."""
    if scope_unlimited(principal):
        return True
    if dept_id is not None and dept_id in principal.scope.dept_ids:
        return True
    return principal.scope.own and user_id == principal.user_id


async def first_uncovered(
    db: AsyncSession,
    principal: Principal,
    grants: Sequence[RoleGrant],
    *,
    home_dept_id: int | None,
) -> Uncovered:
    """What the caller does not hold of these roles, for a holder in `home_dept_id`.

    None when the caller holds every permission code of every role and everything their data
    scopes reach (for that holder) lies inside the caller's own data scope; otherwise
    "permissions" or "scope".
    """
    if principal.is_superuser:
        return None
    for grant in grants:
        if not principal.holds_all(grant.codes):
            return "permissions"
    if principal.scope.all:
        return None
    home = {home_dept_id} if home_dept_id is not None else set()
    for grant in grants:
        if grant.data_scope == "all":
            return "scope"
        reach: Collection[int]
        if grant.data_scope == "custom":
            reach = grant.dept_ids
        elif grant.data_scope == "dept":
            reach = home
        elif grant.data_scope == "dept_and_children":
            reach = await role_repo.subtree_ids(db, home)
        else:  # "self": only the holder's own rows
            reach = ()
        if not within_scope(principal, reach):
            return "scope"
    return None


# --------------------------------------------------------------------- the targets --


async def ensure_power_over_users(
    db: AsyncSession, principal: Principal, users: Sequence[User]
) -> None:
    """404 for a user outside the caller's scope, 403 for a superuser (unless the caller is
    one) or a user holding a role the caller does not cover. The caller themselves passes."""
    if principal.is_superuser or not users:
        return
    for user in users:
        if not user_in_scope(principal, user_id=user.id, dept_id=user.dept_id):
            raise UserNotFound()
        if user.is_superuser:
            raise SuperuserProtected()
    others = [user for user in users if user.id != principal.user_id]
    roles, _ = await user_repo.links(db, [user.id for user in others])
    grants = {
        grant.id: grant
        for grant in await role_repo.grants(db, {r for ids in roles.values() for r in ids})
    }
    checked: set[tuple[frozenset[int], int | None]] = set()
    for user in others:
        held = frozenset(roles.get(user.id, []))
        if (held, user.dept_id) in checked:
            continue
        mine = [grants[role_id] for role_id in sorted(held) if role_id in grants]
        if await first_uncovered(db, principal, mine, home_dept_id=user.dept_id):
            raise TargetOutranksCaller()
        checked.add((held, user.dept_id))


async def ensure_power_over_role(db: AsyncSession, principal: Principal, role_id: int) -> None:
    """403 unless the caller covers the role as it is now, for every holder, and every
    holder is inside the caller's data scope."""
    if principal.is_superuser:
        return
    grants = await role_repo.grants(db, [role_id])
    if not grants:
        return
    (grant,) = grants
    if not principal.holds_all(grant.codes):
        raise RoleOutranksCaller()
    if principal.scope.all:
        return
    if grant.data_scope == "all":
        raise RoleOutranksCaller()
    reach: Collection[int] = ()
    if grant.data_scope == "custom":
        reach = grant.dept_ids
    elif grant.data_scope in ("dept", "dept_and_children"):
        holders = await role_repo.holder_dept_ids(db, role_id)
        reach = holders if grant.data_scope == "dept" else await role_repo.subtree_ids(db, holders)
    if not within_scope(principal, reach):
        raise RoleOutranksCaller()
    scope = scope_filter(principal, dept_column=User.dept_id, owner_column=User.id)
    if scope is not None and await role_repo.has_holder_outside(db, role_id, scope):
        raise RoleOutranksCaller()


async def ensure_power_over_menu(db: AsyncSession, principal: Principal, menu_id: int) -> None:
    """403 unless the caller holds every code carried by the menu and the menus below it."""
    if principal.is_superuser:
        return
    if not principal.holds_all(await menu_repo.subtree_codes(db, menu_id)):
        raise MenuPermissionNotHeld()
