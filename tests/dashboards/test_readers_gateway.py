"""``readers/gateway.py``: the gateway state on this machine, as the real lander left it."""

from __future__ import annotations

from pathlib import Path

import pytest

from sensorlake.contract.lake import STATE_DB_NAME
from sensorlake.dashboards.errors import BackendUnavailable
from sensorlake.dashboards.readers.gateway import LocalGatewayReader
from sensorlake.landing.errors import ObjectConflict
from sensorlake.landing.simulate import simulate_bulk
from sensorlake.landing.sink import FakeSink

from ..support.flow import land_once

pytestmark = pytest.mark.dashboards


def test_no_state_is_none_not_an_error(tmp_path: Path) -> None:
    assert LocalGatewayReader(tmp_path / "state").gateway_state() is None


def test_runs_newest_first_and_the_files_still_spooled(tmp_path: Path) -> None:
    db, lake, state = tmp_path / "sensor.db", tmp_path / "lake", tmp_path / "state"
    simulate_bulk(db, 200, seed=1)
    first = land_once(db, lake, state)
    simulate_bulk(db, 100, seed=2)
    refused = FakeSink(fail=lambda bucket, key: ObjectConflict(f"{bucket}/{key} is not ours"))
    second = land_once(db, lake, state, sink=refused)
    assert second.conflicts

    found = LocalGatewayReader(state).gateway_state()
    assert found is not None
    assert [r.summary for r in found.runs] == [second, first]
    kept = [p for p in (state / "spool" / "ready").rglob("*") if p.is_file()]
    assert found.spool_files == len(kept) == len(second.conflicts)
    assert found.spool_bytes == sum(p.stat().st_size for p in kept) > 0


def test_a_state_that_is_not_a_database_is_one_line(tmp_path: Path) -> None:
    (tmp_path / STATE_DB_NAME).write_bytes(b"not a database" * 512)
    with pytest.raises(BackendUnavailable) as err:
        LocalGatewayReader(tmp_path).gateway_state()
    assert str(err.value).startswith(f"cannot read the gateway state in {tmp_path}")
    assert "\n" not in str(err.value)
