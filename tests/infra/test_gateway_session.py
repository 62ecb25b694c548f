"""`sensorlake setup` validates as the gateway role, not with the deployer's credentials."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner

from sensorlake.infra import cli
from sensorlake.infra.config import parse_settings
from sensorlake.infra.gateway_session import GatewayAssumeError, gateway_env, gateway_role_arn

SP = "11111111-2222-3333-4444-555555555555"
ACCOUNT = "123456789012"  # moto's account


def _settings() -> Any:
    return parse_settings(
        {
            "aws": {"account_id": "210987654321"},
            "gateway": {"trusted_principal_arns": [f"arn:aws:iam::{ACCOUNT}:user/deployer"]},
            "unity_catalog": {"service_principal": SP, "workspace_ids": [42]},
        },
        {},
        "t",
    )


@pytest.fixture
def sts(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    import boto3
    from moto import mock_aws

    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(k, v)
    with mock_aws():
        iam = boto3.client("iam", region_name="us-east-1")
        trust = {"Version": "2012-10-17", "Statement": []}
        iam.create_role(
            RoleName="sensorlake-gateway-writer", AssumeRolePolicyDocument=json.dumps(trust)
        )
        yield boto3.client("sts", region_name="us-east-1")


def test_validate_env_is_a_gateway_session_without_the_deployer_identity(sts: Any) -> None:
    base = {"AWS_PROFILE": "admin", "AWS_ACCESS_KEY_ID": "AKIAADMIN", "PATH": "/bin"}
    env = gateway_env(_settings(), sts, base)
    assert "AWS_PROFILE" not in env and env["PATH"] == "/bin"
    assert env["AWS_ACCESS_KEY_ID"] != "AKIAADMIN" and env["AWS_SESSION_TOKEN"]
    import boto3

    who = boto3.client(
        "sts",
        region_name="us-east-1",
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=env["AWS_SESSION_TOKEN"],
    ).get_caller_identity()
    assert who["Arn"] == (
        f"arn:aws:sts::{ACCOUNT}:assumed-role/sensorlake-gateway-writer/sensorlake-setup-validate"
    )
    assert gateway_role_arn(_settings(), ACCOUNT) == (
        f"arn:aws:iam::{ACCOUNT}:role/sensorlake-gateway-writer"
    )


def test_a_missing_role_is_a_clear_error(sts: Any) -> None:
    settings = _settings()
    other = settings.model_copy(
        update={"gateway": settings.gateway.model_copy(update={"role_name": "nope"})}
    )

    class Denied:
        def get_caller_identity(self) -> dict[str, str]:
            return sts.get_caller_identity()

        def assume_role(self, **kw: Any) -> Any:
            from botocore.exceptions import ClientError

            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "AssumeRole")

    with pytest.raises(
        GatewayAssumeError, match=r"add that principal to gateway\.trusted_principal"
    ):
        gateway_env(other, Denied(), {})


def test_setup_runs_validate_with_the_gateway_session(
    sts: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "aws: {account_id: '210987654321'}\n"
        f"gateway: {{trusted_principal_arns: ['arn:aws:iam::{ACCOUNT}:user/deployer']}}\n"
        f"unity_catalog: {{service_principal: '{SP}', workspace_ids: [42]}}\n"
        # This test fakes every subprocess, so it cannot build the jobs' wheels (with
        # streams/ in the checkout, `auto` would build them): the jobs are not its subject.
        "jobs: {enabled: 'false'}\n",
        encoding="utf-8",
    )
    runs: list[tuple[list[str], dict[str, str]]] = []

    class Done:
        returncode = 0

    real_run = cli.subprocess.run

    def run(argv: list[str], **kw: Any) -> Any:
        if argv[0] == "git":
            return real_run(argv, **kw)
        runs.append((argv, kw.get("env") or {}))
        return Done()

    monkeypatch.setattr(cli, "missing_prerequisites", lambda *a, **k: [])
    monkeypatch.setattr(cli.subprocess, "run", run)
    monkeypatch.setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/admin")
    result = CliRunner().invoke(cli.setup, ["--config", str(cfg), "--auto-approve"])
    assert result.exit_code == 0, result.output
    (deploy, _), (validate, env) = runs
    assert deploy[1:3] == ["deploy", "sensorlake-storage"]
    assert validate[-1] == "validate"
    assert "AWS_ROLE_ARN" not in env and env["AWS_SESSION_TOKEN"]
    assert env["AWS_SECRET_ACCESS_KEY"] not in result.output
