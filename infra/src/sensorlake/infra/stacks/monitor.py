"""The monitor's S3 event feed: S3 -> EventBridge (default bus) -> one SQS queue.

With ``monitor.events: true`` the monitor (dashboards, ``SENSORLAKE_MONITOR_QUEUE_URL``)
learns of each new landed file from an "Object Created" event instead of listing buckets,
so its cost grows with what is new, not with what exists; the listing stays as first scan,
daily safety cycle and fallback.

Why EventBridge and not an S3 -> SQS notification: ``unity_catalog.file_events`` is on by
default, and Databricks' managed file events put their own csms-* queue/topic
configurations into the landing buckets' notification configuration. S3 refuses two queue
configurations whose prefixes and event types overlap, and Terraform's
``aws_s3_bucket_notification`` owns a bucket's whole configuration. S3 -> EventBridge is one
flag (``EventBridgeConfiguration``) that coexists with the other configurations ("Using
EventBridge", Amazon S3 User Guide, docs.aws.amazon.com/AmazonS3/latest/userguide/
EventBridge.html: once enabled, all events go to EventBridge, and rules route them); a rule
on the default bus then sends only "Object Created" events under the landing prefixes of
the landing buckets to our queue (validate probes and everything else match nothing).

Resources (all in the storage stack, nothing with ``events: false``):
- ``aws_sqs_queue`` with SQS-managed SSE, not the landing KMS key: EventBridge would need
  kms:GenerateDataKey/kms:Decrypt on a customer managed key in its key policy
  ("Authorizing EventBridge to use a customer managed key", EventBridge User Guide,
  eb-encryption-key-policy.html), widening the landing key's policy for metadata only.
- ``aws_cloudwatch_event_rule`` + ``aws_cloudwatch_event_target`` (Terraform aws provider:
  resources/cloudwatch_event_rule, resources/cloudwatch_event_target).
- ``aws_sqs_queue_policy``: only events.amazonaws.com may SendMessage, only for this rule
  (``aws:SourceArn``); non-TLS requests are denied.
- one ``aws_s3_bucket_notification`` per distinct landing bucket with ``eventbridge = true``
  and ``ignore_changes`` on queue/topic/lambda_function (see :func:`_eventbridge_flag`).
- the monitor's managed IAM policy (:data:`MONITOR_SIDS`), to attach to its identity.
"""

from __future__ import annotations

import json
from typing import Any

from cdktf import TerraformResourceLifecycle
from cdktf_cdktf_provider_aws.cloudwatch_event_rule import CloudwatchEventRule
from cdktf_cdktf_provider_aws.cloudwatch_event_target import CloudwatchEventTarget
from cdktf_cdktf_provider_aws.data_aws_iam_policy_document import (
    DataAwsIamPolicyDocument,
    DataAwsIamPolicyDocumentStatement,
    DataAwsIamPolicyDocumentStatementCondition,
    DataAwsIamPolicyDocumentStatementPrincipals,
)
from cdktf_cdktf_provider_aws.iam_policy import IamPolicy
from cdktf_cdktf_provider_aws.s3_bucket import S3Bucket
from cdktf_cdktf_provider_aws.s3_bucket_notification import S3BucketNotification
from cdktf_cdktf_provider_aws.sqs_queue import SqsQueue
from cdktf_cdktf_provider_aws.sqs_queue_policy import SqsQueuePolicy
from constructs import Construct

from sensorlake.contract import pipelines
from sensorlake.infra import naming
from sensorlake.infra.config import Settings

__all__ = [
    "MONITOR_QUEUE_ACTIONS",
    "MONITOR_SIDS",
    "NOT_OURS",
    "RECEIVE_WAIT_SECONDS",
    "VISIBILITY_TIMEOUT_SECONDS",
    "MonitorEvents",
    "event_pattern",
    "landing_buckets",
]

# Long enough for the monitor to HEAD a batch of new objects before the message reappears.
VISIBILITY_TIMEOUT_SECONDS = 60
# The queue's default wait, for receivers that name none (the aws CLI, a script). The
# monitor names its own (0: short polls, so an empty queue never holds a refresh; four
# receivers per refresh every 10 s are about 35,000 requests, $0.014, a day).
RECEIVE_WAIT_SECONDS = 20
MONITOR_QUEUE_ACTIONS = ("sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage")
MONITOR_SIDS = ("ListLandingBuckets", "HeadLandedFiles", "ReceiveObjectCreatedEvents")
# The notification configuration blocks Databricks' managed file events own.
NOT_OURS = ["queue", "topic", "lambda_function"]


def landing_buckets(settings: Settings) -> dict[str, tuple[str, ...]]:
    """Distinct landing bucket -> the landing prefixes written in it (roles may share one)."""
    out: dict[str, tuple[str, ...]] = {}
    for role in pipelines.LANDING_ROLES:
        name = settings.bucket(role)
        out[name] = (*out.get(name, ()), *pipelines.LANDING_PREFIXES[role])
    return out


def event_pattern(settings: Settings) -> dict[str, Any]:
    """The rule's pattern: S3 "Object Created" in the landing buckets, landing prefixes only
    (EventBridge event patterns, prefix matching: eb-create-pattern-operators.html)."""
    buckets = landing_buckets(settings)
    prefixes = list(dict.fromkeys(p for ps in buckets.values() for p in ps))
    return {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {
            "bucket": {"name": list(buckets)},
            "object": {"key": [{"prefix": f"{p}/"} for p in prefixes]},
        },
    }


def _cond(test: str, variable: str, *values: str) -> DataAwsIamPolicyDocumentStatementCondition:
    return DataAwsIamPolicyDocumentStatementCondition(
        test=test, variable=variable, values=list(values)
    )


class MonitorEvents(Construct):
    """Queue, rule, target, queue policy, EventBridge flags and the monitor's IAM policy."""

    def __init__(
        self, scope: Construct, id_: str, *, settings: Settings, buckets: dict[str, S3Bucket]
    ) -> None:
        super().__init__(scope, id_)
        mon = settings.monitor
        landing = landing_buckets(settings)
        # Terraform aws provider, resources/sqs_queue: sqs_managed_sse_enabled, SSE-SQS.
        self.queue = SqsQueue(
            self,
            "queue",
            name=mon.queue,
            sqs_managed_sse_enabled=True,
            message_retention_seconds=mon.retention_seconds,
            visibility_timeout_seconds=VISIBILITY_TIMEOUT_SECONDS,
            receive_wait_time_seconds=RECEIVE_WAIT_SECONDS,
        )
        self.pattern = event_pattern(settings)
        self.rule = CloudwatchEventRule(
            self,
            "rule",
            name=naming.MONITOR_RULE,
            description="sensorlake monitor: new landed files (S3 Object Created) to its queue",
            event_pattern=json.dumps(self.pattern, separators=(",", ":")),
            # no event_bus_name: S3 sends its events to the default bus only
        )
        CloudwatchEventTarget(
            self, "target", rule=self.rule.name, target_id="monitor-queue", arn=self.queue.arn
        )
        self.queue_policy_document = DataAwsIamPolicyDocument(
            self,
            "queue_policy_document",
            statement=[
                DataAwsIamPolicyDocumentStatement(
                    sid="EventBridgeRuleSends",
                    effect="Allow",
                    principals=[
                        DataAwsIamPolicyDocumentStatementPrincipals(
                            type="Service", identifiers=["events.amazonaws.com"]
                        )
                    ],
                    actions=["sqs:SendMessage"],
                    resources=[self.queue.arn],
                    condition=[_cond("ArnEquals", "aws:SourceArn", self.rule.arn)],
                ),
                DataAwsIamPolicyDocumentStatement(
                    sid="DenyInsecureTransport",
                    effect="Deny",
                    principals=[
                        DataAwsIamPolicyDocumentStatementPrincipals(type="AWS", identifiers=["*"])
                    ],
                    actions=["sqs:*"],
                    resources=[self.queue.arn],
                    condition=[_cond("Bool", "aws:SecureTransport", "false")],
                ),
            ],
        )
        # Terraform aws provider, resources/sqs_queue_policy.
        SqsQueuePolicy(
            self, "queue_policy", queue_url=self.queue.url, policy=self.queue_policy_document.json
        )
        first_role: dict[str, str] = {}  # a shared bucket gets one flag, named by its first role
        for role in pipelines.LANDING_ROLES:
            first_role.setdefault(settings.bucket(role), role)
        self.notifications = {
            name: self._eventbridge_flag(role, name, buckets[role], mon.import_notifications)
            for name, role in first_role.items()
        }
        self.policy_document = self._monitor_policy(landing)
        self.policy = IamPolicy(
            self,
            "policy",
            name=naming.MONITOR_POLICY,
            description="sensorlake monitor: list and HEAD landed files, read its event queue",
            policy=self.policy_document.json,
        )

    def _eventbridge_flag(
        self, role: str, name: str, bucket: S3Bucket, adopt: bool
    ) -> S3BucketNotification:
        """``eventbridge = true`` on a landing bucket (Terraform aws provider,
        resources/s3_bucket_notification; S3 PutBucketNotificationConfiguration with
        ``EventBridgeConfiguration``).

        The resource writes the bucket's *whole* notification configuration, and Databricks'
        managed file events add their csms-* queue/topic configurations to it; with
        ``ignore_changes`` on those blocks Terraform never removes them on later applies.
        Two residual risks (docs/infra.md): the *first* apply replaces the configuration,
        so on buckets that already carry Databricks' configurations set
        ``monitor.import_notifications: true`` (the configuration is imported first and kept);
        and any tool that later replaces the configuration without EventBridge drops our
        flag (check: ``aws s3api get-bucket-notification-configuration --bucket B`` must show
        ``"EventBridgeConfiguration": {}``).
        """
        notification = S3BucketNotification(
            self,
            f"{role}_eventbridge",
            bucket=bucket.id,
            eventbridge=True,
            lifecycle=TerraformResourceLifecycle(ignore_changes=NOT_OURS),
        )
        if adopt:
            notification.import_from(name)  # the resource ID is the bucket name
        return notification

    def _monitor_policy(self, landing: dict[str, tuple[str, ...]]) -> DataAwsIamPolicyDocument:
        """List and HEAD landed files, receive/delete the queue's messages; nothing else.

        HEAD needs s3:GetObject (HeadObject, S3 API Reference: "To use HEAD, you must have
        the s3:GetObject permission"); s3:ListBucket also turns a missing key into 404
        instead of 403. No kms:Decrypt: HEAD returns metadata and never decrypts the data
        key (only GET of an SSE-KMS object's body needs it), so a stolen monitor
        credential can list keys but never read a reading. No put, no delete.
        """
        arns = [f"arn:aws:s3:::{name}" for name in landing]
        objects = [f"arn:aws:s3:::{name}/{p}/*" for name, ps in landing.items() for p in ps]
        return DataAwsIamPolicyDocument(
            self,
            "policy_document",
            statement=[
                DataAwsIamPolicyDocumentStatement(
                    sid=MONITOR_SIDS[0],
                    effect="Allow",
                    actions=["s3:GetBucketLocation", "s3:ListBucket"],
                    resources=arns,
                ),
                DataAwsIamPolicyDocumentStatement(
                    sid=MONITOR_SIDS[1], effect="Allow", actions=["s3:GetObject"], resources=objects
                ),
                DataAwsIamPolicyDocumentStatement(
                    sid=MONITOR_SIDS[2],
                    effect="Allow",
                    actions=list(MONITOR_QUEUE_ACTIONS),
                    resources=[self.queue.arn],
                ),
            ],
        )
