"""The command line as operators and scripts use it: help with examples, JSON, exit codes."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from sensorlake.contract.cli import main
from sensorlake.landing.config import load_config
from sensorlake.landing.simulate import simulate_bulk

from ..support.flow import land
from .conftest import SENSORLAKE, child_env, land_args, read_lake, s3_env, source_ids


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


def test_dry_run_says_what_accumulates_and_when_the_next_file_closes(
    tmp_path: Path, sensor_db: Path
) -> None:
    nothing_open = invoke(*land_args(tmp_path, sensor_db, "--dry-run"))
    assert "no file is open: a one-shot land closes every file it writes" in nothing_open.stdout
    config = load_config(
        env={},
        db_path=sensor_db,
        state_dir=tmp_path / "state",
        gateway_id="gw-cli",
        lake_dir=tmp_path / "lake",
    )
    land(config, rolling=True)
    result = invoke(*land_args(tmp_path, sensor_db, "--dry-run", "--json"))
    summary = json.loads(result.stdout)
    assert summary["rows_read"] == 0 and summary["open_records"] > 0
    # the readings span midnight: the later date is still open, the earlier one closed
    assert 0 < summary["targets"]["raw"]["open_records"] < 3_000
    assert summary["next_close_at"] and summary["next_close_target"]
    text = invoke(*land_args(tmp_path, sensor_db, "--dry-run")).stdout
    assert "accumulating in open files" in text and "a one-shot land closes them all now" in text


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


def sigterm_when(
    args: list[str], env: dict[str, str], ready: Callable[[], bool], *, poll: float = 0.1
) -> tuple[int, str, str]:
    """Start a lander, send SIGTERM once ``ready()`` (or after 60 s): (exit code, out, err)."""
    proc = subprocess.Popen(
        [SENSORLAKE, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not ready():
            time.sleep(poll)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    return proc.returncode, out, err


def summaries(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def watermark(state: Path) -> int:
    path = state / "landing-state.db"
    if not path.exists():
        return 0
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        row = conn.execute("SELECT watermark FROM position").fetchone()
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()
    return row[0] if row else 0


def test_continuous_mode_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    """Files accumulate across cycles (default age limit: 5 minutes); SIGTERM closes and
    ships them, with rows that arrived while it ran, and exits 0."""
    db = tmp_path / "live.db"
    simulate_bulk(db, 200, seed=5)
    lake = tmp_path / "lake"

    def idle_after_new_rows() -> bool:
        if watermark(tmp_path / "state") < 200:
            return False
        simulate_bulk(db, 100, seed=6)  # arrives while it runs
        time.sleep(1.0)
        return True

    code, out, err = sigterm_when(
        land_args(tmp_path, db, "--continuous", "--interval", "0.2", "--json"),
        child_env(SENSORLAKE_BATCH_ROWS="50"),
        idle_after_new_rows,
    )
    assert code == 0, err
    assert "stopped cleanly" in err
    runs = summaries(out)
    assert sum(s["rows_read"] for s in runs) == 300
    # while running, the raw rows accumulated in one open file; the stop closed it
    assert max(s["targets"]["raw"]["open_records"] for s in runs[:-1]) == 300
    assert runs[-1]["open_records"] == 0 and runs[-1]["targets"]["raw"]["files"] >= 1
    assert sum(s["targets"]["raw"]["files"] for s in runs) == len(list(lake.rglob("raw/**/*.gz")))
    raw = read_lake(lake)["raw"]
    assert sorted(r["_lineage"]["row_id"] for r in raw) == list(range(1, 301))


def test_sigterm_mid_batch_finishes_the_batch_and_exits_0(tmp_path: Path) -> None:
    """SIGTERM while a batch is being written: that batch is completed and committed (never
    half kept), the open files are closed and shipped, the lander exits 0, and the next run
    lands the rest, each row once."""
    db = tmp_path / "big.db"
    # 40,000 readings of 5 sensors span 2.2 hours: inside one day, or a file would close at
    # midnight (a later date closes the earlier one) and the open count would not be the batch.
    start = datetime.now(UTC).replace(hour=1, minute=0, second=0, microsecond=0) - timedelta(days=1)
    simulate_bulk(db, 40_000, seed=9, start=start)
    spool_tmp = tmp_path / "state" / "spool" / "tmp"

    def second_batch_being_written() -> bool:  # the first is committed, files open in tmp/
        return watermark(tmp_path / "state") >= 5_000 and any(spool_tmp.glob("*.part"))

    code, out, err = sigterm_when(
        land_args(tmp_path, db, "--continuous", "--interval", "60", "--json"),
        child_env(SENSORLAKE_BATCH_ROWS="5000", SENSORLAKE_WORKERS="1"),
        second_batch_being_written,
        poll=0.005,
    )
    assert code == 0, err
    assert "stopped cleanly" in err
    first, stop = summaries(out)
    assert first["exit_code"] == 0 and stop["exit_code"] == 0
    assert 0 < first["rows_read"] < 40_000 and first["rows_read"] % 5_000 == 0
    assert first["watermark"] == first["rows_read"]
    assert first["targets"]["raw"]["open_records"] == first["rows_read"]
    # the stop read nothing more, closed every open file and shipped it
    assert stop["rows_read"] == 0 and stop["open_records"] == 0
    assert stop["targets"]["raw"]["records"] == first["rows_read"]
    assert stop["targets"]["raw"]["shipped_files"] == stop["targets"]["raw"]["files"] >= 1
    assert list(spool_tmp.iterdir()) == []  # no half-written batch left behind
    landed = sorted(r["id"] for r in read_lake(tmp_path / "lake")["raw"])
    assert landed == list(range(1, first["rows_read"] + 1))

    rest = invoke(*land_args(tmp_path, db, "--json"))
    assert json.loads(rest.stdout)["rows_read"] == 40_000 - first["rows_read"]
    raw = read_lake(tmp_path / "lake")["raw"]
    assert sorted(r["id"] for r in raw) == source_ids(db)


def test_a_run_with_nothing_to_ship_never_loads_boto3(tmp_path: Path) -> None:
    """Cron runs on a quiet gateway stay cheap: buckets are configured, but with no new rows
    and nothing pending no AWS client is made (and none of boto3 is imported)."""
    state = tmp_path / "state"
    state.mkdir()
    empty = tmp_path / "empty.db"
    simulate_bulk(empty, 0, seed=1)
    code = (
        "import sys\n"
        "from sensorlake.contract.cli import main\n"
        "try:\n"
        "    main(sys.argv[1:])\n"
        "except SystemExit as exc:\n"
        "    print('exit', exc.code, 'boto3' in sys.modules, 'botocore' in sys.modules)\n"
    )
    buckets = {role: f"sl-lazy-{role}" for role in ("raw", "schematized", "filtered", "emergency")}
    env = child_env(**s3_env("http://127.0.0.1:9", buckets))
    args = ["land", "--db-path", str(empty), "--state-dir", str(state), "--gateway-id", "g"]
    result = subprocess.run(
        [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.stdout.split()[-4:] == ["exit", "0", "False", "False"], result.stderr
