"""Infra's own naming rules: UC object names, stack names, the access-log and state buckets.

The pipelines, bucket roles, landing prefixes, ``S3_BUCKET_*`` variables and bucket-name rules
are shared facts and live in :mod:`sensorlake.contract.pipelines`; what is named here exists
only in infra. Kept in one place so the buckets, the IAM policies, the external locations and
the outputs can never disagree about a name (the original system's names drifted, see
the system this replaces).
"""

from __future__ import annotations

import re
from typing import Final

from sensorlake.contract import pipelines

__all__ = [
    "CATALOG_STACK",
    "JOBS_STACK",
    "MANAGED_STORAGE_FOLDER",
    "MONITOR_POLICY",
    "MONITOR_QUEUE",
    "MONITOR_RULE",
    "STACK_ORDER",
    "STORAGE_STACK",
    "external_location_name",
    "location_url",
    "log_bucket_name",
    "queue_name_problems",
    "state_bucket_name",
]

STORAGE_STACK: Final = "sensorlake-storage"
CATALOG_STACK: Final = "sensorlake-catalog"
JOBS_STACK: Final = "sensorlake-jobs"
STACK_ORDER: Final = (STORAGE_STACK, CATALOG_STACK, JOBS_STACK)  # deploy order

# The catalog's managed storage folder in the checkpoints bucket (next to the volumes).
MANAGED_STORAGE_FOLDER: Final = "uc-managed"

# The monitor's event feed (stacks/monitor.py). Not csms-*: that prefix is Databricks'
# managed file events, whose queues the UC role may read, purge and delete.
MONITOR_QUEUE: Final = "sensorlake-monitor-events"
MONITOR_RULE: Final = "sensorlake-monitor-object-created"
MONITOR_POLICY: Final = "sensorlake-monitor"
_DATABRICKS_QUEUE_PREFIX: Final = "csms-"
_QUEUE_RE: Final = re.compile(r"[A-Za-z0-9_-]{1,80}")


def queue_name_problems(name: str) -> list[str]:
    """Why ``name`` cannot be the monitor's queue (SQS: 1-80 letters, digits, - and _;
    standard queues only, so no .fifo; not Databricks' csms- prefix)."""
    problems = []
    if not _QUEUE_RE.fullmatch(name):
        problems.append("use 1 to 80 letters, digits, '-' and '_' (a standard queue, no .fifo)")
    if name.startswith(_DATABRICKS_QUEUE_PREFIX):
        problems.append(
            f"{_DATABRICKS_QUEUE_PREFIX}* is Databricks' managed file events prefix, which the "
            "Unity Catalog role may purge and delete"
        )
    return problems


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
