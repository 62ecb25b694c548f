"""``sensorlake validate``: run_checks against moto in-process, and the CLI's exit codes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore import exceptions as bx
from click.testing import CliRunner
from moto import mock_aws
from rich.console import Console

from sensorlake.contract.cli import main
from sensorlake.landing.bucket_checks import NOT_PERMITTED, PROBE_PREFIX, render_checks, run_checks
from sensorlake.landing.config import LandingConfig, load_config
from sensorlake.landing.s3 import make_client

pytestmark = pytest.mark.s3_access

BUCKETS = {
    "S3_BUCKET_RAW": "sl-probe-raw",
    "S3_BUCKET_SCHEMATIZED": "sl-probe-schematized",
    "S3_BUCKET_FILTERED": "sl-probe-filtered",
    "S3_BUCKET_EMERGENCY": "sl-probe-emergency",
}
CHECKS = ["identity", "bucket", "probe put", "probe get", "probe delete"]


def _config(tmp_path: Path, **env: str) -> LandingConfig:
    return load_config(
        env={**BUCKETS, "AWS_REGION": "us-east-1", **env},
        db_path=tmp_path / "db",
        state_dir=tmp_path / "state",
        gateway_id="gw-probe",
    )


@pytest.fixture
def s3(fake_credentials: None) -> Iterator[Any]:
    """moto with all four buckets but the one a test removes."""
    with mock_aws():
        client = make_client("s3", "us-east-1", None)
        for name in BUCKETS.values():
            client.create_bucket(Bucket=name)
        yield client


class _Denying:
    """A real (moto) client whose named operations answer like IAM would: 403."""

    def __init__(self, client: Any, *denied: str, code: str = "AccessDenied") -> None:
        self._client, self._denied, self._code = client, set(denied), code

    def __getattr__(self, name: str) -> Any:
        if name in self._denied:

            def deny(**_: Any) -> Any:
                raise bx.ClientError(
                    {
                        "Error": {"Code": self._code, "Message": "Access Denied"},
                        "ResponseMetadata": {"HTTPStatusCode": 403, "HTTPHeaders": {}},
                    },
                    name,
                )

            return deny
        return getattr(self._client, name)


def _by_pipeline(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["pipeline"]: entry for entry in report["buckets"]}


def _check(entry: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [c for c in entry["checks"] if c["name"] == name]
    return found


# -- run_checks ------------------------------------------------------------------------------


def test_all_checks_pass_for_four_buckets(s3: Any, tmp_path: Path) -> None:
    report = run_checks(_config(tmp_path))
    assert report["ok"] is True
    assert report["region"] == "us-east-1"
    assert report["identity"]["account"] == "123456789012"
    assert report["identity"]["arn"].startswith("arn:aws:")
    assert [e["bucket"] for e in report["buckets"]] == list(BUCKETS.values())
    for entry in report["buckets"]:
        assert [c["name"] for c in entry["checks"]] == CHECKS
        assert all(c["ok"] for c in entry["checks"]), entry
        assert entry["versioning"] == "disabled"
        assert entry["encryption"] == "none"
        assert (
            f"s3://{entry['bucket']}/{PROBE_PREFIX}/gw-probe-"
            in _check(entry, "probe put")["detail"]
        )
        leftovers = s3.list_objects_v2(Bucket=entry["bucket"], Prefix=f"{PROBE_PREFIX}/")
        assert leftovers.get("KeyCount", 0) == 0, "the probe object is deleted"
    assert json.loads(json.dumps(report)) == report
    assert "testing" not in json.dumps(report), "no secret in the report"


def test_missing_bucket_fails_with_clear_detail(s3: Any, tmp_path: Path) -> None:
    s3.delete_bucket(Bucket="sl-probe-filtered")
    report = run_checks(_config(tmp_path))
    assert report["ok"] is False
    entries = _by_pipeline(report)
    bucket = _check(entries["filtered"], "bucket")
    assert bucket["ok"] is False
    assert "bucket sl-probe-filtered does not exist" in bucket["detail"]
    assert [c["name"] for c in entries["filtered"]["checks"]] == ["identity", "bucket"]
    for pipeline in ("raw", "schematized", "emergency"):
        assert all(c["ok"] for c in entries[pipeline]["checks"])


def test_wrong_region_says_which_region_to_set(s3: Any, tmp_path: Path) -> None:
    eu = make_client("s3", "eu-west-1", None)
    s3.delete_bucket(Bucket="sl-probe-raw")
    eu.create_bucket(
        Bucket="sl-probe-raw", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    report = run_checks(_config(tmp_path))
    assert report["ok"] is False
    bucket = _check(_by_pipeline(report)["raw"], "bucket")
    assert bucket["ok"] is False
    assert bucket["detail"] == "bucket sl-probe-raw is in eu-west-1, set AWS_REGION=eu-west-1"
    assert run_checks(_config(tmp_path, AWS_REGION="eu-west-1"))["region"] == "eu-west-1"


def test_versioning_and_encryption_reported(s3: Any, tmp_path: Path) -> None:
    s3.put_bucket_versioning(Bucket="sl-probe-raw", VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_versioning(
        Bucket="sl-probe-filtered", VersioningConfiguration={"Status": "Suspended"}
    )
    kms = {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "alias/sensorlake-landing"}
    for bucket, default in (
        ("sl-probe-raw", kms),
        ("sl-probe-schematized", {"SSEAlgorithm": "AES256"}),
    ):
        s3.put_bucket_encryption(
            Bucket=bucket,
            ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": default}]
            },
        )
    report = run_checks(_config(tmp_path))
    assert report["ok"] is True
    entries = _by_pipeline(report)
    assert entries["raw"]["versioning"] == "enabled"
    assert entries["filtered"]["versioning"] == "suspended"
    assert entries["raw"]["encryption"] == "SSE-KMS (alias/sensorlake-landing)"
    assert entries["schematized"]["encryption"] == "AES256"
    assert entries["emergency"]["encryption"] == "none"


def test_settings_not_permitted_are_reported_not_failed(s3: Any, tmp_path: Path) -> None:
    client = _Denying(s3, "get_bucket_versioning", "get_bucket_encryption")
    report = run_checks(_config(tmp_path), client=client)
    assert report["ok"] is True
    for entry in report["buckets"]:
        assert entry["versioning"] == NOT_PERMITTED
        assert entry["encryption"] == NOT_PERMITTED


def test_location_not_permitted_falls_back_to_head_bucket(s3: Any, tmp_path: Path) -> None:
    report = run_checks(_config(tmp_path), client=_Denying(s3, "get_bucket_location"))
    assert report["ok"] is True
    assert all(_check(e, "bucket")["detail"] == "exists in us-east-1" for e in report["buckets"])


def test_probe_delete_denied_fails_and_names_the_object(s3: Any, tmp_path: Path) -> None:
    report = run_checks(_config(tmp_path), client=_Denying(s3, "delete_object"))
    assert report["ok"] is False
    delete = _check(_by_pipeline(report)["raw"], "probe delete")
    assert delete["ok"] is False
    assert "access denied" in delete["detail"]
    assert f"s3://sl-probe-raw/{PROBE_PREFIX}/gw-probe-" in delete["detail"]
    assert _check(_by_pipeline(report)["raw"], "probe get")["ok"] is True


def test_probe_put_denied_stops_the_probe(s3: Any, tmp_path: Path) -> None:
    report = run_checks(_config(tmp_path), client=_Denying(s3, "put_object"))
    assert report["ok"] is False
    raw = _by_pipeline(report)["raw"]
    assert [c["name"] for c in raw["checks"]] == ["identity", "bucket", "probe put"]
    assert "access denied to put objects in s3://sl-probe-raw" in _check(raw, "probe put")["detail"]


def test_probe_get_must_return_the_same_bytes(s3: Any, tmp_path: Path) -> None:
    class Corrupting(_Denying):
        def get_object(self, **kwargs: Any) -> Any:
            got = self._client.get_object(**kwargs)
            got["Body"] = _Body(got["Body"].read()[:-1] + b"?")
            return got

    report = run_checks(_config(tmp_path), client=Corrupting(s3))
    assert report["ok"] is False
    assert _check(_by_pipeline(report)["raw"], "probe get")["ok"] is False


class _Body:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def read(self) -> bytes:
        return self._data


class _FailingSts:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def get_caller_identity(self) -> Any:
        raise self.error


def _sts_error(code: str, message: str, status: int = 403) -> bx.ClientError:
    return bx.ClientError(
        {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        "GetCallerIdentity",
    )


@pytest.mark.parametrize(
    ("error", "needle"),
    [
        (
            _sts_error(
                "SignatureDoesNotMatch",
                "Signature expired: 20260101T000000Z is now earlier than 20260101T001500Z",
            ),
            "clock is off by more than 15 minutes",
        ),
        (
            _sts_error(
                "InvalidClientTokenId", "The security token included in the request is invalid."
            ),
            "access key id is not known",
        ),
        (
            _sts_error(
                "ExpiredToken", "The security token included in the request is expired", 400
            ),
            "session token has expired",
        ),
        (
            bx.EndpointConnectionError(endpoint_url="https://sts.us-east-1.amazonaws.com"),
            "cannot reach AWS STS",
        ),
    ],
)
def test_identity_failures_are_explained(
    s3: Any, tmp_path: Path, error: Exception, needle: str
) -> None:
    report = run_checks(_config(tmp_path), sts_client=_FailingSts(error))
    assert report["ok"] is False
    assert report["identity"] is None
    for entry in report["buckets"]:
        assert needle in _check(entry, "identity")["detail"]
        assert [c["name"] for c in entry["checks"]] == CHECKS, "S3 is still checked"


def test_no_credentials_is_a_clear_failure(tmp_path: Path, no_credentials: None) -> None:
    report = run_checks(_config(tmp_path))
    assert report["ok"] is False
    assert report["identity"] is None
    for entry in report["buckets"]:
        assert [c["name"] for c in entry["checks"]] == ["identity"], "S3 is not even tried"
        assert "no AWS credentials found" in entry["checks"][0]["detail"]
    console = Console(record=True, width=200)
    render_checks(report, console)
    text = console.export_text()
    assert "no AWS credentials found" in text
    assert "1 check(s) failed" in text


def test_render_checks_shows_every_bucket_and_the_verdict(s3: Any, tmp_path: Path) -> None:
    report = run_checks(_config(tmp_path))
    console = Console(record=True, width=240)
    render_checks(report, console)
    text = console.export_text()
    for name in BUCKETS.values():
        assert name in text
    assert "123456789012" in text
    assert "All checks passed." in text


# -- the CLI ---------------------------------------------------------------------------------


@pytest.fixture
def bucket_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in BUCKETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_REGION", "us-east-1")


def test_cli_validate_json_exit_0(s3: Any, bucket_env: None) -> None:
    result = CliRunner().invoke(main, ["validate", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert len(report["buckets"]) == 4


def test_cli_validate_table_exit_0(s3: Any, bucket_env: None) -> None:
    result = CliRunner().invoke(main, ["validate"])
    assert result.exit_code == 0, result.output
    assert "All checks passed" in result.stdout


def test_cli_validate_exit_4_when_a_bucket_is_missing(s3: Any, bucket_env: None) -> None:
    s3.delete_bucket(Bucket="sl-probe-emergency")
    result = CliRunner().invoke(main, ["validate", "--json"])
    assert result.exit_code == 4, result.output
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert "sl-probe-emergency does not exist" in json.dumps(report)


def test_cli_validate_only_chosen_pipelines(s3: Any, bucket_env: None) -> None:
    s3.delete_bucket(Bucket="sl-probe-emergency")
    result = CliRunner().invoke(main, ["validate", "--json", "--pipelines", "raw"])
    assert result.exit_code == 0, result.output
    assert [e["pipeline"] for e in json.loads(result.stdout)["buckets"]] == ["raw"]


def test_cli_validate_exit_2_without_buckets(fake_credentials: None) -> None:
    result = CliRunner().invoke(main, ["validate", "--json"])
    assert result.exit_code == 2, result.output
    assert "no S3 bucket is configured" in result.stderr
