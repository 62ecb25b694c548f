"""``sensorlake validate``: can this gateway land in every configured bucket?

Landing fails late and far from the operator (a cron job, a spool that grows), so this
check does the same things landing does, once, up front, and says what to fix:

- identity: STS GetCallerIdentity, once (account and ARN only, never secrets);
- bucket: exists and is in the region we talk to (GetBucketLocation, which the gateway
  policy allows; HeadBucket only as a fallback, since it needs s3:ListBucket);
- probe: a create-only put (``If-None-Match: *`` and a SHA-256 checksum, like landing), a
  get that must return the same bytes, and a delete, under ``_sensorlake/probe/`` — the
  only prefix the gateway IAM policy lets us read and delete (infra expires it too);
- versioning and default encryption are reported, not required: without the permission
  they read "unknown (not permitted)".

The result is a plain dict (JSON as is) and ``ok`` is true only when every check passed.
Failures are one line from :func:`s3.translate_client_error`, never a traceback.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from sensorlake.contract.pipelines import PROBE_PREFIX

from .config import LandingConfig
from .errors import TransientError
from .s3 import make_client, translate_client_error

__all__ = ["NOT_PERMITTED", "render_checks", "run_checks"]
NOT_PERMITTED = "unknown (not permitted)"
_DENIED = {"AccessDenied", "AllAccessDisabled", "Forbidden", "403"}


def _aws_errors() -> tuple[type[Exception], ...]:
    from botocore.exceptions import BotoCoreError, ClientError

    return (BotoCoreError, ClientError)


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def _explain(exc: Exception, *, bucket: str, action: str) -> str:
    """One line for a botocore failure: what happened and what to do."""
    from botocore.exceptions import ClientError

    code = _code(exc)
    if code == "SignatureDoesNotMatch" and "expired" in str(exc).lower():
        code = "RequestTimeTooSkewed"  # how STS reports clock skew
    elif code == "InvalidClientTokenId":
        code = "InvalidAccessKeyId"  # STS's name for an unknown access key
    if code != _code(exc):
        exc = ClientError({"Error": {"Code": code}}, "GetCallerIdentity")
    return str(translate_client_error(exc, bucket=bucket, action=action))


def _check(name: str, ok: bool, detail: str) -> dict[str, Any]:
    return {"name": name, "ok": ok, "detail": detail}


def _location_region(constraint: str | None) -> str:
    """GetBucketLocation's odd encodings: empty means us-east-1, EU means eu-west-1."""
    return {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}.get(constraint, constraint or "")


def _bucket_region(client: Any, bucket: str) -> tuple[str | None, str | None]:
    """(region or None if unknown, failure message or None)."""
    errors = _aws_errors()
    try:
        location = client.get_bucket_location(Bucket=bucket)
        return _location_region(location.get("LocationConstraint")), None
    except errors as exc:
        if _code(exc) not in _DENIED:
            return None, _explain(exc, bucket=bucket, action="check the bucket")
    try:  # GetBucketLocation not permitted: HeadBucket tells existence and region
        head = client.head_bucket(Bucket=bucket)
    except errors as exc:
        response = getattr(exc, "response", None) or {}
        headers = response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
        if _code(exc) in _DENIED and headers.get("x-amz-bucket-region"):
            return headers["x-amz-bucket-region"], None  # exists; we may just not list it
        return None, _explain(exc, bucket=bucket, action="check the bucket")
    headers = head.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    return head.get("BucketRegion") or headers.get("x-amz-bucket-region"), None


def _probe(client: Any, bucket: str, gateway: str) -> list[dict[str, Any]]:
    """Put, get and delete one small object under the probe prefix."""
    errors = _aws_errors()
    key = f"{PROBE_PREFIX}/{gateway}-{secrets.token_hex(8)}"
    now = datetime.now(UTC).isoformat(timespec="seconds")
    body = f"sensorlake validate probe from {gateway} at {now}\n".encode()
    checksum = base64.b64encode(hashlib.sha256(body).digest()).decode()
    where = f"s3://{bucket}/{key}"
    try:
        client.put_object(
            Bucket=bucket, Key=key, Body=body, IfNoneMatch="*", ChecksumSHA256=checksum
        )
    except errors as exc:
        return [_check("probe put", False, _explain(exc, bucket=bucket, action="put objects"))]
    checks = [_check("probe put", True, f"created {where} (create-only, SHA-256 checksum)")]
    try:
        got = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except errors as exc:
        checks.append(
            _check("probe get", False, _explain(exc, bucket=bucket, action="read the probe"))
        )
    else:
        same = got == body
        detail = f"read back {len(got)} bytes" + (
            "" if same else f", expected {len(body)} identical bytes"
        )
        checks.append(_check("probe get", same, detail))
    try:
        client.delete_object(Bucket=bucket, Key=key)
    except errors as exc:
        message = _explain(exc, bucket=bucket, action="delete the probe")
        checks.append(_check("probe delete", False, f"{message} ({where} is left behind)"))
    else:
        checks.append(_check("probe delete", True, f"deleted {where}"))
    return checks


def _optional(client: Any, bucket: str, read: Any) -> str:
    """A report-only setting: a missing permission is not a failure."""
    errors = _aws_errors()
    try:
        return read()
    except errors as exc:
        code = _code(exc)
        if code in _DENIED:
            return NOT_PERMITTED
        if code == "ServerSideEncryptionConfigurationNotFoundError":
            return "none"
        return f"unknown ({_explain(exc, bucket=bucket, action='read bucket settings')})"


def _versioning(client: Any, bucket: str) -> str:
    def read() -> str:
        status = client.get_bucket_versioning(Bucket=bucket).get("Status")
        return str(status).lower() if status else "disabled"

    return _optional(client, bucket, read)


def _encryption(client: Any, bucket: str) -> str:
    def read() -> str:
        config = client.get_bucket_encryption(Bucket=bucket)
        rules = config.get("ServerSideEncryptionConfiguration", {}).get("Rules", [])
        default = rules[0].get("ApplyServerSideEncryptionByDefault", {}) if rules else {}
        algorithm = default.get("SSEAlgorithm")
        if not algorithm:
            return "none"
        if algorithm.startswith("aws:kms"):
            name = "DSSE-KMS" if algorithm == "aws:kms:dsse" else "SSE-KMS"
            key = default.get("KMSMasterKeyID")
            return f"{name} ({key})" if key else f"{name} (aws/s3 key)"
        return str(algorithm)

    return _optional(client, bucket, read)


def _identity(sts: Any) -> tuple[dict[str, str] | None, str | None, bool]:
    """(identity, failure message, credentials missing)."""
    from botocore import exceptions as bx

    try:
        who = sts.get_caller_identity()
    except _aws_errors() as exc:
        missing = isinstance(
            exc,
            bx.NoCredentialsError | bx.PartialCredentialsError | bx.CredentialRetrievalError,
        )
        if isinstance(translate_client_error(exc, bucket="", action=""), TransientError):
            return (
                None,
                f"cannot reach AWS STS to identify the caller ({type(exc).__name__}). "
                "check the network, or AWS_ENDPOINT_URL if you set it",
                False,
            )
        return None, _explain(exc, bucket="STS", action="identify the caller"), missing
    return {"account": who.get("Account", ""), "arn": who.get("Arn", "")}, None, False


def run_checks(
    config: LandingConfig, *, client: Any = None, sts_client: Any = None
) -> dict[str, Any]:
    """Check every configured bucket; a JSON-able report whose ``ok`` is the exit status."""
    if config.s3 is None:
        raise ValueError("run_checks needs S3 buckets in the configuration")
    s3 = config.s3
    client = client or make_client("s3", s3.region, s3.endpoint_url)
    region = s3.region or client.meta.region_name or "us-east-1"
    sts_client = sts_client or make_client("sts", region, s3.sts_endpoint_url)
    identity, identity_error, no_credentials = _identity(sts_client)
    if identity is not None:
        identity_check = _check(
            "identity", True, f"account {identity['account']} as {identity['arn']}"
        )
    else:
        identity_check = _check("identity", False, identity_error or "unknown caller")

    buckets = []
    for pipeline in config.pipelines:
        bucket = s3.buckets[pipeline]
        entry: dict[str, Any] = {
            "pipeline": pipeline,
            "bucket": bucket,
            "checks": [identity_check],
            "versioning": None,
            "encryption": None,
        }
        buckets.append(entry)
        if no_credentials:
            continue  # every S3 call would fail the same way
        where, failure = _bucket_region(client, bucket)
        if failure is not None:
            entry["checks"].append(_check("bucket", False, failure))
            continue
        if where and where != region:
            detail = f"bucket {bucket} is in {where}, set AWS_REGION={where}"
            entry["checks"].append(_check("bucket", False, detail))
        else:
            entry["checks"].append(_check("bucket", True, f"exists in {where or region}"))
        entry["checks"].extend(_probe(client, bucket, config.gateway_id))
        entry["versioning"] = _versioning(client, bucket)
        entry["encryption"] = _encryption(client, bucket)

    ok = identity is not None and all(c["ok"] for b in buckets for c in b["checks"])
    return {"ok": ok, "identity": identity, "region": region, "buckets": buckets}


def render_checks(report: dict[str, Any], console: Console) -> None:
    """The report as a table: one row per check, then the settings, then a verdict."""
    identity = report.get("identity")
    who = f"{identity['arn']} (account {identity['account']})" if identity else "unknown"
    table = Table(title=f"sensorlake validate: {who}, region {report.get('region')}")
    for column in ("Pipeline", "Bucket", "Check", "Result", "Detail"):
        table.add_column(column, overflow="fold")
    for entry in report["buckets"]:
        for i, check in enumerate(entry["checks"]):
            first = i == 0
            table.add_row(
                entry["pipeline"] if first else "",
                entry["bucket"] if first else "",
                check["name"],
                "[green]ok[/]" if check["ok"] else "[red]FAILED[/]",
                check["detail"],
            )
        for setting in ("versioning", "encryption"):
            if entry.get(setting) is not None:
                table.add_row("", "", setting, "[dim]info[/]", str(entry[setting]))
        table.add_section()
    console.print(table)
    failed = len(
        {(c["name"], c["detail"]) for b in report["buckets"] for c in b["checks"] if not c["ok"]}
    )
    if report["ok"]:
        console.print("[green]All checks passed.[/]")
    else:
        console.print(
            f"[red]{failed} check(s) failed.[/] Fix them and run sensorlake validate again."
        )
