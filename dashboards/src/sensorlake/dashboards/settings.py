"""The monitor's configuration: parsed once, at the edge, from options and the environment.

This is the only module of the package that reads ``os.environ``. Paths and bucket variables
are the contract's (``--lake-dir``, ``S3_BUCKET_*``...); Databricks uses the migration guide's
``DATABRICKS_HOST``, ``DATABRICKS_HTTP_PATH`` and ``DATABRICKS_TOKEN``. The token is kept out
of ``repr`` so it can never reach a log line or a response by accident.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from sensorlake.contract.lake import LOCAL_PATHS
from sensorlake.contract.names import UcNameError, check_uc_name
from sensorlake.contract.pipelines import BUCKET_ENV, DEFAULT_CATALOG, DEFAULT_SCHEMA, LANDING_ROLES

from .errors import ConfigError
from .security import parse_hosts

__all__ = [
    "SECRET_ENV",
    "DatabricksSettings",
    "S3Settings",
    "Settings",
    "Thresholds",
    "load_settings",
]

# Secrets the process may hold (ours, or read by boto3 / databricks-sdk from the environment).
SECRET_ENV = (
    "DATABRICKS_TOKEN",
    "DATABRICKS_CLIENT_SECRET",
    "SENSORLAKE_MONITOR_TOKEN",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
)

Landing = Literal["local", "s3"]
Tables = Literal["local", "databricks"]


@dataclass(frozen=True)
class Thresholds:
    """When a pipeline counts as lagging or stalled, in seconds of unprocessed age."""

    lag_seconds: float = 300.0
    stall_seconds: float = 1800.0


@dataclass(frozen=True)
class S3Settings:
    buckets: Mapping[str, str]  # bucket role -> bucket name; only the configured ones
    region: str | None = None
    endpoint_url: str | None = None
    timeout_seconds: float = 10.0  # per request, retries included (a page must not hang)


@dataclass(frozen=True)
class DatabricksSettings:
    host: str | None
    http_path: str | None
    token: str | None = field(default=None, repr=False)
    checkpoint_root: str | None = None  # where the streams keep checkpoints (cloud_files_state)
    timeout_seconds: float = 10.0  # per request and for all its retries together

    @property
    def missing(self) -> list[str]:
        """The variables still to set ([] when Databricks is configured)."""
        names = {
            "DATABRICKS_HOST": self.host,
            "DATABRICKS_HTTP_PATH": self.http_path,
            "DATABRICKS_TOKEN": self.token,
        }
        return [name for name, value in names.items() if not value]


@dataclass(frozen=True)
class Settings:
    lake_dir: Path = LOCAL_PATHS["lake"].default
    state_dir: Path = LOCAL_PATHS["state"].default
    warehouse_dir: Path = LOCAL_PATHS["warehouse"].default
    checkpoint_dir: Path = LOCAL_PATHS["checkpoint"].default
    catalog: str = DEFAULT_CATALOG
    schema: str = DEFAULT_SCHEMA
    s3: S3Settings | None = None
    databricks: DatabricksSettings = field(default_factory=lambda: DatabricksSettings(None, None))
    thresholds: Thresholds = field(default_factory=Thresholds)
    cache_ttl_seconds: float = 10.0
    # How long a request waits for the very first scan before answering 503.
    first_scan_wait_seconds: float = 10.0
    # Each backend's read per refresh; past it the backend is "unreachable" for that refresh.
    backend_timeout_seconds: float = 10.0
    # `sensorlake status` answers within this, whatever hangs (then says what it could not read).
    status_timeout_seconds: float = 25.0
    # The monitor on a network (security.py): more Host names it answers, its access token.
    allowed_hosts: frozenset[str] = frozenset()
    monitor_token: str | None = field(default=None, repr=False)
    # What the monitor learned about the landing zone, kept across restarts (cache.py);
    # None: ``<state_dir>/monitor/cache.sqlite``. SENSORLAKE_MONITOR_CACHE.
    monitor_cache: Path | None = None
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


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    text = env.get(name)
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, not {text!r}") from None
    if value <= 0:
        raise ConfigError(f"{name} must be positive, not {text!r}")
    return value


def _uc_name(env: Mapping[str, str], name: str, default: str) -> str:
    """A catalog/schema name under the contract's one rule (what the jobs write to)."""
    try:
        return check_uc_name(name, env.get(name) or default)
    except UcNameError as exc:
        raise ConfigError(str(exc)) from None


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

    def path(name: str, given: Path | None) -> Path:
        spec = LOCAL_PATHS[name]
        return Path(given) if given is not None else Path(env.get(spec.env) or spec.default)

    backend_timeout = _float(env, "SENSORLAKE_BACKEND_TIMEOUT_SECONDS", 10.0)
    buckets = {role: env[BUCKET_ENV[role]] for role in LANDING_ROLES if env.get(BUCKET_ENV[role])}
    s3 = None
    if buckets and not force_local_lake:
        s3 = S3Settings(
            buckets=buckets,
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None,
            endpoint_url=env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") or None,
            timeout_seconds=backend_timeout,
        )
    databricks = DatabricksSettings(
        host=env.get("DATABRICKS_HOST") or None,
        http_path=env.get("DATABRICKS_HTTP_PATH") or None,
        token=env.get("DATABRICKS_TOKEN") or None,
        checkpoint_root=env.get("SENSORLAKE_DATABRICKS_CHECKPOINTS") or None,
        timeout_seconds=backend_timeout,
    )
    thresholds = Thresholds(
        lag_seconds=_float(env, "SENSORLAKE_LAG_SECONDS", Thresholds.lag_seconds),
        stall_seconds=_float(env, "SENSORLAKE_STALL_SECONDS", Thresholds.stall_seconds),
    )
    if thresholds.stall_seconds < thresholds.lag_seconds:
        raise ConfigError("SENSORLAKE_STALL_SECONDS must not be below SENSORLAKE_LAG_SECONDS")
    return Settings(
        lake_dir=path("lake", lake_dir),
        state_dir=path("state", state_dir),
        warehouse_dir=path("warehouse", warehouse_dir),
        checkpoint_dir=path("checkpoint", checkpoint_dir),
        catalog=_uc_name(env, "SENSORLAKE_CATALOG", DEFAULT_CATALOG),
        schema=_uc_name(env, "SENSORLAKE_SCHEMA", DEFAULT_SCHEMA),
        s3=s3,
        databricks=databricks,
        thresholds=thresholds,
        cache_ttl_seconds=_float(env, "SENSORLAKE_MONITOR_TTL", 10.0),
        backend_timeout_seconds=backend_timeout,
        status_timeout_seconds=_float(env, "SENSORLAKE_STATUS_TIMEOUT_SECONDS", 25.0),
        allowed_hosts=parse_hosts(
            [env.get("SENSORLAKE_MONITOR_ALLOWED_HOSTS", "")],
            source="SENSORLAKE_MONITOR_ALLOWED_HOSTS",
        ),
        monitor_token=env.get("SENSORLAKE_MONITOR_TOKEN") or None,
        monitor_cache=Path(env["SENSORLAKE_MONITOR_CACHE"])
        if env.get("SENSORLAKE_MONITOR_CACHE")
        else None,
        secrets=tuple(value for name in SECRET_ENV if (value := env.get(name))),
    )
