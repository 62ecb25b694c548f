"""Credentials of the gateway role, so ``sensorlake setup`` validates what gateways can do.

Validating with the deployer's admin credentials proves nothing about the gateway policy;
``setup`` assumes the gateway writer role and runs ``sensorlake validate`` with that session
(short-lived, in the child's environment only, never printed).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sensorlake.contract.errors import DestinationError
from sensorlake.infra.config import Settings
from sensorlake.infra.errors import InfraError

__all__ = ["GatewayAssumeError", "gateway_env", "gateway_role_arn"]

# Variables of the deployer's identity that must not leak into the gateway's session.
_IDENTITY_VARS = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
)


class GatewayAssumeError(InfraError, DestinationError):
    """The deployer may not assume the gateway role (it is not a trusted principal)."""


def gateway_role_arn(settings: Settings, account_id: str) -> str:
    """The gateway writer role the storage stack creates (path "/")."""
    return f"arn:aws:iam::{account_id}:role/{settings.gateway.role_name}"


def gateway_env(settings: Settings, sts: Any, base_env: Mapping[str, str]) -> dict[str, str]:
    """``base_env`` with the deployer's identity replaced by a gateway-role session."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        caller = sts.get_caller_identity()
        arn = gateway_role_arn(settings, caller["Account"])
        creds = sts.assume_role(
            RoleArn=arn,
            RoleSessionName="sensorlake-setup-validate",
            DurationSeconds=900,
        )["Credentials"]
    except (ClientError, BotoCoreError) as exc:
        who = locals().get("caller", {}).get("Arn", "the current identity")
        raise GatewayAssumeError(
            f"cannot assume the gateway role as {who} ({exc}); to validate from here, add "
            "that principal to gateway.trusted_principal_arns, or run `sensorlake setup "
            "--skip-validate` and `sensorlake validate` on a gateway"
        ) from None
    env = {k: v for k, v in base_env.items() if k not in _IDENTITY_VARS}
    env.update(
        {
            "AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
            "AWS_SESSION_TOKEN": creds["SessionToken"],
        }
    )
    return env
