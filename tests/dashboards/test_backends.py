"""Every backend fails alone, fast: S3 and Databricks endpoints on 127.0.0.1 that hang, refuse
or answer garbage blind only themselves, within the backend's time bound, with a one-line
reason; the others' figures are served; ``sensorlake status`` returns and says which backend
it could not read (exit 75)."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from sensorlake.contract.errors import ExitCode
from sensorlake.contract.pipelines import BUCKET_ENV, LANDING_ROLES
from sensorlake.dashboards.app import create_app
from sensorlake.dashboards.backends import BoundedBackend
from sensorlake.dashboards.monitor import FIRST_ANSWER_SECONDS, Monitor, _guard, make_readers
from sensorlake.dashboards.settings import load_settings

from .conftest import Flow

pytestmark = pytest.mark.dashboards

# Generous: these bound a hang (the test would otherwise never end), they time nothing.
HANG_GUARD_SECONDS = 60.0


@contextlib.contextmanager
def bad_endpoint(kind: str) -> Iterator[str]:
    """``hang``: accepts connections and never answers; ``garbage``: answers every request
    with a 200 that is not what the client expects; ``refuse``: nothing listens."""
    if kind == "refuse":
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        yield f"http://127.0.0.1:{port}"
        return
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    server.settimeout(0.2)
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(conn)  # "hang": keep it open, never answer
            if kind == "garbage":
                with contextlib.suppress(OSError):
                    conn.settimeout(2)
                    conn.recv(65536)
                    body = b"\x00garbage, not XML, JSON or Thrift\xff"
                    conn.sendall(
                        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                        + f"Content-Length: {len(body)}\r\n\r\n".encode()
                        + body
                    )
                    conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        server.close()
        for conn in held:
            with contextlib.suppress(OSError):
                conn.close()
        thread.join(timeout=5)


def _bounded(fn, *args):  # type: ignore[no-untyped-def]
    """Run ``fn`` and fail (instead of hanging the suite) if it does not return."""
    result: list = []
    thread = threading.Thread(target=lambda: result.append(fn(*args)), daemon=True)
    thread.start()
    thread.join(HANG_GUARD_SECONDS)
    assert result, f"{fn.__name__} did not return within {HANG_GUARD_SECONDS} s"
    return result[0]


def _component(monitor: Monitor, name: str) -> dict:
    client = TestClient(create_app(monitor, start_monitor=False), base_url="http://127.0.0.1:8000")
    health = client.get("/api/health")
    assert health.status_code == 200, health.text
    return next(c for c in health.json()["components"] if c["name"] == name)


def _s3_env(endpoint: str) -> dict[str, str]:
    return {
        **{BUCKET_ENV[role]: f"sl-bad-{role}" for role in LANDING_ROLES},
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "SENSORLAKE_BACKEND_TIMEOUT_SECONDS": "1",
    }


def _databricks_env(endpoint: str) -> dict[str, str]:
    return {
        "DATABRICKS_HOST": endpoint,
        "DATABRICKS_HTTP_PATH": "/sql/1.0/warehouses/abc",
        "DATABRICKS_TOKEN": "dapi-not-a-real-token",
        "SENSORLAKE_BACKEND_TIMEOUT_SECONDS": "1",
    }


# -- the bounded call itself ---------------------------------------------------------------


def test_a_stuck_read_is_reported_once_and_not_started_again() -> None:
    release = threading.Event()
    calls: list[int] = []

    def stuck() -> str:
        calls.append(1)
        release.wait(30)
        return "figures"

    now = [1_800_000_000.0]
    backend: BoundedBackend[str] = BoundedBackend("the tables", _guard, clock=lambda: now[0])
    first = backend.read(stuck, timeout=0.2)
    assert first.value is None
    assert first.error is not None
    assert first.error.startswith("unreachable since 2027-01-15 08:00:00 UTC: no answer from")
    now[0] += 60
    second = backend.read(stuck, timeout=0.2)
    assert calls == [1], "a read still stuck must not be started again"
    assert second.error is not None and "since 2027-01-15 08:00:00 UTC" in second.error
    release.set()
    time.sleep(0.1)
    third = backend.read(lambda: "fresh", timeout=5)
    assert (third.value, third.error) in (("figures", None), ("fresh", None))
    assert backend.failing_since is None
    assert backend.read(lambda: "fresh", timeout=5).value == "fresh"


def test_a_slow_backend_is_served_late_not_never() -> None:
    """A read that outlives its bound but then finishes is the next refresh's answer (a big
    listing slower than the bound must not be restarted, and lost, on every refresh)."""
    finished = threading.Event()

    def slow() -> str:
        time.sleep(0.5)
        finished.set()
        return "listing"

    backend: BoundedBackend[str] = BoundedBackend("the landing zone", _guard)
    assert backend.read(slow, timeout=0.05).error is not None
    assert finished.wait(10)
    late = backend.read(lambda: "restarted", timeout=5)
    assert (late.value, late.error) == ("listing", None)
    assert backend.read(lambda: "next", timeout=5).value == "next"


def test_a_failing_read_keeps_the_time_it_first_failed() -> None:
    from sensorlake.dashboards.errors import BackendUnavailable

    now = [1_800_000_000.0]
    backend: BoundedBackend[str] = BoundedBackend("the landing zone", _guard, clock=lambda: now[0])

    def fail() -> str:
        raise BackendUnavailable("cannot reach S3 for bucket b")

    assert backend.read(fail, 5).error == (
        "unreachable since 2027-01-15 08:00:00 UTC: cannot reach S3 for bucket b"
    )
    now[0] += 120
    assert "since 2027-01-15 08:00:00 UTC" in (backend.read(fail, 5).error or "")


# -- one backend bad, the others served ----------------------------------------------------


@pytest.mark.parametrize("kind", ["hang", "garbage", "refuse"])
def test_a_bad_s3_endpoint_blinds_only_the_landing_zone(
    kind: str, flow: Flow, monkeypatch: pytest.MonkeyPatch
) -> None:
    with bad_endpoint(kind) as endpoint:
        for name, value in _s3_env(endpoint).items():
            monkeypatch.setenv(name, value)
        settings = load_settings(state_dir=flow.state)
        monitor = Monitor(settings, make_readers(settings))
        try:
            _bounded(monitor.refresh)
            landing = _component(monitor, "landing")
            gateway = _component(monitor, "gateway")
        finally:
            monitor.stop()
    assert landing["status"] == "unavailable"
    assert landing["reason"].startswith("unreachable since ")
    assert "\n" not in landing["reason"] and "Traceback" not in landing["reason"]
    assert gateway["status"] == "healthy", gateway  # the gateway's runs are still read


@pytest.mark.parametrize("kind", ["hang", "garbage", "refuse"])
def test_a_bad_databricks_host_blinds_only_the_tables(
    kind: str, flow: Flow, monkeypatch: pytest.MonkeyPatch
) -> None:
    with bad_endpoint(kind) as endpoint:
        for name, value in _databricks_env(endpoint).items():
            monkeypatch.setenv(name, value)
        settings = load_settings(lake_dir=flow.lake, state_dir=flow.state)
        monitor = Monitor(settings, make_readers(settings))
        try:
            snap = _bounded(monitor.refresh)
            tables = _component(monitor, "tables")
        finally:
            monitor.stop()
    assert tables["status"] == "unavailable"
    # Bounded either way: the whole read timed out ("unreachable since"), or every table's
    # query failed fast with its own one-line reason (the connector refusing the address).
    reason = tables["reason"]
    assert "unreachable since " in reason or reason.startswith("Databricks could not"), reason
    assert "\n" not in reason
    assert "dapi-not-a-real-token" not in json.dumps(tables)
    raw = next(p for p in snap.metrics.pipelines if p.pipeline == "raw")
    assert raw.error is None and raw.records == 1_500  # the lake's figures are served
    assert snap.status.jobs_error and snap.status.jobs_error.startswith("unreachable since ")


def test_status_returns_and_names_what_it_could_not_read(flow: Flow) -> None:
    """Both S3 and Databricks hang: ``sensorlake status`` (a subprocess, as cron runs it)
    still answers within its deadline, exit 75 (try again later), naming each backend."""
    sensorlake = str(Path(sys.executable).parent / "sensorlake")
    with bad_endpoint("hang") as s3, bad_endpoint("hang") as databricks:
        env = {
            **os.environ,
            **_s3_env(s3),
            **_databricks_env(databricks),
            "SENSORLAKE_STATE_DIR": str(flow.state),
            "SENSORLAKE_STATUS_TIMEOUT_SECONDS": "3",
        }
        out = subprocess.run(
            [sensorlake, "status", "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=HANG_GUARD_SECONDS,
            check=False,
        )
    assert out.returncode == ExitCode.UNAVAILABLE, out.stdout + out.stderr
    report = json.loads(out.stdout)
    reasons = " | ".join(report["reasons"])
    assert "landing: unreachable since" in reasons
    assert "tables: unreachable since" in reasons
    assert "Traceback" not in out.stderr
    assert "dapi-not-a-real-token" not in out.stdout + out.stderr


class _HeldTables:
    """The flow's tables, each read held until ``release`` is set (a warehouse starting)."""

    def __init__(self, tables: object) -> None:
        self.tables = tables
        self.kind = tables.kind  # type: ignore[attr-defined]
        self.release = threading.Event()

    def table_stats(self, target: str) -> object:
        self.release.wait(HANG_GUARD_SECONDS)
        return self.tables.table_stats(target)  # type: ignore[attr-defined]


def test_the_first_answer_does_not_wait_for_the_tables(flow: Flow) -> None:
    flow.ingest()
    monitor = flow.monitor(backend_timeout_seconds=30.0)
    held = _HeldTables(monitor.readers.tables)
    monitor.readers.tables = held  # type: ignore[assignment]
    started = time.monotonic()
    monitor.start()
    try:
        first = monitor.snapshot(wait=HANG_GUARD_SECONDS)
        took = time.monotonic() - started
        assert first is not None
        # The landing zone at hand, within the first answer's wait, not the backend's 30 s.
        assert took < FIRST_ANSWER_SECONDS + 5, took
        raw = next(p for p in first.metrics.pipelines if p.pipeline == "raw")
        assert raw.error is None and raw.records == 1_500
        tables = next(c for c in first.health.components if c.name == "tables")
        assert tables.status == "unavailable" and "no answer from the tables" in (
            tables.reason or ""
        )
        held.release.set()  # the tables answer: the next refresh, a second later, has them
        deadline = time.monotonic() + HANG_GUARD_SECONDS
        while time.monotonic() < deadline:
            snap = monitor.snapshot()
            assert snap is not None
            tables = next(c for c in snap.health.components if c.name == "tables")
            if tables.status == "healthy":
                break
            time.sleep(0.1)
        assert tables.status == "healthy", tables
        assert time.monotonic() - started < 30.0  # not a backend bound later
    finally:
        held.release.set()
        monitor.stop()
