"""The Auto Loader jobs: one ``databricks_job`` per target, running the streams wheel.

Each job runs ``sensorlake-databricks-stream`` (package ``sensorlake_streams``) for one target
(raw, schematized, filtered, emergency, rejected) on serverless compute (an environment
whose dependencies are the two wheels) or, optionally, on a job cluster. A file-arrival
trigger on the target's folder in its external location starts it (emergency: the shortest
intervals Databricks allows); with file events off, a schedule does (``jobs.schedule_minutes``),
because file-arrival triggers without file events stop at 10,000 objects. One run at a time, later triggers queued, retries with a
pause, failures mailed, and it runs as the pipeline's service principal.

The wheels are uploaded as workspace files whose path holds their SHA-256: a rebuilt wheel is
a new path, so the jobs pick it up on the next deploy. The service principal's grants (READ
FILES on the locations, READ/WRITE VOLUME, USE CATALOG/SCHEMA, CREATE TABLE, MODIFY, SELECT)
are in the catalog stack, authoritative per securable; this stack adds no privilege.
"""

from __future__ import annotations

from cdktf import AssetType, TerraformAsset, TerraformResourceLifecycle
from cdktf_cdktf_provider_databricks.job import (
    Job,
    JobEmailNotifications,
    JobEnvironment,
    JobEnvironmentSpec,
    JobJobCluster,
    JobJobClusterNewCluster,
    JobQueue,
    JobRunAs,
    JobSchedule,
    JobTask,
    JobTaskLibrary,
    JobTaskPythonWheelTask,
    JobTrigger,
    JobTriggerFileArrival,
)
from cdktf_cdktf_provider_databricks.workspace_file import WorkspaceFile
from constructs import Construct

from sensorlake.contract import pipelines as contract
from sensorlake.contract.layouts import JOB_PROG, JobArgs, StreamLocations
from sensorlake.infra import naming
from sensorlake.infra.config import Settings
from sensorlake.infra.errors import ConfigError
from sensorlake.infra.wheels import Wheel

__all__ = [
    "CLUSTER_KEY",
    "ENTRY_POINT",
    "ENVIRONMENT_KEY",
    "PACKAGE_NAME",
    "StreamJobs",
    "job_arguments",
    "job_parameters",
    "quartz_every",
    "source_url",
]

PACKAGE_NAME = "sensorlake_streams"
ENTRY_POINT = JOB_PROG
ENVIRONMENT_KEY = "sensorlake"
CLUSTER_KEY = "sensorlake"


def source_url(settings: Settings, target: str) -> str:
    """The folder a target's files land in: ``s3://<bucket>/<target>/`` (inside its location)."""
    bucket = settings.bucket(contract.bucket_role(target))
    return f"{naming.location_url(bucket)}{target}/"


def quartz_every(minutes: int) -> str:
    """A Quartz cron expression (provider docs/resources/job.md, schedule block) that fires
    every ``minutes`` (a divisor of 60), on the minute."""
    return "0 0 * * * ?" if minutes == 60 else f"0 0/{minutes} * * * ?"


def job_arguments(settings: Settings, target: str) -> JobArgs:
    """One target's job parameters: the contract's :class:`JobArgs`, which the job parses
    with the same code (and dashboards read back to find the checkpoints)."""
    uc, jobs = settings.unity_catalog, settings.jobs
    catalog, schema = uc.catalog, uc.schema_name
    return JobArgs(
        target=target,
        catalog=catalog,
        schema=schema,
        locations=StreamLocations.volumes(
            catalog, schema, jobs.checkpoints_volume, jobs.schemas_volume
        ),
        source=source_url(settings, target),
        file_events=uc.file_events,
    )


def job_parameters(settings: Settings, target: str) -> list[str]:
    """The entry point's arguments for one target (``JobArgs.argv``)."""
    return job_arguments(settings, target).argv()


class StreamJobs(Construct):
    """The uploaded wheels and one job per target."""

    def __init__(
        self, scope: Construct, id_: str, *, settings: Settings, wheels: list[Wheel]
    ) -> None:
        super().__init__(scope, id_)
        jobs, uc = settings.jobs, settings.unity_catalog
        if jobs.notification_email is None:
            raise ConfigError(
                ["jobs.notification_email (SENSORLAKE_ALERT_EMAIL): where job failures are mailed"],
                "jobs",
            )
        self.files: dict[str, WorkspaceFile] = {}
        for wheel in wheels:
            key = wheel.distribution.removeprefix("sensorlake-")
            asset = TerraformAsset(self, f"{key}_wheel", path=str(wheel.path), type=AssetType.FILE)
            self.files[wheel.distribution] = WorkspaceFile(
                self,
                f"{key}_wheel_file",
                source=asset.path,
                path=wheel.workspace_path(jobs.workspace_dir),
                # a new wheel is a new path: upload it before the old one goes
                lifecycle=TerraformResourceLifecycle(create_before_destroy=True),
            )
        dependencies = [f.workspace_path for f in self.files.values()]
        serverless = jobs.compute == "serverless"
        self.jobs: dict[str, Job] = {}
        for target in contract.TARGETS:
            # File-arrival triggers without file events list the folder, and "can only
            # support cloud storage directories with fewer than 10,000 objects"
            # (docs.databricks.com/aws/en/jobs/file-arrival-triggers, Limitations; file
            # events FAQ). Landing writes a file per gateway per batch, so without file
            # events the jobs run on a schedule instead (Auto Loader then lists the folder).
            trigger = jobs.trigger(target)
            arrival = (
                JobTrigger(
                    pause_status="UNPAUSED",
                    file_arrival=JobTriggerFileArrival(
                        url=source_url(settings, target),
                        min_time_between_triggers_seconds=trigger.min_time_between_triggers_seconds,
                        wait_after_last_change_seconds=trigger.wait_after_last_change_seconds,
                    ),
                )
                if uc.file_events
                else None
            )
            schedule = (
                None
                if uc.file_events
                else JobSchedule(
                    quartz_cron_expression=quartz_every(jobs.schedule(target)),
                    timezone_id="UTC",
                    pause_status="UNPAUSED",
                )
            )
            task = JobTask(
                task_key=f"stream_{target}",
                python_wheel_task=JobTaskPythonWheelTask(
                    package_name=PACKAGE_NAME,
                    entry_point=ENTRY_POINT,
                    parameters=job_parameters(settings, target),
                ),
                environment_key=ENVIRONMENT_KEY if serverless else None,
                job_cluster_key=None if serverless else CLUSTER_KEY,
                library=None if serverless else [JobTaskLibrary(whl=d) for d in dependencies],
                max_retries=jobs.max_retries,
                min_retry_interval_millis=jobs.min_retry_interval_millis,
                retry_on_timeout=False,
            )
            self.jobs[target] = Job(
                self,
                f"job_{target}",
                name=contract.job_name(target),
                description=f"sensorlake: Auto Loader stream of the {target} files",
                max_concurrent_runs=1,
                queue=JobQueue(enabled=True),
                run_as=JobRunAs(service_principal_name=uc.service_principal),
                email_notifications=JobEmailNotifications(on_failure=[jobs.notification_email]),
                trigger=arrival,
                schedule=schedule,
                environment=(
                    [
                        JobEnvironment(
                            environment_key=ENVIRONMENT_KEY,
                            spec=JobEnvironmentSpec(
                                environment_version=jobs.environment_version,
                                dependencies=dependencies,
                            ),
                        )
                    ]
                    if serverless
                    else None
                ),
                job_cluster=(
                    None
                    if serverless
                    else [
                        JobJobCluster(
                            job_cluster_key=CLUSTER_KEY,
                            new_cluster=JobJobClusterNewCluster(
                                spark_version=jobs.cluster.spark_version,
                                node_type_id=jobs.cluster.node_type_id,
                                num_workers=jobs.cluster.num_workers,
                                data_security_mode="SINGLE_USER",
                                single_user_name=uc.service_principal,
                            ),
                        )
                    ]
                ),
                task=[task],
                tags=dict(settings.tags),
            )
