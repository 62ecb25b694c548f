"""A gateway installs only landing: small, and no Spark, cdktf or web framework."""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
FORBIDDEN = ("pyspark", "delta-spark", "cdktf", "fastapi", "uvicorn", "starlette", "jsii", "pandas")


@pytest.mark.slow
def test_standalone_gateway_install(tmp_path: Path) -> None:
    env_dir = tmp_path / "gateway-venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    install = subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            str(ROOT / "contract"),
            str(ROOT / "landing"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    listed = subprocess.run(
        [str(python), "-m", "pip", "list", "--format=freeze"],
        capture_output=True,
        text=True,
        check=True,
    )
    installed = {line.split("==")[0].lower() for line in listed.stdout.splitlines()}
    assert {"sensorlake-landing", "sensorlake-contract"} <= installed
    assert not installed & set(FORBIDDEN), installed & set(FORBIDDEN)
    help_run = subprocess.run(
        [str(env_dir / "bin" / "sensorlake"), "land", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert help_run.returncode == 0, help_run.stderr
    assert "Examples:" in help_run.stdout
    root = subprocess.run(
        [str(env_dir / "bin" / "sensorlake"), "--help"], capture_output=True, text=True, timeout=60
    )
    # only landing's commands: infra/streams/dashboards add theirs when installed
    assert "land" in root.stdout and "setup" not in root.stdout
    assert sys.version_info >= (3, 11)
