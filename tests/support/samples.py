"""The committed samples the contract's tests read: what the real lander wrote.

The contract must be testable with only the contract installed, so its tests do not land
anything: they read ``tests/contract/samples/`` (landed files of every target, a gateway
state with two stored runs, and the summaries those runs returned). ``tests/landing/
test_contract_samples.py`` writes them again with the real lander and compares, so a change
to what landing writes cannot leave the contract tested on stale bytes.

Regenerate after an intended change: ``uv run python -m tests.support.samples``.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

__all__ = [
    "SAMPLES",
    "SAMPLE_GATEWAY",
    "read_records",
    "runs_table_sql",
    "summaries",
    "write_samples",
]

SAMPLES = Path(__file__).resolve().parent.parent / "contract" / "samples"
SAMPLE_GATEWAY = "gw-sample"
SAMPLE_DB = "sensor.db"
RUNS_FILE = "runs.json"
# Two runs: the first lands FIRST_ROWS readings, the second SECOND_ROWS more.
FIRST_ROWS, SECOND_ROWS = 300, 120


def write_samples(out: Path) -> None:
    """Simulate, land twice and keep what the contract reads: ``lake/**/*.ndjson.gz``,
    ``state/<state db>`` and ``runs.json`` (the summaries, newest first)."""
    from sensorlake.contract.lake import STATE_DB_NAME
    from sensorlake.landing.simulate import simulate_bulk

    from .flow import FLOW_START, land_once

    out = Path(out)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        cwd = os.getcwd()
        os.chdir(work)  # the summaries name the database as given: a relative, portable path
        try:
            simulate_bulk(Path(SAMPLE_DB), FIRST_ROWS, seed=7, start=FLOW_START)
            first = land_once(
                Path(SAMPLE_DB), work / "lake", work / "state", gateway=SAMPLE_GATEWAY
            )
            simulate_bulk(Path(SAMPLE_DB), SECOND_ROWS, seed=8, start=FLOW_START)
            second = land_once(
                Path(SAMPLE_DB), work / "lake", work / "state", gateway=SAMPLE_GATEWAY
            )
        finally:
            os.chdir(cwd)
        assert first.exit_code == second.exit_code == 0, (first.error, second.error)
        if out.exists():
            shutil.rmtree(out)
        for path in sorted((work / "lake").rglob("*.ndjson.gz")):
            target = out / "lake" / path.relative_to(work / "lake")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        (out / "state").mkdir(parents=True)
        with sqlite3.connect(work / "state" / STATE_DB_NAME) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        shutil.copyfile(work / "state" / STATE_DB_NAME, out / "state" / STATE_DB_NAME)
        runs = [second.as_dict(), first.as_dict()]
        (out / RUNS_FILE).write_text(json.dumps(runs, indent=1, sort_keys=True) + "\n")


def summaries(samples: Path = SAMPLES) -> list[dict[str, Any]]:
    """The committed summaries landing returned, newest first."""
    return json.loads((Path(samples) / RUNS_FILE).read_text())


def read_records(lake: Path) -> dict[str, list[dict[str, Any]]]:
    """Every record of the ``*.ndjson.gz`` files under a local lake, by target."""
    out: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(Path(lake).rglob("*.ndjson.gz")):
        target = path.relative_to(lake).parts[1]
        # NDJSON lines end at "\n" only (str.splitlines would also cut inside a string)
        lines = gzip.decompress(path.read_bytes()).decode().split("\n")
        out.setdefault(target, []).extend(json.loads(line) for line in lines if line)
    return out


def runs_table_sql(state_dir: Path) -> str:
    """How a gateway state declares its ``runs`` table (the layout the contract reads)."""
    from sensorlake.contract.lake import STATE_DB_NAME

    uri = f"{(Path(state_dir) / STATE_DB_NAME).resolve().as_uri()}?mode=ro"
    conn = sqlite3.connect(uri, uri=True)
    try:
        (sql,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'runs'").fetchone()
    finally:
        conn.close()
    return str(sql)


if __name__ == "__main__":
    write_samples(SAMPLES)
    print(f"wrote {SAMPLES}")
