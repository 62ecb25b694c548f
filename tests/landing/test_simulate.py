"""The simulator must write what the real sensor writes, fast in bulk and row by row live."""

from __future__ import annotations

import math
import re
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest

from sensorlake.landing import simulate
from sensorlake.landing.simulate import (
    CREATE_TABLE_SQL,
    SCHEMA_COLUMNS,
    SimulationResult,
    ensure_database,
    reset_database,
    simulate_bulk,
    simulate_live,
)

pytestmark = pytest.mark.raw

START = datetime(2025, 8, 11, 23, 57, 8, 123000, tzinfo=UTC)
TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+00:00$")
SENSOR_ID_RE = re.compile(r"^[A-Z]{4}_[A-Z0-9]{6}$")
IDENTITY_COLUMNS = (
    "firmware_version, model, manufacturer, location, latitude, longitude, original_timezone, "
    "synced, serial_number, manufacture_date, deployment_type, installation_date, "
    "height_meters, orientation_degrees, instance_id, sensor_type"
)


def _rows(db: Path, sql: str, params: tuple = ()) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def _scalar(db: Path, sql: str, params: tuple = ()):
    return _rows(db, sql, params)[0][0]


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SimulationResult]:
    """20,000 stored readings with a fixed seed and start, shared by the statistics tests."""
    db = tmp_path_factory.mktemp("big") / "sensor_data.db"
    result = simulate_bulk(db, 20_000, seed=42, start=START)
    return db, result


# --------------------------------------------------------------------------- schema


def test_schema_has_the_real_sensors_27_columns_types_and_index(tmp_path: Path) -> None:
    db = tmp_path / "nested" / "dir" / "sensor_data.db"
    ensure_database(db)
    info = _rows(db, "PRAGMA table_info(sensor_readings)")
    assert len(info) == 27
    assert [(name, typ) for _, name, typ, *_ in info] == list(SCHEMA_COLUMNS)
    not_null = {name for _, name, _, notnull, *_ in info if notnull}
    assert not_null == {"timestamp", "sensor_id"}
    assert [name for _, name, _, _, _, pk in info if pk] == ["id"]
    sql = _scalar(db, "SELECT sql FROM sqlite_master WHERE name = 'sensor_readings'")
    assert "AUTOINCREMENT" in sql
    assert CREATE_TABLE_SQL.startswith("CREATE TABLE IF NOT EXISTS sensor_readings (")
    indexes = _rows(
        db, "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'sensor_readings'"
    )
    assert indexes == [("idx_timestamp",)]
    assert [r[2] for r in _rows(db, "PRAGMA index_info(idx_timestamp)")] == ["timestamp"]


def test_database_is_in_wal_mode(tmp_path: Path) -> None:
    db = tmp_path / "sensor_data.db"
    simulate_bulk(db, 10, seed=1, start=START)
    assert _scalar(db, "PRAGMA journal_mode") == "wal"


def test_ensure_database_keeps_existing_rows(tmp_path: Path) -> None:
    db = tmp_path / "sensor_data.db"
    simulate_bulk(db, 25, seed=1, start=START)
    ensure_database(db)
    assert _scalar(db, "SELECT COUNT(*) FROM sensor_readings") == 25


# --------------------------------------------------------------------------- bulk


def test_bulk_writes_exactly_n_rows_with_increasing_ids(tmp_path: Path) -> None:
    db = tmp_path / "sensor_data.db"
    seen: list[int] = []
    result = simulate_bulk(db, 23_456, seed=3, start=START, progress=seen.append)
    assert result.rows_written == 23_456
    assert result.db_path == db
    ids = [r[0] for r in _rows(db, "SELECT id FROM sensor_readings ORDER BY rowid")]
    assert ids == list(range(1, 23_457))
    assert seen == sorted(seen) and seen[-1] == 23_456 and len(seen) >= 3
    assert result.anomalies == _scalar(db, "SELECT SUM(anomaly_flag) FROM sensor_readings")
    assert _scalar(db, "SELECT COUNT(*) FROM sensor_readings WHERE synced != 0") == 0


def test_anomaly_rate_is_about_five_percent(big: tuple[Path, SimulationResult]) -> None:
    db, result = big
    generated = result.rows_written + result.skipped_missing
    anomalous = result.anomalies + result.skipped_missing
    sd = math.sqrt(generated * 0.05 * 0.95)
    assert abs(anomalous - generated * 0.05) < 4 * sd
    # missing_data readings are gone, so stored rows are flagged a bit less often
    stored_rate = _scalar(db, "SELECT AVG(anomaly_flag) FROM sensor_readings")
    assert 0.03 < stored_rate < 0.05
    assert result.skipped_missing > 0


def test_all_anomaly_types_appear_and_missing_data_is_never_stored(
    big: tuple[Path, SimulationResult],
) -> None:
    db, _ = big
    types = {r[0] for r in _rows(db, "SELECT DISTINCT anomaly_type FROM sensor_readings")}
    assert types == {None, "spike", "trend", "pattern", "noise"}


def test_flags_are_consistent(big: tuple[Path, SimulationResult]) -> None:
    db, _ = big
    bad_anomalies = _scalar(
        db,
        "SELECT COUNT(*) FROM sensor_readings WHERE anomaly_flag = 1 "
        "AND (status_code IS NOT 1 OR anomaly_type IS NULL)",
    )
    bad_normals = _scalar(
        db,
        "SELECT COUNT(*) FROM sensor_readings WHERE anomaly_flag = 0 "
        "AND (status_code IS NOT 0 OR anomaly_type IS NOT NULL)",
    )
    other = _scalar(db, "SELECT COUNT(*) FROM sensor_readings WHERE anomaly_flag NOT IN (0, 1)")
    assert (bad_anomalies, bad_normals, other) == (0, 0, 0)


def test_normal_values_are_in_realistic_ranges(big: tuple[Path, SimulationResult]) -> None:
    db, _ = big
    lo_hi = _rows(
        db,
        "SELECT MIN(temperature), MAX(temperature), AVG(temperature), "
        "MIN(humidity), MAX(humidity), AVG(humidity), "
        "MIN(pressure), MAX(pressure), AVG(pressure), "
        "MIN(voltage), MAX(voltage), AVG(voltage), "
        "MIN(vibration), MAX(vibration) FROM sensor_readings WHERE anomaly_flag = 0",
    )[0]
    t_min, t_max, t_avg, h_min, h_max, h_avg, p_min, p_max, p_avg, v_min, v_max, v_avg = lo_hi[:12]
    assert t_min >= 50 and t_max <= 80 and abs(t_avg - 61) < 0.1
    assert h_min >= 0 and h_max <= 100 and abs(h_avg - 3) < 0.05
    assert p_min >= 10 and p_max <= 15 and abs(p_avg - 12) < 0.05
    assert v_min >= 11.5 and v_max <= 12.5 and abs(v_avg - 12) < 0.01
    assert lo_hi[12] > 0 and lo_hi[13] <= 10
    # anomalies never touch pressure or vibration
    assert (
        _scalar(
            db,
            "SELECT COUNT(*) FROM sensor_readings WHERE pressure NOT BETWEEN 10 AND 15 "
            "OR vibration NOT BETWEEN 0.1 AND 10",
        )
        == 0
    )
    coords = _rows(
        db,
        "SELECT MIN(latitude), MAX(latitude), MIN(longitude), MAX(longitude) FROM sensor_readings",
    )[0]
    assert 24 < coords[0] <= coords[1] < 49 and -125 < coords[2] <= coords[3] < -66


def test_anomalies_distort_the_values(big: tuple[Path, SimulationResult]) -> None:
    db, _ = big
    spikes = _scalar(db, "SELECT COUNT(*) FROM sensor_readings WHERE anomaly_type = 'spike'")
    out_of_range = _scalar(
        db,
        "SELECT COUNT(*) FROM sensor_readings WHERE anomaly_type = 'spike' "
        "AND (temperature NOT BETWEEN 50 AND 80 OR voltage NOT BETWEEN 11.5 AND 12.5)",
    )
    assert spikes > 50 and out_of_range > spikes / 2  # temperature/voltage: 2 of 3 spikes


def test_timestamps_have_the_sensor_format_and_increase(
    big: tuple[Path, SimulationResult],
) -> None:
    db, _ = big
    stamps = [r[0] for r in _rows(db, "SELECT timestamp FROM sensor_readings ORDER BY id")]
    assert all(TS_RE.match(s) for s in stamps)
    assert stamps[0] == "2025-08-11T23:57:08.123+00:00"
    times = [datetime.fromisoformat(s) for s in stamps]
    gaps = {round((b - a) / timedelta(milliseconds=200), 6) for a, b in pairwise(times)}
    # one reading every interval/sensors = 200 ms, skipped missing_data leave whole-slot gaps
    assert min(gaps) == 1 and all(g == int(g) for g in gaps)


def test_default_start_ends_at_about_now(tmp_path: Path) -> None:
    db = tmp_path / "sensor_data.db"
    before = datetime.now(UTC)
    simulate_bulk(db, 3_000, seed=5)
    after = datetime.now(UTC)
    last = datetime.fromisoformat(_scalar(db, "SELECT MAX(timestamp) FROM sensor_readings"))
    assert before - timedelta(seconds=2) <= last <= after


def test_several_sensors_with_fixed_identities(big: tuple[Path, SimulationResult]) -> None:
    db, _ = big
    per_sensor = _rows(
        db,
        f"SELECT sensor_id, COUNT(*), COUNT(DISTINCT {IDENTITY_COLUMNS.replace(', ', '||')}) "
        "FROM sensor_readings GROUP BY sensor_id",
    )
    assert len(per_sensor) == 5
    for sensor_id, count, identities in per_sensor:
        assert SENSOR_ID_RE.match(sensor_id)
        assert identities == 1
        assert abs(count - 4_000) < 200  # round-robin
    identities = _rows(db, f"SELECT DISTINCT sensor_id, {IDENTITY_COLUMNS} FROM sensor_readings")
    for row in identities:
        sensor_id, firmware, model, manufacturer, location = row[:5]
        letters = "".join(c for c in location if c.isalpha()).upper()
        assert sensor_id.startswith(letters[:4] + "_")
        assert re.match(r"^[+-]\d{2}:\d{2}$", row[7])
        assert row[9].startswith(manufacturer + "-")
        assert row[10] < row[12]  # manufactured before installed
        assert re.match(r"^i-[0-9a-f]{17}$", row[15])
        assert firmware and model and manufacturer
    assert len({row[4] for row in identities}) == 5  # different cities


def test_pre_release_firmware_occurs_sometimes(tmp_path: Path) -> None:
    firmwares: set[str] = set()
    for seed in range(30):
        db = tmp_path / f"s{seed}.db"
        simulate_bulk(db, 5, seed=seed, start=START, anomaly_rate=0.0)
        firmwares |= {r[0] for r in _rows(db, "SELECT firmware_version FROM sensor_readings")}
    assert any("-" in f for f in firmwares)
    assert any("-" not in f for f in firmwares)


def test_reset_deletes_and_recreates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "sensor_data.db"
    simulate_bulk(db, 100, seed=1, start=START)
    files = [db] + [Path(f"{db}{suffix}") for suffix in ("-wal", "-shm", "-journal")]
    for sidecar in files[1:]:
        sidecar.write_bytes(b"")
    left_over: list[Path] = []

    def recreate(path: Path) -> None:  # look at the directory between delete and recreate
        left_over.extend(f for f in files if f.exists())
        ensure_database(path)

    monkeypatch.setattr(simulate, "ensure_database", recreate)
    reset_database(db)
    monkeypatch.undo()
    assert left_over == []
    assert _scalar(db, "SELECT COUNT(*) FROM sensor_readings") == 0
    simulate_bulk(db, 10, seed=1, start=START)
    assert _rows(db, "SELECT MIN(id), MAX(id) FROM sensor_readings") == [(1, 10)]
    result = simulate_bulk(db, 7, seed=2, start=START, reset=True)
    assert result.rows_written == 7
    assert _rows(db, "SELECT MIN(id), MAX(id), COUNT(*) FROM sensor_readings") == [(1, 7, 7)]


def test_appending_continues_ids_without_reuse(tmp_path: Path) -> None:
    db = tmp_path / "sensor_data.db"
    simulate_bulk(db, 100, seed=1, start=START)
    conn = sqlite3.connect(db)
    conn.execute("DELETE FROM sensor_readings WHERE id > 90")
    conn.commit()
    conn.close()
    simulate_bulk(db, 10, seed=2, start=START + timedelta(hours=1))
    ids = [r[0] for r in _rows(db, "SELECT id FROM sensor_readings ORDER BY id")]
    assert ids == list(range(1, 91)) + list(range(101, 111))


def test_bulk_writes_while_a_reader_holds_a_snapshot(tmp_path: Path) -> None:
    db = tmp_path / "sensor_data.db"
    simulate_bulk(db, 100, seed=1, start=START)
    reader = sqlite3.connect(db, isolation_level=None)
    try:
        reader.execute("BEGIN")
        assert reader.execute("SELECT COUNT(*) FROM sensor_readings").fetchone()[0] == 100
        simulate_bulk(db, 15_000, seed=2, start=START + timedelta(hours=1))
        assert reader.execute("SELECT COUNT(*) FROM sensor_readings").fetchone()[0] == 100
        reader.execute("COMMIT")
        assert reader.execute("SELECT COUNT(*) FROM sensor_readings").fetchone()[0] == 15_100
    finally:
        reader.close()


def test_seed_and_start_make_it_deterministic(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a.db", tmp_path / "b.db", tmp_path / "c.db"
    simulate_bulk(a, 2_000, seed=11, start=START)
    simulate_bulk(b, 2_000, seed=11, start=START)
    simulate_bulk(c, 2_000, seed=12, start=START)
    query = "SELECT * FROM sensor_readings ORDER BY id"
    assert _rows(a, query) == _rows(b, query)
    assert _rows(a, query) != _rows(c, query)


def test_seed_without_start_fixes_the_values(tmp_path: Path) -> None:
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    simulate_bulk(a, 500, seed=11)
    simulate_bulk(b, 500, seed=11)
    query = "SELECT sensor_id, temperature, humidity, anomaly_type FROM sensor_readings ORDER BY id"
    assert _rows(a, query) == _rows(b, query)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"rows": -1},
        {"rows": 1, "sensors": 0},
        {"rows": 1, "anomaly_rate": 1.5},
        {"rows": 1, "interval_seconds": 0},
    ],
)
def test_bulk_rejects_bad_arguments(tmp_path: Path, kwargs: dict) -> None:
    rows = kwargs.pop("rows")
    with pytest.raises(ValueError):
        simulate_bulk(tmp_path / "x.db", rows, **kwargs)


# --------------------------------------------------------------------------- live


class FakeTime:
    """A clock that only moves when the simulator sleeps; records what a reader sees."""

    def __init__(self, db: Path, stop_after: int | None = None, stop=None) -> None:
        self.now = 1000.0
        self.db = db
        self.seen: list[tuple[float, int]] = []
        self.stop_after = stop_after
        self.stop = stop

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0
        count = _scalar(self.db, "SELECT COUNT(*) FROM sensor_readings")
        self.seen.append((self.now, count))
        if self.stop_after is not None and count >= self.stop_after:
            self.stop.set()
        self.now += seconds


def test_live_writes_rate_times_duration_rows_one_commit_each(tmp_path: Path) -> None:
    db = tmp_path / "sensor_data.db"
    fake = FakeTime(db)
    before = datetime.now(UTC)
    result = simulate_live(
        db, rate=20, duration=2, seed=1, anomaly_rate=0.0, clock=fake.clock, sleep=fake.sleep
    )
    after = datetime.now(UTC)
    assert result.rows_written == 40 and result.skipped_missing == 0
    assert _scalar(db, "SELECT COUNT(*) FROM sensor_readings") == 40
    # before reading k is due, an independent connection already sees k committed rows
    counts = [count for _, count in fake.seen]
    assert sorted(set(counts)) == list(range(1, 40)) and counts == sorted(counts)
    assert fake.now == pytest.approx(1000.0 + 39 / 20)
    stamps = [r[0] for r in _rows(db, "SELECT timestamp FROM sensor_readings ORDER BY id")]
    assert all(TS_RE.match(s) for s in stamps) and stamps == sorted(stamps)
    first, last = datetime.fromisoformat(stamps[0]), datetime.fromisoformat(stamps[-1])
    assert before - timedelta(milliseconds=1) <= first and last <= after
    assert len({r[0] for r in _rows(db, "SELECT sensor_id FROM sensor_readings")}) == 5


def test_live_counts_missing_data_as_readings(tmp_path: Path) -> None:
    db = tmp_path / "sensor_data.db"
    fake = FakeTime(db)
    result = simulate_live(
        db, rate=50, duration=10, seed=4, anomaly_rate=0.5, clock=fake.clock, sleep=fake.sleep
    )
    assert result.rows_written + result.skipped_missing == 500
    assert result.skipped_missing > 0
    assert _scalar(db, "SELECT COUNT(*) FROM sensor_readings") == result.rows_written
    assert _scalar(db, "SELECT SUM(anomaly_flag) FROM sensor_readings") == result.anomalies


def test_live_honours_stop(tmp_path: Path) -> None:
    db = tmp_path / "sensor_data.db"
    stop = threading.Event()
    fake = FakeTime(db, stop_after=7, stop=stop)
    result = simulate_live(
        db,
        rate=10,
        duration=60,
        anomaly_rate=0.0,
        stop=stop,
        clock=fake.clock,
        sleep=fake.sleep,
    )
    assert result.rows_written == 7
    assert _scalar(db, "SELECT COUNT(*) FROM sensor_readings") == 7


def test_live_appends_and_resets(tmp_path: Path) -> None:
    db = tmp_path / "sensor_data.db"
    simulate_bulk(db, 30, seed=1, start=START)
    fake = FakeTime(db)
    simulate_live(db, rate=5, duration=1, anomaly_rate=0.0, clock=fake.clock, sleep=fake.sleep)
    assert _rows(db, "SELECT MIN(id), MAX(id) FROM sensor_readings") == [(1, 35)]
    fake = FakeTime(db)
    simulate_live(
        db, rate=5, duration=1, anomaly_rate=0.0, reset=True, clock=fake.clock, sleep=fake.sleep
    )
    assert _rows(db, "SELECT MIN(id), MAX(id) FROM sensor_readings") == [(1, 5)]


def test_live_with_real_clock_is_paced(tmp_path: Path) -> None:
    db = tmp_path / "sensor_data.db"
    result = simulate_live(db, rate=40, duration=0.25, anomaly_rate=0.0)
    assert result.rows_written == 10
    assert result.seconds >= 0.2
