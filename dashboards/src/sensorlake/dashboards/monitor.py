"""Keeps the latest :class:`~.snapshot.Snapshot`, refreshed in the background.

Requests never list a bucket: they read the snapshot the refresher built, so a slow or big
landing zone makes the figures a few seconds older, never the page slower. A backend that
fails shows up in the snapshot as a reason (health, "not configured"), never as an exception
to a request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from sensorlake.contract.pipelines import TARGETS

from .backends import BoundedBackend, read_all
from .cache import MonitorCache
from .errors import DashboardError, NotConfigured
from .readers.base import GatewayStateReader, Inputs, LandingReader, TableReader
from .readers.gateway import LocalGatewayReader
from .readers.lake import LocalLakeReader
from .settings import Settings
from .snapshot import Snapshot, build

__all__ = [
    "BACKEND_LABELS",
    "FIRST_ANSWER_SECONDS",
    "INCOMPLETE_RETRY_SECONDS",
    "Monitor",
    "Readers",
    "make_readers",
]

log = logging.getLogger(__name__)

# The name of each backend in "no answer from ... after N s".
BACKEND_LABELS = {
    "landing": "the landing zone",
    "tables": "the tables",
    "jobs": "Databricks job runs",
    "gateway": "the gateway state",
    "emergencies": "the emergency table",
}

# While a first scan is still counting records, publish progress this often.
INCOMPLETE_RETRY_SECONDS = 1.0
# The service's first snapshot waits this long at most for the tables, job runs and alarms
# (a Databricks warehouse that is starting, a hanging endpoint, deltalake's first import):
# the first answer is the landing zone and gateway at hand (cache, lake); what is left
# arrives with the next refresh, a second later.
FIRST_ANSWER_SECONDS = 3.0
_NOT_AT_HAND = ("tables", "jobs", "emergencies")


class Readers:
    """The three sources, chosen from the settings once."""

    def __init__(
        self,
        landing: LandingReader,
        tables: TableReader | None,
        gateway: GatewayStateReader,
        *,
        tables_kind: str,
        tables_not_configured: str | None = None,
    ) -> None:
        self.landing = landing
        self.tables = tables
        self.gateway = gateway
        self.tables_kind = tables_kind
        self.tables_not_configured = tables_not_configured


def make_readers(settings: Settings, *, consume_events: bool = True) -> Readers:
    """The readers the settings name. ``consume_events=False`` (``status``): never read the
    event queue, whose messages belong to the running monitor (SQS gives each to one
    receiver, and a message deleted by ``status`` would be lost to the monitor)."""
    landing: LandingReader
    if settings.s3 is not None:
        from .readers.s3 import S3LandingReader

        s3 = settings.s3
        where = f"s3 {s3.endpoint_url or 'aws'} " + " ".join(sorted(s3.buckets.values()))
        events = None
        if settings.monitor_queue_url and consume_events:
            from .readers.s3_events import S3EventQueue

            events = S3EventQueue(
                settings.monitor_queue_url,
                region=s3.region,
                endpoint_url=settings.sqs_endpoint_url,
                timeout_seconds=s3.timeout_seconds,
            )
        landing = S3LandingReader(
            s3,
            cache=MonitorCache(settings.cache_path, where),
            events=events,
            relist_seconds=settings.monitor_relist_seconds,
        )
    else:
        where = f"lake {settings.lake_dir.resolve()}"
        landing = LocalLakeReader(settings.lake_dir, cache=MonitorCache(settings.cache_path, where))
    gateway = LocalGatewayReader(settings.state_dir)
    if settings.tables == "local":
        from .readers.warehouse import LocalWarehouseReader

        tables = LocalWarehouseReader(
            settings.warehouse_dir, settings.checkpoint_dir, settings.catalog, settings.schema
        )
        return Readers(landing, tables, gateway, tables_kind=tables.kind)
    from .readers.databricks import DatabricksReader

    try:
        return Readers(
            landing,
            DatabricksReader(settings.databricks, settings.catalog, settings.schema),
            gateway,
            tables_kind="databricks",
        )
    except NotConfigured as exc:
        return Readers(
            landing, None, gateway, tables_kind="databricks", tables_not_configured=exc.message
        )


def _guard(what: str, fn: Callable[[], Any]) -> tuple[Any, str | None]:
    """Run a reader; a failure becomes a reason (an unexpected one is logged, not shown)."""
    try:
        return fn(), None
    except DashboardError as exc:
        return None, exc.message
    except Exception:
        log.exception("unexpected failure reading %s", what)
        return None, f"unexpected error reading {what} (details in the monitor's log)"


class Monitor:
    def __init__(
        self,
        settings: Settings,
        readers: Readers,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.readers = readers
        self.clock = clock
        self._snapshot: Snapshot | None = None
        self._ready = threading.Event()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._refresh_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.refreshes = 0
        self.listing_pending = False
        # Called with each snapshot once it is published, on the refreshing thread: work a
        # snapshot needs once (the /metrics text), done before a request asks for it.
        self.on_publish: list[Callable[[Snapshot], Any]] = []
        self._backends: dict[str, BoundedBackend[Any]] = {
            name: BoundedBackend(label, _guard, clock=clock)
            for name, label in BACKEND_LABELS.items()
        }

    # -- reading ---------------------------------------------------------------------------

    def collect(self, timeout: float | None = None, *, first_answer: bool = False) -> Inputs:
        """Read every backend in parallel, each bounded by ``backend_timeout_seconds`` (or
        ``timeout`` when it is shorter: what is left of a report's own deadline);
        ``first_answer``: the tables, job runs and alarms by :data:`FIRST_ANSWER_SECONDS`."""
        r = self.readers
        calls: dict[str, tuple[BoundedBackend[Any], Callable[[], Any]]] = {
            "landing": (self._backends["landing"], r.landing.list_landed),
            "gateway": (self._backends["gateway"], r.gateway.gateway_state),
        }
        if r.tables is not None:
            calls["tables"] = (self._backends["tables"], self._read_tables)
            if hasattr(r.tables, "job_runs"):
                calls["jobs"] = (self._backends["jobs"], r.tables.job_runs)  # type: ignore[attr-defined]
            if hasattr(r.tables, "latest_emergencies"):
                # Its own bounded read: the alarms never wait for the other tables' figures.
                calls["emergencies"] = (self._backends["emergencies"], r.tables.latest_emergencies)  # type: ignore[attr-defined]
        bound = self.settings.backend_timeout_seconds
        shorter = dict.fromkeys(_NOT_AT_HAND, FIRST_ANSWER_SECONDS) if first_answer else None
        answers = read_all(
            calls, bound if timeout is None else min(bound, timeout), shorter=shorter
        )
        tables: dict[str, Any] = {}
        table_errors: dict[str, str] = {}
        if "tables" in answers:
            read = answers["tables"]
            if read.error is not None:
                table_errors = {target: read.error for target in TARGETS}
                tables = dict.fromkeys(TARGETS)
            else:
                tables, table_errors = read.value
        jobs = answers.get("jobs")
        alarms = answers.get("emergencies")
        return Inputs(
            landing_kind=r.landing.kind,
            landing=answers["landing"].value,
            landing_error=answers["landing"].error,
            tables_kind=r.tables_kind,
            tables=tables,
            table_errors=table_errors,
            tables_not_configured=r.tables_not_configured,
            gateway=answers["gateway"].value,
            gateway_error=answers["gateway"].error,
            read_at=self.clock(),
            job_runs=tuple((jobs.value if jobs else None) or ()),
            jobs_error=jobs.error if jobs else None,
            emergencies=tuple((alarms.value if alarms else None) or ()),
            emergencies_error=alarms.error if alarms else None,
        )

    def _read_tables(self) -> tuple[dict[str, Any], dict[str, str]]:
        """Every table, one after the other, on the tables backend's own thread; a table
        that fails is a reason for that table only."""
        tables: dict[str, Any] = {}
        errors: dict[str, str] = {}
        for target in TARGETS:
            stats, error = _guard(
                f"table of {target}",
                lambda t=target: self.readers.tables.table_stats(t),  # type: ignore[union-attr]
            )
            if error:
                errors[target] = error
            tables[target] = stats
        return tables, errors

    def refresh(self, timeout: float | None = None, *, first_answer: bool = False) -> Snapshot:
        """Read every backend now and publish the result (one refresh at a time)."""
        with self._refresh_lock:
            started = time.monotonic()
            inputs = self.collect(timeout, first_answer=first_answer)
            snapshot = build(inputs, self.settings.thresholds)
            # An S3 listing cycle longer than one refresh's budget goes on at the next.
            landing = inputs.landing
            self.listing_pending = bool(landing is not None and any(landing.pending.values()))
            self._snapshot = snapshot
            self.refreshes += 1
            self._ready.set()
            log.info("refreshed in %.2f s", time.monotonic() - started)
            for hook in self.on_publish:
                try:
                    hook(snapshot)
                except Exception:
                    log.exception("preparing the published snapshot failed")
            return snapshot

    def snapshot(self, wait: float | None = None) -> Snapshot | None:
        """The latest snapshot; waits up to ``wait`` seconds for the first one."""
        if self._snapshot is None:
            self._ready.wait(self.settings.first_scan_wait_seconds if wait is None else wait)
        return self._snapshot

    # -- background ------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="monitor-refresh", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            # A refresh in the middle of a listing is abandoned (the thread is a daemon).
            self._thread.join(timeout=5)
            self._thread = None
        close = getattr(self.readers.landing, "close", None)
        if close is not None:
            close()

    def wake(self) -> None:
        """Refresh now instead of at the end of the current wait."""
        self._wake.set()

    def refresh_complete(self, timeout: float | None = None) -> Snapshot:
        """Refresh until every record count is read (what a one-shot report needs), within
        ``timeout`` (``status_timeout_seconds``) whatever hangs: the last snapshot then says
        which backend did not answer, or that counts are still missing."""
        budget = self.settings.status_timeout_seconds if timeout is None else timeout
        deadline = time.monotonic() + budget
        snapshot = self.refresh(timeout=budget)
        while (not snapshot.complete or self.listing_pending) and (
            left := deadline - time.monotonic()
        ) > 0.5:
            snapshot = self.refresh(timeout=left)
        return snapshot

    def _loop(self) -> None:
        while not self._stop.is_set():
            ttl = self.settings.cache_ttl_seconds
            first = self._snapshot is None
            try:
                if not self.refresh(first_answer=first).complete or self.listing_pending or first:
                    # counts or listings to come, or what the first answer did not wait for
                    ttl = min(ttl, INCOMPLETE_RETRY_SECONDS)
            except Exception:
                log.exception("refresh failed; keeping the previous figures")
            self._wake.wait(ttl)
            self._wake.clear()
