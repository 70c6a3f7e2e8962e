"""The suite's waits and time limits scale with the machine (tests/support/timing.py): on a
busy two-core machine a fixed 120 s limit failed tests that pass in seconds when alone."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from app.core.config import BASE_DIR
from tests.support.timing import SLOWDOWN, scaled


def test_waits_and_the_time_limit_scale_together(request: pytest.FixtureRequest) -> None:
    assert SLOWDOWN >= 1
    assert scaled(60) == 60 * SLOWDOWN
    marker = request.node.get_closest_marker("timeout")
    if SLOWDOWN > 1:
        assert marker is not None and marker.args[0] == pytest.approx(120 * SLOWDOWN)


def test_the_slowdown_can_be_set_and_is_never_below_one() -> None:
    for given, expected in (("2.5", "25.0"), ("0.1", "10.0")):
        result = subprocess.run(
            [sys.executable, "-c", "from tests.support.timing import scaled; print(scaled(10))"],
            cwd=BASE_DIR,
            env={**os.environ, "TEST_SLOWDOWN": given},
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        assert result.stdout.strip() == expected
