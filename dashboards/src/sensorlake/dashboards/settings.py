"""The monitor's configuration: parsed once, at the edge, from options and the environment.

This is the only module of the package that reads ``os.environ``. Paths, buckets, S3,
catalog/schema and the Databricks connection (the migration guide's ``DATABRICKS_HOST``,
``DATABRICKS_HTTP_PATH`` and ``DATABRICKS_TOKEN``) are the contract's declarations
(``sensorlake.contract.settings``); the monitor's own are declared here the same way. The token is kept out
of ``repr`` so it can never reach a log line or a response by accident.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import field
from pathlib import Path
from typing import Literal

from sensorlake.contract import settings as contract
from sensorlake.contract.lake import LOCAL_PATHS
from sensorlake.contract.pipelines import DEFAULT_CATALOG, DEFAULT_SCHEMA, LANDING_ROLES
from sensorlake.contract.settings import (
    BucketSettings,
    CatalogSettings,
    ConfigSpec,
    PathSettings,
    S3Settings,
    SettingError,
    configspec,
    path,
    seconds,
    setting,
)

from .errors import ConfigError
from .security import parse_hosts

__all__ = [
    "SECRET_ENV",
    "DatabricksSettings",
    "Landing",
    "S3Settings",
    "Settings",
    "Tables",
    "Thresholds",
    "load_settings",
]

# Secrets boto3 and databricks-sdk read from the environment themselves (no setting of ours).
_SDK_SECRET_ENV = ("DATABRICKS_CLIENT_SECRET", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")

Landing = Literal["local", "s3"]
Tables = Literal["local", "databricks"]


def _hosts(name: str, raw: str) -> frozenset[str]:
    return parse_hosts([raw], source=name)


@configspec("Dashboards: thresholds")
class Thresholds(ConfigSpec):
    """When a pipeline counts as lagging or stalled, in seconds of unprocessed age, and when
    a gateway counts as silent, in seconds since its newest landed file."""

    lag_seconds: float = setting(
        "SENSORLAKE_LAG_SECONDS",
        300.0,
        "seconds of unprocessed age that count as lagging",
        parse=seconds,
    )
    stall_seconds: float = setting(
        "SENSORLAKE_STALL_SECONDS",
        1800.0,
        "seconds of unprocessed age that count as stalled",
        parse=seconds,
    )
    # Three missed five-minute rotations: a gateway landing on schedule is never silent.
    silent_seconds: float = setting(
        "SENSORLAKE_SILENT_SECONDS",
        900.0,
        "seconds since a gateway's newest landed file after which it counts as silent",
        parse=seconds,
    )


@configspec("Dashboards: Databricks")
class DatabricksSettings(contract.DatabricksSettings):
    """The shared Databricks connection, plus where the streams keep their checkpoints."""

    checkpoint_root: str | None = setting(
        "SENSORLAKE_DATABRICKS_CHECKPOINTS",
        None,
        "where the Databricks streams keep checkpoints (cloud_files_state)",
    )
    timeout_seconds: float = 10.0  # per request and for all its retries together


@configspec("Dashboards")
class Settings(ConfigSpec):
    """What the monitor and `sensorlake status` read, resolved once."""

    lake_dir: Path = LOCAL_PATHS["lake"].default
    state_dir: Path = LOCAL_PATHS["state"].default
    warehouse_dir: Path = LOCAL_PATHS["warehouse"].default
    checkpoint_dir: Path = LOCAL_PATHS["checkpoint"].default
    catalog: str = DEFAULT_CATALOG
    schema: str = DEFAULT_SCHEMA
    s3: S3Settings | None = None
    databricks: DatabricksSettings = field(default_factory=lambda: DatabricksSettings(None, None))
    thresholds: Thresholds = field(default_factory=Thresholds)
    cache_ttl_seconds: float = setting(
        "SENSORLAKE_MONITOR_TTL", 10.0, "seconds the monitor reuses a scan", parse=seconds
    )
    # How long a request waits for the very first scan before answering 503.
    first_scan_wait_seconds: float = 10.0
    # Each backend's read per refresh; past it the backend is "unreachable" for that refresh.
    backend_timeout_seconds: float = setting(
        "SENSORLAKE_BACKEND_TIMEOUT_SECONDS",
        10.0,
        "seconds each backend (S3, Databricks, files) may take per read",
        parse=seconds,
    )
    # `sensorlake status` answers within this, whatever hangs (then says what it could not read).
    status_timeout_seconds: float = setting(
        "SENSORLAKE_STATUS_TIMEOUT_SECONDS",
        25.0,
        "seconds `sensorlake status` takes at most",
        parse=seconds,
    )
    # The monitor on a network (security.py): more Host names it answers, its access token.
    allowed_hosts: frozenset[str] = setting(
        "SENSORLAKE_MONITOR_ALLOWED_HOSTS",
        frozenset(),
        "more host names the monitor answers (comma-separated)",
        parse=_hosts,
        shown_default="(none)",
    )
    monitor_token: str | None = setting(
        "SENSORLAKE_MONITOR_TOKEN", None, "access token the monitor asks for", secret=True
    )
    # What the monitor learned about the landing zone, kept across restarts (cache.py).
    monitor_cache: Path | None = setting(
        "SENSORLAKE_MONITOR_CACHE",
        None,
        "the monitor's cache of what it learned about the landing zone (kept across restarts)",
        parse=path,
        shown_default="<state dir>/monitor/cache.sqlite",
    )
    # The landing buckets' Object Created events (readers/s3_events.py; infra's output
    # monitor_queue_url): with it a refresh costs what arrived, without it the monitor lists.
    monitor_queue_url: str | None = setting(
        "SENSORLAKE_MONITOR_QUEUE_URL",
        None,
        "SQS queue of the landing buckets' Object Created events (infra output "
        "monitor_queue_url); unset: the monitor lists the buckets",
        shown_default="(none: listing)",
    )
    monitor_relist_seconds: float = setting(
        "SENSORLAKE_MONITOR_RELIST_SECONDS",
        86400.0,
        "with the event queue: seconds between the safety listings of the landing zone",
        parse=seconds,
    )
    sqs_endpoint_url: str | None = setting(
        "AWS_ENDPOINT_URL_SQS",
        None,
        "SQS endpoint of the event queue (moto, a VPC endpoint)",
        fallbacks=("AWS_ENDPOINT_URL",),
        shown_default="AWS's",
    )
    # Values no log line may show (redact.py): those of SECRET_ENV that are set.
    secrets: tuple[str, ...] = field(default=(), repr=False)

    @property
    def cache_path(self) -> Path:
        return self.monitor_cache or self.state_dir / "monitor" / "cache.sqlite"

    @property
    def landing(self) -> Landing:
        return "s3" if self.s3 is not None else "local"

    @property
    def tables(self) -> Tables:
        """Databricks when it is asked for or the landing zone is S3; else the local warehouse."""
        if self.databricks.host or self.landing == "s3":
            return "databricks"
        return "local"


def _secret_env(*groups: type[ConfigSpec]) -> tuple[str, ...]:
    """Every variable of a setting declared ``secret=True`` in these groups, with its
    fallbacks and old spellings, then the SDKs' own: the secret names are written once."""
    names = [
        name
        for group in groups
        for spec in group.settings().values()
        if spec.secret
        for name in (spec.env, *spec.fallbacks, *spec.aliases)
    ]
    return tuple(dict.fromkeys([*names, *_SDK_SECRET_ENV]))


# Secrets the process may hold (ours, or read by boto3 / databricks-sdk from the environment).
SECRET_ENV = _secret_env(Settings, DatabricksSettings, S3Settings, Thresholds)


def load_settings(
    *,
    env: Mapping[str, str] | None = None,
    lake_dir: Path | None = None,
    state_dir: Path | None = None,
    warehouse_dir: Path | None = None,
    checkpoint_dir: Path | None = None,
    force_local_lake: bool = False,
) -> Settings:
    """Options win over the environment, which wins over the defaults.

    ``force_local_lake`` (``--lake-dir`` on the command line) reads the local lake even with
    buckets set, as landing does.
    """
    env = os.environ if env is None else env
    try:
        return _load(env, lake_dir, state_dir, warehouse_dir, checkpoint_dir, force_local_lake)
    except SettingError as exc:
        raise ConfigError(str(exc)) from None


def _load(
    env: Mapping[str, str],
    lake_dir: Path | None,
    state_dir: Path | None,
    warehouse_dir: Path | None,
    checkpoint_dir: Path | None,
    force_local_lake: bool,
) -> Settings:
    paths = PathSettings.from_env(
        env,
        lake_dir=lake_dir,
        state_dir=state_dir,
        warehouse_dir=warehouse_dir,
        checkpoint_dir=checkpoint_dir,
    )
    backend_timeout = Settings.settings()["backend_timeout_seconds"].read(env)
    buckets = BucketSettings.from_env(env).configured(LANDING_ROLES)
    s3 = None
    if buckets and not force_local_lake:
        s3 = S3Settings.from_env(env, buckets=buckets, timeout_seconds=backend_timeout)
    databricks = DatabricksSettings.from_env(env, timeout_seconds=backend_timeout)
    thresholds = Thresholds.from_env(env)
    if thresholds.stall_seconds < thresholds.lag_seconds:
        raise ConfigError("SENSORLAKE_STALL_SECONDS must not be below SENSORLAKE_LAG_SECONDS")
    names = CatalogSettings.from_env(env)
    return Settings.from_env(
        env,
        lake_dir=paths.lake_dir,
        state_dir=paths.state_dir,
        warehouse_dir=paths.warehouse_dir,
        checkpoint_dir=paths.checkpoint_dir,
        catalog=names.catalog,
        schema=names.schema,
        s3=s3,
        databricks=databricks,
        thresholds=thresholds,
        backend_timeout_seconds=backend_timeout,
        secrets=tuple(value for name in SECRET_ENV if (value := env.get(name))),
    )
