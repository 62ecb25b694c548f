"""The storage stack applied for real: Terraform + the AWS provider against a moto server.

Where ``terraform`` and the offline provider mirror exist, the synthesized JSON (a copy
retargeted at moto, see terraform_moto.py) must apply on the first try, a second plan must
show no changes, and boto3 must read back the settings the stack promises. Elsewhere the
test skips with the reason. The Databricks stack cannot be validated here (its provider is
not in the mirror and there is no network): its synth tests cover it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.infra.conftest import Synth
from tests.infra.terraform_moto import (
    MIRROR,
    TerraformRun,
    mirror_aws_version,
    missing_tools,
    retarget_at_moto,
)

pytestmark = [
    pytest.mark.synth,
    pytest.mark.skipif(missing_tools() is not None, reason=f"{missing_tools()}"),
]

ROLES = ("raw", "schematized", "filtered", "emergency", "checkpoints")


@pytest.fixture(scope="module")
def applied(
    synthesized: Synth, moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """init, first apply, then plan -detailed-exitcode; returns their exit codes and output."""
    doc = retarget_at_moto(
        synthesized.docs["sensorlake-storage"], moto_endpoint, mirror_aws_version() or ""
    )
    tf = TerraformRun(tmp_path_factory.mktemp("tf-storage"), moto_endpoint)
    tf.write(doc)
    init = tf.run("init", "-input=false")
    assert init.returncode == 0, init.stdout + init.stderr
    apply = tf.run("apply", "-auto-approve", "-input=false")
    plan = tf.run("plan", "-detailed-exitcode", "-input=false")
    outputs = tf.run("output", "-json")
    return {"apply": apply, "plan": plan, "outputs": json.loads(outputs.stdout or "{}")}


@pytest.fixture(scope="module")
def aws(moto_endpoint: str) -> Any:
    import boto3

    def client(service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=moto_endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    return client


def test_retargeting_changes_only_provider_endpoints_and_state(synthesized: Synth) -> None:
    before = synthesized.docs["sensorlake-storage"]
    after = retarget_at_moto(before, "http://127.0.0.1:1", "5.100.0")
    assert after["resource"] == before["resource"] and after["data"] == before["data"]
    assert after["terraform"]["backend"] == {"local": {"path": "terraform.tfstate"}}
    assert after["terraform"]["required_providers"]["aws"]["version"] == "5.100.0"
    assert "endpoints" not in before["provider"]["aws"][0]  # the original is untouched
    assert MIRROR.is_dir()


def test_first_apply_succeeds(applied: dict[str, Any]) -> None:
    apply = applied["apply"]
    assert apply.returncode == 0, apply.stdout[-4000:] + apply.stderr[-4000:]
    assert "Apply complete!" in apply.stdout


def test_second_plan_shows_no_changes(applied: dict[str, Any]) -> None:
    plan = applied["plan"]
    # -detailed-exitcode: 0 = no changes, 2 = changes pending, 1 = error
    assert plan.returncode == 0, plan.stdout[-4000:] + plan.stderr[-4000:]


def test_buckets_read_back_with_the_promised_settings(
    applied: dict[str, Any], aws: Any, synthesized: Synth
) -> None:
    assert applied["apply"].returncode == 0
    s3, settings = aws("s3"), synthesized.settings
    key_arn = applied["outputs"]["kms_key_arn"]["value"]
    for role in ROLES:
        name = settings.bucket(role)
        assert s3.get_bucket_versioning(Bucket=name)["Status"] == "Enabled"
        (rule,) = s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"][
            "Rules"
        ]
        assert rule["ApplyServerSideEncryptionByDefault"] == {
            "SSEAlgorithm": "aws:kms",
            "KMSMasterKeyID": key_arn,
        }
        assert rule["BucketKeyEnabled"] is True
        pab = s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"]
        assert all(pab.values()) and len(pab) == 4
        ownership = s3.get_bucket_ownership_controls(Bucket=name)["OwnershipControls"]
        assert ownership["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
        logging = s3.get_bucket_logging(Bucket=name)["LoggingEnabled"]
        assert logging["TargetBucket"] == settings.log_bucket
        policy = json.loads(s3.get_bucket_policy(Bucket=name)["Policy"])
        sids = {st["Sid"] for st in policy["Statement"]}
        assert {"DenyInsecureTransport", "DenyOtherEncryption", "DenyOtherKmsKey"} <= sids
        rules = {r["ID"] for r in s3.get_bucket_lifecycle_configuration(Bucket=name)["Rules"]}
        assert "abort-incomplete-multipart-uploads" in rules
        if role != "checkpoints":
            assert "expire-probe-delete-markers" in rules
    log_rule = s3.get_bucket_encryption(Bucket=settings.log_bucket)[
        "ServerSideEncryptionConfiguration"
    ]["Rules"][0]
    assert log_rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"


def test_key_and_gateway_role_read_back(
    applied: dict[str, Any], aws: Any, synthesized: Synth
) -> None:
    assert applied["apply"].returncode == 0
    kms, iam = aws("kms"), aws("iam")
    key_arn = applied["outputs"]["kms_key_arn"]["value"]
    assert kms.get_key_rotation_status(KeyId=key_arn)["KeyRotationEnabled"] is True
    aliases = {a["AliasName"]: a.get("TargetKeyId") for a in kms.list_aliases()["Aliases"]}
    assert aliases["alias/sensorlake-landing"] == key_arn.rsplit("/", 1)[1]
    gw = synthesized.settings.gateway
    role = iam.get_role(RoleName=gw.role_name)["Role"]
    assert role["Arn"] == applied["outputs"]["gateway_role_arn"]["value"]
    assert role["MaxSessionDuration"] == gw.max_session_seconds
    trust = role["AssumeRolePolicyDocument"]
    trust = json.loads(trust) if isinstance(trust, str) else trust
    principals = []
    for st in trust["Statement"]:
        aws_principal = st["Principal"].get("AWS", [])
        principals += [aws_principal] if isinstance(aws_principal, str) else aws_principal
    assert principals == list(gw.trusted_principal_arns)
    assert not any(p.endswith(":root") for p in principals)
    (attached,) = iam.list_attached_role_policies(RoleName=gw.role_name)["AttachedPolicies"]
    version = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]["DefaultVersionId"]
    doc = iam.get_policy_version(PolicyArn=attached["PolicyArn"], VersionId=version)[
        "PolicyVersion"
    ]["Document"]
    doc = json.loads(doc) if isinstance(doc, str) else doc
    denies = {st["Sid"]: st for st in doc["Statement"] if st["Effect"] == "Deny"}
    assert denies["DenyPutWithoutIfNoneMatch"]["Condition"] == {
        "Null": {"s3:if-none-match": "true"}
    }


def test_terraform_mirror_path_is_what_the_cli_config_uses(tmp_path: Path) -> None:
    tf = TerraformRun(tmp_path / "w", "http://127.0.0.1:1")
    rc = (tmp_path / "w" / "terraform.rc").read_text()
    assert f'path = "{MIRROR}"' in rc and tf.env["TF_CLI_CONFIG_FILE"].endswith("terraform.rc")
