"""Storage stack: every bucket encrypted, versioned, private, TLS-only, logged, with lifecycle.

``bucket_problems`` is the property check; the mutation tests prove it fails on a bucket
without encryption or versioning.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.infra.conftest import Synth, data_sources, resources

pytestmark = pytest.mark.synth

STORAGE = "sensorlake-storage"


def _for_bucket(doc: dict[str, Any], rtype: str, bucket_addr: str) -> list[dict[str, Any]]:
    ref = f"${{{bucket_addr}.id}}"
    return [r for r in resources(doc, rtype).values() if r.get("bucket") == ref]


def bucket_problems(doc: dict[str, Any], log_bucket: str) -> list[str]:
    """Every missing security property of every bucket in a storage stack document."""
    problems = []
    for name, bucket in resources(doc, "aws_s3_bucket").items():
        addr, label = f"aws_s3_bucket.{name}", bucket["bucket"]
        is_log = label == log_bucket
        enc = _for_bucket(doc, "aws_s3_bucket_server_side_encryption_configuration", addr)
        rules = [r for e in enc for r in e["rule"]]
        algos = {r["apply_server_side_encryption_by_default"]["sse_algorithm"] for r in rules}
        if not rules or (
            not is_log
            and (algos != {"aws:kms"} or not all(r.get("bucket_key_enabled") for r in rules))
        ):
            problems.append(f"{label}: no SSE-KMS with bucket key")
        ver = _for_bucket(doc, "aws_s3_bucket_versioning", addr)
        if [v["versioning_configuration"]["status"] for v in ver] != ["Enabled"]:
            problems.append(f"{label}: versioning not enabled")
        pab = _for_bucket(doc, "aws_s3_bucket_public_access_block", addr)
        flags = (
            "block_public_acls",
            "block_public_policy",
            "ignore_public_acls",
            "restrict_public_buckets",
        )
        if len(pab) != 1 or not all(pab[0].get(f) is True for f in flags):
            problems.append(f"{label}: public access not fully blocked")
        own = _for_bucket(doc, "aws_s3_bucket_ownership_controls", addr)
        if [o["rule"]["object_ownership"] for o in own] != ["BucketOwnerEnforced"]:
            problems.append(f"{label}: ACLs not disabled")
        if len(_for_bucket(doc, "aws_s3_bucket_policy", addr)) != 1:
            problems.append(f"{label}: no bucket policy")
        lc = _for_bucket(doc, "aws_s3_bucket_lifecycle_configuration", addr)
        if not any(r.get("abort_incomplete_multipart_upload") for x in lc for r in x["rule"]):
            problems.append(f"{label}: no abort-incomplete-multipart rule")
        if not is_log and len(_for_bucket(doc, "aws_s3_bucket_logging", addr)) != 1:
            problems.append(f"{label}: no access logging")
    return problems


def test_six_buckets_with_the_configured_names(synthesized: Synth) -> None:
    doc = synthesized.docs[STORAGE]
    names = sorted(b["bucket"] for b in resources(doc, "aws_s3_bucket").values())
    s = synthesized.settings
    expected = sorted(
        [s.bucket(r) for r in ("raw", "schematized", "filtered", "emergency", "checkpoints")]
        + [s.log_bucket]
    )
    assert names == expected


def test_every_bucket_has_every_security_property(synthesized: Synth) -> None:
    assert bucket_problems(synthesized.docs[STORAGE], synthesized.settings.log_bucket) == []


def test_check_fails_on_a_bucket_without_encryption(synthesized: Synth) -> None:
    doc = copy.deepcopy(synthesized.docs[STORAGE])
    encs = doc["resource"]["aws_s3_bucket_server_side_encryption_configuration"]
    del encs[next(k for k in encs if "raw" in k)]
    assert bucket_problems(doc, synthesized.settings.log_bucket) == [
        f"{synthesized.settings.bucket('raw')}: no SSE-KMS with bucket key"
    ]


def test_check_fails_on_a_bucket_without_versioning(synthesized: Synth) -> None:
    doc = copy.deepcopy(synthesized.docs[STORAGE])
    ver = doc["resource"]["aws_s3_bucket_versioning"]
    ver[next(k for k in ver if "emergency" in k)]["versioning_configuration"]["status"] = (
        "Suspended"
    )
    assert bucket_problems(doc, synthesized.settings.log_bucket) == [
        f"{synthesized.settings.bucket('emergency')}: versioning not enabled"
    ]


def test_kms_key_rotation_and_alias(synthesized: Synth) -> None:
    from cdktf import Testing
    from cdktf_cdktf_provider_aws.kms_alias import KmsAlias
    from cdktf_cdktf_provider_aws.kms_key import KmsKey

    js = synthesized.storage_json
    assert Testing.to_have_resource_with_properties(
        js, KmsKey.TF_RESOURCE_TYPE, {"enable_key_rotation": True}
    )
    assert Testing.to_have_resource_with_properties(
        js, KmsAlias.TF_RESOURCE_TYPE, {"name": "alias/sensorlake-landing"}
    )
    assert not Testing.to_have_resource_with_properties(
        js, KmsKey.TF_RESOURCE_TYPE, {"enable_key_rotation": False}
    )


def test_sse_kms_with_bucket_key_via_cdktf_matcher(synthesized: Synth) -> None:
    from cdktf import Testing
    from cdktf_cdktf_provider_aws.s3_bucket_server_side_encryption_configuration import (
        S3BucketServerSideEncryptionConfigurationA as Enc,
    )

    assert Testing.to_have_resource_with_properties(
        synthesized.storage_json,
        Enc.TF_RESOURCE_TYPE,
        {
            "rule": [
                {
                    "bucket_key_enabled": True,
                    "apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms"},
                }
            ]
        },
    )


def test_bucket_policies_deny_non_tls(synthesized: Synth) -> None:
    docs = data_sources(synthesized.docs[STORAGE], "aws_iam_policy_document")
    bucket_docs = {
        k: v for k, v in docs.items() if k.startswith("storage_") and "key_policy" not in k
    }
    assert len(bucket_docs) == 6
    for name, policy in bucket_docs.items():
        deny = [s for s in policy["statement"] if s["sid"] == "DenyInsecureTransport"]
        assert len(deny) == 1, name
        assert deny[0]["actions"] == ["s3:*"]
        assert deny[0]["condition"] == [
            {"test": "Bool", "variable": "aws:SecureTransport", "values": ["false"]}
        ]


def test_lifecycle_tiers_landed_files_and_never_expires_checkpoints(synthesized: Synth) -> None:
    lcs = resources(synthesized.docs[STORAGE], "aws_s3_bucket_lifecycle_configuration")
    raw = next(v for k, v in lcs.items() if "raw" in k)
    landed = next(r for r in raw["rule"] if r["id"] == "landed-raw")
    assert landed["filter"] == [{"prefix": "raw/"}]
    assert landed["transition"] == [{"days": 30, "storage_class": "INTELLIGENT_TIERING"}]
    probe = next(r for r in raw["rule"] if r["id"] == "expire-validate-probes")
    assert probe["expiration"] == [{"days": 1}]
    ckpt = next(v for k, v in lcs.items() if "checkpoints" in k)
    assert all(not r.get("expiration") and not r.get("transition") for r in ckpt["rule"])
