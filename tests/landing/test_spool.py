"""The spool: files become visible in ready/ only complete, and crash orphans go."""

from __future__ import annotations

from pathlib import Path

from sensorlake.landing.spool import Spool


def test_commit_publishes_a_tmp_file_under_its_bucket_and_key(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    spool.prepare()
    tmp, handle = spool.open_tmp("x.part")
    with handle:
        handle.write(b"bytes")
    final = spool.commit(tmp, "raw", "raw/date=2026-03-01/gateway=g/k.ndjson.gz")
    assert final == spool.path_for("raw", "raw/date=2026-03-01/gateway=g/k.ndjson.gz")
    # a hard link: the tmp name goes only once the state has recorded the file (batch)
    assert final.read_bytes() == b"bytes" and tmp.samefile(final)


def test_recover_keeps_what_the_state_knows_and_deletes_orphans(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    spool.prepare()
    known = spool.path_for("raw", "raw/a.ndjson.gz")
    orphan = spool.path_for("raw", "raw/b.ndjson.gz")
    for path in (known, orphan):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    half_written = spool.tmp / "1-1-raw.part"
    half_written.write_bytes(b"x")
    removed = spool.recover([known])
    assert sorted(removed) == sorted([orphan, half_written])
    assert known.exists() and not orphan.exists() and not half_written.exists()


def test_remove_is_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "gone"
    Spool.remove(path)
    path.write_bytes(b"x")
    Spool.remove(path)
    assert not path.exists()
