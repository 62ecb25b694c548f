"""Landing configuration: parsed once, at the edge, from options and the environment.

This is the only module that reads ``os.environ``; everything else receives a
:class:`LandingConfig`. Options given on the command line win over the environment,
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

from .errors import ConfigError
from .failpoints import Failpoints

__all__ = [
    "DEFAULT_DB_PATH",
    "DEFAULT_LAKE_DIR",
    "DEFAULT_STATE_DIR",
    "LandingConfig",
    "Limits",
    "S3Settings",
    "load_config",
    "parse_pipelines",
]

DEFAULT_DB_PATH = LOCAL_PATHS["db"].default
DEFAULT_STATE_DIR = LOCAL_PATHS["state"].default
DEFAULT_LAKE_DIR = LOCAL_PATHS["lake"].default

_MB = 1024 * 1024


def _default_workers() -> int:
    return min(os.cpu_count() or 1, 4)


@dataclass(frozen=True)
class Limits:
    """Sizes that bound memory, file size and the spool; each default is written here only.

    ``batch_rows`` is the commit unit: the watermark moves once per batch, after its
    files are durable. Files close at ``file_rows`` records or ``file_bytes``
    compressed bytes, or, in continuous mode, ``file_max_age_seconds`` after they opened,
    whichever comes first (a one-shot run closes every file at the end of each batch);
    emergency files close much earlier so an alarm lands within seconds.
    """

    batch_rows: int = 100_000
    # Rows per segment (the unit of parallel work); 0 means "about 2,500 records"
    # (see segments.segment_size). It bounds each worker's memory.
    segment_rows: int = 0
    file_rows: int = 100_000
    file_bytes: int = 64 * 1024 * 1024
    emergency_file_rows: int = 1_000
    file_max_age_seconds: int = 300
    emergency_file_max_age_seconds: int = 0  # 0: closes in the cycle that read it
    spool_max_bytes: int = 1024 * 1024 * 1024
    compress_level: int = 2  # ISA-L deflate levels are 0-3
    workers: int = field(default_factory=_default_workers)
    busy_timeout_seconds: float = 60.0  # how long a locked sensor database is waited for
    ship_attempts: int = 4  # tries per file and run before it waits for the next run


@dataclass(frozen=True)
class S3Settings:
    buckets: Mapping[str, str]
    region: str | None = None
    endpoint_url: str | None = None
    sts_endpoint_url: str | None = None


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


def _int_env(
    env: Mapping[str, str], name: str, default: int, *, scale: int = 1, minimum: int = 1
) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    example = default // scale or (1_000 if minimum else 0)
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(
            f"{name}={raw!r} is not a whole number",
            hint=f"unset it or set e.g. {name}={example}",
        ) from None
    if value < minimum:
        raise ConfigError(
            f"{name}={raw!r} must be {'positive' if minimum == 1 else f'at least {minimum}'}",
            hint=f"unset it or set e.g. {name}={example}",
        )
    return value * scale


def _default_gateway_id(env: Mapping[str, str]) -> str:
    for name in ("SENSORLAKE_GATEWAY_ID", "NODE_ID"):
        if env.get(name):
            return env[name]
    host = socket.gethostname().split(".")[0]
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "-", host).strip("-._") or "gateway"
    return cleaned[:63]


def _s3_settings(env: Mapping[str, str], pipelines: tuple[str, ...]) -> S3Settings | None:
    configured = {
        p: env[BUCKET_ENV[p]].strip() for p in PIPELINES if env.get(BUCKET_ENV[p], "").strip()
    }
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
    return S3Settings(
        buckets=configured,
        region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None,
        endpoint_url=env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") or None,
        sts_endpoint_url=env.get("AWS_ENDPOINT_URL_STS") or env.get("AWS_ENDPOINT_URL") or None,
    )


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
    chosen = parse_pipelines(pipelines or env.get("SENSORLAKE_PIPELINES"))
    gateway = gateway_id or _default_gateway_id(env)
    if not is_gateway_id(gateway):
        raise ConfigError(
            f"gateway id {gateway!r} cannot be used in object keys",
            hint="use up to 63 letters, digits, '.', '_' or '-' (set --gateway-id or SENSORLAKE_GATEWAY_ID)",
        )
    s3 = None if lake_dir is not None else _s3_settings(env, chosen)
    default = Limits()
    limits = Limits(
        batch_rows=_int_env(env, "SENSORLAKE_BATCH_ROWS", default.batch_rows),
        segment_rows=_int_env(env, "SENSORLAKE_SEGMENT_ROWS", default.segment_rows),
        file_rows=_int_env(env, "SENSORLAKE_FILE_MAX_ROWS", default.file_rows),
        file_bytes=_int_env(env, "SENSORLAKE_FILE_MAX_MB", default.file_bytes, scale=_MB),
        emergency_file_rows=_int_env(
            env, "SENSORLAKE_EMERGENCY_FILE_MAX_ROWS", default.emergency_file_rows
        ),
        file_max_age_seconds=_int_env(
            env, "SENSORLAKE_FILE_MAX_AGE_SECONDS", default.file_max_age_seconds, minimum=0
        ),
        emergency_file_max_age_seconds=_int_env(
            env,
            "SENSORLAKE_EMERGENCY_FILE_MAX_AGE_SECONDS",
            default.emergency_file_max_age_seconds,
            minimum=0,
        ),
        spool_max_bytes=_int_env(
            env, "SENSORLAKE_SPOOL_MAX_MB", default.spool_max_bytes, scale=_MB
        ),
        compress_level=min(3, _int_env(env, "SENSORLAKE_GZIP_LEVEL", default.compress_level)),
        workers=_int_env(env, "SENSORLAKE_WORKERS", default.workers),
    )
    try:
        failpoints = Failpoints.parse(env.get("SENSORLAKE_FAILPOINTS", ""))
    except ValueError as exc:
        raise ConfigError(f"SENSORLAKE_FAILPOINTS: {exc}", hint="unset it (tests only)") from None
    rules = rules_path or (Path(env["SENSORLAKE_RULES"]) if env.get("SENSORLAKE_RULES") else None)
    return LandingConfig(
        db_path=Path(db_path or env.get(LOCAL_PATHS["db"].env) or DEFAULT_DB_PATH),
        state_dir=Path(state_dir or env.get(LOCAL_PATHS["state"].env) or DEFAULT_STATE_DIR),
        gateway_id=gateway,
        pipelines=chosen,
        lake_dir=Path(lake_dir or env.get(LOCAL_PATHS["lake"].env) or DEFAULT_LAKE_DIR),
        s3=s3,
        rules_path=rules,
        limits=limits,
        failpoints=failpoints,
    )
