"""The snapshot's figures for Prometheus (``GET /metrics``), on the app's own registry."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .snapshot import Snapshot

__all__ = ["SnapshotCollector", "render"]

STATES = ("healthy", "lagging", "stalled", "unknown")
COMPONENT_STATES = ("healthy", "degraded", "unavailable", "not configured")


class SnapshotCollector(Collector):
    def __init__(self, current: Callable[[], Snapshot | None], clock: Callable[[], float]):
        self.current = current
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        snap = self.current()
        up = GaugeMetricFamily("sensorlake_monitor_up", "1 once the monitor has read every backend")
        up.add_metric([], 0 if snap is None else 1)
        yield up
        if snap is None:
            return
        age = GaugeMetricFamily(
            "sensorlake_monitor_snapshot_age_seconds", "how old the figures are"
        )
        age.add_metric([], max(0.0, self.clock() - snap.at))
        yield age

        component = GaugeMetricFamily(
            "sensorlake_component_state",
            "1 for the state a component is in",
            labels=["component", "backend", "state"],
        )
        for c in snap.health.components:
            for state in COMPONENT_STATES:
                component.add_metric([c.name, c.backend, state], 1 if c.status == state else 0)
        yield component

        landed = {
            name: GaugeMetricFamily(f"sensorlake_landed_{name}", doc, labels=["pipeline"])
            for name, doc in (
                ("objects", "landed files"),
                ("bytes", "landed bytes"),
                ("records", "landed records, from object metadata"),
                ("records_last_hour", "records landed in the last hour"),
            )
        }
        newest = GaugeMetricFamily(
            "sensorlake_landed_newest_timestamp_seconds", "newest landed file", labels=["pipeline"]
        )
        for p in snap.metrics.pipelines:
            landed["objects"].add_metric([p.pipeline], p.objects)
            landed["bytes"].add_metric([p.pipeline], p.bytes)
            landed["records"].add_metric([p.pipeline], p.records)
            landed["records_last_hour"].add_metric([p.pipeline], p.records_last_hour)
            if p.newest_object is not None:
                newest.add_metric([p.pipeline], p.newest_object.timestamp())
        yield from landed.values()
        yield newest

        rows = GaugeMetricFamily(
            "sensorlake_table_rows", "rows in the table", labels=["pipeline", "table"]
        )
        version = GaugeMetricFamily(
            "sensorlake_table_version", "latest Delta version", labels=["pipeline", "table"]
        )
        rescued = GaugeMetricFamily(
            "sensorlake_table_rescued_rows", "rows with _rescued_data", labels=["pipeline", "table"]
        )
        for t in snap.tables.tables:
            if t.rows is not None:
                rows.add_metric([t.pipeline, t.table], t.rows)
            if t.latest_version is not None:
                version.add_metric([t.pipeline, t.table], t.latest_version)
            if t.rescued_data_rows is not None:
                rescued.add_metric([t.pipeline, t.table], t.rescued_data_rows)
        yield from (rows, version, rescued)

        state = GaugeMetricFamily(
            "sensorlake_pipeline_state",
            "1 for the state a pipeline is in",
            labels=["pipeline", "state"],
        )
        backlog = GaugeMetricFamily(
            "sensorlake_backlog_files", "files landed, not yet ingested", labels=["pipeline"]
        )
        backlog_records = GaugeMetricFamily(
            "sensorlake_backlog_records", "records landed, not yet ingested", labels=["pipeline"]
        )
        lag = GaugeMetricFamily(
            "sensorlake_ingestion_lag_seconds",
            "age of the oldest file not yet ingested",
            labels=["pipeline"],
        )
        for p in snap.status.pipelines:
            for s in STATES:
                state.add_metric([p.pipeline, s], 1 if p.state == s else 0)
            if p.backlog_files is not None:
                backlog.add_metric([p.pipeline], p.backlog_files)
            if p.backlog_records is not None:
                backlog_records.add_metric([p.pipeline], p.backlog_records)
            if p.lag_seconds is not None:
                lag.add_metric([p.pipeline], p.lag_seconds)
        yield from (state, backlog, backlog_records, lag)

        labels = ["pipeline", "gateway"]
        missing = GaugeMetricFamily(
            "sensorlake_reconciliation_missing_records",
            "landed records missing from the table",
            labels=labels,
        )
        dups = GaugeMetricFamily(
            "sensorlake_reconciliation_duplicate_rows",
            "rows beyond the first per _lineage id",
            labels=labels,
        )
        pending = GaugeMetricFamily(
            "sensorlake_reconciliation_pending_records",
            "landed records on their way",
            labels=labels,
        )
        for r in snap.reconciliation.rows:
            if r.missing_records is not None:
                missing.add_metric([r.pipeline, r.gateway], r.missing_records)
            if r.duplicate_rows is not None:
                dups.add_metric([r.pipeline, r.gateway], r.duplicate_rows)
            if r.pending_records is not None:
                pending.add_metric([r.pipeline, r.gateway], r.pending_records)
        yield from (missing, dups, pending)
        ok = GaugeMetricFamily(
            "sensorlake_reconciliation_exactly_once", "1 when nothing is missing or doubled"
        )
        ok.add_metric([], 1 if snap.reconciliation.verdict in ("exactly once", "in flight") else 0)
        yield ok


def render(collector: SnapshotCollector) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return generate_latest(registry)
