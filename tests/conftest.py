"""Shared test configuration: every test runs offline, with no AWS account."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .support.flow import Flow
from .support.flow import landed_flow as _land_a_flow


@pytest.fixture(autouse=True)
def _offline_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """No real credentials, profile or bucket may leak in from the developer's shell."""
    for name in (
        "AWS_PROFILE",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "S3_BUCKET_RAW",
        "S3_BUCKET_SCHEMATIZED",
        "S3_BUCKET_FILTERED",
        "S3_BUCKET_EMERGENCY",
        "S3_BUCKET_CHECKPOINTS",
        "SENSOR_DB_PATH",
        "SENSORLAKE_STATE_DIR",
        "SENSORLAKE_LAKE_DIR",
        "SENSORLAKE_WAREHOUSE_DIR",
        "SENSORLAKE_CHECKPOINT_DIR",
        "SENSORLAKE_GATEWAY_ID",
        "SENSORLAKE_FAILPOINTS",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto server over real HTTP (reached through ``AWS_ENDPOINT_URL``), shared by every
    test that needs one; each test uses bucket names of its own."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """The one local Spark session of a test process (a JVM costs seconds), for every test
    that runs the real streams: streams, dashboards, migrate and the whole-flow property."""
    pytest.importorskip("pyspark")
    from sensorlake.streams.session import java_version, local_session

    if java_version() is None:
        pytest.skip("no Java 17+ (bash .ci/run installs it)")
    session = local_session("local[2]", memory="1g")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def landed_flow(tmp_path_factory: pytest.TempPathFactory) -> Flow:
    """The one simulated and landed flow of a test process (tests/support/flow.py), for
    every package's tests: copy it (``flow.copy``) before changing anything in it."""
    pytest.importorskip("sensorlake.landing")
    return _land_a_flow(tmp_path_factory.mktemp("landed") / "flow")


@pytest.fixture(scope="session")
def streamed_flow(landed_flow: Flow, spark: Any, tmp_path_factory: pytest.TempPathFactory) -> Flow:
    """The same flow streamed once by the real local runner (tables and checkpoints), where
    Spark and Java are there; read it, or copy it before changing anything."""
    return landed_flow.copy(tmp_path_factory.mktemp("streamed") / "flow").streamed(spark)
