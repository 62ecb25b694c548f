"""The fleet table and the emergencies panel in real headless Chromium, at 1,000 gateways.

This tests rendering, so its inputs are synthesized: ``LandingListing`` values built with
the contract's ``LandingKey`` (1,000 gateways, every target, four files each), table
figures that leave every tenth gateway's raw files un-ingested, and a few emergency
readings. What the real lander, streams and readers produce is tested in test_fleet_api.py.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sensorlake.contract.keys import LandingKey
from sensorlake.contract.pipelines import TARGETS, table_name
from sensorlake.dashboards.app import create_app
from sensorlake.dashboards.monitor import Monitor, Readers
from sensorlake.dashboards.readers.base import (
    EmergencyReading,
    GatewayState,
    LandedObject,
    LandingListing,
    TableStats,
)
from sensorlake.dashboards.settings import Settings

from .test_page import ARTIFACTS, CHROMIUM, FLAGS, serve

pytestmark = pytest.mark.dashboards

GATEWAYS = 1000


class FleetLanding:
    kind = "local lake"

    def __init__(self, now: float) -> None:
        objects: dict[str, list[LandedObject]] = {t: [] for t in TARGETS}
        for i in range(GATEWAYS):
            gw = f"gw-{i:04d}"
            silent = i % 100 == 1  # ten gateways: newest file over 2 h old
            for target in TARGETS:
                for epoch in range(1, 5):
                    age = i * 0.2 + (4 - epoch) * 300 + (7200 if silent else 0)
                    key = LandingKey(
                        target, "2026-12-04", gw, epoch, epoch * 400, epoch * 400 + 399
                    )
                    objects[target].append(LandedObject(key, 4096, now - age, 400))
        self.objects = {t: tuple(v) for t, v in objects.items()}

    def list_landed(self) -> LandingListing:
        return LandingListing(self.objects, {t: f"/lake/{t}" for t in TARGETS})


class FleetTables:
    """Every file ingested but the raw files of every tenth gateway (behind)."""

    kind = "local warehouse"

    def __init__(self, landing: FleetLanding, now: float) -> None:
        self.landing = landing
        self.now = now

    def table_stats(self, target: str) -> TableStats:
        objs = self.landing.objects[target]
        done = [o for o in objs if not (target == "raw" and int(o.key.gateway[3:]) % 10 == 0)]
        rows: dict[str, int] = {}
        for o in done:
            rows[o.key.gateway] = rows.get(o.key.gateway, 0) + o.records
        return TableStats(
            table=f"c.s.{table_name(target)}",
            version=3,
            rows=sum(rows.values()),
            created_at=self.now - 86400,
            last_ingested_at=None,  # no commit time: waiting files stay pending
            columns=("a",),
            initial_columns=("a",),
            rescued_rows=0,
            files=frozenset(o.name for o in done),
            gateway_rows=rows,
            gateway_distinct=dict(rows),
            ingested_per_minute={},
        )

    def latest_emergencies(self, limit: int = 50) -> tuple[EmergencyReading, ...]:
        return tuple(
            EmergencyReading(
                sensor_id=f"BER_{n:06d}",
                gateway=f"gw-{n * 37 % GATEWAYS:04d}",
                timestamp=self.now - 60 * n,
                reasons=("temperature.above",) if n % 2 else ("anomaly.spike", "voltage.below"),
                values={"temperature": 80.5 + n, "voltage": 11.2, "humidity": None},
                valid=n != 3,
                reading_id=1000 + n,
            )
            for n in range(min(limit, 5))
        )


class NoGateway:
    def gateway_state(self) -> GatewayState | None:
        return None


@pytest.fixture
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"CI must have a system chromium at {CHROMIUM}: .ci/run installs it")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium; .ci/run does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield b
        b.close()


def test_fleet_table_at_a_thousand_gateways(browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import httpx2

    now = time.time()
    landing = FleetLanding(now)
    readers = Readers(
        landing, FleetTables(landing, now), NoGateway(), tables_kind="local warehouse"
    )
    monitor = Monitor(Settings(cache_ttl_seconds=30.0), readers)
    with serve(create_app(monitor)) as url:
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        problems: list[str] = []
        page.on(
            "console",
            lambda m: problems.append(m.text) if m.type in ("error", "warning") else None,
        )
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto(url)
        page.wait_for_selector("body[data-loaded=true]", timeout=60_000)
        page.wait_for_selector("#fleet-table tbody tr", timeout=20_000)

        api = httpx2.get(f"{url}/api/fleet", params={"per_page": 50}).json()
        assert api["totals"] == {"gateways": 1000, "healthy": 890, "silent": 10, "behind": 100}
        rows = page.locator("#fleet-table tbody tr")
        assert rows.count() == 50
        shown = [rows.nth(i).get_attribute("data-gateway") for i in range(50)]
        assert shown == [g["gateway"] for g in api["gateways"]]
        states = [rows.nth(i).get_attribute("data-state") for i in range(50)]
        assert states == ["silent"] * 10 + ["behind"] * 40  # worst first
        assert shown[0] == "gw-0901"  # the longest silent
        assert "1,000 gateways: 890 healthy, 10 silent, 100 behind" in page.inner_text(
            "#fleet-totals"
        )
        assert page.inner_text("#fleet-page") == "page 1 of 20"
        first = rows.nth(0)
        assert first.locator(".fleet-pipes span").count() == len(TARGETS)
        assert first.locator(".files").inner_text() == "0 / 20"
        # Emergencies at the top: newest first, with sensor, gateway, reasons and values.
        alarms = page.locator("#emergencies-table tbody tr")
        assert alarms.count() == 5 and page.locator("#emergencies-empty").is_hidden()
        assert alarms.nth(0).locator(".sensor").inner_text() == "BER_000000"
        assert alarms.nth(0).locator(".reasons").inner_text() == "anomaly.spike, voltage.below"
        assert "temperature 80.5" in alarms.nth(0).locator(".values").inner_text()
        assert alarms.nth(3).locator(".reasons").inner_text().endswith("(invalid reading)")
        page.screenshot(path=str(tmp_path / "fleet.png"), full_page=True)
        page.locator("#fleet").screenshot(path=str(tmp_path / "fleet-table.png"))
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "fleet.png"), full_page=True)
        page.screenshot(path=str(ARTIFACTS / "fleet-top.png"))

        # The pager: the next page is the API's second page.
        page.click("#fleet-next")
        page.wait_for_function("() => document.querySelector('#fleet').dataset.page === '2'")
        second = httpx2.get(f"{url}/api/fleet", params={"page": 2}).json()["gateways"]
        assert [rows.nth(i).get_attribute("data-gateway") for i in range(50)] == [
            g["gateway"] for g in second
        ]
        assert page.inner_text("#fleet-page") == "page 2 of 20"
        assert not page.is_disabled("#fleet-prev")

        # The search box: a substring of the id, back to page 1.
        page.fill("#fleet-q", "GW-012")
        page.wait_for_function("() => document.querySelector('#fleet').dataset.matching === '10'")
        found = sorted(rows.nth(i).get_attribute("data-gateway") or "" for i in range(rows.count()))
        assert found == [f"gw-012{d}" for d in range(10)]
        assert page.inner_text("#fleet-page") == "page 1 of 1 (10 match)"
        assert page.is_disabled("#fleet-next") and page.is_disabled("#fleet-prev")
        assert rows.nth(0).get_attribute("data-state") == "behind"  # gw-0120: worst first

        page.fill("#fleet-q", "")
        page.select_option("#fleet-state", "silent")
        page.wait_for_function(
            "() => [...document.querySelectorAll('#fleet-table tbody tr')]"
            ".filter((r) => r.dataset.state === 'silent').length === 10"
        )
        page.wait_for_timeout(500)  # the search box's cleared text is applied too, no later
        assert {rows.nth(i).get_attribute("data-state") for i in range(rows.count())} == {"silent"}
        page.screenshot(path=str(tmp_path / "fleet-silent.png"), full_page=True)
        assert (tmp_path / "fleet.png").stat().st_size > 10_000
        assert problems == []


def test_emergencies_panel_over_a_real_flow(flow, browser) -> None:  # type: ignore[no-untyped-def]
    """The panel lists what the emergency table holds: landed by the real lander, written by
    the real streams, read by the local table reader."""
    import httpx2

    from .conftest import GATEWAY

    flow.ingest()
    for path in flow.lake.rglob(f"gateway={GATEWAY}/*.ndjson.gz"):
        os.utime(path)  # landed at the session's start: now, so never silent here
    with serve(create_app(flow.monitor())) as url:
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url)
        page.wait_for_selector("body[data-loaded=true]", timeout=30_000)
        api = httpx2.get(f"{url}/api/emergencies").json()["readings"]
        assert api, "the simulated readings trip emergency rules"
        page.wait_for_selector("#emergencies-table tbody tr", timeout=20_000)
        alarms = page.locator("#emergencies-table tbody tr")
        assert alarms.count() == len(api)
        for i in (0, len(api) - 1):
            assert alarms.nth(i).get_attribute("data-sensor") == api[i]["sensor_id"]
            assert alarms.nth(i).locator(".gateway").inner_text() == GATEWAY
            assert (
                alarms.nth(i)
                .locator(".reasons")
                .inner_text()
                .startswith(", ".join(api[i]["reasons"]))
            )
        assert page.locator("#emergencies").get_attribute("data-count") == str(len(api))
        row = page.locator(f"#fleet-table tbody tr[data-gateway={GATEWAY}]")
        assert row.get_attribute("data-state") == "landing"
        assert row.locator(".backlog").inner_text() == "none"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "emergencies.png"))
        assert errors == []
