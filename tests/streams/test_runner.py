"""The local runner on a real Spark session: landed files → Delta tables, exactly once."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from sensorlake.contract.lake import lake_path
from sensorlake.contract.pipelines import PIPELINES, TARGETS
from sensorlake.contract.records import RESCUED_COLUMN, table_columns
from sensorlake.streams.config import LocalRunConfig
from sensorlake.streams.runner import run

from .conftest import lineage_keys, read_table

pytestmark = pytest.mark.streams


def _counts(config: LocalRunConfig) -> dict[str, int]:
    return {t: len(read_table(config, t)) for t in config.targets}


def test_every_pipeline_end_to_end_with_exact_counts(
    spark: Any, landed: Callable[..., dict[str, int]], config: LocalRunConfig
) -> None:
    expected = landed(2_000)
    assert all(expected[p] > 0 for p in PIPELINES) and expected["rejected"] > 0
    lines: list[str] = []
    result = run(config, spark=spark, progress=lines.append, reconcile=True)

    assert _counts(config) == expected
    for target in TARGETS:
        t = result.tables[target]
        assert (t.rows, t.table_rows, t.landed_rows) == (expected[target],) * 3
        assert t.error is None and t.corrupt_files == [] and t.rescued_rows == 0
        rows = read_table(config, target)
        assert len(set(lineage_keys(rows))) == len(rows)
        # The table's columns are the contract's, in its order.
        assert list(rows[0]) == [f.name for f in table_columns(target)]
        row = rows[0]
        assert (
            row["_source_file"].endswith(".ndjson.gz") and f"/{target}/date=" in row["_source_file"]
        )
        assert f"/date={row['date']}/gateway={row['gateway']}/" in row["_source_file"]
        assert row["gateway"] == "gw-a" and row["_lineage"]["gateway_id"] == "gw-a"
        assert row["_ingested_at"] is not None and row["_source_modified_at"] is not None
        assert row[RESCUED_COLUMN] is None
    assert {r["date"] for r in read_table(config, "raw")} == {"2026-03-01", "2026-03-02"}
    assert any("sensor_readings_raw: batch 0:" in line for line in lines)
    # Types come from the contract, not from inference.
    s = read_table(config, "schematized")[0]
    assert isinstance(s["reading_id"], int) and isinstance(s["readings"]["temperature"], float)
    assert s["timestamp"].tzinfo is not None and isinstance(s["status"]["anomaly_flag"], bool)


def test_rerun_and_replayed_batches_write_nothing_twice(
    spark: Any, landed: Callable[..., dict[str, int]], config: LocalRunConfig
) -> None:
    config = replace(config, targets=("raw", "emergency"), max_files=1)
    expected = landed(1_500)
    run(config, spark=spark, progress=lambda _: None)
    again = run(config, spark=spark, progress=lambda _: None)
    assert all(t.rows == 0 and t.batches == 0 for t in again.tables.values())

    # A crash after the Delta commit but before Spark's own commit: Spark replays the batch.
    commits = config.checkpoint_path(config.spec("raw")) / "commits"
    last = max(int(p.name) for p in commits.iterdir() if p.name.isdigit())
    (commits / str(last)).unlink()
    (commits / f".{last}.crc").unlink(missing_ok=True)  # Hadoop's checksum of that file
    replay = run(config, spark=spark, progress=lambda _: None)
    assert replay.tables["raw"].replayed_batches == 1 and replay.tables["raw"].rows == 0

    for target in config.targets:
        keys = lineage_keys(read_table(config, target))
        assert len(keys) == len(set(keys)) == expected[target]


def test_new_landing_after_a_run_is_picked_up_and_a_second_gateway_shares_the_lake(
    spark: Any, landed: Callable[..., dict[str, int]], config: LocalRunConfig
) -> None:
    config = replace(config, targets=("raw", "schematized", "rejected"))
    first = landed(800, gateway="gw-a", seed=1)
    run(config, spark=spark, progress=lambda _: None)
    second = landed(600, gateway="gw-b", seed=2)
    result = run(config, spark=spark, progress=lambda _: None)
    assert result.tables["raw"].rows == second["raw"]
    for target in config.targets:
        rows = read_table(config, target)
        by_gateway = Counter(r["gateway"] for r in rows)
        assert by_gateway == Counter({"gw-a": first[target], "gw-b": second[target]}) - Counter()
        assert all(r["gateway"] == r["_lineage"]["gateway_id"] for r in rows)
        assert len(set(lineage_keys(rows))) == len(rows)


def test_emergency_pipeline_alone(
    spark: Any, landed: Callable[..., dict[str, int]], config: LocalRunConfig
) -> None:
    config = replace(config, targets=("emergency",))
    expected = landed(1_000)
    result = run(config, spark=spark, progress=lambda _: None)
    rows = read_table(config, "emergency")
    assert len(rows) == result.tables["emergency"].rows == expected["emergency"] > 0
    assert all(r["emergency"]["reasons"] for r in rows)
    assert {True, False} >= {r["emergency"]["valid"] for r in rows}
    assert not (
        config.warehouse_dir / config.catalog / config.schema / "sensor_readings_raw"
    ).exists()


def _write_gz(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0))


def _raw_file(lake: Path, name: str, gateway: str = "gw-x") -> Path:
    return lake_path(lake, f"raw/date=2026-03-05/gateway={gateway}/{name}.ndjson.gz")


def _raw_record(row_id: int, **extra: Any) -> str:
    record = {
        "id": row_id,
        "timestamp": "2026-03-05T10:00:00+00:00",
        "sensor_id": "LOND_ABCDEF",
        "temperature": 21.5,
        "_lineage": {
            "gateway_id": "gw-x",
            "epoch": 1,
            "row_id": row_id,
            "rules_version": "t",
            "source_table": "sensor_readings",
        },
        **extra,
    }
    return json.dumps(record)


def test_a_new_column_in_raw_files_becomes_a_table_column(
    spark: Any, config: LocalRunConfig
) -> None:
    config = replace(config, targets=("raw",))
    _write_gz(_raw_file(config.lake_dir, "00000001-0000000000000000001-0000000000000000002"),
              [_raw_record(1), _raw_record(2)])  # fmt: skip
    run(config, spark=spark, progress=lambda _: None)
    _write_gz(_raw_file(config.lake_dir, "00000001-0000000000000000003-0000000000000000004"),
              [_raw_record(3, battery_level=87.5, channel="b"), _raw_record(4, battery_level=12.0, channel="a")])  # fmt: skip
    result = run(config, spark=spark, progress=lambda _: None)

    assert result.tables["raw"].new_columns == ["battery_level", "channel"]
    rows = sorted(read_table(config, "raw"), key=lambda r: r["id"])
    assert [r["battery_level"] for r in rows] == [None, None, 87.5, 12.0]
    assert [r["channel"] for r in rows] == [None, None, "b", "a"]
    assert all(r[RESCUED_COLUMN] is None for r in rows)
    # The grown schema is kept: the next run reads it without restarting.
    _write_gz(_raw_file(config.lake_dir, "00000001-0000000000000000005-0000000000000000005"),
              [_raw_record(5, battery_level=50.0, channel="c")])  # fmt: skip
    third = run(config, spark=spark, progress=lambda _: None)
    assert third.tables["raw"].new_columns == [] and third.tables["raw"].rows == 1
    assert len(read_table(config, "raw")) == 5


def test_malformed_lines_are_rescued_and_a_corrupt_file_is_skipped_by_path(
    spark: Any, landed: Callable[..., dict[str, int]], config: LocalRunConfig
) -> None:
    config = replace(config, targets=("raw",))
    expected = landed(500)
    lake = config.lake_dir
    _write_gz(_raw_file(lake, "00000001-0000000000000000001-0000000000000000003"),
              [_raw_record(1), '{"id": 2, "timestamp": oops', _raw_record(3)])  # fmt: skip
    good = gzip.compress(("\n".join(_raw_record(i) for i in range(10, 2000)) + "\n").encode())
    corrupt = _raw_file(lake, "00000001-0000000000000000010-0000000000000001999")
    corrupt.write_bytes(good[: len(good) // 2])  # truncated: readable at first, then broken
    garbage = _raw_file(lake, "00000001-0000000000000002000-0000000000000002000")
    garbage.write_bytes(b"not gzip at all")
    lines: list[str] = []

    result = run(config, spark=spark, progress=lines.append)

    raw = result.tables["raw"]
    assert raw.error is None
    assert sorted(c["path"] for c in raw.corrupt_files) == sorted([str(corrupt), str(garbage)])
    assert all("gzip" in c["error"] for c in raw.corrupt_files)
    assert any(str(corrupt) in line and line.startswith("error:") for line in lines)
    rows = read_table(config, "raw")
    assert len(rows) == raw.rows == expected["raw"] + 3  # nothing from the corrupt files
    assert not any(r["_source_file"].endswith(corrupt.name) for r in rows)
    rescued = [r for r in rows if r[RESCUED_COLUMN] is not None]
    assert raw.rescued_rows == len(rescued) == 1
    assert rescued[0][RESCUED_COLUMN] == '{"id": 2, "timestamp": oops'
    assert rescued[0]["gateway"] == "gw-x" and rescued[0]["_source_file"]


def test_a_failing_table_is_reported_and_the_others_still_ingest(
    spark: Any, landed: Callable[..., dict[str, int]], config: LocalRunConfig
) -> None:
    config = replace(config, targets=("raw", "emergency"))
    expected = landed(500)
    blocked = config.table_path(config.spec("raw"))
    blocked.parent.mkdir(parents=True)
    blocked.write_text("not a table directory")  # the raw table cannot be written
    result = run(config, spark=spark, progress=lambda _: None)
    assert result.tables["raw"].error and result.tables["raw"].rows == 0
    assert "Traceback" not in result.tables["raw"].error  # the error's own line
    assert "sensor_readings_raw" in result.tables["raw"].error
    assert [t.target for t in result.failed] == ["raw"]
    assert result.tables["emergency"].error is None
    assert len(read_table(config, "emergency")) == expected["emergency"]
    # Once the cause is gone, the next run ingests what the failed one did not.
    blocked.unlink()
    again = run(config, spark=spark, progress=lambda _: None)
    assert again.tables["raw"].rows == expected["raw"] and not again.failed


def test_failure_line_finds_the_error_in_sparks_report() -> None:
    from sensorlake.streams.runner import failure_line

    report = (
        "[STREAM_FAILED] Query [id = 1] terminated with exception: An exception was raised by "
        "the Python Proxy. Return Message: Traceback (most recent call last):\n"
        '  File "x.py", line 1, in f\nOSError: disk full\n\n=== Streaming Query ===\nIdentifier: q'
    )
    assert failure_line(report) == "OSError: disk full"
    assert failure_line("[PATH_NOT_FOUND] no such path\n=== Streaming Query ===") == (
        "[PATH_NOT_FOUND] no such path"
    )
    assert failure_line("") == "the query stopped without a message"


def test_reconciliation_catches_a_table_that_differs_from_the_lake(
    spark: Any, landed: Callable[..., dict[str, int]], config: LocalRunConfig
) -> None:
    from sensorlake.contract.metadata import local_metadata_path
    from sensorlake.streams.cli import format_summary

    config = replace(config, targets=("emergency",))
    expected = landed(400, file_rows=100)
    first = run(config, spark=spark, progress=lambda _: None, reconcile=True)
    assert first.mismatched == [] and "MISMATCH" not in format_summary(first)
    # A landed file lost from the lake after it was ingested: --verify must say so.
    gone = sorted(lake_path(config.lake_dir, "emergency/").rglob("*.ndjson.gz"))[0]
    gone.unlink()
    local_metadata_path(gone).unlink(missing_ok=True)
    second = run(config, spark=spark, progress=lambda _: None, reconcile=True)
    table = second.tables["emergency"]
    assert table.table_rows == expected["emergency"] > table.landed_rows
    assert second.mismatched == [table]
    assert "MISMATCH" in format_summary(second)


def _copy_state(config: LocalRunConfig, to: Path) -> LocalRunConfig:
    import shutil

    moved = replace(
        config,
        lake_dir=to / "lake",
        warehouse_dir=to / "warehouse",
        checkpoint_dir=to / "checkpoints",
    )
    for old, new in (
        (config.lake_dir, moved.lake_dir),
        (config.warehouse_dir, moved.warehouse_dir),
        (config.checkpoint_dir, moved.checkpoint_dir),
    ):
        shutil.copytree(old, new)
    return moved


def test_a_checkpoint_that_is_not_its_tables_stops_the_run_and_writes_nothing(
    spark: Any, tmp_path: Path, landed: Callable[..., dict[str, int]], config: LocalRunConfig
) -> None:
    import shutil

    from sensorlake.streams.errors import StateProblem

    config = replace(config, targets=("emergency", "filtered"))
    expected = landed(400)
    run(config, spark=spark, progress=lambda _: None)

    # The checkpoints with a new warehouse: Spark would think everything is done.
    elsewhere = replace(config, warehouse_dir=tmp_path / "other-warehouse")
    with pytest.raises(StateProblem, match="point --warehouse-dir at the table it belongs to"):
        run(elsewhere, spark=spark, progress=lambda _: None)
    assert not elsewhere.warehouse_dir.exists()

    # Lake, checkpoints and warehouse copied to a new place: the source log's paths are old.
    moved = _copy_state(config, tmp_path / "moved")
    with pytest.raises(StateProblem, match="run with the --lake-dir it was made for"):
        run(moved, spark=spark, progress=lambda _: None)
    assert {t: len(read_table(moved, t)) for t in moved.targets} == {
        t: expected[t] for t in moved.targets
    }

    # A lost checkpoint beside its table: a new query would ingest every file again.
    shutil.rmtree(config.checkpoint_path(config.spec("emergency")))
    with pytest.raises(StateProblem, match=r"already holds .* rows but checkpoint .* is new"):
        run(config, spark=spark, progress=lambda _: None)
    assert len(read_table(config, "emergency")) == expected["emergency"]

    # Checkpoint and table both gone: start over, every row once.
    shutil.rmtree(config.table_path(config.spec("emergency")))
    again = run(config, spark=spark, progress=lambda _: None)
    assert again.tables["emergency"].rows == expected["emergency"]
    assert again.tables["filtered"].rows == 0


def _strays(config: LocalRunConfig) -> list[Path]:
    """Copies of a real landed raw file put where the key layout does not allow them."""
    import shutil

    source = lake_path(config.lake_dir, "raw/")
    landed_file = sorted(source.rglob("*.ndjson.gz"))[0]
    name = landed_file.name
    strays = [
        source / "gateway=x" / "f.ndjson.gz",  # no date folder: clashing partition columns
        source / "stray.ndjson.gz",  # beside the partition folders
        source / "date=foo" / "gateway=y" / name,  # in the folders, but not a date
        landed_file.parent / "not-a-key.ndjson.gz",  # in a real folder, not a key's name
    ]
    for path in strays:
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(landed_file, path)
    return sorted(strays)


def test_a_file_outside_the_key_layout_is_skipped_and_reported_and_the_rest_ingested(
    spark: Any, landed: Callable[..., dict[str, int]], config: LocalRunConfig
) -> None:
    config = replace(config, targets=("raw",))
    expected = landed(300)
    strays = _strays(config)
    lines: list[str] = []
    result = run(config, spark=spark, progress=lines.append, reconcile=True)
    t = result.tables["raw"]
    assert t.error is None and t.rows == t.table_rows == t.landed_rows == expected["raw"]
    assert sorted(t.skipped_files) == [str(p) for p in strays] == sorted(result.skipped)
    assert len(set(lineage_keys(read_table(config, "raw")))) == expected["raw"]
    assert all(any(str(p) in line and "key layout" in line for line in lines) for p in strays)
    # They stay in the lake and are reported on every run; nothing is ingested twice.
    again = run(config, spark=spark, progress=lambda _: None)
    assert sorted(again.tables["raw"].skipped_files) == [str(p) for p in strays]
    assert again.tables["raw"].rows == 0 and all(p.exists() for p in strays)
