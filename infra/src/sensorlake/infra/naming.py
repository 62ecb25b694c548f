"""Infra's own naming rules: UC object names, stack names, the access-log and state buckets.

The pipelines, bucket roles, landing prefixes, ``S3_BUCKET_*`` variables and bucket-name rules
are shared facts and live in :mod:`sensorlake.contract.pipelines`; what is named here exists
only in infra. Kept in one place so the buckets, the IAM policies, the external locations and
the outputs can never disagree about a name (the original system's names drifted, see
the system this replaces).
"""

from __future__ import annotations

from typing import Final

from sensorlake.contract import pipelines

__all__ = [
    "CATALOG_STACK",
    "JOBS_STACK",
    "MANAGED_STORAGE_FOLDER",
    "STACK_ORDER",
    "STORAGE_STACK",
    "external_location_name",
    "location_url",
    "log_bucket_name",
    "state_bucket_name",
]

STORAGE_STACK: Final = "sensorlake-storage"
CATALOG_STACK: Final = "sensorlake-catalog"
JOBS_STACK: Final = "sensorlake-jobs"
STACK_ORDER: Final = (STORAGE_STACK, CATALOG_STACK, JOBS_STACK)  # deploy order

# The catalog's managed storage folder in the checkpoints bucket (next to the volumes).
MANAGED_STORAGE_FOLDER: Final = "uc-managed"


def log_bucket_name(region: str, account_id: str | None = None) -> str:
    """The access-log bucket that receives server access logs of the five buckets."""
    return pipelines.default_bucket_name("access-logs", region, account_id)


def state_bucket_name(region: str, account_id: str | None) -> str:
    """The Terraform state bucket (S3 backend), created once by hand before the first deploy."""
    return f"sensorlake-tfstate-{account_id}-{region}"


def external_location_name(role: str) -> str:
    """UC external location name for a bucket role (the migration guide's names)."""
    if role == "checkpoints":
        return "autoloader_checkpoints_location"
    return f"sensor_data_{role}_location"


def location_url(bucket: str) -> str:
    """External locations cover whole buckets, because landing writes at bucket roots."""
    return f"s3://{bucket}/"
