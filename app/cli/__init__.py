"""What every `main.py` command shares: one line per failure, settings, progress.

The rule for the command line: every failure is **one line** on stderr, `error: <what
happened>[: <what to do>]`, with exit code 2 for a usage or configuration mistake and 1 for a
failure of the action itself; never a traceback (`FASTAPIADMIN_TRACEBACK=1` shows it).
`run_cli` enforces it for all commands at once, `guarded` names the expected failures.
"""

from __future__ import annotations

from app.cli.errors import AppErrorLine, fail, failure_line, guarded, run_cli
from app.cli.progress import Progress

__all__ = ["AppErrorLine", "Progress", "fail", "failure_line", "guarded", "run_cli"]
