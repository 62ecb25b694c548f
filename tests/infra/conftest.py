"""Infra test fixtures: one synthesized app per session (importing the AWS provider is slow).

``synthesized`` builds the app from the committed example config with an empty environment,
while fake secrets sit in os.environ, so tests can prove no secret reaches the output. Its
jobs stack ships two *fixture* wheels (fixed bytes, named like the real ones): synth only
copies and hashes them; the real ones come from `uv build` (tests/infra/test_jobs.py).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20,22")

FAKE_SECRETS = {
    "DATABRICKS_TOKEN": "dapi-test-secret-must-never-leak-0123456789",
    "AWS_SECRET_ACCESS_KEY": "aws-test-secret-must-never-leak-9876543210",
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "infra: CDKTF infra package (make test TYPE=infra)")
    config.addinivalue_line("markers", "synth: needs the session's synthesized app (slow import)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/infra/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.infra)


@dataclass
class Synth:
    """The synthesized app: stacks, their JSON (as strings and dicts) and the output dir."""

    outdir: Path
    app: Any  # sensorlake.infra.main.InfraApp
    settings: Any
    storage_json: str
    catalog_json: str
    jobs_json: str = "{}"
    wheels: Any = None

    @property
    def docs(self) -> dict[str, dict[str, Any]]:
        docs = {
            "sensorlake-storage": json.loads(self.storage_json),
            "sensorlake-catalog": json.loads(self.catalog_json),
        }
        if self.wheels is not None:
            docs["sensorlake-jobs"] = json.loads(self.jobs_json)
        return docs


def fixture_wheels(directory: Path) -> Any:
    """Two fixed-content files named like the jobs' wheels (synth copies and hashes them)."""
    from sensorlake.infra.wheels import find_or_build_wheels

    directory.mkdir(parents=True, exist_ok=True)
    for name in ("sensorlake_streams", "sensorlake_contract"):
        wheel = directory / f"{name}-0.1.0-py3-none-any.whl"
        wheel.write_bytes(f"fixture wheel {name} 0.1.0\n".encode())
    return find_or_build_wheels(directory, ".")  # no sources here: only finds


def synthesize(settings: Any, outdir: Path, wheels: Any = None) -> Synth:
    from cdktf import Testing

    from sensorlake.infra.main import build_app

    infra = build_app(settings, outdir, wheels)
    infra.app.synth()
    return Synth(
        outdir=outdir,
        app=infra,
        settings=settings,
        storage_json=Testing.synth(infra.storage),
        catalog_json=Testing.synth(infra.catalog),
        jobs_json=Testing.synth(infra.jobs) if infra.jobs is not None else "{}",
        wheels=wheels,
    )


@pytest.fixture(scope="session")
def example_settings() -> Any:
    from sensorlake.infra.config import EXAMPLE_CONFIG, load_settings

    return load_settings(EXAMPLE_CONFIG, env={})


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory, example_settings: Any) -> Iterator[Synth]:
    saved = {k: os.environ.get(k) for k in FAKE_SECRETS}
    os.environ.update(FAKE_SECRETS)
    try:
        root = tmp_path_factory.mktemp("cdktf")
        wheels = fixture_wheels(root / "dist")
        yield synthesize(example_settings, root / "cdktf.out", wheels)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def resources(doc: dict[str, Any], rtype: str) -> dict[str, dict[str, Any]]:
    return dict((doc.get("resource") or {}).get(rtype) or {})


def data_sources(doc: dict[str, Any], dtype: str) -> dict[str, dict[str, Any]]:
    return dict((doc.get("data") or {}).get(dtype) or {})
