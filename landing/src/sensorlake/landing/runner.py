"""One landing cycle: read → validate/route → encode → spool → commit → ship.

The order is the guarantee. A batch's files are complete in the spool (fsync, atomic
rename) and recorded in the state together with the new watermark before anything ships;
files ship only from the state. So a crash at any point either loses an uncommitted batch
(its rows are read again, giving the same keys and bytes) or leaves committed files that
the next run ships; a replayed upload finds its identical object and counts as shipped.

A dry run is the same cycle against a throw-away state (seeded with the real position) and
a sink that only takes names: what it reports is what a real run would have done.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from sensorlake.contract.summary import RunSummary

from .batch import BatchFiles
from .config import LandingConfig
from .epochs import resolve_position
from .errors import LandingError, ObjectConflict, TransientError
from .landed import LandedFile
from .route import Lineage
from .rules import Rules
from .segments import SegmentJob, plan_segments, segment_size
from .ship import ship_pending
from .sink import NullSink, Sink
from .source import Source, SourceChanged, verify_unchanged
from .spool import Spool
from .state import SourcePosition, State
from .summary import NullReporter, Reporter, add_batch, add_pending, add_shipment
from .validate import future_limit
from .workers import WorkerPool

__all__ = ["Lander"]


class Lander:
    def __init__(
        self,
        config: LandingConfig,
        rules: Rules,
        sink: Sink | None,
        *,
        reporter: Reporter | None = None,
        stop: threading.Event | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.config = config
        self.rules = rules
        self.sink = sink
        self.reporter = reporter or NullReporter()
        self.stop = stop or threading.Event()
        self.sleep = sleep
        self.clock = clock
        limits = config.limits
        self._max_rows = {t: limits.file_rows for t in config.targets}
        if "emergency" in self._max_rows:
            self._max_rows["emergency"] = limits.emergency_file_rows
        self._buckets = {t: config.bucket_for(t) for t in config.targets}
        self._segment_rows = segment_size(limits.segment_rows, len(config.pipelines))
        self._pool = WorkerPool(limits.workers)

    def run_once(self, *, dry_run: bool = False) -> RunSummary:
        cfg = self.config
        summary = RunSummary(cfg.destination, cfg.gateway_id, str(cfg.db_path), dry_run=dry_run)
        for target in cfg.targets:
            summary.target(target)
        if dry_run:
            return self._dry_run(summary)
        if self.sink is None:
            raise ValueError("a landing run needs a sink (only a dry run does without)")
        started = self.clock()
        state = State.open(cfg.state_dir)
        try:
            self._cycle(state, Spool(cfg.state_dir / "spool"), self.sink, summary, started)
        finally:
            add_pending(summary, state.totals())
            with suppress(LandingError):
                state.record_run(
                    started.isoformat(timespec="milliseconds"),
                    msgspec.json.encode(summary.as_dict()).decode(),
                )
            state.close()
        return summary

    def _dry_run(self, summary: RunSummary) -> RunSummary:
        sink = NullSink()
        with tempfile.TemporaryDirectory(prefix="sensorlake-dry-run-") as tmp:
            state = State.open(Path(tmp))
            try:
                state.adopt(State.read_position(self.config.state_dir))
                self._cycle(state, Spool(Path(tmp) / "spool"), sink, summary, self.clock())
            finally:
                state.close()
        summary.would_land = sink.landed
        for entry in summary.targets.values():  # nothing was shipped
            entry.shipped_files = entry.shipped_bytes = 0
        return summary

    # -- the cycle -----------------------------------------------------------------------

    def _cycle(
        self, state: State, spool: Spool, sink: Sink, summary: RunSummary, started: datetime
    ) -> None:
        spool.prepare()
        orphans = spool.recover(state.spooled_paths())
        if orphans:
            self.reporter.note(
                f"removed {len(orphans)} uncommitted spool file(s) from an interrupted run"
            )
        try:
            with self._pool:
                self._ship(state, sink, summary)  # drain the backlog first: it is the oldest
                with Source(
                    self.config.db_path, busy_timeout=self.config.limits.busy_timeout_seconds
                ) as source:
                    self._land(state, source, spool, sink, summary, started)
        except LandingError as exc:
            summary.error = str(exc)
            summary.exit_code = exc.exit_code
            raise
        if summary.error is None and summary.conflicts:
            summary.exit_code = ObjectConflict.exit_code

    def _land(
        self,
        state: State,
        source: Source,
        spool: Spool,
        sink: Sink,
        summary: RunSummary,
        started: datetime,
    ) -> None:
        cfg, limits = self.config, self.config.limits
        limit = future_limit(started, self.rules.timestamp.future_tolerance_seconds)
        begun = False
        missing = [c for c in self.rules.required if c not in source.columns]
        if missing and set(cfg.targets) - {"raw"}:
            self.reporter.note(
                f"table lacks column(s) {', '.join(missing)}: raw lands every row, but rows "
                "are rejected from schematized/filtered with '<column>.missing'"
            )
        while not self.stop.is_set():
            if state.spooled_bytes() >= limits.spool_max_bytes:
                self._ship(state, sink, summary)
                if state.spooled_bytes() >= limits.spool_max_bytes:
                    summary.paused_spool_full = True
                    self.reporter.note(
                        "spool is full: reading paused until files ship (nothing is dropped)"
                    )
                    break
            with source.snapshot() as snap:
                position, message = resolve_position(
                    state,
                    source,
                    max_id=snap.max_id,
                    identity=snap.identity,
                    db_path=str(cfg.db_path),
                )
                if message:
                    summary.new_epochs.append(message)
                    self.reporter.note(message)
                summary.epoch, summary.watermark = position.epoch, position.watermark
                if snap.max_id <= position.watermark:
                    break
                if not begun:
                    self.reporter.begin(snap.max_id - position.watermark)
                    begun = True
                try:
                    files, last_row, rows, reasons = self._write_batch(
                        source, spool, position, snap.max_id, limit
                    )
                except SourceChanged as exc:
                    self.reporter.note(f"{exc.message}: batch dropped, reading again")
                    continue
                anchor = source.anchor(last_row) or ""
            cfg.failpoints.hit("after-spool")
            state.commit_batch(files, epoch=position.epoch, watermark=last_row, anchor=anchor)
            cfg.failpoints.hit("after-commit")
            add_batch(summary, rows, reasons, files)
            summary.watermark = last_row
            self._ship(state, sink, summary)
        if begun:
            self.reporter.end()

    def _write_batch(
        self,
        source: Source,
        spool: Spool,
        position: SourcePosition,
        max_id: int,
        limit: str,
    ) -> tuple[list[LandedFile], int, int, dict[str, int]]:
        """Encode the rows of one batch into spooled files (not yet committed)."""
        cfg, limits = self.config, self.config.limits
        job = SegmentJob(
            db_path=str(cfg.db_path),
            busy_timeout=limits.busy_timeout_seconds,
            rules=self.rules,
            columns=source.columns,
            lineage=Lineage(cfg.gateway_id, position.epoch, self.rules.version),
            targets=cfg.targets,
            part_rows=dict(self._max_rows),
            level=limits.compress_level,
            future_limit=limit,
        )
        files = BatchFiles(
            spool,
            gateway=cfg.gateway_id,
            epoch=position.epoch,
            rules_version=self.rules.version,
            buckets=self._buckets,
            max_rows=self._max_rows,
            max_bytes=limits.file_bytes,
            level=limits.compress_level,
        )
        upto = min(max_id, position.watermark + limits.batch_rows)
        segments = plan_segments(position.watermark, upto, self._segment_rows)
        last_row, rows, reasons = position.watermark, 0, {}
        try:
            for result in self._pool.encode(job, segments, rows=source):
                for target, date, parts in result.parts:
                    for part in parts:
                        files.add(target, date, part)
                cfg.failpoints.hit("after-encode")
                if result.last_row is not None:
                    last_row = result.last_row
                rows += result.rows
                for reason, n in result.rejected_reasons.items():
                    reasons[reason] = reasons.get(reason, 0) + n
                self.reporter.advance(result.rows)
            if self._pool.parallel(segments):
                verify_unchanged(source, position.watermark, last_row)
            landed = files.finish()
        except BaseException:
            files.abort()
            raise
        return landed, last_row, rows, reasons

    def _ship(self, state: State, sink: Sink, summary: RunSummary) -> None:
        report = ship_pending(
            state,
            sink,
            attempts=self.config.limits.ship_attempts,
            sleep=self.sleep,
            should_stop=self.stop.is_set,
            failpoints=self.config.failpoints,
        )
        add_shipment(summary, report.files, report.bytes, report.replays, report.conflicts)
        error = report.error
        if error is None or isinstance(error, ObjectConflict):
            return
        if not isinstance(error, TransientError):
            raise error
        # keep reading into the spool: the next run (or cycle) ships
        summary.error = str(error)
        summary.exit_code = error.exit_code
        self.reporter.note(str(error))
