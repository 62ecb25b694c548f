"""Worker processes: framing, the serve loop, errors carried back, inline for small batches."""

from __future__ import annotations

import io
from pathlib import Path

import msgspec
import pytest

from sensorlake.landing.errors import SourceError
from sensorlake.landing.route import Lineage
from sensorlake.landing.rules import Rules
from sensorlake.landing.segments import SegmentJob, SegmentResult
from sensorlake.landing.simulate import simulate_bulk
from sensorlake.landing.source import Source
from sensorlake.landing.workers import WorkerPool, _read_frame, _write_frame, serve


def job(rules: Rules, db: Path, columns: tuple[str, ...]) -> SegmentJob:
    return SegmentJob(
        db_path=str(db),
        busy_timeout=1.0,
        rules=rules,
        columns=columns,
        lineage=Lineage("gw", 1, rules.version),
        targets=("raw",),
        part_rows={"raw": 1000},
        level=2,
    )


def test_frames_round_trip_and_a_short_read_ends_the_stream() -> None:
    buffer = io.BytesIO()
    _write_frame(buffer, b"hello")
    _write_frame(buffer, b"")
    buffer.seek(0)
    assert _read_frame(buffer) == b"hello" and _read_frame(buffer) == b""
    assert _read_frame(buffer) is None
    assert _read_frame(io.BytesIO(b"\0\0\0\x09abc")) is None


def serve_one(the_job: SegmentJob, request: tuple[int, int, int, int]) -> SegmentResult:
    """What a worker answers to one request after its job."""
    stdin, stdout = io.BytesIO(), io.BytesIO()
    _write_frame(stdin, msgspec.msgpack.encode(the_job))
    _write_frame(stdin, msgspec.msgpack.encode(request))
    stdin.seek(0)
    serve(stdin, stdout)
    stdout.seek(0)
    frame = _read_frame(stdout)
    assert frame is not None and _read_frame(stdout) is None  # one answer per request
    return msgspec.msgpack.decode(frame, type=SegmentResult)


def test_serve_answers_each_request_and_reports_errors(rules: Rules, tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    simulate_bulk(db, 50, seed=1)
    with Source(db, busy_timeout=1) as source:
        columns = source.columns
    result = serve_one(job(rules, db, columns), (0, 20, 0, 50))
    assert (result.rows, result.last_row, result.error) == (20, 20, None)
    failed = serve_one(job(rules, tmp_path / "nope.db", columns), (0, 20, 0, 50))
    assert failed.error_kind == "SourceError" and "does not exist" in (failed.error or "")


def test_pool_runs_small_batches_inline_and_large_ones_in_workers(
    rules: Rules, tmp_path: Path
) -> None:
    db = tmp_path / "s.db"
    simulate_bulk(db, 300, seed=2)
    pool = WorkerPool(2)
    assert not pool.parallel([(0, 300)]) and pool.parallel([(0, 150), (150, 300)])
    with Source(db, busy_timeout=1) as source, pool:
        the_job = job(rules, db, source.columns)
        inline = list(pool.encode(the_job, [(0, 300)], rows=source))
        assert pool._procs == []  # no worker started for one segment
        parallel = list(pool.encode(the_job, [(0, 100), (100, 200), (200, 300)], rows=source))
        assert len(pool._procs) == 2
    assert sum(r.rows for r in parallel) == inline[0].rows == 300
    assert [r.last_row for r in parallel] == [100, 200, 300]


def test_a_worker_error_fails_the_batch_with_its_kind(rules: Rules, tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    simulate_bulk(db, 10, seed=3)
    with Source(db, busy_timeout=1) as source, WorkerPool(2) as pool:
        bad = job(rules, tmp_path / "missing.db", source.columns)
        with pytest.raises(SourceError, match="does not exist"):
            list(pool.encode(bad, [(0, 5), (5, 10)], rows=source))
