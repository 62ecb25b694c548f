"""IAM: the write-only gateway identity and the Unity Catalog storage role.

Gateway writer: may only PUT under its pipelines' prefixes, plus put/get/delete under the
validate probe prefix, plus three bucket-level reads for the validate report. It has no
s3:GetObject on data prefixes, no delete and no list, so a stolen gateway credential can
neither read nor destroy landed data. Consequence (documented in infra/README.md): landing
cannot HEAD an object it did not write in this run; after a 412 on its create-only PUT it
treats the object as "exists, unverified".

UC role: trusted by Databricks' UC master role with the storage credential's external ID,
and by itself (required by Databricks since 2025-01-20). Its ARN is built as a string from
the account ID and name, so the credential can be created first and its external ID can
feed the trust policy without a dependency cycle.
"""

from __future__ import annotations

from cdktf_cdktf_provider_aws.data_aws_iam_policy_document import (
    DataAwsIamPolicyDocument,
    DataAwsIamPolicyDocumentStatement,
    DataAwsIamPolicyDocumentStatementCondition,
    DataAwsIamPolicyDocumentStatementPrincipals,
)
from cdktf_cdktf_provider_aws.iam_policy import IamPolicy
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy_attachment import IamRolePolicyAttachment
from constructs import Construct

from sensorlake.infra import naming
from sensorlake.infra.config import Settings

__all__ = [
    "GATEWAY_BUCKET_ACTIONS",
    "GATEWAY_KMS_ACTIONS",
    "GatewayWriter",
    "UnityCatalogRole",
    "role_arn",
]

GATEWAY_BUCKET_ACTIONS = (
    "s3:GetBucketLocation",
    "s3:GetBucketVersioning",
    "s3:GetEncryptionConfiguration",
)
GATEWAY_KMS_ACTIONS = ("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey")


def role_arn(account_id: str, name: str) -> str:
    """An IAM role ARN from parts: lets a policy name a role before the role exists."""
    return f"arn:aws:iam::{account_id}:role/{name}"


def _principals(kind: str, *arns: str) -> list[DataAwsIamPolicyDocumentStatementPrincipals]:
    return [DataAwsIamPolicyDocumentStatementPrincipals(type=kind, identifiers=list(arns))]


def _cond(test: str, variable: str, *values: str) -> DataAwsIamPolicyDocumentStatementCondition:
    return DataAwsIamPolicyDocumentStatementCondition(
        test=test, variable=variable, values=list(values)
    )


def _via_s3(region: str) -> list[DataAwsIamPolicyDocumentStatementCondition]:
    """KMS use only on behalf of S3 in our region: the key cannot be used directly."""
    return [_cond("StringEquals", "kms:ViaService", f"s3.{region}.amazonaws.com")]


class GatewayWriter(Construct):
    """Role + managed policy for sensor gateways: create objects, never read or delete data."""

    def __init__(
        self, scope: Construct, id_: str, *, settings: Settings, account_id: str, key_arn: str
    ) -> None:
        super().__init__(scope, id_)
        gw = settings.gateway
        buckets = {r: f"arn:aws:s3:::{settings.bucket(r)}" for r in gw.pipelines}
        put_resources = [
            f"{arn}/{prefix}/*"
            for r, arn in buckets.items()
            for prefix in naming.LANDING_PREFIXES[r]
        ]
        probe_resources = [f"{arn}/{naming.PROBE_PREFIX}/*" for arn in buckets.values()]
        self.policy_document = DataAwsIamPolicyDocument(
            self,
            "policy_document",
            statement=[
                DataAwsIamPolicyDocumentStatement(
                    sid="LandFilesCreateOnly",
                    effect="Allow",
                    actions=["s3:PutObject"],
                    resources=put_resources,
                ),
                DataAwsIamPolicyDocumentStatement(
                    sid="ValidateProbe",
                    effect="Allow",
                    actions=["s3:DeleteObject", "s3:GetObject", "s3:PutObject"],
                    resources=probe_resources,
                ),
                DataAwsIamPolicyDocumentStatement(
                    sid="ValidateReport",
                    effect="Allow",
                    actions=list(GATEWAY_BUCKET_ACTIONS),
                    resources=list(buckets.values()),
                ),
                DataAwsIamPolicyDocumentStatement(
                    sid="EncryptThroughS3",
                    effect="Allow",
                    actions=list(GATEWAY_KMS_ACTIONS),
                    resources=[key_arn],
                    condition=_via_s3(settings.aws.region),
                ),
            ],
        )
        self.policy = IamPolicy(
            self,
            "policy",
            name=gw.role_name,
            description="sensorlake gateways: create-only landing writes and validate probes",
            policy=self.policy_document.json,
        )
        trust_statements = []
        if gw.roles_anywhere_trust_anchor_arn:
            trust_statements.append(
                DataAwsIamPolicyDocumentStatement(
                    sid="GatewaysViaRolesAnywhere",
                    effect="Allow",
                    principals=_principals("Service", "rolesanywhere.amazonaws.com"),
                    actions=["sts:AssumeRole", "sts:SetSourceIdentity", "sts:TagSession"],
                    condition=[
                        _cond("ArnEquals", "aws:SourceArn", gw.roles_anywhere_trust_anchor_arn)
                    ],
                )
            )
        if gw.trusted_principal_arns or not trust_statements:
            trusted = gw.trusted_principal_arns or (f"arn:aws:iam::{account_id}:root",)
            trust_statements.append(
                DataAwsIamPolicyDocumentStatement(
                    sid="GatewaysAssumeRole",
                    effect="Allow",
                    principals=_principals("AWS", *trusted),
                    actions=["sts:AssumeRole"],
                )
            )
        trust = DataAwsIamPolicyDocument(self, "trust_document", statement=trust_statements)
        self.role = IamRole(
            self,
            "role",
            name=gw.role_name,
            description="Assumed by sensor gateways to land files (write-only)",
            assume_role_policy=trust.json,
            max_session_duration=gw.max_session_seconds,
        )
        IamRolePolicyAttachment(self, "attachment", role=self.role.name, policy_arn=self.policy.arn)


class UnityCatalogRole(Construct):
    """The storage credential's role: read landing buckets, read/write checkpoints."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        settings: Settings,
        account_id: str,
        key_arn: str,
        external_id: str,
    ) -> None:
        super().__init__(scope, id_)
        uc = settings.unity_catalog
        region = settings.aws.region
        self.arn = uc.iam_role_arn or role_arn(account_id, uc.role_name)
        landing = [f"arn:aws:s3:::{settings.bucket(r)}" for r in naming.LANDING_ROLES]
        checkpoints = f"arn:aws:s3:::{settings.bucket('checkpoints')}"
        every_bucket = [*landing, checkpoints]
        queues = f"arn:aws:sqs:{region}:{account_id}:csms-*"
        topics = f"arn:aws:sns:{region}:{account_id}:csms-*"

        statements = [
            DataAwsIamPolicyDocumentStatement(
                sid="ReadLandedFiles",
                effect="Allow",
                actions=["s3:GetObject", "s3:GetObjectVersion"],
                resources=[f"{b}/*" for b in landing],
            ),
            DataAwsIamPolicyDocumentStatement(
                sid="ReadWriteCheckpoints",
                effect="Allow",
                actions=[
                    "s3:AbortMultipartUpload",
                    "s3:DeleteObject",
                    "s3:GetObject",
                    "s3:GetObjectVersion",
                    "s3:ListMultipartUploadParts",
                    "s3:PutObject",
                ],
                resources=[f"{checkpoints}/*"],
            ),
            DataAwsIamPolicyDocumentStatement(
                sid="ListBuckets",
                effect="Allow",
                actions=["s3:GetBucketLocation", "s3:ListBucket"],
                resources=every_bucket,
            ),
            DataAwsIamPolicyDocumentStatement(
                sid="UseLandingKeyThroughS3",
                effect="Allow",
                actions=["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*"],
                resources=[key_arn],
                condition=_via_s3(region),
            ),
            DataAwsIamPolicyDocumentStatement(
                sid="AssumeSelf",
                effect="Allow",
                actions=["sts:AssumeRole"],
                resources=[self.arn],
            ),
        ]
        if uc.file_events:
            # Managed file events: Databricks creates csms-* SNS topics and SQS queues and
            # sets each bucket's notification configuration (so we never manage it here).
            statements += [
                DataAwsIamPolicyDocumentStatement(
                    sid="ManagedFileEventsSetup",
                    effect="Allow",
                    actions=[
                        "s3:GetBucketNotification",
                        "s3:PutBucketNotification",
                        "sns:CreateTopic",
                        "sns:GetTopicAttributes",
                        "sns:ListSubscriptionsByTopic",
                        "sns:Publish",
                        "sns:SetTopicAttributes",
                        "sns:Subscribe",
                        "sns:TagResource",
                        "sqs:ChangeMessageVisibility",
                        "sqs:CreateQueue",
                        "sqs:DeleteMessage",
                        "sqs:GetQueueAttributes",
                        "sqs:GetQueueUrl",
                        "sqs:ListQueueTags",
                        "sqs:PurgeQueue",
                        "sqs:ReceiveMessage",
                        "sqs:SendMessage",
                        "sqs:SetQueueAttributes",
                        "sqs:TagQueue",
                    ],
                    resources=[*every_bucket, queues, topics],
                ),
                DataAwsIamPolicyDocumentStatement(
                    sid="ManagedFileEventsList",
                    effect="Allow",
                    actions=["sns:ListTopics", "sqs:ListQueues"],  # not resource-scopable
                    resources=["*"],
                ),
                DataAwsIamPolicyDocumentStatement(
                    sid="ManagedFileEventsTeardown",
                    effect="Allow",
                    actions=["sns:DeleteTopic", "sns:Unsubscribe", "sqs:DeleteQueue"],
                    resources=[queues, topics],
                ),
            ]
        self.policy_document = DataAwsIamPolicyDocument(
            self, "policy_document", statement=statements
        )
        self.policy = IamPolicy(
            self,
            "policy",
            name=uc.role_name,
            description="Unity Catalog storage credential: sensorlake buckets only",
            policy=self.policy_document.json,
        )
        trust = DataAwsIamPolicyDocument(
            self,
            "trust_document",
            statement=[
                DataAwsIamPolicyDocumentStatement(
                    sid="UnityCatalogMasterRole",
                    effect="Allow",
                    principals=_principals("AWS", uc.master_role_arn),
                    actions=["sts:AssumeRole"],
                    condition=[_cond("StringEquals", "sts:ExternalId", external_id)],
                ),
                DataAwsIamPolicyDocumentStatement(
                    sid="SelfAssume",
                    effect="Allow",
                    principals=_principals("AWS", f"arn:aws:iam::{account_id}:root"),
                    actions=["sts:AssumeRole"],
                    condition=[
                        _cond("StringEquals", "sts:ExternalId", external_id),
                        _cond("ArnEquals", "aws:PrincipalArn", self.arn),
                    ],
                ),
            ],
        )
        self.role = IamRole(
            self,
            "role",
            name=uc.role_name,
            description="Unity Catalog storage credential for sensorlake",
            assume_role_policy=trust.json,
        )
        self.attachment = IamRolePolicyAttachment(
            self, "attachment", role=self.role.name, policy_arn=self.policy.arn
        )
