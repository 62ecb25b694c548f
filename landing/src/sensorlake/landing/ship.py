"""Drain the spool into the sink: emergency first, then in arrival order.

A file leaves the spool only after the sink has it. "Already there and identical" is
success (a replay after a crash between upload and bookkeeping). A transient failure is
retried with backoff and then left for the next run; a terminal one stops shipping; a
conflicting object is recorded, kept and reported, and never overwritten.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .errors import DestinationError, LandingError, ObjectConflict, TransientError
from .failpoints import failpoint
from .sink import ObjectInfo, PutOutcome, Sink
from .spool import Spool
from .state import FileRecord, State

__all__ = ["ShipReport", "ship_pending"]

log = logging.getLogger(__name__)


@dataclass
class ShipReport:
    files: dict[str, int] = field(default_factory=dict)
    bytes: dict[str, int] = field(default_factory=dict)
    replays: int = 0
    unverified: int = 0
    conflicts: list[str] = field(default_factory=list)
    error: LandingError | None = None


def object_info(record: FileRecord, gateway: str) -> ObjectInfo:
    return ObjectInfo(
        sha256=record.sha256,
        size=record.size,
        metadata={
            "record-count": str(record.records),
            "first-row-id": str(record.first_row),
            "last-row-id": str(record.last_row),
            "epoch": str(record.epoch),
            "rules-version": record.rules_version,
            "gateway-id": gateway,
            "pipeline": record.target,
        },
    )


def ship_pending(
    state: State,
    sink: Sink,
    *,
    gateway: str,
    attempts: int = 4,
    sleep: Callable[[float], None] = time.sleep,
    should_stop: Callable[[], bool] = lambda: False,
    on_shipped: Callable[[FileRecord], None] | None = None,
) -> ShipReport:
    report = ShipReport()
    for record in state.pending():
        if should_stop():
            break
        if not record.path.exists():
            message = f"spooled file {record.path} is missing"
            state.mark_failed(record.bucket, record.key, message, conflict=True)
            report.conflicts.append(record.key)
            log.error(
                "%s: %s was not shipped; its rows are in the state as lost", message, record.key
            )
            continue
        try:
            outcome = _put_with_retry(sink, record, gateway, attempts, sleep)
        except ObjectConflict as exc:
            state.mark_failed(record.bucket, record.key, str(exc), conflict=True)
            report.conflicts.append(record.key)
            report.error = exc
            log.error("%s", exc)
            continue
        except (TransientError, DestinationError) as exc:
            state.mark_failed(record.bucket, record.key, str(exc))
            report.error = exc
            break
        failpoint("after-upload")
        state.mark_shipped(record.bucket, record.key)
        Spool.remove(record.path)
        report.files[record.target] = report.files.get(record.target, 0) + 1
        report.bytes[record.target] = report.bytes.get(record.target, 0) + record.size
        if outcome is PutOutcome.IDENTICAL:
            report.replays += 1
        elif outcome is PutOutcome.UNVERIFIED:
            report.unverified += 1
            log.warning("%s already existed and could not be read back to compare", record.key)
        if on_shipped is not None:
            on_shipped(record)
    return report


def _put_with_retry(
    sink: Sink, record: FileRecord, gateway: str, attempts: int, sleep: Callable[[float], None]
) -> PutOutcome:
    delay = 0.5
    for attempt in range(1, attempts + 1):
        try:
            return sink.put_if_absent(
                record.bucket, record.key, record.path, object_info(record, gateway)
            )
        except TransientError as exc:
            if attempt == attempts:
                raise
            log.warning(
                "shipping %s failed (%s); retrying in %.1f s", record.key, exc.message, delay
            )
            sleep(delay)
            delay = min(delay * 2, 30.0)
    raise AssertionError("unreachable")
