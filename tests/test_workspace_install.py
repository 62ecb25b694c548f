"""A plain ``uv sync`` at the root gives every command; a gateway still installs only
contract + landing (tests/landing/test_install.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = ("land", "validate", "simulate", "migrate", "streams", "monitor", "status", "setup")


def _name(requirement: str) -> str:
    return requirement.split("[")[0].split(">")[0].split("=")[0].strip()


def test_the_root_project_depends_on_every_member() -> None:
    root = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    members = {
        tomllib.loads((ROOT / m / "pyproject.toml").read_text(encoding="utf-8"))["project"]["name"]
        for m in root["tool"]["uv"]["workspace"]["members"]
    }
    assert root["tool"]["uv"]["package"] is False  # the root stays a virtual project
    assert members <= {_name(r) for r in root["project"]["dependencies"]}
    lock = tomllib.loads((ROOT / "uv.lock").read_text(encoding="utf-8"))
    (workspace,) = [p for p in lock["package"] if p["name"] == root["project"]["name"]]
    assert members <= {d["name"] for d in workspace["dependencies"]}  # uv.lock agrees


@pytest.mark.slow
def test_a_plain_uv_sync_gives_every_command(tmp_path: Path) -> None:
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not on PATH")
    env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(tmp_path / "venv")}
    env.pop("VIRTUAL_ENV", None)
    sync = subprocess.run(
        [uv, "sync", "--frozen", "--no-dev", "--quiet"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert sync.returncode == 0, sync.stderr[-3000:]
    out = subprocess.run(
        [str(tmp_path / "venv" / "bin" / "sensorlake"), "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    listed = {line.split()[0] for line in out.stdout.split("Commands:")[1].splitlines() if line}
    assert set(COMMANDS) <= listed, set(COMMANDS) - listed
    assert sys.version_info >= (3, 11)
