"""``sensorlake migrate`` as a command: its steps, options refused in one line (exit 2)
before anything is read, and rollback-state's JSON and dry run (in process, CliRunner)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from sensorlake.contract.cli import main
from sensorlake.contract.errors import ExitCode

from ..support.flow import land_once

pytestmark = pytest.mark.usefixtures("fake_credentials")


def migrate(*args: str) -> Result:
    return CliRunner().invoke(main, ["migrate", *args], env={"COLUMNS": "160"})


def test_the_group_lists_its_three_steps() -> None:
    result = migrate("--help")
    assert result.exit_code == 0
    for step in ("backfill", "compare", "rollback-state"):
        assert step in result.output


@pytest.mark.parametrize(
    "args",
    [
        ("backfill", "--from", "https://old-bucket"),
        ("compare", "--old", "old-bucket"),
    ],
)
def test_an_old_bucket_that_is_not_an_s3_url_is_one_line(
    args: tuple[str, ...], tmp_path: Path
) -> None:
    result = migrate(*args, "--lake-dir", str(tmp_path / "lake"))
    assert result.exit_code == ExitCode.USAGE, result.output
    assert "is not an s3://BUCKET[/PREFIX] URL" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "lake").exists()


def test_a_day_that_is_not_a_date_is_refused_by_its_option() -> None:
    result = migrate("compare", "--old", "s3://old-bucket", "--since", "yesterday")
    assert result.exit_code == ExitCode.USAGE
    assert "'yesterday' is not a date; use YYYY-MM-DD" in result.output


def test_rollback_state_dry_run_then_json_write(sensor_db: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    summary = land_once(sensor_db, tmp_path / "lake", state, gateway="gw-cli")
    assert summary.exit_code == 0
    with sqlite3.connect(sensor_db) as conn:
        newest = conn.execute("SELECT MAX(timestamp) FROM sensor_readings").fetchone()[0]
    target = tmp_path / "old" / "upload_state.json"
    common = ["--to", str(target), "--state-dir", str(state), "--db-path", str(sensor_db)]
    dry = migrate("rollback-state", *common, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert dry.output.startswith(f"would write {target}") and not target.exists()
    done = migrate("rollback-state", *common, "--json")
    assert done.exit_code == 0, done.output
    answer = json.loads(done.output)
    assert answer["last_timestamp"] == newest and answer["dry_run"] is False
    assert answer["spooled_files"] == 0
    assert json.loads(target.read_text())["last_timestamp"] == newest
