"""The one stream builder: both engines' chains, and the one schema-merge rule, without Spark.

The chains are recorded by a fake session; that they run is shown by the Databricks job's
tests (``test_databricks.py``, ``test_databricks_connect.py``) and the local runner's
(``test_runner.py``), which both start their query through this builder.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from sensorlake.contract.pipelines import TARGETS
from sensorlake.streams import build
from sensorlake.streams.spec import StreamSpec

pytestmark = pytest.mark.streams


class Chain:
    """Records a builder's calls; a name in ``ends`` ends the chain with its value."""

    def __init__(self, calls: list[tuple[str, Any]], ends: dict[str, Callable[..., Any]]):
        self.calls, self.ends = calls, ends

    def __getattr__(self, name: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, args or kwargs))
            return self.ends[name](*args) if name in self.ends else self

        return call


def _run(
    spec: StreamSpec, source: build.Source, sink: build.Sink, monkeypatch: pytest.MonkeyPatch
) -> tuple[Any, list[tuple[str, Any]], list[tuple[str, Any]]]:
    read: list[tuple[str, Any]] = []
    write: list[tuple[str, Any]] = []

    class Frame:
        writeStream = Chain(write, {"toTable": lambda n: f"table {n}", "start": lambda: "started"})

    monkeypatch.setattr(build, "ingest_columns", lambda frame, s: Frame())

    class Spark:
        readStream = Chain(read, {"load": lambda path: f"frame of {path}"})

    return build.start_stream(Spark(), spec, source, sink), read, write  # type: ignore[arg-type]


@pytest.mark.parametrize("target", TARGETS)
def test_only_raw_merges_schemas_on_either_engine(target: str) -> None:
    spec = StreamSpec(target)
    options = build.sink_options(spec, "/ck/t")
    assert options["checkpointLocation"] == "/ck/t"
    assert ("mergeSchema" in options) is (target == "raw") is spec.merges_schema


def test_a_table_sink_names_partitions_and_ends_in_to_table(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spec = StreamSpec("raw", "c", "s")
    source = build.Source("cloudFiles", "s3://b/raw/", {"cloudFiles.format": "json"})
    query, read, write = _run(spec, source, build.Sink.table(spec, "/ck/raw"), monkeypatch)
    assert query == "table c.s.sensor_readings_raw"
    assert read == [
        ("format", ("cloudFiles",)),
        ("options", {"cloudFiles.format": "json"}),
        ("load", ("s3://b/raw/",)),
    ]
    assert write == [
        ("queryName", ("c.s.sensor_readings_raw",)),
        ("options", {"checkpointLocation": "/ck/raw", "mergeSchema": "true"}),
        ("partitionBy", ("date", "gateway")),
        ("trigger", {"availableNow": True}),
        ("toTable", ("c.s.sensor_readings_raw",)),
    ]


def test_a_batch_sink_hands_each_batch_to_its_function(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = StreamSpec("filtered", "c", "s")

    def batch(frame: Any, batch_id: int) -> None:
        raise AssertionError("not called while building")

    source = build.Source("json", "/lake/filtered/*", {"basePath": "/lake"}, schema="S")  # type: ignore[arg-type]
    query, read, write = _run(spec, source, build.Sink.batches(batch, "/ck/f"), monkeypatch)
    assert query == "started"
    assert read[:2] == [("format", ("json",)), ("schema", ("S",))]
    assert write == [
        ("queryName", ("c.s.sensor_readings_filtered",)),
        ("options", {"checkpointLocation": "/ck/f"}),  # not raw: no merge
        ("foreachBatch", (batch,)),
        ("trigger", {"availableNow": True}),
        ("start", {}),
    ]
