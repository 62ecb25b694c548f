"""The CDKTF app: two stacks, synthesized to ``cdktf.out/stacks/<stack>/cdk.tf.json``.

- ``sensorlake-storage`` (AWS): KMS key, the five buckets, the access-log bucket, the
  gateway writer role; with ``monitor.events`` the monitor's S3 event feed (stacks/monitor.py).
- ``sensorlake-catalog`` (Databricks + AWS): storage credential, the UC IAM role and policy,
  a wait, external locations, catalog, schema, volumes and grants. It finds the KMS key by
  alias (a data source) instead of a cross-stack reference, so each stack's JSON stands alone
  and plain Terraform/OpenTofu can run it. Deploy order: storage, then catalog.

State: an S3 backend with a lock file unless ``state.backend: local`` (sandbox).

- ``sensorlake-jobs`` (Databricks): the streams wheels as workspace files and one Auto Loader
  job per target (stacks/jobs.py). Synthesized when the wheels exist in ``dist/`` or can be
  built from this checkout (``jobs.enabled: auto``); deploy order: after catalog.

Run: ``python -m sensorlake.infra.main [--config PATH] [--outdir DIR]`` (what cdktf.json runs).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from cdktf import App, LocalBackend, S3Backend, TerraformOutput, TerraformStack
from cdktf_cdktf_provider_aws.data_aws_caller_identity import DataAwsCallerIdentity
from cdktf_cdktf_provider_aws.data_aws_kms_alias import DataAwsKmsAlias
from cdktf_cdktf_provider_aws.provider import AwsProvider, AwsProviderDefaultTags
from cdktf_cdktf_provider_databricks.provider import DatabricksProvider
from cdktf_cdktf_provider_time.provider import TimeProvider
from cdktf_cdktf_provider_time.sleep import Sleep
from constructs import Construct

from sensorlake.contract.errors import exit_with
from sensorlake.contract.pipelines import volume_path
from sensorlake.infra import naming
from sensorlake.infra.config import Settings, load_settings
from sensorlake.infra.errors import InfraError
from sensorlake.infra.stacks.access import GatewayWriter, UnityCatalogRole, role_arn
from sensorlake.infra.stacks.catalog import UnityCatalog, storage_credential
from sensorlake.infra.stacks.jobs import StreamJobs
from sensorlake.infra.stacks.monitor import MonitorEvents
from sensorlake.infra.stacks.storage import KMS_ALIAS, LandingStorage
from sensorlake.infra.wheels import Wheel, WheelsMissing, find_or_build_wheels

__all__ = [
    "DATABRICKS_PROVIDER",
    "LOCAL_STATE_DIR",
    "STACKS",
    "TERRAFORM_REQUIRED",
    "CatalogStack",
    "InfraApp",
    "JobsStack",
    "StorageStack",
    "build_app",
    "jobs_wheels",
    "main",
]

STACKS = naming.STACK_ORDER  # deploy order


# use_lockfile (S3-native state locking) needs Terraform 1.10; import blocks need 1.5.
TERRAFORM_REQUIRED = ">= 1.10"
# 1.117 is the first release that sends enable_file_events = false on create (1.99 dropped it
# and the location got file events anyway). The bindings are 1.99's; the schema we use is
# unchanged, so only the constraint in the generated JSON moves.
DATABRICKS_PROVIDER = ">= 1.117.0, < 2.0.0"
# Sandbox-only local state: outside cdktf.out/ (which synth replaces), relative to
# cdktf.out/stacks/<stack>/ where cdktf runs terraform: <repo>/terraform-state/.
LOCAL_STATE_DIR = "../../../terraform-state"


def _backend(stack: TerraformStack, settings: Settings, name: str) -> None:
    state = settings.state
    if state.backend == "s3":
        S3Backend(
            stack,
            bucket=settings.state_bucket,
            key=f"{state.key_prefix}/{name}.tfstate",
            region=state.region or settings.aws.region,
            encrypt=True,
        )
        stack.add_override("terraform.backend.s3.use_lockfile", True)
    else:
        LocalBackend(stack, path=f"{LOCAL_STATE_DIR}/{name}.tfstate")
    stack.add_override("terraform.required_version", TERRAFORM_REQUIRED)


def _aws(stack: TerraformStack, settings: Settings) -> None:
    """Region and tags only: credentials come from the standard AWS chain, never from here."""
    AwsProvider(
        stack,
        "aws",
        region=settings.aws.region,
        allowed_account_ids=[settings.aws.account_id] if settings.aws.account_id else None,
        default_tags=[AwsProviderDefaultTags(tags=dict(settings.tags))],
    )


class StorageStack(TerraformStack):
    """AWS landing zone: KMS, buckets, gateway writer identity (and the monitor's feed)."""

    def __init__(self, scope: Construct, settings: Settings) -> None:
        super().__init__(scope, naming.STORAGE_STACK)
        _backend(self, settings, naming.STORAGE_STACK)
        _aws(self, settings)
        self.storage = LandingStorage(self, "storage", settings=settings)
        self.gateway = GatewayWriter(
            self,
            "gateway",
            settings=settings,
            account_id=self.storage.caller.account_id,
            key_arn=self.storage.key.arn,
        )
        for role, bucket in self.storage.buckets.items():
            TerraformOutput(self, f"bucket_{role}", value=bucket.bucket, static_id=True)
        TerraformOutput(
            self, "bucket_access_logs", value=self.storage.log_bucket.bucket, static_id=True
        )
        TerraformOutput(self, "kms_key_arn", value=self.storage.key.arn, static_id=True)
        TerraformOutput(self, "kms_key_alias", value=KMS_ALIAS, static_id=True)
        TerraformOutput(self, "gateway_role_arn", value=self.gateway.role.arn, static_id=True)
        self.monitor: MonitorEvents | None = None
        if settings.monitor.events:  # opt-in: without it this stack is unchanged
            self.monitor = MonitorEvents(
                self, "monitor", settings=settings, buckets=self.storage.buckets
            )
            # SENSORLAKE_MONITOR_QUEUE_URL for the monitor; the policy goes on its identity.
            TerraformOutput(self, "monitor_queue_url", value=self.monitor.queue.url, static_id=True)
            TerraformOutput(
                self, "monitor_policy_arn", value=self.monitor.policy.arn, static_id=True
            )


class CatalogStack(TerraformStack):
    """Unity Catalog and the IAM role behind its storage credential."""

    def __init__(self, scope: Construct, settings: Settings) -> None:
        super().__init__(scope, naming.CATALOG_STACK)
        uc = settings.unity_catalog
        _backend(self, settings, naming.CATALOG_STACK)
        _aws(self, settings)
        DatabricksProvider(self, "databricks")  # host and token from DATABRICKS_* env vars
        self.add_override("terraform.required_providers.databricks.version", DATABRICKS_PROVIDER)
        TimeProvider(self, "time")

        # The account is the caller's (an adopted role's ARN is checked against it).
        account_id = DataAwsCallerIdentity(self, "caller").account_id
        arn = uc.iam_role_arn or role_arn(account_id, uc.role_name)
        key = DataAwsKmsAlias(self, "landing_key", name=KMS_ALIAS)
        credential = storage_credential(self, settings, arn)
        self.role = UnityCatalogRole(
            self,
            "uc_role",
            settings=settings,
            account_id=account_id,
            key_arn=key.target_key_arn,
            external_id=credential.aws_iam_role.external_id,
            master_role_arn=credential.aws_iam_role.unity_catalog_iam_arn,
        )
        wait = Sleep(
            self,
            "wait_for_iam",
            create_duration=f"{uc.role_propagation_seconds}s",
            triggers={"role": self.role.role.arn, "policy": self.role.policy.policy},
            depends_on=[self.role.attachment],
        )
        self.catalog = UnityCatalog(
            self,
            "unity_catalog",
            settings=settings,
            credential=credential,
            key_arn=key.target_key_arn,
            wait=[wait],
        )
        TerraformOutput(self, "uc_role_arn", value=self.role.role.arn, static_id=True)
        TerraformOutput(self, "storage_credential_name", value=credential.name, static_id=True)
        TerraformOutput(
            self,
            "storage_credential_external_id",
            value=credential.aws_iam_role.external_id,
            static_id=True,
        )
        TerraformOutput(self, "catalog_name", value=self.catalog.catalog.name, static_id=True)
        TerraformOutput(self, "schema_name", value=self.catalog.schema.name, static_id=True)
        for role, loc in self.catalog.locations.items():
            TerraformOutput(self, f"location_url_{role}", value=loc.url, static_id=True)
        for name in self.catalog.volumes:
            TerraformOutput(
                self,
                f"volume_path_{name}",
                value=volume_path(uc.catalog, uc.schema_name, name),
                static_id=True,
            )


class JobsStack(TerraformStack):
    """The Auto Loader jobs and the wheels they run."""

    def __init__(self, scope: Construct, settings: Settings, wheels: list[Wheel]) -> None:
        super().__init__(scope, naming.JOBS_STACK)
        _backend(self, settings, naming.JOBS_STACK)
        DatabricksProvider(self, "databricks")  # host and token from DATABRICKS_* env vars
        self.add_override("terraform.required_providers.databricks.version", DATABRICKS_PROVIDER)
        self.streams = StreamJobs(self, "streams", settings=settings, wheels=wheels)
        for target, job in self.streams.jobs.items():
            TerraformOutput(self, f"job_id_{target}", value=job.id, static_id=True)
        for dist, file in self.streams.files.items():
            TerraformOutput(
                self, f"wheel_{dist.replace('-', '_')}", value=file.workspace_path, static_id=True
            )


@dataclass(frozen=True)
class InfraApp:
    """The app and its stacks, so tests can synthesize each stack with Testing.synth."""

    app: App
    storage: StorageStack
    catalog: CatalogStack
    jobs: JobsStack | None = None


def build_app(
    settings: Settings, outdir: Path | str = "cdktf.out", wheels: list[Wheel] | None = None
) -> InfraApp:
    """Build (not synthesize) the app; stack traces off so the JSON is deterministic.

    The jobs stack is built when ``wheels`` are given (see :func:`jobs_wheels`)."""
    app = App(outdir=str(outdir), stack_traces=False)
    storage = StorageStack(app, settings)
    catalog = CatalogStack(app, settings)
    catalog.add_dependency(storage)
    jobs = None
    if wheels is not None:
        jobs = JobsStack(app, settings, wheels)
        jobs.add_dependency(catalog)
    return InfraApp(app=app, storage=storage, catalog=catalog, jobs=jobs)


def jobs_wheels(settings: Settings, root: Path) -> list[Wheel] | None:
    """The wheels for the jobs stack, or None when it is not synthesized (jobs.enabled)."""
    mode = settings.jobs.enabled
    if mode == "false":
        return None
    try:
        return find_or_build_wheels(root, settings.jobs.dist_dir)
    except WheelsMissing as exc:
        if mode == "true":
            raise
        print(f"note: {naming.JOBS_STACK} not synthesized: {exc.problems[0]}", file=sys.stderr)
        return None


def _drop_stale_stacks(outdir: Path, stacks: set[str]) -> None:
    """Remove stacks a previous synth wrote but this one does not (e.g. jobs left out), so
    scan, plan-review and deploy never see a stale stack. State is never in cdktf.out."""
    for old in (outdir / "stacks").glob("*"):
        if old.is_dir() and old.name not in stacks:
            shutil.rmtree(old)


def main(argv: list[str] | None = None) -> None:
    """Entry point of cdktf.json's ``app``: load the config once, synthesize every stack."""
    parser = argparse.ArgumentParser(prog="python -m sensorlake.infra.main")
    parser.add_argument("--config", type=Path, default=None, help="unity_catalog_config.yaml")
    parser.add_argument("--outdir", type=Path, default=Path("cdktf.out"))
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.config)
        wheels = jobs_wheels(settings, Path.cwd())
        infra = build_app(settings, args.outdir, wheels)
        _drop_stale_stacks(
            args.outdir, {s.node.id for s in (infra.storage, infra.catalog, infra.jobs) if s}
        )
        infra.app.synth()
    except InfraError as exc:
        exit_with(exc)


if __name__ == "__main__":
    main()
