"""Live-sensor benchmark: how many objects a continuously running lander makes, and how fast
an emergency reading lands.

    make bench-live                                   # 10 and 100 readings/s, 360 s each
    python -m benchmarks.live --rates 100 --duration 240 --put-price 0.005
    python -m benchmarks.live --rates 100 --duration 120 --file-max-age 30  # scaled down

A simulated sensor writes one committed row per reading (``sensorlake simulate --rate``)
while ``sensorlake land --continuous --interval 1`` lands into a fresh local lake, both as
real subprocesses. Afterwards: objects per million readings per target, the emergency
latency (a file's landing time, its inode change time when it was linked into the lake,
minus the reading's own timestamp) at p50/p95, and the request cost per gateway per day at
the given PUT price (USD per 1,000 PUTs; S3 Standard lists 0.005). Goals at the defaults
with 100 readings/s: at most 200 objects per million readings across raw, schematized and
filtered, and emergency p95 <= 2 s.

Files roll by size and age (default 300 s) in continuous mode, so a run shorter than a few
age limits mostly measures the files closed at shutdown: ``--duration`` defaults to 360 s,
and ``--file-max-age`` scales the age limit down (``SENSORLAKE_FILE_MAX_AGE_SECONDS``) to
see how the figure scales. ``steady_objects_per_million`` is what a gateway that never
stops makes: one file per target and age limit (or per size limit, if that comes first).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from sensorlake.contract.keys import LandingKey

ROOT = Path("var/bench/live")
BULK_TARGETS = ("raw", "schematized", "filtered")
OBJECTS_GOAL = 200  # per million readings, raw + schematized + filtered
EMERGENCY_P95_GOAL = 2.0  # seconds


def _cli() -> list[str]:
    return [sys.executable, "-m", "sensorlake.contract.cli"]


def run_case(
    rate: float, duration: float, put_price: float, interval: float, max_age: int | None
) -> dict[str, object]:
    work = ROOT / f"rate-{rate:g}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    db, state, lake = work / "sensor.db", work / "state", work / "lake"
    env = {**os.environ, "SENSORLAKE_GATEWAY_ID": "bench-gw"}
    for name in [k for k in env if k.startswith(("S3_BUCKET_", "SENSORLAKE_FILE_MAX_AGE"))]:
        del env[name]
    if max_age is not None:
        env["SENSORLAKE_FILE_MAX_AGE_SECONDS"] = str(max_age)
    age = 300 if max_age is None else max_age  # the landing default (config.Limits)
    sensor = subprocess.Popen(
        [
            *_cli(),
            "simulate",
            "--db-path",
            str(db),
            "--rate",
            str(rate),
            "--duration",
            str(duration),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    time.sleep(1.0)  # the database exists before the lander first looks
    lander = subprocess.Popen(
        [
            *_cli(),
            "land",
            "--db-path", str(db),
            "--state-dir", str(state),
            "--lake-dir", str(lake),
            "--continuous",
            "--interval", str(interval),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    sensor.wait()
    time.sleep(interval * 3)  # the last readings land
    lander.send_signal(signal.SIGTERM)
    lander.wait(timeout=120)

    objects: dict[str, int] = {}
    records: dict[str, int] = {}
    latencies: list[float] = []
    for path in sorted(lake.rglob("*.ndjson.gz")):
        key = LandingKey.parse("/".join(path.relative_to(lake).parts[1:]))
        objects[key.target] = objects.get(key.target, 0) + 1
        with gzip.open(path, "rt") as handle:
            lines = [json.loads(line) for line in handle]
        records[key.target] = records.get(key.target, 0) + len(lines)
        if key.target == "emergency":
            landed = path.stat().st_ctime
            latencies.extend(
                landed - datetime.fromisoformat(r["timestamp"]).timestamp() for r in lines
            )
    readings = records.get("raw", 0)
    per_million = {t: n * 1_000_000 / readings for t, n in objects.items()} if readings else {}
    bulk = sum(per_million.get(t, 0.0) for t in BULK_TARGETS)
    per_day = sum(objects.values()) / duration * 86_400
    # a gateway that never stops: one file per target per age limit (size limits aside)
    steady = len(BULK_TARGETS) * 1_000_000 / (rate * age) if age else None
    q = statistics.quantiles(latencies, n=20) if len(latencies) >= 2 else [float("nan")] * 19
    return {
        "rate": rate,
        "duration_s": duration,
        "readings": readings,
        "objects": objects,
        "objects_per_million": {t: round(v) for t, v in per_million.items()},
        "bulk_objects_per_million": round(bulk),
        "file_max_age_s": age,
        "steady_bulk_objects_per_million": round(steady) if steady else None,
        "emergency_readings": len(latencies),
        "emergency_latency_p50_s": round(statistics.median(latencies), 2) if latencies else None,
        "emergency_latency_p95_s": round(q[18], 2) if latencies else None,
        "puts_per_day": round(per_day),
        "put_cost_usd_per_day": round(per_day / 1000 * put_price, 2),
        "lander_exit": lander.returncode,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="10,100", help="readings per second, comma-separated")
    parser.add_argument("--duration", type=float, default=360.0, help="seconds per case")
    parser.add_argument(
        "--file-max-age", type=int, default=None, help="SENSORLAKE_FILE_MAX_AGE_SECONDS"
    )
    parser.add_argument("--interval", type=float, default=1.0, help="lander --interval")
    parser.add_argument("--put-price", type=float, default=0.005, help="USD per 1,000 PUTs")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/live.json"))
    args = parser.parse_args()
    results = []
    for rate in (float(r) for r in args.rates.split(",")):
        result = run_case(rate, args.duration, args.put_price, args.interval, args.file_max_age)
        results.append(result)
        verdict = ""
        if rate >= 100 and args.file_max_age is None:  # the goal is at the defaults
            ok = (
                result["bulk_objects_per_million"] <= OBJECTS_GOAL
                and (result["emergency_latency_p95_s"] or 0) <= EMERGENCY_P95_GOAL
            )
            verdict = "  goal met" if ok else "  GOAL MISSED"
        print(
            f"{rate:>6g}/s  readings {result['readings']:>7,}  objects {result['objects']}  "
            f"raw+schematized+filtered {result['bulk_objects_per_million']:,}/M  "
            f"emergency p50 {result['emergency_latency_p50_s']} s "
            f"p95 {result['emergency_latency_p95_s']} s  "
            f"PUTs/day {result['puts_per_day']:,} (${result['put_cost_usd_per_day']}/day)"
            f"{verdict}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"cases": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
