"""Side by side on one live database: the sensor writes (its own process, one commit per
reading), the old uploader polls with its own connection (``SELECT * ... WHERE timestamp
> ? ORDER BY timestamp LIMIT N`` every second), and ``sensorlake land --continuous`` runs,
all at once. Both read every row, the sensor never fails on a lock, landing is exactly
once."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from sensorlake.landing.migrate.uploader import OldUploader
from sensorlake.landing.simulate import simulate_bulk
from sensorlake.landing.state import State

from .conftest import SENSORLAKE, child_env, land_args, read_lake, source_ids
from .test_migrate_backfill import old  # noqa: F401 (the fixture)


def rows_by_id(db: Path) -> list[tuple[int, str]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT id, timestamp FROM sensor_readings").fetchall()


pytestmark = [pytest.mark.usefixtures("fake_credentials"), pytest.mark.slow]


def test_old_uploader_and_landing_read_one_live_database(
    tmp_path: Path,
    old: tuple[Any, str],  # noqa: F811
) -> None:
    db = tmp_path / "sensor.db"
    simulate_bulk(db, 0)  # the sensor's table, empty: everything below is written live
    env = child_env()
    sensor = subprocess.Popen(
        [
            SENSORLAKE,
            "simulate",
            "--db-path",
            str(db),
            "--rate",
            "40",
            "--duration",
            "8",
            "--anomaly-rate",
            "0.2",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lander = subprocess.Popen(
        [
            SENSORLAKE,
            *land_args(tmp_path, db, "--continuous", "--interval", "0.3", gateway="gw-live"),
        ],
        env={**env, "SENSORLAKE_FILE_MAX_AGE_SECONDS": "1"},
        stdout=(tmp_path / "land.out").open("w"),  # files, not pipes: a full pipe would block it
        stderr=(tmp_path / "land.err").open("w"),
        text=True,
    )
    client, bucket = old
    up = OldUploader(db, tmp_path / "old", client, bucket, node_id="gw-live")  # LIMIT 500
    stop = threading.Event()
    failures: list[BaseException] = []

    def poll() -> None:
        try:
            up.run(stop, interval=1.0)
        except BaseException as exc:  # reported below
            failures.append(exc)

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        out, err = sensor.communicate(timeout=120)
    finally:
        stop.set()
        poller.join(timeout=60)
    assert sensor.returncode == 0, err  # no SQLITE_BUSY, no "database is locked"
    assert "locked" not in err.lower() and "busy" not in err.lower()
    assert not failures, failures
    up.run_until_caught_up()  # what arrived after its last poll
    newest = max(source_ids(db))
    deadline = time.monotonic() + 120
    while lander.poll() is None and time.monotonic() < deadline:  # until it has read it all
        position = State.read_position(tmp_path / "state")
        if position is not None and position.watermark >= newest:
            break
        time.sleep(0.2)
    lander.send_signal(signal.SIGTERM)
    lander.wait(timeout=120)
    land_err = (tmp_path / "land.err").read_text()
    assert lander.returncode == 0, land_err
    assert "stopped cleanly" in land_err

    ids = source_ids(db)
    written = int(out.split()[1].replace(",", ""))
    assert len(ids) == written > 200
    # the old uploader read every row, but for its own known loss: a row stamped with the
    # same millisecond as the last row of a batch, committed after that batch was read (a
    # sensor that falls behind writes bursts within one millisecond)
    uploaded = sorted(
        r["id"]
        for key in up.keys
        for r in json.loads(client.get_object(Bucket=bucket, Key=key)["Body"].read())
    )
    stamps = dict(rows_by_id(db))
    missed = sorted(set(ids) - set(uploaded))
    assert all(stamps[i] in up.batch_ends for i in missed), missed
    assert len(uploaded) == len(set(uploaded))
    # landing read every row exactly once, in every pipeline
    landed = read_lake(tmp_path / "lake")
    assert sorted(r["id"] for r in landed["raw"]) == ids
    valid = sorted(
        r["_lineage"]["row_id"] for t in ("schematized", "rejected") for r in landed.get(t, [])
    )
    assert valid == ids
