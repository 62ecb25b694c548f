"""The shared transformation on files landing wrote: partition columns from the key, where
each row came from, the rescued line, and the table's column order (local Spark)."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sensorlake.contract.keys import LandingKey
from sensorlake.contract.lake import lake_path
from sensorlake.contract.records import RESCUED_COLUMN
from sensorlake.streams.spec import CORRUPT_COLUMN, StreamSpec, spark_schema
from sensorlake.streams.transform import TAIL_COLUMNS, ingest_columns

pytestmark = pytest.mark.streams


def test_rows_get_their_key_their_file_and_the_tables_column_order(
    spark: Any, tmp_path: Path, landed: Callable[..., dict[str, int]]
) -> None:
    from pyspark.sql.types import StructType

    landed(300, gateway="gw-t")
    root = lake_path(tmp_path / "lake", "raw/")
    files = sorted(root.rglob("*.ndjson.gz"))
    broken = files[0].with_name("00000001-0000000000000009000-0000000000000009001.ndjson.gz")
    broken.write_bytes(gzip.compress(b"not json at all\n"))
    files.append(broken)
    spec = StreamSpec("raw")
    frame = (
        spark.read.options(**spec.read_options())
        .schema(StructType.fromJson(spark_schema("raw")))
        .json([str(f) for f in files])
    )
    out = ingest_columns(frame, spec)
    record = [c for c in frame.columns if c != CORRUPT_COLUMN]
    assert out.columns == [*record, *TAIL_COLUMNS]
    rows = out.select("id", *TAIL_COLUMNS).collect()  # as the stream writes: every column
    assert len(rows) == 301
    by_file: dict[str, int] = {}
    for row in rows:
        name = row["_source_file"].rsplit("/", 1)[-1]
        by_file[name] = by_file.get(name, 0) + 1
        key = next(f for f in files if f.name == name).relative_to(root.parent).as_posix()
        parsed = LandingKey.parse(key)
        assert (row["date"], row["gateway"]) == (str(parsed.date), "gw-t")
        assert row["_ingested_at"] is not None
        assert (row[RESCUED_COLUMN] is not None) == (name == broken.name)
    assert by_file[broken.name] == 1 and len(by_file) == len(files)
    (rescued,) = [r[RESCUED_COLUMN] for r in rows if r[RESCUED_COLUMN] is not None]
    assert "not json at all" in rescued  # the whole line, kept
