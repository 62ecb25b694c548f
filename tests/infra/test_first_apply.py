"""Issue 9: what makes the first apply on a real account succeed, as synth checks.

Each test fails on the output before the fix (noted per test).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.infra.conftest import Synth, data_sources, resources

pytestmark = pytest.mark.synth

STORAGE, CATALOG = "sensorlake-storage", "sensorlake-catalog"


def _one(doc: dict[str, Any], rtype: str, contains: str) -> tuple[str, dict[str, Any]]:
    (hit,) = [(k, v) for k, v in resources(doc, rtype).items() if contains in k]
    return hit


def _synth_stack(settings: Any, stack: str) -> dict[str, Any]:
    from cdktf import App, Testing

    from sensorlake.infra.main import CatalogStack, StorageStack

    cls = StorageStack if stack == STORAGE else CatalogStack
    return json.loads(Testing.synth(cls(App(stack_traces=False), settings)))


def test_catalog_has_managed_storage_covered_by_the_checkpoints_location(
    synthesized: Synth,
) -> None:
    """Old: no storage_root ("Metastore storage root URL does not exist")."""
    doc, s = synthesized.docs[CATALOG], synthesized.settings
    (catalog,) = resources(doc, "databricks_catalog").values()
    ckpt = f"s3://{s.bucket('checkpoints')}/"
    assert catalog["storage_root"] == f"{ckpt}uc-managed/"
    location, _ = _one(doc, "databricks_external_location", "checkpoints")
    assert catalog["depends_on"] == [f"databricks_external_location.{location}"]
    for vol in resources(doc, "databricks_volume").values():
        loc = vol["storage_location"]
        assert not loc.startswith(catalog["storage_root"]) and not catalog[
            "storage_root"
        ].startswith(loc)


def test_default_bucket_names_are_account_unique(synthesized: Synth) -> None:
    """Old: sensor-data-raw-us-east-1, a global name anyone may own."""
    account = synthesized.settings.aws.account_id
    names = [b["bucket"] for b in resources(synthesized.docs[STORAGE], "aws_s3_bucket").values()]
    assert len(names) == 6 and all(f"-{account}-" in n for n in names)


def test_existing_buckets_and_role_are_adopted_with_import_blocks(synthesized: Synth) -> None:
    """Old: always created (BucketAlreadyExists / EntityAlreadyExists), role path dropped."""
    s = synthesized.settings
    arn = "arn:aws:iam::123456789012:role/platform/databricks-uc"
    uc = s.unity_catalog.model_copy(update={"iam_role_arn": arn})
    buckets = s.buckets.model_copy(update={"adopt": ("raw",)})
    adopted = s.model_copy(update={"unity_catalog": uc, "buckets": buckets})
    storage = _synth_stack(adopted, STORAGE)
    (imp,) = storage["import"]
    raw_bucket, _ = _one(storage, "aws_s3_bucket", "raw")
    assert imp == {"to": f"aws_s3_bucket.{raw_bucket}", "id": s.bucket("raw")}

    catalog = _synth_stack(adopted, CATALOG)
    role_addr, role = _one(catalog, "aws_iam_role", "uc_role")
    assert catalog["import"] == [{"to": f"aws_iam_role.{role_addr}", "id": "databricks-uc"}]
    assert (role["name"], role["path"]) == ("databricks-uc", "/platform/")
    cred = resources(catalog, "databricks_storage_credential")["storage_credential"]
    assert cred["aws_iam_role"]["role_arn"] == arn
    # the account comes from the caller; the ARN's account is checked against it at plan time
    (pre,) = role["lifecycle"]["precondition"]
    assert pre["condition"] == ('${(data.aws_caller_identity.caller.account_id == "123456789012")}')
    # by default nothing is imported and the role is created at "/"
    assert "import" not in synthesized.docs[CATALOG]
    _, created = _one(synthesized.docs[CATALOG], "aws_iam_role", "uc_role")
    assert "path" not in created and "lifecycle" not in created  # created at "/"


def test_state_is_remote_by_default_and_needs_terraform_1_10(synthesized: Synth) -> None:
    """Old: local state inside cdktf.out/ and a README saying Terraform 1.6."""
    for stack, doc in synthesized.docs.items():
        tf = doc["terraform"]
        assert tf["required_version"] == ">= 1.10"
        assert tf["backend"] == {
            "s3": {
                "bucket": synthesized.settings.state_bucket,
                "key": f"sensorlake/{stack}.tfstate",
                "region": "us-east-1",
                "encrypt": True,
                "use_lockfile": True,
            }
        }
    sandbox = synthesized.settings.model_copy(
        update={"state": synthesized.settings.state.model_copy(update={"backend": "local"})}
    )
    local = _synth_stack(sandbox, STORAGE)["terraform"]["backend"]["local"]["path"]
    assert local == "../../../terraform-state/sensorlake-storage.tfstate"  # outside cdktf.out


def test_logging_waits_for_the_log_bucket_policy(synthesized: Synth) -> None:
    """Old: PutBucketLogging raced the log bucket's policy (InvalidTargetBucketForLogging)."""
    doc = synthesized.docs[STORAGE]
    policy, _ = _one(doc, "aws_s3_bucket_policy", "access_logs")
    ownership, _ = _one(doc, "aws_s3_bucket_ownership_controls", "access_logs")
    logging = resources(doc, "aws_s3_bucket_logging")
    assert len(logging) == 5
    for body in logging.values():
        assert set(body["depends_on"]) == {
            f"aws_s3_bucket_policy.{policy}",
            f"aws_s3_bucket_ownership_controls.{ownership}",
        }


def test_bucket_policies_wait_for_the_public_access_block(synthesized: Synth) -> None:
    """Concurrent PutBucketPolicy + PutPublicAccessBlock on a new bucket: OperationAborted."""
    doc = synthesized.docs[STORAGE]
    blocks = resources(doc, "aws_s3_bucket_public_access_block")
    for body in resources(doc, "aws_s3_bucket_policy").values():
        (dep,) = body["depends_on"]
        block = blocks[dep.split(".", 1)[1]]
        assert block["bucket"] == body["bucket"]


def test_data_cannot_be_destroyed_by_a_plan(synthesized: Synth) -> None:
    storage, catalog = synthesized.docs[STORAGE], synthesized.docs[CATALOG]
    kept = [
        *resources(storage, "aws_s3_bucket").values(),
        *resources(storage, "aws_kms_key").values(),
        *resources(catalog, "databricks_catalog").values(),
    ]
    assert len(kept) == 8
    assert all(r["lifecycle"]["prevent_destroy"] is True for r in kept)


def test_probe_delete_markers_expire(synthesized: Synth) -> None:
    lcs = resources(synthesized.docs[STORAGE], "aws_s3_bucket_lifecycle_configuration")
    for name, lc in lcs.items():
        rules = {r["id"]: r for r in lc["rule"]}
        if "checkpoints" in name or "access_logs" in name:
            assert "expire-probe-delete-markers" not in rules
            continue
        rule = rules["expire-probe-delete-markers"]
        assert rule["filter"] == [{"prefix": "_sensorlake/probe/"}]
        assert rule["expiration"] == [{"expired_object_delete_marker": True}]
        assert rule["noncurrent_version_expiration"] == [{"noncurrent_days": 1}]


def test_region_of_the_workspace_is_checked(synthesized: Synth) -> None:
    doc = synthesized.docs[CATALOG]
    assert "metastore" in data_sources(doc, "databricks_current_metastore")
    cred = resources(doc, "databricks_storage_credential")["storage_credential"]
    pre, _membership = cred["lifecycle"]["precondition"]  # the second: test_catalog.py
    assert pre["condition"] == (
        '${(data.databricks_current_metastore.metastore.metastore_info[0].region == "us-east-1")}'
    )


def test_external_id_is_an_output(synthesized: Synth) -> None:
    out = synthesized.docs[CATALOG]["output"]["storage_credential_external_id"]
    assert out["value"] == (
        "${databricks_storage_credential.storage_credential.aws_iam_role[0].external_id}"
    )
