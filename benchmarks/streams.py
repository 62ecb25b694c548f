"""Streams benchmark: landed files into local Delta tables, rows per second, and `make demo`.

    make bench                                  # landing's, then this one
    python -m benchmarks.streams --rows 1000000 # just this one
    python -m benchmarks.streams --fleet 1000   # a fleet's lake: 1,000 gateways, small files

A 1M-row simulated database is landed once into var/bench/streams-lake-<rows>/ (all
pipelines, cached); each run then ingests that lake into a fresh warehouse with the real
`sensorlake streams run` in a subprocess. Throughput is table rows written (all five
tables) per second of wall time, with and without the Spark session's start; the per-table
lines show where the time goes (a table's batch time covers Spark's JSON parsing, the
Arrow hand-over and the Delta write). Goal (issue #7): >= 100,000 rows/s into Delta across
the pipelines on a 2-core machine. Then it times `make demo` on fresh local paths. The
figures, with the machine's CPU reference and load, go to ``benchmarks/results/streams.json``.

``--fleet N``: N gateways (``sensorlake.landing.fleet``: each its own database, state and
id, the real lander) land ``--fleet-rows`` readings each into one lake (many small files,
cached under var/bench/), then one streams run ingests it: files/s and rows/s, and the
reconciliation per pipeline and gateway (the monitor's, over the lake and the tables) must
be exact for every gateway. Results go to ``benchmarks/results/streams-fleet.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.landing import cpu_reference, database
from sensorlake.contract.settings import SparkSettings

ROOT = Path("var/bench")
RESULTS = Path(__file__).parent / "results" / "streams.json"
GOAL = 100_000
SENSORLAKE = str(Path(sys.executable).with_name("sensorlake"))


def landed_lake(rows: int) -> Path:
    lake = ROOT / f"streams-lake-{rows}"
    if not (lake / ".complete").exists():
        shutil.rmtree(lake, ignore_errors=True)
        db = database(rows)
        state = ROOT / f"streams-state-{rows}"
        shutil.rmtree(state, ignore_errors=True)
        print(f"landing {rows:,} rows into {lake} ...", flush=True)
        subprocess.run(
            [SENSORLAKE, "land", "--db-path", str(db), "--state-dir", str(state),
             "--lake-dir", str(lake), "--gateway-id", "bench"],
            check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        (lake / ".complete").touch()
    return lake


def _tree_cpu(pid: int, seen: dict[int, tuple[str, float]]) -> None:
    """Record the CPU seconds (user + system) of a process and its descendants, by pid."""
    tick = os.sysconf("SC_CLK_TCK")
    stack = [pid]
    while stack:
        current = stack.pop()
        try:
            name, rest = Path(f"/proc/{current}/stat").read_text().split(" (", 1)[1].rsplit(")", 1)
            fields = rest.split()
            seen[current] = (name, (int(fields[11]) + int(fields[12])) / tick)
            for task in Path(f"/proc/{current}/task").iterdir():
                stack.extend(int(c) for c in (task / "children").read_text().split())
        except (FileNotFoundError, ProcessLookupError, PermissionError, IndexError):
            continue


def ingest(lake: Path, master: str) -> tuple[float, dict[str, float], dict]:
    """Run the streams over the lake into a fresh warehouse: wall s, CPU s, summary."""
    work = ROOT / "streams-run"
    shutil.rmtree(work, ignore_errors=True)
    started = time.perf_counter()
    proc = subprocess.Popen(
        [SENSORLAKE, "streams", "run", "--lake-dir", str(lake),
         "--warehouse-dir", str(work / "warehouse"), "--checkpoint-dir", str(work / "checkpoints"),
         "--master", master, "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    cpu: dict[int, tuple[str, float]] = {}
    while proc.poll() is None:
        _tree_cpu(proc.pid, cpu)
        time.sleep(0.5)
    wall = time.perf_counter() - started
    assert proc.stdout is not None
    out = proc.stdout.read()
    if proc.returncode != 0:
        raise SystemExit(f"streams run failed with exit code {proc.returncode}")
    by_name: dict[str, float] = {}
    for name, seconds in cpu.values():
        by_name[name] = by_name.get(name, 0.0) + seconds
    return wall, by_name, json.loads(out)


def demo_seconds() -> float:
    """`make demo` end to end on fresh paths (its own database, lake, tables)."""
    work = ROOT / "demo"
    shutil.rmtree(work, ignore_errors=True)
    env = {
        **os.environ,
        "SENSOR_DB_PATH": str(work / "sensor_data.db"),
        "SENSORLAKE_STATE_DIR": str(work / "state"),
        "SENSORLAKE_LAKE_DIR": str(work / "lake"),
        "SENSORLAKE_WAREHOUSE_DIR": str(work / "warehouse"),
        "SENSORLAKE_CHECKPOINT_DIR": str(work / "checkpoints"),
    }
    started = time.perf_counter()
    subprocess.run(["make", "-s", "demo"], check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def fleet_lake(gateways: int, rows: int) -> tuple[Path, float, int]:
    """N gateways landed into one lake by the real lander (cached): (lake, seconds, files)."""
    from sensorlake.landing.fleet import simulate_fleet

    home = ROOT / f"streams-fleet-{gateways}x{rows}"
    lake = home / "lake"
    done = home / ".complete"
    if not done.exists():
        shutil.rmtree(home, ignore_errors=True)
        print(f"landing {gateways:,} gateways x {rows:,} rows into {lake} ...", flush=True)
        result = simulate_fleet(
            home / "fleet", gateways, rows=rows, lake_dir=lake, env={}, seed=5,
            workers=min(4, os.cpu_count() or 1),
        )  # fmt: skip
        if result.failed:
            raise SystemExit(f"landing failed for {len(result.failed)} gateway(s): {result.failed}")
        done.write_text(json.dumps({"seconds": result.seconds, "files": result.files_landed}))
    info = json.loads(done.read_text())
    return lake, info["seconds"], info["files"]


def reconcile_fleet(lake: Path, work: Path) -> dict[str, int]:
    """The monitor's reconciliation over the lake and the fresh tables, per gateway."""
    from sensorlake.dashboards.monitor import Monitor, make_readers
    from sensorlake.dashboards.settings import load_settings

    settings = load_settings(
        env={
            "SENSORLAKE_STATUS_TIMEOUT_SECONDS": "1800",
            "SENSORLAKE_BACKEND_TIMEOUT_SECONDS": "1800",
        },
        lake_dir=lake,
        state_dir=work / "no-state",
        warehouse_dir=work / "warehouse",
        checkpoint_dir=work / "checkpoints",
        force_local_lake=True,
    )
    monitor = Monitor(settings, make_readers(settings))
    try:
        snap = monitor.refresh_complete()
    finally:
        monitor.stop()
    rows = snap.reconciliation.rows
    bad = [r for r in rows if r.verdict != "ok"]  # a row's verdict; the whole one is "exactly once"
    return {
        "verdict": snap.reconciliation.verdict,
        "gateways": len({r.gateway for r in rows}),
        "rows_checked": len(rows),
        "rows_not_ok": len(bad),
        "landed_records": sum(r.landed_records for r in rows),
        "missing_records": sum(r.missing_records or 0 for r in rows),
        "duplicate_rows": sum(r.duplicate_rows or 0 for r in rows),
    }


def fleet_main(gateways: int, rows: int, master: str) -> None:
    ROOT.mkdir(parents=True, exist_ok=True)
    lake, land_s, files = fleet_lake(gateways, rows)
    print(f"fleet lake: {gateways:,} gateways, {files:,} files (landed in {land_s:.0f} s)")
    wall, cpu_by_process, summary = ingest(lake, master)
    tables = summary["tables"]
    table_rows = sum(t["rows"] for t in tables.values())
    run_s = summary["seconds"]
    print(f"{'table':<30}{'rows':>12}{'batches':>9}{'batch s':>9}")
    for t in tables.values():
        print(f"{t['table']:<30}{t['rows']:>12,}{t['batches']:>9}{t['seconds']:>9.1f}")
    print(
        f"streams over the fleet's lake: {files / wall:,.1f} files/s, {table_rows / wall:,.0f} "
        f"rows/s end to end ({files / run_s:,.1f} files/s, {table_rows / run_s:,.0f} rows/s "
        f"once the session is up; wall {wall:.1f} s, session start {wall - run_s:.1f} s)"
    )
    check = reconcile_fleet(lake, ROOT / "streams-run")
    exact = (
        bool(check["verdict_ok"]) and check["rows_not_ok"] == 0 and check["gateways"] >= gateways
    )
    print(
        f"reconciliation: {check['rows_checked']:,} (pipeline, gateway) rows over "
        f"{check['gateways']:,} gateways, {check['rows_not_ok']} not ok, "
        f"{check['missing_records']} missing, {check['duplicate_rows']} duplicate: "
        f"{'exact' if exact else 'NOT EXACT'}"
    )
    record = {
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "load_average": round(os.getloadavg()[0], 1),
        "gateways": gateways,
        "rows_per_gateway": rows,
        "files": files,
        "table_rows": table_rows,
        "wall_s": round(wall, 1),
        "session_start_s": round(wall - run_s, 1),
        "files_per_s": round(files / wall, 1),
        "rows_per_s": round(table_rows / wall),
        "files_per_s_queries": round(files / run_s, 1),
        "rows_per_s_queries": round(table_rows / run_s),
        "cpu_s": round(sum(cpu_by_process.values()), 1),
        "reconciliation": check,
        "reconciliation_exact": exact,
    }
    out = RESULTS.with_name("streams-fleet.json")
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"figures written to {out}")
    if not exact:
        raise SystemExit(1)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--master", default=SparkSettings().master)
    parser.add_argument("--no-demo", action="store_true", help="Skip timing `make demo`.")
    parser.add_argument("--fleet", type=int, help="A fleet's lake: this many gateways.")
    parser.add_argument("--fleet-rows", type=int, default=200, help="Readings per gateway.")
    args = parser.parse_args()
    if args.fleet:
        fleet_main(args.fleet, args.fleet_rows, args.master)
        return
    ROOT.mkdir(parents=True, exist_ok=True)
    reference = cpu_reference()
    print(f"CPU reference: {reference:.1f} M loops/s, {os.cpu_count()} cores", flush=True)
    lake = landed_lake(args.rows)
    wall, cpu_by_process, summary = ingest(lake, args.master)
    cpu = sum(cpu_by_process.values())
    tables = summary["tables"]
    rows = sum(t["rows"] for t in tables.values())
    run_seconds = summary["seconds"]
    print(f"\nstreams: {args.rows:,} source rows landed, {rows:,} table rows written")
    print(f"{'table':<30}{'rows':>12}{'batches':>9}{'batch s':>9}")
    for t in tables.values():
        print(f"{t['table']:<30}{t['rows']:>12,}{t['batches']:>9}{t['seconds']:>9.1f}")
    print(
        f"wall {wall:.1f} s (Spark session start {wall - run_seconds:.1f} s, queries {run_seconds:.1f} s)"
    )
    overall, queries = rows / wall, rows / run_seconds
    verdict = "meets" if overall >= GOAL else "below"
    print(
        f"throughput: {overall:,.0f} table rows/s end to end, {queries:,.0f} rows/s once the "
        f"session is up ({verdict} the {GOAL:,} rows/s goal end to end); "
        f"{args.rows / wall:,.0f} source rows/s"
    )
    cores = os.cpu_count() or 1
    print(
        f"CPU: {cpu:.1f} s for the run ({cpu / max(rows, 1) * 1e6:.1f} µs per table row); "
        f"on {cores} idle cores that is {rows / (cpu / cores):,.0f} rows/s "
        f"(load average now {os.getloadavg()[0]:.1f}: other work slows the wall-clock figure)"
    )
    split = ", ".join(
        f"{name} {sec:.1f} s" for name, sec in sorted(cpu_by_process.items()) if sec >= 0.1
    )
    print(f"CPU by process: {split} (java: Spark's JSON parsing and Arrow conversion)")
    demo = None if args.no_demo else demo_seconds()
    if demo is not None:
        print(f"make demo, fresh paths: {demo:.1f} s end to end")
    record = {
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cpu_reference": round(reference, 1),
        "load_average": round(os.getloadavg()[0], 1),
        "source_rows": args.rows,
        "table_rows": rows,
        "wall_s": round(wall, 1),
        "session_start_s": round(wall - run_seconds, 1),
        "rows_per_s": round(overall),
        "cpu_s": round(cpu, 1),
        "cpu_us_per_row": round(cpu / max(rows, 1) * 1e6, 1),
        "rows_per_s_on_idle_cores": round(rows / (cpu / cores)),
        "cpu_s_by_process": {k: round(v, 1) for k, v in cpu_by_process.items() if v >= 0.1},
        "goal_rows_per_s": GOAL,
        "demo_s": None if demo is None else round(demo, 1),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(record, indent=2) + "\n")
    print(f"figures written to {RESULTS}")


if __name__ == "__main__":
    main()
