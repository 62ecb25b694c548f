"""Pure naming rules: bucket roles, landing prefixes, UC object names, stack names.

Kept in one place so the buckets, the IAM policies, the external locations and the outputs
can never disagree about a name (the original system's names drifted, see original-system §9).
"""

from __future__ import annotations

import re
from typing import Final, Literal

__all__ = [
    "BUCKET_ROLES",
    "CATALOG_STACK",
    "LANDING_PREFIXES",
    "LANDING_ROLES",
    "MANAGED_STORAGE_FOLDER",
    "PROBE_PREFIX",
    "STACK_ORDER",
    "STORAGE_STACK",
    "BucketRole",
    "bucket_name_problems",
    "default_bucket_name",
    "external_location_name",
    "location_url",
    "log_bucket_name",
    "state_bucket_name",
    "volume_path",
]

BucketRole = Literal["raw", "schematized", "filtered", "emergency", "checkpoints"]

LANDING_ROLES: Final[tuple[BucketRole, ...]] = ("raw", "schematized", "filtered", "emergency")
BUCKET_ROLES: Final[tuple[BucketRole, ...]] = (*LANDING_ROLES, "checkpoints")

# Key prefixes landing writes in each landing bucket (the schematized bucket also keeps the
# rejected rows, which are never silently dropped).
LANDING_PREFIXES: Final[dict[str, tuple[str, ...]]] = {
    "raw": ("raw",),
    "schematized": ("schematized", "rejected"),
    "filtered": ("filtered",),
    "emergency": ("emergency",),
}

# The catalog's managed storage folder in the checkpoints bucket (next to the volumes).
MANAGED_STORAGE_FOLDER: Final = "uc-managed"

# `sensorlake validate` puts, gets and deletes one object under this prefix in each bucket.
PROBE_PREFIX: Final = "_sensorlake/probe"

STORAGE_STACK: Final = "sensorlake-storage"
CATALOG_STACK: Final = "sensorlake-catalog"
STACK_ORDER: Final = (STORAGE_STACK, CATALOG_STACK)  # deploy order

_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
_IP_RE = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")


def default_bucket_name(role: str, region: str, account_id: str | None = None) -> str:
    """The default bucket name for a role.

    With the AWS account ID (what infra always passes): ``sensor-data-raw-123456789012-us-east-1``,
    unique per account, because S3 names are global and the migration guide's names may be
    owned by someone else. Without it: the migration guide's ``sensor-data-raw-us-east-1``.
    """
    return (
        f"sensor-data-{role}-{account_id}-{region}"
        if account_id
        else f"sensor-data-{role}-{region}"
    )


def log_bucket_name(region: str, account_id: str | None = None) -> str:
    """The access-log bucket that receives server access logs of the five buckets."""
    return default_bucket_name("access-logs", region, account_id)


def state_bucket_name(region: str, account_id: str | None) -> str:
    """The Terraform state bucket (S3 backend), created once by hand before the first deploy."""
    return f"sensorlake-tfstate-{account_id}-{region}"


def bucket_name_problems(name: str) -> list[str]:
    """Why ``name`` is not a valid bucket name for us ([] when it is).

    S3's general-purpose rules, plus no dots: dotted names break virtual-hosted TLS.
    """
    problems: list[str] = []
    if "." in name:
        problems.append("must not contain dots (they break TLS for virtual-hosted URLs)")
    if not 3 <= len(name) <= 63:
        problems.append("must be 3 to 63 characters long")
    if not _BUCKET_RE.match(name.replace(".", "-")):
        problems.append(
            "may only contain lowercase letters, digits and hyphens, "
            "and must start and end with a letter or digit"
        )
    if "--" in name and name.startswith("xn--"):
        problems.append("must not start with 'xn--'")
    if name.endswith(("-s3alias", "--ol-s3", "--x-s3")):
        problems.append("must not end with a reserved suffix (-s3alias, --ol-s3, --x-s3)")
    if _IP_RE.match(name):
        problems.append("must not look like an IP address")
    return problems


def external_location_name(role: str) -> str:
    """UC external location name for a bucket role (the migration guide's names)."""
    if role == "checkpoints":
        return "autoloader_checkpoints_location"
    return f"sensor_data_{role}_location"


def location_url(bucket: str) -> str:
    """External locations cover whole buckets, because landing writes at bucket roots."""
    return f"s3://{bucket}/"


def volume_path(catalog: str, schema: str, volume: str) -> str:
    """The /Volumes path Auto Loader uses for a UC volume."""
    return f"/Volumes/{catalog}/{schema}/{volume}"
