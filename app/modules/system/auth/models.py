"""Server-side sessions, their rotating refresh tokens, and MFA recovery codes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.database import Base, BigId, UtcDateTime, utcnow
from app.core.sorts import list_sorts


class AuthSession(Base):
    """One signed-in device. The database row is the source of truth for revocation."""

    __tablename__ = "auth_session"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # `sid` in access tokens
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("sys_user.id", ondelete="CASCADE"), index=True
    )
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    idle_expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())  # absolute cap
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), index=True)
    revoked_reason: Mapped[str | None] = mapped_column(String(32))

    @classmethod
    def live(cls, now: datetime) -> list[ColumnElement[bool]]:
        """The conditions of a session in use at `now`: not revoked, neither expiry passed."""
        return [cls.revoked_at.is_(None), cls.expires_at > now, cls.idle_expires_at > now]


# The live-sessions list (monitor): newest activity first; `(sort column, id)` indexes.
SESSION_SORTS = list_sorts(
    sortable={"created_at": AuthSession.created_at, "last_seen_at": AuthSession.last_seen_at},
    default="-last_seen_at",
    cursor_key=AuthSession.id,
)


class RefreshToken(Base):
    """One generation of a session's refresh token, stored hashed; used exactly once."""

    __tablename__ = "auth_refresh_token"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("auth_session.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class RecoveryCode(Base):
    """An MFA recovery code, stored as a keyed hash; single use."""

    __tablename__ = "auth_recovery_code"
    __table_args__ = (UniqueConstraint("user_id", "code_hash"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("sys_user.id", ondelete="CASCADE"), index=True
    )
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class RevocationEpoch(Base):
    """One row: a random token replaced by every session revocation, in the revoking
    transaction. In the lite shape the session cache is per process, so a revocation made by
    another process (`python main.py reset-password`) cannot reach it; each authenticated
    request reads this row (one primary-key read) and trusts a cached session only if it was
    cached under the current token (`app.modules.system.auth.sessions`)."""

    __tablename__ = "auth_revocation_epoch"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    epoch: Mapped[str] = mapped_column(String(32))
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
