"""Progress of a long command (import, export): a bar with the rate and the time left.

On a terminal, one line redrawn in place (at most ten times a second); otherwise (a log, a
pipe) a line every two seconds and at the end of each stage. Always on stderr, so stdout
stays the command's result.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

BAR_WIDTH = 24


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def progress_line(stage: str, done: int, total: int | None, elapsed: float, unit: str) -> str:
    """`checked [#####-----]  420/1000 users  42%  210 users/s  ~3 s left`."""
    rate = done / elapsed if elapsed > 0 else 0.0
    rate_text = f"{rate:,.0f} {unit}/s" if rate else f"- {unit}/s"
    if not total:
        return f"{stage} {done:,} {unit}  {rate_text}  {_duration(elapsed)} elapsed"
    share = min(1.0, done / total)
    filled = round(share * BAR_WIDTH)
    bar = "#" * filled + "-" * (BAR_WIDTH - filled)
    left = f"~{_duration((total - done) / rate)} left" if rate and done < total else "done"
    return f"{stage} [{bar}] {done:,}/{total:,} {unit}  {share:4.0%}  {rate_text}  {left}"


class Progress:
    """A progress callback `(stage, done, total)` for the transfer functions."""

    def __init__(
        self,
        unit: str = "users",
        *,
        stream: TextIO | None = None,
        interactive: bool | None = None,
        interval: float | None = None,
    ) -> None:
        self.unit = unit
        self.stream = stream or sys.stderr
        self.interactive = self.stream.isatty() if interactive is None else interactive
        self.interval = interval if interval is not None else (0.1 if self.interactive else 2.0)
        self._now = time.monotonic
        self._stage = ""
        self._started = 0.0
        self._last_shown = -1e9
        self._open_line = False

    def __call__(self, stage: str, done: int, total: int | None = None) -> None:
        now = self._now()
        if stage != self._stage:
            self.finish()
            self._stage, self._started, self._last_shown = stage, now, -1e9
        last = total is not None and done >= total
        if now - self._last_shown < self.interval and not last:
            return
        self._last_shown = now
        line = progress_line(stage, done, total, now - self._started, self.unit)
        if self.interactive:
            self.stream.write(f"\r\x1b[2K{line}")
            self._open_line = True
        else:
            self.stream.write(f"{line}\n")
        self.stream.flush()

    def finish(self) -> None:
        """End the redrawn line (call before printing anything else)."""
        if self._open_line:
            self.stream.write("\n")
            self.stream.flush()
            self._open_line = False
