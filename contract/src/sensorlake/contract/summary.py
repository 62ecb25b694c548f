"""A landing run's summary: what ``sensorlake land --json`` prints and the gateway state keeps.

Landing fills it in; dashboards read the stored ones back (``gateway_state.read_runs``, beside
the ``runs`` table's DDL) to show each gateway's freshness, backlog and rejections without
touching the spool.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from .errors import ExitCode

__all__ = ["RunRecord", "RunSummary", "TargetSummary"]


@dataclass
class TargetSummary:
    """One target's files in a run (``shipped``/``pending`` count the whole spool; ``open``
    the records accumulating in files not yet closed, and the age of the oldest such file)."""

    records: int = 0
    files: int = 0
    bytes: int = 0
    shipped_files: int = 0
    shipped_bytes: int = 0
    pending_files: int = 0
    pending_bytes: int = 0
    open_records: int = 0
    open_bytes: int = 0
    open_age_seconds: float | None = None


@dataclass
class RunSummary:
    destination: str
    gateway_id: str
    db_path: str
    dry_run: bool = False
    rows_read: int = 0
    # Rows that cannot land exactly once: those whose id is NULL or not an integer (only in a
    # table whose id is not its INTEGER PRIMARY KEY) or not above 0, counted in the table as of
    # this run (skipped, every run), and those skipped this run because their id repeats
    # an earlier row's (the first row of each id lands).
    rows_without_id: int = 0
    duplicate_ids: int = 0
    epoch: int = 0
    watermark: int = 0
    new_epochs: list[str] = field(default_factory=list)
    targets: dict[str, TargetSummary] = field(default_factory=dict)
    rejected_reasons: dict[str, int] = field(default_factory=dict)
    replayed_objects: int = 0
    conflicts: list[str] = field(default_factory=list)
    # Spooled files that cannot ship (their key is not a landing key): kept, one error line
    # each; the run exits 5 once everything else is done.
    stranded_files: list[str] = field(default_factory=list)
    paused_spool_full: bool = False
    # Records accumulating in open files (all targets), the age of the oldest open file,
    # and when (UTC ISO 8601) and for which target the next file closes by age.
    open_records: int = 0
    oldest_open_age_seconds: float | None = None
    next_close_at: str | None = None
    next_close_target: str | None = None
    would_land: list[str] = field(default_factory=list)
    error: str | None = None
    exit_code: int = ExitCode.OK

    def target(self, name: str) -> TargetSummary:
        return self.targets.setdefault(name, TargetSummary())

    def account(
        self, rows: int, reasons: dict[str, int], files: Iterable[tuple[str, int, int]]
    ) -> None:
        """Add one batch: its rows, its rejected rows by reason, and its files as
        ``(target, records, bytes)``."""
        self.rows_read += rows
        for reason, n in reasons.items():
            self.rejected_reasons[reason] = self.rejected_reasons.get(reason, 0) + n
        for target, records, size in files:
            entry = self.target(target)
            entry.records += records
            entry.files += 1
            entry.bytes += size

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunSummary:
        """Read a stored summary back; fields a newer or older lander added are ignored."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        target_fields = {f.name for f in fields(TargetSummary)}
        values["targets"] = {
            name: TargetSummary(**{k: v for k, v in t.items() if k in target_fields})
            for name, t in (data.get("targets") or {}).items()
        }
        return cls(**values)


@dataclass(frozen=True)
class RunRecord:
    """One stored run: when it started and finished (UTC ISO 8601), and its summary."""

    run_id: int
    started_at: str
    finished_at: str
    summary: RunSummary
