"""The Databricks job's own ``start()`` on a local Spark Connect server, offline.

Serverless jobs run the job's Python over Spark Connect: "Only Spark Connect APIs are
supported. Spark RDD APIs are not supported." and "Spark Connect, which is used by
serverless compute, defers analysis and name resolution to execution time"
(https://docs.databricks.com/compute/serverless/limitations, "Language and API support"). PySpark's own Connect server runs it
here (``tests/streams/connect_job.py``, a process of its own) with only the source format
(``json`` with the schema the hints name) and the table sink substituted.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sensorlake.contract.keys import LandingKey
from sensorlake.contract.lake import lake_path
from sensorlake.contract.records import table_columns

pytestmark = pytest.mark.streams
JOB = Path(__file__).with_name("connect_job.py")


def test_the_jobs_start_runs_on_spark_connect_and_produces_the_tables_rows(
    landed: Callable[..., dict[str, int]], tmp_path: Path
) -> None:
    pytest.importorskip("grpc")  # pyspark's connect extra (the root dev group)
    from sensorlake.streams.session import java_version

    if java_version() is None:
        pytest.skip("no Java 17+ (bash .ci/run installs it)")
    expected = landed(300)
    lake = tmp_path / "lake"
    # A line that is not JSON, in a file of its own: kept whole on the job's code path too.
    bad = LandingKey("raw", "2026-03-01", "gw-a", 99, 1, 1)
    lake_path(lake, bad.format()).parent.mkdir(parents=True, exist_ok=True)
    lake_path(lake, bad.format()).write_bytes(gzip.compress(b"not json {\n"))

    out = subprocess.run(
        [sys.executable, str(JOB), str(lake), str(tmp_path / "connect"), "raw", "emergency"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert out.returncode == 0, out.stderr[-4000:]
    results: dict[str, Any] = {
        r["target"]: r for r in map(json.loads, out.stdout.splitlines()) if r.get("target")
    }
    assert set(results) == {"raw", "emergency"}
    for target in ("raw", "emergency"):
        result = results[target]
        assert set(result["columns"]) == {f.name for f in table_columns(target)}
        rows = [r for r in result["rows"] if r["lineage"] is not None]
        assert len(rows) == expected[target] > 0
        assert len({(r["lineage"]["gateway_id"], r["lineage"]["row_id"]) for r in rows}) == len(
            rows
        )
        for r in rows:
            assert r["gateway"] == "gw-a" and r["rescued"] is None and r["ingested"]
            assert f"/date={r['date']}/gateway=gw-a/" in r["source_file"]
    (malformed,) = [r for r in results["raw"]["rows"] if r["lineage"] is None]
    assert malformed["rescued"] == "not json {"
    assert (malformed["date"], malformed["gateway"]) == ("2026-03-01", "gw-a")
    assert results["emergency"]["rows"] == [r for r in results["emergency"]["rows"] if r["lineage"]]
