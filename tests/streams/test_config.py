"""The local runner's settings: pipelines subset, paths, raw's grown columns."""

from __future__ import annotations

from pathlib import Path

import pytest

from sensorlake.contract.pipelines import TARGETS
from sensorlake.contract.records import Field
from sensorlake.streams import evolution
from sensorlake.streams.config import LocalRunConfig, parse_targets

pytestmark = pytest.mark.streams


def test_pipelines_subset() -> None:
    assert parse_targets(None) == parse_targets("") == TARGETS
    assert parse_targets("emergency, raw") == ("raw", "emergency")
    assert parse_targets("schematized") == ("schematized", "rejected")
    assert parse_targets("rejected") == ("rejected",)
    with pytest.raises(ValueError, match="unknown pipeline"):
        parse_targets("raw,bronze")


def test_local_paths_mirror_the_volumes() -> None:
    config = LocalRunConfig(Path("lake"), Path("wh"), Path("ck"), catalog="c", schema="s")
    spec = config.spec("filtered")
    assert config.table_path(spec) == Path("wh/c/s/sensor_readings_filtered")
    assert config.checkpoint_path(spec) == Path("ck/c/s/sensor_readings_filtered")
    assert config.schema_path(spec) == Path("ck/c/s/_schemas/sensor_readings_filtered")


def test_grown_columns_are_typed_from_json_and_kept(tmp_path: Path) -> None:
    seen = {"id": 1, "flag": True, "n": 3, "x": 1.5, "s": "a", "obj": {"k": 1}, "none": None}
    found = evolution.new_columns(seen, ["id"])
    assert [(f.name, f.type) for f in found] == [
        ("flag", "boolean"), ("n", "long"), ("x", "double"), ("s", "string"),
        ("obj", "string"), ("none", "string"),
    ]  # fmt: skip
    assert evolution.load_extra(tmp_path) == ()
    evolution.save_extra(tmp_path, found[:2])
    assert evolution.load_extra(tmp_path) == (Field("flag", "boolean"), Field("n", "long"))
