"""Rows without a usable id (issue 13): a table whose ``id`` is not its INTEGER PRIMARY KEY
may hold NULL, non-integer and repeated ids. None of them is silent: NULL and non-integer
ids are counted (``rows_without_id``) and skipped, a repeated id lands once (its first row
by rowid) and the others are counted (``duplicate_ids``); each gives one warning line."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

from sensorlake.landing.simulate import CREATE_TABLE_SQL, simulate_bulk

from .conftest import SENSORLAKE, child_env, land_args, read_lake

NO_KEY_SQL = CREATE_TABLE_SQL.replace("id INTEGER PRIMARY KEY AUTOINCREMENT", "id INTEGER")


def _table_without_key(tmp_path: Path, rows: int, ids: list[object]) -> Path:
    """The sensor's 27 columns without the primary key, the simulator's rows under ``ids``."""
    source = tmp_path / "simulated.db"
    simulate_bulk(source, rows, seed=11)
    db = tmp_path / "sensor.db"
    with sqlite3.connect(db) as conn:
        assert "PRIMARY KEY" not in NO_KEY_SQL
        conn.execute(NO_KEY_SQL)
        conn.execute("ATTACH ? AS sim", (str(source),))
        conn.execute("INSERT INTO sensor_readings SELECT * FROM sim.sensor_readings ORDER BY id")
        for rowid, new_id in enumerate(ids, start=1):
            conn.execute("UPDATE sensor_readings SET id = ? WHERE rowid = ?", (new_id, rowid))
    return db


def _land(tmp_path: Path, db: Path) -> tuple[subprocess.CompletedProcess[str], dict]:
    result = subprocess.run(
        [
            SENSORLAKE,
            *land_args(tmp_path, db, "--json", gateway="gw-ids"),
        ],
        env=child_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert "Traceback" not in result.stderr
    return result, json.loads(result.stdout)


def test_null_and_repeated_ids_are_counted_and_warned(tmp_path: Path) -> None:
    ids: list[object] = [1, 2, None, 4, 4, 5, "six", 7.5, 8, 8, 8, None]
    db = _table_without_key(tmp_path, len(ids), ids)
    result, summary = _land(tmp_path, db)
    assert result.returncode == 0, result.stderr
    assert summary["rows_without_id"] == 4  # two NULL, one text, one real
    assert summary["duplicate_ids"] == 3
    assert summary["rows_read"] == 5  # 1, 2, 4, 5, 8
    warnings = result.stderr.splitlines()
    assert sum("4 row(s) have no usable id" in line for line in warnings) == 1
    assert sum("skipped 3 row(s) whose id repeats" in line for line in warnings) == 1

    raw = read_lake(tmp_path / "lake")["raw"]
    lineages = [r["_lineage"]["row_id"] for r in raw]
    assert sorted(lineages) == [1, 2, 4, 5, 8]  # each id once
    with sqlite3.connect(db) as conn:  # the first row of each repeated id (by rowid)
        first = dict(
            conn.execute(
                "SELECT id, timestamp FROM sensor_readings WHERE rowid IN (4, 9)"
            ).fetchall()
        )
    landed = {r["id"]: r["timestamp"] for r in raw}
    assert landed[4] == first[4] and landed[8] == first[8]
    schematized = {r["reading_id"] for r in read_lake(tmp_path / "lake").get("schematized", [])}
    rejected = {r["id"] for r in read_lake(tmp_path / "lake").get("rejected", [])}
    assert schematized | rejected == set(lineages) and not schematized & rejected

    # the next run: the unusable rows are still there, still counted; nothing lands twice
    result, summary = _land(tmp_path, db)
    assert result.returncode == 0
    assert summary["rows_without_id"] == 4 and summary["rows_read"] == 0
    assert summary["duplicate_ids"] == 0


def test_ten_rows_with_one_null_id_are_not_read_as_nine_silently(tmp_path: Path) -> None:
    ids: list[object] = [1, 2, 3, 4, None, 6, 7, 8, 9, 10]
    db = _table_without_key(tmp_path, len(ids), ids)
    result, summary = _land(tmp_path, db)
    assert result.returncode == 0
    assert summary["rows_read"] + summary["rows_without_id"] == 10
    assert summary["rows_without_id"] == 1 and "have no usable id" in result.stderr


def test_ids_of_zero_or_below_are_counted_even_with_the_primary_key(tmp_path: Path) -> None:
    """Found by the whole-flow test: an explicit insert at id 0 or below (the sensor's own
    table, with its primary key) was never read and never counted."""
    db = tmp_path / "sensor.db"
    simulate_bulk(db, 5, seed=12)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE sensor_readings SET id = -1 WHERE id = 1")
        conn.execute("UPDATE sensor_readings SET id = 0 WHERE id = 2")
    result, summary = _land(tmp_path, db)
    assert result.returncode == 0
    assert (summary["rows_read"], summary["rows_without_id"]) == (3, 2)
    assert "not above 0" in result.stderr
    assert sorted(r["_lineage"]["row_id"] for r in read_lake(tmp_path / "lake")["raw"]) == [3, 4, 5]


def test_a_gap_of_ids_wider_than_a_batch_is_crossed(tmp_path: Path) -> None:
    """Found by the property test: a batch that finds no row did not move on, for ever."""
    ids: list[object] = [1, 2, 40, 41, 90]
    db = _table_without_key(tmp_path, len(ids), ids)
    result = subprocess.run(
        [SENSORLAKE, *land_args(tmp_path, db, "--json", gateway="gw-gap")],
        env=child_env(SENSORLAKE_BATCH_ROWS="10"),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    raw = read_lake(tmp_path / "lake")["raw"]
    assert sorted(r["_lineage"]["row_id"] for r in raw) == [1, 2, 40, 41, 90]
