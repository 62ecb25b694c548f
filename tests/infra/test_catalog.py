"""Unity Catalog: locations with file events and SSE-KMS, volumes, least-privilege grants."""

from __future__ import annotations

import pytest

from tests.infra.conftest import Synth, resources

pytestmark = pytest.mark.synth

CATALOG = "sensorlake-catalog"


def test_one_location_per_bucket_with_file_events_and_kms(synthesized: Synth) -> None:
    s = synthesized.settings
    locs = {
        v["name"]: v
        for v in resources(synthesized.docs[CATALOG], "databricks_external_location").values()
    }
    assert set(locs) == set(s.location_names.values())
    for role, name in s.location_names.items():
        loc = locs[name]
        assert loc["url"] == f"s3://{s.bucket(role)}/"
        assert loc["credential_name"] == "${databricks_storage_credential.storage_credential.name}"
        assert loc["encryption_details"] == {
            "sse_encryption_details": {
                "algorithm": "AWS_SSE_KMS",
                "aws_kms_key_arn": "${data.aws_kms_alias.landing_key.target_key_arn}",
            }
        }
        landing = role != "checkpoints"
        assert loc["read_only"] is landing
        assert loc["enable_file_events"] is landing
        assert ("file_event_queue" in loc) is landing
        if landing:
            assert loc["file_event_queue"] == {"managed_sqs": {}}


def test_cdktf_matcher_finds_managed_file_events(synthesized: Synth) -> None:
    from cdktf import Testing
    from cdktf_cdktf_provider_databricks.external_location import ExternalLocation

    js = synthesized.catalog_json
    assert Testing.to_have_resource_with_properties(
        js,
        ExternalLocation.TF_RESOURCE_TYPE,
        {"name": "sensor_data_raw_location", "enable_file_events": True},
    )
    assert not Testing.to_have_resource_with_properties(
        js,
        ExternalLocation.TF_RESOURCE_TYPE,
        {"name": "sensor_data_raw_location", "read_only": False},
    )


def test_catalog_schema_and_external_volumes(synthesized: Synth) -> None:
    doc = synthesized.docs[CATALOG]
    (catalog,) = resources(doc, "databricks_catalog").values()
    (schema,) = resources(doc, "databricks_schema").values()
    assert catalog["name"] == "sensor_data_catalog"
    assert schema["name"] == "sensor_pipeline"
    vols = {v["name"]: v for v in resources(doc, "databricks_volume").values()}
    assert set(vols) == {"autoloader_checkpoints", "autoloader_schemas"}
    for name, vol in vols.items():
        assert vol["volume_type"] == "EXTERNAL"
        assert vol["storage_location"] == f"s3://sensor-data-checkpoints-us-east-1/{name}/"


def test_grants_are_least_privilege(synthesized: Synth) -> None:
    uc = synthesized.settings.unity_catalog
    allowed = {uc.data_team_group, uc.service_principal}
    grants = resources(synthesized.docs[CATALOG], "databricks_grants")
    assert len(grants) == 1 + 1 + 4 + 2  # catalog, schema, 4 landing locations, 2 volumes
    seen: dict[str, set[str]] = {}
    for g in grants.values():
        securable = next(k for k in g if k not in ("grant", "//"))
        for grant in g["grant"]:
            assert grant["principal"] in allowed
            assert "ALL_PRIVILEGES" not in grant["privileges"]
            seen.setdefault(securable, set()).update(
                f"{grant['principal']}:{p}" for p in grant["privileges"]
            )
    sp, team = uc.service_principal, uc.data_team_group
    assert seen["external_location"] == {f"{sp}:READ_FILES"}
    assert seen["volume"] == {f"{sp}:READ_VOLUME", f"{sp}:WRITE_VOLUME"}
    assert f"{team}:MODIFY" not in seen["schema"] and f"{sp}:MODIFY" in seen["schema"]
    assert seen["catalog"] == {f"{sp}:USE_CATALOG", f"{team}:USE_CATALOG"}
