"""The contract's committed samples are what the real lander writes today: written again
here and compared (byte for byte for the landed files), so the contract's tests, which read
them without landing installed, are never checked against stale bytes.

After an intended change to what landing writes: ``uv run python -m tests.support.samples``.
"""

from __future__ import annotations

from pathlib import Path

from ..support.samples import SAMPLES, runs_table_sql, summaries, write_samples

REGENERATE = "uv run python -m tests.support.samples"


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*.gz"))}


def test_the_contracts_samples_are_what_landing_writes(tmp_path: Path) -> None:
    write_samples(tmp_path / "samples")
    fresh, committed = _files(tmp_path / "samples" / "lake"), _files(SAMPLES / "lake")
    assert sorted(fresh) == sorted(committed), f"landed keys changed: {REGENERATE}"
    changed = [name for name in fresh if fresh[name] != committed[name]]
    assert not changed, f"landed bytes changed in {changed}: {REGENERATE}"
    assert summaries(tmp_path / "samples") == summaries(), f"run summaries changed: {REGENERATE}"
    assert runs_table_sql(tmp_path / "samples" / "state") == runs_table_sql(SAMPLES / "state")
