"""The command line as operators and scripts use it: help with examples, JSON, exit codes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from sensorlake.contract.cli import main
from sensorlake.landing.simulate import simulate_bulk

SENSORLAKE = str(Path(sys.executable).parent / "sensorlake")


def invoke(*args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


@pytest.mark.parametrize("command", ["land", "process", "validate", "simulate"])
def test_every_landing_command_has_help_with_examples(command: str) -> None:
    result = invoke(command, "--help")
    assert result.exit_code == 0
    assert "Examples:" in result.output
    assert f"sensorlake {command if command != 'process' else 'land'}" in result.output


def test_root_help_lists_installed_commands() -> None:
    result = invoke("--help")
    for command in ("land", "process", "validate", "simulate"):
        assert command in result.output


def land_args(tmp_path: Path, db: Path, *extra: str) -> list[str]:
    return [
        "land",
        "--db-path",
        str(db),
        "--state-dir",
        str(tmp_path / "state"),
        "--lake-dir",
        str(tmp_path / "lake"),
        "--gateway-id",
        "gw-cli",
        *extra,
    ]


def test_land_json_summary(tmp_path: Path, sensor_db: Path) -> None:
    result = invoke(*land_args(tmp_path, sensor_db, "--json"))
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["rows_read"] == 3000
    assert summary["destination"] == "local"
    assert set(summary["targets"]) == {"raw", "schematized", "filtered", "emergency", "rejected"}
    raw = summary["targets"]["raw"]
    assert (
        raw["records"] == 3000
        and raw["shipped_files"] == raw["files"]
        and raw["pending_files"] == 0
    )
    # process is the same command under the migration guide's name
    again = invoke(*["process", *land_args(tmp_path, sensor_db, "--json")[1:]])
    assert json.loads(again.stdout)["rows_read"] == 0


def test_land_table_and_dry_run(tmp_path: Path, sensor_db: Path) -> None:
    result = invoke(*land_args(tmp_path, sensor_db, "--dry-run"))
    assert result.exit_code == 0
    assert "Dry run: nothing was written" in result.output
    assert "raw" in result.output and "would land" in result.output
    assert not (tmp_path / "lake").exists() and not (tmp_path / "state").exists()


def test_missing_database_is_exit_3_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, land_args(tmp_path, tmp_path / "nope.db"))
    assert result.exit_code == 3
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert (
        len(lines) == 1 and lines[0].startswith("error: sensor database") and "simulate" in lines[0]
    )


def test_bad_option_is_exit_2(tmp_path: Path, sensor_db: Path) -> None:
    result = CliRunner().invoke(main, land_args(tmp_path, sensor_db, "--pipelines", "bronze"))
    assert result.exit_code == 2
    assert "unknown pipeline" in result.stderr


def test_sample_if_missing_creates_a_database_locally_only(tmp_path: Path) -> None:
    db = tmp_path / "fresh" / "sensor_data.db"
    result = invoke(*land_args(tmp_path, db, "--sample-if-missing", "--json"))
    assert result.exit_code == 0, result.output
    assert "created a sample one" in result.stderr
    assert json.loads(result.stdout)["rows_read"] > 0


def test_simulate_command(tmp_path: Path) -> None:
    db = tmp_path / "sim.db"
    result = invoke("simulate", "--db-path", str(db), "--rows", "1234", "--seed", "3")
    assert result.exit_code == 0 and "wrote 1,234 readings" in result.output
    assert invoke("simulate", "--db-path", str(db)).exit_code == 2


def test_continuous_mode_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    db = tmp_path / "live.db"
    simulate_bulk(db, 200, seed=5)
    env = {**os.environ, "SENSORLAKE_BATCH_ROWS": "50"}
    proc = subprocess.Popen(
        [SENSORLAKE, *land_args(tmp_path, db, "--continuous", "--interval", "0.2", "--json")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        lake = tmp_path / "lake"
        while time.monotonic() < deadline and len(list(lake.rglob("raw/**/*.gz"))) < 4:
            time.sleep(0.1)
        simulate_bulk(db, 100, seed=6)  # arrives while it runs
        time.sleep(1.0)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "stopped cleanly" in err
    landed = sum(json.loads(line)["rows_read"] for line in out.splitlines() if line.startswith("{"))
    assert landed == 300
