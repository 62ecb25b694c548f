"""One landing cycle: read → validate/route → encode → spool → commit → ship.

The order is the guarantee. A batch's files are complete in the spool (fsync, atomic
rename) and recorded in the state together with the new watermark before anything ships;
files ship only from the state. So a crash at any point either loses an uncommitted batch
(its rows are read again, giving the same keys and bytes) or leaves committed files that
the next run ships; a replayed upload finds its identical object and counts as shipped.
"""

from __future__ import annotations

import fcntl
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import msgspec

from sensorlake.contract.summary import RunSummary

from .config import LandingConfig
from .errors import LandingError, LocalStorageError, ObjectConflict, TransientError
from .failpoints import failpoint
from .route import Lineage
from .rules import Rules
from .segments import SegmentJob, SegmentPool, plan_segments
from .ship import ShipReport, ship_pending
from .sink import Sink
from .source import Source, SourceChanged, verify_unchanged
from .spool import BatchWriter, Spool, SpoolFile, storage_error
from .state import SourcePosition, State

__all__ = ["Lander", "NullReporter", "Reporter", "RunSummary"]

log = logging.getLogger(__name__)


class Reporter(Protocol):
    """Progress for people: a live bar on a terminal, log lines otherwise."""

    def begin(self, rows_total: int) -> None: ...
    def advance(self, rows: int) -> None: ...
    def note(self, message: str) -> None: ...
    def end(self) -> None: ...


class NullReporter:
    def begin(self, rows_total: int) -> None:
        pass

    def advance(self, rows: int) -> None:
        pass

    def note(self, message: str) -> None:
        log.info("%s", message)

    def end(self) -> None:
        pass


class Lander:
    def __init__(
        self,
        config: LandingConfig,
        rules: Rules,
        sink: Sink,
        *,
        reporter: Reporter | None = None,
        stop: threading.Event | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self.rules = rules
        self.sink = sink
        self.reporter = reporter or NullReporter()
        self.stop = stop or threading.Event()
        self.sleep = sleep
        limits = config.limits
        self._max_rows = {t: limits.file_rows for t in config.targets}
        if "emergency" in self._max_rows:
            self._max_rows["emergency"] = limits.emergency_file_rows
        self._buckets = {t: config.bucket_for(t) for t in config.targets}
        self._pool = SegmentPool(config.limits.workers)

    # -- public --------------------------------------------------------------------------

    def run_once(self, *, dry_run: bool = False) -> RunSummary:
        cfg = self.config
        summary = RunSummary(cfg.destination, cfg.gateway_id, str(cfg.db_path), dry_run=dry_run)
        for target in cfg.targets:
            summary.target(target)
        started = datetime.now(UTC).isoformat(timespec="milliseconds")
        if dry_run:
            with self._pool:
                self._dry_run(summary)
            return summary
        with _exclusive(cfg.state_dir), self._pool:
            state = State.open(cfg.state_dir)
            try:
                self._run(state, summary)
            finally:
                self._fill_pending(state, summary)
                with suppress(LandingError):
                    state.record_run(started, msgspec.json.encode(summary.as_dict()).decode())
                state.close()
        return summary

    # -- the cycle -----------------------------------------------------------------------

    def _run(self, state: State, summary: RunSummary) -> None:
        spool = Spool(self.config.state_dir / "spool")
        spool.prepare()
        orphans = spool.recover(state.spooled_paths())
        if orphans:
            self.reporter.note(
                f"removed {len(orphans)} uncommitted spool file(s) from an interrupted run"
            )
        try:
            self._ship(state, summary)  # drain the backlog first: it is the oldest data
            with Source(
                self.config.db_path, busy_timeout=self.config.busy_timeout_seconds
            ) as source:
                self._land(state, source, spool, summary)
        except LandingError as exc:
            summary.error = str(exc)
            summary.exit_code = exc.exit_code
            raise
        if summary.error is None and summary.conflicts:
            summary.exit_code = 6

    def _land(self, state: State, source: Source, spool: Spool, summary: RunSummary) -> None:
        started = False
        missing = [c for c in self.rules.required if c not in source.columns]
        if missing and set(self.config.targets) - {"raw"}:
            self.reporter.note(
                f"table lacks column(s) {', '.join(missing)}: raw lands every row, but rows "
                "are rejected from schematized/filtered with '<column>.missing'"
            )
        while not self.stop.is_set():
            if state.spooled_bytes() >= self.config.limits.spool_max_bytes:
                self._ship(state, summary)
                if state.spooled_bytes() >= self.config.limits.spool_max_bytes:
                    summary.paused_spool_full = True
                    self.reporter.note(
                        "spool is full: reading paused until files ship (nothing is dropped)"
                    )
                    break
            with source.snapshot() as snap:
                position = self._position(state, source, snap.max_id, snap.identity, summary)
                summary.epoch, summary.watermark = position.epoch, position.watermark
                if snap.max_id <= position.watermark:
                    break
                if not started:
                    self.reporter.begin(snap.max_id - position.watermark)
                    started = True
                try:
                    files, last_row, rows, reasons = self._write_batch(
                        source, spool, position, snap.max_id
                    )
                except SourceChanged as exc:
                    self.reporter.note(f"{exc.message}: batch dropped, reading again")
                    continue
                anchor = source.anchor(last_row) or ""
            failpoint("after-spool")
            state.commit_batch(
                files,
                epoch=position.epoch,
                watermark=last_row,
                anchor=anchor,
                rules_version=self.rules.version,
            )
            failpoint("after-commit")
            summary.account(rows, reasons, ((f.target, f.records, f.size) for f in files))
            summary.watermark = last_row
            self._ship(state, summary)
        if started:
            self.reporter.end()

    def _position(
        self, state: State, source: Source, max_id: int, identity: str, summary: RunSummary
    ) -> SourcePosition:
        """Where to read from, starting a new epoch when the database was reset or replaced."""
        position = state.position()
        db_path = str(self.config.db_path)
        if position is None:
            return state.start_epoch(
                reason="first run", db_path=db_path, db_identity=identity, previous=None
            )
        reason = reset_reason(position, max_id, source)
        if reason is None:
            if identity != position.db_identity:
                state.note_identity(db_path, identity)
            return position
        if identity != position.db_identity:
            reason += " (new database file)"
        new = state.start_epoch(
            reason=reason, db_path=db_path, db_identity=identity, previous=position
        )
        message = f"database reset detected: {reason}; starting epoch {new.epoch} from row 1"
        summary.new_epochs.append(message)
        self.reporter.note(message)
        return new

    def _write_batch(
        self, source: Source, spool: Spool, position: SourcePosition, max_id: int
    ) -> tuple[list[SpoolFile], int, int, dict[str, int]]:
        """Encode the rows of one batch into spooled files (not yet committed)."""
        limits = self.config.limits
        upto = min(max_id, position.watermark + limits.batch_rows)
        job = SegmentJob(
            db_path=str(self.config.db_path),
            busy_timeout=self.config.busy_timeout_seconds,
            rules=self.rules,
            columns=source.columns,
            lineage=Lineage(self.config.gateway_id, position.epoch, self.rules.version),
            targets=self.config.targets,
            part_rows=dict(self._max_rows),
            level=limits.compress_level,
        )
        writer = BatchWriter(
            spool,
            gateway=self.config.gateway_id,
            epoch=position.epoch,
            buckets=self._buckets,
            max_rows=self._max_rows,
            max_bytes=limits.file_bytes,
        )
        last_row, rows, reasons = position.watermark, 0, {}
        segments = plan_segments(position.watermark, upto, self.config.segment_rows)
        try:
            for result in self._pool.encode(job, segments, source=source):
                for target, date, parts in result.parts:
                    for part in parts:
                        writer.add(target, date, part)
                failpoint("after-encode")
                if result.last_row is not None:
                    last_row = result.last_row
                rows += result.rows
                for reason, n in result.rejected_reasons.items():
                    reasons[reason] = reasons.get(reason, 0) + n
                self.reporter.advance(result.rows)
            if self._pool.workers > 1:
                verify_unchanged(source, position.watermark, last_row)
            files = writer.finish()
        except BaseException:
            writer.abort()
            raise
        return files, last_row, rows, reasons

    def _ship(self, state: State, summary: RunSummary) -> None:
        report = ship_pending(
            state,
            self.sink,
            gateway=self.config.gateway_id,
            attempts=self.config.ship_attempts,
            sleep=self.sleep,
            should_stop=self.stop.is_set,
        )
        self._merge_ship(report, summary)

    def _merge_ship(self, report: ShipReport, summary: RunSummary) -> None:
        for target, n in report.files.items():
            summary.target(target).shipped_files += n
        for target, n in report.bytes.items():
            summary.target(target).shipped_bytes += n
        summary.replayed_objects += report.replays
        summary.conflicts.extend(report.conflicts)
        if report.error is not None and not isinstance(report.error, ObjectConflict):
            if isinstance(report.error, TransientError):
                # keep reading into the spool: the next run (or cycle) ships
                summary.error = str(report.error)
                summary.exit_code = report.error.exit_code
                self.reporter.note(f"{report.error}")
            else:
                raise report.error

    def _fill_pending(self, state: State, summary: RunSummary) -> None:
        for target, totals in state.totals().items():
            entry = summary.target(target)
            entry.pending_files = totals.get("pending_files", 0) + totals.get("conflict_files", 0)
            entry.pending_bytes = totals.get("pending_bytes", 0) + totals.get("conflict_bytes", 0)

    # -- dry run -------------------------------------------------------------------------

    def _dry_run(self, summary: RunSummary) -> None:
        """Route and encode into a throwaway spool; touch neither state nor sink."""
        existing = State.peek(self.config.state_dir)
        position = (existing.position() if existing else None) or SourcePosition(1, 0, None, None)
        if existing:
            existing.close()
        with (
            tempfile.TemporaryDirectory(prefix="sensorlake-dry-run-") as tmp,
            Source(self.config.db_path, busy_timeout=self.config.busy_timeout_seconds) as source,
        ):
            spool = Spool(Path(tmp))
            spool.prepare()
            with source.snapshot() as snap:
                reason = reset_reason(position, snap.max_id, source)
                if reason is not None:
                    position = SourcePosition(position.epoch + 1, 0, None, None)
                    summary.new_epochs.append(f"database reset ({reason}) would start a new epoch")
                summary.epoch = position.epoch
                self.reporter.begin(max(snap.max_id - position.watermark, 0))
                while snap.max_id > position.watermark:
                    files, last_row, rows, reasons = self._write_batch(
                        source, spool, position, snap.max_id
                    )
                    summary.account(rows, reasons, ((f.target, f.records, f.size) for f in files))
                    for spooled in files:
                        summary.would_land.append(f"{self._buckets[spooled.target]}/{spooled.key}")
                        Spool.remove(spooled.path)
                    position = SourcePosition(position.epoch, last_row, None, None)
                    summary.watermark = last_row
                self.reporter.end()


def reset_reason(position: SourcePosition, max_id: int, source: Source) -> str | None:
    """Why the database at hand is not the one the watermark refers to, or None."""
    if max_id < position.watermark:
        return f"row ids went backwards (highest id {max_id} < watermark {position.watermark})"
    if position.watermark > 0 and source.anchor(position.watermark) != position.anchor:
        return f"row {position.watermark} changed: the database was replaced"
    return None


@contextmanager
def _exclusive(state_dir: Path) -> Iterator[None]:
    """One lander per state directory: a second one would race on the watermark."""
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        handle = open(state_dir / "landing.lock", "a+")  # noqa: SIM115
    except OSError as exc:
        raise storage_error(exc, state_dir) from exc
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LocalStorageError(
                f"another sensorlake land is already running on {state_dir}",
                hint="let it finish (or stop it) before starting another; use --continuous for a loop",
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield
    finally:
        handle.close()
