"""An unwritable local lake (issue 13): read-only or full, the run says so in one line,
exits 5, leaves no ``.partial`` file, and loses nothing: the next run ships everything.

Tests may run as root, where a read-only mode does not stop writes: the lake's failure is
then simulated at the system call (``os.link`` into the lake, which is how the sink
creates an object), with the errno a read-only mount or a full disk gives.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from sensorlake.contract.cli import main
from sensorlake.landing.simulate import simulate_bulk

from .conftest import land_args, read_lake, source_ids


def _args(tmp_path: Path, db: Path) -> list[str]:
    return land_args(tmp_path, db, gateway="gw-lake")


def _one_line_exit_5(tmp_path: Path, db: Path, output: str, code: int) -> None:
    assert code == 5, output
    assert "Traceback" not in output
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, output
    assert "cannot write the local lake" in errors[0] and "nothing is lost" in errors[0]
    assert not list((tmp_path / "lake").rglob("*.partial"))


@pytest.mark.parametrize(
    "code", [errno.EROFS, errno.ENOSPC, errno.EACCES, errno.EPERM], ids=errno.errorcode.get
)
def test_an_unwritable_lake_says_so_in_one_line_and_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    db = tmp_path / "sensor.db"
    simulate_bulk(db, 200, seed=8)
    lake = tmp_path / "lake"
    real_link = os.link

    def link(src: os.PathLike[str] | str, dst: os.PathLike[str] | str, **kw: object) -> None:
        if Path(dst).is_relative_to(lake):
            raise OSError(code, os.strerror(code), str(dst))
        real_link(src, dst, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "link", link)
    result = CliRunner().invoke(main, _args(tmp_path, db), env={"SENSORLAKE_WORKERS": "1"})
    _one_line_exit_5(tmp_path, db, result.output, result.exit_code)
    assert not read_lake(lake)

    monkeypatch.setattr(os, "link", real_link)  # the disk is fixed
    result = CliRunner().invoke(main, _args(tmp_path, db), env={"SENSORLAKE_WORKERS": "1"})
    assert result.exit_code == 0, result.output
    raw_ids = sorted(r["_lineage"]["row_id"] for r in read_lake(lake)["raw"])
    assert raw_ids == source_ids(db)  # every row, once
    assert not list(lake.rglob("*.partial"))


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only directory")
def test_a_read_only_lake_directory(tmp_path: Path) -> None:
    db = tmp_path / "sensor.db"
    simulate_bulk(db, 50, seed=8)
    lake = tmp_path / "lake"
    lake.mkdir()
    lake.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        result = CliRunner().invoke(main, _args(tmp_path, db), env={"SENSORLAKE_WORKERS": "1"})
        _one_line_exit_5(tmp_path, db, result.output, result.exit_code)
    finally:
        lake.chmod(stat.S_IRWXU)
    result = CliRunner().invoke(main, _args(tmp_path, db), env={"SENSORLAKE_WORKERS": "1"})
    assert result.exit_code == 0, result.output
    assert len(read_lake(lake)["raw"]) == 50
