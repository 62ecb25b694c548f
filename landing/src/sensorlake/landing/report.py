"""How a run looks to people and scripts: the :class:`Reporter` protocol the runner talks
to (a live progress bar on a terminal, log lines otherwise, nothing in tests and backfills),
and a per-pipeline summary as a table or as JSON."""

from __future__ import annotations

import logging
import time
from typing import Any, Protocol

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from sensorlake.contract.summary import RunSummary

__all__ = ["LogReporter", "NullReporter", "Reporter", "RichReporter", "render_summary"]

log = logging.getLogger("sensorlake.landing")


class Reporter(Protocol):
    """Progress for people: a live bar on a terminal, log lines otherwise."""

    def begin(self, rows_total: int) -> None: ...
    def advance(self, rows: int) -> None: ...
    def note(self, message: str) -> None: ...
    def end(self) -> None: ...


class NullReporter:
    def begin(self, rows_total: int) -> None:
        pass

    def advance(self, rows: int) -> None:
        pass

    def note(self, message: str) -> None:
        log.info("%s", message)

    def end(self) -> None:
        pass


class RichReporter:
    def __init__(self, console: Console) -> None:
        self.console = console
        self._progress: Progress | None = None
        self._task: Any = None

    def begin(self, rows_total: int) -> None:
        if self._progress is None:
            self._progress = Progress(
                TextColumn("landing"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("rows"),
                TimeRemainingColumn(),
                console=self.console,
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task("rows", total=rows_total)

    def advance(self, rows: int) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, rows)

    def note(self, message: str) -> None:
        self.console.print(f"[yellow]•[/] {message}")

    def end(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


class LogReporter:
    """Plain lines for logs and pipes, at most one progress line every ``every`` seconds."""

    def __init__(self, every: float = 5.0) -> None:
        self.every = every
        self._total = 0
        self._done = 0
        self._last = 0.0

    def begin(self, rows_total: int) -> None:
        self._total, self._done, self._last = rows_total, 0, time.monotonic()
        log.info("landing %d new row(s)", rows_total)

    def advance(self, rows: int) -> None:
        self._done += rows
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            log.info("read %d/%d rows", self._done, self._total)

    def note(self, message: str) -> None:
        log.warning("%s", message)

    def end(self) -> None:
        log.info("read %d row(s)", self._done)


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def render_summary(summary: RunSummary, console: Console) -> None:
    title = "Dry run: nothing was written" if summary.dry_run else "Landing summary"
    console.print(
        f"[bold]{title}[/]  destination={summary.destination} gateway={summary.gateway_id} "
        f"epoch={summary.epoch} watermark={summary.watermark} rows read={summary.rows_read:,}"
    )
    table = Table(show_edge=False)
    for column in ("pipeline", "records", "files", "bytes", "shipped", "pending", "open"):
        table.add_column(column, justify="left" if column == "pipeline" else "right")
    for name, t in summary.targets.items():
        table.add_row(
            name,
            f"{t.records:,}",
            f"{t.files:,}",
            _size(t.bytes),
            "-" if summary.dry_run else f"{t.shipped_files:,} ({_size(t.shipped_bytes)})",
            "-" if summary.dry_run else f"{t.pending_files:,} ({_size(t.pending_bytes)})",
            f"{t.open_records:,} ({t.open_age_seconds:.0f} s)" if t.open_records else "-",
        )
    console.print(table)
    if summary.open_records:
        console.print(
            f"{summary.open_records:,} record(s) accumulating in open files, the oldest "
            f"{summary.oldest_open_age_seconds:.0f} s old; next to close by age: "
            f"{summary.next_close_target} at {summary.next_close_at}"
            + (" (a one-shot land closes them all now)" if summary.dry_run else "")
        )
    elif summary.dry_run:
        console.print(
            "no file is open: a one-shot land closes every file it writes; with --continuous "
            "a file closes at its size limit, SENSORLAKE_FILE_MAX_AGE_SECONDS after it opens, "
            "or when its readings reach a later date"
        )
    if summary.rejected_reasons:
        reasons = ", ".join(
            f"{r}={n:,}" for r, n in sorted(summary.rejected_reasons.items(), key=lambda x: -x[1])
        )
        console.print(f"rejected by reason: {reasons}")
    if summary.rows_without_id:
        console.print(f"[yellow]{summary.rows_without_id:,} row(s) without a usable id: skipped[/]")
    if summary.duplicate_ids:
        console.print(f"[yellow]{summary.duplicate_ids:,} row(s) with a repeated id: skipped[/]")
    for message in summary.new_epochs:
        console.print(f"[yellow]{message}[/]")
    if summary.replayed_objects:
        console.print(
            f"{summary.replayed_objects} object(s) were already in place (replayed safely)"
        )
    if summary.paused_spool_full:
        console.print("[yellow]spool full: reading paused until pending files ship[/]")
    for key in summary.conflicts:
        console.print(f"[red]conflict:[/] {key} (kept in the spool, not overwritten)")
    for path in summary.stranded_files:
        shown = path if path.isprintable() else repr(path)
        console.print(f"[red]cannot ship:[/] {shown} (kept in the spool; see the error above)")
    if summary.dry_run and summary.would_land:
        console.print(f"would land {len(summary.would_land)} file(s), e.g. {summary.would_land[0]}")
