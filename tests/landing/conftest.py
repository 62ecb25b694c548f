"""Fixtures for the landing tests: simulated sensor databases, configs, lake readers."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sensorlake.landing.config import LandingConfig, load_config
from sensorlake.landing.rules import Rules, load_rules
from sensorlake.landing.simulate import simulate_bulk

FIXED_START = "2026-03-01T23:55:00+00:00"


@pytest.fixture(scope="session")
def rules() -> Rules:
    return load_rules()


@pytest.fixture
def sensor_db(tmp_path: Path) -> Path:
    """A 3,000-row simulated database spanning midnight UTC (two date partitions)."""
    from datetime import datetime

    path = tmp_path / "sensor_data.db"
    simulate_bulk(path, 3_000, seed=42, start=datetime.fromisoformat(FIXED_START))
    return path


@pytest.fixture
def fake_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Credentials moto accepts; the real chain is switched off in tests/conftest.py."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


@pytest.fixture
def make_config(tmp_path: Path) -> Callable[..., LandingConfig]:
    """A local-lake config under tmp_path; keyword overrides go to load_config."""

    def make(db_path: Path, **overrides: Any) -> LandingConfig:
        options: dict[str, Any] = {
            "env": {},
            "db_path": db_path,
            "state_dir": tmp_path / "state",
            "gateway_id": "gw-test",
            "lake_dir": tmp_path / "lake",
        }
        options.update(overrides)
        return load_config(**options)

    return make


def read_lake(root: Path) -> dict[str, list[dict[str, Any]]]:
    """Every record in a local lake (or a directory of landed objects), by target."""
    out: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(root.rglob("*.ndjson.gz")):
        target = path.relative_to(root).parts[1]
        with gzip.open(path, "rt") as handle:
            out.setdefault(target, []).extend(json.loads(line) for line in handle)
    return out


def lake_files(root: Path) -> dict[str, bytes]:
    """Relative path -> bytes of every landed object under a local lake."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.ndjson.gz"))}
