"""A batch's parts into spooled files: rotation, pieces joined, nothing visible early."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from sensorlake.landing.batch import BatchFiles
from sensorlake.landing.encode import encode_lines, encode_part, raw_part
from sensorlake.landing.spool import Spool


def records(first: int, last: int) -> list[tuple[int, dict[str, int]]]:
    return [(i, {"id": i}) for i in range(first, last + 1)]


def part(first: int, last: int):  # type: ignore[no-untyped-def]
    items = records(first, last)
    return encode_part(encode_lines([r for _, r in items]), len(items), first, last, level=2)


def piece(first: int, last: int):  # type: ignore[no-untyped-def]
    items = records(first, last)
    return raw_part(encode_lines([r for _, r in items]), [i for i, _ in items])


def batch(tmp_path: Path, max_rows: int = 100) -> BatchFiles:
    spool = Spool(tmp_path / "spool")
    spool.prepare()
    return BatchFiles(
        spool,
        gateway="gw",
        epoch=3,
        rules_version="v1",
        buckets={"raw": "raw"},
        max_rows={"raw": max_rows},
        max_bytes=64 * 1024 * 1024,
        level=2,
    )


def ids(path: Path) -> list[int]:
    return [json.loads(line)["id"] for line in gzip.decompress(path.read_bytes()).splitlines()]


def test_files_rotate_before_a_part_that_would_overflow(tmp_path: Path) -> None:
    files = batch(tmp_path, max_rows=10)
    for first, last in ((1, 6), (7, 12), (13, 22), (23, 25)):
        files.add("raw", "2026-03-01", part(first, last))
    assert list((tmp_path / "spool" / "ready").rglob("*.gz")) == []  # nothing visible yet
    landed = files.finish()
    assert [(f.key.first_row, f.key.last_row, f.records) for f in landed] == [
        (1, 6, 6),
        (7, 12, 6),
        (13, 22, 10),
        (23, 25, 3),
    ]
    assert all(f.key.epoch == 3 and f.rules_version == "v1" for f in landed)
    assert ids(landed[2].path) == list(range(13, 23))
    assert list((tmp_path / "spool" / "tmp").iterdir()) == []


def test_pieces_of_a_chunk_are_joined_into_the_same_bytes_as_the_whole(tmp_path: Path) -> None:
    whole = batch(tmp_path / "a")
    whole.add("raw", "2026-03-01", part(1, 30))
    split = batch(tmp_path / "b")
    for first, last in ((1, 4), (5, 17), (18, 30)):
        split.add("raw", "2026-03-01", piece(first, last))
    (a,), (b,) = whole.finish(), split.finish()
    assert (a.name, a.sha256, a.content_sha256) == (b.name, b.sha256, b.content_sha256)
    assert a.path.read_bytes() == b.path.read_bytes()


def test_abort_leaves_nothing_behind(tmp_path: Path) -> None:
    files = batch(tmp_path)
    files.add("raw", "2026-03-01", part(1, 5))
    files.add("raw", "2026-03-01", piece(6, 8))
    files.abort()
    assert [p for p in (tmp_path / "spool").rglob("*") if p.is_file()] == []
    assert files.finish() == []
