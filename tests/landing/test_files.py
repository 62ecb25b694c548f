"""``files.py``: a landed file's key, name and the object metadata it ships with, as the
real lander wrote them."""

from __future__ import annotations

from pathlib import Path

from sensorlake.contract.metadata import ObjectMetadata, local_metadata_path
from sensorlake.landing.files import LandedFile
from sensorlake.landing.simulate import simulate_bulk
from sensorlake.landing.sink import FakeSink

from ..support.flow import land_once


def test_each_shipped_file_carries_its_keys_metadata(tmp_path: Path) -> None:
    simulate_bulk(tmp_path / "sensor.db", 200, seed=1)
    seen: list[LandedFile] = []

    sink = FakeSink()
    original = sink.put_if_absent

    def put(file: LandedFile):  # type: ignore[no-untyped-def]
        seen.append(file)
        return original(file)

    sink.put_if_absent = put  # type: ignore[method-assign]
    summary = land_once(tmp_path / "sensor.db", tmp_path / "lake", tmp_path / "state", sink=sink)
    assert summary.exit_code == 0 and seen
    for file in seen:
        assert file.name == file.key.format() and file.target == file.key.target
        meta = file.metadata
        assert (meta.first_row_id, meta.last_row_id) == (file.key.first_row, file.key.last_row)
        assert (meta.record_count, meta.gateway_id) == (file.records, file.key.gateway)
        assert meta.sha256 == file.sha256 and meta.pipeline == file.target
        assert sink.metadata[file.bucket, file.name] == meta


def test_the_local_lake_keeps_the_same_metadata_beside_each_file(tmp_path: Path) -> None:
    simulate_bulk(tmp_path / "sensor.db", 200, seed=1)
    land_once(tmp_path / "sensor.db", tmp_path / "lake", tmp_path / "state")
    files = sorted((tmp_path / "lake").rglob("*.ndjson.gz"))
    assert files
    for path in files:
        meta = ObjectMetadata.from_json(local_metadata_path(path).read_text())
        assert path.name.startswith(f"{meta.epoch:08d}-")
