"""The wheels the Auto Loader jobs run: found in ``dist/``, or built there with ``uv build``.

The jobs ship the streams code as built wheels (``sensorlake-streams`` and the
``sensorlake-contract`` it imports), so what runs is exactly what the repository built. A
wheel's workspace path contains its SHA-256, so a changed wheel is a new file and redeploys.
Building is a side effect of synthesizing, done here, at the edge, before any stack exists.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path

from sensorlake.infra.errors import CommandError, ConfigError

__all__ = ["PACKAGES", "Wheel", "WheelsMissing", "find_or_build_wheels"]

# distribution -> source folder in the repository; the streams wheel first (the entry point).
PACKAGES: dict[str, str] = {"sensorlake-streams": "streams", "sensorlake-contract": "contract"}


class WheelsMissing(ConfigError):
    """A wheel is not in dist/ and cannot be built from this checkout."""


@dataclass(frozen=True)
class Wheel:
    distribution: str
    path: Path
    sha256: str

    @property
    def filename(self) -> str:
        return self.path.name

    def workspace_path(self, workspace_dir: str) -> str:
        """Where the job's environment finds it: the content hash is part of the path."""
        return f"{workspace_dir}/{self.sha256[:16]}/{self.filename}"


def _version(source: Path) -> str | None:
    pyproject = source / "pyproject.toml"
    if not pyproject.is_file():
        return None
    return tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["version"]


def _find(dist: Path, distribution: str, version: str | None) -> Path | None:
    stem = distribution.replace("-", "_")
    pattern = re.compile(rf"^{stem}-(?P<version>[^-]+)-.*\.whl$")
    found = [p for p in dist.glob(f"{stem}-*.whl") if pattern.match(p.name)]
    if version is not None:
        found = [p for p in found if pattern.match(p.name)["version"] == version]  # type: ignore[index]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def _build(root: Path, distribution: str, dist: Path) -> None:
    uv = shutil.which("uv")
    argv = [uv or "uv", "build", "--package", distribution, "--wheel", "--out-dir", str(dist)]
    proc = subprocess.run(argv, cwd=root, capture_output=True, text=True, check=False)
    if proc.returncode:
        raise CommandError(argv, proc.returncode, proc.stderr[-2000:])


def find_or_build_wheels(
    root: Path, dist_dir: str = "dist", packages: dict[str, str] = PACKAGES
) -> list[Wheel]:
    """The wheels in dist/ matching the checkout's package versions, building missing ones.

    Raises WheelsMissing (with what to do) when a package is neither built nor buildable;
    then nothing is built.
    """
    dist = (root / dist_dir).resolve()
    found: dict[str, Path | None] = {}
    missing: list[str] = []
    for distribution, folder in packages.items():
        version = _version(root / folder)
        found[distribution] = _find(dist, distribution, version) if dist.is_dir() else None
        if found[distribution] is None and version is None:
            missing.append(
                f"jobs: no {distribution} wheel in {dist} and no {folder}/ package in this "
                f"checkout to build it from: run `uv build --package {distribution}` where it "
                "exists and copy the wheel here, or set jobs.enabled: false"
            )
    if missing:
        raise WheelsMissing(missing, "jobs")
    wheels: list[Wheel] = []
    for distribution, folder in packages.items():
        path = found[distribution]
        if path is None:
            _build(root, distribution, dist)
            path = _find(dist, distribution, _version(root / folder))
            if path is None:
                raise CommandError(["uv", "build", "--package", distribution], 1, "no wheel built")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        wheels.append(Wheel(distribution, path, digest))
    return wheels
