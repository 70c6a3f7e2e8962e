from typing import Literal

from pydantic import BaseModel


class Liveness(BaseModel):
    status: Literal["alive"] = "alive"


class ComponentStatus(BaseModel):
    status: Literal["up", "down"]
    latency_ms: float | None = None
    detail: str | None = None


class Readiness(BaseModel):
    status: Literal["ready"] = "ready"
    database: ComponentStatus
    cache: ComponentStatus
