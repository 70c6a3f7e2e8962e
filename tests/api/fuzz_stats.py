"""Counters filled by tests/api/test_fuzz.py and printed in the terminal summary."""

from __future__ import annotations

from collections import Counter, defaultdict

# identity -> number of generated cases sent to the app
CASES: Counter[str] = Counter()
# identity -> labels ("GET /api/v1/...") of the operations that received at least one case
OPERATIONS: defaultdict[str, set[str]] = defaultdict(set)
