"""Benchmark: every monitor endpoint's latency with 100,000 objects in the landing zone.

A moto server in its own process holds the objects (put straight into its backend, with
sensorlake's object metadata, so setting up takes seconds, not an hour of PUTs). The real
``sensorlake monitor`` runs as a subprocess against it through ``AWS_ENDPOINT_URL``, with a
short cache TTL so it keeps re-listing every bucket (paginated) in the background while the
benchmark requests each endpoint in turn. Prints the first full scan's time, then p50, p95
and max per endpoint. Goal: p95 under 200 ms.

Run: ``make bench-dashboards`` or ``python -m benchmarks.dashboards [--objects N] [--seconds S]``.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ENDPOINTS = (
    "/api/health",
    "/api/s3-metrics",
    "/api/autoloader-tables",
    "/api/bucket-details/raw",
    "/api/bucket-details/emergency?limit=50",
    "/api/pipelines/status",
    "/api/reconciliation",
    "/api/overview",
    "/metrics",
    "/",
)
# Share of the objects per target, and the gateways and days they spread over.
MIX = {"raw": 0.40, "schematized": 0.25, "rejected": 0.02, "filtered": 0.25, "emergency": 0.08}
GATEWAYS = 10
DAYS = 30
REGION = "us-east-1"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _serve_moto(port: int, objects: int, buckets: dict[str, str], ready, stop) -> None:  # type: ignore[no-untyped-def]
    """Child process: fill moto's S3 backend, then serve it over HTTP until told to stop."""
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends
    from moto.server import ThreadedMotoServer

    from sensorlake.contract.keys import LandingKey
    from sensorlake.contract.metadata import ObjectMetadata
    from sensorlake.contract.pipelines import bucket_role

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    for name in buckets.values():
        backend.create_bucket(name, REGION)
    today = datetime.now(UTC).date()
    made = 0
    for target, share in MIX.items():
        count = int(objects * share) if target != "emergency" else objects - made
        bucket = buckets[bucket_role(target)]
        row = 1
        for i in range(count):
            gw = f"gw-{i % GATEWAYS:02d}"
            day = (today - timedelta(days=(i // GATEWAYS) % DAYS)).isoformat()
            n = 100 + i % 900
            key = LandingKey(target, day, gw, 1, row, row + n - 1)
            row += n
            meta = ObjectMetadata(n, key.first_row, key.last_row, 1, "bench", gw, target, "0" * 64)
            fake = backend.put_object(bucket, key.format(), b"x" * 64)
            fake.set_metadata({f"x-amz-meta-{k}": v for k, v in meta.to_s3().items()})
        made += count
    ready.set()
    stop.wait()
    server.stop()


def _wait_ready(url: str, timeout: float) -> float:
    import httpx2

    start = time.perf_counter()
    deadline = start + timeout
    while time.perf_counter() < deadline:
        try:
            if httpx2.get(url, timeout=5).status_code == 200:
                return time.perf_counter() - start
        except httpx2.TransportError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"the monitor did not answer {url} within {timeout:.0f} s")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.dashboards", description=__doc__)
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to send requests")
    parser.add_argument("--ttl", type=float, default=5.0, help="the monitor's cache TTL")
    args = parser.parse_args(argv)

    import httpx2

    run = os.urandom(3).hex()
    buckets = {
        role: f"sl-bench-{run}-{role}" for role in ("raw", "schematized", "filtered", "emergency")
    }
    ctx = mp.get_context("spawn")
    ready, stop = ctx.Event(), ctx.Event()
    moto_port = _free_port()
    started = time.perf_counter()
    moto = ctx.Process(target=_serve_moto, args=(moto_port, args.objects, buckets, ready, stop))
    moto.start()
    if not ready.wait(900):
        raise SystemExit("moto did not get ready")
    print(f"moto server: {args.objects:,} objects in {time.perf_counter() - started:.1f} s")

    port = _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{moto_port}",
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_REGION": REGION,
            "SENSORLAKE_STATE_DIR": str(Path(tmp) / "state"),
            "SENSORLAKE_MONITOR_TTL": str(args.ttl),
            **{f"S3_BUCKET_{role.upper()}": name for role, name in buckets.items()},
        }
        for name in ("DATABRICKS_HOST", "DATABRICKS_HTTP_PATH", "DATABRICKS_TOKEN"):
            env.pop(name, None)
        monitor = subprocess.Popen(
            [str(Path(sys.executable).parent / "sensorlake"), "monitor", "--port", str(port)],
            env=env,
            stderr=subprocess.DEVNULL,
        )
        started_monitor = time.perf_counter()
        try:
            base = f"http://127.0.0.1:{port}"
            first = _wait_ready(f"{base}/api/health", timeout=1800)
            print(f"first answer (listing done, record counts still being read): {first:.1f} s")
            with httpx2.Client(base_url=base, timeout=30) as client:
                counting, failures = _measure(client, lambda: _uncounted(client) > 0, 3600)
                done = time.perf_counter() - started_monitor
                print(f"every record count read after {done:.1f} s")
                records = client.get("/api/s3-metrics").json()["pipelines"]
                print("objects: " + ", ".join(f"{p['pipeline']} {p['objects']:,}" for p in records))
                deadline = time.perf_counter() + args.seconds
                steady, more = _measure(client, lambda: time.perf_counter() < deadline, 3600)
                failures += more
                age = client.get("/api/health").json()["age_seconds"]
        finally:
            stop.set()
            monitor.terminate()
            try:
                monitor.wait(timeout=30)
            except subprocess.TimeoutExpired:
                monitor.kill()
            moto.join(timeout=30)
            if moto.is_alive():
                moto.kill()
    worst = 0.0
    if any(counting.values()):
        worst = _report(
            "while the first scan reads record counts (HEADs in the background):", counting
        )
    title = f"steady state, re-listing every {args.ttl:g} s (figures {age:.1f} s old at the end):"
    worst = max(worst, _report(title, steady))
    for failure in failures[:10]:
        print(f"FAILED {failure}")
    verdict = "meets" if worst < 200 and not failures else "MISSES"
    print(f"worst p95 {worst:.1f} ms: {verdict} the 200 ms goal with {args.objects:,} objects")


def _uncounted(client) -> int:  # type: ignore[no-untyped-def]
    return sum(p["uncounted_objects"] for p in client.get("/api/s3-metrics").json()["pipelines"])


def _measure(client, go_on, limit: float) -> tuple[dict[str, list[float]], list[str]]:  # type: ignore[no-untyped-def]
    """Request every endpoint in turn while ``go_on()``; latencies in ms per endpoint."""
    times: dict[str, list[float]] = {e: [] for e in ENDPOINTS}
    failures: list[str] = []
    end = time.perf_counter() + limit
    while go_on() and time.perf_counter() < end:
        for endpoint in ENDPOINTS:
            t0 = time.perf_counter()
            response = client.get(endpoint)
            times[endpoint].append((time.perf_counter() - t0) * 1000)
            if response.status_code != 200:
                failures.append(f"{endpoint}: HTTP {response.status_code} {response.text[:200]}")
        time.sleep(0.02)
    return times, failures


def _report(title: str, times: dict[str, list[float]]) -> float:
    print(title)
    print(f"  {'endpoint':44} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    worst = 0.0
    for endpoint, values in times.items():
        if not values:
            continue
        p95 = _percentile(values, 0.95)
        worst = max(worst, p95)
        print(
            f"  {endpoint:44} {len(values):5d} {statistics.median(values):8.1f} "
            f"{p95:8.1f} {max(values):8.1f}"
        )
    return worst


if __name__ == "__main__":
    main()
