"""The streams' state locations and the Databricks job's arguments: built and read back."""

from __future__ import annotations

from pathlib import Path

import pytest

from sensorlake.contract.layouts import JobArgs, StreamLocations, parse_volume, state_path
from sensorlake.contract.pipelines import TARGETS, table_name

pytestmark = pytest.mark.contract


def test_local_locations_sit_under_catalog_and_schema_beside_their_schemas() -> None:
    loc = StreamLocations.local(Path("ck"), "c", "s")
    table = table_name("filtered")
    assert Path(loc.checkpoint(table)) == Path("ck/c/s/sensor_readings_filtered")
    assert Path(loc.schema_location(table)) == Path("ck/c/s/_schemas/sensor_readings_filtered")


def test_volume_locations_are_the_two_volumes_of_the_tables_schema() -> None:
    loc = StreamLocations.volumes("cat", "sch")
    assert loc.checkpoint("t") == "/Volumes/cat/sch/autoloader_checkpoints/t"
    assert loc.schema_location("t") == "/Volumes/cat/sch/autoloader_schemas/t"
    other = StreamLocations.volumes("cat", "sch", "ck", "sc")
    assert (other.checkpoints, other.schemas) == ("/Volumes/cat/sch/ck", "/Volumes/cat/sch/sc")


def test_volume_locations_read_back_from_their_paths() -> None:
    loc = StreamLocations.volumes("cat", "sch", "ck", "sc")
    assert StreamLocations.parse_volumes(loc.checkpoints + "/", loc.schemas, "cat", "sch") == loc
    assert state_path(loc.checkpoints + "/", "t") == loc.checkpoint("t")


@pytest.mark.parametrize(
    "bad",
    [
        "s3://b/ck",
        "/Volumes/other/sch/v",
        "/Volumes/cat/sch",
        "/Volumes/cat/sch/v/x",
        "/Volumes/cat/sch/bad-v",
    ],
)
def test_a_path_that_is_not_a_volume_of_the_schema_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="not a Unity Catalog volume path"):
        parse_volume(bad, "cat", "sch")


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize(
    "extra",
    [{}, {"file_events": False}, {"max_files": 50, "max_bytes": "2g"}],
)
def test_job_args_round_trip_through_their_argv(target: str, extra: dict[str, object]) -> None:
    args = JobArgs(
        target, "cat", "sch", StreamLocations.volumes("cat", "sch"), f"s3://b/{target}/", **extra
    )  # type: ignore[arg-type]
    argv = args.argv()
    assert all(isinstance(a, str) for a in argv)
    assert JobArgs.parse(argv) == args
    assert JobArgs.parser().parse_args(argv).target == target  # the job's own CLI reads it too


def test_job_args_normalize_what_they_are_given() -> None:
    args = JobArgs(
        "raw", "c", "s", StreamLocations("/Volumes/c/s/ck/", "/Volumes/c/s/sc"), "s3://b/raw"
    )
    assert (args.source, args.locations.checkpoints) == ("s3://b/raw/", "/Volumes/c/s/ck")
    assert "--max-files" not in args.argv()  # unset: the job's own default


ARGV = JobArgs("raw", "c", "s", StreamLocations.volumes("c", "s"), "s3://b/raw/").argv()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("--checkpoints", "s3://bucket/checkpoints"), "not a Unity Catalog volume path"),
        (("--schemas", "/Volumes/other/s/v"), "not a Unity Catalog volume path"),
        (("--source", "/dbfs/raw"), "must be an s3:// URL"),
        (("--target", "bronze"), "invalid choice"),
        (("--catalog", "bad-name"), "not a valid Unity Catalog name"),
        (("--max-files", "0"), "must be positive"),
        (("--max-files", "x"), "invalid int value"),
        (("--unknown", "1"), "unrecognized arguments"),
    ],
)
def test_bad_job_args_are_one_line_value_errors(change: tuple[str, str], message: str) -> None:
    argv = list(ARGV)
    if change[0] in argv:
        argv[argv.index(change[0]) + 1] = change[1]
    else:
        argv += change
    with pytest.raises(ValueError, match=message) as exc:
        JobArgs.parse(argv)
    assert "\n" not in str(exc.value)


def test_missing_job_args_are_named() -> None:
    with pytest.raises(ValueError, match="required: --target"):
        JobArgs.parse(ARGV[2:])
