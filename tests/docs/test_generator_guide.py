"""The commands and the YAML spec in docs/generator.md are valid: each runs with --dry-run
(which writes nothing) and is accepted."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from app.core.config import BASE_DIR

GUIDE = (BASE_DIR / "docs" / "generator.md").read_text()


def generate_commands() -> list[list[str]]:
    """Every `python main.py generate ...` line of the guide's bash blocks (continuations
    joined), without the ones that need a database (`--from-table`)."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", GUIDE, re.DOTALL):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words[:3] == ["python", "main.py", "generate"] and "--from-table" not in words:
                commands.append(words[3:])
    return commands


def dry_run(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "main.py", "generate", *args, "--dry-run"],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("args", generate_commands(), ids=lambda args: args[0])
def test_every_generate_command_of_the_guide_is_accepted(args: list[str]) -> None:
    if args[0] == "example":  # exists already: the guide's command regenerates it
        args = [*args, "--force"]
    result = dry_run(args)
    assert result.returncode == 0, result.stderr
    assert not (BASE_DIR / "app" / "modules" / "gadget").exists()


def test_the_yaml_spec_of_the_guide_is_accepted(tmp_path: Path) -> None:
    (spec,) = re.findall(r"```yaml\n(.*?)```", GUIDE, re.DOTALL)
    path = tmp_path / "person.yaml"
    path.write_text(spec)
    result = dry_run(["--spec", str(path)])
    assert result.returncode == 0, result.stderr
    assert "app/modules/person/router.py" in result.stdout


def test_the_guide_shows_commands() -> None:
    assert len(generate_commands()) >= 2
