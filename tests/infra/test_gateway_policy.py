"""The gateway's create-only promise, enforced by the policies and not only by the client.

moto does not enforce IAM, so: landing's real S3 calls (``S3Sink.put_if_absent`` and
``sensorlake validate``'s checks) run against moto with their requests recorded, and each
recorded request is evaluated against the synthesized gateway policy and bucket policy
(tests/infra/iam_eval.py). What landing sends must be allowed; an overwrite, a conditional
overwrite, or a put asking for another encryption must be denied.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.infra.conftest import Synth, data_sources, resources
from tests.infra.iam_eval import Request, allowed, statements

pytestmark = pytest.mark.synth

STORAGE = "sensorlake-storage"
KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
OTHER_KEY = "arn:aws:kms:us-east-1:123456789012:key/99999999-2222-3333-4444-555555555555"

# S3 operation -> the IAM action that authorizes it.
ACTIONS = {
    "PutObject": "s3:PutObject",
    "GetObject": "s3:GetObject",
    "HeadObject": "s3:GetObject",
    "DeleteObject": "s3:DeleteObject",
    "HeadBucket": "s3:ListBucket",
    "GetBucketLocation": "s3:GetBucketLocation",
    "GetBucketVersioning": "s3:GetBucketVersioning",
    "GetBucketEncryption": "s3:GetEncryptionConfiguration",
}
# Request headers -> the condition keys S3 derives from them.
HEADER_KEYS = {
    "if-none-match": "s3:if-none-match",
    "if-match": "s3:if-match",
    "x-amz-server-side-encryption": "s3:x-amz-server-side-encryption",
    "x-amz-server-side-encryption-aws-kms-key-id": "s3:x-amz-server-side-encryption-aws-kms-key-id",
}


def _resolved(doc: dict[str, Any]) -> dict[str, Any]:
    """Replace the Terraform references our policies use by the values they will have."""
    bucket_names = {k: v["bucket"] for k, v in resources(doc, "aws_s3_bucket").items()}
    text = json.dumps(doc)
    text = re.sub(
        r"\$\{aws_s3_bucket\.([A-Za-z0-9_]+)\.arn\}",
        lambda m: f"arn:aws:s3:::{bucket_names[m.group(1)]}",
        text,
    )
    text = re.sub(r"\$\{aws_kms_key\.[A-Za-z0-9_]+\.arn\}", KEY_ARN, text)
    text = re.sub(
        r"\$\{data\.aws_caller_identity\.[A-Za-z0-9_]+\.account_id\}", "123456789012", text
    )
    return json.loads(text)


def _policy(doc: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    (pd,) = [
        v for k, v in data_sources(doc, "aws_iam_policy_document").items() if k.startswith(prefix)
    ]
    return statements(pd)


class Policies:
    """The gateway's identity policy and each bucket's policy, references resolved."""

    def __init__(self, doc: dict[str, Any], settings: Any) -> None:
        doc = _resolved(doc)
        self.gateway = _policy(doc, "gateway_policy_document")
        self.bucket = {
            settings.bucket(r): _policy(doc, f"storage_{r}_policy_document")
            for r in ("raw", "schematized", "filtered", "emergency", "checkpoints")
        }

    def allows(self, op: str, bucket: str, key: str | None, headers: dict[str, str]) -> bool:
        context = {HEADER_KEYS[h]: v for h, v in headers.items() if h in HEADER_KEYS}
        context["aws:SecureTransport"] = "true"
        resource = f"arn:aws:s3:::{bucket}" + (f"/{key}" if key is not None else "")
        request = Request(ACTIONS[op], resource, context)
        return allowed(self.gateway, request, self.bucket.get(bucket, []))


@pytest.fixture(scope="module")
def policies(synthesized: Synth) -> Policies:
    return Policies(synthesized.docs[STORAGE], synthesized.settings)


@pytest.fixture
def recorded(synthesized: Synth, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A moto S3 client with the stack's buckets that records (operation, bucket, key, headers)."""
    from moto import mock_aws

    from sensorlake.landing.s3 import make_client

    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(k, v)
    with mock_aws():
        client = make_client("s3", "us-east-1", None)
        for role in ("raw", "schematized", "filtered", "emergency"):
            client.create_bucket(Bucket=synthesized.settings.bucket(role))
        calls: list[dict[str, Any]] = []

        def params(params: dict[str, Any], model: Any, **_: Any) -> None:
            calls.append(
                {"op": model.name, "bucket": params.get("Bucket"), "key": params.get("Key")}
            )

        def send(request: Any, **_: Any) -> None:
            calls[-1]["headers"] = {
                k.lower(): v.decode() if isinstance(v, bytes) else v
                for k, v in request.headers.items()
            }

        client.meta.events.register("provide-client-params.s3.*", params)
        client.meta.events.register("before-send.s3.*", send)
        client.calls = calls
        yield client


def _landing_put(client: Any, bucket: str, tmp_path: Path) -> str:
    """Landing's real create-only put of one file; returns the key it wrote."""
    from sensorlake.contract.keys import LandingKey
    from sensorlake.landing.files import LandedFile
    from sensorlake.landing.s3 import S3Sink
    from sensorlake.landing.sink import PutOutcome

    data = b'{"sensor": 1}\n'
    path = tmp_path / "part.ndjson"
    path.write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    key = LandingKey("raw", "2026-03-01", "gw-1", 1, 1, 10)
    file = LandedFile(key, bucket, path, len(data), sha, sha, 1, "v1")
    assert S3Sink(client).put_if_absent(file) is PutOutcome.CREATED
    return file.name


def test_what_landing_sends_is_allowed_and_create_only(
    recorded: Any, policies: Policies, synthesized: Synth, tmp_path: Path
) -> None:
    bucket = synthesized.settings.bucket("raw")
    key = _landing_put(recorded, bucket, tmp_path)
    assert key.startswith("raw/")
    (put,) = [c for c in recorded.calls if c["op"] == "PutObject"]
    assert put["headers"]["if-none-match"] == "*"
    assert "x-amz-server-side-encryption" not in put["headers"]  # bucket default: the key
    assert policies.allows("PutObject", bucket, put["key"], put["headers"])


def test_what_validate_sends_is_allowed(
    recorded: Any, policies: Policies, synthesized: Synth, tmp_path: Path
) -> None:
    from sensorlake.landing.bucket_checks import run_checks
    from sensorlake.landing.config import load_config

    s = synthesized.settings
    env = {
        f"S3_BUCKET_{r.upper()}": s.bucket(r)
        for r in ("raw", "schematized", "filtered", "emergency")
    }
    config = load_config(
        env={**env, "AWS_REGION": "us-east-1"},
        db_path=tmp_path / "db",
        state_dir=tmp_path / "state",
        gateway_id="gw-probe",
    )
    report = run_checks(config, client=recorded)
    assert report["ok"] is True
    ops = {c["op"] for c in recorded.calls}
    assert {"PutObject", "GetObject", "DeleteObject"} <= ops
    for call in recorded.calls:
        verdict = policies.allows(call["op"], call["bucket"], call["key"], call["headers"])
        # HeadBucket needs s3:ListBucket, which gateways do not get; validate reads the
        # region from the 403's headers instead (landing/checks.py).
        assert verdict is (call["op"] != "HeadBucket"), call


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ({}, "plain PUT overwrites"),
        ({"if-match": '"abc"'}, "conditional overwrite"),
        ({"if-none-match": "*", "if-match": '"abc"'}, "both"),
        ({"if-none-match": "*", "x-amz-server-side-encryption": "AES256"}, "SSE-S3"),
        (
            {
                "if-none-match": "*",
                "x-amz-server-side-encryption": "aws:kms",
                "x-amz-server-side-encryption-aws-kms-key-id": OTHER_KEY,
            },
            "another KMS key",
        ),
    ],
)
def test_overwrites_and_other_encryption_are_denied(
    policies: Policies, synthesized: Synth, headers: dict[str, str], why: str
) -> None:
    bucket = synthesized.settings.bucket("schematized")
    assert not policies.allows("PutObject", bucket, "rejected/x.ndjson", headers), why
    # asking for our own key explicitly is fine
    ours = {
        "if-none-match": "*",
        "x-amz-server-side-encryption": "aws:kms",
        "x-amz-server-side-encryption-aws-kms-key-id": KEY_ARN,
    }
    assert policies.allows("PutObject", bucket, "rejected/x.ndjson", ours)


def test_without_the_deny_statements_an_overwrite_would_be_allowed(synthesized: Synth) -> None:
    """The check fails on the old output: a gateway policy with no create-only Deny."""
    doc = copy.deepcopy(synthesized.docs[STORAGE])
    (pd,) = [
        v
        for k, v in doc["data"]["aws_iam_policy_document"].items()
        if k.startswith("gateway_policy")
    ]
    pd["statement"] = [st for st in pd["statement"] if st["effect"] == "Allow"]
    old = Policies(doc, synthesized.settings)
    assert old.allows("PutObject", synthesized.settings.bucket("raw"), "raw/x", {})


def test_bucket_policies_deny_other_encryption_for_everyone(synthesized: Synth) -> None:
    doc = _resolved(synthesized.docs[STORAGE])
    for role in ("raw", "schematized", "filtered", "emergency", "checkpoints"):
        by_sid = {st["sid"]: st for st in _policy(doc, f"storage_{role}_policy_document")}
        algo, key = by_sid["DenyOtherEncryption"], by_sid["DenyOtherKmsKey"]
        assert algo["principals"] == [{"type": "AWS", "identifiers": ["*"]}]
        assert algo["condition"] == [
            {"test": "Null", "variable": "s3:x-amz-server-side-encryption", "values": ["false"]},
            {
                "test": "StringNotEquals",
                "variable": "s3:x-amz-server-side-encryption",
                "values": ["aws:kms"],
            },
        ]
        assert key["condition"][1]["values"] == [KEY_ARN]


def test_string_not_equals_if_exists_alone_would_deny_landing() -> None:
    """Why the encryption Deny is Null=false + StringNotEquals: in a Deny, ...IfExists is
    true when the header is absent, so it would deny landing's header-less puts."""
    deny = {
        "effect": "Deny",
        "actions": ["s3:PutObject"],
        "resources": ["arn:aws:s3:::b/*"],
        "condition": [
            {
                "test": "StringNotEqualsIfExists",
                "variable": "s3:x-amz-server-side-encryption",
                "values": ["aws:kms"],
            }
        ],
    }
    allow = {"effect": "Allow", "actions": ["s3:PutObject"], "resources": ["arn:aws:s3:::b/*"]}
    landing = Request("s3:PutObject", "arn:aws:s3:::b/raw/x", {"s3:if-none-match": "*"})
    assert not allowed([allow], landing, [deny])
