"""The pipelines, the buckets they live in, and the rules for bucket names.

Four pipelines land files; rows that fail validation are kept as a fifth *target*,
``rejected``, beside schematized in its bucket. A fifth bucket role, ``checkpoints``, holds
the streams' checkpoints and schemas and never receives landed files.
"""

from __future__ import annotations

import re
from typing import Final, Literal

__all__ = [
    "BUCKET_ENV",
    "BUCKET_ROLES",
    "DEFAULT_CATALOG",
    "DEFAULT_SCHEMA",
    "LANDING_PREFIXES",
    "LANDING_ROLES",
    "PIPELINES",
    "PROBE_PREFIX",
    "TARGETS",
    "VOLUMES_ROOT",
    "BucketRole",
    "bucket_name_problems",
    "bucket_role",
    "default_bucket_name",
    "job_name",
    "table_name",
    "volume_path",
]

BucketRole = Literal["raw", "schematized", "filtered", "emergency", "checkpoints"]

PIPELINES: Final[tuple[str, ...]] = ("raw", "schematized", "filtered", "emergency")
# What files are written for: the pipelines, plus the rejected rows kept beside schematized.
TARGETS: Final[tuple[str, ...]] = (*PIPELINES, "rejected")
LANDING_ROLES: Final[tuple[BucketRole, ...]] = ("raw", "schematized", "filtered", "emergency")
BUCKET_ROLES: Final[tuple[BucketRole, ...]] = (*LANDING_ROLES, "checkpoints")

# The migration guide's variables, one per bucket role.
BUCKET_ENV: Final[dict[str, str]] = {role: f"S3_BUCKET_{role.upper()}" for role in BUCKET_ROLES}

# Key prefixes landing writes in each landing bucket: the schematized bucket also keeps the
# rejected rows, which are never silently dropped.
LANDING_PREFIXES: Final[dict[str, tuple[str, ...]]] = {
    "raw": ("raw",),
    "schematized": ("schematized", "rejected"),
    "filtered": ("filtered",),
    "emergency": ("emergency",),
}

# `sensorlake validate` puts, gets and deletes one object under this prefix in each bucket.
PROBE_PREFIX: Final = "_sensorlake/probe"

# Where the streams' tables live in Unity Catalog unless configured otherwise.
DEFAULT_CATALOG: Final = "sensor_data_catalog"
DEFAULT_SCHEMA: Final = "sensor_pipeline"
# Unity Catalog volumes appear to Spark under this root: /Volumes/<catalog>/<schema>/<volume>.
VOLUMES_ROOT: Final = "/Volumes"

# Used with fullmatch: "$" alone would let a trailing newline through.
_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")
_IP_RE = re.compile(r"\d{1,3}(\.\d{1,3}){3}")


def bucket_role(target: str) -> str:
    """The bucket role a target's files land in (``rejected`` lives with schematized)."""
    for role, prefixes in LANDING_PREFIXES.items():
        if target in prefixes:
            return role
    raise ValueError(f"unknown target {target!r}: choose from {', '.join(TARGETS)}")


def table_name(target: str) -> str:
    """The Delta table a target's stream writes (``sensor_readings_raw``)."""
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}: choose from {', '.join(TARGETS)}")
    return f"sensor_readings_{target}"


def job_name(target: str) -> str:
    """The Databricks job that streams a target's files (``sensorlake-raw``): infra creates
    it by this name, dashboards find its runs by it."""
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}: choose from {', '.join(TARGETS)}")
    return f"sensorlake-{target}"


def default_bucket_name(role: str, region: str, account_id: str | None = None) -> str:
    """The default bucket name for a role.

    With the AWS account ID (what infra passes): ``sensor-data-raw-123456789012-us-east-1``,
    unique per account, because S3 names are global and the migration guide's names may be
    owned by someone else. Without it: the migration guide's ``sensor-data-raw-us-east-1``.
    """
    if account_id:
        return f"sensor-data-{role}-{account_id}-{region}"
    return f"sensor-data-{role}-{region}"


def bucket_name_problems(name: str) -> list[str]:
    """Why ``name`` is not a valid bucket name for us ([] when it is).

    S3's general-purpose rules, plus no dots: dotted names break virtual-hosted TLS.
    """
    problems: list[str] = []
    if "." in name:
        problems.append("must not contain dots (they break TLS for virtual-hosted URLs)")
    if not 3 <= len(name) <= 63:
        problems.append("must be 3 to 63 characters long")
    if not _BUCKET_RE.fullmatch(name.replace(".", "-")):
        problems.append(
            "may only contain lowercase letters, digits and hyphens, "
            "and must start and end with a letter or digit"
        )
    if name.startswith("xn--"):
        problems.append("must not start with 'xn--'")
    if name.endswith(("-s3alias", "--ol-s3", "--x-s3")):
        problems.append("must not end with a reserved suffix (-s3alias, --ol-s3, --x-s3)")
    if _IP_RE.fullmatch(name):
        problems.append("must not look like an IP address")
    return problems


def volume_path(catalog: str, schema: str, volume: str, *parts: str) -> str:
    """The path Spark uses for a UC volume (or a folder in it): checkpoints and Auto Loader
    schemas live there, never at bare ``s3://`` URLs."""
    return "/".join((VOLUMES_ROOT, catalog, schema, volume, *parts))
