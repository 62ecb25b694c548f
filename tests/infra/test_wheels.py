"""``wheels.py``: the wheels a job runs are the checkout's versions, found in ``dist/``; a
package neither built nor buildable is one line saying what to do, and nothing is built."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from sensorlake.infra.wheels import Wheel, WheelsMissing, find_or_build_wheels


def _package(root: Path, folder: str, version: str) -> None:
    (root / folder).mkdir(parents=True)
    (root / folder / "pyproject.toml").write_text(f'[project]\nversion = "{version}"\n')


def test_the_checkouts_versions_are_taken_from_dist(tmp_path: Path) -> None:
    _package(tmp_path, "streams", "1.2.0")
    dist = tmp_path / "dist"
    dist.mkdir()
    (dist / "sensorlake_streams-1.1.0-py3-none-any.whl").write_bytes(b"old")
    wanted = dist / "sensorlake_streams-1.2.0-py3-none-any.whl"
    wanted.write_bytes(b"new")
    (wheel,) = find_or_build_wheels(tmp_path, packages={"sensorlake-streams": "streams"})
    assert wheel == Wheel(
        "sensorlake-streams", wanted.resolve(), hashlib.sha256(b"new").hexdigest()
    )
    assert wheel.workspace_path("/W") == f"/W/{wheel.sha256[:16]}/{wanted.name}"


def test_a_package_neither_built_nor_in_the_checkout_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(WheelsMissing) as err:
        find_or_build_wheels(tmp_path, packages={"sensorlake-contract": "contract"})
    text = str(err.value)
    assert "no sensorlake-contract wheel in" in text and "uv build --package" in text
    assert not (tmp_path / "dist").exists()
