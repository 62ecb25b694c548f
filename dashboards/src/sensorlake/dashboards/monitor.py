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

from .errors import DashboardError, NotConfigured
from .readers.base import GatewayStateReader, Inputs, LandingReader, TableReader
from .readers.gateway import LocalGatewayReader
from .readers.lake import LocalLakeReader
from .settings import Settings
from .snapshot import Snapshot, build

__all__ = ["Monitor", "Readers", "make_readers"]

log = logging.getLogger(__name__)

# While a first scan is still counting records, publish progress this often.
INCOMPLETE_RETRY_SECONDS = 1.0


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


def make_readers(settings: Settings) -> Readers:
    landing: LandingReader
    if settings.s3 is not None:
        from .readers.s3 import S3LandingReader

        landing = S3LandingReader(settings.s3)
    else:
        landing = LocalLakeReader(settings.lake_dir)
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

    # -- reading ---------------------------------------------------------------------------

    def collect(self) -> Inputs:
        r = self.readers
        listing, landing_error = _guard("the landing zone", r.landing.list_landed)
        tables: dict[str, Any] = {}
        table_errors: dict[str, str] = {}
        if r.tables is not None:
            for target in TARGETS:
                stats, error = _guard(
                    f"table of {target}", lambda t=target: r.tables.table_stats(t)
                )  # type: ignore[union-attr]
                if error:
                    table_errors[target] = error
                tables[target] = stats
        job_runs, jobs_error = (), None
        if r.tables is not None and hasattr(r.tables, "job_runs"):
            runs, jobs_error = _guard("Databricks job runs", r.tables.job_runs)  # type: ignore[attr-defined]
            job_runs = tuple(runs or ())
        gateway, gateway_error = _guard("the gateway state", r.gateway.gateway_state)
        return Inputs(
            landing_kind=r.landing.kind,
            landing=listing,
            landing_error=landing_error,
            tables_kind=r.tables_kind,
            tables=tables,
            table_errors=table_errors,
            tables_not_configured=r.tables_not_configured,
            gateway=gateway,
            gateway_error=gateway_error,
            read_at=self.clock(),
            job_runs=job_runs,
            jobs_error=jobs_error,
        )

    def refresh(self) -> Snapshot:
        """Read every backend now and publish the result (one refresh at a time)."""
        with self._refresh_lock:
            started = time.monotonic()
            snapshot = build(self.collect(), self.settings.thresholds)
            self._snapshot = snapshot
            self.refreshes += 1
            self._ready.set()
            log.info("refreshed in %.2f s", time.monotonic() - started)
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

    def refresh_complete(self, timeout: float = 3600.0) -> Snapshot:
        """Refresh until every record count is read (what a one-shot report needs)."""
        deadline = time.monotonic() + timeout
        snapshot = self.refresh()
        while not snapshot.complete and time.monotonic() < deadline:
            snapshot = self.refresh()
        return snapshot

    def _loop(self) -> None:
        while not self._stop.is_set():
            ttl = self.settings.cache_ttl_seconds
            try:
                if not self.refresh().complete:
                    ttl = min(ttl, INCOMPLETE_RETRY_SECONDS)  # counts still arriving
            except Exception:
                log.exception("refresh failed; keeping the previous figures")
            self._wake.wait(ttl)
            self._wake.clear()
