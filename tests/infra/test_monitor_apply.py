"""The monitor's event feed applied for real: Terraform + the AWS provider against moto.

Where ``terraform`` and the offline provider mirror exist (never required: the test skips
with the reason elsewhere), on a moto server of its own (the storage stack's fixed names,
KMS alias and roles would collide with test_apply_moto's):

1. the storage stack without events, then a stand-in for Databricks' managed file events
   puts a csms-* queue configuration on the raw bucket;
2. the stack with ``monitor.events`` and ``import_notifications``: the first apply imports
   each bucket's notification configuration, adds the EventBridge flag and keeps the csms-*
   queue configuration; a second plan shows no real change (moto 5.2 does not return the
   EventBridge flag on GET, so the flags' read-back differs: checked to be the only diff);
3. a landed file reaches the queue through the applied rule, target and queue policy.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from sensorlake.contract.keys import LandingKey
from sensorlake.infra.config import EXAMPLE_CONFIG, parse_settings
from tests.infra.conftest import synthesize
from tests.infra.terraform_moto import (
    TerraformRun,
    mirror_aws_version,
    missing_tools,
    retarget_at_moto,
)

pytestmark = [
    pytest.mark.synth,
    pytest.mark.skipif(missing_tools() is not None, reason=f"{missing_tools()}"),
]

STORAGE = "sensorlake-storage"
CSMS = "csms-stand-in-for-databricks"


@pytest.fixture(scope="module")
def moto_server() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def _settings(**monitor: object) -> Any:
    raw = yaml.safe_load(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    raw["state"] = {"backend": "local"}
    raw["monitor"] = {**raw["monitor"], **monitor}
    return parse_settings(raw, {}, "test")


def _client(endpoint: str, service: str) -> Any:
    import boto3

    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _doc(settings: Any, outdir: Path, endpoint: str) -> dict[str, Any]:
    synth = synthesize(settings, outdir)
    return retarget_at_moto(json.loads(synth.storage_json), endpoint, mirror_aws_version() or "")


@pytest.fixture(scope="module")
def rollout(moto_server: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Events off applied, a csms-* queue configuration added, then events on applied."""
    tmp = tmp_path_factory.mktemp("monitor-apply")
    tf = TerraformRun(tmp / "tf", moto_server)
    off = _settings()
    tf.write(_doc(off, tmp / "off", moto_server))
    init = tf.run("init", "-input=false")
    assert init.returncode == 0, init.stdout + init.stderr
    first = tf.run("apply", "-auto-approve", "-input=false")
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-4000:]

    sqs, s3 = _client(moto_server, "sqs"), _client(moto_server, "s3")
    raw = off.bucket("raw")
    csms_url = sqs.create_queue(QueueName=CSMS)["QueueUrl"]
    csms_arn = sqs.get_queue_attributes(QueueUrl=csms_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    s3.put_bucket_notification_configuration(
        Bucket=raw,
        NotificationConfiguration={
            "QueueConfigurations": [
                {"Id": "csms", "QueueArn": csms_arn, "Events": ["s3:ObjectCreated:*"]}
            ]
        },
    )

    on = _settings(events=True, import_notifications=True)
    tf.write(_doc(on, tmp / "on", moto_server))
    apply = tf.run("apply", "-auto-approve", "-input=false")
    plan = tf.run("plan", "-detailed-exitcode", "-input=false")
    outputs = tf.run("output", "-json")
    return {
        "apply": apply,
        "plan": plan,
        "outputs": json.loads(outputs.stdout or "{}"),
        "settings": on,
        "csms_url": csms_url,
    }


def test_events_on_applies_and_a_second_plan_changes_nothing_real(rollout: dict[str, Any]) -> None:
    apply, plan = rollout["apply"], rollout["plan"]
    assert apply.returncode == 0, apply.stdout[-4000:] + apply.stderr[-4000:]
    assert "imported" in apply.stdout
    if plan.returncode == 0:
        return
    # moto 5.2's GetBucketNotificationConfiguration omits EventBridgeConfiguration (real S3
    # returns it), so the provider reads eventbridge = false back; that, on the four
    # flags, must be the only difference (that the flag is set: the event test below).
    assert plan.returncode == 2, plan.stdout[-4000:] + plan.stderr[-4000:]
    changes = {
        line.strip()
        for line in plan.stdout.splitlines()
        if re.match(r"\s*[~+-] ", line) and not re.match(r"\s*~ (resource|update in-place)", line)
    }
    assert changes == {"~ eventbridge = false -> true"}, plan.stdout[-4000:]
    changed = re.findall(r'~ resource "(\w+)" "monitor_(\w+)_eventbridge_', plan.stdout)
    assert sorted(changed) == sorted(
        ("aws_s3_bucket_notification", r) for r in ("raw", "schematized", "filtered", "emergency")
    )
    assert "Plan: 0 to add, 4 to change, 0 to destroy." in plan.stdout


def test_databricks_queue_configuration_is_kept(rollout: dict[str, Any], moto_server: str) -> None:
    """The import + ignore_changes promise. (Whether the flag is set cannot be read back from
    moto 5.2, which omits EventBridgeConfiguration on GET: the event test proves it.)"""
    assert rollout["apply"].returncode == 0
    s3, settings = _client(moto_server, "s3"), rollout["settings"]
    raw = s3.get_bucket_notification_configuration(Bucket=settings.bucket("raw"))
    queues = [q["QueueArn"].rsplit(":", 1)[1] for q in raw.get("QueueConfigurations", [])]
    assert queues == [CSMS]


def test_a_landed_file_reaches_the_applied_queue(rollout: dict[str, Any], moto_server: str) -> None:
    assert rollout["apply"].returncode == 0
    s3, sqs = _client(moto_server, "s3"), _client(moto_server, "sqs")
    url = rollout["outputs"]["monitor_queue_url"]["value"]
    assert rollout["outputs"]["monitor_policy_arn"]["value"].endswith(":policy/sensorlake-monitor")
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["SqsManagedSseEnabled"] == "true"
    assert attrs["MessageRetentionPeriod"] == "345600"
    policy = json.loads(attrs["Policy"])
    (allow,) = [st for st in policy["Statement"] if st["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "events.amazonaws.com"}
    bucket = rollout["settings"].bucket("raw")
    # The bucket policy denies plain HTTP (aws:SecureTransport), and moto serves HTTP only:
    # drop it here, it is checked in test_apply_moto and test_gateway_policy.
    s3.delete_bucket_policy(Bucket=bucket)
    key = LandingKey("raw", "2026-12-04", "gw-7", 1, 1, 5).format()
    s3.put_object(Bucket=bucket, Key="_sensorlake/probe/p1", Body=b"probe")
    s3.put_object(Bucket=bucket, Key=key, Body=b"landed")
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
    bodies = [json.loads(m["Body"]) for m in got.get("Messages", [])]
    assert [b["detail"]["object"]["key"] for b in bodies] == [key]
