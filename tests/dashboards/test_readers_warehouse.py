"""The local warehouse reader on what the real streams wrote: each table's figures, the
files its checkpoint committed, the newest emergencies, and one line when it cannot read."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from deltalake import DeltaTable

from sensorlake.contract.lake import checkpoint_path
from sensorlake.contract.pipelines import DEFAULT_CATALOG, DEFAULT_SCHEMA, table_name
from sensorlake.dashboards.errors import BackendUnavailable
from sensorlake.dashboards.readers.warehouse import LocalWarehouseReader, read_file_source_log

from .conftest import GATEWAY, Flow, landed_keys

pytestmark = pytest.mark.dashboards


def reader(flow: Flow) -> LocalWarehouseReader:
    return LocalWarehouseReader(flow.warehouse, flow.checkpoints, DEFAULT_CATALOG, DEFAULT_SCHEMA)


def checkpoint(flow: Flow, target: str) -> Path:
    return checkpoint_path(flow.checkpoints, DEFAULT_CATALOG, DEFAULT_SCHEMA, table_name(target))


def test_before_any_stream_there_is_no_warehouse_to_read(tmp_path: Path) -> None:
    missing = LocalWarehouseReader(tmp_path / "none", tmp_path / "cp", "c", "s")
    for read in (lambda: missing.table_stats("raw"), missing.latest_emergencies):
        with pytest.raises(BackendUnavailable, match="does not exist") as err:
            read()
        assert "\n" not in str(err.value)
    (tmp_path / "wh").mkdir()
    empty = LocalWarehouseReader(tmp_path / "wh", tmp_path / "cp", "c", "s")
    assert empty.table_stats("raw") is None and empty.latest_emergencies() == ()


def test_a_streamed_table_has_the_landed_files_and_rows(flow: Flow) -> None:
    written = flow.ingest(targets=("raw", "emergency"))
    stats = reader(flow).table_stats("raw")
    assert stats is not None
    keys = {k.format() for k in landed_keys(flow.lake, "raw")}
    assert stats.rows == written["raw"] and stats.files == keys
    assert stats.processed_files == keys  # every batch committed in the checkpoint
    assert stats.gateway_rows == {GATEWAY: written["raw"]}
    assert stats.gateway_distinct == {GATEWAY: written["raw"]}  # nothing doubled
    assert stats.version == DeltaTable(str(flow.table_path("raw"))).version()
    assert sum(stats.ingested_per_minute.values()) == written["raw"]

    newest = reader(flow).latest_emergencies(limit=5)
    assert 0 < len(newest) <= 5 and all(r.gateway == GATEWAY and r.reasons for r in newest)
    times = [r.timestamp for r in newest]
    assert times == sorted(times, reverse=True)


def test_only_committed_batches_count_as_processed(flow: Flow) -> None:
    flow.ingest(targets=("raw",))
    cp = checkpoint(flow, "raw")
    assert read_file_source_log(cp) == {k.format() for k in landed_keys(flow.lake, "raw")}
    shutil.rmtree(cp / "commits")  # planned, never committed
    assert read_file_source_log(cp) == frozenset()
    assert read_file_source_log(cp.parent / "no-such-table") is None


def test_a_table_folder_without_its_log_is_one_line(flow: Flow) -> None:
    flow.ingest(targets=("raw",))
    shutil.rmtree(flow.table_path("raw") / "_delta_log")
    with pytest.raises(BackendUnavailable, match="no readable _delta_log") as err:
        reader(flow).table_stats("raw")
    assert "\n" not in str(err.value)
