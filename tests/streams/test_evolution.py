"""Raw's schema evolution (``evolution.py`` with the runner's restarts): new columns are
found, typed and kept, however many arrive at once."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from sensorlake.contract.records import Field
from sensorlake.landing.simulate import simulate_bulk
from sensorlake.streams import evolution
from sensorlake.streams.config import LocalRunConfig
from sensorlake.streams.runner import MAX_SCHEMA_RESTARTS, run

from .conftest import START, land, read_table


def test_new_columns_are_typed_from_their_json_values() -> None:
    seen = {"id": 1, "on": True, "n": 3, "x": 1.5, "s": "a", "nested": {"a": 1}}
    assert evolution.new_columns(seen, ["id"]) == [
        Field("on", "boolean"),
        Field("n", "long"),
        Field("x", "double"),
        Field("s", "string"),
        Field("nested", "string"),
    ]


def test_grown_columns_are_kept_in_order_and_replaced_whole(tmp_path: Path) -> None:
    assert evolution.load_extra(tmp_path / "none") == ()
    evolution.save_extra(tmp_path / "s", [Field("a", "long")])
    evolution.save_extra(tmp_path / "s", [Field("a", "long"), Field("b", "string")])
    assert evolution.load_extra(tmp_path / "s") == (Field("a", "long"), Field("b", "string"))
    assert [p.name for p in (tmp_path / "s").iterdir()] == [evolution.EXTRA_COLUMNS_FILE]


@pytest.mark.streams
def test_more_new_columns_at_once_than_restarts_allowed_all_arrive(
    spark: Any, tmp_path: Path, config: LocalRunConfig
) -> None:
    """The sensor's table grows more columns in one go than a cycle may restart for: every
    one is recorded by the first restart (not one column per restart), so raw ingests them
    all. Landed by the real lander from a database that really has those columns."""
    added = [f"extra_{i}" for i in range(MAX_SCHEMA_RESTARTS + 2)]
    db = tmp_path / "gw-a.db"
    simulate_bulk(db, 50, seed=3, start=START)
    with sqlite3.connect(db) as conn:
        for i, name in enumerate(added):
            conn.execute(f"ALTER TABLE sensor_readings ADD COLUMN {name} INTEGER")
            conn.execute(f"UPDATE sensor_readings SET {name} = id * 10 + {i}")
    landed = land(db, config.lake_dir, tmp_path / "state", "gw-a")

    config = replace(config, targets=("raw",))
    result = run(config, spark=spark, progress=lambda _: None)

    raw = result.tables["raw"]
    assert raw.error is None
    assert raw.new_columns == added
    rows = read_table(config, "raw")
    assert len(rows) == landed["raw"] == 50
    for row in rows:
        assert [row[name] for name in added] == [row["id"] * 10 + i for i in range(len(added))]
