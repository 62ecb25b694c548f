"""``sensorlake monitor`` and ``sensorlake status``: thin entry points over the package."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from sensorlake.contract.cli import path_option
from sensorlake.contract.errors import exit_with

from .errors import DashboardError

__all__ = ["monitor", "status"]

log = logging.getLogger(__name__)


def _paths(fn: Any) -> Any:
    for name in ("checkpoint", "warehouse", "state", "lake"):
        fn = path_option(name)(fn)
    return fn


def _settings(ctx: click.Context, **paths: Path) -> Any:
    from .settings import load_settings

    # As in landing: --lake-dir on the command line forces the local lake even with buckets set.
    forced = ctx.get_parameter_source("lake_dir") == click.core.ParameterSource.COMMANDLINE
    return load_settings(**paths, force_local_lake=forced)


def _fail(exc: DashboardError) -> NoReturn:
    exit_with(exc)  # one line on stderr, the contract's exit code


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--allowed-host",
    "allowed_hosts",
    multiple=True,
    metavar="NAME",
    help="Also answer requests addressed to this host name (repeatable; or "
    "SENSORLAKE_MONITOR_ALLOWED_HOSTS, comma-separated). Other names get 403.",
)
@_paths
@click.pass_context
def monitor(
    ctx: click.Context, host: str, port: int, allowed_hosts: tuple[str, ...], **paths: Path
) -> None:
    """Serve the monitoring dashboard and API (http://127.0.0.1:8000, docs at /docs).

    Reads the local lake, gateway state and local Delta tables, or the S3 buckets
    (S3_BUCKET_*) and Databricks (DATABRICKS_HOST, DATABRICKS_HTTP_PATH, DATABRICKS_TOKEN).
    Beyond loopback (--host 0.0.0.0) it needs an access token: SENSORLAKE_MONITOR_TOKEN,
    or one made at start and printed once as a URL.
    """
    from . import redact
    from .monitor import Monitor, make_readers
    from .security import Access

    try:
        settings = _settings(ctx, **paths)
        redact.install(settings.secrets)
        access = Access.for_binding(
            host, allowed=(*settings.allowed_hosts, *allowed_hosts), token=settings.monitor_token
        )
        redact.add_secrets([access.token])
        mon = Monitor(settings, make_readers(settings))
    except DashboardError as exc:
        _fail(exc)
    # The first snapshot is read (cache, lake) while the web service's modules load (about a
    # second); the app's start finds the refresh running and stops it at the end.
    mon.start()
    import uvicorn

    from .app import create_app

    try:
        app = create_app(mon, access=access)
    except DashboardError as exc:
        _fail(exc)
    url = access.url(host, port)
    if access.generated:
        click.echo(
            f"sensorlake monitor on {host}:{port}, reachable from other machines; it needs this "
            f"access token. Open once (sets a cookie): {url}  Scripts and Prometheus: "
            "Authorization: Bearer <the token in that URL>",
            err=True,
        )
    elif access.token is not None:
        click.echo(
            f"sensorlake monitor on {url} (API docs at /docs); it needs the token in "
            f"SENSORLAKE_MONITOR_TOKEN: open {url}?token=<token> once, or send "
            "Authorization: Bearer <token>",
            err=True,
        )
    else:
        click.echo(f"sensorlake monitor on {url} (API docs at /docs)", err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@_paths
@click.pass_context
def status(ctx: click.Context, as_json: bool, **paths: Path) -> None:
    """Is every reading in its table? Infrastructure and tables, landing, monitoring.

    Exit 0 healthy, 1 degraded, 75 could not check (a backend could not be read in time:
    try again later), 2 a backend is not configured: usable from cron or CI as an alert.
    """
    import threading

    from rich.console import Console

    from . import redact
    from .monitor import Monitor, make_readers
    from .status import render, report

    before = set(threading.enumerate())  # a host's threads (a test runner's) are not ours
    try:
        settings = _settings(ctx, **paths)
        redact.install(settings.secrets)
        mon = Monitor(settings, make_readers(settings, consume_events=False))
    except DashboardError as exc:
        _fail(exc)
    try:
        snap = mon.refresh_complete()
    finally:
        mon.stop()
    rep = report(snap)
    if as_json:
        as_of = snap.health.as_of.isoformat() if snap.health.as_of else None
        click.echo(json.dumps({"as_of": as_of, **rep.as_dict()}, indent=2))
    else:
        render(rep, Console(), snap.at)
    _exit_now(rep.exit_code, before)


def _exit_now(code: int, before: set[Any] | None = None) -> NoReturn:
    """Exit with ``code`` even while a read is stuck on a dead endpoint or a slow table: the
    interpreter would otherwise join the S3 client's worker threads until their sockets time
    out, and finalizing it under a daemon thread still inside native code (a Delta or Arrow
    read) can crash the process (exit 139 seen under load), so any live thread means
    ``os._exit`` once the output is flushed. Only threads this command started count
    (``before``: those alive when it began), so a process that hosts the command (a test
    runner) is not ended under its own threads."""
    import os
    import threading

    sys.stdout.flush()
    sys.stderr.flush()
    mine = [t for t in threading.enumerate() if t not in (before or ()) and t.is_alive()]
    if any(t is not threading.current_thread() for t in mine):
        logging.shutdown()
        os._exit(code)
    sys.exit(code)
