"""The Databricks job: its arguments, its options, and that it wires the shared transformation.

Databricks itself cannot run here: the reader is a recording fake that hands back a real
``json`` stream over a local lake (standing in for ``cloudFiles``), and the writer chain is
recorded instead of writing to Unity Catalog.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sensorlake.contract.lake import lake_path
from sensorlake.contract.records import table_columns
from sensorlake.streams import databricks
from sensorlake.streams.spec import StreamSpec, local_source_options, spark_schema

pytestmark = pytest.mark.streams

ARGS = [
    "--target", "raw",
    "--catalog", "cat",
    "--schema", "sch",
    "--checkpoints", "/Volumes/cat/sch/autoloader_checkpoints",
    "--schemas", "/Volumes/cat/sch/autoloader_schemas/",
    "--source", "s3://sensor-data-raw-us-east-1/raw",
]  # fmt: skip


def test_arguments_become_a_job() -> None:
    job = databricks.parse_args(
        [*ARGS, "--no-file-events", "--max-files", "50", "--max-bytes", "2G"]
    )
    assert job.spec == StreamSpec("raw", "cat", "sch")
    assert job.source == "s3://sensor-data-raw-us-east-1/raw/"
    assert job.checkpoint_location == "/Volumes/cat/sch/autoloader_checkpoints/sensor_readings_raw"
    options = job.source_options()
    assert (
        options["cloudFiles.schemaLocation"]
        == "/Volumes/cat/sch/autoloader_schemas/sensor_readings_raw"
    )
    assert options["cloudFiles.useManagedFileEvents"] == "false"
    assert (options["cloudFiles.maxFilesPerTrigger"], options["cloudFiles.maxBytesPerTrigger"]) == (
        "50",
        "2g",
    )
    assert job.sink_options() == {
        "checkpointLocation": job.checkpoint_location,
        "mergeSchema": "true",
    }
    assert databricks.parse_args(ARGS).file_events is True


def test_only_raw_merges_new_columns_into_its_table() -> None:
    args = [a if a != "raw" else "filtered" for a in ARGS]
    job = databricks.parse_args(args)
    assert job.sink_options() == {"checkpointLocation": job.checkpoint_location}
    assert job.source_options()["cloudFiles.schemaEvolutionMode"] == "rescue"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("--checkpoints", "s3://bucket/checkpoints"), "not a Unity Catalog volume path"),
        (("--schemas", "/Volumes/other/sch/v"), "not a Unity Catalog volume path"),
        (("--source", "/dbfs/raw"), "must be an s3:// URL"),
        (("--target", "bronze"), "invalid choice"),
        (("--catalog", "bad-name"), "not a valid Unity Catalog name"),
        (("--max-bytes", "lots"), "not a byte size"),
        (("--max-files", "0"), "must be positive"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(
    change: tuple[str, str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = list(ARGS)
    if change[0] in args:
        args[args.index(change[0]) + 1] = change[1]
    else:
        args += change
    with pytest.raises(SystemExit) as exc:
        databricks.parse_args(args)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


class Recorder:
    """Records a chained builder's calls; ``load`` and ``toTable`` end the chain."""

    def __init__(self, calls: list[tuple[str, Any]], terminal: dict[str, Callable[..., Any]]):
        self.calls, self.terminal = calls, terminal

    def __getattr__(self, name: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, args or kwargs))
            return self.terminal[name](*args) if name in self.terminal else self

        return call


def test_the_job_wires_cloudfiles_the_shared_transformation_and_an_available_now_table_sink(
    spark: Any,
    landed: Callable[..., dict[str, int]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pyspark.sql import DataFrame
    from pyspark.sql.types import StructType

    expected = landed(300)
    job = databricks.parse_args(ARGS)
    local_lake = lake_path(tmp_path / "lake", "raw/")

    def load(source: str) -> DataFrame:  # the cloudFiles stream, stood in for by json
        assert source == job.source
        return (
            spark.readStream.format("json")
            .schema(StructType.fromJson(spark_schema("raw")))
            .options(**local_source_options(job.spec))
            .load(str(local_lake))
        )

    read_calls: list[tuple[str, Any]] = []
    write_calls: list[tuple[str, Any]] = []
    written: dict[str, DataFrame] = {}

    class FakeSpark:
        readStream = Recorder(read_calls, {"load": load})

    def writer(frame: DataFrame) -> Recorder:
        written["frame"] = frame
        return Recorder(write_calls, {"toTable": lambda name: f"query for {name}"})

    # Spark 4's classic DataFrame defines writeStream itself.
    from pyspark.sql.classic.dataframe import DataFrame as ClassicDataFrame

    monkeypatch.setattr(ClassicDataFrame, "writeStream", property(writer))

    assert databricks.start(FakeSpark(), job) == "query for cat.sch.sensor_readings_raw"  # type: ignore[arg-type]

    assert read_calls == [
        ("format", ("cloudFiles",)),
        ("options", job.source_options()),
        ("load", (job.source,)),
    ]
    assert write_calls == [
        ("queryName", ("cat.sch.sensor_readings_raw",)),
        ("options", job.sink_options()),
        ("partitionBy", ("date", "gateway")),
        ("trigger", {"availableNow": True}),
        ("toTable", ("cat.sch.sensor_readings_raw",)),
    ]
    # What it would write is the shared transformation of the source: run it into memory.
    frame = written["frame"]
    assert frame.columns == [f.name for f in table_columns("raw")]
    monkeypatch.undo()
    query = (
        frame.writeStream.format("memory").queryName("dbx_raw").trigger(availableNow=True).start()
    )
    query.awaitTermination()
    rows = spark.sql("select gateway, _source_file from dbx_raw").collect()
    assert len(rows) == expected["raw"]
    assert {r.gateway for r in rows} == {"gw-a"}
    assert all(r._source_file.endswith(".ndjson.gz") for r in rows)
    spark.catalog.dropTempView("dbx_raw")


def test_the_console_script_is_declared_for_the_wheel_task() -> None:
    from importlib.metadata import entry_points

    (script,) = [
        e for e in entry_points(group="console_scripts") if e.name == "sensorlake-databricks-stream"
    ]
    assert script.value == "sensorlake.streams.databricks:main"
    assert script.dist is not None and script.dist.name == "sensorlake-streams"


@pytest.mark.parametrize("target", ["raw", "schematized", "filtered", "emergency", "rejected"])
def test_schema_hints_are_ddl_spark_reads_as_the_explicit_schema(spark: Any, target: str) -> None:
    from pyspark.sql.types import StructType, _parse_datatype_string

    from sensorlake.streams.spec import CORRUPT_COLUMN, schema_hints

    # The hints are exactly the local reader's schema, the corrupt-record column included:
    # without it in the schema, Spark keeps nothing of a line that is not JSON (a row of
    # nulls on Databricks). Sources: spec.reader_fields.
    hinted = _parse_datatype_string(schema_hints(target))
    explicit = StructType.fromJson(spark_schema(target))
    assert hinted.simpleString() == explicit.simpleString()
    assert CORRUPT_COLUMN in hinted.fieldNames()
