"""The local lake reader: sidecar metadata, counting once, foreign and bad files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sensorlake.contract.metadata import ObjectMetadata, local_metadata_path
from sensorlake.dashboards.readers import lake as lake_module
from sensorlake.dashboards.readers.lake import LocalLakeReader
from sensorlake.dashboards.snapshot import chart_buckets

from .conftest import Flow, landed_keys

pytestmark = pytest.mark.dashboards


def test_sidecar_metadata_wins_and_files_are_counted_once(
    flow: Flow, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Path] = []
    real = lake_module.count_lines
    monkeypatch.setattr(lake_module, "count_lines", lambda p: calls.append(p) or real(p))
    reader = LocalLakeReader(flow.lake)
    with_sidecars = reader.list_landed()
    assert calls == []  # landing writes <file>.metadata.json: nothing is read
    sidecars = list(flow.lake.rglob("*.metadata.json"))
    assert sidecars
    for sidecar in sidecars:  # files landed before landing wrote sidecars
        sidecar.unlink()
    first = reader.list_landed()
    files = sum(len(v) for v in first.objects.values())
    assert len(calls) == files  # each file counted...
    reader.list_landed()
    assert len(calls) == files  # ...once
    assert {t: sum(o.records for o in v) for t, v in first.objects.items()} == {
        t: sum(o.records for o in v) for t, v in with_sidecars.objects.items()
    }

    key = landed_keys(flow.lake, "raw")[0]
    path = reader.path_of(key.format())
    meta = ObjectMetadata(
        12345, key.first_row, key.last_row, key.epoch, "r", key.gateway, "raw", "0" * 64
    )
    local_metadata_path(path).write_text(meta.to_json())
    raw = {o.name: o.records for o in reader.list_landed().objects["raw"]}
    assert raw[key.format()] == 12345
    assert len(calls) == files


def test_foreign_files_are_counted_as_unknown(flow: Flow) -> None:
    odd = flow.lake / "raw" / "raw" / "date=2026-11-26" / "gateway=gw-x" / "notes.ndjson.gz"
    odd.parent.mkdir(parents=True)
    odd.write_bytes(b"")
    listing = LocalLakeReader(flow.lake).list_landed()
    assert listing.unknown_keys == 1
    assert all(o.key.gateway != "gw-x" for o in listing.objects["raw"])


def test_chart_buckets_are_round_and_bounded() -> None:
    now = 1_800_000_000.0
    width, start = chart_buckets(None, now)
    assert width == 15 and start <= now - 15 * 60 and start % width == 0
    width, start = chart_buckets(now - 3 * 86400, now)
    assert width == 6 * 3600 and (now - start) / width <= 61
    width, start = chart_buckets(now - 400 * 86400, now)
    assert now - start <= 7 * 86400 + width


def test_a_bad_sidecar_is_reported_for_its_file_and_its_lines_are_counted(flow: Flow) -> None:
    """``[]`` and a negative record-count: the contract refuses them, the reader counts the
    file's lines instead and names the file; the rest of the landing zone reads as before.
    The sidecars are edited in place, which leaves their directory's time alone, so a reader
    that has listed the lake already would not look again (see ``readers/lake.py``): the
    edited lake is read by a new reader."""
    before = {o.name: o.records for o in LocalLakeReader(flow.lake).list_landed().objects["raw"]}
    reader = LocalLakeReader(flow.lake)
    first, second = landed_keys(flow.lake, "raw")[:2]
    local_metadata_path(reader.path_of(first.format())).write_text("[]")
    sidecar = local_metadata_path(reader.path_of(second.format()))
    sidecar.write_text(json.dumps({**json.loads(sidecar.read_text()), "record-count": "-400"}))
    listing = reader.list_landed()
    assert {o.name: o.records for o in listing.objects["raw"]} == before
    assert set(listing.bad_metadata) == {first.format(), second.format()}
    assert "a JSON list, not an object" in listing.bad_metadata[first.format()]
    assert "record-count -400 is negative" in listing.bad_metadata[second.format()]

    snap = flow.monitor().refresh()
    landing = next(c for c in snap.health.components if c.name == "landing")
    assert landing.status == "degraded"
    assert landing.reason is not None and "2 landed file(s) with metadata" in landing.reason
    assert snap.metrics.bad_metadata_objects == 2
    raw = next(p for p in snap.metrics.pipelines if p.pipeline == "raw")
    assert raw.records == 1_500 and raw.error is None
