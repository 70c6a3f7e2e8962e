"""Business rules of the files module: what may be uploaded, and who reaches which file.

- Upload: the extension must be allowed (`FILE_ALLOWED_TYPES`) and supported by `detect`,
  and the content must match it (checked while streaming); the size is capped while
  streaming; the storage key is generated here, never taken from the client's name.
- Access: the owner always reaches their file; others need the permission (`FILE_READ`,
  `FILE_DELETE`) *and* the file in their data scope. Anything else is "not found".
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import uuid
from collections.abc import AsyncIterator
from dataclasses import asdict

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.access import Principal
from app.core.config import Settings
from app.core.database import utcnow
from app.core.pagination import CursorPage, PageParams, fetch_page
from app.modules.files import detect
from app.modules.files import repository as repo
from app.modules.files.exceptions import FileContentMissing, FileNotFound, InvalidFile
from app.modules.files.models import StoredFile
from app.modules.files.permissions import FILE_DELETE, FILE_READ
from app.modules.files.schemas import FileFilters, FileRead
from app.modules.files.storage import FileStorage, InvalidKey, ObjectNotFound
from app.modules.files.upload import MultipartFileReader

log = structlog.get_logger("app.files")

MAX_NAME_LENGTH = 255
# Control, format (bidi overrides such as U+202E), separator and surrogate characters.
_STRIPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_SEPARATORS = re.compile(r"[/\\]")


def clean_filename(raw: str) -> str:
    """The client's file name as safe metadata: basename only, no control characters, no
    leading dots, at most 255 characters (the extension kept)."""
    name = unicodedata.normalize("NFC", raw)
    name = _SEPARATORS.split(name)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch) not in _STRIPPED_CATEGORIES)
    name = name.strip().lstrip(".").strip()
    if len(name) > MAX_NAME_LENGTH:
        stem, dot, extension = name.rpartition(".")
        if dot and stem and len(extension) < 32:
            name = f"{stem[: MAX_NAME_LENGTH - len(extension) - 1].rstrip()}.{extension}"
        else:
            name = name[:MAX_NAME_LENGTH]
    return name


def extension_of(name: str) -> str:
    stem, dot, extension = name.rpartition(".")
    return extension.lower() if dot and stem else ""


def allowed_type(name: str, settings: Settings) -> detect.FileType:
    """The accepted type for this file name, or a 422 naming `file`."""
    extension = extension_of(name)
    allowed = sorted({t.lower() for t in settings.file_allowed_types} & detect.SUPPORTED_EXTENSIONS)
    if extension not in allowed:
        shown = f".{extension} files are" if extension else "files without an extension are"
        raise InvalidFile(f"{shown} not accepted; allowed: {', '.join(allowed)}", type="file_type")
    return detect.TYPES[extension]


def new_storage_key(extension: str) -> str:
    """`<yyyy>/<mm>/<uuid4 hex>.<ext>`: unique, unguessable, and nothing from the client."""
    now = utcnow()
    return f"{now:%Y}/{now:%m}/{uuid.uuid4().hex}.{extension}"


async def upload_file(
    db: AsyncSession,
    storage: FileStorage,
    settings: Settings,
    principal: Principal,
    reader: MultipartFileReader,
) -> StoredFile:
    name = clean_filename(await reader.start())
    file_type = allowed_type(name, settings)
    check = detect.ContentCheck(file_type)
    digest = hashlib.sha256()
    size = 0

    async def verified() -> AsyncIterator[bytes]:
        # Raising here makes the storage discard what it received: nothing is kept.
        nonlocal size
        try:
            async for chunk in reader.chunks():
                check.feed(chunk)
                digest.update(chunk)
                size += len(chunk)
                yield chunk
            check.finish()
        except detect.TypeMismatch as exc:
            raise InvalidFile(str(exc), type="type_mismatch") from None

    key = new_storage_key(file_type.extension)
    await storage.save(key, verified())
    stored = StoredFile(
        storage_key=key,
        backend=storage.backend,
        original_name=name,
        content_type=file_type.media_type,
        extension=file_type.extension,
        size=size,
        sha256=digest.hexdigest(),
        owner_id=principal.user_id,
        dept_id=principal.dept_id,
    )
    try:
        return await repo.add(db, stored)
    except Exception:
        await storage.delete(key)  # no row, no bytes
        raise


async def list_files(
    db: AsyncSession, principal: Principal, *, filters: FileFilters, page: PageParams
) -> CursorPage[FileRead]:
    """One page of the files in the caller's data scope."""
    statement = repo.list_statement(principal, **asdict(filters))
    result = await fetch_page(db, statement, page, tiebreaker=[StoredFile.id.desc()])
    return result.as_page(FileRead)


async def get_file(
    db: AsyncSession, principal: Principal, file_id: int, code: str = FILE_READ
) -> StoredFile:
    """The file if the caller owns it, or holds `code` and has it in their data scope."""
    stored = await repo.get_reachable(db, principal, file_id, code)
    if stored is None:
        raise FileNotFound()
    return stored


async def open_content(
    db: AsyncSession, storage: FileStorage, principal: Principal, file_id: int
) -> tuple[StoredFile, AsyncIterator[bytes]]:
    """The file and its bytes; the bytes are opened here so a missing object is a 404."""
    stored = await get_file(db, principal, file_id, FILE_READ)
    try:
        return stored, await storage.open(stored.storage_key)
    except (ObjectNotFound, InvalidKey):
        log.error(
            "file_content_missing",
            file_id=stored.id,
            stored_in=stored.backend,
            storage=storage.backend,
        )
        raise FileContentMissing() from None


async def delete_file(
    db: AsyncSession, storage: FileStorage, principal: Principal, file_id: int
) -> None:
    stored = await get_file(db, principal, file_id, FILE_DELETE)
    await repo.delete(db, stored)
    # Bytes go before the commit: if the storage fails (503) the row stays and the delete
    # can be retried; deleting an already missing object is not an error.
    await storage.delete(stored.storage_key)
