"""Write the app's OpenAPI document to a file without a running server.

    python -m app.devtools.openapi_dump console/openapi.json   # or `-` for stdout

The app is built in test settings with every module enabled (the console's generated types
cover all of them) on a throw-away SQLite URL; nothing connects to a database or cache. The
output is deterministic: the same code gives the same bytes (`npm run gen` in console/ turns it
into `console/src/api/schema.d.ts`).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from app.core.config import load_settings
from app.main import create_app


def openapi_document() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="fastapiadmin-openapi-") as tmp:
        settings = load_settings(
            "test",
            database_url=f"sqlite+aiosqlite:///{tmp}/openapi.db",
            redis_url="",
            secret_key="openapi-dump-" + "x" * 40,
            data_dir=Path(tmp),
            modules=["*"],
            modules_disabled=[],
            enable_test_routes=False,
            log_level="WARNING",
        )
        app = create_app(settings)
        document: dict[str, Any] = app.openapi()
        return document


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    target = args[0] if args else "-"
    text = json.dumps(openapi_document(), indent=2, ensure_ascii=False) + "\n"
    if target == "-":
        sys.stdout.write(text)
    else:
        Path(target).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
