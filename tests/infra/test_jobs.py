"""The jobs stack: one Auto Loader job per target, running the streams wheel."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from sensorlake.contract.layouts import JobArgs
from sensorlake.infra.errors import ConfigError
from sensorlake.infra.stacks.jobs import job_arguments
from sensorlake.infra.wheels import PACKAGES, WheelsMissing, find_or_build_wheels
from tests.infra.conftest import Synth, resources

JOBS = "sensorlake-jobs"
TARGETS = ("raw", "schematized", "filtered", "emergency", "rejected")
REPO = Path(__file__).resolve().parents[2]


def _jobs(synthesized: Synth) -> dict[str, dict[str, Any]]:
    return {j["name"]: j for j in resources(synthesized.docs[JOBS], "databricks_job").values()}


@pytest.mark.synth
def test_one_serverless_job_per_target_running_the_wheel(synthesized: Synth) -> None:
    s = synthesized.settings
    jobs = _jobs(synthesized)
    assert set(jobs) == {f"sensorlake-{t}" for t in TARGETS}
    files = resources(synthesized.docs[JOBS], "databricks_workspace_file")
    deps = sorted(f"${{databricks_workspace_file.{k}.workspace_path}}" for k in files)
    for target in TARGETS:
        job = jobs[f"sensorlake-{target}"]
        (task,) = job["task"]
        bucket = s.bucket("schematized" if target == "rejected" else target)
        assert task["python_wheel_task"] == {
            "package_name": "sensorlake_streams",
            "entry_point": "sensorlake-databricks-stream",
            "parameters": [
                "--target", target,
                "--catalog", "sensor_data_catalog",
                "--schema", "sensor_pipeline",
                "--checkpoints", "/Volumes/sensor_data_catalog/sensor_pipeline/autoloader_checkpoints",
                "--schemas", "/Volumes/sensor_data_catalog/sensor_pipeline/autoloader_schemas",
                "--source", f"s3://{bucket}/{target}/",
                "--file-events",
            ],
        }  # fmt: skip
        # What infra deployed is what the job (and dashboards) parse back: one JobArgs.
        parsed = JobArgs.parse(task["python_wheel_task"]["parameters"])
        assert parsed == job_arguments(s, target)
        assert parsed.locations.checkpoint("t").startswith(parsed.locations.checkpoints + "/")
        assert task["environment_key"] == "sensorlake" and "job_cluster_key" not in task
        (env,) = job["environment"]
        assert env["spec"]["environment_version"] == "3"
        assert sorted(env["spec"]["dependencies"]) == deps
        assert (task["max_retries"], task["min_retry_interval_millis"]) == (3, 60000)
        assert job["max_concurrent_runs"] == 1 and job["queue"] == {"enabled": True}
        assert job["run_as"] == {"service_principal_name": s.unity_catalog.service_principal}
        assert job["email_notifications"] == {"on_failure": ["sensorlake-alerts@example.com"]}
        arrival = job["trigger"]["file_arrival"]
        assert arrival["url"] == f"s3://{bucket}/{target}/"
        assert job["trigger"]["pause_status"] == "UNPAUSED"
        fastest = target == "emergency"
        assert arrival["min_time_between_triggers_seconds"] == (60 if fastest else 300)
        assert arrival["wait_after_last_change_seconds"] == (60 if fastest else 120)


@pytest.mark.synth
def test_trigger_urls_are_inside_the_external_locations(synthesized: Synth) -> None:
    urls = {
        loc["url"]
        for loc in resources(
            synthesized.docs["sensorlake-catalog"], "databricks_external_location"
        ).values()
    }
    for job in _jobs(synthesized).values():
        assert any(job["trigger"]["file_arrival"]["url"].startswith(u) for u in urls)


@pytest.mark.synth
def test_wheels_are_uploaded_under_their_sha256(synthesized: Synth) -> None:
    files = resources(synthesized.docs[JOBS], "databricks_workspace_file").values()
    by_name = {Path(f["path"]).name: f for f in files}
    for wheel in synthesized.wheels:
        f = by_name[wheel.filename]
        assert f["path"] == f"/Shared/sensorlake/wheels/{wheel.sha256[:16]}/{wheel.filename}"
        asset = synthesized.outdir / "stacks" / JOBS / f["source"]
        assert asset.read_bytes() == wheel.path.read_bytes()  # the wheel itself is shipped


@pytest.mark.synth
def test_the_run_as_principal_has_exactly_the_grants_the_jobs_need(synthesized: Synth) -> None:
    sp = synthesized.settings.unity_catalog.service_principal
    grants = resources(synthesized.docs["sensorlake-catalog"], "databricks_grants").values()
    held: dict[str, set[str]] = {}
    for g in grants:
        securable = next(k for k in g if k not in ("grant", "//"))
        for grant in g["grant"]:
            if grant["principal"] == sp:
                held.setdefault(securable, set()).update(grant["privileges"])
    assert held == {
        "catalog": {"USE_CATALOG"},
        "schema": {"USE_SCHEMA", "CREATE_TABLE", "MODIFY", "SELECT"},
        "external_location": {"READ_FILES"},
        "volume": {"READ_VOLUME", "WRITE_VOLUME"},
    }
    assert "databricks_grants" not in synthesized.docs[JOBS].get("resource", {})


@pytest.mark.synth
def test_job_cluster_option_and_no_file_events(synthesized: Synth) -> None:
    from cdktf import App, Testing

    from sensorlake.infra.main import JobsStack

    s = synthesized.settings
    jobs = s.jobs.model_copy(update={"compute": "job_cluster"})
    uc = s.unity_catalog.model_copy(update={"file_events": False})
    settings = s.model_copy(update={"jobs": jobs, "unity_catalog": uc})
    doc = json.loads(
        Testing.synth(JobsStack(App(stack_traces=False), settings, synthesized.wheels))
    )
    for job in resources(doc, "databricks_job").values():
        (task,) = job["task"]
        assert "environment" not in job and task["job_cluster_key"] == "sensorlake"
        assert len(task["library"]) == 2 and all("whl" in lib for lib in task["library"])
        (cluster,) = job["job_cluster"]
        assert cluster["new_cluster"]["single_user_name"] == uc.service_principal
        assert task["python_wheel_task"]["parameters"][-1] == "--no-file-events"


@pytest.mark.synth
def test_without_file_events_the_jobs_run_on_a_schedule(synthesized: Synth) -> None:
    """Old: file-arrival triggers without file events, which "could only support cloud
    storage directories with fewer than 10,000 objects" (Databricks file-events FAQ / blog;
    docs.databricks.com/aws/en/jobs/file-arrival-triggers, Limitations); landing writes a
    file per gateway per batch. Schedule block: provider docs/resources/job.md (Quartz cron,
    Java timezone id)."""
    from cdktf import App, Testing

    from sensorlake.infra.main import JobsStack

    s = synthesized.settings
    uc = s.unity_catalog.model_copy(update={"file_events": False})
    jobs = s.jobs.model_copy(update={"schedule_minutes": {"raw": 30}})
    settings = s.model_copy(update={"jobs": jobs, "unity_catalog": uc})
    doc = json.loads(
        Testing.synth(JobsStack(App(stack_traces=False), settings, synthesized.wheels))
    )
    every = {"raw": "0 0/30 * * * ?", "emergency": "0 0/1 * * * ?"}
    for job in resources(doc, "databricks_job").values():
        target = job["name"].removeprefix("sensorlake-")
        assert "trigger" not in job
        assert job["schedule"] == {
            "quartz_cron_expression": every.get(target, "0 0/15 * * * ?"),
            "timezone_id": "UTC",
            "pause_status": "UNPAUSED",
        }
    # with file events (the default), file arrival and no schedule
    for job in _jobs(synthesized).values():
        assert "schedule" not in job and "file_arrival" in job["trigger"]


def test_schedule_minutes_must_divide_an_hour() -> None:
    from sensorlake.infra.config import EXAMPLE_CONFIG, load_settings
    from sensorlake.infra.stacks.jobs import quartz_every

    s = load_settings(EXAMPLE_CONFIG, env={})
    raw = {**s.model_dump(by_alias=True), "jobs": {"schedule_minutes": {"raw": 7}}}
    with pytest.raises(Exception, match=r"jobs.schedule_minutes.raw: 7 must divide an hour"):
        type(s).model_validate(raw)
    assert quartz_every(60) == "0 0 * * * ?" and quartz_every(5) == "0 0/5 * * * ?"


def test_a_missing_wheel_without_sources_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(WheelsMissing) as err:
        find_or_build_wheels(tmp_path, "dist")
    text = str(err.value)
    assert "no sensorlake-streams wheel" in text and "uv build --package sensorlake-streams" in text
    assert not (tmp_path / "dist").exists()  # nothing was built


def test_a_missing_wheel_is_built_with_uv(tmp_path: Path) -> None:
    if shutil.which("uv") is None:
        pytest.skip("uv is not on PATH")
    (wheel,) = find_or_build_wheels(
        REPO, str(tmp_path / "dist"), {"sensorlake-contract": PACKAGES["sensorlake-contract"]}
    )
    assert wheel.path.parent == tmp_path / "dist" and wheel.filename.endswith(".whl")
    assert wheel.filename.startswith("sensorlake_contract-")
    again = find_or_build_wheels(
        REPO, str(tmp_path / "dist"), {"sensorlake-contract": PACKAGES["sensorlake-contract"]}
    )
    assert again[0].sha256 == wheel.sha256  # found, not rebuilt


def test_jobs_enabled_modes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from sensorlake.infra.config import EXAMPLE_CONFIG, load_settings
    from sensorlake.infra.main import jobs_wheels

    s = load_settings(EXAMPLE_CONFIG, env={})
    assert jobs_wheels(s, tmp_path) is None  # auto, nothing to ship: left out, said so
    assert "sensorlake-jobs not synthesized" in capsys.readouterr().err
    strict = s.model_copy(update={"jobs": s.jobs.model_copy(update={"enabled": "true"})})
    with pytest.raises(WheelsMissing):
        jobs_wheels(strict, tmp_path)
    off = s.model_copy(update={"jobs": s.jobs.model_copy(update={"enabled": "false"})})
    assert jobs_wheels(off, tmp_path) is None


def test_notification_address_is_required(tmp_path: Path) -> None:
    from cdktf import App

    from sensorlake.infra.config import EXAMPLE_CONFIG, load_settings
    from sensorlake.infra.main import JobsStack
    from tests.infra.conftest import fixture_wheels

    s = load_settings(EXAMPLE_CONFIG, env={})
    s = s.model_copy(update={"jobs": s.jobs.model_copy(update={"notification_email": None})})
    with pytest.raises(ConfigError, match="SENSORLAKE_ALERT_EMAIL"):
        JobsStack(App(stack_traces=False), s, fixture_wheels(tmp_path))


def test_a_stack_left_out_is_removed_from_cdktf_out(tmp_path: Path) -> None:
    from sensorlake.infra.main import _drop_stale_stacks

    for stack in ("sensorlake-storage", "sensorlake-jobs"):
        (tmp_path / "stacks" / stack).mkdir(parents=True)
        (tmp_path / "stacks" / stack / "cdk.tf.json").write_text("{}")
    _drop_stale_stacks(tmp_path, {"sensorlake-storage", "sensorlake-catalog"})
    assert [p.name for p in (tmp_path / "stacks").iterdir()] == ["sensorlake-storage"]
