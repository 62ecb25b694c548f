"""Land the old uploader's rows through landing's own pipeline, exactly once.

Each old row goes through the very code a live run uses (:class:`..runner.Lander`: the same
validation, routing, lineage, key layout, gzip NDJSON, metadata, spool and create-only
shipping), read from a staging copy of the sensor table that holds exactly the rows still
to land, at their own ids.

**Identity.** A landed row is (gateway, epoch, row id), as for live landing. Old rows carry
their ``id`` but not which sensor database (epoch) they came from, so :mod:`.history`
splits a gateway's old rows into generations (a new one wherever, in timestamp order, the
id does not grow). Each generation gets one epoch:

1. the epoch of the rows the zone already holds from it: a row counts as already landed
   when the zone's raw files for that gateway hold a row with the same id, timestamp and
   sensor id (candidate files are found from their keys' dates and id ranges, then read).
   Live landing and earlier backfills meet here: the generation the live lander is reading
   keeps its live epoch, and its rows before the live lander's first one (those before a
   cut-over watermark) land under that same epoch, beside the live files. Rows after the
   live lander's first one are left to it (it reads every id from there on: they are
   landed, or in its spool or open files, or still to be read);
2. otherwise a backfill epoch fixed by the generation's first reading, far above any live
   epoch (those count 1, 2, ... per gateway): ``BACKFILL_EPOCH_BASE`` + whole minutes from
   2020-01-01 UTC; two generations starting in the same minute take the next free number.

So a rerun finds every row already landed and lands nothing; a batch the old uploader
uploaded twice is one set of rows; rows live landing already has are skipped.

**Crashes.** A generation's files are spooled and recorded under
``<state dir>/migrate/backfill/<gateway>/<epoch>/`` before they ship; the next backfill
ships what is left there first, and only then looks at what the zone holds.

**Reruns.** The staged history is kept as the backfill's catalogue,
``<state dir>/migrate/catalogue/<source>.db`` (one per old bucket/prefix, format, gateway
option and destination): the rows, each object read (key and ETag), the landed files
already matched (create-only: never rewritten), and per gateway what its last complete run
found. A rerun lists the old bucket and GETs only objects it has not read at that ETag; a
gateway that got no new rows is not looked at again (its last outcome is reported, every
row already landed). New rows drop the gateway's outcome in the same transaction that
stores them. A run that fails keeps the catalogue (each transaction rolls back); one that
dies leaves no clean mark, and the next one starts the catalogue afresh (it reads
everything again; the zone still says what is landed). Deleting the file does the same.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from sensorlake.contract.errors import ExitCode
from sensorlake.contract.gateway_state import GatewayStateLayout
from sensorlake.contract.keys import BACKFILL_EPOCH_BASE

from ..config import LandingConfig
from ..errors import LandingError, LocalStorageError, ObjectConflict, TransientError, storage_error
from ..report import NullReporter
from ..row_checks import utc_timestamp
from ..rules import Rules
from ..runner import Lander
from ..sink import NullSink, Sink
from ..state import SourcePosition, State
from .history import Generation, History
from .oldstore import OldBucket, Progress, load_history
from .zone import LandingZone

__all__ = [
    "BACKFILL_EPOCH_BASE",
    "Backfill",
    "BackfillSummary",
    "GenerationReport",
    "backfill_epoch",
    "staged_columns",
    "staging_dir",
]

_EPOCH_ORIGIN = datetime(2020, 1, 1, tzinfo=UTC)
_MAX_EPOCH = 99_999_999  # eight digits in the key


def backfill_epoch(first_timestamp: str) -> int:
    """The epoch of an old generation no landed row vouches for: fixed by its first reading."""
    full = utc_timestamp(first_timestamp)
    minutes = 0
    if full is not None:
        moment = datetime.fromisoformat(full.replace("Z", "+00:00"))
        minutes = max(0, int((moment - _EPOCH_ORIGIN).total_seconds() // 60))
    return min(BACKFILL_EPOCH_BASE + minutes, _MAX_EPOCH)


@dataclass
class GenerationReport:
    gateway: str
    epoch: int
    epoch_from: str  # "landed" (the zone's rows vouch for it) or "derived"
    first_timestamp: str
    last_id: int
    rows: int
    already_landed: int
    landed: int
    left_to_live_lander: int = 0  # after its first landed row: the live lander's to land


@dataclass
class BackfillSummary:
    source: str
    destination: str
    dry_run: bool = False
    objects_listed: int = 0
    objects_read: int = 0
    formats: dict[str, int] = field(default_factory=dict)
    bad_objects: list[dict[str, str]] = field(default_factory=list)
    rows: int = 0
    duplicates_dropped: int = 0
    unidentifiable: dict[str, int] = field(default_factory=dict)
    already_landed: int = 0
    left_to_live_lander: int = 0
    rows_landed: int = 0
    rejected_reasons: dict[str, int] = field(default_factory=dict)
    files_written: dict[str, int] = field(default_factory=dict)
    records_written: dict[str, int] = field(default_factory=dict)
    objects_skipped: int = 0  # read by an earlier backfill (same key and ETag)
    gateways_unchanged: int = 0  # no new rows since their last complete backfill
    replayed_objects: int = 0
    would_land: list[str] = field(default_factory=list)
    generations: list[GenerationReport] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    exit_code: int = ExitCode.OK

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Backfill:
    def __init__(
        self,
        config: LandingConfig,
        rules: Rules,
        old: OldBucket,
        *,
        fmt: str = "auto",
        gateway_id: str | None = None,
        dry_run: bool = False,
        sink: Callable[[], Sink] | None = None,
        zone: LandingZone | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.config = config
        self.rules = rules
        self.old = old
        self.fmt = fmt
        self.gateway_id = gateway_id
        self.dry_run = dry_run
        self.make_sink = sink
        self.zone = zone or LandingZone(config)
        self.progress = progress or Progress()

    def run(self) -> BackfillSummary:
        started = time.perf_counter()
        summary = BackfillSummary(
            f"s3://{self.old.bucket}/{self.old.prefix}", self.zone.where, dry_run=self.dry_run
        )
        with self._history() as history:
            self._read(history, summary)
            for gateway in history.gateways():
                try:
                    self._gateway(history, gateway, summary)
                except LandingError as exc:
                    summary.errors.append(f"gateway {gateway}: {exc}")
                    summary.exit_code = max(summary.exit_code, exc.exit_code)
        if summary.exit_code == ExitCode.OK and summary.bad_objects:
            summary.exit_code = ExitCode.MISMATCH
        summary.seconds = round(time.perf_counter() - started, 3)
        return summary

    # -- the catalogue -------------------------------------------------------------------------

    def _catalogue(self) -> Path:
        """One catalogue per source, options and destination: what it remembers holds for
        exactly those."""
        what = "\0".join(
            (self.old.bucket, self.old.prefix, self.fmt, self.gateway_id or "", self.zone.where)
        )
        name = f"{self.old.bucket}-{hashlib.sha256(what.encode()).hexdigest()[:16]}.db"
        return self.config.state_dir / "migrate" / "catalogue" / name

    @contextmanager
    def _history(self) -> Iterator[History]:
        """A dry run stages in a scratch directory (it writes nothing that lasts); a real
        run opens the catalogue, alone (a lock), afresh if the last run left no clean mark."""
        if self.dry_run:
            with staging_dir(self.config) as tmp:
                history = History(tmp / "history.db")
                try:
                    yield history
                finally:
                    history.close()
            return
        path = self._catalogue()
        clean = path.with_suffix(".clean")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            lock = open(path.with_suffix(".lock"), "a")  # noqa: SIM115 (held for the run)
        except OSError as exc:
            raise storage_error(exc, path.parent) from exc
        with lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                raise LocalStorageError(
                    f"another backfill of this source is running ({path.parent})",
                    hint="wait for it to finish, then rerun",
                ) from None
            try:
                if not clean.exists():
                    path.unlink(missing_ok=True)
                clean.unlink(missing_ok=True)
                history = History(path)
            except (OSError, sqlite3.Error) as exc:
                raise LocalStorageError(
                    f"cannot open the backfill catalogue {path} ({exc})",
                    hint="delete it (the next backfill reads every object again)",
                ) from None
            # Every transaction rolls back on an error, so the catalogue stays whole whatever
            # the run raised (an S3 outage keeps what was read); only a process that died, or
            # SQLite itself failing, leaves it unmarked.
            whole = True
            try:
                yield history
            except sqlite3.DatabaseError:
                whole = False
                raise
            finally:
                history.close()
                if whole:
                    _sync(path)
                    clean.touch()

    # -- reading the old objects -------------------------------------------------------------

    def _read(self, history: History, summary: BackfillSummary) -> None:
        report = load_history(
            self.old,
            history,
            fmt=self.fmt,
            gateway_id=self.gateway_id,
            progress=self.progress,
            remember=not self.dry_run,
        )
        summary.objects_listed, summary.objects_read = report.listed, report.read
        summary.objects_skipped = report.skipped
        summary.formats, summary.bad_objects = report.formats, report.bad_objects
        summary.rows = history.rows_read
        summary.duplicates_dropped = history.duplicates
        summary.unidentifiable = dict(history.unidentified)

    # -- one gateway ---------------------------------------------------------------------------

    def _work_root(self, gateway: str) -> Path:
        return self.config.state_dir / "migrate" / "backfill" / gateway

    def _gateway(self, history: History, gateway: str, summary: BackfillSummary) -> None:
        if not self.dry_run:
            self._drain(gateway, summary)
        keys = self.zone.keys(gateway)
        if not self.dry_run:
            names = {k.format() for k in keys}
            if not history.zone_files(gateway) <= names:
                history.forget_zone(gateway)  # a landed file is gone: look at all again
            last = history.outcome(gateway) if gateway not in history.touched else None
            if last is not None and set(last["files"]) <= names:
                # no new rows since a complete run, and every file it saw is still there
                summary.gateways_unchanged += 1
                for item in last["generations"]:
                    report = GenerationReport(**item)
                    summary.generations.append(report)
                    summary.already_landed += report.already_landed
                    summary.left_to_live_lander += report.left_to_live_lander
                return
        before = (summary.exit_code, len(summary.errors), len(summary.conflicts))
        reports = self._generations(history, gateway, keys, summary)
        after = (summary.exit_code, len(summary.errors), len(summary.conflicts))
        if not self.dry_run and after == before and not self._work_left(gateway):
            # what a rerun would find while those files stay: every row landed (or the
            # live lander's to land)
            landed = [
                {**asdict(r), "already_landed": r.already_landed + r.landed, "landed": 0}
                for r in reports
            ]
            files = sorted(k.format() for k in self.zone.keys(gateway))
            history.set_outcome(gateway, {"generations": landed, "files": files})

    def _generations(
        self, history: History, gateway: str, keys: list[Any], summary: BackfillSummary
    ) -> list[GenerationReport]:
        taken = {k.epoch for k in keys}
        loaded = history.zone_files(gateway)
        columns = history.columns(gateway)
        reports: list[GenerationReport] = []
        for gen in history.generations(gateway):
            self._load_landed(gen, keys, loaded, history)
            epochs = history.landed_epochs(gen)
            if epochs:
                epoch = max(epochs, key=lambda e: (epochs[e][0], -e))
                origin = "landed"
            else:
                epoch = backfill_epoch(gen.start[0])
                while epoch in taken and epoch < _MAX_EPOCH:
                    epoch += 1
                origin = "derived"
            taken.add(epoch)
            # A live lander's epoch: it reads every id from where it started, so the rows
            # from its first landed one on are its own (landed, in its spool or open files,
            # or still to be read); only the rows before it are the history's to land.
            floor = None
            if origin == "landed" and epoch < BACKFILL_EPOCH_BASE:
                floor = epochs[epoch][1]
            already = sum(n for n, _ in epochs.values())
            left = history.unlanded(gen, above=floor) if floor is not None else 0
            report = GenerationReport(
                gateway, epoch, origin, gen.start[0], gen.max_id, gen.rows, already, 0, left
            )
            summary.generations.append(report)
            reports.append(report)
            summary.already_landed += already
            summary.left_to_live_lander += left
            if gen.rows - already - left > 0:
                staged = staged_columns(columns)
                rows = partial(history.to_land, gen, staged, upto=floor)
                report.landed = self._land(gateway, epoch, staged, rows, summary)
                summary.rows_landed += report.landed
        return reports

    def _load_landed(
        self, gen: Generation, keys: list[Any], loaded: set[str], history: History
    ) -> None:
        """Load the rows of the zone's raw files that may hold this generation's rows:
        those of its days (and ``unknown``) whose id range meets the generation's, each
        file once (``loaded``: names already in the catalogue)."""
        days = set(gen.days) | {"unknown"}
        for key in keys:
            if key.date not in days:
                continue
            name = key.format()
            if name in loaded:
                continue
            if key.first_row <= gen.max_id and key.last_row >= gen.min_id:
                history.add_landed(gen.gateway, key.epoch, self.zone.identities(key), name)
                loaded.add(name)

    def _work_left(self, gateway: str) -> bool:
        root = self._work_root(gateway)
        return root.is_dir() and any(root.iterdir())

    def _drain(self, gateway: str, summary: BackfillSummary) -> None:
        """Ship what an interrupted backfill left spooled, before looking at the zone."""
        root = self._work_root(gateway)
        if not root.is_dir():
            return
        for work in sorted(p for p in root.iterdir() if p.is_dir()):
            config = self._config(gateway, work)
            if GatewayStateLayout(config.state_dir).db.exists():
                result = Lander(config, self.rules, self._sink(), reporter=NullReporter()).finish()
                self._account(result, summary, rows=False)
                left = _left(config.state_dir)
                if left:
                    waiting = f"{left} file(s) of an earlier backfill are still waiting in {work}"
                    if result.conflicts:  # rerunning alone will not ship those
                        raise ObjectConflict(waiting, hint="resolve the conflicts, then rerun")
                    raise TransientError(waiting, hint="rerun when the destination is reachable")
            shutil.rmtree(work)

    def _config(self, gateway: str, work: Path) -> LandingConfig:
        return replace(
            self.config, db_path=work / "rows.db", state_dir=work / "state", gateway_id=gateway
        )

    def _sink(self) -> Sink:
        if self.make_sink is None:
            raise ValueError("a backfill that writes needs a sink")
        return self.make_sink()

    def _land(
        self,
        gateway: str,
        epoch: int,
        columns: list[str],
        rows: Callable[[], Iterable[list[Any]]],
        summary: BackfillSummary,
    ) -> int:
        with tempfile.TemporaryDirectory(prefix="sensorlake-backfill-dry-") as tmp:
            work = Path(tmp) if self.dry_run else self._work_root(gateway) / f"{epoch:08d}"
            if not self.dry_run and work.exists():
                shutil.rmtree(work)
            work.mkdir(parents=True, exist_ok=True)
            config = self._config(gateway, work)
            _stage(config.db_path, columns, rows)
            state = State.open(config.state_dir)
            try:
                state.adopt(SourcePosition(epoch, 0, None, None))
            finally:
                state.close()
            sink: Sink = NullSink() if self.dry_run else self._sink()
            result = Lander(config, self.rules, sink, reporter=NullReporter()).run_once()
            self._account(result, summary, rows=True)
            if isinstance(sink, NullSink):
                summary.would_land.extend(sink.landed)
            elif not _left(config.state_dir):
                shutil.rmtree(work)
        return result.rows_read

    @staticmethod
    def _account(result: Any, summary: BackfillSummary, *, rows: bool) -> None:
        for reason, n in result.rejected_reasons.items():
            summary.rejected_reasons[reason] = summary.rejected_reasons.get(reason, 0) + n
        for target, entry in result.targets.items():
            if entry.files:
                summary.files_written[target] = summary.files_written.get(target, 0) + entry.files
                summary.records_written[target] = (
                    summary.records_written.get(target, 0) + entry.records
                )
        summary.replayed_objects += result.replayed_objects
        summary.conflicts.extend(result.conflicts)
        if result.error:
            summary.errors.append(result.error)
        summary.exit_code = max(summary.exit_code, result.exit_code)


@contextmanager
def staging_dir(config: LandingConfig) -> Iterator[Path]:
    """A scratch directory beside the landing state (a fleet's history can outgrow /tmp)."""
    root = config.state_dir / "migrate"
    try:
        root.mkdir(parents=True, exist_ok=True)
        scratch = tempfile.TemporaryDirectory(prefix="staging-", dir=root)
    except OSError as exc:
        raise storage_error(exc, root) from exc
    with scratch as tmp:
        yield Path(tmp)


def _sync(path: Path) -> None:
    """The catalogue on disk before its clean mark (it is written without fsync)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _left(state_dir: Path) -> int:
    """Files a backfill state still holds (pending or conflicting)."""
    state = State.open(state_dir)
    try:
        return sum(
            c.get("pending_files", 0) + c.get("conflict_files", 0) for c in state.totals().values()
        )
    finally:
        state.close()


def staged_columns(columns: Iterable[str]) -> list[str]:
    """The staging table's columns: the sensor's, in its order, and the identity ones."""
    names = list(columns)
    return names + [n for n in ("id", "timestamp", "sensor_id") if n not in names]


def _stage(path: Path, names: list[str], rows: Callable[[], Iterable[list[Any]]]) -> None:
    """A ``sensor_readings`` table holding exactly ``rows`` (values in ``names``' order) at
    their own ids, values as the old uploader wrote them (no type affinity)."""
    ddl = ", ".join(
        '"{}"{}'.format(n.replace('"', '""'), " INTEGER PRIMARY KEY" if n == "id" else "")
        for n in names
    )
    marks = ", ".join("?" for _ in names)
    for values in (lambda: rows(), lambda: (_values(v) for v in rows())):
        path.unlink(missing_ok=True)
        conn = sqlite3.connect(path)
        try:
            conn.execute("PRAGMA journal_mode=OFF")  # a scratch copy: rebuilt if anything fails
            conn.execute("PRAGMA synchronous=OFF")
            conn.execute(f"CREATE TABLE sensor_readings ({ddl})")
            try:
                conn.executemany(f"INSERT INTO sensor_readings VALUES ({marks})", values())
            except (OverflowError, sqlite3.ProgrammingError, sqlite3.InterfaceError):
                continue  # a value SQLite cannot bind as it is (never the sensor's): again
            conn.commit()
            return
        finally:
            conn.close()
    raise AssertionError("unreachable: the second pass binds every value")


_PLAIN = frozenset((str, float, bool, type(None)))


def _values(values: list[Any]) -> list[Any]:
    """The row's values as SQLite can hold them (see :func:`_scalar`)."""
    for i, value in enumerate(values):
        if value.__class__ not in _PLAIN:
            values[i] = _scalar(value)
    return values


def _scalar(value: Any) -> Any:
    """What SQLite can hold: a nested value (never written by the sensor) as its JSON."""
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    if value.__class__ is int and not -(2**63) <= value < 2**63:
        return str(value)  # SQLite integers are 64-bit
    return value
