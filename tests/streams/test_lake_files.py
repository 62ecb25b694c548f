"""Landed files as the local runner sees them: batch file lists, integrity, new fields, counts."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import pytest

from sensorlake.contract.keys import SUFFIX, LandingKey
from sensorlake.contract.lake import lake_path
from sensorlake.contract.metadata import ObjectMetadata, local_metadata_path
from sensorlake.streams import lake_files

pytestmark = pytest.mark.streams


def _file(lake: Path, target: str, name: str, lines: list[str]) -> Path:
    path = lake_path(lake, f"{target}/date=2026-03-01/gateway=g/{name}.ndjson.gz")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress("".join(f"{line}\n" for line in lines).encode(), mtime=0))
    return path


def _sidecar(path: Path, count: int, sha256: str | None = None) -> None:
    meta = ObjectMetadata(
        count, 1, count, 1, "r", "g", "raw", sha256 or hashlib.sha256(path.read_bytes()).hexdigest()
    )
    local_metadata_path(path).write_text(meta.to_json())


def test_batch_files_come_from_the_source_log_and_its_compactions(tmp_path: Path) -> None:
    log = tmp_path / "sources" / "0"
    log.mkdir(parents=True)
    entry = lambda p, b: json.dumps({"path": p, "timestamp": 1, "batchId": b})  # noqa: E731
    (log / "3").write_text("v1\n" + entry("file:///l/a.ndjson.gz", 3) + "\n")
    (log / "9.compact").write_text(
        "v1\n" + "\n".join(entry(f"file:///l/{b}.gz", b) for b in (8, 9, 9))
    )
    assert lake_files.batch_files(tmp_path, 3) == ["file:///l/a.ndjson.gz"]
    assert lake_files.batch_files(tmp_path, 9) == ["file:///l/9.gz", "file:///l/9.gz"]
    assert lake_files.batch_files(tmp_path, 4) == []


def test_file_urls_become_local_paths() -> None:
    assert lake_files.local_file("file:///a/b%3Dc/x.gz") == Path("/a/b=c/x.gz")
    assert lake_files.local_file("file:/a/b.gz") == Path("/a/b.gz")
    assert lake_files.local_file("/a/b.gz") == Path("/a/b.gz")


def test_corruption_is_found_by_sidecar_hash_then_by_decompressing(tmp_path: Path) -> None:
    good = _file(tmp_path, "raw", "good", ["{}"] * 100)
    assert lake_files.corruption(good) is None
    _sidecar(good, 100)
    assert lake_files.corruption(good) is None
    data = good.read_bytes()
    good.write_bytes(data[:-9])  # truncated: the sidecar's hash no longer matches
    assert "gzip" in (lake_files.corruption(good) or "")
    other = _file(tmp_path, "raw", "other", ["{}"])
    _sidecar(other, 1, sha256="0" * 64)  # a wrong hash alone is not corruption: it decompresses
    assert lake_files.corruption(other) is None
    assert "vanished" in (lake_files.corruption(tmp_path / "missing.ndjson.gz") or "")


def test_first_record_fields(tmp_path: Path) -> None:
    path = _file(tmp_path, "raw", "f", ['{"id": 1, "x": 2.5}', "not json"])
    assert lake_files.first_record_fields(path) == {"id": 1, "x": 2.5}
    assert lake_files.first_record_fields(_file(tmp_path, "raw", "bad", ["[1, 2]"])) == {}
    broken = tmp_path / "broken.ndjson.gz"
    broken.write_bytes(b"garbage")
    assert lake_files.first_record_fields(broken) == {}


def test_landed_records_per_target_from_sidecars_or_lines(tmp_path: Path) -> None:
    def name(row: int) -> str:  # a landing key's file name
        return (
            LandingKey("raw", "2026-03-01", "g", 1, row, row)
            .format()
            .rsplit("/", 1)[1]
            .removesuffix(SUFFIX)
        )

    _file(tmp_path, "raw", name(1), ["{}"] * 5)
    with_sidecar = _file(tmp_path, "raw", name(2), ["{}"] * 3)
    _sidecar(with_sidecar, 3)
    _file(tmp_path, "rejected", name(3), ["{}"] * 2)
    (lake_path(tmp_path, f"raw/date=2026-03-01/gateway=g/{name(4)}.ndjson.gz")).write_bytes(
        b"corrupt"
    )
    _file(tmp_path, "raw", "not-a-key", ["{}"] * 7)  # outside the layout: no landed file
    assert lake_files.landed_records(tmp_path, ("raw", "schematized", "rejected")) == {
        "raw": 8,
        "schematized": 0,
        "rejected": 2,
    }
