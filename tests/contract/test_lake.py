"""Local paths and URLs: one layout for the local lake and S3."""

from __future__ import annotations

from pathlib import Path

import pytest

from sensorlake.contract.keys import LandingKey, source_glob, source_prefix
from sensorlake.contract.lake import LOCAL_PATHS, checkpoint_path, lake_path, s3_url, table_dir

pytestmark = pytest.mark.contract


def test_lake_mirrors_the_buckets() -> None:
    key = LandingKey("rejected", "2026-03-01", "gw-1", 1, 5, 9).format()
    assert lake_path(Path("var/lake"), key) == Path("var/lake/schematized") / key
    raw = LandingKey("raw", "2026-03-01", "gw-1", 1, 5, 9).format()
    assert lake_path(Path("/l"), raw) == Path("/l/raw") / raw
    assert s3_url("sensor-data-raw", raw) == f"s3://sensor-data-raw/{raw}"


def test_a_source_glob_matches_exactly_its_targets_files() -> None:
    from fnmatch import fnmatchcase

    raw = LandingKey("raw", "2026-03-01", "gw-1", 1, 5, 9).format()
    assert fnmatchcase(raw, source_glob("raw"))
    assert not fnmatchcase(raw, source_glob("rejected"))
    assert not fnmatchcase("raw/_sensorlake/probe/x", source_glob("raw"))
    assert source_prefix("emergency") == "emergency/"


def test_local_paths_have_one_default_and_one_variable_each() -> None:
    assert {n: str(p.default) for n, p in LOCAL_PATHS.items()} == {
        "db": "var/sensor_data.db",
        "state": "var/state",
        "lake": "var/lake",
        "warehouse": "var/warehouse",
        "checkpoint": "var/checkpoints",
    }
    assert len({p.env for p in LOCAL_PATHS.values()}) == len(LOCAL_PATHS)
    assert table_dir(Path("w"), "c", "s", "t") == Path("w/c/s/t")


def test_a_tables_checkpoint_sits_under_catalog_and_schema_like_the_volume() -> None:
    from sensorlake.contract.pipelines import table_name

    assert checkpoint_path(Path("var/checkpoints"), "c", "s", table_name("raw")) == Path(
        "var/checkpoints/c/s/sensor_readings_raw"
    )


def test_a_lake_path_follows_the_layout_only_as_a_landing_key_in_its_bucket(
    tmp_path: Path,
) -> None:
    from sensorlake.contract.lake import follows_layout, lake_key

    lake = tmp_path / "lake"
    key = LandingKey("rejected", "2026-03-01", "gw-1", 1, 5, 9)
    assert lake_key(lake, lake_path(lake, key.format())) == key
    assert follows_layout(Path("var/lake"), Path("var/lake/schematized") / key.format())
    assert follows_layout(
        lake, Path(f"{lake}/raw/../raw") / key.format().replace("rejected", "raw")
    )
    good = key.format().rsplit("/", 1)[1]
    for wrong in (
        f"raw/raw/gateway=x/{good}",  # no date folder
        f"raw/raw/{good}",  # beside the partition folders
        "raw/raw/stray.ndjson.gz",
        f"raw/raw/date=foo/gateway=x/{good}",  # not a date
        "raw/raw/date=2026-03-01/gateway=x/f.ndjson.gz",  # not a key's name
        f"raw/raw/date=2026-03-01/gateway=x/sub/{good}",  # one folder too deep
        f"raw/rejected/date=2026-03-01/gateway=x/{good}",  # rejected lives with schematized
        f"raw/raw/date=2026-03-01/gateway=x/{good}.metadata.json",
    ):
        assert not follows_layout(lake, lake / wrong), wrong
    assert not follows_layout(lake, tmp_path / "elsewhere" / key.format())
