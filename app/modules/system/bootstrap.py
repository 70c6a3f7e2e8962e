"""Initial data of the system module (`python main.py init`), from `data/initial.yaml`.

Idempotent: every row is matched by its natural key and inserted only when missing, never
overwritten. Concurrent runs from several hosts are serialised by `app.core.bootstrap`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import structlog
import yaml
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.access import registry
from app.core.config import ConfigError, Settings
from app.core.modules import load_modules
from app.core.security.passwords import PasswordHasher, check_password, generate_password
from app.modules.system.dept.models import Dept
from app.modules.system.dict.models import DictData, DictType
from app.modules.system.menu.models import Menu
from app.modules.system.param.models import Param
from app.modules.system.param.schemas import normalise as normalise_param_value
from app.modules.system.role.models import Role, role_menu
from app.modules.system.user.models import User, user_role

DATA_FILE = Path(__file__).parent / "data" / "initial.yaml"
log = structlog.get_logger("app.init")


def read_data() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(DATA_FILE.read_text(encoding="utf-8"))
    return data


async def _depts(db: AsyncSession, items: list[dict[str, Any]]) -> dict[str, Dept]:
    found: dict[str, Dept] = {}
    for item in items:
        dept = (
            await db.execute(select(Dept).where(Dept.code == item["code"]))
        ).scalar_one_or_none()
        if dept is None:
            dept = Dept(code=item["code"], name=item["name"], sort=item.get("sort", 0), path="/")
            db.add(dept)
            await db.flush()
            dept.path = f"/{dept.id}/"
        found[dept.code] = dept
    return found


async def _menus(db: AsyncSession, items: list[dict[str, Any]], parent: Menu | None) -> None:
    for item in items:
        menu = (await db.execute(select(Menu).where(Menu.name == item["name"]))).scalars().first()
        if menu is None:
            fields = {k: v for k, v in item.items() if k != "children"}
            menu = Menu(parent_id=parent.id if parent else None, **fields)
            db.add(menu)
            await db.flush()
        await _menus(db, item.get("children", []), menu)


async def _buttons(db: AsyncSession) -> None:
    """One button per declared permission code, under its resource's list page."""
    existing = {
        code for code in (await db.execute(select(Menu.permission))).scalars() if code is not None
    }
    pages = {
        menu.permission.rsplit(":", 1)[0]: menu
        for menu in (await db.execute(select(Menu).where(Menu.type == "menu"))).scalars()
        if menu.permission
    }
    for index, permission in enumerate(registry.all()):
        if permission.code in existing:
            continue
        page = pages.get(permission.code.rsplit(":", 1)[0])
        db.add(
            Menu(
                parent_id=page.id if page else None,
                type="button",
                title=permission.description,
                permission=permission.code,
                sort=index,
                visible=True,
            )
        )
    await db.flush()


async def _roles(db: AsyncSession, items: list[dict[str, Any]]) -> dict[str, Role]:
    found: dict[str, Role] = {}
    for item in items:
        role = (
            await db.execute(select(Role).where(Role.code == item["code"]))
        ).scalar_one_or_none()
        if role is None:
            role = Role(
                code=item["code"],
                name=item["name"],
                data_scope=item.get("data_scope", "self"),
                sort=item.get("sort", 0),
                remark=item.get("remark"),
            )
            db.add(role)
            await db.flush()
        if item.get("grant_all"):
            granted = set(
                (
                    await db.execute(
                        select(role_menu.c.menu_id).where(role_menu.c.role_id == role.id)
                    )
                ).scalars()
            )
            missing = [m for m in (await db.execute(select(Menu.id))).scalars() if m not in granted]
            if missing:
                await db.execute(
                    insert(role_menu), [{"role_id": role.id, "menu_id": m} for m in missing]
                )
        found[role.code] = role
    return found


async def _dicts(db: AsyncSession, items: list[dict[str, Any]]) -> None:
    """Dictionary types by `code`, and their items by (type, `value`)."""
    for item in items:
        code = item["code"]
        if (await db.execute(select(DictType.id).where(DictType.code == code))).first() is None:
            db.add(DictType(code=code, name=item["name"], remark=item.get("remark")))
            await db.flush()
        values = set(
            (await db.execute(select(DictData.value).where(DictData.type_code == code))).scalars()
        )
        for entry in item.get("items", []):
            if str(entry["value"]) not in values:
                db.add(
                    DictData(
                        type_code=code,
                        label=entry["label"],
                        value=str(entry["value"]),
                        sort=entry.get("sort", 0),
                        tag=entry.get("tag"),
                    )
                )
    await db.flush()


async def _params(db: AsyncSession, items: list[dict[str, Any]]) -> None:
    """Built-in parameters by `key`; an existing value is never overwritten."""
    existing = set((await db.execute(select(Param.key))).scalars())
    for item in items:
        if item["key"] in existing:
            continue
        value_type = item.get("value_type", "str")
        db.add(
            Param(
                key=item["key"],
                name=item["name"],
                value_type=value_type,
                value=normalise_param_value(value_type, str(item["value"])),
                remark=item.get("remark"),
                built_in=True,
            )
        )
    await db.flush()


def _admin_password(settings: Settings) -> tuple[str, bool]:
    """The configured password, or (outside production) a generated one to change at login."""
    if settings.init_admin_password is not None:
        return settings.init_admin_password.get_secret_value(), False
    if settings.is_production:
        raise ConfigError(
            "invalid setting INIT_ADMIN_PASSWORD: required for the first init in prod"
        )
    return generate_password(), True


async def _admin(
    db: AsyncSession,
    settings: Settings,
    spec: dict[str, Any],
    depts: dict[str, Dept],
    roles: dict[str, Role],
) -> None:
    if (await db.execute(select(User.id).where(User.username == spec["username"]))).first():
        return
    password, generated = _admin_password(settings)
    check_password(
        password, settings=settings, field="INIT_ADMIN_PASSWORD", context=[spec["username"]]
    )
    user = User(
        username=spec["username"],
        name=spec["name"],
        email=spec.get("email"),
        is_superuser=True,
        dept_id=depts[spec["dept"]].id if spec.get("dept") in depts else None,
        password_hash=await PasswordHasher(settings).hash(password),
        must_change_password=generated,
    )
    db.add(user)
    await db.flush()
    for code in spec.get("roles", []):
        await db.execute(insert(user_role).values(user_id=user.id, role_id=roles[code].id))
    log.info("superuser_created", username=user.username)
    if generated:
        # Shown once, on the operator's terminal, never logged.
        sys.stdout.write(
            f"\nCreated superuser {user.username!r} with the one-time password: {password}\n"
            "It must be changed at the first sign-in.\n\n"
        )
        sys.stdout.flush()


async def load_initial_data(db: AsyncSession, settings: Settings) -> None:
    """Departments, menus, one button per permission code, roles, the `admin` superuser,
    dictionaries and built-in parameters."""
    data = read_data()
    depts = await _depts(db, data.get("depts", []))
    await _menus(db, data.get("menus", []), None)
    for spec in load_modules(settings):  # each module's own menus (ModuleSpec.menus)
        await _menus(db, [dict(item) for item in spec.menus], None)
    await _buttons(db)
    roles = await _roles(db, data.get("roles", []))
    if data.get("admin"):
        await _admin(db, settings, data["admin"], depts, roles)
    await _dicts(db, data.get("dict_types", []))
    await _params(db, data.get("params", []))
