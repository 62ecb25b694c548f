"""Segments: the unit of parallel work inside a batch.

A batch (rows after the watermark, up to ``batch_rows`` ids) is cut into segments of
consecutive row ids. Each segment is read, validated, routed and JSON-encoded on its own,
in worker processes when the batch is large (the gateway's other cores), inline when it is
small. Results come back in segment order, so the files built from them, and their bytes,
are the same whichever way they were computed, and on every retry.

A worker opens the sensor database itself (read-only) rather than receiving rows, and
deflates its parts itself, which keeps the parent nearly idle and the pipes thin. The
parent checks afterwards that the database was not replaced while workers read it
(:func:`source.verify_unchanged`).
"""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

import msgspec

from .encode import deflate_part, encode_lines
from .errors import LandingError, SourceError
from .route import Lineage, Router
from .rules import Rules
from .source import Source, SourceChanged
from .validate import Validator

__all__ = ["Part", "SegmentJob", "SegmentPool", "SegmentResult", "plan_segments"]


class Part(msgspec.Struct, frozen=True, array_like=True):
    """Consecutive records of one (target, date), at most a file's worth, as a deflate
    chunk (see :mod:`encode`) with its CRC-32 and uncompressed size."""

    data: bytes
    crc: int
    raw_size: int
    records: int
    first_row: int
    last_row: int


class SegmentResult(msgspec.Struct, array_like=True):
    """One segment's output; also what a worker sends back (msgpack)."""

    rows: int
    last_row: int | None
    parts: list[tuple[str, str, list[Part]]] = []  # (target, date, parts) in row order
    rejected_reasons: dict[str, int] = {}
    error: str | None = None
    error_kind: str | None = None


class SegmentJob(msgspec.Struct, frozen=True):
    """Everything a worker needs to encode segments of one batch; sent to it as msgpack."""

    db_path: str
    busy_timeout: float
    rules: Rules
    columns: tuple[str, ...]
    lineage: Lineage
    targets: tuple[str, ...]
    part_rows: dict[str, int]
    level: int = 2


def plan_segments(after: int, upto: int, size: int) -> list[tuple[int, int]]:
    """Id ranges ``(lo, hi]`` covering ``(after, upto]``: fixed by the watermark alone."""
    return [(lo, min(lo + size, upto)) for lo in range(after, upto, size)]


class SegmentEncoder:
    def __init__(self, job: SegmentJob, source: Source | None = None) -> None:
        self.job = job
        self.source = source or Source(Path(job.db_path), busy_timeout=job.busy_timeout)
        if source is None:
            self.source.open()
        if self.source.columns != job.columns:
            raise SourceError(
                f"the columns of {job.db_path} changed while landing",
                hint="rerun: the next run reads the new table layout",
            )
        self.router = Router(Validator(job.rules), job.columns, job.lineage, job.targets)
        self._id_index = job.columns.index("id")

    def encode(self, lo: int, hi: int) -> SegmentResult:
        rows = self.source.rows_between(lo, hi)
        if not rows:
            return SegmentResult(rows=0, last_row=None)
        part_rows, level = self.job.part_rows, self.job.level
        groups: list[tuple[str, str, list[Part]]] = []
        for (target, date), items in self.router.route(rows).items():
            limit = part_rows[target]
            parts: list[Part] = []
            for start in range(0, len(items), limit):
                chunk = items[start : start + limit]
                data, crc, raw_size = deflate_part(encode_lines([r for _, r in chunk]), level=level)
                parts.append(Part(data, crc, raw_size, len(chunk), chunk[0][0], chunk[-1][0]))
            groups.append((target, date, parts))
        return SegmentResult(
            rows=len(rows),
            last_row=rows[-1][self._id_index],
            parts=groups,
            rejected_reasons=self.router.take_rejected_reasons(),
        )


# -- worker processes ----------------------------------------------------------------------
#
# Workers are plain subprocesses (`python -m sensorlake.landing.worker`) that talk msgpack
# frames over their stdin/stdout. A worker exits when its stdin closes, so if the lander is
# killed (even with SIGKILL) its workers go with it: no orphans holding the database open.


def _write_frame(stream: BinaryIO, payload: bytes) -> None:
    stream.write(len(payload).to_bytes(4, "big") + payload)
    stream.flush()


def _read_frame(stream: BinaryIO) -> bytes | None:
    header = stream.read(4)
    if len(header) < 4:
        return None
    size = int.from_bytes(header, "big")
    payload = stream.read(size)
    if len(payload) < size:
        return None
    return payload


def serve(stdin: BinaryIO, stdout: BinaryIO) -> None:
    """The worker loop: one job frame, then (lo, hi) requests until stdin closes."""
    first = _read_frame(stdin)
    if first is None:
        return
    job = msgspec.msgpack.decode(first, type=SegmentJob)
    encoder: SegmentEncoder | None = None
    encode = msgspec.msgpack.Encoder().encode
    while (frame := _read_frame(stdin)) is not None:
        lo, hi = msgspec.msgpack.decode(frame, type=tuple[int, int])
        try:
            encoder = encoder or SegmentEncoder(job)
            result = encoder.encode(lo, hi)
        except LandingError as exc:
            result = SegmentResult(0, None, error=str(exc), error_kind=type(exc).__name__)
        except Exception as exc:  # reported to the parent, which fails the batch
            result = SegmentResult(
                0, None, error=f"{type(exc).__name__}: {exc}", error_kind="internal"
            )
        _write_frame(stdout, encode(result))


class _Worker:
    def __init__(self, job_frame: bytes) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sensorlake.landing.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self.job_frame = job_frame
        # Drain the worker's output as soon as it is written, so a worker never waits on a
        # full pipe while this process is busy compressing another segment's result.
        self._frames: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._pump = threading.Thread(target=self._read_all, daemon=True)
        self._pump.start()
        self.send(job_frame)

    def _read_all(self) -> None:
        assert self.process.stdout is not None
        try:
            while (frame := _read_frame(self.process.stdout)) is not None:
                self._frames.put(frame)
        except (OSError, ValueError):
            pass
        self._frames.put(None)

    def send(self, payload: bytes) -> None:
        assert self.process.stdin is not None
        try:
            _write_frame(self.process.stdin, payload)
        except BrokenPipeError:
            raise LandingError(
                "a landing worker process died", hint="rerun; see its error above"
            ) from None

    def receive(self) -> SegmentResult:
        frame = self._frames.get()
        if frame is None:
            raise LandingError("a landing worker process died", hint="rerun; see its error above")
        result = msgspec.msgpack.decode(frame, type=SegmentResult)
        if result.error is not None:
            kind = {"SourceChanged": SourceChanged, "SourceError": SourceError}.get(
                result.error_kind or ""
            )
            raise (kind or LandingError)(result.error)
        return result

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._pump.join(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()


class SegmentPool:
    """Encodes segments in order, in worker processes that live for one landing run.

    This process only deals out segment ranges and assembles results (compressing, hashing
    and writing files); measured, that beats having it take a share of the encoding too.
    """

    def __init__(self, workers: int, *, window: int = 2) -> None:
        self.workers = workers
        self.window = window
        self._procs: list[_Worker] = []
        self._job: bytes | None = None

    def __enter__(self) -> SegmentPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for worker in self._procs:
            worker.close()
        self._procs = []
        self._job = None

    def encode(
        self, job: SegmentJob, segments: Sequence[tuple[int, int]], *, source: Source
    ) -> Iterator[SegmentResult]:
        """Results in segment order; small batches run inline in this process."""
        if self.workers <= 1 or len(segments) <= 1:
            encoder = SegmentEncoder(job, source)
            for lo, hi in segments:
                yield encoder.encode(lo, hi)
            return
        frame = msgspec.msgpack.encode(job)
        if frame != self._job:
            self.close()  # a new job (epoch, columns): fresh workers
            self._procs = [_Worker(frame) for _ in range(self.workers)]
            self._job = frame
        workers = self._procs
        request = msgspec.msgpack.encode
        sent = 0
        limit = min(len(segments), self.window * len(workers))
        try:
            while sent < limit:
                workers[sent % len(workers)].send(request(segments[sent]))
                sent += 1
            for index in range(len(segments)):
                result = workers[index % len(workers)].receive()
                if sent < len(segments):
                    workers[sent % len(workers)].send(request(segments[sent]))
                    sent += 1
                yield result
        except BaseException:
            self.close()  # requests may be in flight: never reuse these workers
            raise
