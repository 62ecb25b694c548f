"""What a run adds up to: the contract's :class:`~sensorlake.contract.summary.RunSummary`
filled from the run's batches, shipments and the state's totals, so the runner only says
what happened (what people see while it runs is :mod:`report`'s business).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from sensorlake.contract.summary import RunSummary

from .files import LandedFile, OpenFile

__all__ = ["add_batch", "add_open", "add_pending", "add_shipment"]

log = logging.getLogger(__name__)


def add_batch(
    summary: RunSummary, rows: int, reasons: Mapping[str, int], files: Iterable[LandedFile]
) -> None:
    """A committed batch: its rows, its rejected rows by reason, its files."""
    summary.account(rows, dict(reasons), ((f.target, f.records, f.size) for f in files))


def add_shipment(
    summary: RunSummary,
    files: Mapping[str, int],
    sizes: Mapping[str, int],
    replays: int,
    conflicts: Iterable[str],
) -> None:
    """One pass of shipping: files and bytes per target, replays, conflicts."""
    for target, n in files.items():
        summary.target(target).shipped_files += n
    for target, n in sizes.items():
        summary.target(target).shipped_bytes += n
    summary.replayed_objects += replays
    summary.conflicts.extend(conflicts)


def add_pending(summary: RunSummary, totals: Mapping[str, Mapping[str, int]]) -> None:
    """What still waits in the spool (pending, or kept as a conflict), per target."""
    for target, counts in totals.items():
        entry = summary.target(target)
        entry.pending_files = counts.get("pending_files", 0) + counts.get("conflict_files", 0)
        entry.pending_bytes = counts.get("pending_bytes", 0) + counts.get("conflict_bytes", 0)


def add_open(
    summary: RunSummary, files: Iterable[OpenFile], now: float, max_age: Mapping[str, float]
) -> None:
    """The files still accumulating: records, bytes and the oldest's age per target, and
    which one closes next by age, and when."""
    next_close: tuple[float, str] | None = None
    for f in files:
        age = round(max(0.0, now - f.opened_at), 1)
        entry = summary.target(f.target)
        entry.open_records += f.records
        entry.open_bytes += f.size
        entry.open_age_seconds = max(entry.open_age_seconds or 0.0, age)
        summary.open_records += f.records
        summary.oldest_open_age_seconds = max(summary.oldest_open_age_seconds or 0.0, age)
        closes = f.opened_at + max_age.get(f.target, 0.0)
        if next_close is None or closes < next_close[0]:
            next_close = (closes, f.target)
    if next_close is not None:
        at = datetime.fromtimestamp(next_close[0], UTC)
        summary.next_close_at = at.isoformat(timespec="seconds")
        summary.next_close_target = next_close[1]
