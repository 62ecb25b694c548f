"""Benchmark: ``sensorlake migrate backfill`` throughput over a fleet's old history.

A moto server in its own process plays the old uploader's bucket. The old uploader's
re-enactment (``sensorlake.landing.migrate.uploader``) reads a simulated sensor database
with its own query, ``LIMIT --rows-per-object``, and puts one object per batch with its
metadata (10,000 objects by default, every 100th batch put twice like its crash retry).
Then the backfill reads them all over HTTP and lands them into a fresh local lake through
landing's pipeline (all four pipelines), and runs again (a rerun: nothing new lands).
Reported: objects/s and rows/s of the first run (listing, reading, staging, generations,
landing and shipping, all included), and the rerun's time beside the time the same server
takes only to list the bucket (a rerun lists, finds every object in the backfill's
catalogue at the same ETag, and reads none: the listing is its floor).

Run: ``make bench-migrate`` or ``python -m benchmarks.migrate [--objects N] [--rows-per-object R]``.
Figures go to ``benchmarks/results/migrate.json``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path("var/bench/migrate")
RESULTS = Path(__file__).parent / "results" / "migrate.json"
BUCKET = "bench-old-uploader"
# The backfill does more than read each object (parse, stage, dedupe, land, ship), but
# reading is what it waits for: it should keep at least half of the bare GET rate the same
# server gives the same number of threads.
GOAL_SHARE_OF_BARE_GETS = 0.5
THREADS = 16


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _serve_moto(port: int, ready: Any, stop: Any) -> None:
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    ready.set()
    stop.wait()
    server.stop()


def _client(endpoint: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(max_pool_connections=32),
    )


def fill(endpoint: str, db: Path, objects: int, per_object: int) -> tuple[int, int]:
    """The old uploader's bucket: its batches read in order, put in parallel."""
    from sensorlake.landing.migrate.uploader import OldUploader

    client = _client(endpoint)
    client.create_bucket(Bucket=BUCKET)
    up = OldUploader(
        db, ROOT / "old-state", client, BUCKET, node_id="gw-bench", batch_size=per_object
    )
    batches, after = [], "1970-01-01T00:00:00"
    while len(batches) < objects:
        rows = up.read_batch(after)
        if not rows:
            break
        batches.append(rows)
        if len(batches) % 100 == 0 and len(batches) < objects:
            batches.append(rows)  # the crash retry: the same batch under a second key
        after = rows[-1]["timestamp"]
    batches = batches[:objects]
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(up._put, batches))
    return len(batches), sum(len(b) for b in batches)


def bare_gets(endpoint: str) -> tuple[float, float]:
    """Objects/s of listing and reading every object, nothing else (the server's ceiling),
    and the seconds of the listing alone."""
    client = _client(endpoint)
    began = time.perf_counter()
    keys = [
        item["Key"]
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
        for item in page.get("Contents", [])
    ]
    listed = time.perf_counter() - began
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        list(pool.map(lambda k: client.get_object(Bucket=BUCKET, Key=k)["Body"].read(), keys))
    return len(keys) / (time.perf_counter() - began), listed


def _backfill(endpoint: str, db: str, out: Any) -> None:
    """Child process: one backfill into the bench lake; its summary, time and peak RSS."""
    from sensorlake.landing.config import load_config
    from sensorlake.landing.migrate.backfill import Backfill
    from sensorlake.landing.migrate.oldstore import OldBucket
    from sensorlake.landing.rules import load_rules
    from sensorlake.landing.sink import LocalLakeSink

    config = load_config(
        env={},
        db_path=Path(db),
        state_dir=ROOT / "state",
        lake_dir=ROOT / "lake",
        gateway_id="gw-bench",
    )
    old = OldBucket(BUCKET, connect=lambda: _client(endpoint))
    job = Backfill(config, load_rules(), old, sink=lambda: LocalLakeSink(config.lake_dir))
    began = time.perf_counter()
    summary = job.run()
    seconds = time.perf_counter() - began
    # VmHWM, not ru_maxrss: the latter keeps the parent's high-water mark across the spawn
    with open("/proc/self/status") as status:
        peak_mb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) / 1024
    out.put((summary.as_dict(), seconds, peak_mb))


def _in_child(endpoint: str, db: Path) -> tuple[Any, float, float]:
    from types import SimpleNamespace

    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    child = ctx.Process(target=_backfill, args=(endpoint, str(db), out))
    child.start()
    summary, seconds, peak = out.get(timeout=3600)
    child.join(60)
    return SimpleNamespace(**summary), seconds, peak


def run(objects: int, per_object: int) -> dict[str, Any]:
    from sensorlake.landing.simulate import simulate_bulk

    shutil.rmtree(ROOT, ignore_errors=True)
    ROOT.mkdir(parents=True)
    db = ROOT / "sensor.db"
    simulate_bulk(db, objects * per_object, seed=11)
    port = _free_port()
    ctx = mp.get_context("spawn")
    ready, stop = ctx.Event(), ctx.Event()
    server = ctx.Process(target=_serve_moto, args=(port, ready, stop), daemon=True)
    server.start()
    try:
        if not ready.wait(60):
            raise SystemExit("the moto server did not start")
        endpoint = f"http://127.0.0.1:{port}"
        started = time.perf_counter()
        count, rows = fill(endpoint, db, objects, per_object)
        print(
            f"old bucket: {count:,} objects, {rows:,} rows in {time.perf_counter() - started:.0f} s"
        )
        bare, list_seconds = bare_gets(endpoint)
        first, seconds, peak = _in_child(endpoint, db)
        again, rerun_seconds, _ = _in_child(endpoint, db)
    finally:
        stop.set()
        server.join(30)
    assert first.exit_code == 0, first.errors
    assert again.rows_landed == 0, "a rerun must land nothing"
    objects_per_second = first.objects_read / seconds
    return {
        "objects": first.objects_read,
        "rows_in_objects": first.rows,
        "duplicates_dropped": first.duplicates_dropped,
        "rows_landed": first.rows_landed,
        "files_written": sum(first.files_written.values()),
        "seconds": round(seconds, 1),
        "objects_per_second": round(objects_per_second),
        "rows_per_second": round(first.rows / seconds),
        "peak_rss_mb": round(peak),
        "rerun_seconds": round(rerun_seconds, 1),
        "rerun_rows_landed": again.rows_landed,
        "rerun_objects_read": again.objects_read,
        "rerun_objects_skipped": again.objects_skipped,
        "bare_list_seconds": round(list_seconds, 1),
        "bare_get_objects_per_second": round(bare),
        "share_of_bare_gets": round(objects_per_second / bare, 2),
        "goal_share_of_bare_gets": GOAL_SHARE_OF_BARE_GETS,
        "ok": objects_per_second >= GOAL_SHARE_OF_BARE_GETS * bare,
        "load_average": round(os.getloadavg()[0], 1),
        "cores": os.cpu_count(),
        "measured_at": datetime.now(UTC).isoformat(timespec="minutes"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--rows-per-object", type=int, default=50)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    result = run(args.objects, args.rows_per_object)
    print(
        f"backfill: {result['objects']:,} objects, {result['rows_in_objects']:,} rows in "
        f"{result['seconds']} s: {result['objects_per_second']:,} objects/s, "
        f"{result['rows_per_second']:,} rows/s ({result['duplicates_dropped']:,} duplicates "
        f"dropped, {result['files_written']:,} files written, peak {result['peak_rss_mb']} MB); "
        f"rerun {result['rerun_seconds']} s ({result['rerun_objects_read']:,} objects read, "
        f"{result['rerun_objects_skipped']:,} skipped), {result['rerun_rows_landed']} rows "
        f"landed; listing the bucket alone takes {result['bare_list_seconds']} s"
    )
    print(
        f"bare list+GET on the same server: {result['bare_get_objects_per_second']:,} objects/s; "
        f"backfill keeps {result['share_of_bare_gets']:.0%} of it (goal >= "
        f"{GOAL_SHARE_OF_BARE_GETS:.0%}: {'met' if result['ok'] else 'not met'}; load average "
        f"{result['load_average']} on {result['cores']} cores)"
    )
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps({"cases": [result]}, indent=2) + "\n")
    print(f"figures written to {args.results}")


if __name__ == "__main__":
    main()
