"""Waits and time limits of the test suite, scaled to the machine it runs on.

On a busy two-core machine every process start, migration and request takes several times
longer than on an idle one; fixed waits then fail tests that would pass. `SLOWDOWN` is
`TEST_SLOWDOWN` when set, otherwise measured once at the start: the one-minute load average
per CPU (at least 1, at most 8). Startup waits (`scaled`) and the per-test time limit (120 s
before scaling, `tests/conftest.py`) are multiplied by it; assertions about how fast the app
answers (the outage budgets of docs/resilience.md) are not: they are what is being tested.
"""

from __future__ import annotations

import os

MAX_SLOWDOWN = 8.0


def _measure() -> float:
    given = os.environ.get("TEST_SLOWDOWN")
    if given:
        return max(1.0, float(given))
    try:
        load = os.getloadavg()[0]
    except OSError:  # pragma: no cover - not available on this platform
        return 1.0
    return min(MAX_SLOWDOWN, max(1.0, load / (os.cpu_count() or 1)))


SLOWDOWN = _measure()


def scaled(seconds: float) -> float:
    """`seconds` on an idle machine, stretched for this one."""
    return seconds * SLOWDOWN


# asgi_lifespan's own limits are 5 s for the startup and the shutdown: under load the shared
# app's startup (migrations checked, cache and pools opened) took longer and every test using
# it errored. Every `LifespanManager` of the suite uses this instead.
LIFESPAN_TIMEOUT = scaled(30)
