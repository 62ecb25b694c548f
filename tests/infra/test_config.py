"""Config: interpolation, env overrides, and clear errors for every kind of mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from sensorlake.infra.config import EXAMPLE_CONFIG, load_settings, parse_settings
from sensorlake.infra.errors import ConfigError

SP = "11111111-2222-3333-4444-555555555555"


ACCOUNT = "210987654321"


def minimal(**uc: object) -> dict:
    return {
        "aws": {"account_id": ACCOUNT},
        "gateway": {"trusted_principal_arns": [f"arn:aws:iam::{ACCOUNT}:role/site-a"]},
        "unity_catalog": {"service_principal": SP, "workspace_ids": [42], **uc},
    }


def test_example_loads_offline_with_account_unique_defaults() -> None:
    s = load_settings(EXAMPLE_CONFIG, env={})
    assert s.bucket("raw") == "sensor-data-raw-123456789012-us-east-1"
    assert s.bucket("checkpoints") == "sensor-data-checkpoints-123456789012-us-east-1"
    assert (s.unity_catalog.catalog, s.unity_catalog.schema_name) == (
        "sensor_data_catalog",
        "sensor_pipeline",
    )
    assert s.location_names["raw"] == "sensor_data_raw_location"
    assert [v.name for v in s.uc_volumes] == ["autoloader_checkpoints", "autoloader_schemas"]


def test_env_overrides_yaml_and_keeps_locations_consistent() -> None:
    env = {
        "S3_BUCKET_RAW": "acme-raw",
        "UC_CATALOG": "acme_catalog",
        "DATA_TEAM_GROUP": "analysts",
        "SERVICE_PRINCIPAL": SP,
        "AWS_REGION": "eu-west-1",
    }
    s = load_settings(EXAMPLE_CONFIG, env=env)
    assert s.bucket("raw") == "acme-raw"
    assert s.location_names["raw"] == "sensor_data_raw_location"
    assert s.unity_catalog.catalog == "acme_catalog"
    assert s.unity_catalog.data_team_group == "analysts"
    assert s.unity_catalog.service_principal == SP
    assert s.aws.region == "eu-west-1"


def test_defaults_are_account_unique_names() -> None:
    raw = minimal()
    raw["aws"]["region"] = "eu-central-1"
    s = parse_settings(raw, {}, "t")
    assert s.bucket("filtered") == f"sensor-data-filtered-{ACCOUNT}-eu-central-1"
    assert s.log_bucket == f"sensor-data-access-logs-{ACCOUNT}-eu-central-1"
    assert s.state_bucket == f"sensorlake-tfstate-{ACCOUNT}-eu-central-1"


def test_without_an_account_id_every_bucket_must_be_named() -> None:
    raw = minimal()
    del raw["aws"]
    with pytest.raises(ConfigError, match=r"aws\.account_id \(AWS_ACCOUNT_ID\) is needed") as err:
        parse_settings(raw, {}, "t")
    assert "raw, schematized, filtered, emergency, checkpoints, access_logs, state.bucket" in str(
        err.value
    )
    named = {r: f"acme-{r}" for r in ("raw", "schematized", "filtered", "emergency")}
    raw["buckets"] = {**named, "checkpoints": "acme-ckpt", "access_logs": "acme-logs"}
    raw["state"] = {"bucket": "acme-state"}
    assert parse_settings(raw, {}, "t").bucket("raw") == "acme-raw"
    assert parse_settings(raw, {"AWS_ACCOUNT_ID": ACCOUNT}, "t").aws.account_id == ACCOUNT


def test_all_problems_are_reported_at_once_with_their_keys() -> None:
    raw = {
        "bukets": {},
        "buckets": {"raw": "Bad.Name"},
        "unity_catalog": {"service_principal": "not-a-uuid", "workspace_ids": [1]},
    }
    with pytest.raises(ConfigError) as err:
        parse_settings(raw, {}, "cfg.yaml")
    text = str(err.value)
    assert "cfg.yaml is invalid" in text
    assert "bukets: unknown key" in text
    assert "buckets.raw: bad bucket name 'Bad.Name'" in text and "dots" in text
    assert "service_principal 'not-a-uuid'" in text


def test_missing_required_value() -> None:
    with pytest.raises(ConfigError, match=r"unity_catalog: required value is missing"):
        parse_settings({}, {}, "t")
    with pytest.raises(ConfigError, match=r"unity_catalog\.service_principal: required value"):
        parse_settings({"unity_catalog": {}}, {}, "t")


def test_unset_env_var_without_default_is_an_error() -> None:
    raw = {"buckets": {"raw": "${MY_RAW_BUCKET}"}, **minimal()}
    with pytest.raises(
        ConfigError, match=r"buckets\.raw: environment variable MY_RAW_BUCKET is not set"
    ):
        parse_settings(raw, {}, "t")
    assert parse_settings(raw, {"MY_RAW_BUCKET": "x-raw"}, "t").bucket("raw") == "x-raw"


def test_a_literal_token_is_rejected_and_the_reference_never_read() -> None:
    raw = {"databricks": {"token": "dapi123"}, **minimal()}
    with pytest.raises(ConfigError, match=r"databricks\.token"):
        parse_settings(raw, {}, "t")
    ok = {"databricks": {"token": "${DATABRICKS_TOKEN}"}, **minimal()}
    s = parse_settings(ok, {}, "t")  # no DATABRICKS_TOKEN needed
    assert "token" not in s.databricks.model_dump()


def test_databricks_iam_role_arn_adopts_the_role_with_its_path() -> None:
    arn = "arn:aws:iam::123456789012:role/team/platform/uc-role"
    s = parse_settings(minimal(), {"DATABRICKS_IAM_ROLE": arn}, "t")
    uc = s.unity_catalog
    assert (uc.role_name, uc.role_path, uc.role_account_id) == (
        "uc-role",
        "/team/platform/",
        "123456789012",
    )
    assert uc.adopt_role
    created = parse_settings(minimal(), {}, "t").unity_catalog
    assert (created.role_name, created.role_path, created.adopt_role) == (
        "sensorlake-unity-catalog",
        "/",
        False,
    )
    with pytest.raises(ConfigError, match="not an IAM role ARN"):
        parse_settings(minimal(), {"DATABRICKS_IAM_ROLE": "uc-role"}, "t")


def test_locations_and_volumes_must_match_buckets() -> None:
    raw = {**minimal(), "external_locations": [{"name": "x", "s3_path": "s3://elsewhere/"}]}
    with pytest.raises(ConfigError, match="not the root of one of the buckets"):
        parse_settings(raw, {}, "t")
    raw = {**minimal(), "uc_volumes": [{"name": "v", "external_location": "nope"}]}
    with pytest.raises(ConfigError, match="unknown external location 'nope'"):
        parse_settings(raw, {}, "t")


def test_duplicate_buckets_and_bad_lifecycle() -> None:
    raw = {**minimal(), "buckets": {"raw": "same-bucket", "filtered": "same-bucket"}}
    with pytest.raises(ConfigError, match="same bucket is used twice: same-bucket"):
        parse_settings(raw, {}, "t")
    raw = {**minimal(), "lifecycle": {"transition_days": 30, "expiration_days": 10}}
    with pytest.raises(ConfigError, match="expiration_days must be greater"):
        parse_settings(raw, {}, "t")


def test_settings_are_frozen() -> None:
    s = parse_settings(minimal(), {}, "t")
    with pytest.raises(Exception, match="frozen"):
        s.aws.region = "eu-west-1"  # type: ignore[misc]


def test_bad_yaml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "c.yaml"
    bad.write_text("a: [", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(bad, env={})
    with pytest.raises(ConfigError, match="file not found"):
        load_settings(tmp_path / "missing.yaml", env={})


def test_config_path_from_env(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        f"aws: {{account_id: '{ACCOUNT}'}}\ngateway: {{trust_account_root: true}}\n"
        f"unity_catalog:\n  service_principal: '{SP}'\n  catalog: from_env_file\n"
        "  workspace_ids: [42]\n",
        encoding="utf-8",
    )
    s = load_settings(env={"SENSORLAKE_INFRA_CONFIG": str(cfg)})
    assert s.unity_catalog.catalog == "from_env_file"


def test_catalog_storage_root_defaults_next_to_the_volumes() -> None:
    s = parse_settings(minimal(), {}, "t")
    ckpt = f"s3://sensor-data-checkpoints-{ACCOUNT}-us-east-1/"
    assert s.catalog_storage_root == f"{ckpt}uc-managed/"
    assert s.catalog_storage_role == "checkpoints"
    assert all(not s.volume_url(v).startswith(s.catalog_storage_root) for v in s.uc_volumes)


@pytest.mark.parametrize(
    ("root", "why"),
    [
        ("s3://elsewhere/managed/", "must be a folder inside one of the buckets"),
        ("s3://sensor-data-raw-210987654321-us-east-1/m/", "must be in the checkpoints bucket"),
        (
            "s3://sensor-data-checkpoints-210987654321-us-east-1/autoloader_schemas/x/",
            "overlaps volume 'autoloader_schemas'",
        ),
        ("not-a-url/", "catalog_storage_root"),
    ],
)
def test_bad_catalog_storage_root(root: str, why: str) -> None:
    with pytest.raises(ConfigError, match=why):
        parse_settings(minimal(catalog_storage_root=root), {}, "t")


def test_gateway_trust_must_be_explicit() -> None:
    raw = minimal()
    raw["gateway"] = {}
    with pytest.raises(ConfigError, match="nobody may assume the gateway role"):
        parse_settings(raw, {}, "t")
    anchor = f"arn:aws:rolesanywhere:us-east-1:{ACCOUNT}:trust-anchor/abc-123"
    raw["gateway"] = {"roles_anywhere_trust_anchor_arn": anchor}
    with pytest.raises(ConfigError, match="roles_anywhere_subject_cns"):
        parse_settings(raw, {}, "t")
    raw["gateway"]["roles_anywhere_subject_cns"] = ["gateway-*"]
    assert parse_settings(raw, {}, "t").gateway.roles_anywhere_subject_cns == ("gateway-*",)
    raw["gateway"] = {"trust_account_root": True}
    assert parse_settings(raw, {}, "t").gateway.trust_account_root


def test_workspace_ids_are_required_and_state_defaults_to_s3() -> None:
    raw = minimal()
    del raw["unity_catalog"]["workspace_ids"]
    with pytest.raises(ConfigError, match=r"unity_catalog\.workspace_ids: required value"):
        parse_settings(raw, {}, "t")
    s = parse_settings(minimal(), {}, "t")
    assert s.state.backend == "s3"
    assert s.unity_catalog.admin_group == "sensorlake-admins"
    assert parse_settings(minimal(), {"UC_ADMIN_GROUP": "ops"}, "t").unity_catalog.admin_group == (
        "ops"
    )


@pytest.mark.parametrize(
    ("where", "value"),
    [
        ({"catalog": "sensor-data"}, "unity_catalog.catalog"),
        ({"schema": "1pipeline"}, "unity_catalog.schema"),
    ],
)
def test_catalog_and_schema_follow_the_contracts_name_rule(where: dict, value: str) -> None:
    """Old: '-' and a leading digit accepted here, refused by the job at run time (exit 2)."""
    with pytest.raises(ConfigError) as err:
        parse_settings(minimal(**where), {}, "t")
    (name,) = where.values()
    assert f"{value}: name {name!r} is not a valid Unity Catalog name: use letters" in str(
        err.value
    )


def test_volume_names_follow_the_contracts_name_rule() -> None:
    raw = {**minimal(), "jobs": {"checkpoints_volume": "auto-loader"}}
    with pytest.raises(ConfigError, match=r"jobs\.checkpoints_volume: name 'auto-loader' is not"):
        parse_settings(raw, {}, "t")
    vols = [{"name": "2ckpt", "external_location": "autoloader_checkpoints_location"}]
    with pytest.raises(ConfigError, match=r"uc_volumes\.0\.name: name '2ckpt' is not a valid"):
        parse_settings({**minimal(), "uc_volumes": vols}, {}, "t")


def test_credential_and_location_names_may_keep_a_hyphen() -> None:
    """They never appear in a table name or a /Volumes path (existing ones often have '-')."""
    s = parse_settings(minimal(storage_credential="prod-uc-credential"), {}, "t")
    assert s.unity_catalog.storage_credential == "prod-uc-credential"


def test_the_dashboard_principal_is_optional_and_has_its_variable() -> None:
    assert parse_settings(minimal(), {}, "t").unity_catalog.dashboard_principal is None
    s = parse_settings(minimal(), {"DASHBOARD_PRINCIPAL": "dash-readers"}, "t")
    assert s.unity_catalog.dashboard_principal == "dash-readers"
