"""Worker processes: their wire framing, their loop, and the pool that deals them segments.

Workers are plain subprocesses (``python -m sensorlake.landing.workers``) that talk msgpack
frames (4-byte big-endian length, payload) over their stdin/stdout: one job frame, then one
``(lo, hi, after, upto)`` request per segment, each answered by a :class:`SegmentResult`.
A worker exits when its stdin closes, so if the lander is killed (even with SIGKILL) its
workers go with it: no orphans holding the database open.

A worker opens the sensor database itself (read-only) rather than receiving rows, and
deflates its parts itself, which keeps the lander nearly idle and the pipes thin. The
lander checks afterwards that the database was not replaced while workers read it
(:func:`source.verify_unchanged`). Small batches never start a worker.
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

from .errors import LandingError, SourceError
from .segments import Rows, SegmentEncoder, SegmentJob, SegmentResult
from .source import Source, SourceChanged

__all__ = ["WorkerPool", "serve"]

_ERRORS: dict[str, type[LandingError]] = {
    "SourceChanged": SourceChanged,
    "SourceError": SourceError,
}


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
    """The worker loop: one job frame, then segment requests until stdin closes."""
    first = _read_frame(stdin)
    if first is None:
        return
    job = msgspec.msgpack.decode(first, type=SegmentJob)
    encoder: SegmentEncoder | None = None
    encode = msgspec.msgpack.Encoder().encode
    while (frame := _read_frame(stdin)) is not None:
        lo, hi, after, upto = msgspec.msgpack.decode(frame, type=tuple[int, int, int, int])
        try:
            if encoder is None:
                source = Source(Path(job.db_path), busy_timeout=job.busy_timeout)
                source.open()
                encoder = SegmentEncoder(job, source)
            result = encoder.encode(lo, hi, (after, upto))
        except LandingError as exc:
            result = SegmentResult(0, None, error=str(exc), error_kind=type(exc).__name__)
        except Exception as exc:  # reported to the lander, which fails the batch
            result = SegmentResult(
                0, None, error=f"{type(exc).__name__}: {exc}", error_kind="internal"
            )
        _write_frame(stdout, encode(result))


class _Worker:
    def __init__(self, job_frame: bytes) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", __name__], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        # Drain the worker's output as soon as it is written, so a worker never waits on a
        # full pipe while the lander is busy writing another segment's files.
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
            raise _ERRORS.get(result.error_kind or "", LandingError)(result.error)
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


class WorkerPool:
    """Encodes segments in order, in worker processes that live for one landing run.

    The lander only deals out segment ranges and writes the files; measured, that beats
    having it take a share of the encoding too. A batch of one segment runs inline, so a
    small database never pays for starting workers.
    """

    def __init__(self, workers: int, *, window: int = 2) -> None:
        self.workers = workers
        self.window = window
        self._procs: list[_Worker] = []
        self._job: bytes | None = None

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for worker in self._procs:
            worker.close()
        self._procs = []
        self._job = None

    def parallel(self, segments: Sequence[tuple[int, int]]) -> bool:
        """Whether these segments go to worker processes (else inline)."""
        return self.workers > 1 and len(segments) > 1

    def encode(
        self, job: SegmentJob, segments: Sequence[tuple[int, int]], *, rows: Rows
    ) -> Iterator[SegmentResult]:
        """Results in segment order; ``rows`` serves the inline case."""
        if not segments:
            return
        batch = (segments[0][0], segments[-1][1])
        if not self.parallel(segments):
            encoder = SegmentEncoder(job, rows)
            for lo, hi in segments:
                yield encoder.encode(lo, hi, batch)
            return
        frame = msgspec.msgpack.encode(job)
        if frame != self._job:
            self.close()  # a new job (epoch, columns): fresh workers
            self._procs = [_Worker(frame) for _ in range(self.workers)]
            self._job = frame
        workers = self._procs
        requests = [msgspec.msgpack.encode((lo, hi, *batch)) for lo, hi in segments]
        sent = 0
        limit = min(len(segments), self.window * len(workers))
        try:
            while sent < limit:
                workers[sent % len(workers)].send(requests[sent])
                sent += 1
            for index in range(len(segments)):
                result = workers[index % len(workers)].receive()
                if sent < len(segments):
                    workers[sent % len(workers)].send(requests[sent])
                    sent += 1
                yield result
        except BaseException:
            self.close()  # requests may be in flight: never reuse these workers
            raise


if __name__ == "__main__":
    serve(sys.stdin.buffer, sys.stdout.buffer)
