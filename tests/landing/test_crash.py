"""Crash recovery: SIGKILL a real ``sensorlake land`` process at every named step.

Each scenario arms one failpoint (``SENSORLAKE_FAILPOINTS=<point>:<n>``), checks that the
process really died by SIGKILL, reruns without failpoints until it exits 0, and compares
what landed with a clean, uninterrupted run over a copy of the same database: every source
row is in raw exactly once, and every pipeline's objects (keys and bytes) are identical.

The matrix runs twice: into the local lake, and into S3 (a moto server over HTTP, reached
through ``AWS_ENDPOINT_URL``), where ``during-upload`` dies with half of a PUT's body on the
wire and ``after-upload`` makes the rerun take the 412-then-compare path.

"Before the state commit" is ``after-spool``; "after the state commit" is ``after-commit``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from sensorlake.contract.keys import LandingKey
from sensorlake.landing.failpoints import POINTS
from sensorlake.landing.simulate import simulate_bulk

from .conftest import (
    FIXED_START,
    SENSORLAKE,
    bucket_files,
    child_env,
    lake_files,
    make_buckets,
    moto_client,
    records_by_target,
    s3_env,
    source_ids,
)

pytestmark = pytest.mark.crash

GATEWAY = "gw-crash"
ROWS = 2_000
BATCH_ROWS = 500  # 4 batches: 1-500, 501-1000, 1001-1500, 1501-2000
LIMITS = {
    "SENSORLAKE_BATCH_ROWS": str(BATCH_ROWS),
    "SENSORLAKE_FILE_MAX_ROWS": "200",
    "SENSORLAKE_EMERGENCY_FILE_MAX_ROWS": "20",
    # 3 segments per batch, encoded by 2 worker processes (the parallel path)
    "SENSORLAKE_SEGMENT_ROWS": "200",
    "SENSORLAKE_WORKERS": "2",
}
SEGMENTS_PER_BATCH = 3
# (point, occurrence): the first time the run reaches the point, and a later one.
# after-spool/after-commit happen once per batch (4 in all), after-encode once per
# segment (12), the upload points once per object (dozens).
SCENARIOS = [
    (point, count)
    for point in POINTS
    for count in {"after-encode": (1, 5), "after-spool": (1, 3), "after-commit": (1, 3)}.get(
        point, (1, 17)
    )
]


@dataclass
class Destination:
    """Where a run lands: a local lake directory, or buckets on the moto server."""

    lake: Path | None = None
    endpoint: str | None = None
    buckets: dict[str, str] = field(default_factory=dict)

    def args(self) -> list[str]:
        return ["--lake-dir", str(self.lake)] if self.lake is not None else []

    def env(self) -> dict[str, str]:
        return s3_env(self.endpoint, self.buckets) if self.endpoint else {}

    def files(self) -> dict[str, bytes]:
        """``<bucket role>/<key>`` -> bytes of everything landed."""
        if self.endpoint:
            return bucket_files(moto_client(self.endpoint), self.buckets)
        return lake_files(self.lake) if self.lake and self.lake.exists() else {}

    def role(self, bucket: str) -> str:
        return {name: role for role, name in self.buckets.items()}.get(bucket, bucket)


@pytest.fixture(params=["local", "s3"])
def dest(request: pytest.FixtureRequest, tmp_path: Path) -> Destination:
    if request.param == "local":
        return Destination(lake=tmp_path / "lake")
    endpoint = request.getfixturevalue("moto_endpoint")
    return Destination(endpoint=endpoint, buckets=make_buckets(moto_client(endpoint), "sl-crash"))


def _env(dest: Destination, failpoints: str | None = None) -> dict[str, str]:
    env = child_env(**LIMITS, **dest.env())
    if failpoints:
        env["SENSORLAKE_FAILPOINTS"] = failpoints
    return env


@dataclass
class Landed:
    returncode: int
    stdout: str
    stderr: str
    survivors: bool  # processes of the run still alive after it ended (reaped here)


def land(
    db: Path,
    state: Path,
    dest: Destination,
    *,
    failpoints: str | None = None,
    continuous: bool = False,
) -> Landed:
    """Run ``sensorlake land`` in its own process group; output goes to files, not pipes,
    so that a killed lander's surviving workers cannot hold the test up. ``continuous``
    runs ``--continuous`` with files that stay open (they close only at their size limit
    or on a date change): only a failpoint ends it."""
    args = [
        SENSORLAKE,
        "land",
        "--db-path",
        str(db),
        "--state-dir",
        str(state),
        *dest.args(),
        "--gateway-id",
        GATEWAY,
        "--json",
        *(["--continuous", "--interval", "0.1"] if continuous else []),
    ]
    env = _env(dest, failpoints)
    if continuous:
        env["SENSORLAKE_FILE_MAX_AGE_SECONDS"] = "3600"
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=err, start_new_session=True)
        try:
            returncode = proc.wait(timeout=120)
        finally:
            survivors = _reap_group(proc)
        out.seek(0)
        err.seek(0)
        return Landed(returncode, out.read().decode(), err.read().decode(), survivors)


def _reap_group(proc: subprocess.Popen[bytes]) -> bool:
    """SIGKILL whatever is left of the run's process group; True if anything was.

    Workers exit on their own once the lander is gone (their stdin closes); they get a few
    seconds to finish the segment in hand before anything left counts as a survivor.
    """
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    deadline = time.monotonic() + 5
    while True:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return False
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    return True


def land_until_done(
    db: Path, state: Path, dest: Destination, *, tries: int = 2
) -> list[dict[str, Any]]:
    """Rerun without failpoints until exit 0; returns every run's JSON summary."""
    summaries = []
    for _ in range(tries):
        proc = land(db, state, dest)
        if proc.stdout.strip():
            summaries.append(json.loads(proc.stdout))
        if proc.returncode == 0:
            return summaries
    raise AssertionError(f"no clean rerun after {tries} tries: {proc.returncode} {proc.stderr}")


def copy_db(src: Path, dest: Path) -> Path:
    assert not Path(f"{src}-wal").exists() or Path(f"{src}-wal").stat().st_size == 0
    shutil.copyfile(src, dest)
    return dest


def assert_settled(state: Path, dest: Destination) -> tuple[int, int]:
    """Nothing left behind: spool empty, every state file shipped and in the lake."""
    spool = state / "spool"
    assert [p for p in (spool / "ready").rglob("*") if p.is_file()] == []
    assert [p for p in (spool / "tmp").rglob("*") if p.is_file()] == []
    conn = sqlite3.connect(state / "landing-state.db")
    try:
        rows = conn.execute("SELECT bucket, key, status FROM files").fetchall()
        position = conn.execute("SELECT epoch, watermark FROM position").fetchone()
        assert conn.execute("SELECT COUNT(*) FROM open_files").fetchone() == (0,)
    finally:
        conn.close()
    assert {status for _, _, status in rows} == {"shipped"}, Counter(s for *_, s in rows)
    assert sorted(f"{dest.role(bucket)}/{key}" for bucket, key, _ in rows) == sorted(dest.files())
    return position


def assert_raw_exactly_once(dest: Destination, ids: list[int], epoch: int = 1) -> None:
    raw = records_by_target(dest.files())["raw"]
    seen = Counter((r["_lineage"]["epoch"], r["_lineage"]["row_id"]) for r in raw)
    duplicated = {k: n for k, n in seen.items() if n > 1}
    assert duplicated == {}
    assert sorted(seen) == [(epoch, i) for i in ids]
    # the raw record is the row as read: its id column agrees with its lineage
    assert all(r["id"] == r["_lineage"]["row_id"] for r in raw)


def assert_no_key_overlap(dest: Destination) -> None:
    """Within a target and date partition, no two objects cover overlapping row ranges,
    and no source row appears in two objects of the same target."""
    ranges: dict[tuple[str, str, int], list[tuple[int, int]]] = {}
    files = dest.files()
    for rel in files:
        key = LandingKey.parse(rel.split("/", 1)[1])
        assert key.first_row <= key.last_row
        ranges.setdefault((key.target, key.date, key.epoch), []).append(
            (key.first_row, key.last_row)
        )
    for group, spans in ranges.items():
        spans.sort()
        for (_, last), (first, _) in pairwise(spans):
            assert first > last, f"overlapping row ranges in {group}: {spans}"
    for target, records in records_by_target(files).items():
        ids = Counter((r["_lineage"]["epoch"], r["_lineage"]["row_id"]) for r in records)
        assert max(ids.values()) == 1, f"{target}: a row landed twice"


def crash(
    source_db: Path, tmp_path: Path, dest: Destination, failpoints: str, *, continuous: bool = False
) -> tuple[Path, Path]:
    """Land a copy of the source database until the failpoint kills the lander with SIGKILL;
    returns the copy and the state directory."""
    db = copy_db(source_db, tmp_path / "sensor_data.db")
    state = tmp_path / "state"
    crashed = land(db, state, dest, failpoints=failpoints, continuous=continuous)
    assert crashed.returncode == -signal.SIGKILL, (crashed.returncode, crashed.stderr)
    if not continuous:
        assert crashed.stdout == ""  # it died before it could report
    return db, state


@pytest.fixture(scope="module")
def source_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("crash-source") / "sensor_data.db"
    simulate_bulk(path, ROWS, seed=42, start=datetime.fromisoformat(FIXED_START))
    return path


@pytest.fixture(scope="module")
def clean_run(source_db: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """One uninterrupted run over a copy of the source database."""
    work = tmp_path_factory.mktemp("crash-clean")
    db = copy_db(source_db, work / "sensor_data.db")
    clean = Destination(lake=work / "lake")
    proc = land(db, work / "state", clean)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["rows_read"] == ROWS
    files = clean.files()
    targets = {rel.split("/")[1] for rel in files}
    assert targets == {"raw", "schematized", "filtered", "emergency", "rejected"}
    assert_raw_exactly_once(clean, source_ids(db))
    assert_settled(work / "state", clean)
    return files


@pytest.mark.parametrize(("point", "count"), SCENARIOS, ids=[f"{p}:{c}" for p, c in SCENARIOS])
def test_kill_at_point_then_rerun_matches_clean_run(
    point: str,
    count: int,
    source_db: Path,
    clean_run: dict[str, bytes],
    tmp_path: Path,
    dest: Destination,
) -> None:
    db, state = crash(source_db, tmp_path, dest, f"{point}:{count}")
    before = dest.files()
    # whatever landed before the crash is a subset of the clean run, byte for byte
    assert {k: clean_run[k] for k in before if k in clean_run} == before

    summaries = land_until_done(db, state, dest)
    assert summaries[-1]["exit_code"] == 0
    assert summaries[-1]["conflicts"] == []

    ids = source_ids(db)
    assert_raw_exactly_once(dest, ids)
    landed = dest.files()
    assert sorted(landed) == sorted(clean_run)
    mismatched = [k for k in landed if landed[k] != clean_run[k]]
    assert mismatched == []
    assert_settled(state, dest)
    assert_no_key_overlap(dest)

    replays = sum(s["replayed_objects"] for s in summaries)
    if point == "after-upload":
        # the object landed but the state never heard: the rerun finds it identical
        assert replays == 1
    else:
        assert replays == 0
    if point == "after-encode":  # once per segment
        committed = (count - 1) // SEGMENTS_PER_BATCH
        assert summaries[0]["rows_read"] == ROWS - committed * BATCH_ROWS
    elif point == "after-spool":
        # the interrupted batch was never committed: its rows are read again
        assert summaries[0]["rows_read"] == ROWS - (count - 1) * BATCH_ROWS
    elif point == "after-commit":
        assert summaries[0]["rows_read"] == ROWS - count * BATCH_ROWS


def test_crash_during_recovery_still_converges(
    source_db: Path, clean_run: dict[str, bytes], tmp_path: Path, dest: Destination
) -> None:
    """Killed twice in a row at different steps (the second time while recovering)."""
    db = copy_db(source_db, tmp_path / "sensor_data.db")
    state = tmp_path / "state"
    first = land(db, state, dest, failpoints="after-spool:2")
    assert first.returncode == -signal.SIGKILL
    # the rerun is killed after its 3rd upload, leaving most of a batch pending
    second = land(db, state, dest, failpoints="after-upload:3")
    assert second.returncode == -signal.SIGKILL
    # the next one ships that backlog, then dies encoding the following batch
    third = land(db, state, dest, failpoints="after-encode:1")
    assert third.returncode == -signal.SIGKILL
    land_until_done(db, state, dest)
    assert_raw_exactly_once(dest, source_ids(db))
    assert dest.files() == clean_run
    assert_settled(state, dest)


@pytest.mark.parametrize("point", ["after-spool", "after-commit", "after-upload"])
def test_new_rows_appended_before_rerun(point: str, tmp_path: Path, dest: Destination) -> None:
    """The sensor keeps writing while the lander is down: old and new rows, each once."""
    db = tmp_path / "sensor_data.db"
    start = datetime.fromisoformat(FIXED_START)
    # not a multiple of the batch size, so the rerun's batches differ from a clean run's
    simulate_bulk(db, 1_300, seed=7, start=start)
    state = tmp_path / "state"

    count = 3 if point != "after-upload" else 25
    crashed = land(db, state, dest, failpoints=f"{point}:{count}")
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr

    simulate_bulk(db, 900, seed=8, start=datetime.fromisoformat("2026-03-02T00:30:00+00:00"))
    ids = source_ids(db)
    assert len(ids) == 2_200 and ids == list(range(1, 2_201))

    summaries = land_until_done(db, state, dest)
    assert summaries[-1]["exit_code"] == 0
    assert summaries[-1]["epoch"] == 1 and summaries[-1]["new_epochs"] == []
    assert_raw_exactly_once(dest, ids)
    assert_no_key_overlap(dest)
    assert_settled(state, dest)

    # content equals one clean run over the final database, record for record
    clean_db = copy_db(db, tmp_path / "clean.db")
    clean = Destination(lake=tmp_path / "clean-lake")
    proc = land(clean_db, tmp_path / "clean-state", clean)
    assert proc.returncode == 0, proc.stderr
    crashed_lake, clean_lake = records_by_target(dest.files()), records_by_target(clean.files())
    assert set(crashed_lake) == set(clean_lake)
    for target in clean_lake:

        def by_row(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return sorted(records, key=lambda r: r["_lineage"]["row_id"])

        assert by_row(crashed_lake[target]) == by_row(clean_lake[target]), target


def test_killed_lander_leaves_no_processes_behind(source_db: Path, tmp_path: Path) -> None:
    db = copy_db(source_db, tmp_path / "sensor_data.db")
    local = Destination(lake=tmp_path / "lake")
    crashed = land(db, tmp_path / "state", local, failpoints="after-encode:2")
    assert crashed.returncode == -signal.SIGKILL
    assert not crashed.survivors


# -- continuous mode: killed while files are open (accumulating across batches) ------------

# Every point is reached while the raw, schematized and filtered files are open: commits 1-4
# are the first cycle's batches, uploads are emergency files (closed every cycle) and the
# 2026-03-01 files (closed by the date change).
OPEN_SCENARIOS = [
    ("after-encode", 6),
    ("after-spool", 3),
    ("after-commit", 2),
    ("during-upload", 3),
    ("after-upload", 3),
]


def by_row(files: dict[str, bytes]) -> dict[str, list[dict[str, Any]]]:
    """Every target's records, in row order: what exactly-once is about, whatever the cuts."""
    return {
        target: sorted(records, key=lambda r: r["_lineage"]["row_id"])
        for target, records in records_by_target(files).items()
    }


def open_targets(state: Path) -> set[str]:
    """The targets with a file open in the state (what a killed continuous lander left)."""
    conn = sqlite3.connect(state / "landing-state.db")
    try:
        keys = [key for (key,) in conn.execute("SELECT key FROM open_files")]
    finally:
        conn.close()
    return {LandingKey.parse(key).target for key in keys}


@pytest.mark.parametrize(
    ("point", "count"), OPEN_SCENARIOS, ids=[f"{p}:{c}" for p, c in OPEN_SCENARIOS]
)
def test_kill_while_files_are_open_then_rerun_lands_each_row_once(
    point: str,
    count: int,
    source_db: Path,
    clean_run: dict[str, bytes],
    tmp_path: Path,
    dest: Destination,
) -> None:
    db, state = crash(source_db, tmp_path, dest, f"{point}:{count}", continuous=True)
    if point != "after-encode" or count > SEGMENTS_PER_BATCH:
        # a batch was committed into files that were still open when the lander died
        assert open_targets(state) >= {"raw", "schematized"}
    # nothing of an open file is visible, and nothing that landed is partial or doubled
    assert_no_key_overlap(dest)

    summaries = land_until_done(db, state, dest)  # one-shot: resumes, then closes all
    assert summaries[-1]["exit_code"] == 0 and summaries[-1]["conflicts"] == []
    assert summaries[-1]["open_records"] == 0
    assert_raw_exactly_once(dest, source_ids(db))
    assert_no_key_overlap(dest)
    assert_settled(state, dest)
    # record for record what an uninterrupted one-shot run lands (files are cut elsewhere)
    assert by_row(dest.files()) == by_row(clean_run)
    # the rows before the crash were committed into the open files: not read again
    if point in ("after-commit", "during-upload", "after-upload"):
        assert summaries[0]["rows_read"] < ROWS


def test_kill_while_files_are_open_then_the_database_is_reset(
    source_db: Path, tmp_path: Path, dest: Destination
) -> None:
    """The resumed open files belong to the old database: the reset closes them first
    (epoch 1, every old row once), and the new database lands as epoch 2."""
    db, state = crash(source_db, tmp_path, dest, "after-commit:4", continuous=True)
    assert open_targets(state)
    old_ids = source_ids(db)

    db.unlink()
    simulate_bulk(db, 300, seed=77, start=datetime.fromisoformat("2026-03-03T00:00:00+00:00"))
    summaries = land_until_done(db, state, dest)
    assert summaries[-1]["epoch"] == 2 and len(summaries[-1]["new_epochs"]) == 1
    raw = records_by_target(dest.files())["raw"]
    seen = Counter((r["_lineage"]["epoch"], r["_lineage"]["row_id"]) for r in raw)
    assert max(seen.values()) == 1
    assert sorted(seen) == [(1, i) for i in old_ids] + [(2, i) for i in range(1, 301)]
    assert_no_key_overlap(dest)
    assert_settled(state, dest)
