"""Where things live on one machine, and where a landed key lives in S3.

The local lake mirrors the buckets: ``<lake>/<bucket role>/<key>``, the same keys as S3,
so every consumer reads one layout whether the files are local or in the cloud. The
default paths are relative to the working directory (``var/``), each with its variable.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from .gateway_state import STATE_DB_NAME
from .keys import LandingKey
from .layouts import StreamLocations
from .pipelines import bucket_role

__all__ = [
    "LOCAL_PATHS",
    "STATE_DB_NAME",
    "LocalPath",
    "checkpoint_path",
    "follows_layout",
    "lake_key",
    "lake_path",
    "s3_url",
    "table_dir",
]


@dataclass(frozen=True)
class LocalPath:
    """One local directory setting: its option, its variable, its default."""

    option: str
    env: str
    default: Path
    help: str


LOCAL_PATHS: Final[dict[str, LocalPath]] = {
    "db": LocalPath(
        "--db-path", "SENSOR_DB_PATH", Path("var/sensor_data.db"), "the sensor's SQLite database"
    ),
    "state": LocalPath(
        "--state-dir",
        "SENSORLAKE_STATE_DIR",
        Path("var/state"),
        "gateway landing state and spool",
    ),
    "lake": LocalPath(
        "--lake-dir", "SENSORLAKE_LAKE_DIR", Path("var/lake"), "local lake (landed files)"
    ),
    "warehouse": LocalPath(
        "--warehouse-dir",
        "SENSORLAKE_WAREHOUSE_DIR",
        Path("var/warehouse"),
        "local Delta tables (<catalog>/<schema>/<table>)",
    ),
    "checkpoint": LocalPath(
        "--checkpoint-dir",
        "SENSORLAKE_CHECKPOINT_DIR",
        Path("var/checkpoints"),
        "local stream checkpoints",
    ),
}


def lake_path(lake_dir: Path, key: str) -> Path:
    """Where a landed key lives in the local lake."""
    return Path(lake_dir) / bucket_role(key.split("/", 1)[0]) / key


def lake_key(lake_dir: Path, path: Path) -> LandingKey | None:
    """The landing key of a file in the local lake (``<lake>/<bucket role>/<key>``), or
    None when the file does not follow the key layout (wrong folders or name, or a target
    in another target's bucket): such a file is no landed file, and no stream ingests it."""
    relative = None
    for base, file in (
        (Path(os.path.abspath(lake_dir)), Path(os.path.abspath(path))),
        (Path(lake_dir).resolve(), Path(path).resolve()),  # a lake reached through a link
    ):
        if file.is_relative_to(base):
            relative = file.relative_to(base).as_posix()
            break
    if relative is None:
        return None
    role, _, key = relative.partition("/")
    try:
        parsed = LandingKey.parse(key)
    except ValueError:
        return None
    return parsed if bucket_role(parsed.target) == role else None


def follows_layout(lake_dir: Path, path: Path) -> bool:
    """Whether a file in the local lake follows the key layout (see :func:`lake_key`)."""
    return lake_key(lake_dir, path) is not None


def s3_url(bucket: str, key: str = "") -> str:
    """The ``s3://`` URL of a key (or of the bucket root)."""
    return f"s3://{bucket}/{key}"


def table_dir(warehouse_dir: Path, catalog: str, schema: str, table: str) -> Path:
    """Where the local runner keeps a table: the three-level UC name as folders."""
    return Path(warehouse_dir) / catalog / schema / table


def checkpoint_path(checkpoint_dir: Path, catalog: str, schema: str, table: str) -> Path:
    """Where a table's local stream checkpoint lives: ``<checkpoints>/<catalog>/<schema>/<table>``,
    laid out like the checkpoints volume (:meth:`StreamLocations.local` decides it). The streams
    write it; dashboards read from it which landed files a stream has processed."""
    return Path(StreamLocations.local(checkpoint_dir, catalog, schema).checkpoint(table))
