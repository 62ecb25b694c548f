"""The S3 adapter: clients, the create-only sink, and AWS errors in our terms.

- :func:`make_client`: boto3 on the standard credential chain (refreshing temporary
  credentials), bounded standard retries, short timeouts.
- :class:`S3Sink`: a create-only PUT (``If-None-Match: *``) with a SHA-256 checksum and the
  contract's object metadata. A 412 means the key exists: HEAD tells a replay (same bytes,
  or same content checksum) from a conflict.
- :func:`translate_client_error`: botocore failures to :mod:`errors`, by a table read top
  down, each entry one line that says what to do.

boto3 is imported only when a client is made or an error translated: a run with nothing to
ship never loads it.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import DestinationError, DestinationUnavailable, LandingError
from .failpoints import Failpoints
from .files import LandedFile
from .sink import PutOutcome, existing_outcome

__all__ = ["S3Sink", "make_client", "translate_client_error"]


def make_client(service: str, region: str | None, endpoint_url: str | None) -> Any:
    """A boto3 client (``s3`` or ``sts``) with bounded, standard retries."""
    import boto3
    from botocore.config import Config

    config = Config(
        region_name=region,
        retries={"mode": "standard", "max_attempts": 4},
        connect_timeout=5,
        read_timeout=30,
        request_checksum_calculation="when_supported",
    )
    return boto3.session.Session().client(service, endpoint_url=endpoint_url, config=config)


# -- errors ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Rule:
    """One row of the translation table: when it applies, what it becomes."""

    applies: Callable[[str, int, str], bool]  # (code, HTTP status, action)
    kind: type[LandingError]
    message: str  # formatted with bucket, action, code, status, region, detail
    hint: str


_CREDENTIAL_CODES = {
    "InvalidAccessKeyId": "the AWS access key id is not known",
    "SignatureDoesNotMatch": "the AWS secret key does not match the access key",
    "ExpiredToken": "the AWS session token has expired",
    "InvalidToken": "the AWS session token is invalid",
    "TokenRefreshRequired": "the AWS session token must be refreshed",
}

_CLIENT_RULES: tuple[_Rule, ...] = (
    _Rule(
        lambda code, status, action: code in _CREDENTIAL_CODES,
        DestinationError,
        "S3 rejected the credentials: {detail}",
        "refresh or fix the AWS credentials; spooled files are kept",
    ),
    _Rule(
        lambda code, status, action: code == "RequestTimeTooSkewed",
        DestinationError,
        "S3 rejected the request because this machine's clock is off by more than 15 minutes",
        "fix the clock (enable NTP / timedatectl set-ntp true) and rerun",
    ),
    _Rule(
        lambda code, status, action: (
            code in ("AccessDenied", "AllAccessDisabled", "Forbidden") or status == 403
        ),
        DestinationError,
        "access denied to {action} in s3://{bucket}",
        "the gateway's IAM policy must allow it (see infra's gateway writer policy)",
    ),
    _Rule(
        lambda code, status, action: (
            code == "NoSuchBucket" or (status == 404 and action.startswith("check"))
        ),
        DestinationError,
        "bucket {bucket} does not exist",
        "create it (cdktf deploy) or fix S3_BUCKET_*",
    ),
    _Rule(
        lambda code, status, action: (
            code
            in (
                "PermanentRedirect",
                "AuthorizationHeaderMalformed",
                "IllegalLocationConstraintException",
            )
            or status == 301
        ),
        DestinationError,
        "bucket {bucket} is in another region{region}",
        "set AWS_REGION to the bucket's region",
    ),
    _Rule(
        lambda code, status, action: (
            status >= 500
            or code
            in (
                "SlowDown",
                "RequestTimeout",
                "ServiceUnavailable",
                "InternalError",
                "ConditionalRequestConflict",
            )
        ),
        DestinationUnavailable,
        "S3 is not accepting requests right now ({code_or_status})",
        "files stay spooled and ship on the next run",
    ),
    _Rule(
        lambda code, status, action: True,
        DestinationError,
        "S3 refused to {action} in {bucket}: {code} {message}",
        "check the error above; spooled files are kept",
    ),
)


def _core_rules() -> tuple[tuple[tuple[type[Exception], ...], type[LandingError], str, str], ...]:
    """botocore's own (non-HTTP) failures: (exception types, kind, message, hint)."""
    from botocore import exceptions as bx

    return (
        (
            (bx.NoCredentialsError, bx.PartialCredentialsError),
            DestinationError,
            "no AWS credentials found",
            "set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or use an instance role",
        ),
        (
            (bx.CredentialRetrievalError, bx.TokenRetrievalError),
            DestinationError,
            "could not obtain AWS credentials ({exc})",
            "check your AWS profile or role",
        ),
        (
            (
                bx.EndpointConnectionError,
                bx.ConnectTimeoutError,
                bx.ReadTimeoutError,
                bx.ConnectionClosedError,
            ),
            DestinationUnavailable,
            "cannot reach S3 to {action} in {bucket} ({name})",
            "files stay spooled and ship on the next run once the network is back",
        ),
    )


def translate_client_error(exc: Exception, *, bucket: str, action: str) -> Exception:
    """Map a botocore failure to our error tree (anything else is returned as it is)."""
    from botocore import exceptions as bx

    for types, kind, message, hint in _core_rules():
        if isinstance(exc, types):
            text = message.format(exc=exc, action=action, bucket=bucket, name=type(exc).__name__)
            return kind(text, hint=hint)
    if not isinstance(exc, bx.ClientError):
        return exc
    error = exc.response.get("Error", {})
    meta = exc.response.get("ResponseMetadata", {})
    code, status = str(error.get("Code", "")), int(meta.get("HTTPStatusCode") or 0)
    region = error.get("Region") or meta.get("HTTPHeaders", {}).get("x-amz-bucket-region")
    fields = {
        "bucket": bucket,
        "action": action,
        "code": code,
        "code_or_status": code or status,
        "region": f" ({region})" if region else "",
        "detail": _CREDENTIAL_CODES.get(code, ""),
        "message": error.get("Message", ""),
    }
    rule = next(r for r in _CLIENT_RULES if r.applies(code, status, action))
    return rule.kind(rule.message.format(**fields).strip(), hint=rule.hint)


def _code_status(exc: Any) -> tuple[str, int]:
    response = getattr(exc, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    return code, int(response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)


# -- the sink ----------------------------------------------------------------------------


class _FailpointBody:
    """The body of a PUT, cut at its middle: the ``during-upload`` failpoint is reached
    after the first half has gone out on the wire.

    botocore reads the body once to sign it when the endpoint is plain HTTP, then again to
    send it; only the pass that sends counts.
    """

    def __init__(self, raw: Any, size: int, failpoints: Failpoints, *, passes: int) -> None:
        self._raw = raw
        self._half = size // 2
        self._failpoints = failpoints
        self._passes = passes
        self._pass = 0

    def read(self, n: int = -1) -> bytes:
        start = self._raw.tell()
        if start == 0:
            self._pass += 1
        if start == self._half and self._pass == self._passes and self._half > 0:
            self._failpoints.hit("during-upload")
        if start < self._half and (n < 0 or start + n > self._half):
            n = self._half - start  # stop at the middle, so the next read starts there
        return self._raw.read(n)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)


class S3Sink:
    name = "s3"

    def __init__(
        self,
        client: Any = None,
        *,
        connect: Callable[[], Any] | None = None,
        failpoints: Failpoints | None = None,
    ) -> None:
        """Give a client, or ``connect`` to make one when the first file ships."""
        if (client is None) == (connect is None):
            raise ValueError("give either a client or a way to connect")
        self._client = client
        self._connect = connect
        self.failpoints = failpoints or Failpoints()

    @property
    def client(self) -> Any:
        if self._client is None:
            assert self._connect is not None
            self._client = self._connect()
        return self._client

    def put_if_absent(self, file: LandedFile) -> PutOutcome:
        from botocore import exceptions as bx

        checksum = base64.b64encode(bytes.fromhex(file.sha256)).decode()
        try:
            with open(file.path, "rb") as raw:
                body = raw
                if self.failpoints.armed("during-upload"):
                    signed = not str(self.client.meta.endpoint_url).startswith("https:")
                    body = _FailpointBody(
                        raw, file.size, self.failpoints, passes=2 if signed else 1
                    )
                self.client.put_object(
                    Bucket=file.bucket,
                    Key=file.name,
                    Body=body,
                    IfNoneMatch="*",
                    ChecksumSHA256=checksum,
                    ChecksumAlgorithm="SHA256",
                    ContentType="application/x-ndjson",
                    Metadata=file.metadata.to_s3(),
                )
            return PutOutcome.CREATED
        except bx.ClientError as exc:
            code, status = _code_status(exc)
            if code != "PreconditionFailed" and status != 412:
                raise translate_client_error(exc, bucket=file.bucket, action="put objects") from exc
        except bx.BotoCoreError as exc:
            raise translate_client_error(exc, bucket=file.bucket, action="put objects") from exc
        return self._compare_existing(file)

    def _compare_existing(self, file: LandedFile) -> PutOutcome:
        """The key exists: is it our replay, or someone else's object?"""
        from botocore import exceptions as bx

        try:
            head = self.client.head_object(Bucket=file.bucket, Key=file.name)
        except bx.ClientError as exc:
            if _code_status(exc)[1] == 403:
                # A write-only gateway identity may not read back; the key is derived from
                # the rows, so an existing object is almost surely our own earlier upload.
                return PutOutcome.UNVERIFIED
            raise translate_client_error(exc, bucket=file.bucket, action="check objects") from exc
        except bx.BotoCoreError as exc:
            raise translate_client_error(exc, bucket=file.bucket, action="check objects") from exc
        theirs = head.get("Metadata", {})
        return existing_outcome(
            file,
            where=f"s3://{file.bucket}/{file.name}",
            sha256=theirs.get("sha256"),
            size=head.get("ContentLength"),
            content_sha256=theirs.get("content-sha256"),
        )
