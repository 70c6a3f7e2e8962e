"""The progress of long commands (import, export): a bar with the rate and the time left."""

from __future__ import annotations

import io

from app.cli.progress import Progress, progress_line


def test_the_line_shows_the_bar_the_rate_and_the_time_left() -> None:
    line = progress_line("created", 250, 1000, elapsed=5.0, unit="users")
    assert "[######------------------]" in line
    assert "250/1,000 users" in line and "25%" in line
    assert "50 users/s" in line and "~15 s left" in line
    assert progress_line("created", 1000, 1000, 20.0, "users").endswith("done")
    assert "elapsed" in progress_line("exported", 10, None, 1.0, "users")


def test_a_log_gets_a_line_at_the_start_and_at_the_end_of_each_stage() -> None:
    """Not a counter every 200 rows and then nothing for a minute: the first call shows at
    once, each stage's last call always shows, in between at most every `interval`."""
    stream = io.StringIO()
    show = Progress("users", stream=stream, interactive=False, interval=3600)
    for done in range(1, 501):
        show("checked", done, 500)
    for done in range(1, 11):
        show("created", done, 10)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 4, lines
    assert lines[0].startswith("checked [") and "1/500" in lines[0]
    assert "500/500" in lines[1] and lines[1].endswith("done")
    assert lines[2].startswith("created [") and lines[3].endswith("done")
