"""The fleet view's rules, pure: many gateways built from the contract's keys, the silent
threshold at its boundary, behind from a table's backlog, worst first, paging and search.

These are pure functions of listings; what the real lander and streams write is read in
test_api.py and test_emergencies.py."""

from __future__ import annotations

import pytest

from sensorlake.contract.keys import LandingKey
from sensorlake.contract.pipelines import TARGETS
from sensorlake.dashboards.fleet import MAX_PER_PAGE, build_fleet
from sensorlake.dashboards.readers.base import LandedObject
from sensorlake.dashboards.reconcile import Backlog

pytestmark = pytest.mark.dashboards

NOW = 1_800_000_000.0
SILENT, BEHIND = 900.0, 300.0


def obj(target: str, gateway: str, epoch: int, modified: float, records: int = 10) -> LandedObject:
    key = LandingKey(target, "2027-01-15", gateway, epoch, epoch * 100, epoch * 100 + 99)
    return LandedObject(key, 1000, modified, records)


def fleet_of(objs: list[LandedObject], backlog: dict[str, Backlog] | None = None):  # type: ignore[no-untyped-def]
    by_target = {t: tuple(o for o in objs if o.key.target == t) for t in TARGETS}
    return build_fleet(by_target, backlog or {}, NOW, silent_seconds=SILENT, behind_seconds=BEHIND)


def test_per_gateway_last_file_per_pipeline_and_hour_and_day_figures() -> None:
    objs = [
        obj("raw", "gw-a", 1, NOW - 2 * 86400, records=1000),  # older than a day
        obj("raw", "gw-a", 2, NOW - 7200, records=100),  # in the day, not the hour
        obj("raw", "gw-a", 3, NOW - 60, records=7),
        obj("emergency", "gw-a", 3, NOW - 30, records=2),
        obj("raw", "gw-b", 1, NOW - 10, records=5),
    ]
    fleet = fleet_of(objs)
    a = next(r for r in fleet.rows if r.gateway == "gw-a")
    assert [p.pipeline for p in a.pipelines] == ["raw", "emergency"]
    raw = a.pipelines[0]
    assert raw.last_key == objs[2].name and raw.last_modified == NOW - 60
    assert (raw.files_last_hour, raw.records_last_hour) == (1, 7)
    assert (raw.files_last_day, raw.records_last_day) == (2, 107)
    assert a.last_landed == NOW - 30  # any pipeline
    assert (a.files_last_hour, a.files_last_day) == (2, 3)  # every pipeline's files
    assert (a.records_last_hour, a.records_last_day) == (7, 107)  # readings: raw only
    assert a.backlog_files is None  # no table read: unknown, not zero
    assert fleet.gateways == 2 and fleet.counts == {"silent": 0, "behind": 0, "landing": 2}


def test_silent_is_strictly_more_than_the_threshold() -> None:
    fleet = fleet_of(
        [
            obj("raw", "gw-exactly", 1, NOW - SILENT),
            obj("raw", "gw-over", 1, NOW - SILENT - 0.001),
            obj("raw", "gw-under", 1, NOW - SILENT + 1),
        ]
    )
    states = {r.gateway: r.state for r in fleet.rows}
    assert states == {"gw-exactly": "landing", "gw-over": "silent", "gw-under": "landing"}
    over = next(r for r in fleet.rows if r.gateway == "gw-over")
    assert over.reason == "no file landed for 15 min"


def test_behind_from_the_backlog_of_tables_that_were_read() -> None:
    fresh = obj("raw", "gw-fresh", 1, NOW - 5)  # waiting a moment for the next batch
    old = obj("raw", "gw-old", 1, NOW - BEHIND)  # waiting the lag threshold: behind
    old_new = obj("raw", "gw-old", 2, NOW - 5)
    lost = obj("schematized", "gw-lost", 1, NOW - 10)  # due and not in the table
    lost_raw = obj("raw", "gw-lost", 1, NOW - 10)
    done = obj("raw", "gw-done", 1, NOW - 20)
    objs = [fresh, old, old_new, lost, lost_raw, done]
    backlog = {
        "raw": Backlog(pending=(fresh, old, old_new), known=True),
        "schematized": Backlog(missing=(lost,), known=True),
    }
    fleet = fleet_of(objs, backlog)
    rows = {r.gateway: r for r in fleet.rows}
    assert rows["gw-fresh"].state == "landing" and rows["gw-fresh"].backlog_files == 1
    assert rows["gw-old"].state == "behind" and rows["gw-old"].backlog_files == 2
    assert rows["gw-old"].backlog_records == 20
    assert rows["gw-old"].reason == "2 file(s) not ingested, oldest landed 5 min ago"
    assert rows["gw-lost"].state == "behind"
    assert rows["gw-lost"].reason == "1 landed file(s) due and not in their table"
    assert rows["gw-done"].state == "landing" and rows["gw-done"].backlog_files == 0
    # No table read: the same files say nothing about the gateways.
    assert {r.state for r in fleet_of(objs).rows} == {"landing"}


def test_a_silent_gateway_with_a_backlog_is_silent() -> None:
    stale = obj("raw", "gw-x", 1, NOW - 5000)
    fleet = fleet_of([stale], {"raw": Backlog(pending=(stale,), known=True)})
    assert fleet.rows[0].state == "silent"


def many() -> list[LandedObject]:
    """1,000 gateways over every target: gateway i landed its newest file i/2 seconds ago,
    every tenth is behind, every hundredth (among those left) silent."""
    objs = []
    for i in range(1000):
        gw = f"gw-{i:04d}"
        for target in TARGETS:
            for epoch in range(1, 5):
                age = i / 2 + (4 - epoch) * 300
                if i % 100 == 1:
                    age += 10_000  # silent
                objs.append(obj(target, gw, epoch, NOW - age))
    return objs


def test_a_thousand_gateways_worst_first() -> None:
    objs = many()
    behind = tuple(o for o in objs if o.key.target == "raw" and int(o.key.gateway[3:]) % 10 == 0)
    fleet = fleet_of(objs, {"raw": Backlog(pending=behind, known=True)})
    assert fleet.gateways == 1000
    assert fleet.counts == {"silent": 10, "behind": 100, "landing": 890}
    states = [r.state for r in fleet.rows]
    assert states == ["silent"] * 10 + ["behind"] * 100 + ["landing"] * 890
    silent = fleet.rows[:10]
    ages = [NOW - r.last_landed for r in silent]
    assert ages == sorted(ages, reverse=True)  # longest silent first
    assert silent[0].gateway == "gw-0901"
    behind_rows = fleet.rows[10:110]
    waits = [NOW - r.oldest_backlog for r in behind_rows]  # type: ignore[operator]
    assert waits == sorted(waits, reverse=True) and behind_rows[0].gateway == "gw-0990"
    landing = fleet.rows[110:]
    assert [NOW - r.last_landed for r in landing] == sorted(
        (NOW - r.last_landed for r in landing), reverse=True
    )


def test_paging_and_search() -> None:
    fleet = fleet_of(many())
    total, first = fleet.page(1, 50)
    assert total == 1000 and len(first) == 50 and first[0] is fleet.rows[0]
    _, third = fleet.page(3, 50)
    assert third == list(fleet.rows[100:150])
    _, last = fleet.page(20, 50)
    assert last == list(fleet.rows[950:])
    assert fleet.page(21, 50) == (1000, [])
    assert len(fleet.page(1, 10_000)[1]) == MAX_PER_PAGE  # per_page has a ceiling
    total, found = fleet.page(1, 50, q="GW-012")  # substring, case-insensitive
    assert total == 10 and {r.gateway for r in found} == {f"gw-012{d}" for d in range(10)}
    assert [r.gateway for r in found] == [r.gateway for r in fleet.rows if "gw-012" in r.gateway]
    total, silent = fleet.page(1, 50, state="silent")
    assert total == 10 and all(r.state == "silent" for r in silent)
    assert fleet.page(1, 50, q="0101", state="silent")[0] == 1
    assert fleet.page(1, 50, q="nope") == (0, [])
