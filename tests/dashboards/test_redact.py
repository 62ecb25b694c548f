"""No configured secret in any log line, whichever logger writes it (redact.py).

A reflecting server (it answers every request with the request's own headers and body, as a
proxy's error page or a misbehaving workspace might) makes ``databricks.sdk`` put the token in
its debug dump of the response and in the error it raises; both are logged.
"""

from __future__ import annotations

import io
import json
import logging
import threading
import warnings
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from sensorlake.dashboards import redact
from sensorlake.dashboards.app import create_app
from sensorlake.dashboards.settings import load_settings

from .conftest import Flow

pytestmark = pytest.mark.dashboards

SECRET = "dapi0123456789abcdef-not-a-real-token"
AWS_SECRET = "aws+secret/key=0123456789"  # URL-encoding changes it: both forms go


class Reflect(BaseHTTPRequestHandler):
    """Every request answered with its own headers and body; only SCIM ``Me`` succeeds."""

    def _reflect(self) -> None:
        size = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(size).decode() if size else ""
        echoed = {"headers": dict(self.headers), "body": body}
        answer = json.dumps(
            {"error_code": "INVALID_PARAMETER_VALUE", "message": f"bad request {echoed}", **echoed}
        ).encode()
        self.send_response(200 if self.path.endswith("/Me") else 400)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    do_GET = do_POST = _reflect

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def reflecting_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Reflect)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def redacting() -> Iterator[None]:
    """The secrets the monitor's settings find in its environment, redacted; undone after."""
    env = {"DATABRICKS_TOKEN": SECRET, "AWS_SECRET_ACCESS_KEY": AWS_SECRET}
    redact.install(load_settings(env=env).secrets)
    try:
        yield
    finally:
        redact.uninstall()


def no_secret_in(caplog: pytest.LogCaptureFixture, *secrets: str) -> None:
    assert caplog.records, "nothing was logged: the test proves nothing"
    everything = caplog.text + "".join(
        f"{r.getMessage()} {r.exc_text} {r.stack_info} {r.exc_info}" for r in caplog.records
    )
    for secret in secrets:
        assert secret not in everything


def test_a_reflecting_server_cannot_put_the_token_in_a_log_line(
    reflecting_server: str,
    redacting: None,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.errors import DatabricksError

    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(tmp_path / "none.cfg"))
    caplog.set_level(logging.DEBUG)  # root: every library's debug output
    client = WorkspaceClient(
        host=reflecting_server,
        token=SECRET,
        auth_type="pat",
        debug_headers=True,
        debug_truncate_bytes=1_000_000,
    )
    client.current_user.me()
    with pytest.raises(DatabricksError) as raised:
        list(client.jobs.list_runs(job_id=1, limit=5))
    assert SECRET in str(raised.value)  # the server did reflect it
    log = logging.getLogger("sensorlake.dashboards.readers.databricks")
    log.warning("job runs could not be read: %s", raised.value)
    try:
        raise raised.value
    except DatabricksError:
        log.exception("job runs")
    no_secret_in(caplog, SECRET)
    assert f"Bearer {redact.MASK}" in caplog.text  # the echoed header, masked


def test_every_logger_argument_traceback_and_warning_is_redacted(
    redacting: None, caplog: pytest.LogCaptureFixture
) -> None:
    import urllib.parse

    caplog.set_level(logging.DEBUG)
    # The root command quiets botocore to WARNING for the process; an earlier in-process CLI
    # test leaves it so, and this test's debug record must not depend on test order.
    caplog.set_level(logging.DEBUG, logger="botocore")
    logging.getLogger("uvicorn.error").error("%s and %r", SECRET, {"k": AWS_SECRET})
    logging.getLogger("botocore").debug(f"signed with {urllib.parse.quote(AWS_SECRET, safe='')}")
    logging.getLogger("any.library").info(RuntimeError(SECRET))
    logging.getLogger("any.library").warning(f"stack of {SECRET}", stack_info=True)
    own = io.StringIO()  # a handler of the library's own that prints an extra field
    handler = logging.StreamHandler(own)
    handler.setFormatter(logging.Formatter("%(message)s %(n)s"))
    logging.getLogger("own.handler").addHandler(handler)
    try:
        logging.getLogger("own.handler").warning("extra", extra={"n": SECRET})
    finally:
        logging.getLogger("own.handler").removeHandler(handler)
    assert own.getvalue() == "extra ***\n"
    try:
        raise ValueError(f"token={SECRET}")
    except ValueError:
        logging.getLogger("any.library").exception("failed")
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn(f"deprecated call with {SECRET}", UserWarning, stacklevel=1)
    no_secret_in(caplog, SECRET, AWS_SECRET, urllib.parse.quote(AWS_SECRET, safe=""))
    assert {"uvicorn.error", "botocore", "any.library", "py.warnings"} <= {
        r.name for r in caplog.records
    }
    assert "ValueError: token=***" in caplog.text  # the traceback stays, without the value


def test_uvicorn_access_lines_keep_their_shape(redacting: None) -> None:
    from uvicorn.logging import AccessFormatter

    record = logging.getLogger("uvicorn.access").makeRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", f"/?token={SECRET}", "1.1", 303),
        None,
    )
    line = AccessFormatter("%(client_addr)s %(request_line)s %(status_code)s").format(record)
    assert line == "127.0.0.1:5000 GET /?token=*** HTTP/1.1 303 See Other"


def test_a_request_that_fails_with_the_secret_logs_without_it(
    flow: Flow, redacting: None, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monitor = flow.monitor()
    monitor.refresh()

    def boom(*_: object) -> None:
        raise RuntimeError(f"backend said Authorization: Bearer {SECRET}")

    monkeypatch.setattr(type(monitor.snapshot()), "overview", boom)
    client = TestClient(create_app(monitor, start_monitor=False), raise_server_exceptions=False)
    assert client.get("/api/overview").status_code == 500
    no_secret_in(caplog, SECRET)
    assert "RuntimeError: backend said Authorization: Bearer ***" in caplog.text


def test_the_commands_redact_their_secrets_and_the_generated_token(
    flow: Flow, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import re

    import uvicorn

    from sensorlake.dashboards.cli import monitor, status

    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: None)
    paths = ["--lake-dir", str(flow.lake), "--state-dir", str(flow.state)]
    env = {"AWS_SESSION_TOKEN": "session-token-value-42", "SENSORLAKE_MONITOR_TTL": "60"}
    try:
        out = CliRunner().invoke(monitor, [*paths, "--host", "0.0.0.0"], env=env).output
        token = re.findall(r"\?token=(\S+)", out)[0]
        CliRunner().invoke(status, paths, env={"DATABRICKS_TOKEN": SECRET})
        caplog.set_level(logging.INFO)
        logging.getLogger("x").info("%s %s %s", token, SECRET, "session-token-value-42")
        assert caplog.records[-1].getMessage() == "*** *** ***"
    finally:
        redact.uninstall()
