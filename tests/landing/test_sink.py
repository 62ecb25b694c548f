"""The local lake and the test doubles: create-only, replays, same content, conflicts, and
the metadata sidecar the local lake keeps beside each file."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from sensorlake.contract.metadata import ObjectMetadata, local_metadata_path
from sensorlake.landing.errors import DestinationUnavailable, ObjectConflict
from sensorlake.landing.files import LandedFile
from sensorlake.landing.sink import FakeSink, LocalLakeSink, NullSink, PutOutcome

from .conftest import KEY as LANDING_KEY
from .conftest import Dying, Killed, landed_file

BUCKET = "raw"
KEY = LANDING_KEY.format()


def _file(tmp_path: Path, name: str, data: bytes, content: str | None = None) -> LandedFile:
    return landed_file(tmp_path, data, bucket=BUCKET, name=name, content=content)


# -- LocalLakeSink ---------------------------------------------------------------------------


def test_local_lake_sink_create_identical_conflict(tmp_path: Path) -> None:
    sink = LocalLakeSink(tmp_path / "lake")
    file = _file(tmp_path, "a", b"local bytes\n")
    copy = _file(tmp_path, "a2", b"local bytes\n")
    other = _file(tmp_path, "b", b"other bytes\n")
    dest = tmp_path / "lake" / BUCKET / KEY
    assert sink.put_if_absent(file) is PutOutcome.CREATED
    assert dest.read_bytes() == b"local bytes\n"
    assert sink.put_if_absent(copy) is PutOutcome.IDENTICAL
    with pytest.raises(ObjectConflict, match="already exists with different content"):
        sink.put_if_absent(other)
    assert dest.read_bytes() == b"local bytes\n"
    names = sorted(p.name for p in dest.parent.iterdir())
    assert names == [dest.name, local_metadata_path(dest).name], "no temporary files left"


def test_local_lake_keeps_the_objects_metadata_beside_it(tmp_path: Path) -> None:
    """The local lake mirrors S3's object metadata: the contract's sidecar, same fields."""
    sink = LocalLakeSink(tmp_path / "lake")
    file = _file(tmp_path, "a", b"local bytes\n", content="cc" * 32)
    sink.put_if_absent(file)
    sidecar = local_metadata_path(tmp_path / "lake" / BUCKET / KEY)
    assert ObjectMetadata.from_json(sidecar.read_text()) == file.metadata
    assert json.loads(sidecar.read_text()) == file.metadata.to_s3()


def test_local_lake_sidecar_is_create_only(tmp_path: Path) -> None:
    """An existing sidecar describes the object that is there and is kept as it is."""
    lake = tmp_path / "lake"
    first = _file(tmp_path, "a", b"compressed one way", content="cc" * 32)
    again = _file(tmp_path, "b", b"compressed another way", content="cc" * 32)
    sink = LocalLakeSink(lake)
    sink.put_if_absent(first)
    assert sink.put_if_absent(again) is PutOutcome.SAME_CONTENT
    dest = lake / BUCKET / KEY
    assert dest.read_bytes() == b"compressed one way"
    assert ObjectMetadata.from_json(local_metadata_path(dest).read_text()) == first.metadata


def test_local_lake_same_size_other_content_is_a_conflict(tmp_path: Path) -> None:
    sink = LocalLakeSink(tmp_path / "lake")
    sink.put_if_absent(_file(tmp_path, "a", b"aaaa", content="aa" * 32))
    with pytest.raises(ObjectConflict):
        sink.put_if_absent(_file(tmp_path, "b", b"bbbb", content="bb" * 32))


def test_local_lake_replay_writes_a_sidecar_a_crash_left_out(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    file = _file(tmp_path, "a", b"bytes\n")
    LocalLakeSink(lake).put_if_absent(file)
    sidecar = local_metadata_path(lake / BUCKET / KEY)
    sidecar.unlink()  # as if killed between the file and its metadata
    assert LocalLakeSink(lake).put_if_absent(file) is PutOutcome.IDENTICAL
    assert ObjectMetadata.from_json(sidecar.read_text()) == file.metadata


def test_during_upload_fires_with_half_of_the_file_written(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    data = bytes(range(256)) * 40
    file = _file(tmp_path, "a", data)
    with pytest.raises(Killed):
        LocalLakeSink(lake, failpoints=Dying({"during-upload": 1})).put_if_absent(file)
    dest = lake / BUCKET / KEY
    assert not dest.exists() and not local_metadata_path(dest).exists()
    (partial,) = dest.parent.iterdir()
    assert partial.read_bytes() == data[: len(data) // 2]  # half of the body, not nothing
    # the rerun writes the whole object and clears the partial one
    assert LocalLakeSink(lake).put_if_absent(file) is PutOutcome.CREATED
    assert dest.read_bytes() == data
    assert sorted(p.name for p in dest.parent.iterdir()) == sorted(
        [dest.name, local_metadata_path(dest).name]
    )


# -- FakeSink and NullSink ---------------------------------------------------------------------


def test_fake_sink_create_identical_conflict_and_injected_failure(tmp_path: Path) -> None:
    file = _file(tmp_path, "a", b"fake\n")
    other = _file(tmp_path, "b", b"different\n")
    sink = FakeSink()
    assert sink.put_if_absent(file) is PutOutcome.CREATED
    assert sink.put_if_absent(file) is PutOutcome.IDENTICAL
    with pytest.raises(ObjectConflict):
        sink.put_if_absent(other)
    assert sink.objects == {(BUCKET, KEY): b"fake\n"}
    assert sink.metadata == {(BUCKET, KEY): file.metadata}

    boom = DestinationUnavailable("injected")
    failing = FakeSink(fail=lambda bucket, key: boom if key == KEY else None)
    with pytest.raises(DestinationUnavailable):
        failing.put_if_absent(file)
    elsewhere = landed_file(tmp_path, b"fake\n", key=replace(LANDING_KEY, last_row=11))
    assert failing.put_if_absent(elsewhere) is PutOutcome.CREATED
    assert failing.calls == 2
    assert (BUCKET, KEY) not in failing.objects


def test_null_sink_takes_everything_and_keeps_names(tmp_path: Path) -> None:
    sink = NullSink()
    file = _file(tmp_path, "a", b"x")
    assert sink.put_if_absent(file) is PutOutcome.CREATED
    assert sink.put_if_absent(file) is PutOutcome.CREATED
    assert sink.landed == [f"{BUCKET}/{KEY}"] * 2
    assert file.path.exists()
