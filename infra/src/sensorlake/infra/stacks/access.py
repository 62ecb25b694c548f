"""IAM: the write-only gateway identity and the Unity Catalog storage role.

Gateway writer: may only PUT under its pipelines' prefixes, plus put/get/delete under the
validate probe prefix, plus three bucket-level reads for the validate report. It has no
s3:GetObject on data prefixes, no delete and no list, so a stolen gateway credential can
neither read nor destroy landed data; and every PUT without ``If-None-Match`` (or with
``If-Match``) is denied, so it cannot overwrite a landed file either (the overwritten
version would become noncurrent and expire). Consequence (documented in infra/README.md):
landing cannot HEAD an object it did not write in this run; after a 412 on its create-only
PUT it treats the object as "exists, unverified". Trust is explicit: listed principals,
Roles Anywhere sessions with matching certificate CNs, or (opt-in) the account root.

UC role: trusted by the UC master role the storage credential reports (so GovCloud works)
with the credential's external ID, and by itself (required by Databricks since 2025-01-20).
Its ARN is built as a string from the caller's account ID and name (or is the adopted role's
ARN, path included), so the credential can be created first and its external ID can feed
the trust policy without a dependency cycle.
"""

from __future__ import annotations

from cdktf import Op, Precondition, TerraformResourceLifecycle
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

from sensorlake.contract import pipelines
from sensorlake.infra.config import Settings

__all__ = [
    "CREATE_ONLY_SIDS",
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
CREATE_ONLY_SIDS = ("DenyPutWithoutIfNoneMatch", "DenyPutWithIfMatch")


def role_arn(account_id: str, name: str, path: str = "/") -> str:
    """An IAM role ARN from parts: lets a policy name a role before the role exists."""
    return f"arn:aws:iam::{account_id}:role{path}{name}"


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
            for prefix in pipelines.LANDING_PREFIXES[r]
        ]
        probe_resources = [f"{arn}/{pipelines.PROBE_PREFIX}/*" for arn in buckets.values()]
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
                # Create-only, enforced by AWS rather than by the client: a put that could
                # replace an existing object is denied.
                DataAwsIamPolicyDocumentStatement(
                    sid=CREATE_ONLY_SIDS[0],
                    effect="Deny",
                    actions=["s3:PutObject"],
                    resources=[*put_resources, *probe_resources],
                    condition=[_cond("Null", "s3:if-none-match", "true")],
                ),
                DataAwsIamPolicyDocumentStatement(
                    sid=CREATE_ONLY_SIDS[1],
                    effect="Deny",
                    actions=["s3:PutObject"],
                    resources=[*put_resources, *probe_resources],
                    condition=[_cond("Null", "s3:if-match", "false")],
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
        if gw.trusted_principal_arns:
            trust_statements.append(
                DataAwsIamPolicyDocumentStatement(
                    sid="GatewaysAssumeRole",
                    effect="Allow",
                    principals=_principals("AWS", *gw.trusted_principal_arns),
                    actions=["sts:AssumeRole"],
                )
            )
        if gw.roles_anywhere_trust_anchor_arn:
            trust_statements.append(
                DataAwsIamPolicyDocumentStatement(
                    sid="GatewaysViaRolesAnywhere",
                    effect="Allow",
                    principals=_principals("Service", "rolesanywhere.amazonaws.com"),
                    actions=["sts:AssumeRole", "sts:SetSourceIdentity", "sts:TagSession"],
                    condition=[
                        _cond("ArnEquals", "aws:SourceArn", gw.roles_anywhere_trust_anchor_arn),
                        _cond(
                            "StringLike",
                            "aws:PrincipalTag/x509Subject/CN",
                            *gw.roles_anywhere_subject_cns,
                        ),
                    ],
                )
            )
        if gw.trust_account_root:  # opt-in: any principal of this account allowed AssumeRole
            trust_statements.append(
                DataAwsIamPolicyDocumentStatement(
                    sid="AccountPrincipalsAssumeRole",
                    effect="Allow",
                    principals=_principals("AWS", f"arn:aws:iam::{account_id}:root"),
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
        master_role_arn: str,
    ) -> None:
        super().__init__(scope, id_)
        uc = settings.unity_catalog
        region = settings.aws.region
        self.arn = uc.iam_role_arn or role_arn(account_id, uc.role_name)
        landing = [f"arn:aws:s3:::{settings.bucket(r)}" for r in pipelines.LANDING_ROLES]
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
                sid="ListCheckpointUploads",  # Databricks cleans up its multipart uploads
                effect="Allow",
                actions=["s3:ListBucketMultipartUploads"],
                resources=[checkpoints],
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
            # sets the landing buckets' notification configuration (so we never manage it
            # here). Only the four landing locations have file events: not checkpoints.
            statements += [
                DataAwsIamPolicyDocumentStatement(
                    sid="ManagedFileEventsBuckets",
                    effect="Allow",
                    actions=["s3:GetBucketNotification", "s3:PutBucketNotification"],
                    resources=landing,
                ),
                DataAwsIamPolicyDocumentStatement(
                    sid="ManagedFileEventsSetup",
                    effect="Allow",
                    actions=[
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
                    resources=[queues, topics],
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
                    principals=_principals("AWS", master_role_arn),
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
        adopted = uc.role_account_id
        self.role = IamRole(
            self,
            "role",
            name=uc.role_name,
            path=uc.role_path if uc.role_path != "/" else None,  # "/" is the default
            description="Unity Catalog storage credential for sensorlake",
            assume_role_policy=trust.json,
            lifecycle=TerraformResourceLifecycle(
                precondition=[
                    Precondition(
                        condition=Op.eq(account_id, adopted),
                        error_message=(
                            f"DATABRICKS_IAM_ROLE {uc.iam_role_arn} is in account {adopted}, "
                            "but the AWS credentials are for another account"
                        ),
                    )
                ]
            )
            if adopted
            else None,
        )
        if uc.adopt_role:
            self.role.import_from(uc.role_name)  # existing role: imported, trust rewritten
        self.attachment = IamRolePolicyAttachment(
            self, "attachment", role=self.role.name, policy_arn=self.policy.arn
        )
