"""A landing cycle end to end on the local lake and a fake sink: incremental reads, bad
inputs, outages, a full spool, conflicts, and the order in which files ship."""

from __future__ import annotations

import dataclasses
import errno
import gzip
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sensorlake.contract.keys import LandingKey
from sensorlake.landing.config import LandingConfig
from sensorlake.landing.errors import (
    ConfigError,
    DestinationError,
    DestinationUnavailable,
    LocalStorageError,
    SourceError,
)
from sensorlake.landing.report import NullReporter
from sensorlake.landing.rules import Rules
from sensorlake.landing.runner import Lander
from sensorlake.landing.simulate import reset_database, simulate_bulk
from sensorlake.landing.sink import FakeSink, LocalLakeSink
from sensorlake.landing.source import Source
from sensorlake.landing.state import State

from .conftest import lake_files, read_lake, sensor_table, source_ids

MakeConfig = Callable[..., LandingConfig]


def small(config: LandingConfig, **limits: float) -> LandingConfig:
    values = {"batch_rows": 1_000, "segment_rows": 250, "workers": 1, **limits}
    return dataclasses.replace(config, limits=dataclasses.replace(config.limits, **values))


@pytest.mark.raw
def test_lands_every_row_once_and_then_only_new_rows(
    sensor_db: Path, make_config: MakeConfig, rules: Rules
) -> None:
    config = small(make_config(sensor_db))
    lander = Lander(config, rules, LocalLakeSink(config.lake_dir))
    first = lander.run_once()
    assert first.exit_code == 0
    assert first.rows_read == len(source_ids(sensor_db))
    assert first.targets["raw"].shipped_files == first.targets["raw"].files > 1
    assert lander.run_once().rows_read == 0  # idle: nothing new

    simulate_bulk(sensor_db, 500, seed=9)
    second = lander.run_once()
    assert second.rows_read == 500
    lake = read_lake(config.lake_dir)
    raw_ids = [r["_lineage"]["row_id"] for r in lake["raw"]]
    assert sorted(raw_ids) == source_ids(sensor_db)
    schematized = {r["reading_id"] for r in lake["schematized"]}
    rejected = {r["id"] for r in lake.get("rejected", [])}
    assert schematized | rejected == set(raw_ids)
    assert not schematized & rejected
    assert sum(second.rejected_reasons.values()) + sum(first.rejected_reasons.values()) >= len(
        rejected
    )


@pytest.mark.raw
def test_parallel_workers_give_identical_files(
    sensor_db: Path, make_config: MakeConfig, rules: Rules, tmp_path: Path
) -> None:
    lakes = []
    for workers in (1, 2):
        config = small(
            make_config(
                sensor_db, state_dir=tmp_path / f"s{workers}", lake_dir=tmp_path / f"l{workers}"
            ),
            workers=workers,
        )
        assert Lander(config, rules, LocalLakeSink(config.lake_dir)).run_once().exit_code == 0
        lakes.append(
            {p.relative_to(config.lake_dir): p.read_bytes() for p in config.lake_dir.rglob("*.gz")}
        )
    assert lakes[0] == lakes[1]
    assert len(lakes[0]) > 5


@pytest.mark.emergency
def test_emergency_files_ship_first_in_every_batch_and_stay_small(
    sensor_db: Path, make_config: MakeConfig, rules: Rules
) -> None:
    config = small(make_config(sensor_db), emergency_file_rows=20)
    order: list[LandingKey] = []
    sink = FakeSink(fail=lambda bucket, key: order.append(LandingKey.parse(key)) and None)  # type: ignore[func-returns-value]
    summary = Lander(config, rules, sink).run_once()
    assert summary.exit_code == 0
    # each batch (1,000 rows) ships right after its commit: its files are one run of calls
    batches: list[list[str]] = []
    for key in order:
        batch = (key.first_row - 1) // 1_000
        if not batches or batch != batches[-1][0]:
            batches.append([batch])
        batches[-1].append(key.target)
    assert [b[0] for b in batches] == [0, 1, 2], "three batches, each shipped once, in order"
    for batch, *targets in batches:
        emergency = targets.count("emergency")
        assert emergency > 0 and targets[:emergency] == ["emergency"] * emergency, batch
        assert "emergency" not in targets[emergency:], batch
    for body in (v for (_, k), v in sink.objects.items() if k.startswith("emergency/")):
        assert gzip.decompress(body).count(b"\n") <= 20


@pytest.mark.s3_access
def test_unreachable_destination_keeps_files_spooled_then_drains(
    sensor_db: Path, make_config: MakeConfig, rules: Rules
) -> None:
    config = small(make_config(sensor_db))
    down = FakeSink(fail=lambda bucket, key: DestinationUnavailable("connection refused"))
    summary = Lander(config, rules, down, sleep=lambda s: None).run_once()
    assert summary.exit_code == 75
    assert summary.rows_read == len(source_ids(sensor_db))  # kept reading into the spool
    pending = sum(t.pending_files for t in summary.targets.values())
    assert pending > 0
    assert len(list((config.state_dir / "spool" / "ready").rglob("*.gz"))) == pending

    up = FakeSink()
    again = Lander(config, rules, up).run_once()
    assert again.exit_code == 0
    assert again.rows_read == 0
    assert sum(t.shipped_files for t in again.targets.values()) == pending
    assert not list((config.state_dir / "spool" / "ready").rglob("*.gz"))


@pytest.mark.s3_access
def test_full_spool_pauses_reading_and_drops_nothing(
    sensor_db: Path, make_config: MakeConfig, rules: Rules
) -> None:
    config = small(make_config(sensor_db), spool_max_bytes=1)
    down = FakeSink(fail=lambda bucket, key: DestinationUnavailable("offline"))
    summary = Lander(config, rules, down, sleep=lambda s: None).run_once()
    assert summary.paused_spool_full
    assert 0 < summary.rows_read < len(source_ids(sensor_db))
    resumed = Lander(config, rules, FakeSink()).run_once()
    assert summary.rows_read + resumed.rows_read == len(source_ids(sensor_db))


@pytest.mark.s3_access
def test_denied_credentials_stop_with_exit_4_and_keep_files(
    sensor_db: Path, make_config: MakeConfig, rules: Rules
) -> None:
    config = small(make_config(sensor_db))
    denied = FakeSink(fail=lambda bucket, key: DestinationError("access denied to put objects"))
    with pytest.raises(DestinationError) as info:
        Lander(config, rules, denied).run_once()
    assert info.value.exit_code == 4
    state = State.open(config.state_dir)
    assert state.pending()  # the first batch is committed and waiting
    state.close()


@pytest.mark.s3_access
def test_conflicting_object_is_kept_and_reported(
    sensor_db: Path, make_config: MakeConfig, rules: Rules
) -> None:
    config = small(make_config(sensor_db))
    sink = FakeSink()
    Lander(config, rules, sink).run_once()
    # someone else's bytes at one of our future keys: simulate by landing again elsewhere
    other = small(
        make_config(sensor_db, state_dir=config.state_dir.parent / "other"),
    )
    tampered = FakeSink(objects={k: b"not ours" for k in sink.objects})
    summary = Lander(other, rules, tampered).run_once()
    assert summary.exit_code == 6
    assert len(summary.conflicts) == len(sink.objects)
    assert all(v == b"not ours" for v in tampered.objects.values())
    kept = list((other.state_dir / "spool" / "ready").rglob("*.gz"))
    assert len(kept) == len(sink.objects)


def test_dry_run_changes_nothing(sensor_db: Path, make_config: MakeConfig, rules: Rules) -> None:
    config = small(make_config(sensor_db))
    before = sensor_db.read_bytes()
    summary = Lander(config, rules, FakeSink()).run_once(dry_run=True)
    assert summary.dry_run and summary.rows_read == len(source_ids(sensor_db))
    assert summary.would_land and all("/date=" in key for key in summary.would_land)
    assert not config.state_dir.exists()
    assert not config.lake_dir.exists()
    assert sensor_db.read_bytes() == before


@pytest.mark.parametrize(
    ("prepare", "message"),
    [
        (lambda p: None, "does not exist"),
        (lambda p: p.write_bytes(b"this is not sqlite at all" * 100), "corrupt or not SQLite"),
        (
            lambda p: sqlite3.connect(p).execute("CREATE TABLE other (x)").connection.commit(),
            "has no table sensor_readings",
        ),
        (
            lambda p: (
                sqlite3.connect(p)
                .execute("CREATE TABLE sensor_readings (id INTEGER PRIMARY KEY, value REAL)")
                .connection.commit()
            ),
            "lacks required column(s) timestamp, sensor_id",
        ),
    ],
)
def test_bad_databases_are_one_line_errors(
    tmp_path: Path, make_config: MakeConfig, rules: Rules, prepare, message: str
) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "bad.db"
    prepare(db)
    config = make_config(db)
    with pytest.raises(SourceError) as info:
        Lander(config, rules, FakeSink()).run_once()
    assert message in str(info.value)
    assert "\n" not in str(info.value)
    assert info.value.exit_code == 3


def test_database_locked_forever(tmp_path: Path, make_config: MakeConfig, rules: Rules) -> None:
    db = tmp_path / "locked.db"
    simulate_bulk(db, 10, seed=1)
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("PRAGMA journal_mode=DELETE")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        config = small(make_config(db), busy_timeout_seconds=0.3)
        with pytest.raises(SourceError, match="stayed locked"):
            Lander(config, rules, FakeSink()).run_once()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    # once released, everything lands
    assert Lander(make_config(db), rules, FakeSink()).run_once().rows_read == 10


def test_full_disk_loses_nothing(
    sensor_db: Path, make_config: MakeConfig, rules: Rules, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sensorlake.landing.spool as spool

    config = small(make_config(sensor_db))
    real = spool.Spool.commit
    calls = {"n": 0}

    def commit(self, tmp_path, bucket, key):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 7:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, tmp_path, bucket, key)

    monkeypatch.setattr(spool.Spool, "commit", commit)
    with pytest.raises(LocalStorageError, match="disk full") as info:
        Lander(config, rules, LocalLakeSink(config.lake_dir)).run_once()
    assert info.value.exit_code == 5
    monkeypatch.setattr(spool.Spool, "commit", real)
    assert Lander(config, rules, LocalLakeSink(config.lake_dir)).run_once().exit_code == 0
    raw_ids = sorted(r["_lineage"]["row_id"] for r in read_lake(config.lake_dir)["raw"])
    assert raw_ids == source_ids(sensor_db)


def test_one_lander_per_state_dir(sensor_db: Path, make_config: MakeConfig, rules: Rules) -> None:
    config = make_config(sensor_db)
    running = State.open(config.state_dir)
    try:
        with pytest.raises(LocalStorageError, match="already running"):
            Lander(config, rules, FakeSink()).run_once()
    finally:
        running.close()


def test_pipelines_subset_lands_only_those(
    sensor_db: Path, make_config: MakeConfig, rules: Rules
) -> None:
    config = small(make_config(sensor_db, pipelines="raw,emergency"))
    Lander(config, rules, LocalLakeSink(config.lake_dir)).run_once()
    assert set(read_lake(config.lake_dir)) == {"raw", "emergency"}


def test_bad_config_is_exit_2() -> None:
    assert ConfigError("x").exit_code == 2


class Recorder:
    def __init__(self) -> None:
        self.notes: list[str] = []
        self.advanced = 0

    def begin(self, rows_total: int) -> None:
        pass

    def advance(self, rows: int) -> None:
        self.advanced += rows

    def note(self, message: str) -> None:
        self.notes.append(message)

    def end(self) -> None:
        pass


@pytest.mark.schematized
def test_missing_contract_columns_are_reported_and_rows_rejected(
    tmp_path: Path, make_config: MakeConfig, rules: Rules
) -> None:
    db = tmp_path / "old-sensor.db"
    sensor_table(
        db,
        "timestamp TEXT, sensor_id TEXT, temperature REAL, firmware_extra TEXT",
        [(f"2026-03-01T00:00:0{i}.000+00:00", "CHIC_A1B2C3", 60.0, "x") for i in range(5)],
    )
    recorder = Recorder()
    config = make_config(db)
    summary = Lander(config, rules, LocalLakeSink(config.lake_dir), reporter=recorder).run_once()
    assert summary.exit_code == 0
    assert any("lacks column(s)" in note and "humidity" in note for note in recorder.notes)
    assert recorder.advanced == 5
    lake = read_lake(config.lake_dir)
    assert [r["firmware_extra"] for r in lake["raw"]] == ["x"] * 5
    assert (
        len(lake["rejected"]) == 5
        and "humidity.missing" in lake["rejected"][0]["_rejected_reasons"]
    )


@pytest.mark.raw
def test_never_writes_to_the_sensor_database(
    tmp_path: Path, make_config: MakeConfig, rules: Rules
) -> None:
    import hashlib

    db = tmp_path / "sensor.db"
    simulate_bulk(db, 2_000, seed=3)
    writer = sqlite3.connect(db)  # the sensor keeps its connection (and its WAL) open
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.execute(
        "INSERT INTO sensor_readings (timestamp, sensor_id) SELECT timestamp, sensor_id FROM sensor_readings WHERE id = 1"
    )
    writer.commit()

    def fingerprint() -> dict[str, tuple[str, float]]:
        return {
            p.name: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime)
            for p in (db, Path(f"{db}-wal"))
            if p.exists()
        }

    before = fingerprint()
    assert f"{db.name}-wal" in before
    config = small(make_config(db), workers=2)
    summary = Lander(config, rules, LocalLakeSink(config.lake_dir)).run_once()
    assert summary.rows_read == 2_001
    assert fingerprint() == before
    writer.close()


# -- bytes depend on the rows only ----------------------------------------------------------


@pytest.mark.raw
def test_same_rows_same_bytes_whatever_the_pipelines_workers_or_segments(
    tmp_path: Path, make_config: MakeConfig, rules: Rules
) -> None:
    """2,000 rows under the same raw key: the same bytes with all four pipelines and with
    raw only, with one process and with two, with any segment size."""
    db = tmp_path / "sensor.db"
    simulate_bulk(db, 2_000, seed=5)
    lakes = []
    for i, (pipelines, workers, segment_rows) in enumerate(
        [(None, 1, 0), ("raw", 1, 0), ("raw", 2, 300), ("raw,emergency", 2, 0)]
    ):
        config = small(
            make_config(
                db,
                pipelines=pipelines,
                state_dir=tmp_path / f"s{i}",
                lake_dir=tmp_path / f"l{i}",
            ),
            batch_rows=2_000,
            workers=workers,
            segment_rows=segment_rows,
        )
        assert Lander(config, rules, LocalLakeSink(config.lake_dir)).run_once().exit_code == 0
        lakes.append({k: v for k, v in lake_files(config.lake_dir).items() if "/raw/" in k})
    assert len(lakes[0]) == 1 and all(lake == lakes[0] for lake in lakes)


@pytest.mark.s3_access
def test_relanding_other_compression_after_a_lost_state_counts_as_landed(
    sensor_db: Path, make_config: MakeConfig, rules: Rules, tmp_path: Path
) -> None:
    """The state is lost and the files come again with another gzip level: the objects
    differ only in compression (same content checksum), so they count as landed, not 6."""
    config = small(make_config(sensor_db))
    assert Lander(config, rules, LocalLakeSink(config.lake_dir)).run_once().exit_code == 0
    before = lake_files(config.lake_dir)
    again = small(make_config(sensor_db, state_dir=tmp_path / "lost"), compress_level=3)
    summary = Lander(again, rules, LocalLakeSink(again.lake_dir)).run_once()
    assert summary.exit_code == 0 and summary.conflicts == []
    assert summary.replayed_objects == len(before)
    assert lake_files(config.lake_dir) == before  # the objects already there are kept


# -- readings from the future -----------------------------------------------------------------


@pytest.mark.schematized
def test_far_future_readings_are_rejected_once_and_never_revisited(
    tmp_path: Path, make_config: MakeConfig, rules: Rules
) -> None:
    """Whether a reading is too far ahead is decided by the run that commits its batch; a
    later run (with a later clock) lands only new rows and never changes a committed file."""
    db = tmp_path / "sensor.db"
    sensor_table(
        db,
        "timestamp TEXT, sensor_id TEXT",
        [
            ("2026-03-01T12:00:00.000+00:00", "CHIC_A1B2C3"),
            ("2026-03-02T11:59:59.000+00:00", "CHIC_A1B2C3"),  # within a day
            ("2026-03-02T12:00:01.000+00:00", "CHIC_A1B2C3"),  # a day and a second
            ("2099-06-01T00:00:00.000+00:00", "CHIC_A1B2C3"),
        ],
    )
    config = make_config(db)
    first_clock = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    first = Lander(
        config, rules, LocalLakeSink(config.lake_dir), clock=lambda: first_clock
    ).run_once()
    assert first.rejected_reasons.get("timestamp.in_future") == 2
    landed = lake_files(config.lake_dir)
    in_future = [
        r["id"]
        for r in read_lake(config.lake_dir)["rejected"]
        if "timestamp.in_future" in r["_rejected_reasons"]
    ]
    assert in_future == [3, 4]
    assert len(read_lake(config.lake_dir)["raw"]) == 4  # raw keeps every row

    with sqlite3.connect(db) as conn:
        conn.execute(
            "INSERT INTO sensor_readings (timestamp, sensor_id)"
            " VALUES ('2026-03-03T00:00:00.000+00:00', 'CHIC_A1B2C3')"
        )
    later = datetime(2099, 6, 1, tzinfo=UTC)  # now row 4 would be in time: too late for it
    second = Lander(config, rules, LocalLakeSink(config.lake_dir), clock=lambda: later).run_once()
    assert second.rows_read == 1 and second.exit_code == 0
    after = lake_files(config.lake_dir)
    assert {k: after[k] for k in landed} == landed
    raw_ids = sorted(r["id"] for r in read_lake(config.lake_dir)["raw"])
    assert raw_ids == [1, 2, 3, 4, 5]


# -- continuous mode: files roll by size and age ------------------------------------------


class WallClock:
    """The lander's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 5, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def lake_keys(lake: Path, target: str) -> list[LandingKey]:
    return sorted(
        LandingKey.parse("/".join(p.relative_to(lake).parts[1:]))
        for p in lake.rglob(f"{target}/**/*.gz")
    )


LIVE_START = datetime(2026, 3, 5, 11, 0, tzinfo=UTC)


def live(
    tmp_path: Path,
    make_config: MakeConfig,
    rules: Rules,
    rows: int,
    *,
    sink: Any = None,
    **limits: float,
) -> tuple[Path, LandingConfig, Lander, WallClock]:
    """A sensor database of ``rows`` readings of one morning, and a lander with a 5-minute
    age limit and a clock the test moves."""
    db = tmp_path / "live.db"
    simulate_bulk(db, rows, seed=rows, start=LIVE_START)
    config = small(make_config(db), file_max_age_seconds=300, **limits)
    clock = WallClock()
    sink = sink or LocalLakeSink(config.lake_dir)
    return db, config, Lander(config, rules, sink, clock=clock, sleep=lambda s: None), clock


def more_rows(db: Path, rows: int) -> None:
    simulate_bulk(db, rows, seed=rows + 1, start=LIVE_START + timedelta(minutes=30))


@pytest.mark.raw
def test_continuous_files_accumulate_across_cycles_and_close_at_their_age(
    tmp_path: Path, make_config: MakeConfig, rules: Rules
) -> None:
    db, config, lander, clock = live(tmp_path, make_config, rules, 400)

    first = lander.run_once(rolling=True)
    assert first.rows_read == 400 and first.targets["raw"].files == 0
    assert first.targets["raw"].open_records == 400 and first.open_records >= 400
    assert first.targets["emergency"].files > 0  # emergency closes in the cycle that read it
    assert first.next_close_target in {"raw", "schematized", "filtered", "rejected"}
    assert first.next_close_at == "2026-03-05T12:05:00+00:00"

    clock.advance(120)
    more_rows(db, 300)
    second = lander.run_once(rolling=True)
    assert second.rows_read == 300 and second.targets["raw"].files == 0
    assert second.targets["raw"].open_records == 700
    assert second.targets["raw"].open_age_seconds == 120
    assert lake_keys(config.lake_dir, "raw") == []

    clock.advance(180)  # five minutes after the file opened: it closes, with nothing new read
    third = lander.run_once(rolling=True)
    assert third.rows_read == 0 and third.open_records == 0
    assert third.targets["raw"].files == third.targets["raw"].shipped_files == 1
    (key,) = lake_keys(config.lake_dir, "raw")
    assert (key.first_row, key.last_row) == (1, 700)
    lake = read_lake(config.lake_dir)
    assert sorted(r["_lineage"]["row_id"] for r in lake["raw"]) == source_ids(db)
    assert len(lake["emergency"]) == len({r["_lineage"]["row_id"] for r in lake["emergency"]})
    assert not [p for p in (config.state_dir / "spool").rglob("*") if p.is_file()]


@pytest.mark.raw
def test_a_full_file_closes_before_its_age_and_one_shot_closes_the_rest(
    tmp_path: Path, make_config: MakeConfig, rules: Rules
) -> None:
    _, config, lander, _ = live(tmp_path, make_config, rules, 700, file_rows=500)
    rolled = lander.run_once(rolling=True)
    assert rolled.targets["raw"].files == 1 and rolled.targets["raw"].open_records == 200
    # a one-shot run (no --continuous) closes what a continuous one left open
    once = Lander(config, rules, LocalLakeSink(config.lake_dir)).run_once()
    assert once.rows_read == 0 and once.open_records == 0 and once.targets["raw"].files == 1
    keys = lake_keys(config.lake_dir, "raw")
    assert [(k.first_row, k.last_row) for k in keys] == [(1, 500), (501, 700)]


@pytest.mark.raw
def test_a_cycle_lands_what_was_there_when_it_started(
    sensor_db: Path, make_config: MakeConfig, rules: Rules
) -> None:
    """Rows the sensor writes during a cycle wait for the next one: no chasing the writer."""

    class WriterDuringCycle(NullReporter):
        def __init__(self) -> None:
            self.done = False

        def advance(self, rows: int) -> None:
            if not self.done:
                self.done = True
                simulate_bulk(sensor_db, 250, seed=24)

    config = small(make_config(sensor_db))
    before = len(source_ids(sensor_db))
    lander = Lander(config, rules, LocalLakeSink(config.lake_dir), reporter=WriterDuringCycle())
    first = lander.run_once()
    assert first.rows_read == before and first.watermark == before
    assert lander.run_once().rows_read == 250


@pytest.mark.raw
def test_a_reset_closes_the_open_files_of_the_old_database(
    tmp_path: Path, make_config: MakeConfig, rules: Rules
) -> None:
    db, config, lander, _ = live(tmp_path, make_config, rules, 600)
    assert lander.run_once(rolling=True).targets["raw"].open_records == 600

    reset_database(db)
    more_rows(db, 100)
    after = lander.run_once(rolling=True)
    assert after.epoch == 2 and len(after.new_epochs) == 1
    assert after.targets["raw"].files == 1 and after.targets["raw"].open_records == 100
    (key,) = lake_keys(config.lake_dir, "raw")
    assert (key.epoch, key.first_row, key.last_row) == (1, 1, 600)
    assert lander.finish().targets["raw"].files == 1
    raw = read_lake(config.lake_dir)["raw"]
    assert sorted((r["_lineage"]["epoch"], r["_lineage"]["row_id"]) for r in raw) == [
        (1, i) for i in range(1, 601)
    ] + [(2, i) for i in range(1, 101)]


@pytest.mark.s3_access
def test_an_outage_while_files_accumulate_loses_nothing(
    tmp_path: Path, make_config: MakeConfig, rules: Rules
) -> None:
    down = FakeSink(fail=lambda bucket, key: DestinationUnavailable("connection refused"))
    db, _, lander, clock = live(tmp_path, make_config, rules, 500, sink=down)
    first = lander.run_once(rolling=True)
    assert first.exit_code == 75 and first.targets["raw"].open_records == 500
    clock.advance(301)
    second = lander.run_once(rolling=True)  # closes the aged files into the spool, still down
    assert second.exit_code == 75 and second.targets["raw"].pending_files == 1
    assert second.open_records == 0

    more_rows(db, 100)
    up = FakeSink()
    lander.sink = up
    third = lander.run_once(rolling=True)
    assert third.exit_code == 0 and third.targets["raw"].open_records == 100
    assert third.targets["raw"].shipped_files == 1 and third.targets["raw"].pending_files == 0
    assert lander.finish().open_records == 0
    raw = [k for _, k in up.objects if k.startswith("raw/")]
    assert sorted((LandingKey.parse(k).first_row, LandingKey.parse(k).last_row) for k in raw) == [
        (1, 500),
        (501, 600),
    ]


def test_dry_run_shows_what_accumulates_and_when_it_closes(
    tmp_path: Path, make_config: MakeConfig, rules: Rules
) -> None:
    _, config, lander, clock = live(tmp_path, make_config, rules, 300)
    lander.run_once(rolling=True)
    clock.advance(100)
    dry = Lander(config, rules, None, clock=clock).run_once(dry_run=True)
    assert dry.rows_read == 0 and dry.targets["raw"].open_records == 300
    assert dry.targets["raw"].open_age_seconds == 100
    assert dry.next_close_at == "2026-03-05T12:05:00+00:00"
    assert dry.targets["raw"].shipped_files == 0


@pytest.mark.raw
def test_a_gap_in_row_ids_wider_than_a_batch_is_crossed(
    tmp_path: Path, make_config: MakeConfig, rules: Rules, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "sensor_data.db"
    simulate_bulk(db, 20, seed=3)
    conn = sqlite3.connect(db)
    with conn:  # the sensor's rows after id 10 renumbered past a gap of 5,000 ids
        conn.execute("UPDATE sensor_readings SET id = id + 5000 WHERE id > 10")
    conn.close()
    # A run that moves forward needs a snapshot per batch and one to end: fail, not hang.
    snapshots = 0
    original = Source.snapshot

    def counted(self: Source) -> Any:
        nonlocal snapshots
        snapshots += 1
        if snapshots > 20:
            raise RuntimeError(f"{snapshots} snapshots for 20 rows: landing is stuck")
        return original(self)

    monkeypatch.setattr(Source, "snapshot", counted)
    config = small(make_config(db))
    summary = Lander(config, rules, LocalLakeSink(config.lake_dir)).run_once()
    assert summary.rows_read == 20
    raw_ids = sorted(r["_lineage"]["row_id"] for r in read_lake(config.lake_dir)["raw"])
    assert raw_ids == source_ids(db)


@pytest.mark.raw
def test_a_text_id_in_a_table_without_its_primary_key_does_not_stop_landing(
    tmp_path: Path, make_config: MakeConfig, rules: Rules
) -> None:
    db = tmp_path / "sensor_data.db"
    simulate_bulk(db, 5, seed=4)
    with sqlite3.connect(db) as conn:  # the same table without its constraints, one id text
        conn.execute("CREATE TABLE loose AS SELECT * FROM sensor_readings")
        conn.execute("DROP TABLE sensor_readings")
        conn.execute("ALTER TABLE loose RENAME TO sensor_readings")
        conn.execute("UPDATE sensor_readings SET id = '7x' WHERE id = 3")
    conn.close()
    config = small(make_config(db))
    try:
        Lander(config, rules, LocalLakeSink(config.lake_dir)).run_once()
    except SourceError as exc:  # a one-line error would do; a traceback would not
        assert "\n" not in str(exc)
    raw_ids = sorted(r["_lineage"]["row_id"] for r in read_lake(config.lake_dir).get("raw", []))
    assert raw_ids == [1, 2, 4, 5]  # every row with a usable id landed
