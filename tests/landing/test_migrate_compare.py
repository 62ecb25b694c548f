"""sensorlake migrate compare: per gateway and day, old rows against the new landing zone."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sensorlake.landing.config import LandingConfig
from sensorlake.landing.migrate.compare import compare
from sensorlake.landing.migrate.oldstore import OldBucket
from sensorlake.landing.migrate.zone import LandingZone
from sensorlake.landing.rules import Rules

from ..support.flow import land
from .conftest import SENSORLAKE, child_env
from .test_migrate_backfill import backfill, old, uploader  # noqa: F401 (the fixture)

pytestmark = pytest.mark.usefixtures("fake_credentials")


def run_compare(config: LandingConfig, old: tuple[Any, str], **options: Any) -> Any:  # noqa: F811
    client, bucket = old
    return compare(OldBucket(bucket, connect=lambda: client), LandingZone(config), **options)


def test_rows_missing_on_either_side_and_duplicates_in_old(
    sensor_db: Path,
    tmp_path: Path,
    old: tuple[Any, str],  # noqa: F811
    rules: Rules,
    make_config: Callable[..., LandingConfig],
) -> None:
    up = uploader(sensor_db, tmp_path, old)
    for _ in range(4):
        up.cycle()
    up.retry_duplicate()  # the fourth batch twice
    config = make_config(sensor_db)

    nothing_yet = run_compare(config, old)
    assert not nothing_yet.complete
    assert nothing_yet.totals["missing_in_new"] == 2_000
    assert nothing_yet.totals["duplicated_in_old"] == 500
    assert {d.day for d in nothing_yet.days} == {"2026-03-01", "2026-03-02"}

    # the live lander has every row of the database: old is complete in new, new has more
    land(config, rules)
    report = run_compare(config, old)
    assert report.complete
    t = report.totals
    assert (t["old"], t["new"], t["equal"], t["missing_in_new"], t["missing_in_old"]) == (
        2_000,
        3_000,
        2_000,
        0,
        1_000,
    )
    first_day = next(d for d in report.days if d.day == "2026-03-01")
    assert first_day.status in ("equal", "new has more")
    assert sum(d.old for d in report.days) == 2_000

    one_day = run_compare(config, old, since="2026-03-02", until="2026-03-02")
    assert [d.day for d in one_day.days] == ["2026-03-02"]


def test_a_row_lost_in_new_is_found_and_backfill_fixes_it(
    sensor_db: Path,
    tmp_path: Path,
    old: tuple[Any, str],  # noqa: F811
    rules: Rules,
    make_config: Callable[..., LandingConfig],
) -> None:
    uploader(sensor_db, tmp_path, old).run_until_caught_up()
    config = make_config(sensor_db)
    assert backfill(config, rules, old).rows_landed == 3_000
    assert run_compare(config, old).complete
    # lose one landed file: compare names the day and the rows; backfill lands them again
    victim = sorted((config.lake_dir / "raw").rglob("*.ndjson.gz"))[0]
    victim.unlink()
    report = run_compare(config, old)
    assert not report.complete
    lost = [d for d in report.days if d.missing_in_new]
    assert len(lost) == 1 and lost[0].missing_in_new_examples
    again = backfill(config, rules, old)
    assert again.rows_landed == lost[0].missing_in_new
    assert again.replayed_objects > 0  # the other pipelines' files were still there, identical
    assert run_compare(config, old).complete


def test_cli_exit_codes(
    moto_endpoint: str,
    sensor_db: Path,
    tmp_path: Path,
    old: tuple[Any, str],  # noqa: F811
    rules: Rules,
    make_config: Callable[..., LandingConfig],
) -> None:
    _, bucket = old
    uploader(sensor_db, tmp_path, old).run_until_caught_up()
    lake = tmp_path / "lake"
    env = child_env(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_REGION="us-east-1",
        AWS_ENDPOINT_URL=moto_endpoint,
    )
    cmd = [SENSORLAKE, "migrate", "compare", "--old", f"s3://{bucket}", "--lake-dir", str(lake)]
    cmd += ["--warehouse", "local"]  # whatever DATABRICKS_* the developer's shell has
    missing = subprocess.run([*cmd, "--json"], env=env, capture_output=True, text=True, timeout=120)
    assert missing.returncode == 1, missing.stderr
    assert json.loads(missing.stdout)["totals"]["missing_in_new"] == 3_000
    config = make_config(sensor_db, lake_dir=lake)
    land(config, rules)
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "complete" in done.stdout
    bad = subprocess.run(
        [*cmd, "--since", "yesterday"], env=env, capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 2 and "YYYY-MM-DD" in bad.stderr
    empty = subprocess.run(
        [
            SENSORLAKE,
            "migrate",
            "compare",
            "--old",
            f"s3://{bucket}/no-such-prefix/",
            "--lake-dir",
            str(lake),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert empty.returncode == 2 and "no objects under" in empty.stderr


def test_the_raw_table_is_compared_when_it_is_reachable(
    sensor_db: Path,
    tmp_path: Path,
    old: tuple[Any, str],  # noqa: F811
    rules: Rules,
    make_config: Callable[..., LandingConfig],
    spark: Any,
) -> None:
    """The issue's "and in the tables when they are reachable": the real streams ingest what
    landing landed; compare counts the old rows found in the raw table, and a row lost from
    the table shows there (completeness stays the zone's: a row may still be on its way)."""
    from deltalake import DeltaTable

    from sensorlake.contract.lake import table_dir
    from sensorlake.contract.pipelines import DEFAULT_CATALOG, DEFAULT_SCHEMA, table_name
    from sensorlake.landing.migrate.tables import local_raw_table
    from sensorlake.streams.config import LocalRunConfig
    from sensorlake.streams.runner import run as run_streams

    up = uploader(sensor_db, tmp_path, old)
    for _ in range(2):
        up.cycle()
    config = make_config(sensor_db)
    warehouse = tmp_path / "warehouse"
    absent, why = local_raw_table(warehouse)
    assert absent is None and why.startswith("tables not checked: no raw table at ")

    land(config, rules)
    streams = LocalRunConfig(
        lake_dir=config.lake_dir,
        warehouse_dir=warehouse,
        checkpoint_dir=tmp_path / "checkpoints",
        targets=("raw",),
        master="local[2]",
    )
    result = run_streams(streams, spark=spark)
    assert result.tables["raw"].error is None
    table, _ = local_raw_table(warehouse)
    report = run_compare(config, old, table=table)
    assert report.complete and report.tables.endswith(table_name("raw"))
    assert report.totals["in_table"] == report.totals["old"] == 1_000
    assert report.totals["missing_in_table"] == 0

    path = table_dir(warehouse, DEFAULT_CATALOG, DEFAULT_SCHEMA, table_name("raw"))
    DeltaTable(str(path)).delete("id <= 10")
    lost = run_compare(config, old, table=local_raw_table(warehouse)[0])
    assert lost.totals["missing_in_table"] == 10 and lost.complete
