"""What `make deploy` / `sensorlake setup` need before touching the cloud, checked up front.

Pure: takes the environment, a ``which`` and an ``exists`` function, so tests need no
machine state. Lists every missing thing at once, with how to fix it. Never reads a
secret's value, only whether it is present.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from pathlib import Path

from sensorlake.infra.config import INFRA_DIR, PLACEHOLDER_PRINCIPAL, Settings

__all__ = ["CDKTF_BIN", "missing_prerequisites", "terraform_binary"]

CDKTF_BIN = INFRA_DIR / "node_modules" / ".bin" / "cdktf"


def terraform_binary(which: Callable[[str], str | None] = shutil.which) -> str | None:
    """terraform, else OpenTofu (cdktf runs either through TERRAFORM_BINARY_NAME)."""
    return which("terraform") or which("tofu")


def _aws_credentials(env: Mapping[str, str], exists: Callable[[Path], bool]) -> bool:
    home = Path(env.get("HOME", "~")).expanduser()
    return any(
        (
            env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"),
            env.get("AWS_PROFILE"),
            env.get("AWS_WEB_IDENTITY_TOKEN_FILE") and env.get("AWS_ROLE_ARN"),
            env.get("AWS_CONTAINER_CREDENTIALS_FULL_URI"),
            env.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"),
            exists(Path(env.get("AWS_SHARED_CREDENTIALS_FILE", home / ".aws" / "credentials"))),
            exists(Path(env.get("AWS_CONFIG_FILE", home / ".aws" / "config"))),
        )
    )


def _databricks_auth(env: Mapping[str, str], exists: Callable[[Path], bool]) -> bool:
    home = Path(env.get("HOME", "~")).expanduser()
    return bool(
        env.get("DATABRICKS_TOKEN")
        or (env.get("DATABRICKS_CLIENT_ID") and env.get("DATABRICKS_CLIENT_SECRET"))
        or (env.get("DATABRICKS_CONFIG_PROFILE") and exists(home / ".databrickscfg"))
    )


def missing_prerequisites(
    settings: Settings,
    env: Mapping[str, str],
    *,
    which: Callable[[str], str | None] = shutil.which,
    exists: Callable[[Path], bool] = Path.exists,
    cdktf_bin: Path = CDKTF_BIN,
) -> list[str]:
    """Every missing prerequisite, each with its fix; [] when a deploy can start."""
    missing: list[str] = []
    if terraform_binary(which) is None:
        missing.append("terraform or tofu binary on PATH (install Terraform >= 1.6 or OpenTofu)")
    if not exists(cdktf_bin):
        missing.append(f"cdktf CLI at {cdktf_bin} (run `make infra-setup`, which runs npm ci)")
    if not _aws_credentials(env, exists):
        missing.append(
            "AWS credentials (AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY, AWS_PROFILE, "
            "web identity, or ~/.aws/credentials)"
        )
    if not env.get("DATABRICKS_HOST"):
        missing.append(
            "DATABRICKS_HOST (the workspace URL, e.g. https://dbc-123.cloud.databricks.com)"
        )
    if not _databricks_auth(env, exists):
        missing.append(
            "Databricks credentials: DATABRICKS_TOKEN (or DATABRICKS_CLIENT_ID + "
            "DATABRICKS_CLIENT_SECRET, or DATABRICKS_CONFIG_PROFILE with ~/.databrickscfg)"
        )
    if settings.unity_catalog.service_principal == PLACEHOLDER_PRINCIPAL:
        missing.append(
            "SERVICE_PRINCIPAL (the pipeline service principal's application ID; the example "
            "config's placeholder cannot be deployed)"
        )
    return missing
