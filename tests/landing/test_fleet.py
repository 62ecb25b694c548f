"""`sensorlake simulate --fleet N`: N gateways, each its own database, state and id, landed by
the real lander into one lake; rounds add rows and land only what is new."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from sensorlake.contract.cli import main

from .conftest import read_lake

pytestmark = pytest.mark.raw


def simulate(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["simulate", *args], env={}, catch_exceptions=False)
    return result.exit_code, result.output


def test_a_fleet_lands_each_gateway_once_per_round(tmp_path: Path) -> None:
    fleet, lake = tmp_path / "fleet", tmp_path / "lake"
    args = ["--fleet", "4", "--rows", "60", "--fleet-dir", str(fleet), "--lake-dir", str(lake)]
    code, out = simulate(*args, "--rounds", "2", "--interval", "0", "--seed", "3")
    assert code == 0, out
    assert "4 gateways, 2 round(s): 480 readings" in out
    homes = sorted(p.name for p in fleet.iterdir())
    assert homes == ["gw-0001", "gw-0002", "gw-0003", "gw-0004"]
    for home in homes:
        assert (fleet / home / "state").is_dir()
        with sqlite3.connect(fleet / home / "sensor_data.db") as conn:
            assert conn.execute("SELECT count(*) FROM sensor_readings").fetchone()[0] == 120
    raw = read_lake(lake)["raw"]
    by_gateway: dict[str, set[int]] = {}
    for record in raw:
        lineage = record["_lineage"]
        by_gateway.setdefault(lineage["gateway_id"], set()).add(lineage["row_id"])
    # every row of every gateway landed exactly once, under its own gateway id
    assert by_gateway == {g: set(range(1, 121)) for g in homes}
    assert len(raw) == 4 * 120


def test_a_fleet_needs_rows(tmp_path: Path) -> None:
    code, out = simulate("--fleet", "2", "--fleet-dir", str(tmp_path), "--lake-dir", str(tmp_path))
    assert code == 2 and "readings per gateway" in out
