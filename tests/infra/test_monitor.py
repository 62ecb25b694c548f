"""The monitor's S3 event feed (``monitor.events: true``): what is synthesized, who may do
what (iam_eval on the synthesized documents), and the feed end to end in moto: the
synthesized event pattern and queue policy, a real landing key -> exactly one message, a
validate probe -> none.

Events off leaves the existing snapshots unchanged (tests/infra/test_main.py::test_snapshot
compares them); events on has its own snapshot, refreshed the same way:
UPDATE_SNAPSHOTS=1 make test TYPE=infra.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from sensorlake.contract import pipelines
from sensorlake.contract.keys import LandingKey
from sensorlake.infra import naming
from sensorlake.infra.config import EXAMPLE_CONFIG, parse_settings
from sensorlake.infra.errors import ConfigError
from tests.infra.conftest import Synth, data_sources, resources, synthesize
from tests.infra.iam_eval import Request, allowed, matching, statements
from tests.infra.test_config import minimal

STORAGE = "sensorlake-storage"
SNAPSHOT = Path(__file__).parent / "snapshots" / "sensorlake-storage-monitor-events.json"
QUEUE_ARN = f"arn:aws:sqs:us-east-1:123456789012:{naming.MONITOR_QUEUE}"
RULE_ARN = f"arn:aws:events:us-east-1:123456789012:rule/{naming.MONITOR_RULE}"
REF = re.compile(r"\$\{(?P<addr>[a-z0-9_]+\.[A-Za-z0-9_]+)\.(?P<attr>arn|url)\}")


def _example(**monitor: object) -> Any:
    raw = yaml.safe_load(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    raw["monitor"] = {**raw.get("monitor", {}), **monitor}
    return parse_settings(raw, {}, "test")


@pytest.fixture(scope="module")
def events_on(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize(_example(events=True), tmp_path_factory.mktemp("monitor") / "cdktf.out")


@pytest.fixture(scope="module")
def doc(events_on: Synth) -> dict[str, Any]:
    return json.loads(events_on.storage_json)


def _one(doc: dict[str, Any], rtype: str) -> dict[str, Any]:
    (only,) = resources(doc, rtype).values()
    return only


def _resolve(value: Any) -> Any:
    """The queue's and rule's references replaced by the ARNs they have in the test account."""
    text = json.dumps(value)
    text = re.sub(r"\$\{aws_sqs_queue\.[A-Za-z0-9_]+\.arn\}", QUEUE_ARN, text)
    text = re.sub(r"\$\{aws_cloudwatch_event_rule\.[A-Za-z0-9_]+\.arn\}", RULE_ARN, text)
    return json.loads(text)


def _document(doc: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    (body,) = [
        v for k, v in data_sources(doc, "aws_iam_policy_document").items() if k.startswith(prefix)
    ]
    return statements(_resolve(body))


# -- config ---------------------------------------------------------------------------


def test_events_are_opt_in_and_the_queue_name_is_derived() -> None:
    off = parse_settings(minimal(), {}, "t")
    assert off.monitor.events is False
    assert off.monitor.queue == naming.MONITOR_QUEUE
    assert off.monitor.retention_seconds == 345_600
    example = _example()
    assert example.monitor.events is False  # the example shows the block, switched off
    named = parse_settings({**minimal(), "monitor": {"queue_name": "acme_feed-1"}}, {}, "t")
    assert named.monitor.queue == "acme_feed-1"


@pytest.mark.parametrize(
    ("monitor", "expected"),
    [
        (
            {"retention_seconds": 59},
            "monitor.retention_seconds: Input should be greater than or equal to 60",
        ),
        (
            {"retention_seconds": 1_209_601},
            "monitor.retention_seconds: Input should be less than or equal to 1209600",
        ),
        ({"queue_name": "csms-mine"}, "monitor.queue_name: bad SQS queue name 'csms-mine': csms-*"),
        (
            {"queue_name": "feed.fifo"},
            "monitor.queue_name: bad SQS queue name 'feed.fifo': use 1 to 80",
        ),
        ({"queue_name": "x" * 81}, "monitor.queue_name: bad SQS queue name"),
        ({"events": "sometimes"}, "monitor.events: Input should be a valid boolean"),
        ({"event": True}, "monitor.event: unknown key"),
        ({"import_notifications": True}, "monitor: monitor.import_notifications needs"),
    ],
)
def test_bad_monitor_values_are_one_clear_line(monitor: dict, expected: str) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_settings({**minimal(), "monitor": monitor}, {}, "t")
    (problem,) = exc.value.problems
    assert problem.startswith(expected), problem
    assert "\n" not in problem


# -- what is synthesized ----------------------------------------------------------------


def test_events_off_synthesizes_no_monitor_resource(synthesized: Synth) -> None:
    doc = synthesized.docs[STORAGE]
    for rtype in (
        "aws_sqs_queue",
        "aws_sqs_queue_policy",
        "aws_cloudwatch_event_rule",
        "aws_cloudwatch_event_target",
        "aws_s3_bucket_notification",
    ):
        assert not resources(doc, rtype), rtype
    assert not any(k.startswith("monitor") for k in doc["output"])


def test_snapshot_events_on(doc: dict[str, Any]) -> None:
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    assert SNAPSHOT.exists(), f"missing {SNAPSHOT}: run UPDATE_SNAPSHOTS=1 make test TYPE=infra"
    assert doc == json.loads(SNAPSHOT.read_text(encoding="utf-8")), (
        f"differs from {SNAPSHOT}; if intended: UPDATE_SNAPSHOTS=1 make test TYPE=infra"
    )


def test_queue_is_encrypted_and_keeps_events_as_configured(
    doc: dict[str, Any], tmp_path: Path
) -> None:
    queue = _one(doc, "aws_sqs_queue")
    assert queue["name"] == naming.MONITOR_QUEUE
    assert queue["sqs_managed_sse_enabled"] is True and "kms_master_key_id" not in queue
    assert queue["message_retention_seconds"] == 345_600
    assert queue["visibility_timeout_seconds"] == 60
    custom = synthesize(
        _example(events=True, retention_seconds=600, queue_name="acme-feed"),
        tmp_path / "cdktf.out",
    )
    queue = _one(json.loads(custom.storage_json), "aws_sqs_queue")
    assert (queue["name"], queue["message_retention_seconds"]) == ("acme-feed", 600)


def test_rule_matches_object_created_in_the_landing_prefixes_of_the_landing_buckets(
    doc: dict[str, Any], events_on: Synth
) -> None:
    rule = _one(doc, "aws_cloudwatch_event_rule")
    assert "event_bus_name" not in rule  # S3 sends to the default bus only
    pattern = json.loads(rule["event_pattern"])
    settings = events_on.settings
    assert pattern["source"] == ["aws.s3"] and pattern["detail-type"] == ["Object Created"]
    assert pattern["detail"]["bucket"]["name"] == [
        settings.bucket(r) for r in pipelines.LANDING_ROLES
    ]
    assert settings.bucket("checkpoints") not in pattern["detail"]["bucket"]["name"]
    prefixes = [p for r in pipelines.LANDING_ROLES for p in pipelines.LANDING_PREFIXES[r]]
    assert pattern["detail"]["object"]["key"] == [{"prefix": f"{p}/"} for p in prefixes]
    target = _one(doc, "aws_cloudwatch_event_target")
    assert REF.fullmatch(target["arn"])["addr"].startswith("aws_sqs_queue.monitor_queue")


def test_every_landing_bucket_gets_the_eventbridge_flag_and_keeps_databricks_configs(
    doc: dict[str, Any],
) -> None:
    flags = resources(doc, "aws_s3_bucket_notification")
    buckets = {b["bucket"] for b in flags.values()}
    assert buckets == {
        f"${{aws_s3_bucket.{k}.id}}"
        for k in resources(doc, "aws_s3_bucket")
        if any(k.startswith(f"storage_{r}_bucket") for r in pipelines.LANDING_ROLES)
    }
    for flag in flags.values():
        assert flag["eventbridge"] is True
        assert not {"queue", "topic", "lambda_function"} & set(flag)
        assert flag["lifecycle"]["ignore_changes"] == ["queue", "topic", "lambda_function"]
    assert "import" not in doc  # import_notifications is off by default


def test_import_notifications_imports_each_landing_buckets_configuration(tmp_path: Path) -> None:
    synth = synthesize(_example(events=True, import_notifications=True), tmp_path / "out")
    doc = json.loads(synth.storage_json)
    imports = {i["id"]: i["to"] for i in doc["import"]}
    assert set(imports) == {synth.settings.bucket(r) for r in pipelines.LANDING_ROLES}
    assert all(t.startswith("aws_s3_bucket_notification.monitor_") for t in imports.values())


def test_shared_landing_buckets_are_deduplicated() -> None:
    from sensorlake.infra.stacks.monitor import event_pattern, landing_buckets

    settings = _example(events=True)
    # The config refuses two roles on one bucket today; the stack must not depend on that.
    shared = settings.model_copy(
        update={"buckets": settings.buckets.model_copy(update={"filtered": settings.bucket("raw")})}
    )
    assert landing_buckets(shared)[settings.bucket("raw")] == ("raw", "filtered")
    pattern = event_pattern(shared)
    assert len(pattern["detail"]["bucket"]["name"]) == 3


def test_outputs_name_the_queue_url_and_the_policy_arn(doc: dict[str, Any]) -> None:
    out = doc["output"]
    assert REF.fullmatch(out["monitor_queue_url"]["value"])["attr"] == "url"
    assert REF.fullmatch(out["monitor_policy_arn"]["value"])["addr"].startswith(
        "aws_iam_policy.monitor_policy"
    )


# -- who may do what (iam_eval) ---------------------------------------------------------


def test_monitor_policy_allows_list_head_receive_delete_and_nothing_else(
    doc: dict[str, Any], events_on: Synth
) -> None:
    policy = _document(doc, "monitor_policy_document")
    settings = events_on.settings
    raw = settings.bucket("raw")
    key = LandingKey("raw", "2026-12-04", "gw-1", 1, 1, 10).format()
    rejected = LandingKey("rejected", "2026-12-04", "gw-1", 1, 1, 10).format()

    def ok(action: str, resource: str) -> bool:
        return allowed(policy, Request(action, resource))

    for role in pipelines.LANDING_ROLES:
        assert ok("s3:ListBucket", f"arn:aws:s3:::{settings.bucket(role)}")
        assert ok("s3:GetBucketLocation", f"arn:aws:s3:::{settings.bucket(role)}")
    assert ok("s3:GetObject", f"arn:aws:s3:::{raw}/{key}")  # HEAD
    assert ok("s3:GetObject", f"arn:aws:s3:::{settings.bucket('schematized')}/{rejected}")
    for action in MONITOR_QUEUE:
        assert ok(action, QUEUE_ARN)
    # denied: writes, deletes, other prefixes, other buckets, other queues, the key
    assert not ok("s3:PutObject", f"arn:aws:s3:::{raw}/{key}")
    assert not ok("s3:DeleteObject", f"arn:aws:s3:::{raw}/{key}")
    assert not ok("s3:GetObject", f"arn:aws:s3:::{raw}/{pipelines.PROBE_PREFIX}/x")
    assert not ok("s3:GetObject", f"arn:aws:s3:::{raw}/schematized/x")  # not raw's prefix
    assert not ok("s3:GetObject", f"arn:aws:s3:::{settings.bucket('checkpoints')}/raw/x")
    assert not ok("s3:ListBucket", f"arn:aws:s3:::{settings.bucket('checkpoints')}")
    assert not ok("s3:ListBucket", "arn:aws:s3:::someone-else")
    assert not ok("sqs:ReceiveMessage", "arn:aws:sqs:us-east-1:123456789012:csms-other")
    assert not ok("sqs:SendMessage", QUEUE_ARN)
    assert not ok("sqs:PurgeQueue", QUEUE_ARN)
    assert not ok("kms:Decrypt", "arn:aws:kms:us-east-1:123456789012:key/k")
    actions = sorted({a for st in policy for a in st["actions"]})
    assert actions == sorted(
        ["s3:GetBucketLocation", "s3:GetObject", "s3:ListBucket", *MONITOR_QUEUE]
    )


MONITOR_QUEUE = ("sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage")


def _service_may(policy: list[dict[str, Any]], service: str, action: str, source: str) -> bool:
    """Resource-policy evaluation for a service principal (no identity policy involved)."""
    ctx = {"aws:SourceArn": source, "aws:SecureTransport": "true"}
    req = Request(action, QUEUE_ARN, ctx)
    hits = [
        st
        for st in policy
        if any(
            (p["type"] == "Service" and service in p["identifiers"]) or "*" in p["identifiers"]
            for p in st.get("principals", [])
        )
    ]
    found = matching(hits, req)
    return any(st["effect"] == "Allow" for st in found) and not any(
        st["effect"] == "Deny" for st in found
    )


def test_queue_policy_admits_only_the_rule(doc: dict[str, Any]) -> None:
    policy = _document(doc, "monitor_queue_policy_document")
    events = "events.amazonaws.com"
    assert _service_may(policy, events, "sqs:SendMessage", RULE_ARN)
    other_rule = RULE_ARN.replace(naming.MONITOR_RULE, "someone-elses-rule")
    assert not _service_may(policy, events, "sqs:SendMessage", other_rule)
    assert not _service_may(policy, "s3.amazonaws.com", "sqs:SendMessage", RULE_ARN)
    assert not _service_may(policy, "sns.amazonaws.com", "sqs:SendMessage", RULE_ARN)
    assert not _service_may(policy, events, "sqs:ReceiveMessage", RULE_ARN)
    insecure = Request("sqs:ReceiveMessage", QUEUE_ARN, {"aws:SecureTransport": "false"})
    allow_all = [{"effect": "Allow", "actions": ["sqs:*"], "resources": ["*"]}]
    assert not allowed(allow_all, insecure, policy)  # the TLS deny beats any identity policy


# -- checkov ----------------------------------------------------------------------------


def test_checkov_finds_nothing_with_events_on(events_on: Synth) -> None:
    """No finding on the queue, rule, policies or flags; the landing buckets' CKV2_AWS_62
    skip (no notification) is the only one unused, because the flag now satisfies it."""
    from sensorlake.infra.scan import CHECKOV, run_checkov

    if not CHECKOV.exists():
        pytest.skip("checkov is not installed: run `make infra-setup`")
    result = run_checkov(events_on.outdir)
    assert not result.failed and not result.parsing_errors, result.summary()
    assert result.passed > 100
    (unused,) = result.unused_skips
    assert unused.check == "CKV2_AWS_62"
    assert unused.resources[0].startswith("aws_s3_bucket.storage_raw_bucket")


# -- end to end in moto -----------------------------------------------------------------


def test_a_landed_file_gives_one_event_and_a_probe_none(
    doc: dict[str, Any], events_on: Synth
) -> None:
    import boto3
    from moto import mock_aws

    settings = events_on.settings
    rule = _one(doc, "aws_cloudwatch_event_rule")
    queue_policy = _document(doc, "monitor_queue_policy_document")
    raw = settings.bucket("raw")
    key = LandingKey("raw", "2026-12-04", "gw-1", 3, 101, 200).format()
    with mock_aws():
        env = {"region_name": "us-east-1"}
        s3, sqs, events = (boto3.client(s, **env) for s in ("s3", "sqs", "events"))
        s3.create_bucket(Bucket=raw)
        url = sqs.create_queue(QueueName=naming.MONITOR_QUEUE)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        assert arn == QUEUE_ARN
        rule_arn = events.put_rule(Name=rule["name"], EventPattern=rule["event_pattern"])["RuleArn"]
        assert rule_arn == RULE_ARN
        sqs.set_queue_attributes(
            QueueUrl=url, Attributes={"Policy": json.dumps(_iam_json(queue_policy))}
        )
        events.put_targets(Rule=rule["name"], Targets=[{"Id": "monitor-queue", "Arn": arn}])
        s3.put_bucket_notification_configuration(
            Bucket=raw, NotificationConfiguration={"EventBridgeConfiguration": {}}
        )
        s3.put_object(Bucket=raw, Key=f"{pipelines.PROBE_PREFIX}/validate-1", Body=b"probe")
        s3.put_object(Bucket=raw, Key="notes/readme.txt", Body=b"other")
        assert _drain(sqs, url) == []
        s3.put_object(Bucket=raw, Key=key, Body=b"landed")
        (body,) = _drain(sqs, url)
        assert body["source"] == "aws.s3" and body["detail-type"] == "Object Created"
        assert body["detail"]["bucket"]["name"] == raw
        assert body["detail"]["object"]["key"] == key
        assert LandingKey.parse(body["detail"]["object"]["key"]).gateway == "gw-1"
        # the checkpoints bucket is not in the pattern, even under a landing prefix
        s3.create_bucket(Bucket=settings.bucket("checkpoints"))
        s3.put_bucket_notification_configuration(
            Bucket=settings.bucket("checkpoints"),
            NotificationConfiguration={"EventBridgeConfiguration": {}},
        )
        s3.put_object(Bucket=settings.bucket("checkpoints"), Key=key, Body=b"x")
        assert _drain(sqs, url) == []


def _drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
    bodies = [json.loads(m["Body"]) for m in got.get("Messages", [])]
    for m in got.get("Messages", []):
        sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return bodies


def _iam_json(stmts: list[dict[str, Any]]) -> dict[str, Any]:
    """An aws_iam_policy_document body as the IAM JSON the data source renders."""
    out = []
    for st in stmts:
        principals: dict[str, list[str]] = {}
        for p in st.get("principals", []):
            principals.setdefault(p["type"], []).extend(p["identifiers"])
        rendered: dict[str, Any] = {
            "Sid": st["sid"],
            "Effect": st["effect"],
            "Principal": principals,
            "Action": st["actions"],
            "Resource": st["resources"],
        }
        for c in st.get("condition", []):
            rendered.setdefault("Condition", {}).setdefault(c["test"], {})[c["variable"]] = c[
                "values"
            ]
        out.append(rendered)
    return {"Version": "2012-10-17", "Statement": out}
