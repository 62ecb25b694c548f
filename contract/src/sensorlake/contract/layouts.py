"""Where the streams keep their state, and the Databricks job's arguments: written once.

A stream keeps two folders per table: its checkpoint (Spark's offsets and commits, which
dashboards read to tell processed files from pending ones) and its schema location (Auto
Loader's evolved schema; locally, the columns raw has grown). :class:`StreamLocations`
names both roots and derives every table's folders from them, locally and in Unity Catalog
volumes::

    local:    <checkpoint dir>/<catalog>/<schema>/<table>
              <checkpoint dir>/<catalog>/<schema>/_schemas/<table>
    volumes:  /Volumes/<catalog>/<schema>/autoloader_checkpoints/<table>
              /Volumes/<catalog>/<schema>/autoloader_schemas/<table>

:class:`JobArgs` is the Databricks job's parameter list: infra builds it (:meth:`JobArgs.argv`)
into the job it deploys, the job parses it (:meth:`JobArgs.parse`), and dashboards parse
the deployed job's parameters to find the checkpoints: one parser, one argv.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, NoReturn

from .names import check_uc_name, is_uc_name
from .pipelines import TARGETS, VOLUMES_ROOT, volume_path

__all__ = [
    "CHECKPOINTS_VOLUME",
    "JOB_PROG",
    "LOCAL_SCHEMAS_DIR",
    "SCHEMAS_VOLUME",
    "JobArgs",
    "StreamLocations",
    "parse_volume",
    "state_path",
]

# The volumes infra creates for the streams' state unless configured otherwise.
CHECKPOINTS_VOLUME: Final = "autoloader_checkpoints"
SCHEMAS_VOLUME: Final = "autoloader_schemas"
# Locally the schema locations sit beside the checkpoints, in this folder.
LOCAL_SCHEMAS_DIR: Final = "_schemas"
# The job's console script (the wheel task's entry point).
JOB_PROG: Final = "sensorlake-databricks-stream"


def state_path(root: str, table: str) -> str:
    """A table's own folder under a checkpoints or schemas root (``<root>/<table>``)."""
    return f"{root.rstrip('/')}/{table}"


def parse_volume(path: str, catalog: str, schema: str) -> str:
    """Check that ``path`` is a volume of the job's catalog and schema
    (``/Volumes/<catalog>/<schema>/<volume>``); returns it without a trailing slash."""
    parts = path.rstrip("/").split("/")
    expected = volume_path(catalog, schema, "<volume>")
    if (
        len(parts) != 5
        or "/".join(parts[:2]) != VOLUMES_ROOT
        or parts[2:4] != [catalog, schema]
        or not is_uc_name(parts[4])
    ):
        raise ValueError(f"{path!r} is not a Unity Catalog volume path: use {expected}")
    return "/".join(parts)


@dataclass(frozen=True)
class StreamLocations:
    """The roots of the streams' checkpoints and schema locations; one folder per table."""

    checkpoints: str
    schemas: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "checkpoints", self.checkpoints.rstrip("/") or "/")
        object.__setattr__(self, "schemas", self.schemas.rstrip("/") or "/")

    def checkpoint(self, table: str) -> str:
        """The table's stream checkpoint."""
        return state_path(self.checkpoints, table)

    def schema_location(self, table: str) -> str:
        """The table's schema location (Auto Loader's ``cloudFiles.schemaLocation``)."""
        return state_path(self.schemas, table)

    @classmethod
    def local(cls, checkpoint_dir: Path, catalog: str, schema: str) -> StreamLocations:
        """The local runner's: under ``<checkpoint dir>/<catalog>/<schema>``, like the volumes."""
        base = Path(checkpoint_dir) / catalog / schema
        return cls(str(base), str(base / LOCAL_SCHEMAS_DIR))

    @classmethod
    def volumes(
        cls,
        catalog: str,
        schema: str,
        checkpoints_volume: str = CHECKPOINTS_VOLUME,
        schemas_volume: str = SCHEMAS_VOLUME,
    ) -> StreamLocations:
        """The Databricks jobs': two Unity Catalog volumes of the tables' schema."""
        for kind, name in (("volume", checkpoints_volume), ("volume", schemas_volume)):
            check_uc_name(kind, name)
        return cls(
            volume_path(catalog, schema, checkpoints_volume),
            volume_path(catalog, schema, schemas_volume),
        )

    @classmethod
    def parse_volumes(
        cls, checkpoints: str, schemas: str, catalog: str, schema: str
    ) -> StreamLocations:
        """Both roots checked as volumes of ``catalog``.``schema`` (ValueError, one line)."""
        return cls(
            parse_volume(checkpoints, catalog, schema), parse_volume(schemas, catalog, schema)
        )


class _RaisingParser(argparse.ArgumentParser):
    """argparse that raises ValueError instead of exiting, so every caller decides."""

    def error(self, message: str) -> NoReturn:
        raise ValueError(message)


def _add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--target", required=True, choices=TARGETS)
    parser.add_argument("--catalog", required=True)
    parser.add_argument("--schema", required=True)
    parser.add_argument("--checkpoints", required=True, help="/Volumes/<catalog>/<schema>/<volume>")
    parser.add_argument("--schemas", required=True, help="/Volumes/<catalog>/<schema>/<volume>")
    parser.add_argument("--source", required=True, help="s3://bucket/prefix/ of the target")
    parser.add_argument(
        "--file-events",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="use the external location's managed file events (else directory listing)",
    )
    parser.add_argument("--max-files", type=int, default=None, help="files per micro-batch")
    parser.add_argument("--max-bytes", default=None, help="bytes per micro-batch, e.g. 10g")
    return parser


@dataclass(frozen=True)
class JobArgs:
    """One target's Databricks job parameters, checked when made (ValueError, one line).

    ``max_files``/``max_bytes`` None: not passed, the job uses its own defaults.
    """

    target: str
    catalog: str
    schema: str
    locations: StreamLocations
    source: str
    file_events: bool = True
    max_files: int | None = None
    max_bytes: str | None = None

    def __post_init__(self) -> None:
        if self.target not in TARGETS:
            raise ValueError(f"unknown target {self.target!r}: choose from {', '.join(TARGETS)}")
        check_uc_name("catalog", self.catalog)
        check_uc_name("schema", self.schema)
        StreamLocations.parse_volumes(
            self.locations.checkpoints, self.locations.schemas, self.catalog, self.schema
        )
        if not self.source.startswith("s3://") or len(self.source) <= len("s3://"):
            raise ValueError(f"--source {self.source!r} must be an s3:// URL of the landing prefix")
        if not self.source.endswith("/"):
            object.__setattr__(self, "source", self.source + "/")
        if self.max_files is not None and self.max_files <= 0:
            raise ValueError("--max-files must be positive")

    @staticmethod
    def parser() -> argparse.ArgumentParser:
        """The job's command line (exits 2 with a usage line on bad input, as CLIs do)."""
        return _add_arguments(
            argparse.ArgumentParser(
                prog=JOB_PROG,
                description="Ingest one sensorlake target's landed files into its Unity "
                "Catalog table.",
            )
        )

    def argv(self) -> list[str]:
        """The parameters of the job's wheel task, in the order :meth:`parse` reads."""
        args = [
            "--target", self.target,
            "--catalog", self.catalog,
            "--schema", self.schema,
            "--checkpoints", self.locations.checkpoints,
            "--schemas", self.locations.schemas,
            "--source", self.source,
            "--file-events" if self.file_events else "--no-file-events",
        ]  # fmt: skip
        if self.max_files is not None:
            args += ["--max-files", str(self.max_files)]
        if self.max_bytes is not None:
            args += ["--max-bytes", self.max_bytes]
        return args

    @classmethod
    def parse(cls, argv: Sequence[str]) -> JobArgs:
        """The parameters back from a job's argv; ValueError (one line) when they are wrong."""
        parsed = _add_arguments(_RaisingParser(prog=JOB_PROG, add_help=False)).parse_args(
            list(argv)
        )
        return cls(
            target=parsed.target,
            catalog=parsed.catalog,
            schema=parsed.schema,
            locations=StreamLocations(parsed.checkpoints, parsed.schemas),
            source=parsed.source,
            file_events=parsed.file_events,
            max_files=parsed.max_files,
            max_bytes=parsed.max_bytes,
        )
