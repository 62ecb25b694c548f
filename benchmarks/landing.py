"""Landing benchmark: source rows per second and peak memory, all pipelines and raw only.

    make bench                       # 1M and 5M rows
    make bench ARGS="--rows 1000000" # just one size

Simulated databases are cached under var/bench/. Each run lands a fresh local lake with the
real CLI in a subprocess; memory is the peak of the summed resident set of the lander and
its worker processes (PSS), sampled from /proc every 200 ms (reading smaps is not free). Goals (issue #2): >= 50,000 rows/s
with all four pipelines, >= 150,000 rows/s raw only, peak memory < 150 MB and flat as the
database grows. Run it on a quiet machine: other load skews the figures.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from sensorlake.landing.simulate import simulate_bulk

ROOT = Path("var/bench")
GOALS = {"all": 50_000, "raw": 150_000}
MEMORY_GOAL_MB = 150


def _tree_rss_kb(pid: int) -> int:
    """Proportional resident memory (PSS) of a process and all its descendants, from /proc.

    PSS splits shared pages (the Python runtime, libraries) between the processes that map
    them, so the sum is what the landing tree really occupies."""
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += next(
                int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")
            )
            for task in Path(f"/proc/{current}/task").iterdir():
                children = (task / "children").read_text().split()
                stack.extend(int(c) for c in children)
        except (FileNotFoundError, ProcessLookupError, StopIteration, PermissionError):
            continue
    return total


def cpu_reference() -> float:
    """Millions of simple loop iterations per second: this VM's speed varies by tens of per
    cent from hour to hour, so the figures below are only comparable at a similar value."""
    started = time.perf_counter()
    total = 0
    for i in range(5_000_000):
        total += i
    return 5 / (time.perf_counter() - started)


def land(db: Path, pipelines: str) -> tuple[float, float, float]:
    work = ROOT / f"run-{pipelines.replace(',', '-')}"
    shutil.rmtree(work, ignore_errors=True)
    cli = Path(sys.executable).parent / "sensorlake"
    cmd = [
        str(cli),
        "land",
        "--db-path",
        str(db),
        "--state-dir",
        str(work / "state"),
        "--lake-dir",
        str(work / "lake"),
        "--gateway-id",
        "bench",
        "--pipelines",
        pipelines,
        "--json",
    ]
    peak = 0
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss_kb(proc.pid))
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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--rows", type=int, action="append", help="database sizes (default 1M and 5M)"
    )
    args = parser.parse_args()
    ROOT.mkdir(parents=True, exist_ok=True)
    sizes = args.rows or [1_000_000, 5_000_000]
    print(
        f"landing benchmark on {os.cpu_count()} core(s); CPU reference {cpu_reference():.1f} M loops/s"
    )
    print(
        f"{'rows':>10} {'pipelines':>10} {'seconds':>8} {'rows/s':>9} {'goal':>8} {'CPU us/row':>10} {'peak MB':>8}"
    )
    failed = False
    for rows in sizes:
        db = database(rows)
        for label, pipelines in (("all", "raw,schematized,filtered,emergency"), ("raw", "raw")):
            seconds, peak, cpu = land(db, pipelines)
            rate = rows / seconds
            ok = rate >= GOALS[label] and peak < MEMORY_GOAL_MB
            failed |= not ok
            print(
                f"{rows:>10,} {label:>10} {seconds:>8.1f} {rate:>9,.0f} {GOALS[label]:>8,}"
                f" {cpu / rows * 1e6:>10.1f} {peak:>8.0f}"
                f"  {'ok' if ok else 'BELOW GOAL'}",
                flush=True,
            )
    print("goals met" if not failed else "some goals not met (see above)")


if __name__ == "__main__":
    main()
