"""The stream spec: options, schema, hints and paths per target, without Spark."""

from __future__ import annotations

import re

import pytest

from sensorlake.contract.keys import PARTITION_FIELDS
from sensorlake.contract.pipelines import DEFAULT_CATALOG, DEFAULT_SCHEMA, TARGETS
from sensorlake.contract.records import RESCUED_COLUMN, Field, shape
from sensorlake.streams import spec as s

pytestmark = pytest.mark.streams

SCHEMAS = "/Volumes/cat/sch/autoloader_schemas"


def location(target: str) -> str:
    return f"{SCHEMAS}/sensor_readings_{target}"


def test_the_spec_module_needs_no_spark() -> None:
    import subprocess
    import sys

    code = "import sys, sensorlake.streams.spec; print('pyspark' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("target", TARGETS)
def test_tables_paths_and_partitions_come_from_the_contract(target: str) -> None:
    spec = s.StreamSpec(target)
    assert (spec.catalog, spec.schema) == (DEFAULT_CATALOG, DEFAULT_SCHEMA)
    assert spec.table == f"sensor_readings_{target}"
    assert spec.full_table_name == f"sensor_data_catalog.sensor_pipeline.sensor_readings_{target}"
    assert spec.partition_columns == PARTITION_FIELDS == ("date", "gateway")
    assert spec.source_prefix == f"{target}/"
    assert spec.merges_schema is (target == "raw")  # the one rule, on both engines


@pytest.mark.parametrize("target", TARGETS)
def test_autoloader_options_per_target(target: str) -> None:
    opts = s.autoloader_options(
        s.StreamSpec(target, "cat", "sch"), schema_location=location(target), file_events=True
    )
    assert opts["cloudFiles.format"] == "json"
    assert opts["cloudFiles.schemaLocation"] == f"{SCHEMAS}/sensor_readings_{target}"
    assert opts["cloudFiles.schemaLocation"].startswith("/Volumes/cat/sch/")
    assert opts["cloudFiles.schemaEvolutionMode"] == (
        "addNewColumns" if target == "raw" else "rescue"
    )
    assert opts["rescuedDataColumn"] == RESCUED_COLUMN
    assert opts["cloudFiles.useManagedFileEvents"] == "true"
    assert opts["cloudFiles.allowOverwrites"] == "false"
    assert opts["cloudFiles.maxFilesPerTrigger"] == str(s.DEFAULT_MAX_FILES)
    assert opts["cloudFiles.maxBytesPerTrigger"] == "10g"
    assert opts["cloudFiles.schemaHints"] == s.schema_hints(target)
    assert opts["pathGlobFilter"] == "*.ndjson.gz"
    assert opts["cloudFiles.partitionColumns"] == "date,gateway"
    assert opts["columnNameOfCorruptRecord"] == s.CORRUPT_COLUMN
    assert all(isinstance(v, str) for v in opts.values())


def test_directory_listing_without_file_events_and_explicit_limits() -> None:
    opts = s.autoloader_options(
        s.StreamSpec("emergency"),
        schema_location=location("emergency"),
        file_events=False,
        max_files=10,
        max_bytes="512M",
    )
    assert opts["cloudFiles.useManagedFileEvents"] == "false"
    assert opts["cloudFiles.useNotifications"] == "false"
    assert (opts["cloudFiles.maxFilesPerTrigger"], opts["cloudFiles.maxBytesPerTrigger"]) == (
        "10",
        "512m",
    )
    with pytest.raises(ValueError, match="positive"):
        s.autoloader_options(
            s.StreamSpec("raw"), schema_location=location("raw"), file_events=True, max_files=0
        )


@pytest.mark.parametrize("target", TARGETS)
def test_schema_hints_name_every_field_of_the_shape_with_its_type(target: str) -> None:
    hints = s.schema_hints(target)
    top = re.findall(r"(?:^|, )`([^`]+)` ", hints)
    names = [*(f.name for f in shape(target)), s.CORRUPT_COLUMN]
    # Nested fields appear inside STRUCT<...>; the top-level ones are in shape order.
    assert [n for n in top if n in names] == names
    for f in shape(target):
        assert f"`{f.name}` {s.ddl_type(f)}" in hints


def test_ddl_and_spark_types_of_each_kind() -> None:
    nested = Field("n", "struct", fields=(Field("a", "long"), Field("t", "timestamp")))
    assert s.ddl_type(nested) == "STRUCT<`a`: BIGINT, `t`: TIMESTAMP>"
    assert s.ddl_type(Field("r", "array", items="string")) == "ARRAY<STRING>"
    assert s.spark_type(Field("x", "double")) == "double"
    assert s.spark_type(Field("r", "array", items="string"))["elementType"] == "string"
    assert s.spark_type(nested)["fields"][1] == {
        "name": "t",
        "type": "timestamp",
        "nullable": True,
        "metadata": {},
    }


@pytest.mark.parametrize("target", TARGETS)
def test_reader_schema_is_the_shape_plus_grown_columns_and_the_corrupt_column(target: str) -> None:
    extra = (Field("firmware_channel", "string"),)
    schema = s.spark_schema(target, extra)
    names = [f["name"] for f in schema["fields"]]
    assert names == [*(f.name for f in shape(target)), "firmware_channel", s.CORRUPT_COLUMN]
    assert all(f["nullable"] for f in schema["fields"])


def test_local_options_share_the_reader_options_and_skip_corrupt_files() -> None:
    spec = s.StreamSpec("raw")
    opts = s.local_source_options(spec, max_files=3)
    assert {k: opts[k] for k in spec.read_options()} == spec.read_options()
    assert opts["maxFilesPerTrigger"] == "3" and opts["ignoreCorruptFiles"] == "true"
    assert not any(k.startswith("cloudFiles.") for k in opts)


def test_sizes_and_names_are_checked() -> None:
    assert s.parse_size("10G") == "10g" and s.parse_size("1024") == "1024"
    for bad in ("ten", "0g", "-1m", "5x"):
        with pytest.raises(ValueError, match="byte size"):
            s.parse_size(bad)
    with pytest.raises(ValueError, match="unknown target"):
        s.StreamSpec("nope")
    with pytest.raises(ValueError, match="catalog"):
        s.StreamSpec("raw", catalog="bad-name")


@pytest.mark.parametrize("target", TARGETS)
def test_both_engines_keep_a_line_that_is_not_json_the_same_way(target: str) -> None:
    """Databricks (``cloudFiles``) and local (``json``) read with the same corrupt-record
    settings and the same fields: a malformed line lands whole in the same column on both
    (Auto Loader options and rescued data column: see ``spec.reader_fields``)."""
    spec = s.StreamSpec(target)
    cloud = s.autoloader_options(spec, schema_location=location(target), file_events=True)
    local = s.local_source_options(spec)
    for key in ("mode", "columnNameOfCorruptRecord"):
        assert cloud[key] == local[key]
    assert (cloud["mode"], cloud["columnNameOfCorruptRecord"]) == ("PERMISSIVE", s.CORRUPT_COLUMN)
    hinted = re.findall(r"(?:^|, )`([^`]+)` ", cloud["cloudFiles.schemaHints"])
    read = [f["name"] for f in s.spark_schema(target)["fields"]]
    assert [n for n in hinted if n in read] == read and s.CORRUPT_COLUMN in hinted
    assert f"`{s.CORRUPT_COLUMN}` STRING" in cloud["cloudFiles.schemaHints"]


def test_names_follow_the_contracts_one_rule() -> None:
    """Old: a rule of its own (no length limit; a trailing newline passed `$`)."""
    from sensorlake.contract.names import UcNameError

    for bad in ("a" * 256, "cat\n", "1cat", "c-at"):
        with pytest.raises(UcNameError, match="is not a valid Unity Catalog name: use letters"):
            s.StreamSpec("raw", catalog=bad)
