"""Deploy prerequisites: every missing thing is listed, nothing when all are present."""

from __future__ import annotations

from pathlib import Path

import pytest

from sensorlake.infra.config import parse_settings
from sensorlake.infra.prereqs import missing_prerequisites

SP = "11111111-2222-3333-4444-555555555555"
PLACEHOLDER = "00000000-0000-0000-0000-000000000000"
FULL_ENV = {
    "HOME": "/home/x",
    "AWS_PROFILE": "platform",
    "DATABRICKS_HOST": "https://dbc-1.cloud.databricks.com",
    "DATABRICKS_TOKEN": "dapi-x",
}


def _settings(sp: str = SP, account: str = "210987654321", workspace: int = 42):
    raw = {
        "aws": {"account_id": account},
        "gateway": {"trust_account_root": True},
        "unity_catalog": {"service_principal": sp, "workspace_ids": [workspace]},
    }
    return parse_settings(raw, {}, "t")


def _check(
    env, *, tools=("terraform",), files=(), sp=SP, cdktf=True, version=(1, 11), run_as_check=None,
    **kw,
):  # fmt: skip
    have = {Path(f) for f in files} | ({Path("/cdktf")} if cdktf else set())
    return missing_prerequisites(
        _settings(sp, **kw), env, which=lambda n: f"/usr/bin/{n}" if n in tools else None,
        exists=lambda p: Path(p) in have, cdktf_bin=Path("/cdktf"), version_of=lambda b: version,
        run_as_check=run_as_check,
    )  # fmt: skip


def test_nothing_missing() -> None:
    assert _check(FULL_ENV) == []


def test_everything_missing_is_listed() -> None:
    missing = _check({"HOME": "/home/x"}, tools=(), sp=PLACEHOLDER, cdktf=False)
    assert len(missing) == 6
    text = "\n".join(missing)
    for needle in (
        "terraform or tofu",
        "cdktf CLI",
        "AWS credentials",
        "DATABRICKS_HOST",
        "DATABRICKS_TOKEN",
        "SERVICE_PRINCIPAL",
    ):
        assert needle in text


@pytest.mark.parametrize(
    "env",
    [
        {"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"},
        {"AWS_WEB_IDENTITY_TOKEN_FILE": "/t", "AWS_ROLE_ARN": "arn"},
    ],
)
def test_aws_credential_sources(env: dict[str, str]) -> None:
    base = {k: v for k, v in FULL_ENV.items() if k != "AWS_PROFILE"}
    assert _check({**base, **env}) == []
    assert any("AWS credentials" in m for m in _check(base))


def test_shared_credentials_file_and_opentofu() -> None:
    base = {k: v for k, v in FULL_ENV.items() if k != "AWS_PROFILE"}
    assert _check(base, tools=("tofu",), files=["/home/x/.aws/credentials"]) == []


def test_databricks_oauth_instead_of_token() -> None:
    env = {k: v for k, v in FULL_ENV.items() if k != "DATABRICKS_TOKEN"}
    assert _check({**env, "DATABRICKS_CLIENT_ID": "i", "DATABRICKS_CLIENT_SECRET": "s"}) == []


def test_terraform_older_than_1_10_is_refused() -> None:
    (problem,) = _check(FULL_ENV, version=(1, 6))
    assert "Terraform >= 1.10 (found 1.6 at /usr/bin/terraform)" in problem
    assert _check(FULL_ENV, version=(1, 10)) == []


def test_example_placeholders_cannot_be_deployed() -> None:
    missing = _check(FULL_ENV, account="123456789012", workspace=1234567890123456)
    assert [m.split(" ")[0] for m in missing] == ["AWS_ACCOUNT_ID", "DATABRICKS_WORKSPACE_ID"]


def test_databricks_github_oidc_instead_of_token() -> None:
    env = {k: v for k, v in FULL_ENV.items() if k != "DATABRICKS_TOKEN"}
    assert _check({**env, "DATABRICKS_AUTH_TYPE": "github-oidc", "DATABRICKS_CLIENT_ID": "i"}) == []


def test_the_example_alert_address_cannot_be_deployed() -> None:
    settings = _settings()
    jobs = settings.jobs.model_copy(update={"notification_email": "alerts@example.com"})
    missing = missing_prerequisites(
        settings.model_copy(update={"jobs": jobs}), FULL_ENV, which=lambda n: "/usr/bin/terraform",
        exists=lambda p: True, cdktf_bin=Path("/cdktf"), version_of=lambda b: (1, 11),
    )  # fmt: skip
    assert [m.split(" ")[0] for m in missing] == ["SENSORLAKE_ALERT_EMAIL"]


# run_as: "Setting this field requires the `servicePrincipal/user` role" (provider
# docs/resources/job.md, run_as block); rule-set principals are users/<email>, groups/<name>,
# servicePrincipals/<application id> (databricks-sdk AccountAccessControlProxyAPI.get_rule_set).
def test_run_as_needs_the_service_principal_user_role() -> None:
    from sensorlake.infra.prereqs import run_as_role_problem

    me, groups = "users/ops@corp.example", ["platform"]
    user_rule = [("roles/servicePrincipal.user", ["users/ops@corp.example"])]
    assert run_as_role_problem(SP, me, groups, user_rule) is None
    assert (
        run_as_role_problem(SP, me, groups, [("roles/servicePrincipal.user", ["groups/platform"])])
        is None
    )
    assert run_as_role_problem(SP, me, groups, [("roles/servicePrincipal.manager", [me])]) is None
    for rules in ([], [("roles/servicePrincipal.user", ["users/other@corp.example"])]):
        problem = run_as_role_problem(SP, me, groups, rules)
        assert problem and "servicePrincipal/user role" in problem and SP in problem
        assert "\n" not in problem


def test_setup_lists_a_missing_run_as_role() -> None:
    """Old: not checked; the jobs stack failed at apply, after the catalog was deployed."""
    asked: list[str] = []

    def check(app_id: str) -> str | None:
        asked.append(app_id)
        return "the servicePrincipal/user role on service principal " + app_id

    assert _check(FULL_ENV, run_as_check=check) == [
        f"the servicePrincipal/user role on service principal {SP}"
    ]
    assert asked == [SP]
    assert _check(FULL_ENV, run_as_check=lambda a: None) == []
    # not asked without Databricks credentials (those are listed instead)
    env = {k: v for k, v in FULL_ENV.items() if k != "DATABRICKS_TOKEN"}
    asked.clear()
    assert len(_check(env, run_as_check=check)) == 1 and asked == []


def test_run_as_check_without_an_account_id_says_what_to_set() -> None:
    from sensorlake.infra.prereqs import databricks_run_as_check

    problem = databricks_run_as_check({})(SP)
    assert problem and problem.startswith("DATABRICKS_ACCOUNT_ID") and SP in problem
