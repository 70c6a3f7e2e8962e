"""Reports how many cases the API fuzzing generated (tests/api/test_fuzz.py)."""

from __future__ import annotations

import pytest

from tests.api.fuzz_stats import CASES, DELETED_RESOURCES, EDGE_VALUES, OPERATIONS


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not CASES and not DELETED_RESOURCES and not EDGE_VALUES:
        return
    terminalreporter.section("API fuzzing (schemathesis)")
    for identity, count in sorted(CASES.items()):
        operations = len(OPERATIONS[identity])
        terminalreporter.write_line(f"{identity}: {count} cases over {operations} operations")
    if DELETED_RESOURCES:
        generated = sum(1 for how in DELETED_RESOURCES.values() if how == "generated")
        terminalreporter.write_line(
            f"deleted stays deleted: {len(DELETED_RESOURCES)} resources checked "
            f"({generated} with a body generated from the schema, "
            f"{len(DELETED_RESOURCES) - generated} with a fixture body)"
        )
    if EDGE_VALUES:
        terminalreporter.write_line(
            f"edge values: {EDGE_VALUES['requests']} requests over "
            f"{EDGE_VALUES['operations']} operations, no 5xx"
        )
