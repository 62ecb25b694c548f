"""Landing configuration: parsed once, at the edge, from options and the environment.

This is the only module of the package that reads ``os.environ``; everything else receives
a :class:`LandingConfig`. Its settings are declared with the contract's mechanism
(``sensorlake.contract.settings``): the shared paths, buckets and S3 connection there, the
landing ones here. Options given on the command line win over the environment,
which wins over the defaults.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sensorlake.contract.keys import is_gateway_id
from sensorlake.contract.lake import LOCAL_PATHS
from sensorlake.contract.pipelines import (
    BUCKET_ENV,
    PIPELINES,
    bucket_name_problems,
    bucket_role,
)
from sensorlake.contract.settings import (
    BucketSettings,
    ConfigSpec,
    PathSettings,
    S3Settings,
    SettingError,
    configspec,
    path,
    setting,
    verbatim,
    whole,
)

from .errors import ConfigError
from .failpoints import Failpoints

__all__ = [
    "DEFAULT_DB_PATH",
    "DEFAULT_LAKE_DIR",
    "DEFAULT_STATE_DIR",
    "GatewaySettings",
    "LandingConfig",
    "Limits",
    "OldBucketSettings",
    "S3Settings",
    "load_config",
    "old_bucket_connection",
    "parse_pipelines",
]

DEFAULT_DB_PATH = LOCAL_PATHS["db"].default
DEFAULT_STATE_DIR = LOCAL_PATHS["state"].default
DEFAULT_LAKE_DIR = LOCAL_PATHS["lake"].default

_MB = 1024 * 1024


def _default_workers() -> int:
    return min(os.cpu_count() or 1, 4)


def _gzip_level(name: str, raw: str) -> int:
    return min(3, whole(example=2)(name, raw))


@configspec("Landing: limits")
class Limits(ConfigSpec):
    """Sizes that bound memory, file size and the spool; each default is written here only.

    ``batch_rows`` is the commit unit: the watermark moves once per batch, after its
    files are durable. Files close at ``file_rows`` records or ``file_bytes``
    compressed bytes, or, in continuous mode, ``file_max_age_seconds`` after they opened,
    whichever comes first (a one-shot run closes every file at the end of each batch);
    emergency files close much earlier so an alarm lands within seconds.
    """

    batch_rows: int = setting(
        "SENSORLAKE_BATCH_ROWS",
        100_000,
        "rows per batch, the commit unit",
        parse=whole(example=100_000),
    )
    # Rows per segment (the unit of parallel work); 0 means "about 2,500 records"
    # (see segments.segment_size). It bounds each worker's memory.
    segment_rows: int = setting(
        "SENSORLAKE_SEGMENT_ROWS",
        0,
        "rows per segment, the unit of parallel work (0: about 2,500 records)",
        parse=whole(example=1_000),
    )
    file_rows: int = setting(
        "SENSORLAKE_FILE_MAX_ROWS",
        100_000,
        "records per landed file",
        parse=whole(example=100_000),
    )
    file_bytes: int = setting(
        "SENSORLAKE_FILE_MAX_MB",
        64 * _MB,
        "compressed MB per landed file",
        parse=whole(scale=_MB, example=64),
        shown_default="64",
    )
    emergency_file_rows: int = setting(
        "SENSORLAKE_EMERGENCY_FILE_MAX_ROWS",
        1_000,
        "records per emergency file",
        parse=whole(example=1_000),
    )
    file_max_age_seconds: int = setting(
        "SENSORLAKE_FILE_MAX_AGE_SECONDS",
        300,
        "seconds a file stays open with --continuous",
        parse=whole(0, example=300),
    )
    emergency_file_max_age_seconds: int = setting(
        "SENSORLAKE_EMERGENCY_FILE_MAX_AGE_SECONDS",
        0,
        "seconds an emergency file stays open (0: closes in the cycle that read it)",
        parse=whole(0, example=1_000),
    )
    spool_max_bytes: int = setting(
        "SENSORLAKE_SPOOL_MAX_MB",
        1024 * _MB,
        "MB the spool may hold before landing stops reading",
        parse=whole(scale=_MB, example=1024),
        shown_default="1024",
    )
    compress_level: int = setting(
        "SENSORLAKE_GZIP_LEVEL", 2, "gzip level, 0-3 (ISA-L)", parse=_gzip_level
    )
    workers: int = setting(
        "SENSORLAKE_WORKERS",
        _default_workers(),
        "parallel workers",
        parse=whole(example=4),
        shown_default="CPUs, at most 4",
    )
    busy_timeout_seconds: float = 60.0  # how long a locked sensor database is waited for
    ship_attempts: int = 4  # tries per file and run before it waits for the next run


@configspec("Landing")
class GatewaySettings(ConfigSpec):
    """What the landing commands read besides the shared paths and buckets."""

    gateway_id: str | None = setting(
        "SENSORLAKE_GATEWAY_ID",
        None,
        "gateway id in keys and lineage",
        parse=verbatim,
        aliases=("NODE_ID",),
        option="--gateway-id",
        shown_default="host name",
    )
    pipelines: str | None = setting(
        "SENSORLAKE_PIPELINES",
        None,
        "comma-separated subset of raw,schematized,filtered,emergency",
        option="--pipelines",
        shown_default="all",
    )
    rules_path: Path | None = setting(
        "SENSORLAKE_RULES",
        None,
        "rules file",
        parse=path,
        option="--rules",
        shown_default="the packaged rules",
    )
    failpoints: str = setting("SENSORLAKE_FAILPOINTS", "", "crash points (tests only)")


@configspec("Landing: migration")
class OldBucketSettings(ConfigSpec):
    """Where the old uploader's buckets are, when not beside the new ones (``migrate``)."""

    region: str | None = setting(
        "SENSORLAKE_OLD_AWS_REGION",
        None,
        "AWS region of the old buckets",
        shown_default="AWS_REGION's",
    )
    endpoint_url: str | None = setting(
        "SENSORLAKE_OLD_AWS_ENDPOINT_URL",
        None,
        "S3 endpoint of the old buckets",
        shown_default="AWS_ENDPOINT_URL_S3's",
    )


def old_bucket_connection(env: Mapping[str, str] | None = None) -> tuple[str | None, str | None]:
    """Region and endpoint of the old buckets: SENSORLAKE_OLD_* win, else the new ones'."""
    env = os.environ if env is None else env
    try:
        old, new = OldBucketSettings.from_env(env), S3Settings.from_env(env)
    except SettingError as exc:
        raise _config_error(exc) from None
    return old.region or new.region, old.endpoint_url or new.endpoint_url


def _config_error(exc: SettingError) -> ConfigError:
    return ConfigError(exc.message, hint=exc.hint or "unset it or fix its value")


@dataclass(frozen=True)
class LandingConfig:
    db_path: Path
    state_dir: Path
    gateway_id: str
    pipelines: tuple[str, ...] = PIPELINES
    lake_dir: Path = DEFAULT_LAKE_DIR
    s3: S3Settings | None = None
    rules_path: Path | None = None
    limits: Limits = field(default_factory=Limits)
    failpoints: Failpoints = field(default_factory=Failpoints)

    @property
    def destination(self) -> str:
        return "s3" if self.s3 is not None else "local"

    def bucket_for(self, pipeline: str) -> str:
        """The bucket (S3) or lake folder (local) a pipeline lands in; rejects go with schematized."""
        owner = bucket_role(pipeline)
        if self.s3 is not None:
            return self.s3.buckets[owner]
        return owner

    @property
    def targets(self) -> tuple[str, ...]:
        """What files are written for: the pipelines, plus ``rejected`` beside schematized."""
        return self.pipelines + (("rejected",) if _validates(self.pipelines) else ())


def _validates(pipelines: tuple[str, ...]) -> bool:
    """Rows that fail validation are kept (under ``rejected``) whenever anything validates."""
    return "schematized" in pipelines or "filtered" in pipelines


def parse_pipelines(text: str | None) -> tuple[str, ...]:
    if not text:
        return PIPELINES
    names = tuple(dict.fromkeys(p.strip().lower() for p in text.split(",") if p.strip()))
    unknown = [n for n in names if n not in PIPELINES]
    if unknown or not names:
        raise ConfigError(
            f"unknown pipeline(s) {', '.join(unknown) or '(none)'}",
            hint=f"choose from {','.join(PIPELINES)}",
        )
    return tuple(p for p in PIPELINES if p in names)


def _default_gateway_id() -> str:
    host = socket.gethostname().split(".")[0]
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "-", host).strip("-._") or "gateway"
    return cleaned[:63]


def _s3_settings(env: Mapping[str, str], pipelines: tuple[str, ...]) -> S3Settings | None:
    configured = BucketSettings.from_env(env).configured(PIPELINES)
    if not configured:
        return None
    needed = set(pipelines) | ({"schematized"} if _validates(pipelines) else set())
    missing = [BUCKET_ENV[p] for p in PIPELINES if p in needed and p not in configured]
    if missing:
        raise ConfigError(
            f"S3 buckets are configured but {', '.join(missing)} is not set",
            hint="set a bucket for every pipeline you land, or choose pipelines with --pipelines",
        )
    for pipeline, name in configured.items():
        problems = bucket_name_problems(name)
        if problems:
            raise ConfigError(
                f"{BUCKET_ENV[pipeline]}={name!r} is not a valid S3 bucket name: {problems[0]}",
                hint="use 3-63 lowercase letters, digits and hyphens (no dots, no s3:// prefix)",
            )
    return S3Settings.from_env(env, buckets=configured)


def load_config(
    *,
    env: Mapping[str, str] | None = None,
    db_path: Path | None = None,
    state_dir: Path | None = None,
    gateway_id: str | None = None,
    pipelines: str | None = None,
    lake_dir: Path | None = None,
    rules_path: Path | None = None,
) -> LandingConfig:
    """Build the configuration from explicit options, then the environment, then defaults.

    An explicit ``lake_dir`` forces the local lake even when buckets are configured,
    which is how a gateway can be tried out without touching S3.
    """
    env = os.environ if env is None else env
    try:
        return _load(env, db_path, state_dir, gateway_id, pipelines, lake_dir, rules_path)
    except SettingError as exc:
        raise _config_error(exc) from None


def _load(
    env: Mapping[str, str],
    db_path: Path | None,
    state_dir: Path | None,
    gateway_id: str | None,
    pipelines: str | None,
    lake_dir: Path | None,
    rules_path: Path | None,
) -> LandingConfig:
    gateway_settings = GatewaySettings.from_env(
        env, gateway_id=gateway_id, pipelines=pipelines, rules_path=rules_path
    )
    chosen = parse_pipelines(gateway_settings.pipelines)
    gateway = gateway_settings.gateway_id or _default_gateway_id()
    if not is_gateway_id(gateway):
        raise ConfigError(
            f"gateway id {gateway!r} cannot be used in object keys",
            hint="use up to 63 letters, digits, '.', '_' or '-' (set --gateway-id or SENSORLAKE_GATEWAY_ID)",
        )
    s3 = None if lake_dir is not None else _s3_settings(env, chosen)
    limits = Limits.from_env(env)
    try:
        failpoints = Failpoints.parse(gateway_settings.failpoints)
    except ValueError as exc:
        raise ConfigError(f"SENSORLAKE_FAILPOINTS: {exc}", hint="unset it (tests only)") from None
    paths = PathSettings.from_env(env, db_path=db_path, state_dir=state_dir, lake_dir=lake_dir)
    return LandingConfig(
        db_path=paths.db_path,
        state_dir=paths.state_dir,
        gateway_id=gateway,
        pipelines=chosen,
        lake_dir=paths.lake_dir,
        s3=s3,
        rules_path=gateway_settings.rules_path,
        limits=limits,
        failpoints=failpoints,
    )
