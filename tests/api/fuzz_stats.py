"""Counters filled by tests/api/test_fuzz.py and printed in the terminal summary."""

from __future__ import annotations

from collections import Counter, defaultdict

# identity -> number of generated cases sent to the app
CASES: Counter[str] = Counter()
# identity -> labels ("GET /api/v1/...") of the operations that received at least one case
OPERATIONS: defaultdict[str, set[str]] = defaultdict(set)
# "Deleted resources stay deleted": label of each resource checked ("/api/v1/system/users")
# -> how its create body was found ("generated" from the schema, or "fixture").
DELETED_RESOURCES: dict[str, str] = {}
# tests/api/test_edge_values.py: requests sent, and operations they went to.
EDGE_VALUES: Counter[str] = Counter()
