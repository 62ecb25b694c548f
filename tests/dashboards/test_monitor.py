"""``monitor.py``: one refresh over the session's flow, landed and streamed by the real
writers (root ``tests/conftest.py``), reads every backend into one snapshot."""

from __future__ import annotations

import pytest

from sensorlake.contract.pipelines import TARGETS
from sensorlake.dashboards.monitor import Monitor, make_readers
from sensorlake.dashboards.settings import load_settings

from ..support.flow import FLOW_ROWS, Flow

pytestmark = pytest.mark.dashboards


def test_a_refresh_of_a_streamed_flow_is_exactly_once(streamed_flow: Flow) -> None:
    settings = load_settings(
        env={},
        lake_dir=streamed_flow.lake,
        state_dir=streamed_flow.state,
        warehouse_dir=streamed_flow.warehouse,
        checkpoint_dir=streamed_flow.checkpoints,
    )
    snap = Monitor(settings, make_readers(settings)).refresh()
    assert snap.reconciliation.verdict == "exactly once", snap.reconciliation.summary
    assert {p.pipeline: p.state for p in snap.status.pipelines} == dict.fromkeys(TARGETS, "healthy")
    raw = next(p for p in snap.status.pipelines if p.pipeline == "raw")
    assert raw.landed_records == raw.ingested_records == FLOW_ROWS
    assert snap.status.gateway.available and snap.status.gateway.last_run is not None
    assert snap.status.gateway.last_run.gateway == streamed_flow.gateway
