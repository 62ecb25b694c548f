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


def test_a_damaged_table_log_is_a_state_problem_with_one_line(tmp_path: Path) -> None:
    from sensorlake.streams.config import LocalRunConfig
    from sensorlake.streams.errors import StateProblem
    from sensorlake.streams.ownership import check

    config = LocalRunConfig(
        lake_dir=tmp_path / "lake",
        warehouse_dir=tmp_path / "warehouse",
        checkpoint_dir=tmp_path / "checkpoints",
        targets=("emergency",),
    )
    check(config)  # nothing yet: nothing to disagree
    log = config.table_path(config.spec("emergency")) / "_delta_log"
    log.mkdir(parents=True)
    (log / "00000000000000000000.json").write_text("{not json")
    with pytest.raises(StateProblem, match="cannot be read") as caught:
        check(config)
    assert "\n" not in str(caught.value) and StateProblem.exit_code == 5
