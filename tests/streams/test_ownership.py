"""``ownership.py``: a checkpoint with nothing in it belongs to any empty table, and says so
without writing anything (the runner's real checkpoints are in test_runner.py)."""

from __future__ import annotations

from pathlib import Path

from sensorlake.streams.ownership import last_commit, mismatch, query_id, recorded_source_file


def test_a_missing_checkpoint_has_no_query_commit_or_file(tmp_path: Path) -> None:
    checkpoint = tmp_path / "checkpoint"
    assert query_id(checkpoint) is None
    assert last_commit(checkpoint) is None
    assert recorded_source_file(checkpoint) is None
    assert mismatch(checkpoint, tmp_path / "table", tmp_path / "lake") is None
    assert not checkpoint.exists() and not (tmp_path / "table").exists()


def test_unreadable_metadata_is_no_query(tmp_path: Path) -> None:
    (tmp_path / "metadata").write_text("{not json")
    (tmp_path / "commits").mkdir()
    for name in ("0", "1", "2.compact", "notes"):
        (tmp_path / "commits" / name).write_text("v1\n")
    assert query_id(tmp_path) is None
    assert last_commit(tmp_path) == 2
