"""Cut over from the old uploader and roll back to it, at equal timestamps: no gap, no
double. The sensor database is the simulator's, five readings per millisecond."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sensorlake.landing.config import LandingConfig
from sensorlake.landing.errors import ConfigError, SourceError
from sensorlake.landing.migrate.statefile import read_uploader_state, sensor_form, watermark_for
from sensorlake.landing.migrate.uploader import OldUploader, state_file_path
from sensorlake.landing.rules import Rules
from sensorlake.landing.simulate import simulate_bulk
from sensorlake.landing.state import State

from .conftest import FIXED_START, SENSORLAKE, child_env, read_lake
from .test_migrate_backfill import backfill, old  # noqa: F401 (the fixture)

pytestmark = pytest.mark.usefixtures("fake_credentials")


def crowded(db: Path, rows: int, start: datetime) -> None:
    """Five sensors, a reading every 200 µs: runs of five equal timestamps."""
    simulate_bulk(
        db, rows, sensors=5, seed=3, anomaly_rate=0.0, start=start, interval_seconds=0.001
    )


def rows_of(db: Path) -> list[tuple[int, str]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT id, timestamp FROM sensor_readings ORDER BY id").fetchall()


def sensorlake(tmp_path: Path, db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    common = ["--db-path", str(db), "--state-dir", str(tmp_path / "state")]
    if args[0] == "land":
        common += ["--lake-dir", str(tmp_path / "lake"), "--gateway-id", "gw-test"]
    return subprocess.run(
        [SENSORLAKE, *args, *common], env=child_env(), capture_output=True, text=True, timeout=120
    )


def raw_ids(lake: Path) -> list[int]:
    return sorted(r["id"] for r in read_lake(lake).get("raw", []))


def test_cut_over_at_equal_timestamps_then_backfill_holds_every_row_once(
    tmp_path: Path,
    old: tuple[Any, str],  # noqa: F811
    rules: Rules,
    make_config: Callable[..., LandingConfig],
) -> None:
    db = tmp_path / "sensor.db"
    crowded(db, 200, datetime.fromisoformat(FIXED_START))
    client, bucket = old
    up = OldUploader(db, tmp_path / "old", client, bucket, node_id="gw-test", batch_size=12)
    up.cycle()  # rows 1..12: its LIMIT cuts a run of equal timestamps
    last = json.loads(state_file_path(tmp_path / "old").read_text())["last_timestamp"]
    rows = rows_of(db)
    at_last = [i for i, ts in rows if ts == last]
    assert min(at_last) <= 12 < max(at_last), "the batch must end inside a run"

    done = sensorlake(tmp_path, db, "land", "--start-after-uploader-state", str(tmp_path / "old"))
    assert done.returncode == 0, done.stderr
    assert f"starting after row {min(at_last) - 1}" in done.stderr
    # every row stamped at or after the old watermark, the whole run of equal ones included
    assert raw_ids(tmp_path / "lake") == [i for i, ts in rows if ts >= last]

    again = sensorlake(tmp_path, db, "land", "--start-after-uploader-state", str(tmp_path / "old"))
    assert again.returncode == 0 and "ignored" in again.stderr

    # the history: rows before the cut land under the same epoch; the overlap lands once
    config = make_config(db, lake_dir=tmp_path / "lake", state_dir=tmp_path / "state")
    summary = backfill(config, rules, old)
    overlap = [i for i in at_last if i <= 12]
    assert summary.already_landed == len(overlap)
    assert [(g.epoch, g.epoch_from) for g in summary.generations] == [(1, "landed")]
    assert raw_ids(tmp_path / "lake") == [i for i, _ in rows]


def test_a_damaged_state_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    db = tmp_path / "sensor.db"
    crowded(db, 20, datetime.fromisoformat(FIXED_START))
    state = tmp_path / "upload_state.json"
    state.write_text('{"last_timestamp": "2026-03-01T23:5')  # the non-atomic write, cut
    done = sensorlake(tmp_path, db, "land", "--start-after-uploader-state", str(state))
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "JSON" in done.stderr
    missing = sensorlake(tmp_path, db, "land", "--start-after-uploader-state", str(tmp_path / "x"))
    assert missing.returncode == 2 and "no old uploader state file" in missing.stderr
    assert not (tmp_path / "state" / "landing-state.db").exists()


def test_rollback_at_equal_timestamps_resumes_the_old_uploader_without_gap_or_double(
    tmp_path: Path,
    old: tuple[Any, str],  # noqa: F811
) -> None:
    db = tmp_path / "sensor.db"
    start = datetime.fromisoformat(FIXED_START)
    crowded(db, 1003, start)  # the last run of equal timestamps has 3 of its 5 rows
    assert sensorlake(tmp_path, db, "land").returncode == 0
    # the sensor goes on inside the same millisecond
    crowded(db, 12, start + timedelta(microseconds=1002 * 200 + 100))
    rows = rows_of(db)
    assert rows[1002][1] == rows[1003][1]
    target = tmp_path / "old" / "s3-uploader" / "upload_state.json"

    split = sensorlake(tmp_path, db, "migrate", "rollback-state", "--to", str(target))
    assert split.returncode == 75, split.stderr
    assert split.stderr.count("\n") == 1 and "sensorlake land" in split.stderr
    assert not target.exists()

    held = State.open(tmp_path / "state")  # a lander is running: the state is locked
    try:
        locked = sensorlake(tmp_path, db, "migrate", "rollback-state", "--to", str(target))
    finally:
        held.close()
    assert locked.returncode == 5 and "already running" in locked.stderr

    assert sensorlake(tmp_path, db, "land").returncode == 0  # up to the newest row
    done = sensorlake(tmp_path, db, "migrate", "rollback-state", "--to", str(target))
    assert done.returncode == 0, done.stderr
    assert "spooled files: 0" in done.stdout
    landed = raw_ids(tmp_path / "lake")
    assert landed == [i for i, _ in rows]
    state = json.loads(target.read_text())
    assert state["last_timestamp"] == rows[-1][1]
    assert [p.name for p in target.parent.iterdir()] == ["upload_state.json"]  # no temp file

    # the old uploader restarts and reads exactly what the new lander did not land
    crowded(db, 40, start + timedelta(seconds=5))
    client, bucket = old
    up = OldUploader(db, tmp_path / "old", client, bucket, node_id="gw-test")
    up.run_until_caught_up()
    uploaded = sorted(
        r["id"]
        for key in up.keys
        for r in json.loads(client.get_object(Bucket=bucket, Key=key)["Body"].read())
    )
    assert uploaded == [i for i, _ in rows_of(db)][len(landed) :]


def test_rollback_before_the_lander_ever_ran_is_exit_2_and_touches_nothing(tmp_path: Path) -> None:
    db = tmp_path / "sensor.db"
    crowded(db, 20, datetime.fromisoformat(FIXED_START))
    target = tmp_path / "old" / "upload_state.json"
    done = sensorlake(tmp_path, db, "migrate", "rollback-state", "--to", str(target))
    assert done.returncode == 2 and "never run" in done.stderr
    assert not (tmp_path / "state").exists() and not target.exists()


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (None, "no old uploader state file"),
        ('{"last_timestamp": "2026-03-01T23:5', "not valid JSON"),
        ('["2026-03-01T23:57:08.123+00:00"]', "not a JSON object"),
        ('{"last_timestamp": "yesterday"}', "no usable last_timestamp"),
    ],
)
def test_an_unusable_state_file_is_one_config_line(
    tmp_path: Path, text: str | None, needle: str
) -> None:
    path = state_file_path(tmp_path)
    if text is not None:
        path.parent.mkdir(parents=True)
        path.write_text(text)
    with pytest.raises(ConfigError, match=needle) as err:
        read_uploader_state(tmp_path)
    assert err.value.exit_code == 2 and "\n" not in str(err.value)


def test_the_state_is_read_from_the_file_or_its_directory(tmp_path: Path) -> None:
    path = state_file_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"last_upload": "2026-03-01T23:57:08.123+00:00"}))
    assert read_uploader_state(tmp_path) == read_uploader_state(path)
    assert read_uploader_state(path)["last_upload"].startswith("2026-03-01T23:57:08")


def test_sensor_form_is_utc_milliseconds_with_an_offset() -> None:
    assert sensor_form("2026-03-02T01:57:08.123456+02:00") == "2026-03-01T23:57:08.123+00:00"
    assert sensor_form("2026-03-01T23:57:08Z") == "2026-03-01T23:57:08.000+00:00"
    with pytest.raises(ValueError):
        sensor_form("not a time")


def test_the_cut_over_watermark_lands_every_row_of_the_last_timestamp(tmp_path: Path) -> None:
    db = tmp_path / "sensor.db"
    crowded(db, 40, datetime.fromisoformat(FIXED_START))
    rows = rows_of(db)
    last_id, last_ts = rows[17]
    sharing = [i for i, ts in rows if ts == last_ts]
    assert len(sharing) > 1  # a run of equal timestamps, as the old uploader cuts them
    assert watermark_for(db, last_ts) == min(sharing) - 1 < last_id
    assert watermark_for(db, "2099-01-01T00:00:00+00:00") == rows[-1][0]
    with pytest.raises(SourceError, match="does not exist"):
        watermark_for(tmp_path / "missing.db", last_ts)
