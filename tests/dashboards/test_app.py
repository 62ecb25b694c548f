"""Every endpoint over a real local flow: simulated readings, landed by the real lander,
ingested into Delta tables in the contract's layout."""

from __future__ import annotations

import time

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from sensorlake.contract.pipelines import TARGETS, table_name
from sensorlake.dashboards import models as m
from sensorlake.dashboards.app import STATIC, create_app
from sensorlake.dashboards.monitor import Monitor

from .conftest import GATEWAY, Flow, landed_keys

pytestmark = pytest.mark.dashboards


def client_for(flow: Flow, **overrides: object) -> TestClient:
    monitor = flow.monitor(**overrides)
    monitor.refresh()
    return TestClient(create_app(monitor, start_monitor=False))


def landed_records(flow: Flow, target: str) -> int:
    from sensorlake.dashboards.readers.lake import count_lines

    return sum(
        count_lines(flow.lake / _role(target) / k.format()) for k in landed_keys(flow.lake, target)
    )


def _role(target: str) -> str:
    from sensorlake.contract.pipelines import bucket_role

    return bucket_role(target)


def test_every_endpoint_over_a_landed_and_ingested_flow(flow: Flow) -> None:
    written = flow.ingest()
    client = client_for(flow)

    health = client.get("/api/health").json()
    assert health["status"] == "healthy", health
    assert {c["name"]: c["status"] for c in health["components"]} == {
        "landing": "healthy",
        "tables": "healthy",
        "gateway": "healthy",
    }

    metrics = client.get("/api/s3-metrics").json()
    by_target = {p["pipeline"]: p for p in metrics["pipelines"]}
    assert set(by_target) == set(TARGETS)
    for target in TARGETS:
        keys = landed_keys(flow.lake, target)
        assert by_target[target]["objects"] == len(keys)
        assert by_target[target]["records"] == landed_records(flow, target) == written[target]
        assert by_target[target]["records_last_hour"] == by_target[target]["records"]
    assert by_target["raw"]["records"] == 1_500
    assert metrics["rejected_records"] == by_target["rejected"]["records"]
    assert sum(metrics["rejected_reasons"].values()) >= metrics["rejected_records"]

    tables = client.get("/api/autoloader-tables").json()
    assert tables["status"] == "healthy"
    for t in tables["tables"]:
        assert t["exists"] and t["table"].endswith(table_name(t["pipeline"]))
        assert t["rows"] == written[t["pipeline"]]
        assert t["files_ingested"] == len(landed_keys(flow.lake, t["pipeline"]))
        assert t["backlog_files"] == 0 and t["latest_version"] == 0
        assert t["columns_added"] == [] and t["rescued_data_rows"] == 0
        assert t["last_ingestion_time"] is not None

    status = client.get("/api/pipelines/status").json()
    assert [p["state"] for p in status["pipelines"]] == ["healthy"] * len(TARGETS)
    assert status["gateway"]["available"] and status["gateway"]["last_run"]["gateway"] == GATEWAY

    recon = client.get("/api/reconciliation").json()
    assert recon["verdict"] == "exactly once", recon["summary"]
    assert {(r["pipeline"], r["gateway"]) for r in recon["rows"]} == {(t, GATEWAY) for t in TARGETS}

    details = client.get("/api/bucket-details/raw").json()
    assert details["objects"] == len(landed_keys(flow.lake, "raw"))
    assert sum(p["records"] for p in details["partitions"]) == 1_500
    assert all(o["ingested"] for o in details["newest_objects"])

    overview = client.get("/api/overview").json()
    raw_series = next(s for s in overview["series"] if s["pipeline"] == "raw")
    assert raw_series["landed"][-1] == 1_500 and raw_series["ingested"][-1] == 1_500
    assert len(overview["buckets"]) == len(raw_series["landed"])

    prom = client.get("/metrics")
    assert prom.headers["content-type"].startswith("text/plain")
    assert 'sensorlake_landed_records{pipeline="raw"} 1500.0' in prom.text
    assert 'sensorlake_pipeline_state{pipeline="emergency",state="healthy"} 1.0' in prom.text
    assert "sensorlake_reconciliation_exactly_once 1.0" in prom.text

    page = client.get("/")
    assert page.status_code == 200 and "/static/app.js" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert client.get("/static/app.js").status_code == 200
    docs = client.get("/openapi.json").json()
    for path in (
        "/api/health",
        "/api/s3-metrics",
        "/api/autoloader-tables",
        "/api/bucket-details/{pipeline}",
        "/api/pipelines/status",
        "/api/reconciliation",
    ):
        assert docs["paths"][path]["get"]["responses"]["200"]["content"]["application/json"][
            "schema"
        ]
    assert client.get("/docs").status_code == 200


def test_backlog_lag_and_states_follow_new_data(flow: Flow) -> None:
    flow.ingest()
    flow.land(rows=600, seed=3)
    client = client_for(flow)
    raw = next(
        p for p in client.get("/api/pipelines/status").json()["pipelines"] if p["pipeline"] == "raw"
    )
    assert raw["backlog_records"] == 600 and raw["backlog_files"] >= 1
    assert raw["state"] == "healthy" and raw["landed_records"] == 2_100
    assert client.get("/api/reconciliation").json()["verdict"] == "in flight"

    # The same backlog, judged with thresholds it has already passed.
    from sensorlake.dashboards.settings import Thresholds

    lagging = client_for(flow, thresholds=Thresholds(lag_seconds=0.001, stall_seconds=3600))
    states = {
        p["pipeline"]: p["state"] for p in lagging.get("/api/pipelines/status").json()["pipelines"]
    }
    assert states["raw"] == "lagging"
    stalled = client_for(flow, thresholds=Thresholds(lag_seconds=0.001, stall_seconds=0.002))
    raw = next(
        p
        for p in stalled.get("/api/pipelines/status").json()["pipelines"]
        if p["pipeline"] == "raw"
    )
    assert raw["state"] == "stalled" and "not ingested" in raw["reason"]

    flow.ingest()
    assert client_for(flow).get("/api/reconciliation").json()["verdict"] == "exactly once"


def test_missing_tables_count_everything_as_backlog(flow: Flow) -> None:
    flow.warehouse.mkdir()  # a warehouse no stream has written a table into yet
    client = client_for(flow)
    tables = client.get("/api/autoloader-tables").json()
    assert not any(t["exists"] for t in tables["tables"])
    raw = next(t for t in tables["tables"] if t["pipeline"] == "raw")
    assert raw["backlog_records"] == 1_500
    details = client.get("/api/bucket-details/raw").json()
    assert all(o["ingested"] is None for o in details["newest_objects"])


def test_columns_added_and_rescued_rows_are_reported(flow: Flow) -> None:
    import pyarrow as pa
    from deltalake import write_deltalake

    flow.ingest(targets=["raw"])
    path = flow.monitor().readers.tables.path("raw")  # type: ignore[union-attr]
    from deltalake import DeltaTable

    current = DeltaTable(str(path)).to_pyarrow_table()
    extra = current.slice(0, 2)
    extra = extra.set_column(
        extra.schema.get_field_index("_rescued_data"),
        "_rescued_data",
        pa.array(['{"new_sensor_field": 1}'] * 2),
    ).append_column("firmware_channel", pa.array(["beta", "beta"]))
    write_deltalake(
        str(path), extra, mode="append", schema_mode="merge", partition_by=["date", "gateway"]
    )
    raw = next(
        t
        for t in client_for(flow).get("/api/autoloader-tables").json()["tables"]
        if t["pipeline"] == "raw"
    )
    assert raw["columns_added"] == ["firmware_channel"]
    assert raw["rescued_data_rows"] == 2 and raw["latest_version"] == 1


@pytest.mark.parametrize(
    "name",
    [
        "nope",
        "RAW",
        "checkpoints",
        "..",
        "%2e%2e",
        "raw%2F..%2F..%2Fetc",
        "..%2F..%2Fetc%2Fpasswd",
        "raw..",
    ],
)
def test_unknown_or_path_like_pipelines_are_404_without_paths(flow: Flow, name: str) -> None:
    client = client_for(flow)
    response = client.get(f"/api/bucket-details/{name}")
    assert response.status_code == 404
    body = response.json()
    assert set(body) == {"detail"}
    assert str(flow.root) not in body["detail"] and "Traceback" not in response.text


def test_bad_query_values_are_one_line_422(flow: Flow) -> None:
    response = client_for(flow).get("/api/bucket-details/raw?limit=0")
    assert response.status_code == 422
    assert response.json() == {
        "detail": "invalid limit: Input should be greater than or equal to 1"
    }


def test_partitions_are_paged(flow: Flow) -> None:
    flow.ingest()
    client = client_for(flow)
    whole = client.get("/api/bucket-details/raw").json()
    pages = [
        client.get(f"/api/bucket-details/raw?limit=1&offset={i}").json()["partitions"]
        for i in range(whole["total_partitions"] + 1)
    ]
    assert [p for page in pages for p in page] == whole["partitions"]
    assert pages[-1] == []


def test_unexpected_errors_reach_the_client_as_one_line(
    flow: Flow, monkeypatch: pytest.MonkeyPatch
) -> None:
    monitor = flow.monitor()
    monitor.refresh()
    client = TestClient(create_app(monitor, start_monitor=False), raise_server_exceptions=False)

    def boom(*_: object, **__: object) -> None:
        raise RuntimeError("secret-ish internals /var/lib/x")

    monkeypatch.setattr(type(monitor.snapshot()), "overview", boom)
    response = client.get("/api/overview")
    assert response.status_code == 500
    assert response.json() == {"detail": "internal error; the monitor's log has the details"}


def test_before_the_first_scan_requests_get_503(flow: Flow) -> None:
    monitor = flow.monitor(first_scan_wait_seconds=0.01)
    client = TestClient(create_app(monitor, start_monitor=False))
    response = client.get("/api/health")
    assert response.status_code == 503 and "retry" in response.json()["detail"]
    assert "sensorlake_monitor_up 0.0" in client.get("/metrics").text


def test_the_service_refreshes_in_the_background(flow: Flow) -> None:
    flow.ingest()
    monitor = flow.monitor(cache_ttl_seconds=0.2)
    with TestClient(create_app(monitor)) as client:
        assert client.get("/api/health").json()["status"] == "healthy"
        first = monitor.refreshes
        flow.land(rows=300, seed=5)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            raw = client.get("/api/s3-metrics").json()["pipelines"][0]
            if raw["records"] == 1_800:
                break
            time.sleep(0.1)
        assert raw["records"] == 1_800 and monitor.refreshes > first


def test_not_configured_databricks_is_said_not_failed(flow: Flow) -> None:
    from sensorlake.dashboards.monitor import Monitor, make_readers
    from sensorlake.dashboards.settings import load_settings

    settings = load_settings(
        env={"DATABRICKS_HOST": "example.cloud.databricks.com"},
        lake_dir=flow.lake,
        state_dir=flow.state,
    )
    monitor = Monitor(settings, make_readers(settings))
    monitor.refresh()
    client = TestClient(create_app(monitor, start_monitor=False))
    tables = client.get("/api/autoloader-tables").json()
    assert tables["status"] == "not configured"
    assert (
        tables["reason"] == "Databricks not configured: set DATABRICKS_HTTP_PATH, DATABRICKS_TOKEN"
    )
    health = client.get("/api/health").json()
    assert health["status"] == "degraded" and "not configured" in health["reason"]
    assert client.get("/api/reconciliation").json()["verdict"] == "not checked"
    states = {p["state"] for p in client.get("/api/pipelines/status").json()["pipelines"]}
    assert states == {"unknown"}
    assert client.get("/api/s3-metrics").json()["pipelines"][0]["records"] == 1_500


def test_missing_lake_is_unavailable_with_a_hint(tmp_path) -> None:  # type: ignore[no-untyped-def]
    flow = Flow(tmp_path, tmp_path / "none.db")
    client = client_for(flow)
    health = client.get("/api/health").json()
    landing = next(c for c in health["components"] if c["name"] == "landing")
    assert health["status"] == "unavailable" and landing["status"] == "unavailable"
    assert "make land" in landing["reason"]
    gateway = next(c for c in health["components"] if c["name"] == "gateway")
    assert gateway["status"] == "not configured"


def test_a_failed_landing_run_degrades_the_gateway_and_the_pipelines(flow: Flow) -> None:
    from sensorlake.landing.errors import LandingError

    flow.ingest()
    flow.db.unlink()  # the sensor's database is gone: the next landing run fails
    with pytest.raises(LandingError):
        flow.land()
    client = client_for(flow)
    health = client.get("/api/health").json()
    gateway = next(c for c in health["components"] if c["name"] == "gateway")
    assert health["status"] == "degraded" and gateway["status"] == "degraded"
    assert gateway["reason"].startswith("last landing run failed (exit 3)")
    status = client.get("/api/pipelines/status").json()
    assert status["gateway"]["last_run"]["exit_code"] == 3
    assert {p["state"] for p in status["pipelines"]} == {"lagging"}
    assert all("last landing run failed" in p["reason"] for p in status["pipelines"])


ANSWERS = [
    "/api/health",
    "/api/s3-metrics",
    "/api/autoloader-tables",
    "/api/pipelines/status",
    "/api/reconciliation",
    "/api/overview",
    "/api/fleet",
    "/api/fleet?page=2&per_page=1",
    f"/api/fleet?q={GATEWAY.upper()}",
    "/api/fleet?state=landing&per_page=200",
    "/api/fleet?page=99",
]


def _as_fastapi_sends_models(monitor: Monitor) -> FastAPI:
    """The endpoints as plain FastAPI routes returning the snapshot's models (what app.py
    did before it sent bytes made once per snapshot)."""
    ref = FastAPI()
    snap = monitor.snapshot
    ref.get("/api/health", response_model=m.Health)(lambda: snap().health_at(monitor.clock()))  # type: ignore[union-attr]
    ref.get("/api/s3-metrics", response_model=m.S3Metrics)(lambda: snap().metrics)  # type: ignore[union-attr]
    ref.get("/api/autoloader-tables", response_model=m.AutoloaderTables)(lambda: snap().tables)  # type: ignore[union-attr]
    ref.get("/api/pipelines/status", response_model=m.PipelinesStatus)(lambda: snap().status)  # type: ignore[union-attr]
    ref.get("/api/reconciliation", response_model=m.Reconciliation)(
        lambda: snap().reconciliation  # type: ignore[union-attr]
    )
    ref.get("/api/overview", response_model=m.Overview)(lambda: snap().overview(monitor.clock()))  # type: ignore[union-attr]

    @ref.get("/api/fleet", response_model=m.FleetPage)
    def fleet(
        page: int = 1, per_page: int = 50, q: str = "", state: str | None = None
    ) -> m.FleetPage:
        return snap().fleet_page(page, per_page, q, state)  # type: ignore[union-attr]

    return ref


def test_answers_are_the_bytes_fastapi_sends_for_the_models(flow: Flow) -> None:
    flow.ingest()
    now = [0.0]
    monitor = Monitor(flow.settings(), flow.monitor().readers, clock=lambda: now[0])
    client = TestClient(create_app(monitor, start_monitor=False))
    now[0] = time.time()
    snap = monitor.refresh()
    ref = TestClient(_as_fastapi_sends_models(monitor))
    for age in (0.5, 61.25):  # twice per snapshot: the made-once bytes, and the age moves on
        now[0] = snap.at + age
        for path in ANSWERS:
            got, want = client.get(path), ref.get(path)
            assert got.status_code == want.status_code == 200, path
            assert got.content == want.content, path
            assert got.headers["content-type"] == want.headers["content-type"], path
    assert client.get("/api/health").json()["age_seconds"] == 61.25


def test_requests_never_wait_for_a_refresh_in_progress(flow: Flow) -> None:
    monitor = flow.monitor()
    client = TestClient(create_app(monitor, start_monitor=False))
    monitor.refresh()
    with monitor._refresh_lock:  # a refresh is running
        for path in [*ANSWERS, "/metrics", "/"]:
            started = time.monotonic()
            assert client.get(path).status_code == 200, path
            assert time.monotonic() - started < 5, path


def test_the_page_is_sent_from_memory_with_its_etag(flow: Flow) -> None:
    client = client_for(flow)
    first = client.get("/")
    assert first.status_code == 200 and first.headers["cache-control"] == "no-cache"
    assert first.content == (STATIC / "index.html").read_bytes()
    again = client.get("/", headers={"if-none-match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    assert client.get("/", headers={"if-none-match": '"other"'}).status_code == 200
