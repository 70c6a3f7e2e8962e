"""The docs stand alone: every file of the repository that README.md, CONTRIBUTING.md or a
page of docs/ names exists, and nothing in the repository points at a file outside it (the
security checklist the tests cite is docs/security-checklist.md)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md"))]
TOP_LEVEL = (
    "app/", "tests/", "docs/", "migrations/", "env/", "deploy/", "bench/", ".ci/",
    "main.py", "Makefile", "pyproject.toml", "alembic.ini", "Dockerfile", "docker-compose",
)  # fmt: skip
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
CODE = re.compile(r"`([^`\s]+)`")
MARKDOWN_NAME = re.compile(r"(?<![\w/.-])((?:[\w.-]+/)*[\w-]+\.md)\b")
PLACEHOLDER = re.compile(r"[<>*{}$|…]|NAME|\.\.\.")


def named_files(doc: Path) -> set[str]:
    """Repository paths `doc` names: relative links, `code` spans starting at a top-level
    entry of the repository, and every *.md file name in its text."""
    text = doc.read_text(encoding="utf-8")
    names = {
        target
        for target in LINK.findall(text)
        if not target.startswith(("http://", "https://", "mailto:"))
    }
    for span in CODE.findall(text):
        path = span.split("::")[0].rstrip(".,;:")
        if path.startswith(TOP_LEVEL) and not PLACEHOLDER.search(path):
            names.add(path)
    names.update(MARKDOWN_NAME.findall(text))
    return names


# Files the docs tell the reader to create (not shipped).
CREATED_BY_THE_READER = {"env/.env.prod", "env/.env.dev", "tests/modules/notes/"}


def exists(doc: Path, name: str) -> bool:
    name = name.removeprefix("./")
    if name in CREATED_BY_THE_READER:
        return True
    for base in (doc.parent, ROOT, ROOT / "docs"):
        path = (base / name).resolve()
        if path.is_relative_to(ROOT) and path.exists():
            return True
    return False


@pytest.mark.parametrize("doc", DOCS, ids=lambda doc: doc.relative_to(ROOT).as_posix())
def test_every_file_a_doc_names_exists(doc: Path) -> None:
    missing = sorted(name for name in named_files(doc) if not exists(doc, name))
    assert not missing, (
        f"{doc.relative_to(ROOT)} names files that are not in the repository: {missing}"
    )


def test_code_and_tests_cite_the_checklist_in_the_repository() -> None:
    """Comments and docstrings cite docs/security-checklist.md, never a file outside."""
    outside = re.compile(r"(?<!-)\bSECURITY\.md|HOUSE_STYLE\.md|/work/shared")
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for folder in ("app", "tests", "migrations", "bench", "deploy")
        for path in sorted((ROOT / folder).rglob("*"))
        if path.suffix in (".py", ".md", ".yaml", ".yml", ".toml", ".sh", ".conf", ".txt")
        and path != Path(__file__)
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if outside.search(line)
    ]
    assert not offenders, offenders
    assert (ROOT / "docs" / "security-checklist.md").is_file()
