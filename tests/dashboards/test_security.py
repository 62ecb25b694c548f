"""The monitor on a hostile network: DNS rebinding (the Host check), an access token beyond
loopback, and the browser policy on every response.

The Host check follows Jupyter's (jupyter_server ``base/handlers.py``, ``check_host``): a page
on a name the attacker controls, re-pointed at 127.0.0.1, still sends that name in ``Host``.
"""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from sensorlake.dashboards.app import create_app
from sensorlake.dashboards.security import Access

from .conftest import Flow

pytestmark = pytest.mark.dashboards

EVERY_KIND = ["/", "/static/index.html", "/docs", "/openapi.json", "/api/health", "/metrics"]


@pytest.fixture
def app(flow: Flow) -> Any:
    monitor = flow.monitor()
    monitor.refresh()
    return lambda **kw: create_app(monitor, start_monitor=False, **kw)


@pytest.mark.parametrize(
    "host",
    [
        "testserver",
        "attacker.example",
        "attacker.example:8000",
        "127.0.0.1.attacker.example",
        "localhost.attacker.example:8000",
        "",
        "bad host",
    ],
)
@pytest.mark.parametrize("path", EVERY_KIND)
def test_a_foreign_host_is_refused_everywhere(app: Any, host: str, path: str) -> None:
    client = TestClient(app())
    response = client.get(path, headers={"host": host})
    assert response.status_code == 403
    assert "--allowed-host" in response.json()["detail"]
    assert "\n" not in response.json()["detail"]
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    "host",
    ["localhost", "localhost:8000", "LOCALHOST.", "127.0.0.1", "127.0.0.1:8000", "[::1]:8000"],
)
def test_loopback_names_are_answered(app: Any, host: str) -> None:
    client = TestClient(app())
    assert client.get("/api/health", headers={"host": host}).status_code == 200


def test_the_bound_name_and_allowed_hosts_are_answered(app: Any) -> None:
    token = "t" * 32  # given, so no name lookup decides whether monitor.lan is loopback
    access = Access.for_binding("monitor.lan", allowed=["ops.example:9000,10.0.0.7"], token=token)
    client = TestClient(app(access=access), headers={"authorization": f"Bearer {access.token}"})
    for host in ("monitor.lan:8000", "ops.example", "10.0.0.7:8000", "localhost"):
        assert client.get("/api/health", headers={"host": host}).status_code == 200, host
    assert client.get("/api/health", headers={"host": "10.0.0.8"}).status_code == 403


def test_a_wildcard_binding_answers_ip_literals_but_not_foreign_names(app: Any) -> None:
    access = Access.for_binding("0.0.0.0")
    client = TestClient(app(access=access), headers={"authorization": f"Bearer {access.token}"})
    assert client.get("/api/health", headers={"host": "192.168.1.20:8000"}).status_code == 200
    assert client.get("/api/health", headers={"host": "attacker.example"}).status_code == 403


def run_monitor(
    monkeypatch: pytest.MonkeyPatch, flow: Flow, *args: str, env: dict[str, str] | None = None
) -> tuple[Any, dict[str, Any], str]:
    """``sensorlake monitor`` up to the server start: the app it would serve, how, its output."""
    import uvicorn

    from sensorlake.dashboards.cli import monitor

    served: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: served.update(app=app, **kw))
    paths = ["--lake-dir", str(flow.lake), "--state-dir", str(flow.state)]
    paths += ["--warehouse-dir", str(flow.warehouse), "--checkpoint-dir", str(flow.checkpoints)]
    result = CliRunner().invoke(monitor, [*paths, *args], env=env or {})
    assert result.exit_code == 0, result.output
    return served.pop("app"), served, result.output


def test_the_command_answers_allowed_hosts_from_options_and_environment(
    monkeypatch: pytest.MonkeyPatch, flow: Flow
) -> None:
    app, served, _ = run_monitor(
        monkeypatch,
        flow,
        "--allowed-host",
        "ops.example",
        env={"SENSORLAKE_MONITOR_ALLOWED_HOSTS": "dash.example:8000, other.example"},
    )
    assert served["host"] == "127.0.0.1"
    client = TestClient(app)
    for host in ("ops.example", "dash.example", "other.example:1", "127.0.0.1:8000"):
        assert client.get("/openapi.json", headers={"host": host}).status_code == 200, host
    assert client.get("/openapi.json", headers={"host": "testserver"}).status_code == 403


def test_a_bad_allowed_host_is_one_line_exit_2(monkeypatch: pytest.MonkeyPatch, flow: Flow) -> None:
    from sensorlake.dashboards.cli import monitor

    result = CliRunner().invoke(monitor, ["--lake-dir", str(flow.lake), "--allowed-host", "a/b"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "error: --allowed-host: 'a/b' is not a host name or address "
        "(e.g. monitor.example.lan or 10.0.0.5)"
    ]
