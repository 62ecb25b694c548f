"""A batch's parts into spooled files: rotation, pieces joined, nothing visible early."""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Callable
from pathlib import Path

from sensorlake.landing.encode import encode_lines, encode_part, raw_part
from sensorlake.landing.rotation import BatchFiles
from sensorlake.landing.spool import Spool


def records(first: int, last: int) -> list[tuple[int, dict[str, int]]]:
    return [(i, {"id": i}) for i in range(first, last + 1)]


def part(first: int, last: int):  # type: ignore[no-untyped-def]
    items = records(first, last)
    return encode_part(encode_lines([r for _, r in items]), len(items), first, last, level=2)


def piece(first: int, last: int):  # type: ignore[no-untyped-def]
    items = records(first, last)
    return raw_part(encode_lines([r for _, r in items]), [i for i, _ in items])


def batch(
    tmp_path: Path,
    max_rows: int = 100,
    *,
    max_age: float | None = None,
    clock: Callable[[], float] = time.time,
) -> BatchFiles:
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
        max_age=None if max_age is None else {"raw": max_age},
        clock=clock,
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


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def rolling(tmp_path: Path, clock: Clock, max_age: float = 60.0) -> BatchFiles:
    return batch(tmp_path, max_age=max_age, clock=clock)


def test_a_file_stays_open_until_its_age_limit(tmp_path: Path) -> None:
    clock = Clock()
    files = rolling(tmp_path, clock)
    files.add("raw", "2026-03-01", part(1, 5))
    assert files.checkpoint() == []
    (opened,) = files.open_files()
    assert (opened.key.first_row, opened.key.last_row, opened.records) == (1, 5, 5)
    assert opened.opened_at == 1000
    files.release()
    clock.now += 30
    files.add("raw", "2026-03-01", part(6, 9))
    assert files.checkpoint() == []
    clock.now += 30
    (closed,) = files.checkpoint()
    files.release()
    assert (closed.key.first_row, closed.key.last_row, closed.records) == (1, 9, 9)
    assert ids(closed.path) == list(range(1, 10))
    assert files.open_files() == [] and list((tmp_path / "spool" / "tmp").iterdir()) == []


def test_a_later_date_closes_the_earlier_dates_file(tmp_path: Path) -> None:
    files = rolling(tmp_path, Clock())
    files.add("raw", "unknown", part(1, 2))
    files.add("raw", "2026-03-01", part(3, 5))
    assert files.checkpoint() == []
    files.release()
    files.add("raw", "2026-03-02", part(6, 8))
    (closed,) = files.checkpoint()
    assert (closed.key.date, closed.key.first_row, closed.key.last_row) == ("2026-03-01", 3, 5)
    assert sorted(f.key.date for f in files.open_files()) == ["2026-03-02", "unknown"]


def test_an_open_file_is_resumed_after_a_crash_into_the_same_bytes(tmp_path: Path) -> None:
    """Parts after the last commit are cut off again; the resumed file, finished, is the
    file an uninterrupted writer makes from the same parts."""
    clean = rolling(tmp_path / "clean", Clock())
    clean.add("raw", "2026-03-01", part(1, 5))
    clean.checkpoint()
    clean.release()
    clean.add("raw", "2026-03-01", part(6, 12))
    (expected,) = clean.finish()

    crashed = rolling(tmp_path / "crash", Clock())
    crashed.add("raw", "2026-03-01", part(1, 5))
    crashed.checkpoint()
    committed = crashed.open_files()  # what the state records at the commit
    crashed.release()
    crashed.add("raw", "2026-03-01", part(6, 9))
    crashed.checkpoint()  # fsynced, but the process dies before the state commit
    (path,) = (tmp_path / "crash" / "spool" / "tmp").iterdir()
    assert path.stat().st_size > committed[0].size

    resumed = rolling(tmp_path / "crash", Clock())
    resumed.resume(committed)
    assert path.stat().st_size == committed[0].size
    resumed.add("raw", "2026-03-01", part(6, 12))
    (landed,) = resumed.finish()
    assert (landed.name, landed.sha256, landed.content_sha256, landed.records) == (
        expected.name,
        expected.sha256,
        expected.content_sha256,
        12,
    )
    assert landed.path.read_bytes() == expected.path.read_bytes()
    assert ids(landed.path) == list(range(1, 13))


def test_abort_keeps_the_files_the_state_knows(tmp_path: Path) -> None:
    files = rolling(tmp_path, Clock())
    files.add("raw", "2026-03-01", part(1, 5))
    files.checkpoint()
    files.release()
    files.add("raw", "2026-03-01", part(6, 8))
    files.add("raw", "2026-03-02", part(9, 10))  # a new file, unknown to the state
    closed = files.checkpoint()
    assert [f.key.date for f in closed] == ["2026-03-01"]
    files.abort()
    left = [p.name for p in (tmp_path / "spool").rglob("*") if p.is_file()]
    assert left == ["raw-2026-03-01-00000003-0000000000000000001.part"]
