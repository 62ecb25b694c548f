"""The S3 adapter: create-only puts, replays, conflicts, checksums, one-line AWS errors.

S3Sink runs against moto in-process. moto 5.2 honours ``If-None-Match: *`` (412
PreconditionFailed on an existing key), so the replay and conflict paths are exercised for
real; only responses moto cannot produce (HEAD 403, BadDigest) go through a Stubber.
"""

from __future__ import annotations

import base64
import hashlib
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore import exceptions as bx
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.stub import Stubber
from moto import mock_aws

from sensorlake.contract.metadata import ObjectMetadata
from sensorlake.landing.errors import DestinationError, DestinationUnavailable, ObjectConflict
from sensorlake.landing.files import LandedFile
from sensorlake.landing.s3 import S3Sink, make_client, translate_client_error
from sensorlake.landing.sink import PutOutcome

from .conftest import KEY as LANDING_KEY
from .conftest import landed_file

BUCKET = "sl-test-raw"
KEY = LANDING_KEY.format()


def _file(tmp_path: Path, name: str, data: bytes, content: str | None = None) -> LandedFile:
    return landed_file(tmp_path, data, bucket=BUCKET, name=name, content=content)


@pytest.fixture
def s3(fake_credentials: None) -> Iterator[Any]:
    with mock_aws():
        client = make_client("s3", "us-east-1", None)
        client.create_bucket(Bucket=BUCKET)
        yield client


def _versions(client: Any) -> list[dict[str, Any]]:
    return client.list_object_versions(Bucket=BUCKET, Prefix=KEY).get("Versions", [])


def _client_error(code: str, status: int, message: str = "", **error: str) -> bx.ClientError:
    return bx.ClientError(
        {
            "Error": {"Code": code, "Message": message, **error},
            "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": {}},
        },
        "PutObject",
    )


# -- S3Sink against moto -------------------------------------------------------------------


@pytest.mark.s3_access
def test_moto_honours_if_none_match(s3: Any) -> None:
    """The premise of the tests below: a second create-only PUT gets 412."""
    s3.put_object(Bucket=BUCKET, Key="k", Body=b"a", IfNoneMatch="*")
    with pytest.raises(bx.ClientError) as caught:
        s3.put_object(Bucket=BUCKET, Key="k", Body=b"b", IfNoneMatch="*")
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    assert s3.get_object(Bucket=BUCKET, Key="k")["Body"].read() == b"a"


@pytest.mark.s3_access
def test_s3_create_stores_bytes_metadata_and_content_type(s3: Any, tmp_path: Path) -> None:
    data = b'{"id": 1}\n' * 50
    file = _file(tmp_path, "a.ndjson.gz", data, content="cc" * 32)
    assert S3Sink(s3).put_if_absent(file) is PutOutcome.CREATED
    got = s3.get_object(Bucket=BUCKET, Key=KEY)
    assert got["Body"].read() == data
    assert got["ContentType"] == "application/x-ndjson"
    assert got["Metadata"] == file.metadata.to_s3()
    assert ObjectMetadata.from_s3(got["Metadata"]) == file.metadata
    assert got["Metadata"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert got["Metadata"]["content-sha256"] == "cc" * 32


@pytest.mark.s3_access
def test_s3_put_sends_create_only_header_and_sha256_checksum(s3: Any, tmp_path: Path) -> None:
    sent: list[dict[str, str]] = []

    def capture(request: Any, **_: Any) -> None:
        sent.append(
            {
                k.lower(): v.decode() if isinstance(v, bytes) else v
                for k, v in request.headers.items()
            }
        )

    s3.meta.events.register("before-send.s3.PutObject", capture)
    data = b"checksummed bytes\n"
    S3Sink(s3).put_if_absent(_file(tmp_path, "a", data))
    assert len(sent) == 1
    assert sent[0]["if-none-match"] == "*"
    assert (
        sent[0]["x-amz-checksum-sha256"] == base64.b64encode(hashlib.sha256(data).digest()).decode()
    )


def _verifying_s3(fake_credentials: None) -> Any:
    """A client whose PUTs are answered like S3 does: BadDigest (400) when the body does not
    match x-amz-checksum-sha256, 200 otherwise (no moto: moto does not verify checksums)."""
    client = boto3.client("s3", region_name="us-east-1")

    def answer(request: Any, **_: Any) -> AWSResponse:
        body = request.body.read() if hasattr(request.body, "read") else request.body or b""
        claimed = request.headers.get("x-amz-checksum-sha256")
        claimed = claimed.decode() if isinstance(claimed, bytes) else claimed
        if claimed == base64.b64encode(hashlib.sha256(body).digest()).decode():
            return AWSResponse(request.url, 200, {}, _Raw(b""))
        error = (
            b"<Error><Code>BadDigest</Code><Message>The SHA256 you specified did not match"
            b" the calculated checksum.</Message></Error>"
        )
        return AWSResponse(request.url, 400, {}, _Raw(error))

    client.meta.events.register("before-send.s3.PutObject", answer)
    return client


class _Raw:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Any:
        yield self._data


@pytest.mark.s3_access
def test_s3_body_that_no_longer_matches_its_checksum_is_rejected(
    tmp_path: Path, fake_credentials: None
) -> None:
    """The checksum sent is the one recorded when the file was spooled, not one computed
    from whatever is on disk at upload: a file damaged in the spool is refused by S3
    (BadDigest), a terminal error that keeps the file, never a conflict."""
    client = _verifying_s3(fake_credentials)
    good = _file(tmp_path, "a", b"the real bytes\n")
    assert S3Sink(client).put_if_absent(good) is PutOutcome.CREATED
    good.path.write_bytes(b"the rot bytes\n")  # same size, other bytes
    with pytest.raises(DestinationError, match="BadDigest") as caught:
        S3Sink(client).put_if_absent(good)
    assert not isinstance(caught.value, ObjectConflict)
    assert caught.value.exit_code == 4


@pytest.mark.s3_access
def test_s3_bad_digest_is_terminal(tmp_path: Path, fake_credentials: None) -> None:
    client = boto3.client("s3", region_name="us-east-1")
    file = _file(tmp_path, "a", b"x")
    with Stubber(client) as stub:
        stub.add_client_error(
            "put_object",
            service_error_code="BadDigest",
            service_message="The SHA256 you specified did not match the calculated checksum.",
            http_status_code=400,
        )
        with pytest.raises(DestinationError, match="BadDigest") as caught:
            S3Sink(client).put_if_absent(file)
    assert caught.value.exit_code == 4


@pytest.mark.s3_access
def test_s3_replay_of_identical_bytes_is_identical_and_not_rewritten(
    s3: Any, tmp_path: Path
) -> None:
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    file = _file(tmp_path, "a", b"same bytes\n" * 10)
    sink = S3Sink(s3)
    assert sink.put_if_absent(file) is PutOutcome.CREATED
    before = s3.head_object(Bucket=BUCKET, Key=KEY)
    assert sink.put_if_absent(file) is PutOutcome.IDENTICAL
    after = s3.head_object(Bucket=BUCKET, Key=KEY)
    assert after["VersionId"] == before["VersionId"]
    assert after["ETag"] == before["ETag"]
    assert len(_versions(s3)) == 1


@pytest.mark.s3_access
def test_s3_same_content_other_compression_counts_as_landed(s3: Any, tmp_path: Path) -> None:
    """After a lost state, a file re-landed with other compression (other bytes, the same
    records: the same content checksum) finds its earlier object: landed, not a conflict."""
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    first = _file(tmp_path, "a", b"compressed one way", content="cc" * 32)
    again = _file(tmp_path, "b", b"compressed another way", content="cc" * 32)
    sink = S3Sink(s3)
    sink.put_if_absent(first)
    assert sink.put_if_absent(again) is PutOutcome.SAME_CONTENT
    assert s3.get_object(Bucket=BUCKET, Key=KEY)["Body"].read() == b"compressed one way"
    assert len(_versions(s3)) == 1


@pytest.mark.s3_access
def test_s3_different_bytes_conflict_and_original_is_intact(s3: Any, tmp_path: Path) -> None:
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    original = _file(tmp_path, "a", b"original\n")
    other = _file(tmp_path, "b", b"something else\n")
    sink = S3Sink(s3)
    sink.put_if_absent(original)
    with pytest.raises(ObjectConflict, match=original.sha256) as caught:
        sink.put_if_absent(other)
    assert caught.value.exit_code == 6
    assert s3.get_object(Bucket=BUCKET, Key=KEY)["Body"].read() == b"original\n"
    assert len(_versions(s3)) == 1


@pytest.mark.s3_access
def test_s3_same_size_different_sha_is_a_conflict(s3: Any, tmp_path: Path) -> None:
    sink = S3Sink(s3)
    sink.put_if_absent(_file(tmp_path, "a", b"aaaa"))
    with pytest.raises(ObjectConflict):
        sink.put_if_absent(_file(tmp_path, "b", b"bbbb"))


@pytest.mark.s3_access
def test_s3_missing_bucket_is_a_clear_error(s3: Any, tmp_path: Path) -> None:
    file = landed_file(tmp_path, b"x", bucket="sl-nope")
    with pytest.raises(DestinationError, match="bucket sl-nope does not exist") as caught:
        S3Sink(s3).put_if_absent(file)
    assert caught.value.exit_code == 4


@pytest.mark.s3_access
def test_s3_412_then_head_forbidden_is_unverified(tmp_path: Path, fake_credentials: None) -> None:
    """A write-only gateway may not HEAD: the existing object counts as ours, unverified."""
    client = boto3.client("s3", region_name="us-east-1")
    file = _file(tmp_path, "a", b"x")
    with Stubber(client) as stub:
        stub.add_client_error(
            "put_object", service_error_code="PreconditionFailed", http_status_code=412
        )
        stub.add_client_error("head_object", service_error_code="403", http_status_code=403)
        assert S3Sink(client).put_if_absent(file) is PutOutcome.UNVERIFIED
        stub.assert_no_pending_responses()


@pytest.mark.s3_access
def test_s3_client_is_made_only_when_a_file_ships(s3: Any, tmp_path: Path) -> None:
    made: list[Any] = []

    def connect() -> Any:
        made.append(s3)
        return s3

    sink = S3Sink(connect=connect)
    assert made == []
    sink.put_if_absent(_file(tmp_path, "a", b"x"))
    sink.put_if_absent(_file(tmp_path, "b", b"x"))
    assert made == [s3]


# -- errors: one line that says what to do -------------------------------------------------


@pytest.mark.s3_access
def test_no_credentials(tmp_path: Path, no_credentials: None) -> None:
    client = make_client("s3", "us-east-1", None)
    with pytest.raises(DestinationError, match="no AWS credentials found") as caught:
        S3Sink(client).put_if_absent(_file(tmp_path, "a", b"x"))
    assert type(caught.value) is DestinationError
    assert "AWS_ACCESS_KEY_ID" in str(caught.value)


@pytest.mark.s3_access
def test_endpoint_unreachable_is_transient(tmp_path: Path, fake_credentials: None) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = boto3.session.Session().client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{port}",
        config=Config(region_name="us-east-1", retries={"max_attempts": 1}, connect_timeout=1),
    )
    with pytest.raises(DestinationUnavailable, match="cannot reach S3") as caught:
        S3Sink(client).put_if_absent(_file(tmp_path, "a", b"x"))
    assert caught.value.exit_code == 75


@pytest.mark.s3_access
@pytest.mark.parametrize(
    ("error", "kind", "needle"),
    [
        (
            _client_error("AccessDenied", 403, "Access Denied"),
            DestinationError,
            "access denied to put objects in s3://b",
        ),
        (_client_error("RequestTimeTooSkewed", 403), DestinationError, "clock is off"),
        (_client_error("ExpiredToken", 400), DestinationError, "session token has expired"),
        (_client_error("InvalidAccessKeyId", 403), DestinationError, "access key id is not known"),
        (_client_error("NoSuchBucket", 404), DestinationError, "bucket b does not exist"),
        (
            _client_error("PermanentRedirect", 301, Region="eu-west-1"),
            DestinationError,
            "another region (eu-west-1)",
        ),
        (_client_error("SlowDown", 503), DestinationUnavailable, "not accepting requests"),
        (_client_error("InternalError", 500), DestinationUnavailable, "not accepting requests"),
        (bx.NoCredentialsError(), DestinationError, "no AWS credentials found"),
        (
            bx.EndpointConnectionError(endpoint_url="http://127.0.0.1:9"),
            DestinationUnavailable,
            "cannot reach S3",
        ),
    ],
)
def test_translate_client_error(error: Exception, kind: type[Exception], needle: str) -> None:
    translated = translate_client_error(error, bucket="b", action="put objects")
    assert type(translated) is kind
    assert needle in str(translated)
    assert getattr(translated, "hint", None), "every translated error says what to do"


def test_translate_passes_unknown_exceptions_through() -> None:
    error = ValueError("not botocore")
    assert translate_client_error(error, bucket="b", action="x") is error
