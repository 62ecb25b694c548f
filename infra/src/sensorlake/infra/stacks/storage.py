"""The AWS landing zone: one KMS key and the five buckets, each locked down the same way.

Every bucket gets: ACLs off (BucketOwnerEnforced), all four public-access blocks, versioning,
SSE-KMS with a bucket key, a bucket policy (TLS only; no put asking for another encryption
than the bucket's key), lifecycle rules and access logging into a dedicated log bucket. The
log bucket uses SSE-S3 because S3 server access logging cannot deliver to SSE-KMS buckets
(see infra/checkov-skips.yaml). Buckets and the key have ``prevent_destroy``.

Ordering that Terraform cannot infer (each found by applying against a moto server, or a
known S3 race): a bucket's policy is put after its public-access block (concurrent puts get
OperationAborted), and every bucket's logging after the log bucket's policy and ownership
controls (S3 checks, on PutBucketLogging, that the target bucket lets the logging service
write: InvalidTargetBucketForLogging otherwise).
"""

from __future__ import annotations

from collections.abc import Sequence

from cdktf import TerraformResourceLifecycle
from cdktf_cdktf_provider_aws.data_aws_caller_identity import DataAwsCallerIdentity
from cdktf_cdktf_provider_aws.data_aws_iam_policy_document import (
    DataAwsIamPolicyDocument,
    DataAwsIamPolicyDocumentStatement,
    DataAwsIamPolicyDocumentStatementCondition,
    DataAwsIamPolicyDocumentStatementPrincipals,
)
from cdktf_cdktf_provider_aws.kms_alias import KmsAlias
from cdktf_cdktf_provider_aws.kms_key import KmsKey
from cdktf_cdktf_provider_aws.s3_bucket import S3Bucket
from cdktf_cdktf_provider_aws.s3_bucket_lifecycle_configuration import (
    S3BucketLifecycleConfiguration,
    S3BucketLifecycleConfigurationRule,
    S3BucketLifecycleConfigurationRuleAbortIncompleteMultipartUpload,
    S3BucketLifecycleConfigurationRuleExpiration,
    S3BucketLifecycleConfigurationRuleFilter,
    S3BucketLifecycleConfigurationRuleNoncurrentVersionExpiration,
    S3BucketLifecycleConfigurationRuleTransition,
)
from cdktf_cdktf_provider_aws.s3_bucket_logging import S3BucketLoggingA
from cdktf_cdktf_provider_aws.s3_bucket_ownership_controls import (
    S3BucketOwnershipControls,
    S3BucketOwnershipControlsRule,
)
from cdktf_cdktf_provider_aws.s3_bucket_policy import S3BucketPolicy
from cdktf_cdktf_provider_aws.s3_bucket_public_access_block import S3BucketPublicAccessBlock
from cdktf_cdktf_provider_aws.s3_bucket_server_side_encryption_configuration import (
    S3BucketServerSideEncryptionConfigurationA,
    S3BucketServerSideEncryptionConfigurationRuleA,
    S3BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultA,
)
from cdktf_cdktf_provider_aws.s3_bucket_versioning import (
    S3BucketVersioningA,
    S3BucketVersioningVersioningConfiguration,
)
from constructs import Construct

from sensorlake.contract import pipelines
from sensorlake.infra.config import LifecycleSettings, Settings

__all__ = ["KEEP", "KMS_ALIAS", "LandingStorage", "kms_only_statements", "tls_only_statement"]

KMS_ALIAS = "alias/sensorlake-landing"
# Buckets, the key and the catalog hold data: a plan that destroys them must fail.
KEEP = TerraformResourceLifecycle(prevent_destroy=True)


def tls_only_statement(bucket_arn: str) -> DataAwsIamPolicyDocumentStatement:
    """Deny every request that is not over TLS (the only statement with a '*' principal)."""
    return DataAwsIamPolicyDocumentStatement(
        sid="DenyInsecureTransport",
        effect="Deny",
        principals=[DataAwsIamPolicyDocumentStatementPrincipals(type="AWS", identifiers=["*"])],
        actions=["s3:*"],
        resources=[bucket_arn, f"{bucket_arn}/*"],
        condition=[
            DataAwsIamPolicyDocumentStatementCondition(
                test="Bool", variable="aws:SecureTransport", values=["false"]
            )
        ],
    )


def kms_only_statements(bucket_arn: str, key_arn: str) -> list[DataAwsIamPolicyDocumentStatement]:
    """Deny puts that ask for another encryption than the bucket's KMS key.

    Only when the put names an algorithm or key: ``Null = false`` (header present) AND
    ``StringNotEquals``. A put without SSE headers (what landing sends) gets the bucket
    default, our key, and stays allowed. (``StringNotEqualsIfExists`` alone would deny it: a
    Deny's ...IfExists condition is true when the key is absent.)
    """
    return [
        DataAwsIamPolicyDocumentStatement(
            sid=sid,
            effect="Deny",
            principals=[DataAwsIamPolicyDocumentStatementPrincipals(type="AWS", identifiers=["*"])],
            actions=["s3:PutObject"],
            resources=[f"{bucket_arn}/*"],
            condition=[
                DataAwsIamPolicyDocumentStatementCondition(
                    test="Null", variable=variable, values=["false"]
                ),
                DataAwsIamPolicyDocumentStatementCondition(
                    test="StringNotEquals", variable=variable, values=[value]
                ),
            ],
        )
        for sid, variable, value in (
            ("DenyOtherEncryption", "s3:x-amz-server-side-encryption", "aws:kms"),
            ("DenyOtherKmsKey", "s3:x-amz-server-side-encryption-aws-kms-key-id", key_arn),
        )
    ]


def _abort_multipart_rule(lc: LifecycleSettings) -> S3BucketLifecycleConfigurationRule:
    """Every bucket, the log bucket too: abandoned multipart uploads cost money forever."""
    return S3BucketLifecycleConfigurationRule(
        id="abort-incomplete-multipart-uploads",
        status="Enabled",
        filter=[S3BucketLifecycleConfigurationRuleFilter(prefix="")],
        abort_incomplete_multipart_upload=[
            S3BucketLifecycleConfigurationRuleAbortIncompleteMultipartUpload(
                days_after_initiation=lc.abort_incomplete_multipart_days
            )
        ],
    )


def _lifecycle_rules(role: str, lc: LifecycleSettings) -> list[S3BucketLifecycleConfigurationRule]:
    """Abort stale multipart uploads everywhere; tier/expire landed files, never checkpoints."""
    everything = [S3BucketLifecycleConfigurationRuleFilter(prefix="")]
    rules = [
        _abort_multipart_rule(lc),
        S3BucketLifecycleConfigurationRule(
            id="expire-noncurrent-versions",
            status="Enabled",
            filter=everything,
            noncurrent_version_expiration=[
                S3BucketLifecycleConfigurationRuleNoncurrentVersionExpiration(
                    noncurrent_days=lc.noncurrent_version_expiration_days
                )
            ],
        ),
    ]
    if role == "checkpoints":
        return rules
    rules.append(
        S3BucketLifecycleConfigurationRule(
            id="expire-validate-probes",
            status="Enabled",
            filter=[S3BucketLifecycleConfigurationRuleFilter(prefix=f"{pipelines.PROBE_PREFIX}/")],
            expiration=[
                S3BucketLifecycleConfigurationRuleExpiration(days=lc.probe_expiration_days)
            ],
        )
    )
    # validate deletes its probe: the delete marker and the old version would stay forever
    # (a delete marker is "expired" once no noncurrent version is left under it).
    rules.append(
        S3BucketLifecycleConfigurationRule(
            id="expire-probe-delete-markers",
            status="Enabled",
            filter=[S3BucketLifecycleConfigurationRuleFilter(prefix=f"{pipelines.PROBE_PREFIX}/")],
            expiration=[
                S3BucketLifecycleConfigurationRuleExpiration(expired_object_delete_marker=True)
            ],
            noncurrent_version_expiration=[
                S3BucketLifecycleConfigurationRuleNoncurrentVersionExpiration(
                    noncurrent_days=lc.probe_expiration_days
                )
            ],
        )
    )
    for prefix in pipelines.LANDING_PREFIXES[role]:
        if lc.transition_days is None and lc.expiration_days is None:
            break
        rules.append(
            S3BucketLifecycleConfigurationRule(
                id=f"landed-{prefix}",
                status="Enabled",
                filter=[S3BucketLifecycleConfigurationRuleFilter(prefix=f"{prefix}/")],
                transition=(
                    [
                        S3BucketLifecycleConfigurationRuleTransition(
                            days=lc.transition_days, storage_class=lc.transition_storage_class
                        )
                    ]
                    if lc.transition_days is not None
                    else None
                ),
                expiration=(
                    [S3BucketLifecycleConfigurationRuleExpiration(days=lc.expiration_days)]
                    if lc.expiration_days is not None
                    else None
                ),
            )
        )
    return rules


class LandingStorage(Construct):
    """KMS key, log bucket and the five buckets; exposes them for policies and outputs."""

    def __init__(self, scope: Construct, id_: str, *, settings: Settings) -> None:
        super().__init__(scope, id_)
        self.settings = settings
        self.caller = DataAwsCallerIdentity(self, "caller")
        account_root = f"arn:aws:iam::{self.caller.account_id}:root"

        key_policy = DataAwsIamPolicyDocument(
            self,
            "key_policy",
            statement=[
                # Delegates key access to IAM policies of this account; no other principal.
                DataAwsIamPolicyDocumentStatement(
                    sid="AccountAdministersKeyThroughIam",
                    effect="Allow",
                    principals=[
                        DataAwsIamPolicyDocumentStatementPrincipals(
                            type="AWS", identifiers=[account_root]
                        )
                    ],
                    actions=["kms:*"],
                    resources=["*"],
                )
            ],
        )
        self.key = KmsKey(
            self,
            "key",
            description="sensorlake: SSE-KMS for the landing and checkpoint buckets",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=key_policy.json,
            lifecycle=KEEP,
        )
        KmsAlias(self, "key_alias", name=KMS_ALIAS, target_key_id=self.key.key_id)

        self.ownership: dict[str, S3BucketOwnershipControls] = {}
        self.public_access: dict[str, S3BucketPublicAccessBlock] = {}
        self.log_bucket = self._log_bucket()
        self.buckets: dict[str, S3Bucket] = {
            role: self._bucket(role, settings.bucket(role)) for role in pipelines.BUCKET_ROLES
        }

    # -- buckets -------------------------------------------------------------------------

    def _locked_down(self, id_: str, name: str, *, adopt: bool = False) -> S3Bucket:
        """Bucket with ownership enforced, no public access and versioning (shared by all)."""
        bucket = S3Bucket(self, f"{id_}_bucket", bucket=name, force_destroy=False, lifecycle=KEEP)
        if adopt:
            bucket.import_from(name)  # an existing bucket: imported, then configured like ours
        self.ownership[id_] = S3BucketOwnershipControls(
            self,
            f"{id_}_ownership",
            bucket=bucket.id,
            rule=S3BucketOwnershipControlsRule(object_ownership="BucketOwnerEnforced"),
        )
        self.public_access[id_] = S3BucketPublicAccessBlock(
            self,
            f"{id_}_public_access_block",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
        )
        S3BucketVersioningA(
            self,
            f"{id_}_versioning",
            bucket=bucket.id,
            versioning_configuration=S3BucketVersioningVersioningConfiguration(status="Enabled"),
        )
        return bucket

    def _policy(
        self, id_: str, bucket: S3Bucket, extra: Sequence[DataAwsIamPolicyDocumentStatement] = ()
    ) -> S3BucketPolicy:
        doc = DataAwsIamPolicyDocument(
            self,
            f"{id_}_policy_document",
            statement=[tls_only_statement(bucket.arn), *extra],
        )
        return S3BucketPolicy(
            self,
            f"{id_}_policy",
            bucket=bucket.id,
            policy=doc.json,
            depends_on=[self.public_access[id_]],
        )

    def _encryption(self, id_: str, bucket: S3Bucket, *, kms: bool) -> None:
        default = S3BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultA(
            sse_algorithm="aws:kms" if kms else "AES256",
            kms_master_key_id=self.key.arn if kms else None,
        )
        S3BucketServerSideEncryptionConfigurationA(
            self,
            f"{id_}_encryption",
            bucket=bucket.id,
            rule=[
                S3BucketServerSideEncryptionConfigurationRuleA(
                    apply_server_side_encryption_by_default=default,
                    bucket_key_enabled=kms,
                )
            ],
        )

    def _bucket(self, role: str, name: str) -> S3Bucket:
        bucket = self._locked_down(role, name, adopt=role in self.settings.buckets.adopt)
        self._encryption(role, bucket, kms=True)
        self._policy(role, bucket, kms_only_statements(bucket.arn, self.key.arn))
        S3BucketLifecycleConfiguration(
            self,
            f"{role}_lifecycle",
            bucket=bucket.id,
            rule=_lifecycle_rules(role, self.settings.lifecycle),
        )
        S3BucketLoggingA(
            self,
            f"{role}_logging",
            bucket=bucket.id,
            target_bucket=self.log_bucket.id,
            target_prefix=f"{name}/",
            depends_on=[self.log_bucket_policy, self.ownership["access_logs"]],
        )
        return bucket

    def _log_bucket(self) -> S3Bucket:
        """Receives server access logs; only the S3 logging service may write to it."""
        lc = self.settings.lifecycle
        bucket = self._locked_down("access_logs", self.settings.log_bucket)
        self._encryption("access_logs", bucket, kms=False)
        sources = [f"arn:aws:s3:::{self.settings.bucket(r)}" for r in pipelines.BUCKET_ROLES]
        self.log_bucket_policy = self._policy(
            "access_logs",
            bucket,
            [
                DataAwsIamPolicyDocumentStatement(
                    sid="S3ServerAccessLogsDelivery",
                    effect="Allow",
                    principals=[
                        DataAwsIamPolicyDocumentStatementPrincipals(
                            type="Service", identifiers=["logging.s3.amazonaws.com"]
                        )
                    ],
                    actions=["s3:PutObject"],
                    resources=[f"{bucket.arn}/*"],
                    condition=[
                        DataAwsIamPolicyDocumentStatementCondition(
                            test="ArnLike", variable="aws:SourceArn", values=sources
                        ),
                        DataAwsIamPolicyDocumentStatementCondition(
                            test="StringEquals",
                            variable="aws:SourceAccount",
                            values=[self.caller.account_id],
                        ),
                    ],
                )
            ],
        )
        everything = [S3BucketLifecycleConfigurationRuleFilter(prefix="")]
        S3BucketLifecycleConfiguration(
            self,
            "access_logs_lifecycle",
            bucket=bucket.id,
            rule=[
                _abort_multipart_rule(lc),
                S3BucketLifecycleConfigurationRule(
                    id="expire-access-logs",
                    status="Enabled",
                    filter=everything,
                    expiration=[
                        S3BucketLifecycleConfigurationRuleExpiration(
                            days=lc.access_log_expiration_days
                        )
                    ],
                    noncurrent_version_expiration=[
                        S3BucketLifecycleConfigurationRuleNoncurrentVersionExpiration(
                            noncurrent_days=lc.noncurrent_version_expiration_days
                        )
                    ],
                ),
            ],
        )
        return bucket
