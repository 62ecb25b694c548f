"""Benchmark: the monitor over a 1,000-gateway fleet with 200,000 objects in a moto server.

How the fleet is made (honestly): a few gateways land for real (``sensorlake.landing.fleet``,
the real lander, into the moto server over HTTP); the moto process then replicates those
real objects for the other gateway ids and days: the same bytes, keys made by
``contract.keys.LandingKey`` and metadata by ``contract.metadata.ObjectMetadata`` with that
gateway's id and row range (the bytes' lineage still names the real gateway: the monitor
never reads bodies). Replicated objects get a ``LastModified`` on their day, as if landed
then. Landing 1,000 gateways x 200 files for real would take hours on the build machine.

moto lists by scanning every key of a bucket per request; S3 does not. The moto process
gives the backend a sorted index (the same answers) so the figures measure the monitor, not
moto's scan. It counts every request it serves (LIST, HEAD, GET, PUT), which is what S3
would bill the monitor.

The feed (default ``--events``): the moto process also holds the event queue as ``infra``
wires it (EventBridge on for the landing buckets, a rule for S3 "Object Created" into an
SQS queue) and the monitor reads it (``SENSORLAKE_MONITOR_QUEUE_URL``); ``--no-events``
measures the listing alone. Seeding happens with EventBridge off (those objects exist
before the monitor starts). In each steady window the moto process lands new objects at
the fleet's rate (a file per pipeline and gateway every ``--interval`` seconds: 16.7 per
second for 1,000 gateways and 5 minutes), through moto's own ``put_object`` so S3's events
fire; the requests the monitor makes for them are counted, so the cost is the fleet's.

Phases: (A) half the objects, the monitor started without a cache: first answer, listing
complete, counts complete, then the steady refresh times while objects arrive; (B) all the
objects, again without a cache, the same; then the steady state: every endpoint's latency
while it refreshes, RSS, requests per hour and their price, and a real new file landed by a
real gateway until it shows; (C) a restart with the cache. Each target is printed with its figure and verdict, and
written to ``benchmarks/results/dashboards.json``; ``--table`` prints the markdown table.

Run: ``make bench-dashboards`` or ``python -m benchmarks.dashboards [--objects N]
[--gateways G] [--seconds S]``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

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
# Share of the objects per target (emergency and rejected files are rarer).
MIX = {"raw": 0.30, "schematized": 0.28, "rejected": 0.04, "filtered": 0.28, "emergency": 0.10}
REAL_GATEWAYS = 3
REGION = "us-east-1"
RESULTS = Path(__file__).parent / "results" / "dashboards.json"
# S3 Standard request prices (us-east-1), dollars per 1,000 requests; SQS standard queues,
# $0.40 per million requests (https://aws.amazon.com/sqs/pricing/), for the monitor's
# receives and deletes and for each event EventBridge delivers into the queue.
PRICE = {"LIST": 0.005, "PUT": 0.005, "GET": 0.0004, "HEAD": 0.0004}
SQS_PRICE = 0.0004
S3_KINDS = tuple(PRICE)
QUEUE = "sensorlake-monitor-events"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- the moto server (its own process) -----------------------------------------------------


def _sorted_listing() -> None:
    """Give moto's S3 backend a sorted key index per bucket (the same results, without a
    scan of every key per request)."""
    import bisect

    from moto.s3.models import FakeDeleteMarker, S3Backend

    cache: dict[int, tuple[int, list[str]]] = {}

    def names(bucket: Any) -> list[str]:
        size = len(bucket.keys)
        known = cache.get(id(bucket))
        if known is None or known[0] != size:
            known = (size, sorted(bucket.keys.keys()))
            cache[id(bucket)] = known
        return known[1]

    def list_objects(self, bucket, prefix, delimiter, marker, max_keys):  # type: ignore[no-untyped-def]
        keys: list[Any] = []
        folders: set[str] = set()
        prefix = prefix or ""
        ordered = names(bucket)
        for name in ordered[bisect.bisect_left(ordered, prefix) :]:
            if not name.startswith(prefix):
                break
            rest = name[len(prefix) :]
            if delimiter and delimiter in rest:
                folders.add(prefix + rest.split(delimiter)[0] + delimiter)
                continue
            key = bucket.keys.get(name)
            if key is not None and not isinstance(key, FakeDeleteMarker):
                keys.append(key)
        folder_list = sorted(folders)
        if marker:
            limit = self._pagination_tokens.get(marker) or marker
            keys = self._get_results_from_token(keys, limit)
        if max_keys is not None:
            keys, truncated, next_marker = self._truncate_result(keys, max_keys)
        else:
            truncated, next_marker = False, None
        return keys, folder_list, truncated, next_marker

    S3Backend.list_objects = list_objects  # type: ignore[method-assign]


def _seed(backend: Any, buckets: dict[str, str], spec: dict[str, Any]) -> int:
    """Replicate the real landed objects for other gateways and days (see the docstring)."""
    from sensorlake.contract.keys import LandingKey
    from sensorlake.contract.metadata import ObjectMetadata
    from sensorlake.contract.pipelines import bucket_role

    objects, gateways, days, day0 = spec["objects"], spec["gateways"], spec["days"], spec["day0"]
    today = datetime.now(UTC).date()
    made = 0
    for target, share in MIX.items():
        bucket = buckets[bucket_role(target)]
        real = [
            k
            for name, k in backend.buckets[bucket].keys.items()
            if name.startswith(f"{target}/") and k.metadata.get("x-amz-meta-record-count")
        ]
        if not real:
            continue
        template = real[0]
        body = template.value
        meta = ObjectMetadata.from_s3(
            {k.removeprefix("x-amz-meta-"): v for k, v in template.metadata.items()}
        )
        count = round(objects * share)
        per_gateway = max(1, count // gateways)
        for g in range(REAL_GATEWAYS + 1, gateways + 1):
            gw = f"gw-{g:04d}"
            row = 1 + spec["phase"] * 10_000_000
            for i in range(per_gateway):
                back = day0 + (i * days) // per_gateway
                day = today - timedelta(days=back)
                n = meta.record_count
                key = LandingKey(target, day.isoformat(), gw, 1, row, row + n - 1)
                row += n
                fresh = ObjectMetadata(
                    n, key.first_row, key.last_row, 1, meta.rules_version, gw, target,
                    meta.sha256, meta.content_sha256,
                )  # fmt: skip
                fake = backend.put_object(bucket, key.format(), body)
                fake.set_metadata({f"x-amz-meta-{k}": v for k, v in fresh.to_s3().items()})
                # Landed on its day (today's: two hours ago), not now.
                when = datetime.combine(day, datetime.min.time()) + timedelta(hours=12)
                fake.last_modified = min(
                    when, datetime.now(UTC).replace(tzinfo=None) - timedelta(hours=2)
                )
                made += 1
    return made


def _arrive(
    backend: Any, buckets: dict[str, str], spec: dict[str, Any], counts: Any, lock: Any
) -> None:
    """New objects at the fleet's rate for ``seconds``, through moto's ``put_object`` (so
    S3's events fire), each a copy of a real landed object with its own key and metadata."""
    from sensorlake.contract.keys import LandingKey
    from sensorlake.contract.metadata import ObjectMetadata
    from sensorlake.contract.pipelines import bucket_role

    templates = {}
    for target in MIX:
        bucket = buckets[bucket_role(target)]
        for name, k in list(backend.buckets[bucket].keys.items()):
            if name.startswith(f"{target}/") and k.metadata.get("x-amz-meta-record-count"):
                templates[target] = k
                break
    today = datetime.now(UTC).date().isoformat()
    rate, seconds, gateways = spec["rate"], spec["seconds"], spec["gateways"]
    begin = time.monotonic()
    n = 0
    while time.monotonic() - begin < seconds:
        due = int((time.monotonic() - begin) * rate)
        while n < due:
            target = list(templates)[n % len(templates)]
            template = templates[target]
            meta = ObjectMetadata.from_s3(
                {k.removeprefix("x-amz-meta-"): v for k, v in template.metadata.items()}
            )
            gw = f"gw-{REAL_GATEWAYS + 1 + (n // len(templates)) % (gateways - REAL_GATEWAYS):04d}"
            row = 90_000_000 + spec["round"] * 1_000_000 + n * 1000
            key = LandingKey(target, today, gw, 2, row, row + meta.record_count - 1)
            fresh = ObjectMetadata(
                meta.record_count, key.first_row, key.last_row, 2, meta.rules_version, gw,
                target, meta.sha256, meta.content_sha256,
            )  # fmt: skip
            fake = backend.put_object(buckets[bucket_role(target)], key.format(), template.value)
            fake.set_metadata({f"x-amz-meta-{k}": v for k, v in fresh.to_s3().items()})
            n += 1
            with lock:
                counts["ARRIVED"] = counts.get("ARRIVED", 0) + 1
        time.sleep(0.05)


def _serve_moto(port: int, buckets: dict[str, str], ready: Any, stop: Any) -> None:
    """Child process: a moto server that counts what it serves and seeds on request."""
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.moto_server.threaded_moto_server import MotoRequestHandler
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from moto.s3.models import s3_backends
    from werkzeug.serving import make_server

    _sorted_listing()
    backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    for name in buckets.values():
        backend.create_bucket(name, REGION)
    counts: dict[str, int] = {}
    lock = threading.Lock()
    app = DomainDispatcherApplication(create_backend_app)

    def counted(environ: dict[str, Any], start_response: Any) -> Any:
        path, query = environ.get("PATH_INFO", ""), environ.get("QUERY_STRING", "")
        if path == "/_bench/counts":
            start_response("200 OK", [("Content-Type", "application/json")])
            with lock:
                return [json.dumps(counts).encode()]
        if path == "/_bench/seed":
            spec = json.loads(environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"])))
            made = _seed(backend, buckets, spec)
            start_response("200 OK", [("Content-Type", "application/json")])
            return [json.dumps({"made": made}).encode()]
        if path == "/_bench/arrive":
            spec = json.loads(environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"])))
            threading.Thread(target=_arrive, args=(backend, buckets, spec, counts, lock)).start()
            start_response("200 OK", [("Content-Type", "application/json")])
            return [b"{}"]
        method = environ.get("REQUEST_METHOD", "")
        parts = path.strip("/").split("/", 1)
        # The service from the signature's credential scope (<key>/<date>/<region>/<service>/).
        scope = environ.get("HTTP_AUTHORIZATION", "").split("/")
        service = scope[3] if len(scope) > 4 else "s3"
        if service == "sqs":
            with lock:
                counts["SQS"] = counts.get("SQS", 0) + 1
        if service != "s3":
            return app(environ, start_response)
        if method == "GET" and (len(parts) == 1 or not parts[1]):
            kind = "LIST" if "list-type" in query or "prefix" in query or not query else "GET"
        else:
            kind = {"HEAD": "HEAD", "GET": "GET"}.get(method, "PUT")
        with lock:
            counts[kind] = counts.get(kind, 0) + 1
        return app(environ, start_response)

    server = make_server("127.0.0.1", port, counted, True, request_handler=MotoRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    ready.set()
    stop.wait()
    server.shutdown()


# -- driving the monitor -------------------------------------------------------------------


class Monitor:
    """``sensorlake -v monitor`` as a subprocess; its log says each refresh and cycle."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "sensorlake"),
                "-v",
                "monitor",
                "--port",
                str(self.port),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log.open("w"),
        )
        self.rss_max = 0
        self._watch = True
        threading.Thread(target=self._rss, daemon=True).start()

    def _rss(self) -> None:
        while self._watch and self.proc.poll() is None:
            try:
                for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        self.rss_max = max(self.rss_max, int(line.split()[1]) * 1024)
            except OSError:
                pass
            time.sleep(0.5)

    def stop(self) -> None:
        self._watch = False
        self.proc.terminate()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()

    def cycles(self) -> list[float]:
        text = self.log.read_text(errors="replace")
        return [float(x) for x in re.findall(r"listing cycle: ([0-9.]+) s", text)]

    def refreshes(self) -> list[float]:
        text = self.log.read_text(errors="replace")
        return [float(x) for x in re.findall(r"refreshed in ([0-9.]+) s", text)]


def _metrics(client: Any) -> tuple[int, int]:
    """(objects listed, objects not counted yet) over every pipeline, or (-1, -1)."""
    try:
        response = client.get("/api/s3-metrics")
    except Exception:
        return -1, -1
    if response.status_code != 200:
        return -1, -1
    pipelines = response.json()["pipelines"]
    return sum(p["objects"] for p in pipelines), sum(p["uncounted_objects"] for p in pipelines)


def _wait(fn: Any, timeout: float, step: float = 0.25) -> float | None:
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if fn():
            return time.perf_counter() - start
        time.sleep(step)
    return None


def _start(
    env: dict[str, str], log: Path, total: int, timeout: float, count_timeout: float
) -> tuple[Monitor, dict[str, Any]]:
    """Start a monitor; time its first answer, its full listing and its full counts."""
    import httpx2

    monitor = Monitor(env, log)
    client = httpx2.Client(base_url=monitor.base, timeout=10)
    out: dict[str, Any] = {}
    out["first_answer_s"] = _wait(lambda: _metrics(client)[0] >= 0, timeout)
    out["first_answer_objects"] = _metrics(client)[0]
    listed = _wait(lambda: _metrics(client)[0] >= total, timeout)
    out["listed_s"] = None if listed is None else (out["first_answer_s"] or 0) + listed
    counted = _wait(lambda: _metrics(client) == (total, 0), count_timeout, step=1.0)
    out["counted_s"] = None if counted is None else time.perf_counter() - monitor.started
    client.close()
    return monitor, out


def _counts(moto: str) -> dict[str, int]:
    import httpx2

    return httpx2.get(f"{moto}/_bench/counts", timeout=30).json()


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _measure(base: str, seconds: float) -> tuple[dict[str, list[float]], list[str]]:
    """Request every endpoint in turn for ``seconds``; latencies in ms per endpoint."""
    import httpx2

    times: dict[str, list[float]] = {e: [] for e in ENDPOINTS}
    failures: list[str] = []
    end = time.perf_counter() + seconds
    with httpx2.Client(base_url=base, timeout=30) as client:
        while time.perf_counter() < end:
            for endpoint in ENDPOINTS:
                t0 = time.perf_counter()
                response = client.get(endpoint)
                times[endpoint].append((time.perf_counter() - t0) * 1000)
                if response.status_code != 200:
                    failures.append(f"{endpoint}: HTTP {response.status_code}")
            time.sleep(0.05)
    return times, failures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.dashboards", description=__doc__)
    parser.add_argument("--objects", type=int, default=200_000)
    parser.add_argument("--gateways", type=int, default=1000)
    parser.add_argument("--days", type=int, default=7, help="days the objects spread over")
    parser.add_argument("--seconds", type=float, default=90.0, help="steady-state window")
    parser.add_argument("--ttl", type=float, default=10.0, help="the monitor's refresh TTL")
    parser.add_argument("--timeout", type=float, default=1800.0, help="per phase")
    parser.add_argument(
        "--count-timeout", type=float, default=1800.0, help="wait for every count this long"
    )
    parser.add_argument(
        "--events",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="feed the monitor S3's events through SQS (default), or only list",
    )
    parser.add_argument(
        "--interval",
        type=float,
        default=300.0,
        help="seconds between two files of one gateway and pipeline (arrival rate)",
    )
    parser.add_argument("--table", action="store_true", help="print the results as markdown")
    parser.add_argument("--logs", type=Path, help="keep the monitors' logs in this directory")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.table:
        saved = json.loads(args.out.read_text())
        saved["targets"] = verdicts(saved)
        print(table(saved))
        return

    import httpx2

    from sensorlake.landing.fleet import fleet_gateways, land_gateway, simulate_fleet

    run = os.urandom(3).hex()
    roles = ("raw", "schematized", "filtered", "emergency")
    buckets = {role: f"sl-bench-{run}-{role}" for role in roles}
    ctx = mp.get_context("spawn")
    ready, stop = ctx.Event(), ctx.Event()
    moto_port = _free_port()
    moto_url = f"http://127.0.0.1:{moto_port}"
    moto = ctx.Process(target=_serve_moto, args=(moto_port, buckets, ready, stop))
    moto.start()
    if not ready.wait(300):
        raise SystemExit("moto did not get ready")
    tmp = Path(tempfile.mkdtemp(prefix="sl-bench-dash-"))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SENSORLAKE_", "DATABRICKS_"))},
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "SENSORLAKE_STATE_DIR": str(tmp / "state"),
        "SENSORLAKE_MONITOR_TTL": str(args.ttl),
        **{f"S3_BUCKET_{role.upper()}": name for role, name in buckets.items()},
    }
    # boto3 (the lander's client) takes credentials and endpoint from the process environment.
    os.environ.update({k: v for k, v in env.items() if k.startswith("AWS_")})
    results: dict[str, Any] = {
        "objects": args.objects,
        "gateways": args.gateways,
        "days": args.days,
        "ttl_seconds": args.ttl,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_average_start": round(os.getloadavg()[0], 1),
        "events": args.events,
        "arrivals_per_s": round(args.gateways * len(MIX) / args.interval, 2),
    }
    aws = {"endpoint_url": moto_url, "region_name": REGION}
    aws |= {"aws_access_key_id": "bench", "aws_secret_access_key": "bench"}
    rate = args.gateways * len(MIX) / args.interval
    rounds = iter(range(1, 1000))

    def arrive(seconds: float) -> None:
        spec = {"rate": rate, "seconds": seconds, "gateways": args.gateways, "round": next(rounds)}
        httpx2.post(f"{moto_url}/_bench/arrive", json=spec, timeout=30)

    def eventbridge(on: bool) -> None:
        """S3 -> EventBridge for the landing buckets (off while seeding: those objects exist
        before the monitor starts)."""
        if not args.events:
            return
        import boto3

        s3 = boto3.client("s3", **aws)
        config = {"EventBridgeConfiguration": {}} if on else {}
        for name in buckets.values():
            s3.put_bucket_notification_configuration(Bucket=name, NotificationConfiguration=config)

    if args.events:
        import boto3

        sqs, events = boto3.client("sqs", **aws), boto3.client("events", **aws)
        queue_url = sqs.create_queue(QueueName=QUEUE)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
        pattern = {"source": ["aws.s3"], "detail-type": ["Object Created"]}
        pattern["detail"] = {"bucket": {"name": sorted(buckets.values())}}  # type: ignore[assignment]
        events.put_rule(Name=QUEUE, EventPattern=json.dumps(pattern))
        target = {"Id": "queue", "Arn": arn["Attributes"]["QueueArn"]}
        events.put_targets(Rule=QUEUE, Targets=[target])
        env["SENSORLAKE_MONITOR_QUEUE_URL"] = queue_url
    monitor: Monitor | None = None
    try:
        started = time.perf_counter()
        fleet = tmp / "fleet"
        real = simulate_fleet(fleet, REAL_GATEWAYS, rows=400, env=env, seed=11)
        if real.failed:
            raise SystemExit(f"real landing failed: {real.failed}")

        def seed(objects: int, phase: int, day0: int) -> int:
            spec = {"objects": objects, "gateways": args.gateways, "days": args.days}
            spec |= {"phase": phase, "day0": day0}
            return httpx2.post(f"{moto_url}/_bench/seed", json=spec, timeout=3600).json()["made"]

        half = args.objects // 2
        total = real.files_landed + seed(half, 0, 0)
        print(
            f"fleet: {args.gateways:,} gateways, {total:,} objects ({real.files_landed} landed "
            f"for real by {REAL_GATEWAYS} gateways) in {time.perf_counter() - started:.0f} s"
        )

        eventbridge(True)
        # (A) half the objects, no cache.
        monitor, a = _start(env, tmp / "monitor-a.log", total, args.timeout, args.count_timeout)
        window = min(args.seconds, 60)
        seen = len(monitor.refreshes())
        arrive(window)
        time.sleep(window)
        a["cycles_s"] = monitor.cycles()[-5:]
        a["refresh_s"] = monitor.refreshes()[seen:]
        a["objects"] = total
        monitor.stop()
        monitor = None
        results["A"] = a
        print(f"(A) {total:,} objects, no cache: {a}")

        # (B) all the objects (older days), no cache.
        eventbridge(False)
        total += seed(args.objects - half, 1, args.days)
        total = _s3_total(aws, buckets)  # with A's arrivals
        shutil.rmtree(tmp / "state" / "monitor", ignore_errors=True)
        if args.events:
            sqs.purge_queue(QueueUrl=queue_url)
        eventbridge(True)
        monitor, b = _start(env, tmp / "monitor-b.log", total, args.timeout, args.count_timeout)
        b["objects"] = total
        print(f"(B) {total:,} objects, no cache: {b}")

        # Steady state: endpoints while it refreshes and objects arrive, requests per hour,
        # a real new file.
        with httpx2.Client(base_url=monitor.base, timeout=10) as client:
            known = _metrics(client)[0]
        before, t0 = _counts(moto_url), time.perf_counter()
        cycles_before, seen = len(monitor.cycles()), len(monitor.refreshes())
        arrive(args.seconds)
        times, failures = _measure(monitor.base, args.seconds)
        t1 = time.perf_counter()
        # The requests the window's arrivals cause (their HEADs) may come a little after it:
        # wait until every object is counted, and price all of it over the window
        # (conservative: the steady receives of the wait are counted too).
        arrived = _counts(moto_url).get("ARRIVED", 0) - before.get("ARRIVED", 0)
        with httpx2.Client(base_url=monitor.base, timeout=10) as client:
            _wait(lambda: _metrics(client) == (known + arrived, 0), 300, step=1.0)
        after = _counts(moto_url)
        b["cycles_s"] = monitor.cycles()[cycles_before:]
        b["refresh_s"] = monitor.refreshes()[seen:]
        hours = (t1 - t0) / 3600
        per_hour = {k: round((after.get(k, 0) - before.get(k, 0)) / hours) for k in after}
        results["requests_per_hour"] = per_hour
        s3_hour = sum(per_hour.get(k, 0) * PRICE[k] / 1000 for k in S3_KINDS)
        # SQS: the monitor's requests, and one delivery per event into the queue.
        sqs_hour = (per_hour.get("SQS", 0) + per_hour.get("ARRIVED", 0)) * SQS_PRICE / 1000
        results["cost_per_day"] = round(s3_hour * 24, 2)
        results["sqs_cost_per_day"] = round(sqs_hour * 24, 2) if args.events else 0.0
        results["p95_ms"] = {e: round(_percentile(v, 0.95), 1) for e, v in times.items() if v}
        results["p50_ms"] = {e: round(statistics.median(v), 1) for e, v in times.items() if v}
        results["failures"] = failures[:10]

        with httpx2.Client(base_url=monitor.base, timeout=10) as client:
            seen = _metrics(client)[0]
            g = fleet_gateways(fleet, REAL_GATEWAYS)[0]
            *_r, files, _rec, _error = land_gateway(g, 200, seed=99, lake_dir=None, env=env)
            landed_at = time.perf_counter()
            visible = _wait(lambda: _metrics(client)[0] >= seen + files, 300)
        results["new_file_visible_s"] = None if visible is None else round(visible, 1)
        results["new_files"] = files
        total = _s3_total(aws, buckets)
        b["rss_max_mb"] = round(monitor.rss_max / 2**20)
        results["B"] = b
        monitor.stop()  # writes the cache
        monitor = None
        del landed_at

        # (C) restart with the cache.
        monitor, c = _start(env, tmp / "monitor-c.log", total, args.timeout, args.timeout)
        c["objects"] = total
        results["C"] = c
        monitor.stop()
        monitor = None
        print(f"(C) restart with the cache: {c}")
    finally:
        if monitor is not None:
            monitor.stop()
        stop.set()
        moto.join(timeout=30)
        if moto.is_alive():
            moto.kill()
        if args.logs is not None:
            args.logs.mkdir(parents=True, exist_ok=True)
            for log in tmp.glob("monitor-*.log"):
                shutil.copy(log, args.logs / log.name)
        shutil.rmtree(tmp, ignore_errors=True)
    results["load_average_end"] = round(os.getloadavg()[0], 1)
    results["targets"] = verdicts(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))


def _s3_total(aws: dict[str, str], buckets: dict[str, str]) -> int:
    """Every landed object in the buckets (the arrivals included), by listing them."""
    import boto3

    from sensorlake.contract.keys import source_prefix
    from sensorlake.contract.pipelines import LANDING_PREFIXES

    s3 = boto3.client("s3", **aws)
    total = 0
    for role, prefixes in LANDING_PREFIXES.items():
        for prefix in prefixes:
            for page in s3.get_paginator("list_objects_v2").paginate(
                Bucket=buckets[role], Prefix=source_prefix(prefix)
            ):
                total += page.get("KeyCount", 0)
    return total


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 2) if values else None


def verdicts(r: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target: what it is, the figure, the goal, met or not."""
    a, b, c = r.get("A", {}), r.get("B", {}), r.get("C", {})
    worst = max(r.get("p95_ms", {}).values(), default=None)
    refresh_a, refresh_b = _median(a.get("refresh_s", [])), _median(b.get("refresh_s", []))
    noise = (
        None
        if refresh_a is None or refresh_b is None
        else abs(refresh_b - refresh_a) <= max(0.25 * refresh_a, 0.5)
    )
    s3_day, sqs_day = r.get("cost_per_day"), r.get("sqs_cost_per_day", 0.0)

    def row(name: str, figure: Any, goal: str, ok: bool | None) -> dict[str, Any]:
        return {"target": name, "figure": figure, "goal": goal, "met": ok}

    def le(x: float | None, limit: float) -> bool | None:
        return None if x is None else x <= limit

    return [
        row("first answer after a restart with the cache (s)", c.get("first_answer_s"), "<= 10", le(c.get("first_answer_s"), 10)),
        row(f"every object listed, no cache, {b.get('objects', 0):,} objects (s)", b.get("listed_s"), "(shown)", None),
        row(f"first answer, no cache, {b.get('objects', 0):,} objects (s; objects in it: {b.get('first_answer_objects')})", b.get("first_answer_s"), "<= 60", le(b.get("first_answer_s"), 60)),
        row("every record count read, no cache (s, one HEAD per object)", b.get("counted_s"), "(shown)", None),
        row("a new file visible after it lands (s)", r.get("new_file_visible_s"), "<= 30", le(r.get("new_file_visible_s"), 30)),
        row("worst endpoint p95 while refreshing (ms)", worst, "< 200", None if worst is None else worst < 200),
        row("monitor RSS, max (MB)", b.get("rss_max_mb"), "<= 500", le(b.get("rss_max_mb"), 500)),
        row(f"refresh at {a.get('objects', 0):,} objects (s, median, objects arriving)", refresh_a, "within noise of the next", noise),
        row(f"refresh at {b.get('objects', 0):,} objects (s, median, objects arriving)", refresh_b, "within noise of the previous", noise),
        row(f"requests per hour ({r.get('arrivals_per_s', '?')} objects/s arriving: ARRIVED)", r.get("requests_per_hour"), "(counted by the server)", None),
        row("monitoring cost per day ($, S3 Standard list prices)", s3_day, "< 1", None if s3_day is None else s3_day < 1),
        row("event feed per day ($, SQS: the monitor's requests + one delivery per event)", sqs_day, "(shown)", None),
    ]  # fmt: skip


def table(r: dict[str, Any]) -> str:
    head = (
        f"{r['gateways']:,} gateways, {r['objects']:,} objects in a moto server, refresh TTL "
        f"{r['ttl_seconds']:g} s, measured {r['measured_at']} on 2 shared cores (load average "
        f"{r.get('load_average_start', '?')} at the start, {r.get('load_average_end', '?')} at "
        "the end)\n\n"
        "| target | figure | goal | verdict |\n|---|---|---|---|\n"
    )
    lines = []
    for t in r["targets"]:
        figure = t["figure"]
        if figure is None:
            figure = "none in the window"
        elif isinstance(figure, float):
            figure = f"{figure:,.1f}"
        elif isinstance(figure, dict):
            figure = ", ".join(f"{k} {v:,}" for k, v in sorted(figure.items()))
        verdict = {True: "met", False: "**missed**", None: "-"}[t["met"]]
        lines.append(f"| {t['target']} | {figure} | {t['goal']} | {verdict} |")
    return head + "\n".join(lines)


if __name__ == "__main__":
    main()
