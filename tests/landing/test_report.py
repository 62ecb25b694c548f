"""How a run looks to people: the summary table of a real run, and progress as log lines."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.console import Console

from sensorlake.landing.config import LandingConfig
from sensorlake.landing.report import LogReporter, NullReporter, RichReporter, render_summary
from sensorlake.landing.rules import Rules

from ..support.flow import land


def cells(text: str) -> dict[str, list[str]]:
    """The table's rows by pipeline: its cells, pipeline first."""
    rows = [[c.strip() for c in line.split("│")] for line in text.splitlines() if "│" in line]
    return {row[0]: row for row in rows}


def rendered(summary: object) -> str:
    console = Console(file=io.StringIO(), width=200, color_system=None)
    render_summary(summary, console)  # type: ignore[arg-type]
    return console.file.getvalue()  # type: ignore[attr-defined]


def test_the_summary_has_a_row_per_pipeline_with_its_figures(
    sensor_db: Path, make_config: Callable[..., LandingConfig], rules: Rules
) -> None:
    summary = land(make_config(sensor_db), rules)
    text = rendered(summary)
    assert text.startswith("Landing summary") and f"rows read={summary.rows_read:,}" in text
    assert "gateway=gw-test" in text
    table = cells(text)
    assert set(table) == set(summary.targets)
    for name, target in summary.targets.items():
        assert table[name][1:3] == [f"{target.records:,}", f"{target.files:,}"]


def test_a_dry_run_says_nothing_was_written_and_ships_nothing(
    sensor_db: Path, make_config: Callable[..., LandingConfig], rules: Rules
) -> None:
    summary = land(make_config(sensor_db), rules, dry_run=True)
    text = rendered(summary)
    assert text.startswith("Dry run: nothing was written")
    assert cells(text)["raw"][-3:] == ["-", "-", "-"]  # shipped, pending, open
    if summary.would_land:
        assert f"would land {len(summary.would_land)} file(s)" in text


def test_log_progress_is_throttled_and_ends_with_the_total(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="sensorlake.landing")
    reporter = LogReporter(every=3600)
    reporter.begin(10)
    reporter.advance(4)
    reporter.advance(6)  # within the hour: no progress line
    reporter.note("spool full")
    reporter.end()
    assert [r.getMessage() for r in caplog.records] == [
        "landing 10 new row(s)",
        "spool full",
        "read 10 row(s)",
    ]
    assert caplog.records[1].levelno == logging.WARNING
    caplog.clear()
    eager = LogReporter(every=0)
    eager.begin(2)
    eager.advance(1)
    assert "read 1/2 rows" in [r.getMessage() for r in caplog.records]


def test_the_quiet_and_terminal_reporters_show_notes(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="sensorlake.landing")
    NullReporter().note("a new epoch")
    assert [r.getMessage() for r in caplog.records] == ["a new epoch"]
    console = Console(file=io.StringIO(), width=80, color_system=None)
    rich = RichReporter(console)
    rich.begin(5)
    rich.advance(5)
    rich.note("a conflict")
    rich.end()
    assert "a conflict" in console.file.getvalue()  # type: ignore[attr-defined]
