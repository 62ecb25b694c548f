"""Landing benchmark: start cost, rows per second and peak memory, with a verdict per goal.

    make bench                            # start cost, then 1M and 5M rows
    make bench ARGS="--rows 1000000"      # just one size
    make bench ARGS="--start-only"        # just the start cost

Every case runs the real ``sensorlake land`` in a subprocess. Memory is the peak PSS
(proportional set size, from ``/proc/<pid>/smaps_rollup``) of the lander and its worker
processes together, sampled every 200 ms: PSS splits the pages they share (the Python
runtime, libraries) between them, so the sum is what the landing tree really occupies.
Goals: ``sensorlake land`` on a 100-row database in at most 0.5 s (local lake, and S3 on a
moto server, the gateway's cron case); at least 50,000 rows/s with all four pipelines and
150,000 rows/s raw only; under 150 MB and flat as the database grows.

The figures go to ``benchmarks/results/landing.json`` (the table in docs/benchmarks.md is taken from
it), each case with the machine's CPU reference: this VM's speed varies by tens of per cent
from hour to hour, so figures are only comparable at a similar reference. Simulated
databases are cached under ``var/bench/``. Run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sensorlake.landing.simulate import simulate_bulk

ROOT = Path("var/bench")
RESULTS = Path(__file__).parent / "results" / "landing.json"
SENSORLAKE = Path(sys.executable).parent / "sensorlake"
RATE_GOALS = {"all": 50_000, "raw": 150_000}
PIPELINES = {"all": "raw,schematized,filtered,emergency", "raw": "raw"}
MEMORY_GOAL_MB = 150
START_GOAL_S = 0.5
START_ROWS = 100
START_RUNS = 7


def tree_pss_kb(pid: int) -> int:
    """PSS (kB) of a process and all its descendants, from /proc."""
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        try:
            rollup = Path(f"/proc/{current}/smaps_rollup").read_text()
            total += next(
                int(line.split()[1]) for line in rollup.splitlines() if line.startswith("Pss:")
            )
            for task in Path(f"/proc/{current}/task").iterdir():
                stack.extend(int(c) for c in (task / "children").read_text().split())
        except (FileNotFoundError, ProcessLookupError, StopIteration, PermissionError):
            continue
    return total


def cpu_reference() -> float:
    """Millions of simple loop iterations per second (the median of three)."""
    rates = []
    for _ in range(3):
        started = time.perf_counter()
        total = 0
        for i in range(3_000_000):
            total += i
        rates.append(3 / (time.perf_counter() - started))
    return statistics.median(rates)


def _land_args(
    db: Path, work: Path, pipelines: str, *, local: bool = True, gateway: str = "bench"
) -> list[str]:
    lake = ["--lake-dir", str(work / "lake")] if local else []
    return [
        str(SENSORLAKE),
        "land",
        "--db-path",
        str(db),
        "--state-dir",
        str(work / "state"),
        *lake,
        "--gateway-id",
        gateway,
        "--pipelines",
        pipelines,
        "--json",
    ]


def land(db: Path, pipelines: str) -> tuple[float, float, float]:
    """(seconds, peak PSS MB, CPU seconds) of one landing into a fresh local lake."""
    work = ROOT / f"run-{pipelines.replace(',', '-')}"
    shutil.rmtree(work, ignore_errors=True)
    peak = 0
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.Popen(
        _land_args(db, work, pipelines), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_pss_kb(proc.pid))
            done.wait(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = proc.communicate()
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"land failed ({proc.returncode}): {err.decode()[-2000:]}")
    shutil.rmtree(work, ignore_errors=True)
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    return seconds, peak / 1024, cpu


@contextmanager
def moto_s3() -> Iterator[dict[str, str]]:
    """A moto server with the four buckets; the environment a gateway would set for it."""
    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    from sensorlake.contract.pipelines import BUCKET_ENV, LANDING_ROLES

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    client = boto3.client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
    )
    for role in LANDING_ROLES:
        client.create_bucket(Bucket=f"sl-bench-{role}")
        env[BUCKET_ENV[role]] = f"sl-bench-{role}"
    try:
        yield env
    finally:
        server.stop()


def start_cost(db: Path, *, s3_env: dict[str, str] | None = None) -> float:
    """Median wall time of ``sensorlake land`` landing ``db`` from scratch."""
    times = []
    env = {k: v for k, v in os.environ.items() if not k.startswith(("S3_BUCKET_", "AWS_"))}
    env.update(s3_env or {})
    for i in range(START_RUNS):
        work = ROOT / f"start-{i}"
        shutil.rmtree(work, ignore_errors=True)
        gateway = f"bench-{time.time_ns()}"  # new keys every run: each one creates its objects
        args = _land_args(db, work, PIPELINES["all"], local=s3_env is None, gateway=gateway)
        started = time.perf_counter()
        proc = subprocess.run(args, env=env, capture_output=True)
        times.append(time.perf_counter() - started)
        if proc.returncode != 0:
            raise SystemExit(f"land failed ({proc.returncode}): {proc.stderr.decode()[-2000:]}")
        shutil.rmtree(work, ignore_errors=True)
    return statistics.median(times)


def database(rows: int) -> Path:
    path = ROOT / f"sensor-{rows}.db"
    if not path.exists():
        print(f"simulating {rows:,} rows into {path} ...", flush=True)
        tmp = path.with_suffix(".tmp.db")
        for leftover in ROOT.glob(f"{tmp.name}*"):
            leftover.unlink()
        result = simulate_bulk(tmp, rows, seed=1)
        print(f"  {result.rows_written:,} rows in {result.seconds:.1f} s", flush=True)
        tmp.rename(path)
        for suffix in ("-wal", "-shm"):
            Path(f"{tmp}{suffix}").unlink(missing_ok=True)
    return path


def _verdict(ok: bool) -> str:
    return "ok" if ok else "BELOW GOAL"


def run_start_cases(stamp: str) -> list[dict[str, Any]]:
    db = database(START_ROWS)
    cases = []
    print(f"{'case':>28} {'seconds':>8} {'goal':>6} {'ref':>5}")
    for destination in ("local", "s3"):
        reference = cpu_reference()
        if destination == "s3":
            with moto_s3() as env:
                seconds = start_cost(db, s3_env=env)
        else:
            seconds = start_cost(db)
        ok = seconds <= START_GOAL_S
        name = f"start, {START_ROWS} rows, {destination}"
        print(
            f"{name:>28} {seconds:>8.2f} {START_GOAL_S:>6} {reference:>5.1f}  {_verdict(ok)}",
            flush=True,
        )
        cases.append(
            {
                "case": "start",
                "rows": START_ROWS,
                "destination": destination,
                "seconds": round(seconds, 3),
                "goal_seconds": START_GOAL_S,
                "ok": ok,
                "cpu_reference": round(reference, 1),
                "measured_at": stamp,
            }
        )
    return cases


def run_throughput_cases(sizes: list[int], stamp: str) -> list[dict[str, Any]]:
    cases = []
    print(
        f"{'rows':>10} {'pipelines':>10} {'seconds':>8} {'rows/s':>9} {'goal':>8}"
        f" {'CPU us/row':>10} {'PSS MB':>7} {'goal':>5} {'ref':>5}"
    )
    for rows in sizes:
        db = database(rows)
        for label, pipelines in PIPELINES.items():
            reference = cpu_reference()  # the machine's speed right before this case
            seconds, peak, cpu = land(db, pipelines)
            rate = rows / seconds
            rate_ok, memory_ok = rate >= RATE_GOALS[label], peak < MEMORY_GOAL_MB
            print(
                f"{rows:>10,} {label:>10} {seconds:>8.1f} {rate:>9,.0f} {RATE_GOALS[label]:>8,}"
                f" {cpu / rows * 1e6:>10.1f} {peak:>7.0f} {MEMORY_GOAL_MB:>5} {reference:>5.1f}"
                f"  rate {_verdict(rate_ok)}, memory {_verdict(memory_ok)}",
                flush=True,
            )
            cases.append(
                {
                    "case": "throughput",
                    "rows": rows,
                    "pipelines": label,
                    "seconds": round(seconds, 2),
                    "rows_per_second": round(rate),
                    "goal_rows_per_second": RATE_GOALS[label],
                    "cpu_us_per_row": round(cpu / rows * 1e6, 1),
                    "peak_pss_mb": round(peak),
                    "goal_peak_mb": MEMORY_GOAL_MB,
                    "ok": rate_ok and memory_ok,
                    "cpu_reference": round(reference, 1),
                    "measured_at": stamp,
                }
            )
    return cases


def _case_id(case: dict[str, Any]) -> tuple[Any, ...]:
    return (case["case"], case["rows"], case.get("pipelines"), case.get("destination"))


def save(cases: list[dict[str, Any]], path: Path) -> list[dict[str, Any]]:
    """Merge this run's cases into the results file (a case measured again is replaced)."""
    kept = json.loads(path.read_text())["cases"] if path.exists() else []
    ids = {_case_id(c) for c in cases}
    merged = [c for c in kept if _case_id(c) not in ids] + cases
    merged.sort(key=lambda c: (c["case"] != "start", c["rows"], str(c.get("pipelines"))))
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"machine": {"cores": os.cpu_count()}, "cases": merged}
    path.write_text(json.dumps(document, indent=2) + "\n")
    return merged


def markdown(path: Path) -> str:
    """The table in docs/benchmarks.md, from the results file."""
    cases = json.loads(path.read_text())["cases"]
    lines = [
        "| case | rows/s or seconds | CPU µs/row | peak MB (PSS) | goal | CPU reference |",
        "|---|---|---|---|---|---|",
    ]
    for c in cases:
        verdict = "met" if c["ok"] else "not met"
        if c["case"] == "start":
            lines.append(
                f"| start, {c['rows']} rows, {c['destination']} | {c['seconds']:.2f} s | | "
                f"| ≤ {c['goal_seconds']} s: {verdict} | {c['cpu_reference']} |"
            )
        else:
            name = "all four" if c["pipelines"] == "all" else "raw only"
            lines.append(
                f"| {c['rows']:,} rows, {name} | {c['rows_per_second']:,} rows/s "
                f"| {c['cpu_us_per_row']} | {c['peak_pss_mb']} "
                f"| ≥ {c['goal_rows_per_second']:,} rows/s, < {c['goal_peak_mb']} MB: {verdict} "
                f"| {c['cpu_reference']} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--rows", type=int, action="append", help="database sizes (default 1M and 5M)"
    )
    parser.add_argument("--start-only", action="store_true", help="only the start-cost cases")
    parser.add_argument("--results", type=Path, default=RESULTS, help="results file to update")
    parser.add_argument(
        "--table",
        action="store_true",
        help="print docs/benchmarks.md's table from the results file",
    )
    args = parser.parse_args()
    if args.table:
        print(markdown(args.results))
        return
    ROOT.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).isoformat(timespec="minutes")
    print(f"landing benchmark on {os.cpu_count()} core(s), CPU reference (M loops/s) per case")
    cases = run_start_cases(stamp)
    if not args.start_only:
        cases += run_throughput_cases(args.rows or [1_000_000, 5_000_000], stamp)
    save(cases, args.results)
    failed = [c for c in cases if not c["ok"]]
    print(f"figures written to {args.results}")
    print("every goal met" if not failed else f"{len(failed)} case(s) below goal (see above)")


if __name__ == "__main__":
    main()
