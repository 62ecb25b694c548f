"""A run adds up: batches, shipments and what the state still holds, per target."""

from __future__ import annotations

from pathlib import Path

from sensorlake.contract.summary import RunSummary
from sensorlake.landing.tally import add_batch, add_pending, add_shipment

from .conftest import landed_file


def test_batches_shipments_and_pending_add_up(tmp_path: Path) -> None:
    summary = RunSummary("local", "gw", "db")
    files = [landed_file(tmp_path, b"a" * 10), landed_file(tmp_path, b"b" * 20)]
    add_batch(summary, 500, {"sensor_id.format": 3}, files)
    add_shipment(summary, {"raw": 2}, {"raw": 30}, replays=1, conflicts=["raw/x"])
    add_shipment(summary, {"raw": 1}, {"raw": 5}, replays=0, conflicts=[])
    add_pending(summary, {"raw": {"pending_files": 1, "pending_bytes": 7, "conflict_files": 1}})
    raw = summary.targets["raw"]
    assert (summary.rows_read, summary.rejected_reasons) == (500, {"sensor_id.format": 3})
    assert (raw.records, raw.files, raw.bytes) == (20, 2, 30)
    assert (raw.shipped_files, raw.shipped_bytes) == (3, 35)
    assert (raw.pending_files, raw.pending_bytes) == (2, 7)
    assert (summary.replayed_objects, summary.conflicts) == (1, ["raw/x"])
