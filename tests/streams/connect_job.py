"""Run the Databricks job's own ``start()`` on a local Spark Connect server (a process of its
own: a classic session in the same process would stop PySpark from starting the server).

    python connect_job.py <lake dir> <work dir> <target> [<target> ...]

Serverless jobs run Python over Spark Connect, where the SparkContext, the JVM and RDDs do
not exist; ``SparkSession.builder.remote("local[2]")`` starts PySpark's own Connect server
(its jar is in the wheel) and a Connect client, so any classic-only call fails here as it
would there. Only the source format (``cloudFiles`` → ``json``, with the schema the hints
name) and the table sink (``toTable`` → parquet files) are substituted. Prints one JSON
line per target: the rows it produced.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def main(lake: Path, work: Path, targets: list[str]) -> None:
    # PySpark's test mode: an ephemeral server port that the client reads back, so parallel
    # runs never collide on 15002; the server listens on loopback only.
    os.environ["SPARK_TESTING"] = "1"
    from pyspark.sql import SparkSession
    from pyspark.sql.connect.session import SparkSession as ConnectSession
    from pyspark.sql.types import StructType

    from sensorlake.contract.lake import lake_path
    from sensorlake.contract.layouts import StreamLocations
    from sensorlake.streams.databricks import DatabricksJob, start
    from sensorlake.streams.spec import StreamSpec, spark_schema

    spark = (
        SparkSession.builder.remote("local[2]")
        .config("spark.connect.grpc.binding.address", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.sources.partitionColumnTypeInference.enabled", "false")
        .getOrCreate()
    )
    assert isinstance(spark, ConnectSession), type(spark)
    for target in targets:
        spec = StreamSpec(target, "cat", "sch")
        job = DatabricksJob(
            spec=spec,
            source=f"{lake_path(lake, spec.source_prefix)}/",
            locations=StreamLocations(str(work / "checkpoints"), str(work / "schemas")),
            file_events=False,
        )
        out = work / "tables" / spec.table
        query = start(
            spark,
            job,
            source_format="json",
            schema=StructType.fromJson(spark_schema(target)),
            sink=lambda writer, out=out: writer.format("parquet").option("path", str(out)).start(),
        )
        query.awaitTermination()
        if query.exception() is not None:
            raise SystemExit(f"{target}: {query.exception()}")
        table = spark.read.parquet(str(out))
        rows = [
            {
                "lineage": None if r["_lineage"] is None else r["_lineage"].asDict(),
                "date": r["date"],
                "gateway": r["gateway"],
                "source_file": r["_source_file"],
                "rescued": r["_rescued_data"],
                "ingested": r["_ingested_at"] is not None,
            }
            for r in table.collect()
        ]
        print(json.dumps({"target": target, "columns": table.columns, "rows": rows}), flush=True)
    spark.stop()


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:])
