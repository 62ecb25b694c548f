"""IAM: a write-only gateway, a least-privilege UC role, no wildcard principals."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from tests.infra.conftest import Synth, data_sources, resources

pytestmark = pytest.mark.synth

STORAGE, CATALOG = "sensorlake-storage", "sensorlake-catalog"
PROBE = "/_sensorlake/probe/*"


def allow_statements(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (name, st)
        for name, pd in data_sources(doc, "aws_iam_policy_document").items()
        for st in pd["statement"]
        if st.get("effect", "Allow") == "Allow"
    ]


def wildcard_allows(docs: dict[str, dict[str, Any]]) -> list[str]:
    """Allow statements with a '*' principal, '*' action, or 's3:*'-style action wildcard.

    One exemption, by name: the KMS key policy's kms:* for the account root (AWS's default
    key-policy statement that delegates to IAM; see infra/checkov-skips.yaml).
    """
    bad = []
    for doc in docs.values():
        for name, st in allow_statements(doc):
            ids = [i for p in st.get("principals", []) for i in p["identifiers"]]
            if "*" in ids:
                bad.append(f"{name}/{st.get('sid')}: '*' principal")
            key_admin = st.get("sid") == "AccountAdministersKeyThroughIam" and all(
                i.endswith(":root") for i in ids
            )
            if not key_admin and any(a == "*" or a.endswith(":*") for a in st.get("actions", [])):
                bad.append(f"{name}/{st.get('sid')}: wildcard action")
    return bad


def gateway_grants(doc: dict[str, Any]) -> dict[str, set[str]]:
    """action -> resources of the gateway writer policy."""
    pd = next(
        v
        for k, v in data_sources(doc, "aws_iam_policy_document").items()
        if k.startswith("gateway_policy")
    )
    out: dict[str, set[str]] = {}
    for st in pd["statement"]:
        if st["effect"] == "Deny":
            continue
        for action in st["actions"]:
            out.setdefault(action, set()).update(st["resources"])
    return out


def gateway_can_destroy_or_read(doc: dict[str, Any]) -> list[str]:
    bad = []
    for action, res in gateway_grants(doc).items():
        outside_probe = sorted(r for r in res if not r.endswith(PROBE))
        if (
            action.startswith(
                ("s3:Delete", "s3:GetObject", "s3:List", "s3:PutBucket", "s3:PutLifecycle")
            )
            and outside_probe
        ):
            bad.append(f"{action} on {outside_probe}")
        if "*" in action or any(r == "*" for r in res):
            bad.append(f"wildcard: {action} {sorted(res)}")
    return bad


def test_no_wildcard_principal_or_action_in_any_allow(synthesized: Synth) -> None:
    assert wildcard_allows(synthesized.docs) == []


def test_wildcard_check_fails_on_a_wildcard_principal(synthesized: Synth) -> None:
    docs = copy.deepcopy(synthesized.docs)
    trust = next(
        v
        for k, v in docs[STORAGE]["data"]["aws_iam_policy_document"].items()
        if k.startswith("gateway_trust")
    )
    trust["statement"][0]["principals"][0]["identifiers"] = ["*"]
    assert [b.split("/")[1] for b in wildcard_allows(docs)] == ["GatewaysAssumeRole: '*' principal"]


def test_gateway_may_only_put_under_its_prefixes(synthesized: Synth) -> None:
    grants = gateway_grants(synthesized.docs[STORAGE])
    s = synthesized.settings
    landing = {
        f"arn:aws:s3:::{s.bucket('raw')}/raw/*",
        f"arn:aws:s3:::{s.bucket('schematized')}/schematized/*",
        f"arn:aws:s3:::{s.bucket('schematized')}/rejected/*",
        f"arn:aws:s3:::{s.bucket('filtered')}/filtered/*",
        f"arn:aws:s3:::{s.bucket('emergency')}/emergency/*",
    }
    probes = {
        f"arn:aws:s3:::{s.bucket(r)}{PROBE}"
        for r in ("raw", "schematized", "filtered", "emergency")
    }
    assert grants["s3:PutObject"] == landing | probes
    assert grants["s3:GetObject"] == probes
    assert grants["s3:DeleteObject"] == probes
    buckets = {
        f"arn:aws:s3:::{s.bucket(r)}" for r in ("raw", "schematized", "filtered", "emergency")
    }
    for action in (
        "s3:GetBucketLocation",
        "s3:GetBucketVersioning",
        "s3:GetEncryptionConfiguration",
    ):
        assert grants[action] == buckets
    assert set(grants) == {
        "s3:PutObject", "s3:GetObject", "s3:DeleteObject", "s3:GetBucketLocation",
        "s3:GetBucketVersioning", "s3:GetEncryptionConfiguration",
        "kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey",
    }  # fmt: skip
    assert not any("checkpoints" in r for res in grants.values() for r in res)
    assert gateway_can_destroy_or_read(synthesized.docs[STORAGE]) == []


def test_gateway_check_fails_when_the_gateway_can_delete(synthesized: Synth) -> None:
    doc = copy.deepcopy(synthesized.docs[STORAGE])
    pd = next(
        v
        for k, v in doc["data"]["aws_iam_policy_document"].items()
        if k.startswith("gateway_policy")
    )
    pd["statement"][0]["actions"].append("s3:DeleteObject")
    assert any(b.startswith("s3:DeleteObject on") for b in gateway_can_destroy_or_read(doc))


def test_gateway_kms_only_through_s3(synthesized: Synth) -> None:
    pd = next(
        v
        for k, v in data_sources(synthesized.docs[STORAGE], "aws_iam_policy_document").items()
        if k.startswith("gateway_policy")
    )
    kms = next(st for st in pd["statement"] if st["sid"] == "EncryptThroughS3")
    assert kms["condition"] == [
        {
            "test": "StringEquals",
            "variable": "kms:ViaService",
            "values": ["s3.us-east-1.amazonaws.com"],
        }
    ]


def test_uc_role_trust_uses_credential_external_id_and_self_assume(synthesized: Synth) -> None:
    doc = synthesized.docs[CATALOG]
    trust = next(
        v
        for k, v in data_sources(doc, "aws_iam_policy_document").items()
        if k.startswith("uc_role_trust")
    )
    ext = "${databricks_storage_credential.storage_credential.aws_iam_role[0].external_id}"
    by_sid = {st["sid"]: st for st in trust["statement"]}
    master = by_sid["UnityCatalogMasterRole"]
    # the UC master role the credential reports (differs in GovCloud), not a constant
    assert master["principals"][0]["identifiers"] == [
        "${databricks_storage_credential.storage_credential.aws_iam_role[0].unity_catalog_iam_arn}"
    ]
    assert {"test": "StringEquals", "variable": "sts:ExternalId", "values": [ext]} in master[
        "condition"
    ]
    self_ = by_sid["SelfAssume"]
    arn = "arn:aws:iam::${data.aws_caller_identity.caller.account_id}:role/sensorlake-unity-catalog"
    assert {"test": "ArnEquals", "variable": "aws:PrincipalArn", "values": [arn]} in self_[
        "condition"
    ]
    # No cycle: the credential names the role by a plain string, not a reference to it.
    cred = resources(doc, "databricks_storage_credential")["storage_credential"]
    assert cred["aws_iam_role"]["role_arn"] == arn


def test_uc_role_is_scoped_to_exactly_our_buckets_and_key(synthesized: Synth) -> None:
    doc = synthesized.docs[CATALOG]
    pd = next(
        v
        for k, v in data_sources(doc, "aws_iam_policy_document").items()
        if k.startswith("uc_role_policy")
    )
    s = synthesized.settings
    ours = {
        f"arn:aws:s3:::{s.bucket(r)}"
        for r in ("raw", "schematized", "filtered", "emergency", "checkpoints")
    }
    by_sid = {st["sid"]: st for st in pd["statement"]}
    for st in pd["statement"]:
        for r in st["resources"]:
            if r.startswith("arn:aws:s3"):
                assert r.split("/")[0] in ours, r
    # landing buckets are read-only for UC; only checkpoints are writable
    assert all(
        r.endswith("/*") and "checkpoints" not in r for r in by_sid["ReadLandedFiles"]["resources"]
    )
    assert by_sid["ReadWriteCheckpoints"]["resources"] == [
        f"arn:aws:s3:::{s.bucket('checkpoints')}/*"
    ]
    assert by_sid["UseLandingKeyThroughS3"]["resources"] == [
        "${data.aws_kms_alias.landing_key.target_key_arn}"
    ]
    star = [st for st in pd["statement"] if "*" in st["resources"]]
    assert [st["sid"] for st in star] == ["ManagedFileEventsList"]
    assert set(star[0]["actions"]) == {"sns:ListTopics", "sqs:ListQueues"}


def test_wait_before_external_locations(synthesized: Synth) -> None:
    doc = synthesized.docs[CATALOG]
    sleep = resources(doc, "time_sleep")["wait_for_iam"]
    assert sleep["create_duration"] == "60s"
    assert any(d.startswith("aws_iam_role_policy_attachment.") for d in sleep["depends_on"])
    for loc in resources(doc, "databricks_external_location").values():
        assert loc["depends_on"] == ["time_sleep.wait_for_iam"]


def _gateway_trust(settings: object) -> list[dict]:
    from cdktf import App, Testing

    from sensorlake.infra.main import StorageStack

    doc = json.loads(Testing.synth(StorageStack(App(stack_traces=False), settings)))
    return next(
        v
        for k, v in data_sources(doc, "aws_iam_policy_document").items()
        if k.startswith("gateway_trust")
    )["statement"]


def test_gateway_trust_is_explicit_principals_by_default(synthesized: Synth) -> None:
    (statement,) = next(
        v
        for k, v in data_sources(synthesized.docs[STORAGE], "aws_iam_policy_document").items()
        if k.startswith("gateway_trust")
    )["statement"]
    ids = statement["principals"][0]["identifiers"]
    assert ids == list(synthesized.settings.gateway.trusted_principal_arns)
    assert not any(i.endswith(":root") for i in ids)  # old default: the account root


def test_gateway_trust_via_roles_anywhere_with_subject_cns_or_account_root_opt_in(
    synthesized: Synth,
) -> None:
    """With a trust anchor, gateways assume the role with X.509 certificates whose CN matches;
    the account root only when opted in."""
    anchor = "arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/abc-123"
    gateway = synthesized.settings.gateway.model_copy(
        update={
            "trusted_principal_arns": (),
            "roles_anywhere_trust_anchor_arn": anchor,
            "roles_anywhere_subject_cns": ("gateway-*",),
        }
    )
    settings = synthesized.settings.model_copy(update={"gateway": gateway})
    assert _gateway_trust(settings) == [
        {
            "sid": "GatewaysViaRolesAnywhere",
            "effect": "Allow",
            "principals": [{"type": "Service", "identifiers": ["rolesanywhere.amazonaws.com"]}],
            "actions": ["sts:AssumeRole", "sts:SetSourceIdentity", "sts:TagSession"],
            "condition": [
                {"test": "ArnEquals", "variable": "aws:SourceArn", "values": [anchor]},
                {
                    "test": "StringLike",
                    "variable": "aws:PrincipalTag/x509Subject/CN",
                    "values": ["gateway-*"],
                },
            ],
        }
    ]
    opt_in = settings.model_copy(
        update={"gateway": gateway.model_copy(update={"trust_account_root": True})}
    )
    root = [st for st in _gateway_trust(opt_in) if st["sid"] == "AccountPrincipalsAssumeRole"]
    assert root[0]["principals"][0]["identifiers"] == [
        "arn:aws:iam::${data.aws_caller_identity.storage_caller_C63AEC81.account_id}:root"
    ]
