"""Each backend read on its own thread with a time bound, so one that hangs blinds only itself.

The landing zone, the tables, the Databricks Jobs API and the gateway state are read in
parallel; a read that has not answered within ``timeout`` seconds is reported as
"unreachable since T: reason" and the refresh goes on with the others. A read still stuck
from an earlier refresh is not started again (no pile-up of threads on a dead endpoint):
the backend stays unreachable until that read returns. The threads are daemons, so a stuck
socket never keeps ``sensorlake status`` from exiting.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

__all__ = ["Answer", "BoundedBackend", "read_all", "unreachable_reason"]

T = TypeVar("T")


@dataclass(frozen=True)
class Answer(Generic[T]):
    """What one bounded read gave: a value, or the reason there is none."""

    value: T | None
    error: str | None


def unreachable_reason(since: float, reason: str) -> str:
    when = datetime.fromtimestamp(since, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"unreachable since {when}: {reason}"


class BoundedBackend(Generic[T]):
    """One backend: ``read()`` runs ``fn`` on a daemon thread and waits at most ``timeout``.

    ``guard`` turns an exception into a one-line reason (the monitor's own rule for what is
    shown and what is logged). ``clock`` is wall time, for the "since" of a failure.
    """

    def __init__(
        self,
        name: str,
        guard: Callable[[str, Callable[[], T]], tuple[T | None, str | None]],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self._guard = guard
        self._clock = clock
        self._lock = threading.Lock()
        self._inflight: threading.Thread | None = None
        self._inflight_since = 0.0
        self._result: tuple[T | None, str | None] | None = None
        self._used = True  # whether the last finished read's answer was returned by wait()
        self._done = threading.Event()  # set when the read in flight finishes
        self.failing_since: float | None = None

    def start(self, fn: Callable[[], T]) -> None:
        """Begin a read unless the previous one is still running, or finished after its
        waiter gave up and its answer is not yet used (a slow backend is served late, not
        never)."""
        with self._lock:
            if self._inflight is not None and (self._inflight.is_alive() or not self._used):
                return
            self._result = None
            self._used = False
            self._inflight_since = self._clock()
            done = threading.Event()

            def run() -> None:
                result = self._guard(self.name, fn)
                with self._lock:
                    self._result = result
                done.set()

            self._done = done
            self._inflight = threading.Thread(
                target=run, name=f"read-{self.name.replace(' ', '-')}", daemon=True
            )
            self._inflight.start()

    def wait(self, deadline: float) -> Answer[T]:
        """The read's answer, waiting until ``deadline`` (``time.monotonic()``) at most."""
        self._done.wait(max(0.0, deadline - time.monotonic()))
        with self._lock:
            result = self._result
            now = self._clock()
            if result is None:
                waited = now - self._inflight_since
                result = (None, f"no answer from {self.name} after {waited:.0f} s")
            else:
                self._used = True
            value, error = result
            if error is None:
                self.failing_since = None
                return Answer(value, None)
            if self.failing_since is None:
                self.failing_since = now if self._result is not None else self._inflight_since
            return Answer(None, unreachable_reason(self.failing_since, error))

    def read(self, fn: Callable[[], T], timeout: float) -> Answer[T]:
        self.start(fn)
        return self.wait(time.monotonic() + timeout)


def read_all(
    calls: dict[str, tuple[BoundedBackend[Any], Callable[[], Any]]],
    timeout: float,
    *,
    shorter: Mapping[str, float] | None = None,
) -> dict[str, Answer[Any]]:
    """Start every read at once, then collect each by one shared deadline (or, for the
    names in ``shorter``, by that many seconds when it is less)."""
    for backend, fn in calls.values():
        backend.start(fn)
    started = time.monotonic()
    limits = shorter or {}
    return {
        name: backend.wait(started + min(timeout, limits.get(name, timeout)))
        for name, (backend, _fn) in calls.items()
    }
