from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict


class LoginLogRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str | None
    user_id: int | None
    event: str
    success: bool
    reason: str | None
    ip: str | None
    user_agent: str | None
    browser: str | None
    os: str | None
    device: str | None
    request_id: str | None
    created_at: datetime
