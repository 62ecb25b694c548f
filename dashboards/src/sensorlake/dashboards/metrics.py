"""The snapshot's figures for Prometheus (``GET /metrics``), on the app's own registry.

Label sets, bounded at fleet scale (a fleet of N gateways, 5 targets, 3 components):

====================================================  ============================  ==========
metric                                                labels                        series
====================================================  ============================  ==========
``sensorlake_monitor_up``, ``_snapshot_age_seconds``  none                          1 each
``sensorlake_component_state``                        component, backend, state     3 x 4
``sensorlake_landed_*``, ``_landed_newest_...``       pipeline                      5 each
``sensorlake_table_*``                                pipeline, table               5 each
``sensorlake_pipeline_state``                         pipeline, state               5 x 4
``sensorlake_backlog_*``, ``_ingestion_lag_seconds``  pipeline                      5 each
``sensorlake_reconciliation_exactly_once``            none                          1
``sensorlake_reconciliation_{missing,pending}_...``,  pipeline, gateway             only where
``sensorlake_reconciliation_duplicate_rows``                                        not 0
``sensorlake_fleet_gateways``                         state (silent, behind,        3
                                                      landing)
``sensorlake_gateway_last_landed_timestamp_seconds``  gateway                       N
====================================================  ============================  ==========

Per gateway, only what an alert needs per gateway: its newest file (what "silent" alerts on,
one series per gateway), and a reconciliation count where it is not zero (a gateway whose
records are missing, doubled or on their way: the series grow with the problems, not with
the fleet; a count back at 0 ends its series, which resolves the alert). Everything else a
gateway has is in ``GET /api/fleet``, not in Prometheus.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .fleet import FLEET_STATES
from .snapshot import Snapshot

__all__ = [
    "COMPONENT_STATES",
    "LABEL_SETS",
    "LANDED",
    "PIPELINES",
    "RECONCILIATION",
    "STATES",
    "TABLES",
    "Exposition",
    "SnapshotCollector",
    "render",
    "render_figures",
]

# Every metric and its label names, the table above as data (a test holds the export to it;
# the alert rules' test reads a metric's labels here when no sample carries them, e.g. a
# reconciliation count that is 0 everywhere).
LABEL_SETS: dict[str, tuple[str, ...]] = {
    "sensorlake_monitor_up": (),
    "sensorlake_monitor_snapshot_age_seconds": (),
    "sensorlake_component_state": ("component", "backend", "state"),
    "sensorlake_landed_objects": ("pipeline",),
    "sensorlake_landed_bytes": ("pipeline",),
    "sensorlake_landed_records": ("pipeline",),
    "sensorlake_landed_records_last_hour": ("pipeline",),
    "sensorlake_landed_newest_timestamp_seconds": ("pipeline",),
    "sensorlake_gateway_last_landed_timestamp_seconds": ("gateway",),
    "sensorlake_table_rows": ("pipeline", "table"),
    "sensorlake_table_version": ("pipeline", "table"),
    "sensorlake_table_rescued_rows": ("pipeline", "table"),
    "sensorlake_pipeline_state": ("pipeline", "state"),
    "sensorlake_backlog_files": ("pipeline",),
    "sensorlake_backlog_records": ("pipeline",),
    "sensorlake_ingestion_lag_seconds": ("pipeline",),
    "sensorlake_reconciliation_missing_records": ("pipeline", "gateway"),
    "sensorlake_reconciliation_duplicate_rows": ("pipeline", "gateway"),
    "sensorlake_reconciliation_pending_records": ("pipeline", "gateway"),
    "sensorlake_reconciliation_exactly_once": (),
    "sensorlake_fleet_gateways": ("state",),
}

STATES = ("healthy", "lagging", "stalled", "unknown")
COMPONENT_STATES = ("healthy", "degraded", "unavailable", "not configured")

# (metric name, help, model field), per kind of row
LANDED = (
    ("sensorlake_landed_objects", "landed files", "objects"),
    ("sensorlake_landed_bytes", "landed bytes", "bytes"),
    ("sensorlake_landed_records", "landed records, from object metadata", "records"),
    ("sensorlake_landed_records_last_hour", "records landed in the last hour", "records_last_hour"),
)
TABLES = (
    ("sensorlake_table_rows", "rows in the table", "rows"),
    ("sensorlake_table_version", "latest Delta version", "latest_version"),
    ("sensorlake_table_rescued_rows", "rows with _rescued_data", "rescued_data_rows"),
)
PIPELINES = (
    ("sensorlake_backlog_files", "files landed, not yet ingested", "backlog_files"),
    ("sensorlake_backlog_records", "records landed, not yet ingested", "backlog_records"),
    ("sensorlake_ingestion_lag_seconds", "age of the oldest file not ingested", "lag_seconds"),
)
RECONCILIATION = (
    (
        "sensorlake_reconciliation_missing_records",
        "landed, missing from the table",
        "missing_records",
    ),
    (
        "sensorlake_reconciliation_duplicate_rows",
        "rows beyond the first per _lineage id",
        "duplicate_rows",
    ),
    ("sensorlake_reconciliation_pending_records", "landed records on their way", "pending_records"),
)


def _gauges(
    rows: Iterable[Any],
    labels: Sequence[str],
    specs: Sequence[tuple[str, str, str]],
    *,
    skip_zero: bool = False,
) -> Iterator[Metric]:
    """One gauge per spec, one sample per row whose field is known (and, with
    ``skip_zero``, not 0: per-gateway series only where they say something)."""
    rows = list(rows)
    for name, doc, field in specs:
        gauge = GaugeMetricFamily(name, doc, labels=list(labels))
        for row in rows:
            value = getattr(row, field)
            if value is not None and not (skip_zero and value == 0):
                gauge.add_metric([str(getattr(row, label)) for label in labels], value)
        yield gauge


def _one_hot(
    name: str,
    doc: str,
    rows: Iterable[Any],
    labels: dict[str, str],
    field: str,
    states: Sequence[str],
) -> Metric:
    """1 for the state each row is in, 0 for the others (Prometheus' enum idiom); ``labels``
    maps each label name to the row's field."""
    gauge = GaugeMetricFamily(name, doc, labels=[*labels, "state"])
    for row in rows:
        for state in states:
            values = [str(getattr(row, attr)) for attr in labels.values()]
            gauge.add_metric([*values, state], 1 if getattr(row, field) == state else 0)
    return gauge


class SnapshotCollector(Collector):
    def __init__(self, current: Callable[[], Snapshot | None], clock: Callable[[], float]):
        self.current = current
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        snap = self.current()
        yield from _head(snap, self.clock)
        if snap is not None:
            yield from _figures(snap)


def _head(snap: Snapshot | None, clock: Callable[[], float]) -> Iterator[Metric]:
    """What changes between two scrapes of one snapshot: up, and the snapshot's age."""
    up = GaugeMetricFamily("sensorlake_monitor_up", "1 once the monitor has read every backend")
    up.add_metric([], 0 if snap is None else 1)
    yield up
    if snap is None:
        return
    age = GaugeMetricFamily("sensorlake_monitor_snapshot_age_seconds", "age of the figures")
    age.add_metric([], max(0.0, clock() - snap.at))
    yield age


def _figures(snap: Snapshot) -> Iterator[Metric]:
    """Everything else: fixed for a snapshot (rendered once per snapshot, :class:`Exposition`)."""
    yield _one_hot(
        "sensorlake_component_state",
        "1 for the state a component is in",
        snap.health.components,
        {"component": "name", "backend": "backend"},
        "status",
        COMPONENT_STATES,
    )
    yield from _gauges(snap.metrics.pipelines, ("pipeline",), LANDED)
    newest = GaugeMetricFamily(
        "sensorlake_landed_newest_timestamp_seconds", "newest landed file", labels=["pipeline"]
    )
    for p in snap.metrics.pipelines:
        if p.newest_object is not None:
            newest.add_metric([p.pipeline], p.newest_object.timestamp())
    yield newest
    yield _gateway_last_landed(snap)
    yield from _gauges(snap.tables.tables, ("pipeline", "table"), TABLES)
    yield _one_hot(
        "sensorlake_pipeline_state",
        "1 for the state a pipeline is in",
        snap.status.pipelines,
        {"pipeline": "pipeline"},
        "state",
        STATES,
    )
    yield from _gauges(snap.status.pipelines, ("pipeline",), PIPELINES)
    yield from _gauges(
        snap.reconciliation.rows, ("pipeline", "gateway"), RECONCILIATION, skip_zero=True
    )
    ok = GaugeMetricFamily(
        "sensorlake_reconciliation_exactly_once", "1 when nothing is missing or doubled"
    )
    ok.add_metric([], 1 if snap.reconciliation.verdict in ("exactly once", "in flight") else 0)
    yield ok
    if snap.fleet is not None:
        fleet = GaugeMetricFamily(
            "sensorlake_fleet_gateways",
            "gateways per fleet state (silent, behind, landing)",
            labels=["state"],
        )
        for state in FLEET_STATES:
            fleet.add_metric([state], snap.fleet.counts.get(state, 0))
        yield fleet


class _Metrics(Collector):
    def __init__(self, metrics: Iterable[Metric]) -> None:
        self.metrics = metrics

    def collect(self) -> Iterable[Metric]:
        return self.metrics


def _text(metrics: Iterable[Metric]) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Metrics(metrics))
    return generate_latest(registry)


def render_figures(snap: Snapshot) -> bytes:
    """The exposition of one snapshot's fixed figures (the costly part: a series per gateway)."""
    return _text(_figures(snap))


class Exposition:
    """``GET /metrics``: the same text as :func:`render` of a :class:`SnapshotCollector`, with
    the figures of a snapshot rendered once (:meth:`prepare`, called when the monitor
    publishes it; or by the first scrape, under a lock, so concurrent scrapes share one
    render) and only up and the age rendered per scrape. A scrape while the figures of a new
    snapshot are being rendered gets the previous snapshot's, whole (its age included), rather
    than wait."""

    def __init__(self, current: Callable[[], Snapshot | None], clock: Callable[[], float]):
        self.current = current
        self.clock = clock
        self._lock = threading.Lock()
        self._done: tuple[Snapshot, bytes] | None = None  # replaced whole: read without lock

    def prepare(self, snap: Snapshot) -> bytes:
        """The figures of ``snap``, rendered now unless they already are."""
        with self._lock:
            return self._figures_locked(snap)

    def _figures_locked(self, snap: Snapshot) -> bytes:
        done = self._done
        if done is None or done[0] is not snap:
            done = self._done = (snap, render_figures(snap))
        return done[1]

    def render(self) -> bytes:
        snap = self.current()
        if snap is None:
            return _text(_head(None, self.clock))
        done = self._done
        # Not rendered yet: render it (or wait for the render under way when there is no
        # previous one); a render under way and a previous one: that one, served whole.
        stale = done is None or done[0] is not snap
        if stale and self._lock.acquire(blocking=done is None):
            try:
                done = (snap, self._figures_locked(snap))
            finally:
                self._lock.release()
        assert done is not None
        return _text(_head(done[0], self.clock)) + done[1]


def _gateway_last_landed(snap: Snapshot) -> Metric:
    """The newest file each gateway landed, in any pipeline: the one per-gateway series (one
    sample per gateway, so a fleet of 1,000 adds 1,000 samples), what "silent" alerts on."""
    newest: dict[str, float] = {}
    for _location, partitions, *_ in snap.details.values():
        for part in partitions:
            ts = part.newest_object.timestamp()
            newest[part.gateway] = max(ts, newest.get(part.gateway, ts))
    gauge = GaugeMetricFamily(
        "sensorlake_gateway_last_landed_timestamp_seconds",
        "newest file a gateway landed, any pipeline",
        labels=["gateway"],
    )
    for gateway, ts in sorted(newest.items()):
        gauge.add_metric([gateway], ts)
    return gauge


def render(collector: SnapshotCollector) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return generate_latest(registry)
