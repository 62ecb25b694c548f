"""Spark's Arrow hand-over into Delta for every list and struct column of every target, in
every shape a batch can give them: all empty, all null, mixed, one row.

The records are the real landing's (a simulated database landed by ``sensorlake land``);
only their list and struct values are set to each shape, then read by Spark with the
target's reader schema and the shared transformation, and handed to the Delta sink as the
runner does (``toArrow`` → :func:`write_batch`).
"""

from __future__ import annotations

import copy
import gzip
import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from sensorlake.contract.keys import LandingKey
from sensorlake.contract.lake import lake_path
from sensorlake.contract.pipelines import TARGETS
from sensorlake.contract.records import Field, shape
from sensorlake.landing.simulate import simulate_bulk
from sensorlake.streams.config import LocalRunConfig
from sensorlake.streams.delta_sink import write_batch
from sensorlake.streams.runner import run
from sensorlake.streams.spec import StreamSpec, spark_schema
from sensorlake.streams.transform import ingest_columns

from .conftest import START, land, read_table

pytestmark = pytest.mark.streams

SHAPES = ("all_empty", "all_null", "mixed", "one_row")


@pytest.fixture(scope="module")
def landed_records(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, dict]]:
    """One landed record per target, with the relative key of the file it came from."""
    base = tmp_path_factory.mktemp("landed")
    simulate_bulk(base / "gw.db", 2_000, seed=7, start=START)
    land(base / "gw.db", base / "lake", base / "state", "gw-a")
    found: dict[str, tuple[str, dict]] = {}
    for target in TARGETS:
        root = lake_path(base / "lake", f"{target}/")
        path = sorted(root.rglob("*.ndjson.gz"))[0]
        key = path.relative_to(root.parent).as_posix()
        LandingKey.parse(key)  # a real landed key
        with gzip.open(path, "rt") as handle:
            found[target] = (key, json.loads(handle.readline()))
    return found


def _nested(fields: tuple[Field, ...]) -> list[tuple[str, ...]]:
    """Paths of every list and struct field, at any depth."""
    paths: list[tuple[str, ...]] = []
    for f in fields:
        if f.type == "array":
            paths.append((f.name,))
        elif f.type == "struct":
            paths.append((f.name,))
            paths.extend((f.name, *p) for p in _nested(f.fields))
    return paths


def _set_lists(record: dict, fields: tuple[Field, ...], value: Callable[[], Any]) -> dict:
    """``record`` with every list (at any depth) set to ``value()``."""
    out = copy.deepcopy(record)
    for f in fields:
        if f.type == "array":
            out[f.name] = value()
        elif f.type == "struct" and isinstance(out.get(f.name), dict):
            out[f.name] = _set_lists(out[f.name], f.fields, value)
    return out


def _nulled(record: dict, fields: tuple[Field, ...]) -> dict:
    """``record`` with every top-level list and struct null."""
    return {**record, **{f.name: None for f in fields if f.type in ("array", "struct")}}


def shaped(target: str, record: dict, kind: str) -> list[dict]:
    fields = shape(target)
    if kind == "all_empty":
        return [_set_lists(record, fields, list) for _ in range(3)]
    if kind == "all_null":  # structs null, and structs present with their lists null
        return [_nulled(record, fields), _set_lists(record, fields, lambda: None)]
    if kind == "mixed":
        return [
            _set_lists(record, fields, lambda: ["a", "bb"]),
            _set_lists(record, fields, list),
            _nulled(record, fields),
            _set_lists(record, fields, lambda: None),
            _set_lists(record, fields, lambda: ["c"]),
        ]
    return [_set_lists(record, fields, list)]  # one_row


def _lineage(rows: list[dict], index: int) -> list[dict]:
    """Give each row its own source row id (every row keeps a lineage)."""
    for i, row in enumerate(rows):
        row["_lineage"] = {**(row.get("_lineage") or {}), "row_id": index * 100 + i}
    return rows


def _pick(row: dict, path: tuple[str, ...]) -> Any:
    for name in path:
        if row is None:
            return None
        row = row.get(name)
    return row


@pytest.mark.parametrize("kind", SHAPES)
@pytest.mark.parametrize("target", TARGETS)
def test_every_list_and_struct_shape_reaches_delta_as_spark_read_it(
    spark: Any, tmp_path: Path, landed_records: dict, target: str, kind: str
) -> None:
    from pyspark.sql.types import StructType

    key, record = landed_records[target]
    rows = _lineage(shaped(target, record, kind), 1)
    path = tmp_path / "lake" / key
    path.parent.mkdir(parents=True)
    path.write_bytes(gzip.compress("".join(json.dumps(r) + "\n" for r in rows).encode()))
    spec = StreamSpec(target)
    frame = spark.read.schema(StructType.fromJson(spark_schema(target))).json(str(path))
    data = ingest_columns(frame, spec).toArrow()

    table = tmp_path / "table"
    assert write_batch(
        table,
        data,
        app_id="q",
        batch_id=0,
        partition_by=spec.partition_columns,
        merge_schema=spec.merges_schema,
    )
    from deltalake import DeltaTable

    written = DeltaTable(str(table)).to_pyarrow_dataset().to_table().to_pylist()
    order = sorted(written, key=lambda r: r["_lineage"]["row_id"])
    nested = _nested(shape(target))
    assert nested, f"{target} has no list or struct column"
    for got, want in zip(order, rows, strict=True):
        for p in nested:
            expected = _pick(want, p)
            if isinstance(expected, dict):  # structs read back with every contract field
                assert _pick(got, p) is not None, (kind, p)
            else:
                assert _pick(got, p) == expected, (kind, p)


def test_a_batch_whose_emergencies_are_all_valid_is_ingested(
    spark: Any, landed: Callable[..., dict[str, int]], config: LocalRunConfig
) -> None:
    # 20 rows with seed 2: one emergency, valid, so its validation_errors list is empty.
    expected = landed(20, seed=2)
    assert expected["emergency"] > 0
    config = replace(config, targets=("emergency",))
    result = run(config, spark=spark, progress=lambda _: None)
    assert result.tables["emergency"].error is None
    rows = read_table(config, "emergency")
    assert len(rows) == expected["emergency"]
    assert all(r["emergency"]["validation_errors"] == [] for r in rows)
