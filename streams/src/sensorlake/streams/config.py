"""The local runner's settings, parsed once at the edge (the CLI) into one typed object.

The only module of the package that reads the environment: the shared catalog/schema, paths
and Spark settings are the contract's declarations (``sensorlake.contract.settings``); the
streams' own (``JAVA_HOME``) are declared here with the same mechanism.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sensorlake.contract.lake import table_dir
from sensorlake.contract.layouts import StreamLocations
from sensorlake.contract.pipelines import DEFAULT_CATALOG, DEFAULT_SCHEMA, TARGETS
from sensorlake.contract.settings import ConfigSpec, SparkSettings, configspec, path, setting

from .spec import LOCAL_MAX_BYTES, StreamSpec

__all__ = ["JavaSettings", "LocalRunConfig", "parse_targets"]

_SPARK = SparkSettings.settings()


@configspec("Streams")
class JavaSettings(ConfigSpec):
    """The Java the local Spark session starts (Spark 4 needs 17 or newer)."""

    java_home: Path | None = setting(
        "JAVA_HOME",
        None,
        "Java installation for the local Spark session",
        parse=path,
        shown_default="java on PATH",
    )


def parse_targets(value: str | None) -> tuple[str, ...]:
    """``--pipelines raw,emergency`` as targets; ``rejected`` comes with ``schematized``
    (its rows land beside schematized's), unless named on its own."""
    if not value:
        return TARGETS
    names = [n.strip() for n in value.split(",") if n.strip()]
    unknown = [n for n in names if n not in TARGETS]
    if unknown or not names:
        raise ValueError(
            f"unknown pipeline(s) {', '.join(unknown) or value!r}: choose from {', '.join(TARGETS)}"
        )
    if "schematized" in names and "rejected" not in names:
        names.append("rejected")
    return tuple(t for t in TARGETS if t in names)


@dataclass(frozen=True)
class LocalRunConfig:
    lake_dir: Path
    warehouse_dir: Path
    checkpoint_dir: Path
    catalog: str = DEFAULT_CATALOG
    schema: str = DEFAULT_SCHEMA
    targets: tuple[str, ...] = TARGETS
    continuous: bool = False
    interval: float = 60.0
    max_files: int | None = None
    max_bytes: str = LOCAL_MAX_BYTES
    master: str = _SPARK["master"].default
    memory: str = _SPARK["driver_memory"].default

    def spec(self, target: str) -> StreamSpec:
        return StreamSpec(target, self.catalog, self.schema)

    def table_path(self, spec: StreamSpec) -> Path:
        return table_dir(self.warehouse_dir, spec.catalog, spec.schema, spec.table)

    def locations(self, spec: StreamSpec) -> StreamLocations:
        """Where the streams keep their state (the contract's local layout)."""
        return StreamLocations.local(self.checkpoint_dir, spec.catalog, spec.schema)

    def checkpoint_path(self, spec: StreamSpec) -> Path:
        """Like the checkpoints volume: ``<checkpoint dir>/<catalog>/<schema>/<table>``."""
        return Path(self.locations(spec).checkpoint(spec.table))

    def schema_path(self, spec: StreamSpec) -> Path:
        """Like the schemas volume, beside the checkpoints: ``.../_schemas/<table>``."""
        return Path(self.locations(spec).schema_location(spec.table))
