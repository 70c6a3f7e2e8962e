"""The committed console build matches its sources (Node-free).

vite.config.ts stamps `source_hash` into app/console/dist/build-info.json: sha256 over
"<path>\\n<sha256 of the file>\\n" for every file of the console's sources, sorted by path.
This test computes the same hash; a difference means someone changed console/ without
rebuilding (`cd console && npm ci && npm run build`) or edited the build by hand.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from app.console import DIST_DIR

CONSOLE = Path(__file__).resolve().parents[3] / "console"
# Keep in step with SOURCES in console/vite.config.ts.
SOURCES = (
    "src",
    "public",
    "index.html",
    "package.json",
    "package-lock.json",
    "vite.config.ts",
    "tsconfig.json",
)

pytestmark = pytest.mark.skipif(
    not CONSOLE.is_dir(), reason="console sources not present (installed package)"
)


def source_hash(root: Path) -> str:
    files: list[str] = []
    for name in SOURCES:
        path = root / name
        found = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        files.extend(p.relative_to(root).as_posix() for p in found)
    digest = hashlib.sha256()
    for relative in sorted(files):
        content = hashlib.sha256((root / relative).read_bytes()).hexdigest()
        digest.update(f"{relative}\n{content}\n".encode())
    return digest.hexdigest()


def test_the_committed_build_was_made_from_these_sources() -> None:
    info = json.loads((DIST_DIR / "build-info.json").read_text(encoding="utf-8"))
    assert info["source_hash"] == source_hash(CONSOLE), (
        "app/console/dist is stale: run `cd console && npm ci && npm run build` and commit it"
    )


def test_the_hash_changes_with_any_source_file(tmp_path: Path) -> None:
    for name in ("index.html", "package.json"):
        (tmp_path / name).write_text("a", encoding="utf-8")
    for name in SOURCES:
        if not (tmp_path / name).exists():
            if "." in name:
                (tmp_path / name).write_text("a", encoding="utf-8")
            else:
                (tmp_path / name).mkdir()
    (tmp_path / "src" / "main.ts").write_text("a", encoding="utf-8")
    before = source_hash(tmp_path)
    (tmp_path / "src" / "main.ts").write_text("b", encoding="utf-8")
    assert source_hash(tmp_path) != before
    (tmp_path / "src" / "main.ts").write_text("a", encoding="utf-8")
    assert source_hash(tmp_path) == before
    (tmp_path / "src" / "other.ts").write_text("a", encoding="utf-8")
    assert source_hash(tmp_path) != before


def test_every_file_index_html_names_exists() -> None:
    index = (DIST_DIR / "index.html").read_text(encoding="utf-8")
    named = re.findall(r'(?:src|href)="/console/([^"]+)"', index)
    assert any(name.endswith(".js") for name in named)
    missing = [name for name in named if not (DIST_DIR / name).is_file()]
    assert not missing, missing


def test_index_html_has_no_inline_script_and_no_external_origin() -> None:
    index = (DIST_DIR / "index.html").read_text(encoding="utf-8")
    for tag in re.findall(r"<script[^>]*>(.*?)</script>", index, flags=re.S):
        assert not tag.strip(), "inline script: the console's CSP would block it"
    assert "http://" not in index and "https://" not in index and '="//' not in index


def test_the_lockfile_names_no_download_address() -> None:
    lock = (CONSOLE / "package-lock.json").read_text(encoding="utf-8")
    assert '"resolved"' not in lock
    assert (CONSOLE / ".npmrc").read_text(encoding="utf-8").count(
        "omit-lockfile-registry-resolved=true"
    ) == 1
