"""Fixtures for the streams tests: one local Spark session, landed lakes, table readers."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from sensorlake.contract.cli import main as sensorlake
from sensorlake.contract.pipelines import TARGETS
from sensorlake.landing.simulate import simulate_bulk
from sensorlake.streams.config import LocalRunConfig

START = datetime.fromisoformat("2026-03-01T23:55:00+00:00")  # spans midnight: two dates


def land(
    db: Path, lake: Path, state: Path, gateway: str, file_rows: int | None = None
) -> dict[str, int]:
    """Land a sensor database into a local lake with the real CLI; records per target."""
    env = {"SENSORLAKE_FILE_MAX_ROWS": str(file_rows)} if file_rows else {}
    result = CliRunner(env=env).invoke(
        sensorlake,
        [
            "land",
            "--db-path", str(db),
            "--state-dir", str(state),
            "--lake-dir", str(lake),
            "--gateway-id", gateway,
            "--json",
        ],
        catch_exceptions=False,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    return {t: summary["targets"].get(t, {}).get("records", 0) for t in TARGETS}


@pytest.fixture
def landed(tmp_path: Path) -> Callable[..., dict[str, int]]:
    """Simulate ``rows`` readings on a gateway and land them into ``tmp_path/lake``
    (``file_rows``: rotate files at that many rows, for streams with many files)."""

    def make(
        rows: int, gateway: str = "gw-a", seed: int = 7, file_rows: int | None = None
    ) -> dict[str, int]:
        db = tmp_path / f"{gateway}.db"
        simulate_bulk(db, rows, seed=seed, start=START)
        return land(db, tmp_path / "lake", tmp_path / f"state-{gateway}", gateway, file_rows)

    return make


@pytest.fixture
def config(tmp_path: Path) -> LocalRunConfig:
    return LocalRunConfig(
        lake_dir=tmp_path / "lake",
        warehouse_dir=tmp_path / "warehouse",
        checkpoint_dir=tmp_path / "checkpoints",
        master="local[2]",
    )


def read_table(config: LocalRunConfig, target: str) -> list[dict[str, Any]]:
    """Every row of a target's local Delta table ([] when it does not exist)."""
    from deltalake import DeltaTable

    path = config.table_path(config.spec(target))
    if not path.exists():
        return []
    # to_pyarrow_dataset, not to_pyarrow_table: the latter aborts the interpreter at exit.
    return DeltaTable(str(path)).to_pyarrow_dataset().to_table().to_pylist()


def lineage_keys(rows: list[dict[str, Any]]) -> list[tuple[str, int, int]]:
    """(gateway, epoch, row id) of each row: a source row's identity."""
    return [
        (r["_lineage"]["gateway_id"], r["_lineage"]["epoch"], r["_lineage"]["row_id"]) for r in rows
    ]
