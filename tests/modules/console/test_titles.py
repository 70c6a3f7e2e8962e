"""The console translates the seeded menus and buttons by a stable key (console/src/utils/
menuTitle.ts): a button, one per permission code, by `perm.<code>`. Every permission code of
every module has its English title (the seeded one) and a Chinese one; a new permission
without them fails here, not only in the zh-CN browser test."""

from __future__ import annotations

import json
import re
from pathlib import Path

from app.core.access import registry
from app.main import create_app
from tests.conftest import make_settings

LOCALES = Path(__file__).resolve().parents[3] / "console" / "src" / "locales"


def test_every_permission_code_has_its_title_in_both_languages() -> None:
    create_app(make_settings("sqlite+aiosqlite:///:memory:", modules=["*"], modules_disabled=[]))
    seeded = {permission.code: permission.description for permission in registry.all()}
    english = json.loads((LOCALES / "en" / "perm.json").read_text(encoding="utf-8"))
    chinese = json.loads((LOCALES / "zh-CN" / "perm.json").read_text(encoding="utf-8"))
    assert {code: english.get(code) for code in seeded} == seeded
    untranslated = [
        code for code in seeded if not chinese.get(code) or re.search("[A-Za-z]{3,}", chinese[code])
    ]
    assert not untranslated, untranslated
