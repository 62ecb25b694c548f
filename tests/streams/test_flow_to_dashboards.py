"""The whole flow on one machine, checked the way an operator would: simulate, land, ingest
with the real local streams, then ask `sensorlake status` whether every reading reached its
table exactly once (the dashboards' reconciliation over the streams' real output)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from sensorlake.contract.cli import main as sensorlake
from sensorlake.contract.errors import ExitCode
from sensorlake.contract.keys import LandingKey
from sensorlake.contract.lake import lake_path
from sensorlake.streams.config import LocalRunConfig

pytestmark = [pytest.mark.streams, pytest.mark.dashboards]


def _status(tmp_path: Path, config: LocalRunConfig) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(
        sensorlake,
        [
            "status",
            "--json",
            "--lake-dir", str(config.lake_dir),
            "--state-dir", str(tmp_path / "state-gw-a"),
            "--warehouse-dir", str(config.warehouse_dir),
            "--checkpoint-dir", str(config.checkpoint_dir),
        ],
    )  # fmt: skip
    return result.exit_code, json.loads(result.stdout)


def _item(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(i for i in report["monitoring"] if i["item"] == name)


def _ingest(spark: Any, config: LocalRunConfig) -> None:
    from sensorlake.streams.runner import run

    assert not run(config, spark=spark, progress=lambda _: None).failed


def test_status_sees_every_landed_reading_in_its_table_exactly_once(
    spark: Any,
    tmp_path: Path,
    landed: Callable[..., dict[str, int]],
    config: LocalRunConfig,
) -> None:
    landed(1_500)
    code, report = _status(tmp_path, config)
    # landed, no stream has run yet (no warehouse): could not check (try again once the
    # streams have run), and says what to do
    assert (
        code == ExitCode.UNAVAILABLE and _item(report, "reconciliation")["state"] == "not checked"
    ), report
    assert any("`sensorlake streams run`" in r for r in report["reasons"]), report
    _ingest(spark, config)
    code, report = _status(tmp_path, config)
    assert _item(report, "reconciliation")["state"] == "exactly once", report
    assert code == 0, report

    # An operator's nightmare, made on purpose: the same rows landed under a second name
    # (say, a hand-copied file), so the raw table holds them twice.
    raw = config.lake_dir / "raw"
    first = sorted(raw.rglob("*.ndjson.gz"))[0]
    key = LandingKey.parse(str(first.relative_to(raw)))
    twin = lake_path(config.lake_dir, replace(key, last_row=key.last_row + 1).format())
    shutil.copyfile(first, twin)
    _ingest(spark, config)
    code, report = _status(tmp_path, config)
    assert _item(report, "reconciliation")["state"] == "mismatch", report
    assert code == 1
