"""One landing cycle: read → validate/route → encode → spool → commit → ship.

The order is the guarantee. A batch's files are durable in the spool (fsync; closed ones
hard-linked into ready/, open ones with their size so far) and recorded in the state
together with the new watermark before anything ships; files ship only from the state. So
a crash at any point either loses an uncommitted batch (its rows are read again, and open
files are cut back to their recorded size) or leaves committed files that the next run
ships; a replayed upload finds its identical object and counts as shipped.

A cycle reads what was in the database when it started (up to that snapshot's highest id),
in batches. In continuous mode (``rolling``) files stay open across batches and cycles
until their size or age limit, a later date, or a database reset closes them; otherwise,
and when a continuous run stops (:meth:`Lander.finish`), every file closes.

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

from .config import LandingConfig
from .epochs import resolve_position
from .errors import LandingError, LocalStorageError, ObjectConflict, TransientError
from .report import NullReporter, Reporter
from .rotation import BatchFiles
from .route import Lineage
from .row_checks import future_limit
from .rules import Rules
from .segments import SegmentJob, plan_segments, segment_size
from .ship import report_stranded, ship_pending
from .sink import NullSink, Sink
from .source import Source, SourceChanged, verify_unchanged
from .spool import Spool
from .state import SourcePosition, State
from .tally import add_batch, add_open, add_pending, add_shipment
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
        self._max_age = {t: float(limits.file_max_age_seconds) for t in config.targets}
        if "emergency" in self._max_rows:
            self._max_rows["emergency"] = limits.emergency_file_rows
            self._max_age["emergency"] = float(limits.emergency_file_max_age_seconds)
        self._buckets = {t: config.bucket_for(t) for t in config.targets}
        self._segment_rows = segment_size(limits.segment_rows, len(config.pipelines))
        self._pool = WorkerPool(limits.workers)
        self._files: BatchFiles | None = None  # open across cycles in continuous mode

    def run_once(self, *, dry_run: bool = False, rolling: bool = False) -> RunSummary:
        """One cycle. With ``rolling`` (continuous mode) files stay open until their size or
        age limit; without, every file closes at the end of each batch (and files left open
        by an earlier continuous run close too)."""
        if dry_run:
            return self._dry_run(self._summary(dry_run=True))
        return self._run(rolling=rolling, read=True)

    def finish(self) -> RunSummary:
        """After a stop in continuous mode: close and ship every open file, read nothing."""
        return self._run(rolling=False, read=False)

    def _summary(self, *, dry_run: bool = False) -> RunSummary:
        cfg = self.config
        summary = RunSummary(cfg.destination, cfg.gateway_id, str(cfg.db_path), dry_run=dry_run)
        for target in cfg.targets:
            summary.target(target)
        return summary

    def _run(self, *, rolling: bool, read: bool) -> RunSummary:
        cfg = self.config
        summary = self._summary()
        if self.sink is None:
            raise ValueError("a landing run needs a sink (only a dry run does without)")
        started = self.clock()
        state = State.open(cfg.state_dir)
        try:
            spool = Spool.in_state(cfg.state_dir)
            self._cycle(state, spool, self.sink, summary, started, rolling=rolling, read=read)
        except BaseException:
            self._drop_files()
            raise
        finally:
            add_pending(summary, state.totals())
            add_open(summary, state.open_files(), self.clock().timestamp(), self._max_age)
            with suppress(LandingError):
                state.record_run(
                    started.isoformat(timespec="milliseconds"),
                    msgspec.json.encode(summary.as_dict()).decode(),
                )
            state.close()
        return summary

    def _dry_run(self, summary: RunSummary) -> RunSummary:
        sink = NullSink()
        real_files, self._files = self._files, None
        with tempfile.TemporaryDirectory(prefix="sensorlake-dry-run-") as tmp:
            state = State.open(Path(tmp))
            try:
                state.adopt(State.read_position(self.config.state_dir))
                spool = Spool.in_state(Path(tmp))
                self._cycle(state, spool, sink, summary, self.clock(), rolling=False, read=True)
            finally:
                self._drop_files()
                self._files = real_files
                state.close()
        summary.would_land = sink.landed
        for entry in summary.targets.values():  # nothing was shipped
            entry.shipped_files = entry.shipped_bytes = 0
        # what a continuous run has accumulating: a one-shot run would close it now
        opened = State.read_open_files(self.config.state_dir)
        add_open(summary, opened, self.clock().timestamp(), self._max_age)
        return summary

    # -- the cycle -----------------------------------------------------------------------

    def _cycle(
        self,
        state: State,
        spool: Spool,
        sink: Sink,
        summary: RunSummary,
        started: datetime,
        *,
        rolling: bool,
        read: bool,
    ) -> None:
        position = state.position()
        if position is not None:
            summary.epoch, summary.watermark = position.epoch, position.watermark
        spool.prepare()
        orphans = spool.recover(state.spooled_paths())
        if orphans:
            self.reporter.note(
                f"removed {len(orphans)} uncommitted spool file(s) from an interrupted run"
            )
        try:
            with self._pool:
                # drain the backlog first: it is the oldest
                self._ship(state, sink, summary, stoppable=read)
                if read:
                    with Source(
                        self.config.db_path, busy_timeout=self.config.limits.busy_timeout_seconds
                    ) as source:
                        self._land(state, source, spool, sink, summary, started, rolling)
                if self._close_due(state, spool, summary, close_all=not rolling):
                    self._ship(state, sink, summary, stoppable=read)
            summary.stranded_files = report_stranded(state)
        except LandingError as exc:
            summary.error = str(exc)
            summary.exit_code = exc.exit_code
            raise
        if summary.error is None and summary.conflicts:
            summary.exit_code = ObjectConflict.exit_code
        elif summary.error is None and summary.stranded_files:
            summary.exit_code = LocalStorageError.exit_code

    def _land(
        self,
        state: State,
        source: Source,
        spool: Spool,
        sink: Sink,
        summary: RunSummary,
        started: datetime,
        rolling: bool,
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

        def close_epoch(old: SourcePosition) -> None:
            files = self._files_for(state, spool, old.epoch)
            self._commit(state, files, summary, old, close_all=True)

        bound: tuple[int, int] | None = None  # (epoch, highest id) when the cycle started
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
                    on_reset=close_epoch,
                )
                if message:
                    summary.new_epochs.append(message)
                    self.reporter.note(message)
                summary.epoch, summary.watermark = position.epoch, position.watermark
                if snap.rows_without_id and not summary.rows_without_id:
                    self.reporter.note(
                        f"{snap.rows_without_id} row(s) have no usable id (NULL, not an "
                        "integer, or not above 0): they cannot land exactly once and are skipped; give the "
                        "table an INTEGER PRIMARY KEY id"
                    )
                summary.rows_without_id = snap.rows_without_id
                if bound is None or bound[0] != position.epoch:  # (a reset: a new database)
                    bound = (position.epoch, snap.max_id)
                upto = min(snap.max_id, bound[1])  # what was there when the cycle started
                if upto <= position.watermark:
                    break
                if not begun:
                    self.reporter.begin(upto - position.watermark)
                    begun = True
                files = self._files_for(state, spool, position.epoch)
                try:
                    last_row, rows, reasons, duplicates = self._write_batch(
                        source, files, position, upto, limit
                    )
                except SourceChanged as exc:
                    self.reporter.note(f"{exc.message}: batch dropped, reading again")
                    continue
                if last_row == position.watermark:
                    break  # no row left up to where this cycle reads
                anchor = source.anchor(last_row) or ""
            read = SourcePosition(position.epoch, last_row, anchor, position.db_identity)
            self._commit(state, files, summary, read, rows, reasons, close_all=not rolling)
            summary.watermark = last_row
            summary.duplicate_ids += duplicates
            self._ship(state, sink, summary)
        if begun:
            self.reporter.end()
        if summary.duplicate_ids:
            self.reporter.note(
                f"skipped {summary.duplicate_ids} row(s) whose id repeats an earlier row's "
                "(the table has no primary key): only the first row of each id lands"
            )

    def _files_for(self, state: State, spool: Spool, epoch: int) -> BatchFiles:
        """The files being written for this epoch: those the state records as open, taken
        up again (cut back to their committed size) on first use."""
        if self._files is not None and self._files.epoch == epoch:
            return self._files
        self._drop_files()
        cfg, limits = self.config, self.config.limits
        files = BatchFiles(
            spool,
            gateway=cfg.gateway_id,
            epoch=epoch,
            rules_version=self.rules.version,
            buckets=self._buckets,
            max_rows=self._max_rows,
            max_bytes=limits.file_bytes,
            level=limits.compress_level,
            max_age=self._max_age,
            clock=lambda: self.clock().timestamp(),
        )
        files.resume(state.open_files())
        self._files = files
        return files

    def _drop_files(self) -> None:
        """Forget everything since the last commit (the state and spool say what holds)."""
        if self._files is not None:
            self._files.abort()
            self._files = None

    def _commit(
        self,
        state: State,
        files: BatchFiles,
        summary: RunSummary,
        position: SourcePosition,
        rows: int = 0,
        reasons: dict[str, int] | None = None,
        *,
        close_all: bool,
    ) -> int:
        """Close the due files and record them, the open ones and the position in one
        transaction; returns how many closed. A checkpoint that read nothing and closed
        nothing changes nothing, and is not committed."""
        try:
            closed = files.checkpoint(close_all=close_all)
            if not closed and not rows:
                return 0
            self.config.failpoints.hit("after-spool")
            state.commit_batch(
                closed,
                epoch=position.epoch,
                watermark=position.watermark,
                anchor=position.anchor,
                open_files=files.open_files(),
            )
        except BaseException:
            self._drop_files()
            raise
        files.release()
        self.config.failpoints.hit("after-commit")
        add_batch(summary, rows, reasons or {}, closed)
        return len(closed)

    def _close_due(
        self, state: State, spool: Spool, summary: RunSummary, *, close_all: bool
    ) -> int:
        """Close open files whose time has come (all of them with ``close_all``), even in a
        cycle that read nothing."""
        position = state.position()
        if position is None or (self._files is None and not state.open_files()):
            return 0
        files = self._files_for(state, spool, position.epoch)
        return self._commit(state, files, summary, position, close_all=close_all)

    def _write_batch(
        self,
        source: Source,
        files: BatchFiles,
        position: SourcePosition,
        max_id: int,
        limit: str,
    ) -> tuple[int, int, dict[str, int], int]:
        """Encode the rows of one batch into the spooled files (not yet committed); returns
        the last row id, the rows, the rejected rows by reason and the duplicate ids."""
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
        # A batch is an id range from the next row that exists: ids with a gap wider than a
        # batch (found by the whole-flow property test) would otherwise make empty batches
        # that never move the watermark.
        start = position.watermark
        following = source.first_id_after(start)
        if following is None or following > max_id:
            return position.watermark, 0, {}, 0
        start = max(start, following - 1)
        upto = min(max_id, start + limits.batch_rows)
        segments = plan_segments(start, upto, self._segment_rows)
        last_row, rows, reasons, duplicates = position.watermark, 0, {}, 0
        try:
            for result in self._pool.encode(job, segments, rows=source):
                for target, date, parts in result.parts:
                    for part in parts:
                        files.add(target, date, part)
                cfg.failpoints.hit("after-encode")
                if result.last_row is not None:
                    last_row = result.last_row
                rows += result.rows
                duplicates += result.duplicate_ids
                for reason, n in result.rejected_reasons.items():
                    reasons[reason] = reasons.get(reason, 0) + n
                self.reporter.advance(result.rows)
            if self._pool.parallel(segments):
                verify_unchanged(source, position.watermark, last_row)
        except BaseException:
            self._drop_files()
            raise
        return last_row, rows, reasons, duplicates

    def _ship(
        self, state: State, sink: Sink, summary: RunSummary, *, stoppable: bool = True
    ) -> None:
        report = ship_pending(
            state,
            sink,
            attempts=self.config.limits.ship_attempts,
            sleep=self.sleep,
            should_stop=self.stop.is_set if stoppable else lambda: False,
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
