"""Figures of the fault-injection and multi-instance tests, printed in the terminal summary
(and copied into docs/reliability.md from a real run).

A test calls `record(...)` once per fault it injected, after its assertions passed or failed:
the summary counts what was sent and what went wrong, so a run states its own figures."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol


class _Answered(Protocol):
    @property
    def status(self) -> int | None: ...


@dataclass(frozen=True)
class FaultFigures:
    test: str  # checklist id and short name, e.g. "F2 PostgreSQL crash during writes"
    requests: int  # HTTP requests sent to the app(s) while and after injecting the fault
    server_errors: int  # answers 500-599 other than the policy's 503/504
    writes_acknowledged: int = 0  # writes answered 2xx whose durability the test checked
    writes_lost: int = 0  # of those, how many were missing afterwards
    # The slowest /health/live answer during the fault (seconds): recorded, not asserted,
    # where a fault could block the event loop (F4, F7 frozen).
    live_worst_latency: float | None = None


FIGURES: list[FaultFigures] = []


def record(
    test: str,
    *,
    requests: int,
    server_errors: int,
    writes_acknowledged: int = 0,
    writes_lost: int = 0,
    live_worst_latency: float | None = None,
) -> None:
    FIGURES.append(
        FaultFigures(
            test, requests, server_errors, writes_acknowledged, writes_lost, live_worst_latency
        )
    )


def record_samples(
    test: str,
    samples: Iterable[_Answered],
    *,
    writes_acknowledged: int = 0,
    writes_lost: int = 0,
    live_worst_latency: float | None = None,
) -> None:
    """`record` from a load's samples: 5xx other than 503/504 count as server errors."""
    listed = list(samples)
    errors = sum(
        1 for s in listed if s.status is not None and s.status >= 500 and s.status not in (503, 504)
    )
    record(
        test,
        requests=len(listed),
        server_errors=errors,
        writes_acknowledged=writes_acknowledged,
        writes_lost=writes_lost,
        live_worst_latency=live_worst_latency,
    )


def _line(f: FaultFigures) -> str:
    line = (
        f"{f.test}: {f.requests} requests, {f.server_errors} 5xx, "
        f"{f.writes_acknowledged} acknowledged writes checked, {f.writes_lost} lost"
    )
    if f.live_worst_latency is not None:
        line += f", /health/live worst {f.live_worst_latency:.3f}s"
    return line


def summary_lines() -> list[str]:
    if not FIGURES:
        return []
    lines = [_line(f) for f in FIGURES]
    lines.append(
        f"total: {len(FIGURES)} faults injected, {sum(f.requests for f in FIGURES)} requests, "
        f"{sum(f.server_errors for f in FIGURES)} 5xx, "
        f"{sum(f.writes_lost for f in FIGURES)} writes lost"
    )
    return lines
