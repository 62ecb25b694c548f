"""Typed, validated settings: the only module that reads ``os.environ`` or the YAML file.

``unity_catalog_config.yaml`` (the migration guide's file) is read once, ``${VAR}`` and
``${VAR:-default}`` are interpolated, the migration guide's environment variables override
it, and the result is validated into frozen pydantic models. The variables are declared with
the contract's mechanism (``sensorlake.contract.settings``): the shared ones there
(``SENSORLAKE_CATALOG``, ``AWS_REGION``, ``S3_BUCKET_*``, ``DATABRICKS_HOST``), the infra ones
here (:class:`InfraSettings`). Every problem is reported at
once, with its key. Secrets are never read: the Databricks token and AWS credentials reach
the providers only through their standard environment variables.

Usage::

    settings = load_settings()                      # ./unity_catalog_config.yaml or the example
    settings = load_settings(Path("my.yaml"), env={})  # explicit file, no environment
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Final, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from sensorlake.contract import pipelines as contract
from sensorlake.contract.layouts import CHECKPOINTS_VOLUME, SCHEMAS_VOLUME
from sensorlake.contract.names import check_uc_name
from sensorlake.contract.settings import (
    BucketSettings as SharedBuckets,
)
from sensorlake.contract.settings import (
    CatalogSettings,
    ConfigSpec,
    S3Settings,
    Setting,
    child_env,
    configspec,
    path,
    setting,
)
from sensorlake.contract.settings import (
    DatabricksSettings as DatabricksConnection,
)
from sensorlake.infra import naming
from sensorlake.infra.errors import ConfigError

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_CONFIG",
    "DEFAULT_SCHEDULE_MINUTES",
    "DEFAULT_VOLUMES",
    "ENV_OVERRIDES",
    "EXAMPLE_CONFIG",
    "FASTEST_TRIGGER",
    "INFRA_DIR",
    "PLACEHOLDER_ACCOUNT",
    "PLACEHOLDER_PRINCIPAL",
    "PLACEHOLDER_WORKSPACE",
    "SCHEDULE_MINUTES",
    "AwsSettings",
    "BucketName",
    "BucketSettings",
    "DatabricksSettings",
    "Days",
    "ExternalLocationSettings",
    "FileArrivalSettings",
    "GatewaySettings",
    "InfraSettings",
    "JobClusterSettings",
    "JobsSettings",
    "LifecycleSettings",
    "MonitorSettings",
    "Region",
    "Settings",
    "StateSettings",
    "UcName",
    "UcObjectName",
    "UnityCatalogSettings",
    "VolumeSettings",
    "child_env",
    "config_path",
    "load_settings",
    "parse_settings",
]

INFRA_DIR: Final = Path(__file__).resolve().parents[3]
EXAMPLE_CONFIG: Final = INFRA_DIR / "unity_catalog_config.example.yaml"
DEFAULT_CONFIG: Final = Path("unity_catalog_config.yaml")
# Set by `sensorlake setup` so the app that `cdktf deploy` runs reads the same file.
CONFIG_ENV: Final = "SENSORLAKE_INFRA_CONFIG"
# The example config's service principal: synthesizes, but `prereqs` refuses to deploy it.
PLACEHOLDER_PRINCIPAL: Final = "00000000-0000-0000-0000-000000000000"
# The example config's account (AWS's documentation account) and workspace: same treatment.
PLACEHOLDER_ACCOUNT: Final = "123456789012"
PLACEHOLDER_WORKSPACE: Final = 1234567890123456


@configspec("Infra")
class InfraSettings(ConfigSpec):
    """Which unity_catalog_config.yaml, and the variables that override its keys (so do
    the shared AWS_REGION, S3_BUCKET_*, DATABRICKS_HOST, SENSORLAKE_CATALOG/SCHEMA)."""

    config: Path | None = setting(
        CONFIG_ENV,
        None,
        "the infra config file (set by `sensorlake setup` for `cdktf deploy`)",
        parse=path,
        shown_default="./unity_catalog_config.yaml, else the example",
    )
    account_id: str | None = setting("AWS_ACCOUNT_ID", None, "aws.account_id")
    iam_role_arn: str | None = setting(
        "DATABRICKS_IAM_ROLE", None, "unity_catalog.iam_role_arn (an existing role, adopted)"
    )
    storage_credential: str | None = setting(
        "UC_STORAGE_CREDENTIAL", None, "unity_catalog.storage_credential"
    )
    data_team_group: str | None = setting("DATA_TEAM_GROUP", None, "unity_catalog.data_team_group")
    admin_group: str | None = setting("UC_ADMIN_GROUP", None, "unity_catalog.admin_group")
    notification_email: str | None = setting(
        "SENSORLAKE_ALERT_EMAIL", None, "jobs.notification_email"
    )
    service_principal: str | None = setting(
        "SERVICE_PRINCIPAL", None, "unity_catalog.service_principal (application ID)"
    )
    dashboard_principal: str | None = setting(
        "DASHBOARD_PRINCIPAL", None, "unity_catalog.dashboard_principal"
    )


_INFRA = InfraSettings.settings()
_SHARED_BUCKETS = SharedBuckets.settings()
# The settings that override a key of the YAML file, in the migration guide's order.
_OVERRIDES: Final[tuple[tuple[Setting, tuple[str, str]], ...]] = (
    (S3Settings.settings()["region"], ("aws", "region")),
    (_INFRA["account_id"], ("aws", "account_id")),
    *((_SHARED_BUCKETS[role], ("buckets", role)) for role in contract.BUCKET_ENV),
    (DatabricksConnection.settings()["host"], ("databricks", "hostname")),
    (_INFRA["iam_role_arn"], ("unity_catalog", "iam_role_arn")),
    (CatalogSettings.settings()["catalog"], ("unity_catalog", "catalog")),
    (CatalogSettings.settings()["schema"], ("unity_catalog", "schema")),
    (_INFRA["storage_credential"], ("unity_catalog", "storage_credential")),
    (_INFRA["data_team_group"], ("unity_catalog", "data_team_group")),
    (_INFRA["admin_group"], ("unity_catalog", "admin_group")),
    (_INFRA["notification_email"], ("jobs", "notification_email")),
    (_INFRA["service_principal"], ("unity_catalog", "service_principal")),
    (_INFRA["dashboard_principal"], ("unity_catalog", "dashboard_principal")),
)
# Environment variable -> the settings key it overrides (old spellings work too, with a warning).
ENV_OVERRIDES: Final[dict[str, tuple[str, ...]]] = {s.env: key for s, key in _OVERRIDES}

_VAR_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
# Credentials and external locations are never part of a table name or /Volumes path, so
# they may keep a '-' (as existing ones often have); catalog, schema and volume names follow
# the contract's rule (sensorlake.contract.names).
_UC_OBJECT_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,254}$")
_UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_ROLE_ARN_RE = re.compile(
    r"^arn:aws[a-z-]*:iam::(\d{12}):role(/(?:[\w+=,.@-]+/)*)([\w+=,.@-]{1,64})$"
)
_REGION_RE = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")


def _bucket(name: str) -> str:
    problems = contract.bucket_name_problems(name)
    if problems:
        raise ValueError(f"bad bucket name {name!r}: " + "; ".join(problems))
    return name


def _pipeline(name: str) -> str:
    if name not in contract.PIPELINES:
        raise ValueError(f"unknown pipeline {name!r}: choose from {', '.join(contract.PIPELINES)}")
    return name


def _uc_name(name: str) -> str:
    # the contract's rule: what the job's checks and toTable accept (no '-', no leading digit)
    return check_uc_name("name", name)


def _uc_object_name(name: str) -> str:
    if not _UC_OBJECT_NAME_RE.match(name):
        raise ValueError(f"bad Unity Catalog name {name!r}: use letters, digits, _ and -")
    return name


def _region(name: str) -> str:
    if not _REGION_RE.match(name):
        raise ValueError(f"bad AWS region {name!r} (expected e.g. us-east-1)")
    return name


BucketName = Annotated[str, AfterValidator(_bucket)]
UcName = Annotated[str, AfterValidator(_uc_name)]  # catalog, schema, volume
UcObjectName = Annotated[str, AfterValidator(_uc_object_name)]  # credential, location
Region = Annotated[str, AfterValidator(_region)]
Days = Annotated[int, Field(ge=1, le=36500)]


class _Model(BaseModel):
    """Frozen, strict about unknown keys: a typo is an error, not a silent default."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class DatabricksSettings(_Model):
    """Workspace address; the token is never read here (provider reads DATABRICKS_TOKEN)."""

    hostname: str | None = None
    http_path: str | None = None  # used by the dashboards, accepted for the guide's file


class AwsSettings(_Model):
    region: Region = "us-east-1"
    # When set, the AWS provider refuses to touch any other account (a wrong-profile guard),
    # and default bucket names include it (S3 names are global: someone else may own ours).
    account_id: Annotated[str, Field(pattern=r"^\d{12}$")] | None = None


class BucketSettings(_Model):
    """The five buckets of the migration guide, plus the access-log bucket."""

    raw: BucketName | None = None
    schematized: BucketName | None = None
    filtered: BucketName | None = None
    emergency: BucketName | None = None
    checkpoints: BucketName | None = None
    access_logs: BucketName | None = None
    # Buckets that already exist (e.g. from the old system): imported into the state on the
    # first apply (Terraform import blocks) instead of created; their settings are then ours.
    adopt: tuple[contract.BucketRole, ...] = ()


class LifecycleSettings(_Model):
    """Lifecycle of landed files: tiering and/or expiry; checkpoints never expire."""

    abort_incomplete_multipart_days: Days = 7
    transition_days: Days | None = 30
    transition_storage_class: Literal[
        "INTELLIGENT_TIERING", "STANDARD_IA", "ONEZONE_IA", "GLACIER_IR", "GLACIER", "DEEP_ARCHIVE"
    ] = "INTELLIGENT_TIERING"
    expiration_days: Days | None = None
    noncurrent_version_expiration_days: Days = 30
    probe_expiration_days: Days = 1
    access_log_expiration_days: Days = 365

    @model_validator(mode="after")
    def _expiry_after_transition(self) -> LifecycleSettings:
        if (
            self.expiration_days is not None
            and self.transition_days is not None
            and self.expiration_days <= self.transition_days
        ):
            raise ValueError("lifecycle.expiration_days must be greater than transition_days")
        return self


class GatewaySettings(_Model):
    """The write-only identity sensor gateways use to land files.

    Who may assume it is explicit: listed principals and/or IAM Roles Anywhere sessions whose
    certificate subject matches. Trusting the whole account (any principal of it that is
    allowed sts:AssumeRole) is an opt-in, ``trust_account_root: true``.
    """

    role_name: Annotated[str, Field(pattern=r"^[\w+=,.@-]{1,64}$")] = "sensorlake-gateway-writer"
    # Per-site principals (roles or users) that may assume the role.
    trusted_principal_arns: tuple[
        Annotated[str, Field(pattern=r"^arn:aws[a-z-]*:(iam|sts)::\d{12}:[\w+=,.@/-]+$")], ...
    ] = ()
    # IAM Roles Anywhere (X.509 certificates on gateways, no long-lived keys): when set, the
    # role trusts rolesanywhere.amazonaws.com for sessions from this trust anchor only.
    roles_anywhere_trust_anchor_arn: (
        Annotated[
            str,
            Field(pattern=r"^arn:aws[a-z-]*:rolesanywhere:[a-z0-9-]+:\d{12}:trust-anchor/[\w-]+$"),
        ]
        | None
    ) = None
    # Certificate subject CNs (StringLike patterns, e.g. "gateway-*") Roles Anywhere accepts.
    roles_anywhere_subject_cns: tuple[Annotated[str, Field(min_length=1)], ...] = ()
    trust_account_root: bool = False
    pipelines: tuple[Annotated[str, AfterValidator(_pipeline)], ...] = contract.LANDING_ROLES
    max_session_seconds: Annotated[int, Field(ge=900, le=43200)] = 3600

    @model_validator(mode="after")
    def _explicit_trust(self) -> GatewaySettings:
        anchor = self.roles_anywhere_trust_anchor_arn
        if anchor and not self.roles_anywhere_subject_cns:
            raise ValueError(
                "gateway.roles_anywhere_subject_cns: list the certificate subject CNs (patterns "
                "like 'gateway-*') that may assume the role through the trust anchor"
            )
        if self.roles_anywhere_subject_cns and not anchor:
            raise ValueError(
                "gateway.roles_anywhere_subject_cns needs gateway.roles_anywhere_trust_anchor_arn"
            )
        if not (self.trusted_principal_arns or anchor or self.trust_account_root):
            raise ValueError(
                "gateway: nobody may assume the gateway role; set trusted_principal_arns, or "
                "roles_anywhere_trust_anchor_arn + roles_anywhere_subject_cns, or (opt-in) "
                "trust_account_root: true"
            )
        return self


class UnityCatalogSettings(_Model):
    catalog: UcName = "sensor_data_catalog"
    schema_: UcName = Field("sensor_pipeline", alias="schema")
    storage_credential: UcObjectName = "sensor_data_storage_credential"
    iam_role_name: Annotated[str, Field(pattern=r"^[\w+=,.@-]{1,64}$")] = "sensorlake-unity-catalog"
    # DATABRICKS_IAM_ROLE: an existing role's ARN, adopted (imported, path kept) instead of
    # creating iam_role_name.
    iam_role_arn: str | None = None
    data_team_group: Annotated[str, Field(min_length=1)] = "data-team"
    # Owns the credential, locations, catalog, schema and volumes (not the deploying user).
    admin_group: Annotated[str, Field(min_length=1)] = "sensorlake-admins"
    service_principal: str  # the pipeline's service principal application ID (required)
    # The identity the dashboards query as (user, group or service principal application ID):
    # when set, it gets USE CATALOG, USE SCHEMA, SELECT and READ VOLUME on the checkpoints
    # volume (cloud_files_state reads the streams' checkpoints).
    dashboard_principal: Annotated[str, Field(min_length=1)] | None = None
    # The workspaces bound to the credential, locations and catalog (isolation_mode ISOLATED).
    workspace_ids: Annotated[tuple[Annotated[int, Field(ge=1)], ...], Field(min_length=1)]
    file_events: bool = True
    # Seconds to wait after the IAM role changes, before external locations validate it.
    role_propagation_seconds: Annotated[int, Field(ge=0, le=600)] = 60
    # The catalog's managed storage; default: <checkpoints bucket>/uc-managed/.
    catalog_storage_root: Annotated[str, Field(pattern=r"^s3://[a-z0-9-]+/.+/$")] | None = None

    @model_validator(mode="after")
    def _check(self) -> UnityCatalogSettings:
        if self.iam_role_arn is not None and not _ROLE_ARN_RE.match(self.iam_role_arn):
            raise ValueError(f"iam_role_arn {self.iam_role_arn!r} is not an IAM role ARN")
        if not _UUID_RE.match(self.service_principal):
            raise ValueError(
                f"service_principal {self.service_principal!r} must be the service principal's "
                "application ID (a UUID)"
            )
        return self

    @property
    def schema_name(self) -> str:
        """The schema (``schema`` in YAML; pydantic reserves the attribute name)."""
        return self.schema_

    @property
    def role_name(self) -> str:
        """The UC role's name: from DATABRICKS_IAM_ROLE when given, else iam_role_name."""
        match = _ROLE_ARN_RE.match(self.iam_role_arn or "")
        return match.group(3) if match else self.iam_role_name

    @property
    def role_path(self) -> str:
        """The UC role's IAM path ("/" unless the adopted ARN has one)."""
        match = _ROLE_ARN_RE.match(self.iam_role_arn or "")
        return match.group(2) if match else "/"

    @property
    def role_account_id(self) -> str | None:
        """The account in DATABRICKS_IAM_ROLE (checked against the caller's at plan time)."""
        match = _ROLE_ARN_RE.match(self.iam_role_arn or "")
        return match.group(1) if match else None

    @property
    def adopt_role(self) -> bool:
        return self.iam_role_arn is not None


class ExternalLocationSettings(_Model):
    name: UcObjectName
    s3_path: str


class VolumeSettings(_Model):
    name: UcName
    external_location: UcObjectName
    catalog: UcName | None = None
    schema_: UcName | None = Field(None, alias="schema")
    path: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$")] | None = None


def _queue_name(name: str) -> str:
    problems = naming.queue_name_problems(name)
    if problems:
        raise ValueError(f"bad SQS queue name {name!r}: " + "; ".join(problems))
    return name


class MonitorSettings(_Model):
    """The monitor's S3 event feed (stacks/monitor.py): opt-in, so existing stacks synthesize
    unchanged. ``events: true`` creates the queue, the EventBridge rule, the buckets'
    EventBridge flag and the monitor's IAM policy; the monitor reads the queue when
    ``SENSORLAKE_MONITOR_QUEUE_URL`` is set to the ``monitor_queue_url`` output."""

    events: bool = False
    # default: naming.MONITOR_QUEUE (never csms-*: the UC role may manage those queues)
    queue_name: Annotated[str, AfterValidator(_queue_name)] | None = None
    # SQS bounds: 60 s to 14 days; 4 days covers a long weekend of a stopped monitor.
    retention_seconds: Annotated[int, Field(ge=60, le=1_209_600)] = 345_600
    # Existing buckets only (a deployment that ran before with file events on): the first
    # apply imports each landing bucket's notification configuration, so Databricks'
    # queue/topic configurations stay and only the EventBridge flag is added.
    import_notifications: bool = False

    @model_validator(mode="after")
    def _import_needs_events(self) -> MonitorSettings:
        if self.import_notifications and not self.events:
            raise ValueError("monitor.import_notifications needs monitor.events: true")
        return self

    @property
    def queue(self) -> str:
        return self.queue_name or naming.MONITOR_QUEUE


class StateSettings(_Model):
    """Where Terraform state lives: an S3 backend with a lock file (default), or, for a
    sandbox only, local files in ``terraform-state/`` (outside ``cdktf.out``, which synth
    replaces)."""

    backend: Literal["local", "s3"] = "s3"
    # default: sensorlake-tfstate-<account>-<region> (created once by hand, see README)
    bucket: BucketName | None = None
    key_prefix: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")] = (
        "sensorlake"
    )
    region: Region | None = None


class FileArrivalSettings(_Model):
    """When a file-arrival trigger fires; Databricks' minimum for both is 60 s."""

    min_time_between_triggers_seconds: Annotated[int, Field(ge=60)] = 300
    wait_after_last_change_seconds: Annotated[int, Field(ge=60)] = 120


# Emergency readings must reach their table fast: the shortest intervals Databricks allows.
FASTEST_TRIGGER: Final = FileArrivalSettings(
    min_time_between_triggers_seconds=60, wait_after_last_change_seconds=60
)


# Schedules used instead of file-arrival triggers when file events are off: minutes between
# runs, a divisor of 60 so the Quartz cron "0 0/N * * * ?" runs evenly.
SCHEDULE_MINUTES: Final = (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60)
DEFAULT_SCHEDULE_MINUTES: Final = 15


class JobClusterSettings(_Model):
    """The job cluster used when ``jobs.compute`` is ``job_cluster`` (not serverless)."""

    spark_version: str = "16.4.x-scala2.12"
    node_type_id: str = "m6i.large"
    num_workers: Annotated[int, Field(ge=0, le=100)] = 1


class JobsSettings(_Model):
    """The Auto Loader jobs (stack ``sensorlake-jobs``), one per target.

    ``enabled: auto`` synthesizes the stack when the streams wheel exists in ``dist_dir`` or
    can be built from ``streams/`` in this checkout, and leaves it out (saying so) otherwise;
    ``true`` makes a missing wheel an error; ``false`` never synthesizes it.
    """

    enabled: Literal["auto", "true", "false"] = "auto"
    compute: Literal["serverless", "job_cluster"] = "serverless"
    environment_version: Annotated[str, Field(pattern=r"^\d+$")] = "3"  # serverless client
    cluster: JobClusterSettings = JobClusterSettings()
    notification_email: Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")] | None = None
    max_retries: Annotated[int, Field(ge=0, le=10)] = 3
    min_retry_interval_millis: Annotated[int, Field(ge=0, le=3_600_000)] = 60_000
    triggers: dict[str, FileArrivalSettings] = Field(default_factory=dict)
    # With unity_catalog.file_events false: a schedule per target instead of file arrival
    # (minutes between runs; default 15, emergency 1).
    schedule_minutes: dict[str, int] = Field(default_factory=dict)
    checkpoints_volume: UcName = CHECKPOINTS_VOLUME
    schemas_volume: UcName = SCHEMAS_VOLUME
    dist_dir: str = "dist"
    workspace_dir: Annotated[str, Field(pattern=r"^/[\w./-]+[^/]$")] = "/Shared/sensorlake/wheels"

    @model_validator(mode="after")
    def _known_targets(self) -> JobsSettings:
        for key in ("triggers", "schedule_minutes"):
            unknown = sorted(set(getattr(self, key)) - set(contract.TARGETS))
            if unknown:
                raise ValueError(
                    f"jobs.{key}: unknown target(s) {', '.join(unknown)} "
                    f"(targets: {', '.join(contract.TARGETS)})"
                )
        for target, minutes in sorted(self.schedule_minutes.items()):
            if minutes not in SCHEDULE_MINUTES:
                raise ValueError(
                    f"jobs.schedule_minutes.{target}: {minutes} must divide an hour "
                    f"({', '.join(map(str, SCHEDULE_MINUTES))})"
                )
        return self

    def schedule(self, target: str) -> int:
        """Minutes between scheduled runs (file events off); emergency defaults to 1."""
        default = 1 if target == "emergency" else DEFAULT_SCHEDULE_MINUTES
        return self.schedule_minutes.get(target, default)

    def trigger(self, target: str) -> FileArrivalSettings:
        """The configured trigger, else the default (emergency: the fastest allowed)."""
        default = FASTEST_TRIGGER if target == "emergency" else FileArrivalSettings()
        return self.triggers.get(target, default)


DEFAULT_VOLUMES: Final = (
    VolumeSettings(name=CHECKPOINTS_VOLUME, external_location="autoloader_checkpoints_location"),
    VolumeSettings(name=SCHEMAS_VOLUME, external_location="autoloader_checkpoints_location"),
)


class Settings(_Model):
    """Everything the stacks need, resolved: bucket names, UC names, policies' inputs."""

    databricks: DatabricksSettings = DatabricksSettings()
    aws: AwsSettings = AwsSettings()
    buckets: BucketSettings = BucketSettings()
    lifecycle: LifecycleSettings = LifecycleSettings()
    # validated even when absent: the gateway's trust must be chosen explicitly
    gateway: GatewaySettings = Field(default_factory=dict, validate_default=True)  # type: ignore[arg-type]
    unity_catalog: UnityCatalogSettings
    external_locations: tuple[ExternalLocationSettings, ...] = ()
    uc_volumes: tuple[VolumeSettings, ...] = DEFAULT_VOLUMES
    state: StateSettings = StateSettings()
    jobs: JobsSettings = JobsSettings()
    monitor: MonitorSettings = MonitorSettings()
    tags: dict[str, str] = Field(default_factory=lambda: {"project": "sensorlake"})

    @model_validator(mode="after")
    def _cross_checks(self) -> Settings:
        unnamed = [
            r for r in (*contract.BUCKET_ROLES, "access_logs") if getattr(self.buckets, r) is None
        ]
        if self.state.backend == "s3" and not self.state.bucket:
            unnamed.append("state.bucket")
        if self.aws.account_id is None and unnamed:
            raise ValueError(
                "aws.account_id (AWS_ACCOUNT_ID) is needed for the account-unique default names "
                f"of {', '.join(unnamed)}; set it, or name those buckets"
            )
        problems: list[str] = []
        names = [self.bucket(r) for r in contract.BUCKET_ROLES] + [self.log_bucket]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            problems.append(f"buckets: the same bucket is used twice: {', '.join(dupes)}")
        by_url = {naming.location_url(self.bucket(r)): r for r in contract.BUCKET_ROLES}
        for loc in self.external_locations:
            if loc.s3_path.rstrip("/") + "/" not in by_url:
                problems.append(
                    f"external_locations: {loc.name!r} points at {loc.s3_path!r}, which is not "
                    f"the root of one of the buckets ({', '.join(sorted(by_url))})"
                )
        known = set(self.location_names.values())
        uc = self.unity_catalog
        for vol in self.uc_volumes:
            if vol.external_location not in known:
                problems.append(
                    f"uc_volumes: {vol.name!r} uses unknown external location "
                    f"{vol.external_location!r} (known: {', '.join(sorted(known))})"
                )
            if vol.catalog not in (None, uc.catalog) or vol.schema_ not in (None, uc.schema_name):
                problems.append(
                    f"uc_volumes: {vol.name!r} must live in {uc.catalog}.{uc.schema_name} "
                    "(the catalog and schema this app manages)"
                )
        vol_names = [v.name for v in self.uc_volumes]
        if len(set(vol_names)) != len(vol_names):
            problems.append("uc_volumes: volume names must be unique")
        problems += self._storage_root_problems(by_url)
        for key in ("checkpoints_volume", "schemas_volume"):
            if getattr(self.jobs, key) not in vol_names:
                problems.append(
                    f"jobs.{key}: {getattr(self.jobs, key)!r} is not one of uc_volumes "
                    f"({', '.join(vol_names)})"
                )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _storage_root_problems(self, by_url: dict[str, str]) -> list[str]:
        """The catalog's managed storage must sit inside one of our external locations (UC
        requires a covering location) and must not overlap an external volume (UC rejects
        managed storage that overlaps external tables or volumes)."""
        root = self.catalog_storage_root
        key = "unity_catalog.catalog_storage_root"
        if not any(root.startswith(url) and root != url for url in by_url):
            return [
                f"{key}: {root!r} must be a folder inside one of the buckets ({', '.join(sorted(by_url))})"
            ]
        problems = []
        if self.catalog_storage_role != "checkpoints":
            problems.append(
                f"{key}: {root!r} must be in the checkpoints bucket (the landing locations are "
                "read-only)"
            )
        known = set(self.location_names.values())
        for vol in (v for v in self.uc_volumes if v.external_location in known):
            url = self.volume_url(vol)
            if url.startswith(root) or root.startswith(url):
                problems.append(f"{key}: {root!r} overlaps volume {vol.name!r} at {url!r}")
        return problems

    def bucket(self, role: str) -> str:
        """The bucket name for a role: configured, else the account-unique default."""
        name = getattr(self.buckets, role)
        return name or contract.default_bucket_name(role, self.aws.region, self.aws.account_id)

    @property
    def log_bucket(self) -> str:
        return self.buckets.access_logs or naming.log_bucket_name(
            self.aws.region, self.aws.account_id
        )

    @property
    def state_bucket(self) -> str:
        """The S3 backend's bucket: configured, else sensorlake-tfstate-<account>-<region>."""
        return self.state.bucket or naming.state_bucket_name(
            self.state.region or self.aws.region, self.aws.account_id
        )

    @property
    def catalog_storage_root(self) -> str:
        """The catalog's managed storage: configured, else a folder of the checkpoints bucket
        next to (never inside) the volumes."""
        return self.unity_catalog.catalog_storage_root or (
            f"{naming.location_url(self.bucket('checkpoints'))}{naming.MANAGED_STORAGE_FOLDER}/"
        )

    @property
    def catalog_storage_role(self) -> str:
        """The bucket role whose external location covers the catalog's storage root."""
        root = self.catalog_storage_root
        return next(
            r for r in contract.BUCKET_ROLES if root.startswith(naming.location_url(self.bucket(r)))
        )

    @property
    def location_names(self) -> dict[str, str]:
        """External location name per bucket role (YAML names win over the defaults)."""
        names = {r: naming.external_location_name(r) for r in contract.BUCKET_ROLES}
        by_url = {naming.location_url(self.bucket(r)): r for r in contract.BUCKET_ROLES}
        for loc in self.external_locations:
            role = by_url.get(loc.s3_path.rstrip("/") + "/")
            if role:
                names[role] = loc.name
        return names

    def volume_url(self, volume: VolumeSettings) -> str:
        """Where an external volume stores its files: a folder inside its location."""
        role = next(r for r, n in self.location_names.items() if n == volume.external_location)
        return f"{naming.location_url(self.bucket(role))}{volume.path or volume.name}/"


def _interpolate(value: Any, env: Mapping[str, str], key: str, problems: list[str]) -> Any:
    """Replace ${VAR} / ${VAR:-default} in every string of the parsed YAML."""
    if isinstance(value, dict):
        return {
            k: _interpolate(v, env, f"{key}.{k}" if key else str(k), problems)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_interpolate(v, env, f"{key}[{i}]", problems) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def repl(match: re.Match[str]) -> str:
        var, default = match.group(1), match.group(2)
        if var in env and env[var] != "":
            return env[var]
        if default is not None:
            return default
        problems.append(f"{key}: environment variable {var} is not set and has no default")
        return ""

    return _VAR_RE.sub(repl, value)


def _strip_secrets(raw: dict[str, Any], problems: list[str]) -> None:
    """Drop ``databricks.token``: it may only *name* the env var, never hold a token."""
    dbx = raw.get("databricks")
    if isinstance(dbx, dict) and "token" in dbx:
        token = dbx.pop("token")
        if token not in (None, "${DATABRICKS_TOKEN}"):
            problems.append(
                "databricks.token: must be the literal '${DATABRICKS_TOKEN}' (or absent); "
                "a token is never written in this file"
            )


def _format_error(exc: ValidationError) -> list[str]:
    out = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"] if p != "__root__") or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling; see infra/README.md for the keys)"
        elif err["type"] == "missing":
            msg = "required value is missing"
        out.append(f"{loc}: {msg}")
    return out


def parse_settings(raw: Mapping[str, Any] | None, env: Mapping[str, str], source: str) -> Settings:
    """Interpolate, apply env overrides, validate. Raises ConfigError listing every problem."""
    problems: list[str] = []
    data: dict[str, Any] = dict(raw or {})
    _strip_secrets(data, problems)
    data = _interpolate(data, env, "", problems)
    for spec, key in _OVERRIDES:
        # The deploy region stays the file's unless AWS_REGION says otherwise: the SDK's
        # AWS_DEFAULT_REGION fallback is not an override of the file.
        found = spec.lookup({k: v for k, v in env.items() if k not in spec.fallbacks})
        if found:
            section = data.setdefault(key[0], {})
            if not isinstance(section, dict):
                problems.append(f"{key[0]}: must be a mapping")
                continue
            section[key[1]] = found[1]
    if problems:
        raise ConfigError(problems, source)
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_error(exc), source) from None


def config_path(path: Path | None = None, env: Mapping[str, str] | None = None) -> Path:
    """Which file is the config: ``path``, else $SENSORLAKE_INFRA_CONFIG, else
    ./unity_catalog_config.yaml, else the committed example."""
    env = os.environ if env is None else env
    if path is None:
        path = InfraSettings.from_env(env).config
    if path is None:
        path = DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else EXAMPLE_CONFIG
    return path


def load_settings(path: Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Read the config once (the file :func:`config_path` names)."""
    env = os.environ if env is None else env
    path = config_path(path, env)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError([f"{path}: file not found"], str(path)) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path}: not valid YAML: {exc}"], str(path)) from None
    if raw is not None and not isinstance(raw, dict):
        raise ConfigError([f"{path}: the top level must be a mapping"], str(path))
    return parse_settings(raw, env, str(path))
