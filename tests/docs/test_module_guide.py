"""Every code block of docs/modules.md is a real file: written into a copy of the repository,
it must pass ruff and mypy, agree with its migration, and pass its own tests.

A block is exercised when its first line is `# file: <path>`. The migration's `down_revision`
is set to the copy's current head, so the guide keeps working as revisions are added.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from app.core.config import BASE_DIR
from tests.architecture.layers import check
from tests.architecture.test_layers import ALLOWED
from tests.support.databases import TEST_DATABASE_URL
from tests.support.repo_copy import copy_repository, run_in

GUIDE = BASE_DIR / "docs" / "modules.md"
BLOCK = re.compile(r"```python\n# file: (?P<path>\S+)\n(?P<code>.*?)```", re.DOTALL)
SAMPLE_PARENT = "c1f23fd99b28"


def blocks() -> dict[str, str]:
    found = {match["path"]: match["code"] for match in BLOCK.finditer(GUIDE.read_text())}
    assert found, "docs/modules.md has no `# file:` blocks"
    return found


def test_the_guide_covers_every_part_of_a_module() -> None:
    paths = set(blocks())
    parts = ("models", "permissions", "schemas", "repository", "service", "router", "jobs")
    for part in (*parts, "config"):
        assert f"app/modules/notes/{part}.py" in paths
    assert "app/modules/notes/__init__.py" in paths
    assert any(path.startswith("migrations/versions/") for path in paths)
    assert any(path.startswith("tests/modules/notes/") for path in paths)


@pytest.mark.timeout(600)
def test_the_guide_module_passes_lint_types_migration_check_and_its_tests(
    tmp_path: Path,
) -> None:
    repo = copy_repository(tmp_path / "repo")
    head = ScriptDirectory(str(repo / "migrations")).get_current_head()
    assert head is not None
    written: list[str] = []
    for path, code in blocks().items():
        target = repo / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.startswith("migrations/"):
            code = code.replace(SAMPLE_PARENT, head)
        target.write_text(f"# file: {path}\n{code}")
        written.append(path)
    for package in ("tests/modules/notes",):
        (repo / package / "__init__.py").touch()
    broken = [v for v in check(repo) if (v.file, v.target) not in ALLOWED]
    assert not broken, "the guide's module breaks the import rules:\n" + "\n".join(map(str, broken))
    python = sys.executable

    if not TEST_DATABASE_URL:  # static checks once per CI run (the SQLite one)
        run_in(repo, [python, "-m", "ruff", "check", *written])
        run_in(repo, [python, "-m", "ruff", "format", "--check", *written])
        code_files = [path for path in written if not path.startswith("migrations/")]
        run_in(
            repo,
            [python, "-m", "mypy", "--cache-dir", str(tmp_path / "mypy"), *code_files],
            timeout=420,
        )
        database = f"sqlite+aiosqlite:///{tmp_path}/check.db"
        env = {"DATABASE_URL": database, "DATA_DIR": str(tmp_path / "data")}
        run_in(repo, [python, "main.py", "upgrade", "--env=test"], env=env)
        checked = run_in(repo, [python, "main.py", "check", "--env=test"], env=env)
        assert "agree" in checked.stdout

    tests = run_in(
        repo,
        [python, "-m", "pytest", "tests/modules/notes", "-q", "-p", "no:cacheprovider"],
        timeout=420,
    )
    assert "3 passed" in tests.stdout, tests.stdout
