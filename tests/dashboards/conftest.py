"""Fixtures for the dashboards: a real local flow (simulate, land, stream) and its monitor.

The lake comes from the real lander (``sensorlake.landing``); the tables and checkpoints
come from the real local streams runner (``sensorlake.streams.runner``) on one shared Spark
session, so the readers are tested on what the writers really write. Damage a test needs
(a lost or a doubled file) is done to the real output afterwards.
"""

from __future__ import annotations

import dataclasses
import functools
import shutil
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pytest
from deltalake import DeltaTable, write_deltalake
from starlette.testclient import TestClient

from sensorlake.contract.keys import LandingKey
from sensorlake.contract.lake import table_dir
from sensorlake.contract.pipelines import DEFAULT_CATALOG, DEFAULT_SCHEMA, TARGETS, table_name
from sensorlake.dashboards.monitor import Monitor, make_readers
from sensorlake.dashboards.readers.base import key_in
from sensorlake.dashboards.settings import Settings, load_settings
from sensorlake.landing.simulate import simulate_bulk

from ..support.flow import FLOW_GATEWAY, FLOW_LIMITS, land_once
from ..support.flow import Flow as SharedFlow

GATEWAY = FLOW_GATEWAY


def landed_keys(lake_dir: Path, target: str) -> list[LandingKey]:
    from sensorlake.contract.pipelines import bucket_role

    root = lake_dir / bucket_role(target)
    return sorted(
        LandingKey.parse(p.relative_to(root).as_posix())
        for p in root.glob(f"{target}/date=*/gateway=*/*.ndjson.gz")
    )


@dataclasses.dataclass
class Flow:
    """A landed lake and its warehouse, under one root."""

    root: Path
    db: Path
    spark: Callable[[], Any] | None = None  # the shared Spark session, started on first use

    @property
    def lake(self) -> Path:
        return self.root / "lake"

    @property
    def state(self) -> Path:
        return self.root / "state"

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    def land(self, rows: int = 0, seed: int = 7) -> None:
        """Add ``rows`` simulated readings (if any) and land everything new."""
        if rows:
            simulate_bulk(self.db, rows, seed=seed, start=datetime.now(UTC))
        summary = land_once(self.db, self.lake, self.state, gateway=GATEWAY, **FLOW_LIMITS)
        assert summary.exit_code == 0, summary.error

    def table_path(self, target: str) -> Path:
        return table_dir(self.warehouse, DEFAULT_CATALOG, DEFAULT_SCHEMA, table_name(target))

    def stream(self, targets: Iterable[str] = TARGETS) -> Any:
        """Run the real local streams once over the lake (tables and checkpoints)."""
        from sensorlake.streams.config import LocalRunConfig
        from sensorlake.streams.runner import run

        assert self.spark is not None, "this flow has no Spark session"
        config = LocalRunConfig(
            lake_dir=self.lake,
            warehouse_dir=self.warehouse,
            checkpoint_dir=self.checkpoints,
            targets=tuple(targets),
            master="local[2]",
        )
        return run(config, spark=self.spark(), progress=lambda _: None)

    def ingest(
        self,
        *,
        skip: Iterable[str] = (),
        duplicate: Iterable[str] = (),
        targets: Iterable[str] = TARGETS,
    ) -> dict[str, int]:
        """Run the real streams over every landed file not yet ingested; then ``skip`` keys
        lose their rows (the checkpoint says processed, the rows never arrived) and
        ``duplicate`` keys have their rows written a second time. Rows per target now."""
        targets = tuple(targets)
        result = self.stream(targets)
        written = {}
        for target in targets:
            error = result.tables[target].error
            assert error is None, f"{target}: {error}"
            path = self.table_path(target)
            for key in skip:
                for uri in self._sources(target, key):
                    DeltaTable(str(path)).delete(f"_source_file = '{uri}'")
            for key in duplicate:
                for uri in self._sources(target, key):
                    table = DeltaTable(str(path))
                    rows = table.to_pyarrow_table(filters=[("_source_file", "=", uri)])
                    write_deltalake(str(path), rows, mode="append")
            written[target] = DeltaTable(str(path)).to_pyarrow_dataset().count_rows()
        return written

    def _sources(self, target: str, key: str) -> list[str]:
        """The ``_source_file`` values of a landed key's rows in its table."""
        if not key.startswith(f"{target}/"):
            return []
        table = DeltaTable(str(self.table_path(target))).to_pyarrow_table(columns=["_source_file"])
        return [u for u in pc.unique(table["_source_file"]).to_pylist() if key_in(u) == key]

    def settings(self, **overrides: Any) -> Settings:
        base = load_settings(
            env={},
            lake_dir=self.lake,
            state_dir=self.state,
            warehouse_dir=self.warehouse,
            checkpoint_dir=self.checkpoints,
        )
        return dataclasses.replace(base, **overrides)

    def monitor(self, **overrides: Any) -> Monitor:
        settings = self.settings(**overrides)
        return Monitor(settings, make_readers(settings))


@pytest.fixture(autouse=True)
def _no_dashboard_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No Databricks workspace or local setting may leak in from the developer's shell."""
    for name in (
        "DATABRICKS_HOST",
        "DATABRICKS_HTTP_PATH",
        "DATABRICKS_TOKEN",
        "SENSORLAKE_DATABRICKS_CHECKPOINTS",
        "SENSORLAKE_WAREHOUSE_DIR",
        "SENSORLAKE_CHECKPOINT_DIR",
        "SENSORLAKE_CATALOG",
        "SENSORLAKE_SCHEMA",
        "SENSORLAKE_LAG_SECONDS",
        "SENSORLAKE_STALL_SECONDS",
        "SENSORLAKE_SILENT_SECONDS",
        "SENSORLAKE_MONITOR_TTL",
        "SENSORLAKE_MONITOR_TOKEN",
        "SENSORLAKE_MONITOR_ALLOWED_HOSTS",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def _no_redaction_left_behind() -> Iterator[None]:
    """``sensorlake monitor``/``status`` install log redaction for the process; a test that
    runs them must not mask its secrets (moto's "testing" keys...) in the tests after it."""
    from sensorlake.dashboards import redact

    yield
    redact.uninstall()


LOCAL_URL = "http://127.0.0.1:8000"


@pytest.fixture(autouse=True)
def _test_client_on_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """TestClient's default Host, ``testserver``, is refused (the DNS-rebinding check,
    security.py): requests come from http://127.0.0.1:8000, as a browser on the monitor's
    default address sends them, unless a test names another base_url."""
    original = TestClient.__init__

    @functools.wraps(original)
    def init(self: TestClient, app: Any, base_url: str = LOCAL_URL, *args: Any, **kw: Any) -> None:
        original(self, app, base_url, *args, **kw)

    monkeypatch.setattr(TestClient, "__init__", init)


@pytest.fixture(scope="session")
def _landed_template(landed_flow: SharedFlow) -> Path:
    """The session's landed flow (root ``tests/conftest.py``), copied by each test."""
    return landed_flow.root


@pytest.fixture
def flow(_landed_template: Path, tmp_path: Path, request: pytest.FixtureRequest) -> Flow:
    """A fresh copy of a landed lake (1,500 simulated rows, every pipeline), no tables yet;
    ``flow.ingest()`` runs the real streams on it."""
    root = tmp_path / "flow"
    shutil.copytree(_landed_template, root)
    return Flow(root, root / "sensor_data.db", spark=lambda: request.getfixturevalue("spark"))


@pytest.fixture
def make_flow(flow: Flow) -> Callable[[], Flow]:
    return lambda: flow
