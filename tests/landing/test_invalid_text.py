"""TEXT values that are not UTF-8 (issue 13): one such row never stops a gateway.

Raw keeps the row, its bad values as text with U+FFFD and the original bytes in base64
under the contract's ``_invalid_utf8``; schematized rejects it (``<column>.invalid_utf8``);
every other row lands, before and after it, inline and in worker processes.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from sensorlake.contract.cli import main
from sensorlake.contract.records import INVALID_UTF8_FIELD
from sensorlake.landing.config import LandingConfig
from sensorlake.landing.rules import Rules
from sensorlake.landing.simulate import simulate_bulk

from ..support.flow import land
from .conftest import land_args, read_lake, source_ids

BAD_LOCATION = b"Caf\xe9 \xff"  # Latin-1, not UTF-8
BAD_SENSOR = b"NYC_\xc3("  # a broken two-byte sequence


def _poison(db: Path, row_id: int, column: str, data: bytes) -> None:
    """Store ``data`` as a TEXT value that is not UTF-8 (as a C writer could)."""
    with sqlite3.connect(db) as conn:
        conn.execute(
            f"UPDATE sensor_readings SET {column} = CAST(? AS TEXT) WHERE id = ?", (data, row_id)
        )
        assert conn.execute(
            f"SELECT typeof({column}) FROM sensor_readings WHERE id = ?", (row_id,)
        ).fetchone() == ("text",)


def _land(tmp_path: Path, db: Path) -> tuple[int, str]:
    result = CliRunner().invoke(
        main,
        land_args(tmp_path, db, "--json", gateway="gw-utf8"),
        env={"SENSORLAKE_WORKERS": "1"},
    )
    return result.exit_code, result.output


def _by_id(records: list[dict], field: str = "id") -> dict[int, dict]:
    return {r["_lineage"]["row_id"] if field == "_lineage" else r[field]: r for r in records}


def test_a_row_with_invalid_utf8_lands_in_raw_and_is_rejected(tmp_path: Path) -> None:
    db = tmp_path / "sensor.db"
    simulate_bulk(db, 40, seed=3)
    _poison(db, 5, "location", BAD_LOCATION)
    _poison(db, 12, "sensor_id", BAD_SENSOR)

    code, output = _land(tmp_path, db)
    assert code == 0, output
    assert "Traceback" not in output
    lake = read_lake(tmp_path / "lake")
    raw = _by_id(lake["raw"], "_lineage")
    assert sorted(raw) == source_ids(db)  # every row, before and after the bad ones

    five, twelve = raw[5], raw[12]
    assert five["location"] == BAD_LOCATION.decode("utf-8", errors="replace")
    assert base64.b64decode(five[INVALID_UTF8_FIELD]["location"]) == BAD_LOCATION
    assert base64.b64decode(twelve[INVALID_UTF8_FIELD]["sensor_id"]) == BAD_SENSOR
    assert all(INVALID_UTF8_FIELD not in r for i, r in raw.items() if i not in (5, 12))

    rejected = _by_id(lake["rejected"])
    assert "location.invalid_utf8" in rejected[5]["_rejected_reasons"]
    assert "sensor_id.invalid_utf8" in rejected[12]["_rejected_reasons"]
    assert base64.b64decode(rejected[5][INVALID_UTF8_FIELD]["location"]) == BAD_LOCATION
    schematized = {r["reading_id"] for r in lake.get("schematized", [])}
    assert not schematized & {5, 12}
    assert schematized | set(rejected) == set(raw)
    summary = json.loads(output.splitlines()[-1])
    assert summary["rejected_reasons"]["location.invalid_utf8"] == 1
    assert summary["rejected_reasons"]["sensor_id.invalid_utf8"] == 1

    # the next run is not stuck on them, and a bad row at the watermark (the anchor) is fine
    simulate_bulk(db, 10, seed=4)
    _poison(db, 50, "sensor_id", BAD_SENSOR)
    code, output = _land(tmp_path, db)
    assert code == 0, output
    code, output = _land(tmp_path, db)
    assert code == 0, output
    assert json.loads(output.splitlines()[-1])["new_epochs"] == []  # not taken for a reset
    raw_ids = sorted(r["_lineage"]["row_id"] for r in read_lake(tmp_path / "lake")["raw"])
    assert raw_ids == source_ids(db)


@pytest.mark.parametrize("workers", [1, 2])
def test_invalid_utf8_in_worker_processes_and_raw_only(
    tmp_path: Path, make_config: Callable[..., LandingConfig], rules: Rules, workers: int
) -> None:
    db = tmp_path / "sensor.db"
    simulate_bulk(db, 600, seed=5)
    for row_id in (1, 299, 300, 301, 600):
        _poison(db, row_id, "anomaly_type", b"\x80spike")
    for pipelines in ("raw", "raw,schematized,filtered,emergency"):
        config = make_config(
            db,
            pipelines=pipelines,
            state_dir=tmp_path / f"state-{pipelines}",
            lake_dir=tmp_path / f"lake-{pipelines}",
        )
        config = dataclasses.replace(
            config,
            limits=dataclasses.replace(config.limits, segment_rows=100, workers=workers),
        )
        summary = land(config, rules)
        assert summary.exit_code == 0
        raw = _by_id(read_lake(config.lake_dir)["raw"], "_lineage")
        assert sorted(raw) == source_ids(db)
        bad = sorted(i for i, r in raw.items() if INVALID_UTF8_FIELD in r)
        assert bad == [1, 299, 300, 301, 600]
        assert base64.b64decode(raw[300][INVALID_UTF8_FIELD]["anomaly_type"]) == b"\x80spike"
