"""The Databricks module against recorded responses of the real shapes: the SQL connector's
rows (``databricks.sql.types.Row``) and the Jobs API JSON, parsed by the real databricks-sdk
from a local HTTP server. Errors become one line, with the token scrubbed."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from databricks.sql.exc import RequestError, ServerOperationError
from databricks.sql.types import Row
from fastapi.testclient import TestClient

from sensorlake.contract.layouts import JobArgs, StreamLocations
from sensorlake.contract.pipelines import job_name
from sensorlake.dashboards.app import create_app
from sensorlake.dashboards.errors import BackendUnavailable, NotConfigured
from sensorlake.dashboards.monitor import Monitor, Readers
from sensorlake.dashboards.readers.databricks import DatabricksReader, queries
from sensorlake.dashboards.readers.gateway import LocalGatewayReader
from sensorlake.dashboards.readers.lake import LocalLakeReader
from sensorlake.dashboards.settings import DatabricksSettings, load_settings

pytestmark = pytest.mark.dashboards

RECORDED = Path(__file__).parent / "recorded"
TOKEN = "dapi0123456789abcdef-secret"
SETTINGS = DatabricksSettings(
    host="example.cloud.databricks.com",
    http_path="/sql/1.0/warehouses/abc123",
    token=TOKEN,
    checkpoint_root="/Volumes/sensor_data_catalog/sensor_pipeline/autoloader_checkpoints",
)


def _value(kind: str, value: Any) -> Any:
    if kind == "timestamp" and value is not None:
        return datetime.fromisoformat(value)
    return value


class RecordedCursor:
    """A DB-API cursor that answers each of our queries with its recorded result."""

    def __init__(self, recorded: dict[str, Any], sql: dict[str, str], fail: dict[str, Exception]):
        self.by_sql = {text: recorded[name] for name, text in sql.items()}
        self.names = {text: name for name, text in sql.items()}
        self.fail = fail
        self.executed: list[str] = []
        self.description: list[tuple[Any, ...]] | None = None
        self._rows: list[Row] = []

    def execute(self, sql: str) -> None:
        # One recording serves every table: the SQL differs only in the table's name.
        sql = re.sub(r"sensor_readings_[a-z]+", "sensor_readings_schematized", sql)
        self.executed.append(self.names[sql])
        if self.names[sql] in self.fail:
            raise self.fail[self.names[sql]]
        result = self.by_sql[sql]
        self.description = [(n, t, None, None, None, None, None) for n, t in result["description"]]
        kinds = [t for _n, t in result["description"]]
        names = [n for n, _t in result["description"]]
        self._rows = [
            Row(**{n: _value(k, v) for n, k, v in zip(names, kinds, values, strict=True)})
            for values in result["rows"]
        ]

    def fetchall(self) -> list[Row]:
        return self._rows


class RecordedConnection:
    def __init__(self, cursor: RecordedCursor) -> None:
        self._cursor = cursor
        self.closed = False
        self.kwargs: dict[str, Any] = {}

    def cursor(self) -> RecordedCursor:
        return self._cursor

    def close(self) -> None:
        self.closed = True


def recorded_reader(
    fail: dict[str, Exception] | None = None,
    answer: dict[str, str] | None = None,
    checkpoint_root: str | None = SETTINGS.checkpoint_root,
) -> tuple[DatabricksReader, RecordedConnection]:
    """A reader whose queries get the recorded results (``answer``: query -> another
    recording of it; ``checkpoint_root``: where the recorded ``cloud_files_state`` reads)."""
    recorded = json.loads((RECORDED / "databricks_sql.json").read_text())
    for query, recording in (answer or {}).items():
        recorded[query] = recorded[recording]
    fqn = "`sensor_data_catalog`.`sensor_pipeline`.`sensor_readings_schematized`"
    sql = queries(fqn, f"{checkpoint_root}/sensor_readings_schematized")
    conn = RecordedConnection(RecordedCursor(recorded, sql, fail or {}))

    def connect(**kwargs: Any) -> RecordedConnection:
        conn.kwargs = kwargs
        return conn

    reader = DatabricksReader(SETTINGS, "sensor_data_catalog", "sensor_pipeline", connect=connect)
    return reader, conn


def test_table_figures_from_recorded_results() -> None:
    reader, conn = recorded_reader()
    stats = reader.table_stats("schematized")
    assert stats is not None and conn.closed
    assert conn.kwargs == {
        "timeout": 10.0,  # the backend's bound, for the connector's socket and retries
        "server_hostname": "example.cloud.databricks.com",
        "http_path": "/sql/1.0/warehouses/abc123",
        "access_token": TOKEN,
    }
    assert stats.table == "sensor_data_catalog.sensor_pipeline.sensor_readings_schematized"
    assert stats.version == 7 and stats.rows == 1_500
    assert stats.gateway_rows == {"gw-berlin-01": 1_100, "gw-lyon-02": 400}
    assert stats.gateway_distinct == {"gw-berlin-01": 1_100, "gw-lyon-02": 380}
    from sensorlake.dashboards.reconcile import duplicate_rows

    assert duplicate_rows(stats) == {"gw-lyon-02": 20}
    assert stats.rescued_rows == 3
    assert [h.rows_written for h in stats.history] == [400, 1_100, None]
    assert set(stats.columns) - set(stats.initial_columns) == {"firmware_channel"}
    assert len(stats.files) == 3 and all(k.startswith("schematized/date=") for k in stats.files)
    # cloud_files_state: the file with no commit_time is not processed yet.
    assert stats.processed_files is not None and len(stats.processed_files) == 3
    assert sum(stats.ingested_per_minute.values()) == 1_500
    assert stats.last_ingested_at == datetime.fromisoformat("2026-11-26T10:58:02.930").timestamp()


def test_a_checkpoint_without_commit_times_is_no_checkpoint_information() -> None:
    """cloud_files_state fills commit_time only on Runtime 16.4+ with cloudFiles.cleanSource,
    or 18.2+ (its reference: docs.databricks.com/en/sql/language-manual/functions/
    cloud_files_state.html): all null means "no information", so the grace rule applies."""
    reader, _ = recorded_reader(answer={"processed": "processed_without_commit_times"})
    stats = reader.table_stats("schematized")
    assert stats is not None and stats.processed_files is None
    assert stats.rows == 1_500 and len(stats.files) == 3
    # A landed file absent from the table, older than the last commit by more than the
    # grace: missing, where "processed: nothing" would have kept it pending for ever.
    from sensorlake.contract.keys import LandingKey
    from sensorlake.dashboards.readers.base import LandedObject
    from sensorlake.dashboards.reconcile import MISSING_GRACE_SECONDS, backlog_of

    absent = LandingKey("schematized", "2026-11-26", "gw-lyon-02", 3, 401, 800)
    last_commit = max(h.timestamp for h in stats.history)
    old = LandedObject(absent, 10, last_commit - MISSING_GRACE_SECONDS - 1, 400)
    assert backlog_of([old], stats).missing == (old,)


def test_rows_without_lineage_are_counted_apart_from_every_gateway() -> None:
    from sensorlake.dashboards.models import NO_LINEAGE
    from sensorlake.dashboards.readers.base import Inputs
    from sensorlake.dashboards.reconcile import Backlog, reconcile

    reader, _ = recorded_reader(answer={"gateways": "gateways_with_lines_not_json"})
    stats = reader.table_stats("schematized")
    assert stats is not None and stats.unattributed_rows == 2 and stats.rows == 1_502
    assert stats.gateway_rows == {"gw-berlin-01": 1_100, "gw-lyon-02": 400}
    inputs = Inputs(
        landing_kind="s3",
        landing=None,
        landing_error="not read in this test",
        tables_kind="databricks",
        tables={"schematized": stats},
        table_errors={},
        tables_not_configured=None,
        gateway=None,
        gateway_error=None,
        read_at=0.0,
    )
    report = reconcile(
        inputs, {t: Backlog() for t in ("raw", "schematized", "filtered", "emergency", "rejected")}
    )
    assert NO_LINEAGE not in {r.gateway for r in report.rows}  # not checked: nothing landed
    assert sorted(r.gateway for r in report.rows) == ["gw-berlin-01", "gw-lyon-02"]


def test_a_failing_cloud_files_state_keeps_the_other_figures() -> None:
    reader, _ = recorded_reader(
        {"processed": ServerOperationError("[PERMISSION_DENIED] User does not have READ VOLUME")}
    )
    stats = reader.table_stats("schematized")
    assert stats is not None and stats.processed_files is None
    assert stats.rows == 1_500 and stats.version == 7 and len(stats.files) == 3


def test_a_missing_table_is_none_not_an_error() -> None:
    reader, _ = recorded_reader(
        {
            "history": ServerOperationError(
                "[TABLE_OR_VIEW_NOT_FOUND] The table or view `x` cannot be found."
            )
        }
    )
    assert reader.table_stats("schematized") is None


def test_a_vacuumed_first_version_counts_columns_from_now() -> None:
    reader, _ = recorded_reader(
        {"initial_columns": ServerOperationError("[DELTA_VERSION_NOT_FOUND] gone")}
    )
    stats = reader.table_stats("schematized")
    assert stats is not None and stats.initial_columns == stats.columns


def test_errors_are_one_line_without_the_token() -> None:
    reader, conn = recorded_reader(
        {
            "gateways": RequestError(
                f"Error during request to server: 403 Forbidden token={TOKEN}\nmore"
            )
        }
    )
    with pytest.raises(BackendUnavailable) as caught:
        reader.table_stats("schematized")
    message = caught.value.message
    assert TOKEN not in message and "\n" not in message
    assert message.startswith(
        "Databricks could not query sensor_readings_schematized: RequestError"
    )
    assert conn.closed

    def refuse(**_: Any) -> None:
        raise RequestError(f"cannot connect to example.cloud.databricks.com with {TOKEN}")

    offline = DatabricksReader(SETTINGS, "c", "s", connect=refuse)
    with pytest.raises(
        BackendUnavailable, match="could not connect to the SQL warehouse"
    ) as caught:
        offline.table_stats("raw")
    assert TOKEN not in caught.value.message


def test_unsafe_names_are_refused_before_any_sql() -> None:
    reader = DatabricksReader(SETTINGS, "cat; DROP TABLE x", "s", connect=lambda **_: None)
    with pytest.raises(NotConfigured):
        reader.table_stats("raw")


def test_partial_settings_say_what_is_missing() -> None:
    with pytest.raises(NotConfigured, match="set DATABRICKS_TOKEN"):
        DatabricksReader(DatabricksSettings("h", "/p", None), "c", "s")
    assert "secret" not in repr(load_settings(env={"DATABRICKS_TOKEN": "secret"}))


class _Jobs(BaseHTTPRequestHandler):
    """The Jobs API from recordings, with its filters: ``jobs/list?name=`` (exact, case-
    insensitive) and ``jobs/runs/list?job_id=`` (without it, every job's runs)."""

    body = b""  # runs/list
    jobs = b""  # jobs/list
    status = 200
    seen: ClassVar[list[tuple[str, str]]] = []
    tasks: ClassVar[dict[str, list[dict[str, Any]]]] = {}  # job name -> its tasks

    def do_GET(self) -> None:
        from urllib.parse import parse_qs, urlsplit

        type(self).seen.append((self.path, self.headers.get("Authorization", "")))
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if self.status != 200 and url.path.startswith("/api/2.2/jobs/"):
            body = self.body  # the recorded error
        elif url.path == "/api/2.2/jobs/runs/list":
            body = self.body
            if "job_id" in query:
                runs = json.loads(body)
                runs["runs"] = [r for r in runs["runs"] if str(r["job_id"]) == query["job_id"]]
                body = json.dumps(runs).encode()
        elif url.path == "/api/2.2/jobs/list":
            listed = json.loads(self.jobs)
            name = query.get("name", "").lower()
            listed["jobs"] = [
                j for j in listed["jobs"] if not name or j["settings"]["name"].lower() == name
            ]
            if query.get("expand_tasks") == "true":  # the API sends tasks only when asked
                for job in listed["jobs"]:
                    job["settings"]["tasks"] = self.tasks.get(job["settings"]["name"], [])
            body = json.dumps(listed).encode()
        else:
            self.send_response(404)  # e.g. the SDK's host-metadata probe
            self.end_headers()
            return
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def jobs_api() -> Iterator[tuple[str, type[_Jobs]]]:
    handler = type(
        "Jobs",
        (_Jobs,),
        {
            "seen": [],
            "body": (RECORDED / "jobs_runs_list.json").read_bytes(),
            "jobs": (RECORDED / "jobs_list.json").read_bytes(),
            "tasks": {job_name(t): [deployed_task(t)] for t in ("raw", "schematized", "emergency")},
        },
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()


# Where infra put the checkpoints in the deployment the recorded jobs stand for: not the
# dashboards' own variable (SETTINGS.checkpoint_root), so a test tells which one was used.
DEPLOYED = StreamLocations.volumes("sensor_data_catalog", "sensor_pipeline", "deployed_ck", "sc")


def deployed_task(target: str) -> dict[str, Any]:
    """A stream job's task as the Jobs API returns it, its parameters the contract's
    ``JobArgs.argv`` (what infra's jobs stack deploys: tests/infra/test_jobs.py)."""
    args = JobArgs(
        target, "sensor_data_catalog", "sensor_pipeline", DEPLOYED, f"s3://b-{target}/{target}/"
    )
    return {
        "task_key": f"stream_{target}",
        "python_wheel_task": {
            "package_name": "sensorlake_streams",
            "entry_point": "sensorlake-databricks-stream",
            "parameters": args.argv(),
        },
    }


def _sdk_reader(host: str) -> DatabricksReader:
    from dataclasses import replace

    return DatabricksReader(replace(SETTINGS, host=host), "c", "s")


def test_only_the_projects_job_runs_read_from_their_status(
    jobs_api: tuple[str, type[_Jobs]],
) -> None:
    """Runs of the jobs infra names (``job_name``), not another team's newer failed run; the
    state comes from ``status`` (``RunStatus``), not the deprecated ``state``."""
    host, handler = jobs_api
    runs = _sdk_reader(host).job_runs()
    assert [r.run_id for r in runs] == [77150, 77101, 77001]  # not 99901 (orders-nightly-etl)
    assert [r.target for r in runs] == ["raw", "schematized", "schematized"]
    running, failed, ok = runs
    assert running.life_cycle == "RUNNING" and running.result == "" and not running.failed
    assert failed.failed and failed.result == "RUN_EXECUTION_ERROR"
    assert failed.life_cycle == "TERMINATED" and failed.message == "Task schematized failed"
    assert not ok.failed and ok.result == "SUCCESS"
    assert failed.started_at == 1795690800.0
    paths = [path for path, _auth in handler.seen if path.startswith("/api/2.2/jobs/")]
    assert all("job_id=" in p for p in paths if p.startswith("/api/2.2/jobs/runs/list"))
    asked = {p.split("name=")[1].split("&")[0] for p in paths if "name=" in p}
    assert asked == {
        f"sensorlake-{t}" for t in ("raw", "schematized", "filtered", "emergency", "rejected")
    }
    assert {auth for path, auth in handler.seen if path.startswith("/api/2.2/jobs/")} == {
        f"Bearer {TOKEN}"
    }


def test_the_checkpoint_is_where_the_deployed_job_writes_it(
    jobs_api: tuple[str, type[_Jobs]],
) -> None:
    """The job's parameters (read with the job list, parsed by ``JobArgs``) say where its
    checkpoint is; the dashboards' own variable is only the fallback."""
    host, handler = jobs_api
    reader, conn = recorded_reader(checkpoint_root=DEPLOYED.checkpoints)
    reader._workspace = _sdk_reader(host)._workspace
    variable = f"{SETTINGS.checkpoint_root}/sensor_readings_schematized"
    assert reader.checkpoint_location("schematized") == variable  # jobs not read yet
    reader.job_runs()
    assert any("expand_tasks=true" in path for path, _ in handler.seen)
    assert reader.checkpoint_location("schematized") == DEPLOYED.checkpoint(
        "sensor_readings_schematized"
    )
    assert reader.checkpoint_location("raw") == DEPLOYED.checkpoint("sensor_readings_raw")
    # No deployed job for filtered in this workspace: the variable.
    assert reader.checkpoint_location("filtered") == variable.replace("schematized", "filtered")
    stats = reader.table_stats("schematized")
    assert stats is not None and stats.processed_files is not None
    assert len(stats.processed_files) == 3  # cloud_files_state read at the deployed checkpoint
    assert conn.cursor().executed.count("processed") == 1


def test_parameters_not_of_this_schema_or_not_a_stream_jobs_are_not_used(
    jobs_api: tuple[str, type[_Jobs]], caplog: pytest.LogCaptureFixture
) -> None:
    host, handler = jobs_api
    handler.tasks = {
        **handler.tasks,
        job_name("raw"): [{"task_key": "x", "python_wheel_task": {"parameters": ["--what"]}}],
    }
    reader = _sdk_reader(host)  # reads catalog c, schema s; the jobs stream another schema
    reader.job_runs()
    for target in ("raw", "schematized"):
        assert reader.checkpoint_location(target) == (
            f"{SETTINGS.checkpoint_root}/sensor_readings_{target}"
        )
    assert "not used" in caplog.text and "parameters not understood" in caplog.text
    assert TOKEN not in caplog.text
    from dataclasses import replace

    unset = DatabricksReader(replace(SETTINGS, checkpoint_root=None), "c", "s")
    assert unset.checkpoint_location("raw") is None  # nothing known: no cloud_files_state


def test_job_api_errors_are_one_line(jobs_api: tuple[str, type[_Jobs]]) -> None:
    host, handler = jobs_api
    handler.status = 403
    handler.body = json.dumps(
        {"error_code": "PERMISSION_DENIED", "message": "no jobs for you"}
    ).encode()
    with pytest.raises(
        BackendUnavailable, match="could not list job runs: PermissionDenied"
    ) as caught:
        _sdk_reader(host).job_runs()
    assert TOKEN not in caught.value.message


def test_the_api_shows_databricks_figures_and_failed_jobs(
    flow,
    jobs_api: tuple[str, type[_Jobs]],  # type: ignore[no-untyped-def]
) -> None:
    """Databricks tables beside a local lake: a failed stream job makes a pipeline lag,
    and no response carries the token."""
    host, _ = jobs_api
    reader, _ = recorded_reader()
    from dataclasses import replace

    reader._workspace = _sdk_reader(host)._workspace  # the real SDK, recorded jobs
    settings = replace(flow.settings(), databricks=replace(SETTINGS, host=host))
    readers = Readers(
        LocalLakeReader(flow.lake), reader, LocalGatewayReader(flow.state), tables_kind="databricks"
    )
    monitor = Monitor(settings, readers)
    monitor.refresh()
    client = TestClient(create_app(monitor, start_monitor=False))
    status = client.get("/api/pipelines/status").json()
    assert [j["state"] for j in status["jobs"]] == ["RUNNING", "RUN_EXECUTION_ERROR", "SUCCESS"]
    schematized = next(p for p in status["pipelines"] if p["pipeline"] == "schematized")
    assert (
        schematized["state"] == "lagging" and "last stream job run failed" in schematized["reason"]
    )
    raw = next(p for p in status["pipelines"] if p["pipeline"] == "raw")
    assert "job run failed" not in raw["reason"]  # raw's own job is running
    tables = client.get("/api/autoloader-tables").json()
    assert tables["backend"] == "databricks"
    for table in tables["tables"]:
        assert table["rows"] == 1_500 and table["columns_added"] == ["firmware_channel"]
    recon = client.get("/api/reconciliation").json()
    assert recon["verdict"] == "mismatch"  # the recorded gateways are not this lake's
    for path in (
        "/api/health",
        "/api/pipelines/status",
        "/api/autoloader-tables",
        "/api/overview",
        "/metrics",
        "/",
    ):
        assert TOKEN not in client.get(path).text


def test_a_failing_warehouse_is_a_reason_in_the_api_not_a_500(flow) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    def refuse(**_: Any) -> None:
        raise RequestError(f"HTTP 503 from the SQL warehouse, token {TOKEN}")

    reader = DatabricksReader(SETTINGS, "sensor_data_catalog", "sensor_pipeline", connect=refuse)

    def no_jobs() -> Any:
        raise RuntimeError(f"workspace unreachable with {TOKEN}")

    reader._workspace = no_jobs
    settings = replace(flow.settings(), databricks=SETTINGS)
    readers = Readers(
        LocalLakeReader(flow.lake), reader, LocalGatewayReader(flow.state), tables_kind="databricks"
    )
    monitor = Monitor(settings, readers)
    monitor.refresh()
    client = TestClient(create_app(monitor, start_monitor=False))
    tables = client.get("/api/autoloader-tables")
    assert tables.status_code == 200
    body = tables.json()
    assert body["status"] == "unavailable"
    assert body["reason"].startswith("Databricks could not connect to the SQL warehouse")
    status = client.get("/api/pipelines/status").json()
    assert {p["state"] for p in status["pipelines"]} == {"unknown"}
    assert status["jobs_error"].startswith("unreachable since ")
    assert ": Databricks could not list job runs: RuntimeError" in status["jobs_error"]
    assert client.get("/api/reconciliation").json()["verdict"] == "not checked"
    for path in ("/api/health", "/api/autoloader-tables", "/api/pipelines/status", "/metrics"):
        text = client.get(path).text
        assert TOKEN not in text and "Traceback" not in text
