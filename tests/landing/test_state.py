"""The gateway state: batch commits with the watermark, ship order, the lock, migrations."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from sensorlake.contract.gateway_state import GatewayStateLayout, read_runs
from sensorlake.contract.keys import LandingKey
from sensorlake.landing.config import load_config
from sensorlake.landing.errors import LocalStorageError
from sensorlake.landing.files import LandedFile
from sensorlake.landing.rules import load_rules
from sensorlake.landing.runner import Lander
from sensorlake.landing.simulate import simulate_bulk
from sensorlake.landing.sink import LocalLakeSink
from sensorlake.landing.state import SourcePosition, State


def landed(target: str, first: int, last: int, epoch: int = 1) -> LandedFile:
    key = LandingKey(target, "2026-03-01", "gw", epoch, first, last)
    bucket = "schematized" if target == "rejected" else target
    path = Path(f"/spool/ready/{bucket}/{key.format()}")
    return LandedFile(key, bucket, path, 100, "aa" * 32, "cc" * 32, last - first + 1, "v1")


def test_a_batch_commits_its_files_with_the_watermark(state: State) -> None:
    files = [landed("raw", 1, 500), landed("emergency", 3, 400)]
    state.commit_batch(files, epoch=1, watermark=500, anchor="abc")
    assert state.position() == SourcePosition(1, 500, "abc", "1:2")
    assert sorted(f.name for f in state.pending()) == sorted(f.name for f in files)
    assert {f.name: f for f in state.pending()} == {f.name: f for f in files}  # round trip


def test_a_batch_for_another_epoch_is_refused_whole(state: State) -> None:
    with pytest.raises(RuntimeError, match="epoch 2"):
        state.commit_batch([landed("raw", 1, 5, epoch=2)], epoch=2, watermark=5, anchor="x")
    assert state.pending() == [] and state.position().watermark == 0


def test_pending_ships_emergency_first_then_in_arrival_order(state: State) -> None:
    state.commit_batch(
        [landed("raw", 1, 500), landed("emergency", 7, 300), landed("schematized", 1, 500)],
        epoch=1,
        watermark=500,
        anchor="a",
    )
    state.commit_batch(
        [landed("raw", 501, 900), landed("emergency", 600, 700)], epoch=1, watermark=900, anchor="b"
    )
    order = [(f.target, f.key.first_row) for f in state.pending()]
    assert order == [
        ("emergency", 7),
        ("emergency", 600),
        ("raw", 1),
        ("schematized", 1),
        ("raw", 501),
    ]


def test_shipped_and_conflicting_files_leave_the_queue(state: State) -> None:
    shipped, kept, waiting = landed("raw", 1, 10), landed("raw", 11, 20), landed("raw", 21, 30)
    state.commit_batch([shipped, kept, waiting], epoch=1, watermark=30, anchor="a")
    state.mark_shipped(shipped)
    state.mark_failed(kept, "exists with different content", conflict=True)
    state.mark_failed(waiting, "network down")
    assert [f.name for f in state.pending()] == [waiting.name]
    assert [f.name for f in state.conflicts()] == [kept.name]
    assert sorted(state.spooled_paths()) == sorted([kept.path, waiting.path])
    assert state.spooled_bytes() == 200
    totals = state.totals()["raw"]
    assert (totals["shipped_files"], totals["conflict_files"], totals["pending_files"]) == (1, 1, 1)


def test_one_lander_per_state_directory(state: State, tmp_path: Path) -> None:
    with pytest.raises(LocalStorageError, match="already running") as info:
        State.open(tmp_path / "state")
    assert info.value.exit_code == 5
    state.close()
    State.open(tmp_path / "state").close()  # released with the state


def test_read_position_is_read_only_and_adopt_copies_it(state: State, tmp_path: Path) -> None:
    state.commit_batch([landed("raw", 1, 9)], epoch=1, watermark=9, anchor="a")
    assert State.read_position(tmp_path / "nowhere") is None
    position = State.read_position(tmp_path / "state")
    assert position == SourcePosition(1, 9, "a", "1:2")
    scratch = State.open(tmp_path / "scratch")
    try:
        scratch.adopt(position)
        assert scratch.position() == position and scratch.pending() == []
    finally:
        scratch.close()


def test_a_state_from_the_previous_schema_is_migrated(tmp_path: Path) -> None:
    """A gateway upgraded with files still pending keeps them; they ship without a content
    checksum (their metadata says nothing rather than something wrong)."""
    folder = tmp_path / "old"
    folder.mkdir()
    conn = sqlite3.connect(folder / "landing-state.db")
    conn.executescript(
        """
        CREATE TABLE files (bucket TEXT NOT NULL, key TEXT NOT NULL, target TEXT NOT NULL,
            spool_path TEXT NOT NULL, sha256 TEXT NOT NULL, size INTEGER NOT NULL,
            records INTEGER NOT NULL, epoch INTEGER NOT NULL, first_row INTEGER NOT NULL,
            last_row INTEGER NOT NULL, rules_version TEXT NOT NULL, status TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT, created_at TEXT NOT NULL,
            shipped_at TEXT, PRIMARY KEY (bucket, key));
        """
    )
    old = landed("raw", 1, 5)
    conn.execute(
        "INSERT INTO files VALUES (?, ?, 'raw', ?, ?, 100, 5, 1, 1, 5, 'v1', 'pending', 0,"
        " NULL, 'now', NULL)",
        (old.bucket, old.name, str(old.path), old.sha256),
    )
    conn.commit()
    conn.close()
    state = State.open(folder)
    try:
        assert state.pending() == [replace(old, content_sha256="")]
        assert "content-sha256" not in state.pending()[0].metadata.to_s3()
    finally:
        state.close()


def test_stored_runs_read_back_through_the_contract_as_the_summaries_landing_returned(
    tmp_path: Path,
) -> None:
    assert read_runs(tmp_path / "state") == []
    db = tmp_path / "sensor.db"
    simulate_bulk(db, 500, seed=3)
    config = load_config(
        env={}, db_path=db, state_dir=tmp_path / "state", gateway_id="gw", lake_dir=tmp_path / "l"
    )
    lander = Lander(config, load_rules(), LocalLakeSink(config.lake_dir))
    first = lander.run_once()
    simulate_bulk(db, 200, seed=4)
    second = lander.run_once()
    runs = read_runs(config.state_dir)
    assert [r.summary for r in runs] == [second, first]
    assert runs[0].run_id > runs[1].run_id
    assert runs[0].started_at <= runs[0].finished_at
    assert runs[1].summary.rows_read == 500 and runs[0].summary.rows_read == 200
    assert read_runs(config.state_dir, limit=1)[0].summary == second
    layout = GatewayStateLayout(config.state_dir)
    assert layout.db.exists() and layout.lock.exists()  # where the contract says
