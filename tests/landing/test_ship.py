"""Shipping: a file leaves the spool only once the sink has it; retries, conflicts, stops."""

from __future__ import annotations

from pathlib import Path

import pytest

from sensorlake.contract.keys import LandingKey
from sensorlake.landing.errors import DestinationError, DestinationUnavailable
from sensorlake.landing.failpoints import Failpoints
from sensorlake.landing.files import LandedFile
from sensorlake.landing.ship import ShipReport, ship_pending
from sensorlake.landing.sink import FakeSink
from sensorlake.landing.state import State

from .conftest import Dying, Killed, landed_file


def spooled(state: State, tmp_path: Path, *specs: tuple[str, int]) -> list[LandedFile]:
    files = [
        landed_file(
            tmp_path,
            f"{target} {first}".encode(),
            key=LandingKey(target, "2026-03-01", "gw", 1, first, first + 9),
            bucket=target,
        )
        for target, first in specs
    ]
    state.commit_batch(files, epoch=1, watermark=1_000, anchor="a")
    return files


def ship(state: State, sink: FakeSink, **options: object) -> ShipReport:
    defaults: dict[str, object] = {
        "attempts": 3,
        "sleep": lambda s: None,
        "should_stop": lambda: False,
        "failpoints": Failpoints(),
    }
    return ship_pending(state, sink, **{**defaults, **options})  # type: ignore[arg-type]


def test_ships_emergency_first_then_removes_from_the_spool(state: State, tmp_path: Path) -> None:
    files = spooled(state, tmp_path, ("raw", 1), ("emergency", 5), ("raw", 11))
    order: list[str] = []
    sink = FakeSink(fail=lambda bucket, key: order.append(key) and None)  # type: ignore[func-returns-value]
    report = ship(state, sink)
    assert [k.split("/")[0] for k in order] == ["emergency", "raw", "raw"]
    assert report.files == {"emergency": 1, "raw": 2}
    assert state.pending() == [] and not any(f.path.exists() for f in files)


def test_transient_failures_back_off_then_wait_for_the_next_run(
    state: State, tmp_path: Path
) -> None:
    (file,) = spooled(state, tmp_path, ("raw", 1))
    sleeps: list[float] = []
    down = FakeSink(fail=lambda bucket, key: DestinationUnavailable("offline"))
    report = ship(state, down, attempts=4, sleep=sleeps.append)
    assert sleeps == [0.5, 1.0, 2.0] and down.calls == 4
    assert isinstance(report.error, DestinationUnavailable)
    assert state.pending() == [file] and file.path.exists()


def test_terminal_failure_stops_shipping(state: State, tmp_path: Path) -> None:
    spooled(state, tmp_path, ("raw", 1), ("raw", 11))
    denied = FakeSink(fail=lambda bucket, key: DestinationError("access denied"))
    report = ship(state, denied)
    assert denied.calls == 1 and len(state.pending()) == 2
    assert isinstance(report.error, DestinationError)


def test_conflict_is_kept_and_the_rest_still_ships(state: State, tmp_path: Path) -> None:
    first, second = spooled(state, tmp_path, ("raw", 1), ("raw", 11))
    sink = FakeSink(objects={(first.bucket, first.name): b"someone else's"})
    report = ship(state, sink)
    assert report.conflicts == [first.name]
    assert [f.name for f in state.conflicts()] == [first.name] and first.path.exists()
    assert (second.bucket, second.name) in sink.objects and not second.path.exists()
    assert state.pending() == []


def test_same_content_counts_as_a_replay(state: State, tmp_path: Path) -> None:
    (file,) = spooled(state, tmp_path, ("raw", 1))
    sink = FakeSink(objects={(file.bucket, file.name): b"other compression"})
    sink.metadata[(file.bucket, file.name)] = file.metadata
    report = ship(state, sink)
    assert report.replays == 1 and report.conflicts == []
    assert state.pending() == []


def test_a_missing_spool_file_is_reported_not_shipped(state: State, tmp_path: Path) -> None:
    (file,) = spooled(state, tmp_path, ("raw", 1))
    file.path.unlink()
    report = ship(state, FakeSink())
    assert report.conflicts == [file.name]
    assert [f.name for f in state.conflicts()] == [file.name]


def test_stop_leaves_the_rest_pending(state: State, tmp_path: Path) -> None:
    spooled(state, tmp_path, ("raw", 1), ("raw", 11))
    sink = FakeSink()
    ship(state, sink, should_stop=lambda: sink.calls >= 1)
    assert sink.calls == 1 and len(state.pending()) == 1


def test_after_upload_the_sink_has_it_and_the_state_does_not_know(
    state: State, tmp_path: Path
) -> None:
    (file,) = spooled(state, tmp_path, ("raw", 1))
    sink = FakeSink()
    with pytest.raises(Killed):
        ship(state, sink, failpoints=Dying({"after-upload": 1}))
    assert (file.bucket, file.name) in sink.objects
    assert state.pending() == [file] and file.path.exists()
    assert ship(state, sink).replays == 1
