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
        ckpt = synthesized.settings.bucket("checkpoints")
        assert vol["storage_location"] == f"s3://{ckpt}/{name}/"


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


def test_provider_honours_enable_file_events_false(synthesized: Synth) -> None:
    """Old: databricks 1.99, which drops enable_file_events = false on create."""
    provider = synthesized.docs[CATALOG]["terraform"]["required_providers"]["databricks"]
    assert provider == {"source": "databricks/databricks", "version": ">= 1.117.0, < 2.0.0"}
    (ckpt,) = [
        v
        for v in resources(synthesized.docs[CATALOG], "databricks_external_location").values()
        if v["name"] == "autoloader_checkpoints_location"
    ]
    assert ckpt["enable_file_events"] is False


def test_file_event_permissions_cover_only_the_landing_buckets(synthesized: Synth) -> None:
    """Old: s3:PutBucketNotification on every bucket, checkpoints included."""
    from tests.infra.conftest import data_sources

    (pd,) = [
        v
        for k, v in data_sources(synthesized.docs[CATALOG], "aws_iam_policy_document").items()
        if k.startswith("uc_role_policy")
    ]
    s = synthesized.settings
    landing = [
        f"arn:aws:s3:::{s.bucket(r)}" for r in ("raw", "schematized", "filtered", "emergency")
    ]
    for st in pd["statement"]:
        if "s3:PutBucketNotification" in st["actions"]:
            assert st["resources"] == landing
        if st["sid"].startswith("ManagedFileEvents") and st["sid"] != "ManagedFileEventsBuckets":
            assert not any(r.startswith("arn:aws:s3") for r in st["resources"])
    (uploads,) = [st for st in pd["statement"] if "s3:ListBucketMultipartUploads" in st["actions"]]
    assert uploads["resources"] == [f"arn:aws:s3:::{s.bucket('checkpoints')}"]


# isolation_mode's values per resource type, from databricks/terraform-provider-databricks:
# docs/resources/storage_credential.md and external_location.md ("Can be
# `ISOLATION_MODE_ISOLATED` or `ISOLATION_MODE_OPEN`"), docs/resources/catalog.md ("Can be
# `ISOLATED` or `OPEN`"). The provider does not check them (issues #3728, #3886).
ISOLATED_VALUE = {
    "databricks_storage_credential": "ISOLATION_MODE_ISOLATED",
    "databricks_external_location": "ISOLATION_MODE_ISOLATED",
    "databricks_catalog": "ISOLATED",
}


@pytest.mark.parametrize("rtype", sorted(ISOLATED_VALUE))
def test_isolation_is_spelled_as_each_resource_type_takes_it(
    synthesized: Synth, rtype: str
) -> None:
    """Old: "ISOLATED" everywhere, which leaves the credential and locations OPEN."""
    bodies = resources(synthesized.docs[CATALOG], rtype)
    assert bodies
    for name, body in bodies.items():
        assert body["isolation_mode"] == ISOLATED_VALUE[rtype], name


def test_isolated_bound_and_owned_by_the_admin_group(synthesized: Synth) -> None:
    """Old: open to every workspace, owned by whoever ran the deploy."""
    doc, uc = synthesized.docs[CATALOG], synthesized.settings.unity_catalog
    isolated = {
        "databricks_storage_credential": "storage_credential",
        "databricks_external_location": "external_location",
        "databricks_catalog": "catalog",
    }
    bindings = {
        (b["securable_type"], b["securable_name"], b["workspace_id"], b["binding_type"])
        for b in resources(doc, "databricks_workspace_binding").values()
    }
    expected = set()
    for rtype, securable_type in isolated.items():
        for name, body in resources(doc, rtype).items():
            assert body["isolation_mode"] == ISOLATED_VALUE[rtype], name
            ref = f"${{{rtype}.{name}.name}}"
            for ws in uc.workspace_ids:
                expected.add((securable_type, ref, ws, "BINDING_TYPE_READ_WRITE"))
    assert bindings == expected and len(bindings) == 7
    for rtype in (*isolated, "databricks_schema", "databricks_volume"):
        for body in resources(doc, rtype).values():
            assert body["owner"] == uc.admin_group


def test_uc_objects_carry_the_tags(synthesized: Synth) -> None:
    doc, tags = synthesized.docs[CATALOG], synthesized.settings.tags
    got = {
        (t["entity_type"], t["entity_name"], t["tag_key"], t["tag_value"])
        for t in resources(doc, "databricks_entity_tag_assignment").values()
    }
    entities = {("catalogs", "${databricks_catalog.unity_catalog_9C5608EF.name}")}
    entities.add(("schemas", "${databricks_schema.unity_catalog_schema_3F7F4D30.id}"))
    for name in resources(doc, "databricks_volume"):
        entities.add(("volumes", f"${{databricks_volume.{name}.id}}"))
    assert got == {(t, e, k, v) for t, e in entities for k, v in tags.items()}


def test_the_plan_refuses_a_deployer_outside_the_admin_group(synthesized: Synth) -> None:
    """Old: owner = admin group at create, so the steps after the hand-over (catalog storage
    root, schema, volumes, grants, tags) failed for a deployer outside that group.

    Source: provider docs/data-sources/group.md (``users``, ``service_principals``;
    ``recursive`` defaults to true), scim/data_group.go (members by SCIM id) and
    docs/data-sources/current_user.md (``id``: the caller's id)."""
    doc, uc = synthesized.docs[CATALOG], synthesized.settings.unity_catalog
    from tests.infra.conftest import data_sources

    (group_key, group) = next(iter(data_sources(doc, "databricks_group").items()))
    assert group == {"display_name": uc.admin_group}  # recursive: the default, true
    (me_key,) = data_sources(doc, "databricks_current_user")
    (credential,) = resources(doc, "databricks_storage_credential").values()
    conditions = {
        p["condition"]: p["error_message"] for p in credential["lifecycle"]["precondition"]
    }
    grp = f"data.databricks_group.{group_key}"
    expected = (
        f"${{contains(setunion(tolist({grp}.users), tolist({grp}.service_principals)), "
        f"data.databricks_current_user.{me_key}.id)}}"
    )
    assert expected in conditions
    # a failed precondition stops the plan: nothing of the stack is applied
    assert uc.admin_group in conditions[expected] and "\n" not in conditions[expected]


def test_the_dashboard_identity_reads_tables_and_the_checkpoints_volume(synthesized: Synth) -> None:
    """Old: no grant for it, so cloud_files_state failed on Databricks. The function needs
    READ VOLUME on the checkpoints it reads (docs.databricks.com/en/sql/language-manual/
    functions/cloud_files_state.html, Permissions); the tables need USE CATALOG, USE SCHEMA,
    SELECT."""
    import json

    from cdktf import App, Testing

    from sensorlake.infra.main import CatalogStack

    s = synthesized.settings
    viewer = "sensorlake-dashboards"
    uc = s.unity_catalog.model_copy(update={"dashboard_principal": viewer})
    doc = json.loads(
        Testing.synth(
            CatalogStack(App(stack_traces=False), s.model_copy(update={"unity_catalog": uc}))
        )
    )
    held: dict[str, set[str]] = {}
    for g in resources(doc, "databricks_grants").values():
        securable = next(k for k in g if k not in ("grant", "//"))
        for grant in g["grant"]:
            if grant["principal"] == viewer:
                key = securable if securable != "volume" else g["volume"]
                held.setdefault(key, set()).update(grant["privileges"])
    (ckpt,) = [
        k
        for k, v in resources(doc, "databricks_volume").items()
        if v["name"] == s.jobs.checkpoints_volume
    ]
    assert held == {
        "catalog": {"USE_CATALOG"},
        "schema": {"USE_SCHEMA", "SELECT"},
        f"${{databricks_volume.{ckpt}.id}}": {"READ_VOLUME"},
    }
    # the other principals keep their grants (databricks_grants is authoritative)
    sp = uc.service_principal
    assert any(
        gr["principal"] == sp
        for g in resources(doc, "databricks_grants").values()
        for gr in g["grant"]
    )
    # not configured: no grant for anyone else (the example config)
    assert all(
        gr["principal"] in (uc.data_team_group, sp)
        for g in resources(synthesized.docs[CATALOG], "databricks_grants").values()
        for gr in g["grant"]
    )
