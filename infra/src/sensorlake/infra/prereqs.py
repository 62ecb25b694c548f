"""What `make deploy` / `sensorlake setup` need before touching the cloud, checked up front.

Pure: takes the environment, a ``which`` and an ``exists`` function, so tests need no
machine state. Lists every missing thing at once, with how to fix it. Never reads a
secret's value, only whether it is present.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from sensorlake.infra.config import (
    INFRA_DIR,
    PLACEHOLDER_ACCOUNT,
    PLACEHOLDER_PRINCIPAL,
    PLACEHOLDER_WORKSPACE,
    Settings,
)

__all__ = [
    "CDKTF_BIN",
    "MIN_TERRAFORM",
    "RUN_AS_ROLES",
    "databricks_run_as_check",
    "missing_prerequisites",
    "run_as_role_problem",
    "terraform_binary",
    "terraform_version",
]

CDKTF_BIN = INFRA_DIR / "node_modules" / ".bin" / "cdktf"
# The S3 backend's use_lockfile needs Terraform 1.10 (OpenTofu: 1.10 too).
MIN_TERRAFORM = (1, 10)


def terraform_version(binary: str) -> tuple[int, int] | None:
    """``terraform version -json`` as (major, minor); None when it cannot be read."""
    try:
        proc = subprocess.run(
            [binary, "version", "-json"], capture_output=True, text=True, timeout=60, check=False
        )
        version = json.loads(proc.stdout)["terraform_version"]
    except (OSError, ValueError, KeyError, subprocess.TimeoutExpired):
        return None
    match = re.match(r"(\d+)\.(\d+)", version)
    return (int(match.group(1)), int(match.group(2))) if match else None


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
        or (env.get("DATABRICKS_AUTH_TYPE") == "github-oidc" and env.get("DATABRICKS_CLIENT_ID"))
        or (env.get("DATABRICKS_CONFIG_PROFILE") and exists(home / ".databrickscfg"))
    )


# Setting a job's run_as to a service principal "requires the `servicePrincipal/user` role"
# on it (provider docs/resources/job.md, run_as block); the manager role includes it.
RUN_AS_ROLES = ("roles/servicePrincipal.user", "roles/servicePrincipal.manager")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _run_as_fix(app_id: str) -> str:
    return (
        f"the servicePrincipal/user role on service principal {app_id} for the deployer (the "
        "jobs run as it): an account or workspace admin grants it under Settings > Identity "
        "and access > Service principals > the principal > Permissions"
    )


def run_as_role_problem(
    app_id: str,
    deployer: str,
    deployer_groups: Iterable[str],
    grant_rules: Iterable[tuple[str, Iterable[str]]],
) -> str | None:
    """Whether the deployer holds a role that lets it set ``run_as`` to ``app_id``.

    ``deployer`` is its rule-set principal (``users/<email>`` or
    ``servicePrincipals/<application id>``), ``grant_rules`` the (role, principals) pairs of
    the service principal's rule set ``accounts/<account>/servicePrincipals/<id>/ruleSets/
    default``. Returns the missing prerequisite with its fix, or None.
    """
    mine = {deployer, *(f"groups/{g}" for g in deployer_groups)}
    for role, principals in grant_rules:
        if role in RUN_AS_ROLES and mine & set(principals):
            return None
    return _run_as_fix(app_id)


def databricks_run_as_check(env: Mapping[str, str]) -> Callable[[str], str | None]:
    """The run_as check against the workspace (databricks-sdk, the provider's own auth
    variables). Reading the rule set needs the account id: ``DATABRICKS_ACCOUNT_ID``."""

    def check(app_id: str) -> str | None:
        account = env.get("DATABRICKS_ACCOUNT_ID")
        if not account:
            return (
                "DATABRICKS_ACCOUNT_ID (to check that the deployer has the servicePrincipal/"
                f"user role on {app_id}, which the jobs' run_as needs)"
            )
        try:
            from databricks.sdk import WorkspaceClient
        except ImportError:
            return "databricks-sdk (pip install databricks-sdk) to check the jobs' run_as role"
        try:
            client = WorkspaceClient()
            me: Any = client.current_user.me()
            name = f"accounts/{account}/servicePrincipals/{app_id}/ruleSets/default"
            rules = client.account_access_control_proxy.get_rule_set(name=name, etag="")
        except Exception as exc:  # any API failure: one line, not a traceback
            first = (str(exc).splitlines() or [type(exc).__name__])[0]
            return f"a readable rule set of service principal {app_id} ({first}); {_run_as_fix(app_id)}"
        # /Me gives a service principal's application id as its user name
        # (provider docs/data-sources/current_user.md, user_name)
        user = me.user_name or ""
        kind = "servicePrincipals" if _UUID.match(user) else "users"
        deployer = f"{kind}/{user}"
        groups = [g.display for g in (me.groups or []) if g.display]
        pairs = [(r.role or "", r.principals or []) for r in (rules.grant_rules or [])]
        return run_as_role_problem(app_id, deployer, groups, pairs)

    return check


def missing_prerequisites(
    settings: Settings,
    env: Mapping[str, str],
    *,
    which: Callable[[str], str | None] = shutil.which,
    exists: Callable[[Path], bool] = Path.exists,
    cdktf_bin: Path = CDKTF_BIN,
    version_of: Callable[[str], tuple[int, int] | None] | None = None,
    run_as_check: Callable[[str], str | None] | None = None,
) -> list[str]:
    """Every missing prerequisite, each with its fix; [] when a deploy can start.

    ``run_as_check`` (``databricks_run_as_check`` in ``sensorlake setup``) asks the workspace
    whether the deployer may set the jobs' run_as; it is asked only when the credentials and
    the service principal are there and the jobs may be deployed."""
    missing: list[str] = []
    need = ".".join(map(str, MIN_TERRAFORM))
    binary = terraform_binary(which)
    if binary is None:
        missing.append(
            f"terraform or tofu binary on PATH (install Terraform >= {need} or OpenTofu)"
        )
    else:
        version = (version_of or terraform_version)(binary)
        if version is None or version < MIN_TERRAFORM:
            found = ".".join(map(str, version)) if version else "unknown"
            missing.append(
                f"Terraform >= {need} (found {found} at {binary}): the S3 backend's "
                "use_lockfile needs it"
            )
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
    if settings.aws.account_id == PLACEHOLDER_ACCOUNT:
        missing.append(
            "AWS_ACCOUNT_ID (aws.account_id: your account; the example's 123456789012 is a "
            "placeholder)"
        )
    email = settings.jobs.notification_email or ""
    if settings.jobs.enabled != "false" and email.endswith("@example.com"):
        missing.append(
            "SENSORLAKE_ALERT_EMAIL (jobs.notification_email: where job failures are mailed; "
            "the example's address is a placeholder)"
        )
    sp = settings.unity_catalog.service_principal
    can_ask = env.get("DATABRICKS_HOST") and _databricks_auth(env, exists)
    if (
        run_as_check
        and can_ask
        and sp != PLACEHOLDER_PRINCIPAL
        and settings.jobs.enabled != "false"
    ):
        problem = run_as_check(sp)
        if problem:
            missing.append(problem)
    if PLACEHOLDER_WORKSPACE in settings.unity_catalog.workspace_ids:
        missing.append(
            "DATABRICKS_WORKSPACE_ID (unity_catalog.workspace_ids: the workspace(s) bound to the "
            "catalog; the example's 1234567890123456 is a placeholder)"
        )
    return missing
