"""Record shapes: landing's real output (committed samples) matches the contract's JSON
Schema, target by target."""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
import pytest

from sensorlake.contract.pipelines import TARGETS
from sensorlake.contract.records import CONTRACT_VERSION, SOURCE_COLUMNS, json_schema, shape

from ..support.samples import SAMPLES, read_records

pytestmark = pytest.mark.contract


@pytest.fixture(scope="module")
def landed() -> dict[str, list[dict[str, Any]]]:
    """Records the real lander wrote, committed (``tests/support/samples.py`` says how;
    landing's tests check that it still writes exactly these bytes)."""
    return read_records(SAMPLES / "lake")


def test_every_target_has_a_valid_json_schema() -> None:
    for target in TARGETS:
        document = json_schema(target)
        jsonschema.Draft202012Validator.check_schema(document)
        assert CONTRACT_VERSION in document["$id"]


@pytest.mark.parametrize("target", TARGETS)
def test_landed_records_match_their_shape(
    landed: dict[str, list[dict[str, Any]]], target: str
) -> None:
    records = landed.get(target, [])
    assert records, f"the simulated database produced no {target} records"
    validator = jsonschema.Draft202012Validator(json_schema(target))
    for record in records:
        validator.validate(record)
    # and the shape lists every top-level field landing writes, nothing more (closed shapes)
    names = {f.name for f in shape(target)}
    seen = set().union(*(r.keys() for r in records))
    if target in ("raw", "rejected"):
        assert {c for c, _ in SOURCE_COLUMNS} | {"_lineage"} <= seen
    else:
        assert seen == names


@pytest.mark.parametrize("target", ["schematized", "filtered", "emergency"])
def test_a_drifted_record_fails_its_shape(
    landed: dict[str, list[dict[str, Any]]], target: str
) -> None:
    record = copy.deepcopy(landed[target][0])
    record["readings"]["temperature"] = "hot"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(record, json_schema(target))
    extra = copy.deepcopy(landed[target][0])
    extra["surprise"] = 1
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(extra, json_schema(target))


def test_raw_stays_open_for_new_sensor_columns(landed: dict[str, list[dict[str, Any]]]) -> None:
    record = dict(landed["raw"][0], firmware_channel="beta")
    jsonschema.validate(record, json_schema("raw"))


def test_shapes_export_from_the_command_line() -> None:
    import json
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "sensorlake.contract.records", "emergency"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(out.stdout)["emergency"] == json_schema("emergency")


def test_table_columns_add_partitions_ingest_columns_and_rescued_data() -> None:
    from sensorlake.contract.keys import PARTITION_FIELDS
    from sensorlake.contract.records import INGEST_COLUMNS, RESCUED_COLUMN, table_columns

    for target in TARGETS:
        names = [f.name for f in table_columns(target)]
        assert len(names) == len(set(names)), f"{target} has a column twice"
        assert names[: len(shape(target))] == [f.name for f in shape(target)]
        assert set(PARTITION_FIELDS) | {c.name for c in INGEST_COLUMNS} <= set(names)
        assert names[-1] == RESCUED_COLUMN
