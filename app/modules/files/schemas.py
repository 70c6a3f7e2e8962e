"""Response bodies of the files module (uploads are multipart, not JSON)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class FileRead(BaseModel):
    """A stored file's metadata; where its bytes live is never shown."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    original_name: str = Field(description="The uploader's file name (sanitised, metadata only)")
    content_type: str = Field(description="Media type detected from the content")
    extension: str
    size: int = Field(description="Bytes")
    sha256: str = Field(description="Hex SHA-256 of the content")
    owner_id: int | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class FileFilters:
    """What `service.list_files` filters by (the list route's query parameters)."""

    name: str | None = None
    extension: str | None = None
