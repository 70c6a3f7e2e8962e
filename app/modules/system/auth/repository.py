"""SQL of the auth module: the account behind a sign-in, sessions and the caller's menu tree."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.access import Principal
from app.modules.system.auth.models import AuthSession
from app.modules.system.menu.models import Menu
from app.modules.system.role.models import Role, role_menu
from app.modules.system.user.models import User, user_role


async def user_by_username(db: AsyncSession, username: str) -> User | None:
    """The account whose name is exactly `username`, on every database.

    MariaDB/MySQL compare with the column's collation (`utf8mb4_unicode_ci` ignores case and
    accents: `alice`, `Alice` and `álice` are equal there), PostgreSQL and SQLite compare
    bytes. The indexed comparison finds the candidate (at most one: usernames are unique
    regardless of case) and the exact comparison is made here, so a sign-in reaches the same
    account, or none, on every database, and the throttle counts against that account.
    """
    rows = await db.execute(select(User).where(User.username == username))
    return next((user for user in rows.scalars() if user.username == username), None)


async def record_sign_in(
    db: AsyncSession, user: User, *, ip: str, now: datetime, rehashed: str | None
) -> None:
    """Write the sign-in bookkeeping with plain `UPDATE`s, not a versioned write of the row.

    Several sign-ins of one account at once (service accounts, browser tabs) must all succeed:
    a versioned update made all but one of them a 409. The row's `version` and `updated_at`
    stay as they are (signing in is not an edit), so an administrator's open edit form is not
    invalidated either. A password hash upgraded to the current parameters replaces the old one
    only if that is still the stored one (a concurrent password change wins).
    """
    await db.execute(
        update(User)
        .where(User.id == user.id)
        .values(last_login_at=now, last_login_ip=ip, updated_at=User.updated_at)
        .execution_options(synchronize_session=False)
    )
    if rehashed is not None:
        await db.execute(
            update(User)
            .where(User.id == user.id, User.password_hash == user.password_hash)
            .values(password_hash=rehashed, updated_at=User.updated_at)
            .execution_options(synchronize_session=False)
        )


async def live_sessions(db: AsyncSession, now: datetime, *, user_id: int) -> Sequence[AuthSession]:
    rows = await db.execute(
        select(AuthSession)
        .where(AuthSession.user_id == user_id, *AuthSession.live(now))
        .order_by(AuthSession.created_at.desc(), AuthSession.id)
    )
    return rows.scalars().all()


async def visible_menus(db: AsyncSession, principal: Principal) -> list[Menu]:
    """Active directories and pages the caller may use, with their ancestors, ordered by sort
    and id (ready to nest). Hidden ones (`visible` false) are included so that a front end
    can register their routes without showing them in its navigation."""
    menus = list(
        (
            await db.execute(
                select(Menu)
                .where(Menu.status == "active", Menu.type != "button")
                .order_by(Menu.sort, Menu.id)
            )
        ).scalars()
    )
    if principal.is_superuser:
        return menus
    granted = set(
        (
            await db.execute(
                select(role_menu.c.menu_id)
                .join(Role, Role.id == role_menu.c.role_id)
                .join(user_role, user_role.c.role_id == Role.id)
                .where(user_role.c.user_id == principal.user_id, Role.status == "active")
            )
        ).scalars()
    )
    by_id = {menu.id: menu for menu in menus}
    keep: set[int] = set()
    for menu_id in granted:
        current = by_id.get(menu_id)
        while current is not None and current.id not in keep:
            keep.add(current.id)
            current = by_id.get(current.parent_id) if current.parent_id else None
    return [menu for menu in menus if menu.id in keep]
