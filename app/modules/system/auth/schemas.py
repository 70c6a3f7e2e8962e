"""Request and response bodies of the auth module."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.modules.system.auth.models import AuthSession
from app.modules.system.user.schemas import Email, Name, Phone


class TokenResponse(BaseModel):
    """RFC 6749 §5.1 token response (not enveloped, so OAuth2 clients and Swagger work)."""

    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int
    refresh_token: str
    password_change_required: bool = False


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    refresh_token: str = Field(min_length=16, max_length=256)


class MeRead(BaseModel):
    id: int
    username: str
    name: str
    email: str | None
    phone: str | None
    dept_id: int | None
    is_superuser: bool
    roles: list[str]
    permissions: list[str]
    mfa_enabled: bool
    password_change_required: bool
    mfa_enrollment_required: bool


class ProfileUpdate(BaseModel):
    """Only these fields are the caller's to change; roles, status and the like are not.
    They are the field types of the users API (`UserUpdate`), so the profile accepts nothing
    an administrator could not store: no control or bidi characters in the name, and `name`
    may not be null (`email` and `phone` may: they clear)."""

    model_config = ConfigDict(extra="forbid")
    name: Name | None = None
    email: Email = None
    phone: Phone = None

    @field_validator("name")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("may not be null")
        return value


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=1, max_length=1024)


class SessionRead(BaseModel):
    """A signed-in device; never carries a token."""

    session_id: str
    user_id: int
    username: str | None = None
    ip: str | None
    user_agent: str | None
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    current: bool = False

    @classmethod
    def of(cls, session: AuthSession, username: str | None, current_id: str | None) -> SessionRead:
        """The view of `session` for a caller whose own session is `current_id`."""
        return cls(
            session_id=session.id,
            user_id=session.user_id,
            username=username,
            ip=session.ip,
            user_agent=session.user_agent,
            created_at=session.created_at,
            last_seen_at=session.last_seen_at,
            expires_at=session.expires_at,
            current=session.id == current_id,
        )


class CaptchaRead(BaseModel):
    captcha_id: str
    image: str = Field(description="data:image/png;base64,... URL")
    expires_in: int


class MfaSetupRead(BaseModel):
    secret: str = Field(description="Base32 seed, shown once, for manual entry")
    otpauth_uri: str
    qr_png: str = Field(description="data:image/png;base64,... URL of the otpauth QR code")


class MfaSetup(BaseModel):
    """Enrolment re-authenticates (ASVS 7.5.1): an access token alone, stolen for its 15
    minutes, must not bind the attacker's authenticator to the account."""

    model_config = ConfigDict(extra="forbid")
    password: str = Field(min_length=1, max_length=1024, description="The current password")


class MfaConfirm(MfaSetup):
    """The current password again, and a first code from the new authenticator."""

    otp: str = Field(min_length=6, max_length=32, description="A code from the authenticator")


class MfaReauth(BaseModel):
    """Turning MFA off or renewing recovery codes needs the password and a current code."""

    model_config = ConfigDict(extra="forbid")
    password: str = Field(min_length=1, max_length=1024)
    otp: str = Field(
        min_length=6, max_length=32, description="A code from the authenticator, or a recovery code"
    )


class RecoveryCodesRead(BaseModel):
    recovery_codes: list[str]
