"""The monitor on a hostile network: DNS rebinding (the Host check), an access token beyond
loopback, and the browser policy on every response.

The Host check follows Jupyter's (jupyter_server ``base/handlers.py``, ``check_host``): a page
on a name the attacker controls, re-pointed at 127.0.0.1, still sends that name in ``Host``.
"""

from __future__ import annotations

import base64
import hashlib
import re
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


@pytest.mark.parametrize("path", EVERY_KIND)
def test_beyond_loopback_every_path_needs_the_token(app: Any, path: str) -> None:
    access = Access.for_binding("0.0.0.0")
    assert access.token and access.generated
    client = TestClient(app(access=access))
    refused = client.get(path)
    assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
    assert "Authorization: Bearer" in refused.json()["detail"]
    wrong = client.get(path, headers={"authorization": f"Bearer {access.token}x"})
    assert wrong.status_code == 401
    basic = client.get(path, headers={"authorization": f"Basic {access.token}"})
    assert basic.status_code == 401
    bearer = client.get(path, headers={"authorization": f"Bearer {access.token}"})
    assert bearer.status_code == 200


def test_the_one_time_url_sets_a_strict_cookie_and_drops_the_token(app: Any) -> None:
    access = Access.for_binding("0.0.0.0")
    client = TestClient(app(access=access), follow_redirects=False)
    response = client.get(f"/api/bucket-details/raw?limit=2&token={access.token}")
    assert response.status_code == 303
    assert response.headers["location"] == "/api/bucket-details/raw?limit=2"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"sensorlake_monitor_token={access.token};")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert client.get("/api/bucket-details/raw?limit=2").status_code == 200  # the cookie
    assert client.get("/", headers={"host": "attacker.example"}).status_code == 403

    fresh = TestClient(app(access=access), follow_redirects=False)
    bad = fresh.get("/?token=guess")
    assert bad.status_code == 401 and "set-cookie" not in bad.headers
    assert fresh.get("/", headers={"cookie": "sensorlake_monitor_token=guess"}).status_code == 401


def test_the_token_is_compared_in_constant_time(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import hmac

    from sensorlake.dashboards import security

    compared: list[tuple[bytes, bytes]] = []
    original = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return original(a, b)

    monkeypatch.setattr(security.hmac, "compare_digest", spy)
    access = Access.for_binding("0.0.0.0")
    client = TestClient(app(access=access))
    assert client.get("/api/health", headers={"authorization": "Bearer nope"}).status_code == 401
    assert (b"nope", access.token.encode()) in compared  # type: ignore[union-attr]


def test_loopback_needs_no_token_unless_one_is_configured(app: Any) -> None:
    for host in ("127.0.0.1", "localhost", "::1"):
        assert Access.for_binding(host).token is None
    configured = Access.for_binding("127.0.0.1", token="s" * 20)
    client = TestClient(app(access=configured))
    assert client.get("/api/health").status_code == 401
    assert client.get("/api/health", headers={"authorization": "Bearer " + "s" * 20}).is_success


def test_beyond_loopback_the_command_prints_the_one_time_url_once(
    monkeypatch: pytest.MonkeyPatch, flow: Flow
) -> None:
    app, served, output = run_monitor(monkeypatch, flow, "--host", "0.0.0.0", "--port", "8123")
    assert served["host"] == "0.0.0.0" and served["port"] == 8123
    urls = re.findall(r"http://\S+/\?token=([A-Za-z0-9_-]+)", output)
    assert len(urls) == 1 and output.count(urls[0]) == 1
    client = TestClient(app)
    assert client.get("/metrics").status_code == 401
    prometheus = client.get("/metrics", headers={"authorization": f"Bearer {urls[0]}"})
    assert prometheus.is_success and "sensorlake_monitor_up" in prometheus.text


def test_a_configured_token_is_required_and_never_printed(
    monkeypatch: pytest.MonkeyPatch, flow: Flow
) -> None:
    token = "configured-token-0123456789"
    app, _, output = run_monitor(
        monkeypatch, flow, "--host", "0.0.0.0", env={"SENSORLAKE_MONITOR_TOKEN": token}
    )
    assert token not in output and "SENSORLAKE_MONITOR_TOKEN" in output
    client = TestClient(app, follow_redirects=False)
    assert client.get("/openapi.json").status_code == 401
    assert client.get(f"/?token={token}").status_code == 303
    assert client.get("/openapi.json").status_code == 200


def test_loopback_prints_no_token(monkeypatch: pytest.MonkeyPatch, flow: Flow) -> None:
    app, _, output = run_monitor(monkeypatch, flow)
    assert "token" not in output
    assert TestClient(app).get("/openapi.json").status_code == 200


def test_a_weak_configured_token_is_one_line_exit_2(flow: Flow) -> None:
    from sensorlake.dashboards.cli import monitor

    result = CliRunner().invoke(
        monitor, ["--lake-dir", str(flow.lake)], env={"SENSORLAKE_MONITOR_TOKEN": "short"}
    )
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1
    assert result.output.startswith("error: SENSORLAKE_MONITOR_TOKEN must be at least 16")
    assert "short" not in result.output


LOCKED = ("frame-ancestors 'none'", "base-uri 'none'", "form-action 'none'")


@pytest.mark.parametrize("path", ["/", "/static/index.html", "/docs"])
def test_every_html_page_carries_the_policy(app: Any, path: str) -> None:
    response = TestClient(app()).get(path)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "style-src 'self';" in policy
    assert all(part in policy for part in LOCKED)
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    script_src = next(p for p in policy.split(";") if p.strip().startswith("script-src"))
    inline = re.findall(r"<script>(.*?)</script>", response.text, re.DOTALL)
    # Each inline script runs by its hash only (the Swagger UI page's configuration).
    assert script_src.count("'sha256-") == len(inline)
    for script in inline:
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in script_src


@pytest.mark.parametrize(
    "path,status",
    [
        ("/api/health", 200),
        ("/metrics", 200),
        ("/openapi.json", 200),
        ("/static/app.js", 200),
        ("/static-offline-docs/swagger-ui-bundle.js", 200),
        ("/api/bucket-details/nope", 404),
        ("/api/bucket-details/raw?limit=0", 422),
        ("/redoc", 404),  # ReDoc needs inline styles; /docs and /openapi.json stay
        ("/nothing-here", 404),
    ],
)
def test_every_response_carries_the_headers(app: Any, path: str, status: int) -> None:
    response = TestClient(app()).get(path)
    assert response.status_code == status
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    policy = response.headers["content-security-policy"]
    assert all(part in policy for part in LOCKED)
    if not response.headers["content-type"].startswith("text/html"):
        assert policy.startswith("default-src 'none';")


def test_refusals_and_internal_errors_carry_the_headers(
    flow: Flow, monkeypatch: pytest.MonkeyPatch
) -> None:
    monitor = flow.monitor()
    monitor.refresh()
    monkeypatch.setattr(type(monitor.snapshot()), "overview", lambda *_: 1 / 0)
    access = Access.for_binding("0.0.0.0")
    app = create_app(monitor, start_monitor=False, access=access)
    client = TestClient(app, raise_server_exceptions=False)
    for response in (
        client.get("/api/overview", headers={"host": "attacker.example"}),
        client.get("/api/overview"),
        client.get("/api/overview", headers={"authorization": f"Bearer {access.token}"}),
    ):
        assert response.status_code in (403, 401, 500)
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["content-security-policy"].startswith("default-src 'none';")
