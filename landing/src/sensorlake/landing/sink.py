"""Where landed files go: a narrow interface with three implementations.

:class:`Sink` has one operation that matters, ``put_if_absent``: create the object only if
no object exists at the key. An identical object already there counts as success (a replay
after a crash); a different one raises :class:`ObjectConflict` and is never overwritten.

- :class:`S3Sink`: create-only PUT (``If-None-Match: *``) with a SHA-256 checksum and
  object metadata; boto3's standard credential chain (refreshing temporary credentials).
- :class:`LocalLakeSink`: the same keys under a local directory (the embedded default);
  a hard link gives the same create-only semantics.
- :class:`FakeSink`: in memory, with failure injection, for tests.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Protocol

from .errors import DestinationError, DestinationUnavailable, ObjectConflict
from .failpoints import failpoint

__all__ = [
    "FakeSink",
    "LocalLakeSink",
    "ObjectInfo",
    "PutOutcome",
    "S3Sink",
    "Sink",
    "make_s3_client",
    "translate_client_error",
]


class PutOutcome(Enum):
    CREATED = "created"
    IDENTICAL = "identical"  # already there with the same sha256: a replay
    UNVERIFIED = "exists-unverified"  # already there, but we may not read it back


@dataclass(frozen=True)
class ObjectInfo:
    """What we put beside the bytes, so an object explains itself."""

    sha256: str
    size: int
    metadata: Mapping[str, str] = field(default_factory=dict)


class Sink(Protocol):
    name: str

    def put_if_absent(self, bucket: str, key: str, path: Path, info: ObjectInfo) -> PutOutcome: ...


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class LocalLakeSink:
    """``<root>/<bucket>/<key>``: identical keys to S3, on local disk."""

    name = "local"

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def put_if_absent(self, bucket: str, key: str, path: Path, info: ObjectInfo) -> PutOutcome:
        dest = self.root / bucket / key
        dest.parent.mkdir(parents=True, exist_ok=True)
        failpoint("during-upload")
        try:
            try:
                os.link(path, dest)  # atomic and create-only
            except OSError as exc:
                if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
                    raise
                tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
                shutil.copyfile(path, tmp)
                with open(tmp, "rb") as handle:
                    os.fsync(handle.fileno())
                try:
                    os.link(tmp, dest)
                finally:
                    tmp.unlink()
        except FileExistsError:
            if dest.stat().st_size == info.size and _sha256_file(dest) == info.sha256:
                return PutOutcome.IDENTICAL
            raise ObjectConflict(
                f"{dest} already exists with different content",
                hint="it was kept, and so is the spooled file; compare them before removing either",
            ) from None
        fd = os.open(dest.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        return PutOutcome.CREATED


def make_s3_client(region: str | None, endpoint_url: str | None) -> Any:
    """A boto3 S3 client on the standard credential chain with bounded, standard retries."""
    import boto3
    from botocore.config import Config

    config = Config(
        region_name=region,
        retries={"mode": "standard", "max_attempts": 4},
        connect_timeout=5,
        read_timeout=30,
        request_checksum_calculation="when_supported",
    )
    return boto3.session.Session().client("s3", endpoint_url=endpoint_url, config=config)


_CREDENTIAL_CODES = {
    "InvalidAccessKeyId": "the AWS access key id is not known",
    "SignatureDoesNotMatch": "the AWS secret key does not match the access key",
    "ExpiredToken": "the AWS session token has expired",
    "InvalidToken": "the AWS session token is invalid",
    "TokenRefreshRequired": "the AWS session token must be refreshed",
}


def translate_client_error(exc: Exception, *, bucket: str, action: str) -> Exception:
    """Map botocore failures to our error tree, with one line that says what to do."""
    from botocore import exceptions as bx

    if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError):
        return DestinationError(
            "no AWS credentials found",
            hint="set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or use an instance role",
        )
    if isinstance(exc, bx.CredentialRetrievalError | bx.TokenRetrievalError):
        return DestinationError(
            f"could not obtain AWS credentials ({exc})", hint="check your AWS profile or role"
        )
    if isinstance(
        exc,
        bx.EndpointConnectionError
        | bx.ConnectTimeoutError
        | bx.ReadTimeoutError
        | bx.ConnectionClosedError,
    ):
        return DestinationUnavailable(
            f"cannot reach S3 to {action} in {bucket} ({type(exc).__name__})",
            hint="files stay spooled and ship on the next run once the network is back",
        )
    if isinstance(exc, bx.ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in _CREDENTIAL_CODES:
            return DestinationError(
                f"S3 rejected the credentials: {_CREDENTIAL_CODES[code]}",
                hint="refresh or fix the AWS credentials; spooled files are kept",
            )
        if code == "RequestTimeTooSkewed":
            return DestinationError(
                "S3 rejected the request because this machine's clock is off by more than 15 minutes",
                hint="fix the clock (enable NTP / timedatectl set-ntp true) and rerun",
            )
        if code in ("AccessDenied", "AllAccessDisabled", "Forbidden") or status == 403:
            return DestinationError(
                f"access denied to {action} in s3://{bucket}",
                hint="the gateway's IAM policy must allow it (see infra's gateway writer policy)",
            )
        if code == "NoSuchBucket" or (status == 404 and action.startswith("check")):
            return DestinationError(
                f"bucket {bucket} does not exist",
                hint="create it (cdktf deploy) or fix S3_BUCKET_*",
            )
        if (
            code
            in (
                "PermanentRedirect",
                "AuthorizationHeaderMalformed",
                "IllegalLocationConstraintException",
            )
            or status == 301
        ):
            region = error.get("Region") or exc.response.get("ResponseMetadata", {}).get(
                "HTTPHeaders", {}
            ).get("x-amz-bucket-region")
            return DestinationError(
                f"bucket {bucket} is in another region{f' ({region})' if region else ''}",
                hint="set AWS_REGION to the bucket's region",
            )
        if status >= 500 or code in (
            "SlowDown",
            "RequestTimeout",
            "ServiceUnavailable",
            "InternalError",
            "ConditionalRequestConflict",
        ):
            return DestinationUnavailable(
                f"S3 is not accepting requests right now ({code or status})",
                hint="files stay spooled and ship on the next run",
            )
        return DestinationError(
            f"S3 refused to {action} in {bucket}: {code} {error.get('Message', '')}".strip()
        )
    return exc


class _FailpointBody:
    """File wrapper that reaches the ``during-upload`` failpoint halfway through the body."""

    def __init__(self, raw: Any, size: int) -> None:
        self._raw = raw
        self._half = size // 2
        self._sent = 0

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        self._sent += len(data)
        if self._sent > self._half > 0:
            failpoint("during-upload")
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)


class S3Sink:
    name = "s3"

    def __init__(self, client: Any) -> None:
        self.client = client

    def put_if_absent(self, bucket: str, key: str, path: Path, info: ObjectInfo) -> PutOutcome:
        from botocore import exceptions as bx

        checksum = base64.b64encode(bytes.fromhex(info.sha256)).decode()
        try:
            with open(path, "rb") as raw:
                body = _FailpointBody(raw, info.size)
                self.client.put_object(
                    Bucket=bucket,
                    Key=key,
                    Body=body,
                    IfNoneMatch="*",
                    ChecksumSHA256=checksum,
                    ChecksumAlgorithm="SHA256",
                    ContentType="application/x-ndjson",
                    Metadata={**info.metadata, "sha256": info.sha256},
                )
            return PutOutcome.CREATED
        except bx.ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code != "PreconditionFailed" and status != 412:
                raise translate_client_error(exc, bucket=bucket, action="put objects") from exc
        except bx.BotoCoreError as exc:
            raise translate_client_error(exc, bucket=bucket, action="put objects") from exc
        return self._compare_existing(bucket, key, info)

    def _compare_existing(self, bucket: str, key: str, info: ObjectInfo) -> PutOutcome:
        """The key exists: is it our replay, or someone else's object?"""
        from botocore import exceptions as bx

        try:
            head = self.client.head_object(Bucket=bucket, Key=key)
        except bx.ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if status == 403:
                # A write-only gateway identity may not read back; the key is derived from
                # the rows, so an existing object is almost surely our own earlier upload.
                return PutOutcome.UNVERIFIED
            raise translate_client_error(exc, bucket=bucket, action="check objects") from exc
        except bx.BotoCoreError as exc:
            raise translate_client_error(exc, bucket=bucket, action="check objects") from exc
        theirs = head.get("Metadata", {}).get("sha256")
        if theirs == info.sha256 and head.get("ContentLength") == info.size:
            return PutOutcome.IDENTICAL
        raise ObjectConflict(
            f"s3://{bucket}/{key} already exists with different content (sha256 {theirs or 'unknown'})",
            hint="it was not overwritten and the spooled file is kept; compare them, then remove one",
        )


@dataclass
class FakeSink:
    """In-memory sink; ``fail`` decides, per call, whether to raise (failure injection)."""

    objects: dict[tuple[str, str], bytes] = field(default_factory=dict)
    fail: Callable[[str, str], Exception | None] | None = None
    calls: int = 0
    name: str = "fake"

    def put_if_absent(self, bucket: str, key: str, path: Path, info: ObjectInfo) -> PutOutcome:
        self.calls += 1
        if self.fail is not None and (error := self.fail(bucket, key)) is not None:
            raise error
        body = Path(path).read_bytes()
        existing = self.objects.get((bucket, key))
        if existing is not None:
            if existing == body:
                return PutOutcome.IDENTICAL
            raise ObjectConflict(f"{bucket}/{key} exists with different content")
        self.objects[(bucket, key)] = body
        return PutOutcome.CREATED
