"""From what the readers found to every figure shown: pure, no I/O, one pass per refresh.

A :class:`Snapshot` holds the answer of every endpoint, computed once when the readers
finish; requests only serialize it, so they stay fast however big the landing zone is.
"""

from __future__ import annotations

import heapq
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import TypeAdapter

from sensorlake.contract.pipelines import TARGETS, table_name

from . import models as m
from .fleet import MAX_PER_PAGE, Fleet, GatewayRow, build_fleet
from .readers.base import GatewayState, Inputs, LandedObject, TableStats
from .reconcile import Backlog, backlog_of, duplicate_rows, reconcile
from .settings import Thresholds

__all__ = [
    "BAD_SHOWN",
    "DAY",
    "HOUR",
    "MAX_BUCKETS",
    "MIN_CHART_SPAN",
    "NEWEST_SHOWN",
    "Snapshot",
    "build",
    "chart_buckets",
    "fleet_totals",
]

HOUR, DAY = 3600.0, 86400.0
NEWEST_SHOWN = 20
BAD_SHOWN = 20
_BUCKET_LADDER = (15, 30, 60, 300, 900, 3600, 6 * 3600, 86400)
MIN_CHART_SPAN = 15 * 60.0
MAX_BUCKETS = 60


@dataclass(frozen=True)
class Snapshot:
    at: float
    health: m.Health
    metrics: m.S3Metrics
    tables: m.AutoloaderTables
    status: m.PipelinesStatus
    reconciliation: m.Reconciliation
    overview_series: tuple[int, list[datetime], list[m.PipelineSeries]]
    details: Mapping[str, tuple[str, list[m.Partition], list[m.LandedObjectInfo], int, int, int]]
    # target -> (location, partitions, newest objects, objects, bytes, records)
    landed_per_minute: Mapping[str, Mapping[int, int]] = field(default_factory=dict)
    fleet: Fleet | None = None  # one row per gateway, worst first (fleet.py)
    fleet_error: str | None = None  # why the fleet is unknown (the landing zone unreadable)
    emergencies: m.Emergencies | None = None
    # The JSON of answers that do not change while this snapshot is current, made once
    # (:meth:`json`); a request sends these bytes instead of serializing models again.
    _json: dict[str, Any] = field(default_factory=dict, init=False, compare=False, repr=False)
    _json_lock: threading.Lock = field(
        default_factory=threading.Lock, init=False, compare=False, repr=False
    )

    def _once(self, name: str, make: Callable[[], Any]) -> Any:
        if (done := self._json.get(name)) is None:
            with self._json_lock:
                if (done := self._json.get(name)) is None:
                    done = self._json[name] = make()
        return done

    def json(self, name: str) -> bytes:
        """The JSON FastAPI would send for the model ``name`` (``metrics``, ``tables``,
        ``status``, ``reconciliation``), the same bytes, made once per snapshot."""
        return self._once(name, lambda: _dump(getattr(self, name)))

    def health_json(self, now: float) -> bytes:
        return _dump(self.health_at(now))

    def overview_json(self, now: float) -> bytes:
        """:meth:`overview`'s JSON: everything but the health (its age) made once."""
        cut = b'{"health":' + _dump(self.health)
        whole = self._once("overview", lambda: _dump(self.overview(self.at)))
        if not whole.startswith(cut):  # cannot happen: fields are dumped in order
            return _dump(self.overview(now))
        return b'{"health":' + self.health_json(now) + whole[len(cut) :]

    def fleet_page_json(
        self, page: int = 1, per_page: int = 50, q: str = "", state: str | None = None
    ) -> bytes:
        """:meth:`fleet_page`'s JSON, each gateway's row dumped once per snapshot."""
        fleet = self.fleet or Fleet(self.at, 0.0, 0.0, ())
        per_page = max(1, min(per_page, MAX_PER_PAGE))
        matching, rows = fleet.page(page, per_page, q, state)
        shell = _dump(self._fleet_model(fleet, page, per_page, matching, []))
        made: dict[str, bytes] = self._once("fleet rows", dict)
        parts = []
        for row in rows:
            if (one := made.get(row.gateway)) is None:
                one = made[row.gateway] = _dump(_gateway_model(row, self.at))
            parts.append(one)
        empty = b'"gateways":[]'
        head, _, tail = shell.partition(empty)
        return head + b'"gateways":[' + b",".join(parts) + b"]" + tail

    @property
    def complete(self) -> bool:
        """False while record counts of some objects are still being read."""
        return not any(p.uncounted_objects for p in self.metrics.pipelines)

    def health_at(self, now: float) -> m.Health:
        return self.health.model_copy(update={"age_seconds": round(max(0.0, now - self.at), 3)})

    def fleet_page(
        self, page: int = 1, per_page: int = 50, q: str = "", state: str | None = None
    ) -> m.FleetPage:
        """One page of the fleet, worst first; filtering and slicing only (built once)."""
        fleet = self.fleet or Fleet(self.at, 0.0, 0.0, ())
        per_page = max(1, min(per_page, MAX_PER_PAGE))
        matching, rows = fleet.page(page, per_page, q, state)
        gateways = [_gateway_model(r, self.at) for r in rows]
        return self._fleet_model(fleet, page, per_page, matching, gateways)

    def _fleet_model(
        self, fleet: Fleet, page: int, per_page: int, matching: int, rows: list[m.FleetGateway]
    ) -> m.FleetPage:
        return m.FleetPage(
            as_of=_dt(self.at),
            silent_seconds=fleet.silent_seconds,
            behind_seconds=fleet.behind_seconds,
            totals=fleet_totals(fleet),
            matching=matching,
            page=page,
            per_page=per_page,
            pages=max(1, -(-matching // per_page)),
            gateways=rows,
            error=self.fleet_error,
        )

    def overview(self, now: float) -> m.Overview:
        seconds, buckets, series = self.overview_series
        return m.Overview(
            health=self.health_at(now),
            status=self.status,
            metrics=self.metrics,
            tables=self.tables,
            reconciliation=self.reconciliation,
            bucket_seconds=seconds,
            buckets=buckets,
            series=series,
        )


_ADAPTERS: dict[type, TypeAdapter[Any]] = {}


def _dump(model: Any) -> bytes:
    """JSON as FastAPI answers a response model (its TypeAdapter's ``dump_json``, by alias)."""
    kind = type(model)
    adapter = _ADAPTERS.get(kind)
    if adapter is None:
        adapter = _ADAPTERS[kind] = TypeAdapter(kind)
    return adapter.dump_json(model, by_alias=True)


def _dt(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


def _age(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 36 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def build(inputs: Inputs, thresholds: Thresholds) -> Snapshot:
    now = inputs.read_at
    objects: Mapping[str, tuple[LandedObject, ...]] = (
        inputs.landing.objects if inputs.landing else {}
    )
    tables = inputs.tables
    backlog = {t: backlog_of(objects.get(t, ()), tables.get(t)) for t in TARGETS}
    health = _health(inputs)
    metrics = _metrics(inputs, now)
    table_models = _tables(inputs, backlog)
    status = _status(inputs, backlog, thresholds, now)
    reconciliation = reconcile(inputs, backlog)
    landed_pm = {t: _per_minute(objects.get(t, ())) for t in TARGETS}
    series = _series(landed_pm, tables, now)
    details = {t: _details(inputs, t, backlog[t]) for t in TARGETS}
    # Only tables that were read say anything about a gateway's backlog.
    read = {
        t: backlog[t]
        for t in TARGETS
        if t in tables
        and not (inputs.landing_error or inputs.tables_not_configured or inputs.table_errors.get(t))
    }
    fleet = build_fleet(
        objects,
        read,
        now,
        silent_seconds=thresholds.silent_seconds,
        behind_seconds=thresholds.lag_seconds,
    )
    return Snapshot(
        at=now,
        health=health,
        metrics=metrics,
        tables=table_models,
        status=status,
        reconciliation=reconciliation,
        overview_series=series,
        details=details,
        landed_per_minute=landed_pm,
        fleet=fleet,
        fleet_error=inputs.landing_error,
        emergencies=_emergencies(inputs),
    )


# -- fleet and emergencies -----------------------------------------------------------------


def fleet_totals(fleet: Fleet) -> m.FleetTotals:
    return m.FleetTotals(
        gateways=fleet.gateways,
        healthy=fleet.counts.get("landing", 0),
        silent=fleet.counts.get("silent", 0),
        behind=fleet.counts.get("behind", 0),
    )


def _gateway_model(row: GatewayRow, at: float) -> m.FleetGateway:
    return m.FleetGateway(
        gateway=row.gateway,
        state=row.state,
        reason=row.reason,
        last_landed=_dt(row.last_landed),  # type: ignore[arg-type]
        age_seconds=round(max(0.0, at - row.last_landed), 1),
        files_last_hour=row.files_last_hour,
        files_last_day=row.files_last_day,
        records_last_hour=row.records_last_hour,
        records_last_day=row.records_last_day,
        backlog_files=row.backlog_files,
        backlog_records=row.backlog_records,
        pipelines=[
            m.FleetPipeline(
                pipeline=p.pipeline,
                last_landed=_dt(p.last_modified),  # type: ignore[arg-type]
                last_key=p.last_key,
                files_last_hour=p.files_last_hour,
                records_last_hour=p.records_last_hour,
                files_last_day=p.files_last_day,
                records_last_day=p.records_last_day,
            )
            for p in row.pipelines
        ],
    )


def _emergencies(inputs: Inputs) -> m.Emergencies:
    stats = inputs.tables.get("emergency")
    error = inputs.emergencies_error or inputs.tables_not_configured
    return m.Emergencies(
        as_of=_dt(inputs.read_at),
        table=stats.table if stats else table_name("emergency"),
        readings=[
            m.EmergencyReadingInfo(
                sensor_id=e.sensor_id,
                gateway=e.gateway,
                timestamp=_dt(e.timestamp),
                reasons=list(e.reasons),
                values=dict(e.values),
                valid=e.valid,
                validation_errors=list(e.validation_errors),
                reading_id=e.reading_id,
                ingested_at=_dt(e.ingested_at),
            )
            for e in inputs.emergencies
        ],
        error=error,
    )


# -- health --------------------------------------------------------------------------------


def _landing_health(inputs: Inputs) -> m.ComponentHealth:
    listing = inputs.landing
    problems = []
    if listing is not None:
        problems = [f"{t}: {e}" for t, e in listing.errors.items()]
        if listing.unknown_keys:
            problems.append(
                f"{listing.unknown_keys} file(s) outside the key layout, which the streams "
                f"skip (first: {listing.outside_layout[0] if listing.outside_layout else '?'}): "
                "move them out of the pipeline folders, or land their rows again"
            )
        if listing.bad_metadata:
            _key, why = min(listing.bad_metadata.items())
            problems.append(
                f"{len(listing.bad_metadata)} landed file(s) with metadata that cannot be "
                f"true, counted another way (first: {why}): land them again or fix the metadata"
            )
    return m.ComponentHealth(
        name="landing",
        backend=inputs.landing_kind,
        status="unavailable" if inputs.landing_error else ("degraded" if problems else "healthy"),
        reason=inputs.landing_error or ("; ".join(problems) or None),
    )


def _health(inputs: Inputs) -> m.Health:
    components = [
        _landing_health(inputs),
        _tables_health(inputs),
        _gateway_health(inputs),
    ]
    worst = "healthy"
    reasons = []
    for c in components:
        if c.name == "gateway" and c.status == "not configured":
            continue
        if c.status == "unavailable":
            worst = "unavailable"
        elif c.status in ("degraded", "not configured") and worst == "healthy":
            worst = "degraded"
        if c.status != "healthy":
            reasons.append(f"{c.name}: {c.reason}")
    return m.Health(
        status=worst,  # type: ignore[arg-type]
        reason="; ".join(reasons) or None,
        components=components,
        as_of=_dt(inputs.read_at),
        age_seconds=0.0,
    )


def _tables_health(inputs: Inputs) -> m.ComponentHealth:
    if inputs.tables_not_configured:
        status, reason = "not configured", inputs.tables_not_configured
    elif inputs.table_errors:
        every = len(inputs.table_errors) == len(TARGETS)
        status = "unavailable" if every else "degraded"
        reason = "; ".join(f"{t}: {e}" for t, e in inputs.table_errors.items())
        if every and len(set(inputs.table_errors.values())) == 1:
            reason = next(iter(inputs.table_errors.values()))
    else:
        status, reason = "healthy", None
    return m.ComponentHealth(
        name="tables",
        backend=inputs.tables_kind,
        status=status,  # type: ignore[arg-type]
        reason=reason,
    )


def _gateway_health(inputs: Inputs) -> m.ComponentHealth:
    state = inputs.gateway
    last = state.runs[0].summary if state is not None and state.runs else None
    status: str = "healthy"
    reason = None
    if inputs.gateway_error:
        status, reason = "unavailable", inputs.gateway_error
    elif state is None:
        status, reason = "not configured", "no gateway state on this machine"
    elif last is not None and last.error:
        status = "degraded"
        reason = f"last landing run failed (exit {last.exit_code}): {last.error}"
    elif last is not None and last.conflicts:
        status = "degraded"
        reason = f"{len(last.conflicts)} object(s) exist with different content"
    return m.ComponentHealth(
        name="gateway",
        backend="gateway state",
        status=status,  # type: ignore[arg-type]
        reason=reason,
    )


# -- landing metrics -----------------------------------------------------------------------


def _metrics(inputs: Inputs, now: float) -> m.S3Metrics:
    listing = inputs.landing
    out = []
    for target in TARGETS:
        objs = listing.objects.get(target, ()) if listing else ()
        hour = [o for o in objs if o.modified >= now - HOUR]
        day = [o for o in objs if o.modified >= now - DAY]
        error = inputs.landing_error or (listing.errors.get(target) if listing else None)
        out.append(
            m.PipelineMetrics(
                pipeline=target,
                location=listing.location.get(target, "") if listing else "",
                objects=len(objs),
                bytes=sum(o.size for o in objs),
                records=sum(o.records for o in objs),
                oldest_object=_dt(min((o.modified for o in objs), default=None)),
                newest_object=_dt(max((o.modified for o in objs), default=None)),
                objects_last_hour=len(hour),
                records_last_hour=sum(o.records for o in hour),
                objects_last_day=len(day),
                records_last_day=sum(o.records for o in day),
                uncounted_objects=listing.uncounted.get(target, 0) if listing else 0,
                error=error,
            )
        )
    reasons: dict[str, int] = defaultdict(int)
    if inputs.gateway:
        for run in inputs.gateway.runs:
            for reason, n in run.summary.rejected_reasons.items():
                reasons[reason] += n
    rejected = next(p.records for p in out if p.pipeline == "rejected")
    return m.S3Metrics(
        backend=inputs.landing_kind,
        as_of=_dt(inputs.read_at),
        pipelines=out,
        rejected_records=rejected,
        rejected_reasons=dict(sorted(reasons.items(), key=lambda kv: -kv[1])),
        unknown_objects=listing.unknown_keys if listing else 0,
        outside_layout=list(listing.outside_layout) if listing else [],
        bad_metadata_objects=len(listing.bad_metadata) if listing else 0,
        bad_metadata=dict(sorted(listing.bad_metadata.items())[:BAD_SHOWN]) if listing else {},
    )


# -- tables --------------------------------------------------------------------------------


def _tables(inputs: Inputs, backlog: Mapping[str, Backlog]) -> m.AutoloaderTables:
    health = _tables_health(inputs)
    out = []
    for target in TARGETS:
        stats = inputs.tables.get(target)
        error = inputs.table_errors.get(target) or inputs.tables_not_configured
        if stats is None:
            out.append(
                m.TableInfo(
                    pipeline=target,
                    table=table_name(target),
                    exists=False,
                    rows=None,
                    last_ingestion_time=None,
                    latest_version=None,
                    files_ingested=None,
                    backlog_files=None if error else len(backlog[target].files),
                    backlog_records=None
                    if error
                    else sum(o.records for o in backlog[target].files),
                    columns=None,
                    columns_added=[],
                    rescued_data_rows=None,
                    error=error,
                )
            )
            continue
        initial = set(stats.initial_columns)
        out.append(
            m.TableInfo(
                pipeline=target,
                table=stats.table,
                exists=True,
                rows=stats.rows,
                last_ingestion_time=_dt(stats.last_ingested_at),
                latest_version=stats.version,
                files_ingested=len(stats.files),
                backlog_files=len(backlog[target].files),
                backlog_records=sum(o.records for o in backlog[target].files),
                columns=len(stats.columns),
                columns_added=[c for c in stats.columns if c not in initial],
                rescued_data_rows=stats.rescued_rows,
            )
        )
    return m.AutoloaderTables(
        backend=inputs.tables_kind,
        status=health.status,
        reason=health.reason,
        as_of=_dt(inputs.read_at),
        tables=out,
    )


# -- pipeline status -----------------------------------------------------------------------


def _status(
    inputs: Inputs, backlog: Mapping[str, Backlog], th: Thresholds, now: float
) -> m.PipelinesStatus:
    listing = inputs.landing
    gateway = _gateway_status(inputs.gateway)
    run = gateway.last_run
    out = []
    for target in TARGETS:
        # The newest run of this target's job (job_runs are newest first).
        newest_job = next((j for j in inputs.job_runs if j.target in (target, "")), None)
        failed_job = newest_job if newest_job is not None and newest_job.failed else None
        objs = listing.objects.get(target, ()) if listing else ()
        stats = inputs.tables.get(target)
        landed = sum(o.records for o in objs)
        last_landed = max((o.modified for o in objs), default=None)
        files = backlog[target].files
        oldest = min((o.modified for o in files), default=None)
        lag = None if oldest is None else max(0.0, now - oldest)
        problem = (
            inputs.landing_error
            or (listing.errors.get(target) if listing else None)
            or inputs.tables_not_configured
            or inputs.table_errors.get(target)
        )
        state: m.PipelineState
        if problem:
            state, reason = "unknown", problem
        elif not objs:
            state, reason = "healthy", "nothing landed yet"
        elif backlog[target].missing:
            # Due and not in the table (the checkpoint says processed, or the grace passed):
            # they will not arrive by waiting.
            state = "stalled"
            reason = _lost(backlog[target].missing, now)
        elif lag is not None and lag >= th.stall_seconds:
            state = "stalled"
            reason = _waiting(files, lag, stats is None)
        elif lag is not None and lag >= th.lag_seconds:
            state = "lagging"
            reason = _waiting(files, lag, stats is None)
        else:
            state = "healthy"
            reason = (
                f"{len(files)} new file(s) arriving, {_age(lag)} old"
                if files and lag is not None
                else "every landed file is in the table"
            )
        if state in ("healthy", "lagging") and run is not None and run.error:
            state = "lagging"
            reason = f"{reason}; last landing run failed: {run.error}"
        if state in ("healthy", "lagging") and failed_job is not None and files:
            state = "lagging"
            reason = (
                f"{reason}; last stream job run failed: {failed_job.message or failed_job.result}"
            )
        ingested = None
        if stats is not None:
            ingested = stats.rows - sum(duplicate_rows(stats).values())
        elif not problem:
            ingested = 0
        out.append(
            m.PipelineStatus(
                pipeline=target,
                table=stats.table if stats else table_name(target),
                state=state,
                reason=reason,
                landed_records=landed,
                ingested_records=ingested,
                backlog_files=None if problem else len(files),
                backlog_records=None if problem else sum(o.records for o in files),
                lag_seconds=None if problem else round(lag or 0.0, 1),
                last_landed=_dt(last_landed),
                last_ingested=_dt(stats.last_ingested_at) if stats else None,
            )
        )
    return m.PipelinesStatus(
        as_of=_dt(inputs.read_at),
        lag_threshold_seconds=th.lag_seconds,
        stall_threshold_seconds=th.stall_seconds,
        pipelines=out,
        gateway=gateway,
        jobs=[
            m.JobRunInfo(
                run_id=j.run_id,
                job_id=j.job_id,
                name=j.name,
                state=j.result or j.life_cycle,
                message=j.message,
                started_at=_dt(j.started_at),
                ended_at=_dt(j.ended_at),
            )
            for j in inputs.job_runs
        ],
        jobs_error=inputs.jobs_error,
    )


def _lost(files: tuple[LandedObject, ...], now: float) -> str:
    oldest = min(o.modified for o in files)
    return (
        f"{len(files)} file(s) ({sum(o.records for o in files):,} records) the stream has "
        f"passed are not in the table, oldest landed {_age(now - oldest)} ago: its run summary "
        "lists the files it skipped (corrupt); land them again under a new name"
    )


def _waiting(files: tuple[LandedObject, ...], lag: float, no_table: bool) -> str:
    if no_table:
        return f"table does not exist; {len(files)} file(s) waiting, oldest {_age(lag)}"
    return f"{len(files)} file(s) not ingested, oldest landed {_age(lag)} ago"


def _gateway_status(state: GatewayState | None) -> m.GatewayStatus:
    if state is None:
        return m.GatewayStatus(available=False)
    last = None
    if state.runs:
        rec = state.runs[0]
        last = m.GatewayRun(
            gateway=rec.summary.gateway_id,
            finished_at=rec.finished_at,
            rows_read=rec.summary.rows_read,
            exit_code=rec.summary.exit_code,
            error=rec.summary.error,
            rows_without_id=rec.summary.rows_without_id,
            duplicate_ids=rec.summary.duplicate_ids,
            stranded_files=len(rec.summary.stranded_files),
        )
    return m.GatewayStatus(
        available=True, last_run=last, spool_files=state.spool_files, spool_bytes=state.spool_bytes
    )


# -- charts and details --------------------------------------------------------------------


def _per_minute(objs: Iterable[LandedObject]) -> dict[int, int]:
    out: dict[int, int] = defaultdict(int)
    for o in objs:
        out[int(o.modified // 60 * 60)] += o.records
    return dict(out)


def chart_buckets(first: float | None, now: float) -> tuple[int, float]:
    """Bucket width and start: at most :data:`MAX_BUCKETS` buckets from the first event (or
    a quarter of an hour ago) to now, at most a week back, on a round width."""
    earliest = now - MIN_CHART_SPAN
    start = earliest if first is None else max(min(first, earliest), now - 7 * DAY)
    span = now - start
    width = next((w for w in _BUCKET_LADDER if span / w <= MAX_BUCKETS), _BUCKET_LADDER[-1])
    return width, (start // width) * width


def _series(
    landed: Mapping[str, Mapping[int, int]], tables: Mapping[str, TableStats | None], now: float
) -> tuple[int, list[datetime], list[m.PipelineSeries]]:
    ingested = {t: (s.ingested_per_minute if s else {}) for t, s in tables.items()}
    firsts = [min(d) for d in (*landed.values(), *ingested.values()) if d]
    width, start = chart_buckets(min(firsts) if firsts else None, now)
    count = int((now - start) // width) + 1
    buckets = [_dt(start + i * width) for i in range(count)]

    def cumulative(per_minute: Mapping[int, int]) -> list[int]:
        out = [0] * count
        before = 0
        for minute, n in per_minute.items():
            i = int((minute - start) // width)
            if i < 0:
                before += n
            else:
                out[min(i, count - 1)] += n
        total = before
        for i in range(count):
            total += out[i]
            out[i] = total
        return out

    series = [
        m.PipelineSeries(
            pipeline=t,
            landed=cumulative(landed.get(t, {})),
            ingested=cumulative(ingested.get(t, {})),
        )
        for t in TARGETS
    ]
    return width, buckets, series  # type: ignore[return-value]


def _details(
    inputs: Inputs, target: str, backlog: Backlog
) -> tuple[str, list[m.Partition], list[m.LandedObjectInfo], int, int, int]:
    listing = inputs.landing
    objs = listing.objects.get(target, ()) if listing else ()
    location = listing.location.get(target, "") if listing else ""
    parts: dict[tuple[str, str], list[float]] = {}
    for o in objs:
        entry = parts.setdefault((o.key.date, o.key.gateway), [0, 0, 0, 0.0])
        entry[0] += 1
        entry[1] += o.size
        entry[2] += o.records
        entry[3] = max(entry[3], o.modified)
    # Thousands per target at fleet scale (gateways x days), from values already typed:
    # constructed without validation.
    partitions = [
        m.Partition.model_construct(
            date=date,
            gateway=gw,
            objects=int(v[0]),
            bytes=int(v[1]),
            records=int(v[2]),
            newest_object=_dt(v[3]),  # type: ignore[arg-type]
        )
        for (date, gw), v in parts.items()
    ]
    partitions.sort(key=lambda p: (p.date, p.gateway), reverse=True)
    # Only the newest few are shown: pick them without sorting every object, and compare
    # them with the backlog by key (formatting every backlog file's name costs more).
    newest = heapq.nlargest(NEWEST_SHOWN, objs, key=lambda o: o.modified)
    not_in = {o.key for o in backlog.files} if backlog.known else set()
    newest_models = [
        m.LandedObjectInfo(
            key=o.name,
            size=o.size,
            records=o.records,
            modified=_dt(o.modified),  # type: ignore[arg-type]
            ingested=(o.key not in not_in) if backlog.known else None,
        )
        for o in newest
    ]
    return (
        location,
        partitions,
        newest_models,
        len(objs),
        sum(o.size for o in objs),
        sum(o.records for o in objs),
    )
