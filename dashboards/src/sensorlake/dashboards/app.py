"""The web service: the API (typed, documented in /docs), Prometheus figures and the page.

``create_app(settings, monitor)`` wires a :class:`~.monitor.Monitor` in; the monitor starts
refreshing when the app starts and stops with it. Errors answer one line in ``detail``:
never a stack trace, never a path into the store, never a secret.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Annotated

from fastapi import FastAPI, HTTPException, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.exceptions import HTTPException as StarletteHTTPException

from sensorlake.contract.pipelines import TARGETS

from . import models as m
from .fleet import MAX_PER_PAGE
from .metrics import Exposition
from .monitor import Monitor
from .readers.base import EMERGENCIES_READ
from .security import API_POLICY, HEADERS, Access, SecurityMiddleware, inline_script_policy
from .snapshot import Snapshot

__all__ = ["STATIC", "create_app"]

log = logging.getLogger(__name__)

STATIC = files("sensorlake.dashboards") / "static"
_ERRORS = {404: {"model": m.ErrorResponse}, 503: {"model": m.ErrorResponse}}
_FIRST_READ = "still reading the landing zone for the first time; retry in a few seconds"


def _json(body: bytes) -> Response:
    """The bytes FastAPI would send for the response model, made once per snapshot
    (snapshot.py): a handler returning a Response skips FastAPI's validate-and-dump."""
    return Response(body, media_type="application/json")


def _prepare(snap: Snapshot) -> None:
    """On the refreshing thread, as a snapshot is published: the answers that do not change
    while it is current, so the first request after a refresh does not make them."""
    for name in ("metrics", "tables", "status", "reconciliation"):
        snap.json(name)
    snap.overview_json(snap.at)
    snap.fleet_page_json()


class _Page:
    """The page (index.html) from memory: read once, sent with its ETag and Cache-Control
    no-cache (a browser asks again each time and gets a 304 while it is the same)."""

    def __init__(self, path: Traversable) -> None:
        self.body = path.read_bytes()
        self.etag = f'"{hashlib.md5(self.body, usedforsecurity=False).hexdigest()}"'
        self.headers = {"Cache-Control": "no-cache", "ETag": self.etag}

    def response(self, request: Request) -> Response:
        wanted = request.headers.get("if-none-match", "")
        if self.etag in (t.strip() for t in wanted.split(",")):
            return Response(status_code=304, headers=self.headers)
        return Response(self.body, media_type="text/html", headers=self.headers)


def create_app(
    monitor: Monitor, *, start_monitor: bool = True, access: Access | None = None
) -> FastAPI:
    """``access``: the Host names and token the service answers (security.py); loopback
    names only, no token, by default."""
    clock = monitor.clock

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if start_monitor:
            monitor.start()
        try:
            yield
        finally:
            if start_monitor:
                monitor.stop()

    # FastAPIOffline: Swagger UI's files from the package (/static-offline-docs), not from a
    # CDN (the monitor must work on a machine without internet). /docs is ours, below, for its
    # policy; no /redoc (ReDoc injects <style> elements: it needs style-src 'unsafe-inline').
    app = FastAPIOffline(
        docs_url=None,
        redoc_url=None,
        title="sensorlake monitor",
        summary="Is every sensor reading in its table? Landing zone, tables, gateway, reconciliation.",
        version="0.1.0",
        lifespan=lifespan,
    )

    app.add_middleware(SecurityMiddleware, access=access)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"detail": str(exc.detail)}, status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def bad_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ())[1:]) or "request"
        return JSONResponse(
            {"detail": f"invalid {where}: {first.get('msg', 'bad value')}"}, status_code=422
        )

    @app.exception_handler(Exception)
    async def internal(_: Request, exc: Exception) -> JSONResponse:
        log.error("request failed", exc_info=exc)
        # Answered outside the middleware (Starlette's ServerErrorMiddleware): headers here.
        return JSONResponse(
            {"detail": "internal error; the monitor's log has the details"},
            status_code=500,
            headers={**HEADERS, "Content-Security-Policy": API_POLICY},
        )

    def current() -> Snapshot:
        snap = monitor.snapshot()
        if snap is None:
            raise HTTPException(503, _FIRST_READ)
        return snap

    async def published() -> Snapshot:
        """The last published snapshot, for handlers on the event loop (they send bytes the
        snapshot holds): never waits for a refresh; only before the first snapshot does it
        wait for one (as long as :func:`current`), on a worker thread."""
        snap = monitor.snapshot(wait=0)
        if snap is None:
            snap = await run_in_threadpool(monitor.snapshot)
        if snap is None:
            raise HTTPException(503, _FIRST_READ)
        return snap

    @app.get("/api/health", response_model=m.Health, responses=_ERRORS, tags=["api"])
    async def health() -> Response:
        """Overall and per component (landing zone, tables, gateway spool), with reasons."""
        return _json((await published()).health_json(clock()))

    @app.get("/api/s3-metrics", response_model=m.S3Metrics, responses=_ERRORS, tags=["api"])
    async def s3_metrics() -> Response:
        """Per pipeline: objects, bytes, records (object metadata), ages, last hour and day."""
        return _json((await published()).json("metrics"))

    @app.get(
        "/api/autoloader-tables", response_model=m.AutoloaderTables, responses=_ERRORS, tags=["api"]
    )
    async def autoloader_tables() -> Response:
        """Per table: rows, last ingestion, Delta version, files ingested, backlog, columns
        added since creation, rescued-data rows."""
        return _json((await published()).json("tables"))

    @app.get(
        "/api/bucket-details/{pipeline}",
        response_model=m.BucketDetails,
        responses=_ERRORS,
        tags=["api"],
    )
    def bucket_details(
        pipeline: Annotated[str, Path(description=f"one of {', '.join(TARGETS)}")],
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> m.BucketDetails:
        """Partitions (date, gateway) with counts and sizes, one page at a time, and the
        newest objects. An unknown pipeline is a 404."""
        if pipeline not in TARGETS:
            raise HTTPException(404, f"unknown pipeline; choose from {', '.join(TARGETS)}")
        snap = current()
        location, partitions, newest, objects, size, records = snap.details[pipeline]
        return m.BucketDetails(
            pipeline=pipeline,
            location=location,
            backend=snap.metrics.backend,
            as_of=snap.metrics.as_of,
            objects=objects,
            bytes=size,
            records=records,
            total_partitions=len(partitions),
            offset=offset,
            limit=limit,
            partitions=partitions[offset : offset + limit],
            newest_objects=newest,
        )

    @app.get(
        "/api/pipelines/status", response_model=m.PipelinesStatus, responses=_ERRORS, tags=["api"]
    )
    async def pipelines_status() -> Response:
        """Per pipeline: healthy, lagging or stalled, and why (freshness, lag, failures)."""
        return _json((await published()).json("status"))

    @app.get(
        "/api/reconciliation", response_model=m.Reconciliation, responses=_ERRORS, tags=["api"]
    )
    async def reconciliation() -> Response:
        """Per pipeline and gateway: records landed (object metadata) against rows in the
        table, and rows present more than once by _lineage (gateway, epoch, row id)."""
        return _json((await published()).json("reconciliation"))

    @app.get("/api/fleet", response_model=m.FleetPage, responses=_ERRORS, tags=["api"])
    async def fleet(
        page: Annotated[int, Query(ge=1, le=100_000, description="from 1")] = 1,
        per_page: Annotated[int, Query(ge=1, le=MAX_PER_PAGE)] = 50,
        q: Annotated[
            str, Query(max_length=64, description="part of a gateway id (case-insensitive)")
        ] = "",
        state: Annotated[m.GatewayFleetState | None, Query()] = None,
    ) -> Response:
        """Per gateway: the last file landed per pipeline, files and records in the last hour
        and day, and its state (silent, behind, landing), worst first, one page at a time;
        the totals count the whole fleet."""
        return _json((await published()).fleet_page_json(page, per_page, q, state))

    @app.get("/api/emergencies", response_model=m.Emergencies, responses=_ERRORS, tags=["api"])
    def emergencies(
        limit: Annotated[int, Query(ge=1, le=EMERGENCIES_READ)] = 20,
    ) -> m.Emergencies:
        """The newest emergency readings from the emergency table (sensor, gateway, time,
        the rules it tripped, its values), newest first."""
        alarms = current().emergencies
        if alarms is None:
            raise HTTPException(503, "the emergency table has not been read yet")
        return alarms.model_copy(update={"readings": alarms.readings[:limit]})

    @app.get("/api/overview", response_model=m.Overview, responses=_ERRORS, tags=["page"])
    async def overview() -> Response:
        """Everything the page shows, in one request, with the chart series."""
        return _json((await published()).overview_json(clock()))

    exposition = Exposition(lambda: monitor.snapshot(wait=0), clock)
    monitor.on_publish.append(exposition.prepare)
    monitor.on_publish.append(_prepare)

    @app.get("/metrics", tags=["prometheus"], response_class=Response)
    def metrics() -> Response:
        """The same figures in Prometheus' text format."""
        return Response(exposition.render(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/docs", include_in_schema=False)
    def docs(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - API",
            swagger_js_url=f"{root}/static-offline-docs/swagger-ui-bundle.js",
            swagger_css_url=f"{root}/static-offline-docs/swagger-ui.css",
            swagger_favicon_url=f"{root}/static-offline-docs/favicon.png",
            swagger_ui_parameters={"validatorUrl": None},  # no badge from validator.swagger.io
        )
        # The page's one inline script (its configuration) runs by hash; nothing else inline.
        page.headers["Content-Security-Policy"] = inline_script_policy(bytes(page.body).decode())
        return page

    index = _Page(STATIC / "index.html")

    @app.get("/", include_in_schema=False)
    async def page(request: Request) -> Response:
        return index.response(request)

    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    app.state.monitor = monitor
    app.state.started = time.time()
    return app
