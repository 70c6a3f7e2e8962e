"""Before/after values of changes to security-relevant records (users, roles, menus,
departments, parameters), written in the same transaction as the change itself.

    before = snapshot(role, ROLE_FIELDS) | {"menu_ids": old_menu_ids}
    ... change the role ...
    await record_change(db, entity="role", entity_id=role.id, action="update",
                        before=before, after=snapshot(role, ROLE_FIELDS) | {"menu_ids": new})

Only the fields whose values differ are stored; secrets are never stored (password hashes and
MFA seeds are dropped, anything under a secret-looking key is masked).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from enum import Enum
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.context import current_request_id, user_id_var
from app.core.logging import mask_secrets
from app.modules.system.operation_log.models import ChangeLog

Action = Literal["create", "update", "delete"]
NEVER_STORED = frozenset({"password_hash", "mfa_secret", "mfa_last_step", "token_hash"})
# Bookkeeping that moves with every write; not a change an auditor asks about.
NOT_COMPARED = frozenset({"updated_at", "version"})


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, set | frozenset):
        return sorted(_plain(v) for v in value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def snapshot(obj: object, fields: Iterable[str]) -> dict[str, Any]:
    """The current values of `fields` on `obj`, as JSON-ready values."""
    return {name: _plain(getattr(obj, name)) for name in fields if name not in NEVER_STORED}


async def record_change(
    db: AsyncSession,
    *,
    entity: str,
    entity_id: object,
    action: Action,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
) -> None:
    """Add a change-log row for this request; an update that changes nothing adds none."""
    old = {k: _plain(v) for k, v in (before or {}).items() if k not in NEVER_STORED}
    new = {k: _plain(v) for k, v in (after or {}).items() if k not in NEVER_STORED}
    if action == "update":
        changed = sorted(
            k for k in old.keys() | new.keys() if k not in NOT_COMPARED and old.get(k) != new.get(k)
        )
        if not changed:
            return
        old = {k: old.get(k) for k in changed}
        new = {k: new.get(k) for k in changed}
    db.add(
        ChangeLog(
            request_id=current_request_id(),
            user_id=user_id_var.get(),
            entity=entity,
            entity_id=str(entity_id),
            action=action,
            before=mask_secrets(old) if old else None,
            after=mask_secrets(new) if new else None,
        )
    )
