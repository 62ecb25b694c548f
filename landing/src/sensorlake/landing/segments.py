"""Segments: the unit of parallel work inside a batch.

A batch (rows after the watermark, up to ``batch_rows`` ids) is cut into segments of
consecutive row ids. Each segment is read, validated, routed and JSON-encoded on its own,
in worker processes when the batch is large (the gateway's other cores), inline when it is
small. Results come back in segment order, so the files built from them, and their bytes,
are the same whichever way they were computed, and on every retry.

A worker opens the sensor database itself (read-only) rather than receiving rows, which
keeps the parent nearly idle. The parent checks afterwards that the database was not
replaced while workers read it (:func:`verify_unchanged`).
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from .errors import SourceError
from .route import Lineage, Router
from .rules import Rules
from .source import Source
from .validate import Validator

__all__ = ["Part", "SegmentJob", "SegmentPool", "SegmentResult", "plan_segments"]


@dataclass(frozen=True, slots=True)
class Part:
    """Consecutive records of one (target, date), JSON-encoded, at most a file's worth."""

    data: bytes
    records: int
    first_row: int
    last_row: int


@dataclass
class SegmentResult:
    rows: int
    last_row: int | None
    parts: dict[tuple[str, str], list[Part]] = field(default_factory=dict)
    rejected_reasons: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class SegmentJob:
    """Everything a worker needs; picklable, so it can cross a process boundary."""

    db_path: Path
    busy_timeout: float
    rules: Rules
    columns: tuple[str, ...]
    lineage: Lineage
    targets: tuple[str, ...]
    part_rows: Mapping[str, int]


def plan_segments(after: int, upto: int, size: int) -> list[tuple[int, int]]:
    """Id ranges ``(lo, hi]`` covering ``(after, upto]``: fixed by the watermark alone."""
    return [(lo, min(lo + size, upto)) for lo in range(after, upto, size)]


class SegmentEncoder:
    def __init__(self, job: SegmentJob, source: Source | None = None) -> None:
        self.job = job
        self.source = source or Source(job.db_path, busy_timeout=job.busy_timeout)
        if source is None:
            self.source.open()
        if self.source.columns != job.columns:
            raise SourceError(
                f"the columns of {job.db_path} changed while landing",
                hint="rerun: the next run reads the new table layout",
            )
        self.router = Router(Validator(job.rules), job.columns, job.lineage, job.targets)
        self._id_index = job.columns.index("id")
        self._encoder = msgspec.json.Encoder()

    def encode(self, lo: int, hi: int) -> SegmentResult:
        rows = self.source.rows_between(lo, hi)
        result = SegmentResult(rows=len(rows), last_row=rows[-1][self._id_index] if rows else None)
        if not rows:
            return result
        encode_lines = self._encoder.encode_lines
        part_rows = self.job.part_rows
        for group, items in self.router.route(rows).items():
            limit = part_rows[group[0]]
            parts = result.parts[group] = []
            for start in range(0, len(items), limit):
                chunk = items[start : start + limit]
                parts.append(
                    Part(
                        encode_lines([record for _, record in chunk]),
                        len(chunk),
                        chunk[0][0],
                        chunk[-1][0],
                    )
                )
        result.rejected_reasons = self.router.take_rejected_reasons()
        return result


# -- worker processes ----------------------------------------------------------------------

_cached: tuple[SegmentJob, SegmentEncoder] | None = None


def _encode_in_worker(job: SegmentJob, lo: int, hi: int) -> SegmentResult:
    """Runs in a worker; keeps its database connection between segments of the same job."""
    global _cached
    if _cached is None or _cached[0] != job:
        if _cached is not None:
            _cached[1].source.close()
        _cached = (job, SegmentEncoder(job))
    return _cached[1].encode(lo, hi)


class SegmentPool:
    """Encodes segments in order, in worker processes that live for one landing run."""

    def __init__(self, workers: int, *, window: int = 3) -> None:
        self.workers = workers
        self.window = window
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> SegmentPool:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def encode(
        self, job: SegmentJob, segments: Sequence[tuple[int, int]], *, source: Source
    ) -> Iterator[SegmentResult]:
        """Results in segment order; small batches run inline in this process."""
        if self.workers <= 1 or len(segments) <= 1:
            encoder = SegmentEncoder(job, source)
            for lo, hi in segments:
                yield encoder.encode(lo, hi)
            return
        if self._pool is None:
            # forkserver: the parent may run threads (progress display), which fork dislikes
            context = multiprocessing.get_context("forkserver")
            self._pool = ProcessPoolExecutor(self.workers, mp_context=context)
        pending: deque[Future[SegmentResult]] = deque()
        try:
            for lo, hi in segments:
                pending.append(self._pool.submit(_encode_in_worker, job, lo, hi))
                if len(pending) >= self.window * self.workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()
