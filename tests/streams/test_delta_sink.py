"""The local Delta sink: one commit per (query, batch), whatever is replayed."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from sensorlake.streams.delta_sink import committed_version, table_rows, write_batch

pytestmark = pytest.mark.streams
PARTS = ("date", "gateway")


def _rows(path: Path) -> list[dict]:
    return DeltaTable(str(path)).to_pyarrow_dataset().to_table().to_pylist()


def test_a_replayed_batch_commits_nothing_and_new_columns_merge(tmp_path: Path) -> None:
    path = tmp_path / "t"
    assert committed_version(path, "q1") is None and table_rows(path) == 0
    batch0 = pa.table({"id": [1, 2], "date": ["d1", "d2"], "gateway": ["g", "g"]})
    assert write_batch(path, batch0, app_id="q1", batch_id=0, partition_by=PARTS, merge_schema=True)
    assert not write_batch(
        path, batch0, app_id="q1", batch_id=0, partition_by=PARTS, merge_schema=True
    )
    grown = pa.table({"id": [3], "extra": ["x"], "date": ["d1"], "gateway": ["g"]})
    assert write_batch(path, grown, app_id="q1", batch_id=1, partition_by=PARTS, merge_schema=True)
    assert not write_batch(
        path, batch0, app_id="q1", batch_id=0, partition_by=PARTS, merge_schema=True
    )  # older
    assert committed_version(path, "q1") == 1
    # Another query (a new checkpoint) has its own transaction id.
    assert write_batch(path, batch0, app_id="q2", batch_id=0, partition_by=PARTS, merge_schema=True)
    assert table_rows(path) == 5
    rows = sorted(_rows(path), key=lambda r: (r["id"], r["extra"] or ""))
    assert [r["id"] for r in rows] == [1, 1, 2, 2, 3]
    assert rows[-1]["extra"] == "x" and rows[0]["extra"] is None
    assert DeltaTable(str(path)).metadata().partition_columns == list(PARTS)
    assert (path / "date=d1" / "gateway=g").is_dir()


def test_a_table_that_does_not_merge_refuses_a_batch_of_another_shape(tmp_path: Path) -> None:
    """The one rule (``StreamSpec.merges_schema``): only raw's writes merge; any other
    table keeps the contract's schema, as ``toTable`` without ``mergeSchema`` does."""
    path = tmp_path / "t"
    batch0 = pa.table({"id": [1], "date": ["d1"], "gateway": ["g"]})
    assert write_batch(path, batch0, app_id="q", batch_id=0, partition_by=PARTS, merge_schema=False)
    grown = pa.table({"id": [2], "extra": ["x"], "date": ["d1"], "gateway": ["g"]})
    with pytest.raises(Exception, match=r"(?i)schema"):
        write_batch(path, grown, app_id="q", batch_id=1, partition_by=PARTS, merge_schema=False)
    assert table_rows(path) == 1 and committed_version(path, "q") == 0
