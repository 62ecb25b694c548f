"""The snapshot's figures for Prometheus: up before the first read, one-hot states, each
metric with the label names metrics.py documents, figures as the snapshot has them."""

from __future__ import annotations

import re
import threading

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from sensorlake.dashboards import metrics
from sensorlake.dashboards.app import create_app
from sensorlake.dashboards.metrics import (
    COMPONENT_STATES,
    LABEL_SETS,
    STATES,
    Exposition,
    SnapshotCollector,
    render,
)
from sensorlake.dashboards.monitor import Monitor
from sensorlake.dashboards.snapshot import Snapshot

from .conftest import GATEWAY, Flow
from .test_alerts import _exported

pytestmark = pytest.mark.dashboards


def samples(text: bytes) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text.decode()):
        for s in family.samples:
            out.setdefault(s.name, []).append((s.labels, s.value))
    return out


def test_before_the_first_read_only_up_is_exported_and_it_is_0() -> None:
    assert samples(render(SnapshotCollector(lambda: None, lambda: 0.0))) == {
        "sensorlake_monitor_up": [({}, 0.0)]
    }


def test_a_snapshot_is_exported_as_the_snapshot_says(flow: Flow) -> None:
    flow.ingest()
    snap = flow.monitor().refresh()
    got = samples(render(SnapshotCollector(lambda: snap, lambda: snap.at + 42.0)))
    assert got["sensorlake_monitor_up"] == [({}, 1.0)]
    assert got["sensorlake_monitor_snapshot_age_seconds"] == [({}, 42.0)]
    assert set(got) <= set(LABEL_SETS)
    for name, rows in got.items():
        for labels, _ in rows:
            assert sorted(labels) == sorted(LABEL_SETS[name]), name
    # one-hot: each component and pipeline is in exactly one state, the one the snapshot says
    for metric, states, rows, key, field in (
        ("sensorlake_component_state", COMPONENT_STATES, snap.health.components, "name", "status"),
        ("sensorlake_pipeline_state", STATES, snap.status.pipelines, "pipeline", "state"),
    ):
        label = "component" if key == "name" else "pipeline"
        for row in rows:
            mine = [(lab, v) for lab, v in got[metric] if lab[label] == getattr(row, key)]
            assert sorted(lab["state"] for lab, _ in mine) == sorted(states)
            assert [lab["state"] for lab, v in mine if v == 1] == [getattr(row, field)]
    records = {lab["pipeline"]: v for lab, v in got["sensorlake_landed_records"]}
    assert records == {p.pipeline: p.records for p in snap.metrics.pipelines}
    exactly_once = snap.reconciliation.verdict in ("exactly once", "in flight")
    assert got["sensorlake_reconciliation_exactly_once"] == [({}, float(exactly_once))]


def test_gateway_last_landed_is_the_newest_landed_file(flow: Flow) -> None:
    text, _ = _exported(flow)
    newest = max(p.stat().st_mtime for p in flow.lake.rglob(f"gateway={GATEWAY}/*.ndjson.gz"))
    match = re.search(
        rf'^sensorlake_gateway_last_landed_timestamp_seconds\{{gateway="{GATEWAY}"\}} (\S+)$',
        text,
        re.M,
    )
    assert match, text
    assert float(match.group(1)) == pytest.approx(newest, abs=1.0)
    assert text.count("sensorlake_gateway_last_landed_timestamp_seconds{") == 1


def _spy(monkeypatch: pytest.MonkeyPatch) -> list[Snapshot]:
    """The snapshots whose figures were rendered, one entry per render."""
    rendered: list[Snapshot] = []
    real = metrics.render_figures

    def spy(snap: Snapshot) -> bytes:
        rendered.append(snap)
        return real(snap)

    monkeypatch.setattr(metrics, "render_figures", spy)
    return rendered


def test_metrics_are_rendered_once_per_snapshot(
    flow: Flow, monkeypatch: pytest.MonkeyPatch
) -> None:
    rendered = _spy(monkeypatch)
    settings = flow.settings()
    now = [0.0]
    monitor = Monitor(settings, flow.monitor().readers, clock=lambda: now[0])
    client = TestClient(create_app(monitor, start_monitor=False))
    now[0] = 1_000_000.0
    first = monitor.refresh()  # published: its figures rendered by the refresh, once
    assert rendered == [first]
    scrapes = []
    for age in (5.0, 6.5):
        now[0] = first.at + age
        scrapes.append(client.get("/metrics").text)
    assert rendered == [first]  # two scrapes, no render
    # The same text as a collector rendering everything per scrape, age included.
    for age, text in zip((5.0, 6.5), scrapes, strict=True):
        whole = render(SnapshotCollector(lambda: first, lambda a=age: first.at + a)).decode()
        assert text == whole
    assert samples(scrapes[1].encode())["sensorlake_monitor_snapshot_age_seconds"] == [({}, 6.5)]
    second = monitor.refresh()
    assert second is not first
    assert rendered == [first, second]
    client.get("/metrics")
    assert rendered == [first, second]


def test_concurrent_scrapes_of_a_new_snapshot_share_one_render(
    flow: Flow, monkeypatch: pytest.MonkeyPatch
) -> None:
    snap = flow.monitor().refresh()
    rendered = _spy(monkeypatch)
    exposition = Exposition(lambda: snap, lambda: snap.at)  # not told: the scrapes render
    start = threading.Barrier(8)
    texts: list[bytes] = []

    def scrape() -> None:
        start.wait()
        texts.append(exposition.render())

    threads = [threading.Thread(target=scrape) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert rendered == [snap]
    assert len(set(texts)) == 1
    assert texts[0] == render(SnapshotCollector(lambda: snap, lambda: snap.at))


def test_a_scrape_during_a_render_gets_the_previous_snapshot_whole(
    flow: Flow, monkeypatch: pytest.MonkeyPatch
) -> None:
    monitor = flow.monitor()
    old, new = monitor.refresh(), monitor.refresh()
    current = [old]
    exposition = Exposition(lambda: current[0], lambda: new.at + 3.0)
    exposition.prepare(old)
    started, release = threading.Event(), threading.Event()
    real = metrics.render_figures

    def slow(snap: Snapshot) -> bytes:
        started.set()
        assert release.wait(60)
        return real(snap)

    monkeypatch.setattr(metrics, "render_figures", slow)
    publishing = threading.Thread(target=exposition.prepare, args=(new,))
    publishing.start()
    try:
        assert started.wait(60)
        current[0] = new  # published; its figures are still being rendered
        text = exposition.render()  # does not wait for that render
        assert text == render(SnapshotCollector(lambda: old, lambda: new.at + 3.0))
    finally:
        release.set()
        publishing.join()
    assert exposition.render() == render(SnapshotCollector(lambda: new, lambda: new.at + 3.0))
