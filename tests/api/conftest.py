"""Reports how many cases the API fuzzing generated (tests/api/test_fuzz.py)."""

from __future__ import annotations

import pytest

from tests.api.fuzz_stats import CASES, OPERATIONS


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not CASES:
        return
    terminalreporter.section("API fuzzing (schemathesis)")
    for identity, count in sorted(CASES.items()):
        operations = len(OPERATIONS[identity])
        terminalreporter.write_line(f"{identity}: {count} cases over {operations} operations")
