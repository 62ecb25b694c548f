"""Drain the spool into the sink: emergency first, then in arrival order.

A file leaves the spool only after the sink has it. "Already there and identical" (or the
same records, compressed otherwise) is success: a replay after a crash between upload and
bookkeeping. A transient failure is retried with backoff and then left for the next run; a
terminal one stops shipping; a conflicting object is recorded, kept and reported, and never
overwritten.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from .errors import (
    DestinationError,
    LandingError,
    LocalStorageError,
    ObjectConflict,
    TransientError,
)
from .failpoints import Failpoints
from .files import LandedFile
from .sink import PutOutcome, Sink
from .spool import Spool
from .state import State

__all__ = ["ShipReport", "report_stranded", "ship_pending"]

log = logging.getLogger(__name__)


@dataclass
class ShipReport:
    files: dict[str, int] = field(default_factory=dict)
    bytes: dict[str, int] = field(default_factory=dict)
    replays: int = 0
    unverified: int = 0
    conflicts: list[str] = field(default_factory=list)
    error: LandingError | None = None


def ship_pending(
    state: State,
    sink: Sink,
    *,
    attempts: int,
    sleep: Callable[[float], None],
    should_stop: Callable[[], bool],
    failpoints: Failpoints,
) -> ShipReport:
    report = ShipReport()
    for file in state.pending():
        if should_stop():
            break
        if not file.path.exists():
            message = f"spooled file {file.path} is missing"
            state.mark_failed(file, message, conflict=True)
            report.conflicts.append(file.name)
            log.error(
                "%s: %s was not shipped; its rows are in the state as lost", message, file.name
            )
            continue
        try:
            outcome = _put_with_retry(sink, file, attempts, sleep)
        except ObjectConflict as exc:
            state.mark_failed(file, str(exc), conflict=True)
            report.conflicts.append(file.name)
            report.error = exc
            log.error("%s", exc)
            continue
        except (TransientError, DestinationError, LocalStorageError) as exc:
            state.mark_failed(file, str(exc))
            report.error = exc
            break
        failpoints.hit("after-upload")
        state.mark_shipped(file)
        Spool.remove(file.path)
        report.files[file.target] = report.files.get(file.target, 0) + 1
        report.bytes[file.target] = report.bytes.get(file.target, 0) + file.size
        if outcome in (PutOutcome.IDENTICAL, PutOutcome.SAME_CONTENT):
            report.replays += 1
        elif outcome is PutOutcome.UNVERIFIED:
            report.unverified += 1
            log.warning("%s already existed and could not be read back to compare", file.name)
    return report


def report_stranded(state: State) -> list[str]:
    """One line per spooled file that cannot ship because its key is not a landing key
    (see :class:`state.StrandedFile`): it is kept, and the other files ship. One taken out
    of the spool by hand is forgotten, with a line that says so."""
    lines: list[str] = []
    for file in state.stranded():
        shown = str(file.path)
        if not shown.isprintable():
            shown = repr(shown)  # one line, whatever the key holds
        if not file.path.exists():
            note = f"stranded spooled file {shown} was removed by hand: no longer tracked"
            state.forget_stranded(file, note)
            log.warning("%s", note)
            continue
        kind = "open spooled file" if file.open else "spooled file"
        line = (
            f"{kind} {shown} cannot ship: {file.problem}. It is kept with its "
            f"{file.records} record(s) and the other files ship: copy it to its pipeline's "
            "bucket by hand under a valid key (fix the gateway= folder), then delete it"
        )
        log.error("%s", line)
        lines.append(str(file.path))
    return lines


def _put_with_retry(
    sink: Sink, file: LandedFile, attempts: int, sleep: Callable[[float], None]
) -> PutOutcome:
    delay = 0.5
    for attempt in range(1, attempts + 1):
        try:
            return sink.put_if_absent(file)
        except TransientError as exc:
            if attempt == attempts:
                raise
            log.warning(
                "shipping %s failed (%s); retrying in %.1f s", file.name, exc.message, delay
            )
            sleep(delay)
            delay = min(delay * 2, 30.0)
    raise AssertionError("unreachable")
