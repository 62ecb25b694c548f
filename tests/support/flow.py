"""One small flow for every package's tests: simulate a sensor database, land it with the
real lander, and (where Spark and Java are there) stream it with the real local runner.

Tests that only need "simulate and land" call :func:`land_once`; tests that need a landed
or a streamed lake copy the session's :class:`Flow` (root ``tests/conftest.py`` fixtures
``landed_flow`` and ``streamed_flow``), so the flow is built once per session.

This lives under ``tests/``: it is never installed, least of all on a gateway. Landing is
imported lazily, so a contract-only install can import this module (and skip its fixtures).
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sensorlake.contract.summary import RunSummary
    from sensorlake.landing.config import LandingConfig
    from sensorlake.landing.rules import Rules
    from sensorlake.landing.sink import Sink

__all__ = [
    "FLOW_GATEWAY",
    "FLOW_LIMITS",
    "FLOW_ROWS",
    "FLOW_START",
    "Flow",
    "land",
    "land_once",
    "landed_flow",
]

FLOW_GATEWAY = "gw-flow"
FLOW_ROWS = 1_500
FLOW_START = datetime.fromisoformat("2026-03-01T23:55:00+00:00")  # spans midnight: two dates
# Small files and batches, one worker: every target gets several files, deterministically.
FLOW_LIMITS: Mapping[str, int] = {"workers": 1, "batch_rows": 800, "file_rows": 400}


def land(
    config: LandingConfig,
    rules: Rules | None = None,
    sink: Sink | None = None,
    *,
    dry_run: bool = False,
    rolling: bool = False,
    **lander: Any,
) -> RunSummary:
    """One run of the real lander with ``config`` (into its local lake unless ``sink``)."""
    from sensorlake.landing.rules import load_rules
    from sensorlake.landing.runner import Lander
    from sensorlake.landing.sink import LocalLakeSink

    if sink is None:
        sink = LocalLakeSink(config.lake_dir)
    runner = Lander(config, rules if rules is not None else load_rules(), sink, **lander)
    return runner.run_once(dry_run=dry_run, rolling=rolling)


def land_once(
    db: Path,
    lake: Path,
    state: Path,
    *,
    gateway: str = FLOW_GATEWAY,
    sink: Sink | None = None,
    rules: Rules | None = None,
    env: Mapping[str, str] | None = None,
    pipelines: str | None = None,
    **limits: Any,
) -> RunSummary:
    """Land a sensor database with the real lander, configured as the CLI would be
    (``limits``: :class:`landing.config.Limits` fields to override, e.g. ``file_rows``)."""
    from sensorlake.landing.config import load_config

    config = load_config(
        env=dict(env or {}),
        db_path=db,
        state_dir=state,
        gateway_id=gateway,
        lake_dir=lake,
        pipelines=pipelines,
    )
    if limits:
        config = dataclasses.replace(config, limits=dataclasses.replace(config.limits, **limits))
    return land(config, rules, sink)


@dataclasses.dataclass
class Flow:
    """A sensor database, its gateway state and lake, and (once streamed) the warehouse and
    checkpoints, all under ``root``."""

    root: Path
    gateway: str = FLOW_GATEWAY

    @property
    def db(self) -> Path:
        return self.root / "sensor_data.db"

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

    def simulate(self, rows: int, *, seed: int = 42, start: datetime | None = None) -> None:
        from sensorlake.landing.simulate import simulate_bulk

        simulate_bulk(self.db, rows, seed=seed, start=start or FLOW_START)

    def land(self, **limits: Any) -> RunSummary:
        """Land everything new in the database (it must land cleanly)."""
        summary = land_once(self.db, self.lake, self.state, gateway=self.gateway, **limits)
        assert summary.exit_code == 0, summary.error
        return summary

    def stream(self, spark: Any, targets: Iterable[str] | None = None) -> Any:
        """Run the real local streams once over the lake (tables and checkpoints)."""
        from sensorlake.contract.pipelines import TARGETS
        from sensorlake.streams.config import LocalRunConfig
        from sensorlake.streams.runner import run

        config = LocalRunConfig(
            lake_dir=self.lake,
            warehouse_dir=self.warehouse,
            checkpoint_dir=self.checkpoints,
            targets=tuple(targets if targets is not None else TARGETS),
            master="local[2]",
        )
        return run(config, spark=spark, progress=lambda _: None)

    def streamed(self, spark: Any) -> Flow:
        """Stream this flow once; every target must ingest without an error."""
        result = self.stream(spark)
        failed = {t: r.error for t, r in result.tables.items() if r.error}
        assert not failed, failed
        return self

    def copy(self, root: Path) -> Flow:
        """The same flow under another root (a test damages its own copy)."""
        shutil.copytree(self.root, root)
        return dataclasses.replace(self, root=root)


def landed_flow(root: Path) -> Flow:
    """The session's flow: :data:`FLOW_ROWS` readings simulated as of now and landed."""
    from datetime import UTC

    flow = Flow(root)
    flow.simulate(FLOW_ROWS, seed=42, start=datetime.now(UTC))
    flow.land(**FLOW_LIMITS)
    return flow
