"""The old uploader's bucket: list its objects and read them, many at a time.

Reads are parallel (S3 answers each GET in tens of milliseconds; a fleet's history is tens
of thousands of objects), results come back in key order so a run's report is stable. An
object that cannot be read is reported by key like a malformed one, never fatal, except
for what stops every read (credentials, a missing bucket): that is one error line.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError, LandingError
from ..s3 import translate_client_error
from .formats import BadObject, parse_object
from .history import History

__all__ = ["Fetched", "OldBucket", "Progress", "ReadReport", "load_history", "parse_s3_url"]

_URL = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:/(?P<prefix>.*))?$")
_FATAL = (
    "NoSuchBucket",
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
)


def _client(region: str | None, endpoint_url: str | None, threads: int) -> Any:
    """Landing's client settings, with a connection per reading thread."""
    import boto3
    from botocore.config import Config

    config = Config(
        region_name=region,
        retries={"mode": "standard", "max_attempts": 4},
        connect_timeout=5,
        read_timeout=30,
        max_pool_connections=threads,
    )
    return boto3.session.Session().client("s3", endpoint_url=endpoint_url, config=config)


def parse_s3_url(url: str, option: str = "--from") -> tuple[str, str]:
    match = _URL.match(url or "")
    if match is None:
        raise ConfigError(
            f"{option} {url!r} is not an s3://BUCKET[/PREFIX] URL",
            hint="name the old uploader's bucket, e.g. s3://expanso-databricks-ingestion-us-west-2",
        )
    prefix = match["prefix"] or ""
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return match["bucket"], prefix


@dataclass(frozen=True)
class Fetched:
    key: str
    body: bytes | None
    metadata: dict[str, str]
    error: str | None = None


class OldBucket:
    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        threads: int = 16,
        connect: Callable[[], Any] | None = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self.threads = threads
        self._client = (connect or (lambda: _client(region, endpoint_url, threads)))()

    def _fail(self, exc: Exception, action: str) -> LandingError:
        error = translate_client_error(exc, bucket=self.bucket, action=action)
        if isinstance(error, LandingError):
            return error
        return LandingError(
            f"cannot {action} s3://{self.bucket}/{self.prefix} ({exc})",
            hint="check the URL, the credentials and AWS_ENDPOINT_URL",
        )

    def keys(self) -> list[str]:
        """Every key under the prefix, in order (the bucket's own listing order)."""
        return [key for key, _ in self.listing()]

    def listing(self) -> list[tuple[str, str]]:
        """Every (key, ETag) under the prefix, in the bucket's listing order: the ETag tells
        an object already read from one put again under the same key."""
        out: list[tuple[str, str]] = []
        try:
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.prefix
            )
            for page in pages:
                out.extend(
                    (item["Key"], str(item.get("ETag") or "")) for item in page.get("Contents", [])
                )
        except Exception as exc:
            raise self._fail(exc, "ListObjectsV2") from None
        return out

    def _get(self, key: str) -> Fetched:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            reply = self._client.get_object(Bucket=self.bucket, Key=key)
            body = reply["Body"].read()
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in _FATAL:
                raise self._fail(exc, "GetObject") from None
            return Fetched(key, None, {}, f"cannot be read ({code or exc}); it is skipped")
        except BotoCoreError as exc:
            return Fetched(key, None, {}, f"cannot be read ({exc}); it is skipped")
        return Fetched(key, body, dict(reply.get("Metadata") or {}))

    def fetch(self, keys: list[str]) -> Iterator[Fetched]:
        """Each key's body and user metadata, in the order given, read in parallel."""
        with ThreadPoolExecutor(max_workers=self.threads) as pool:
            window = self.threads * 8  # bounded read-ahead: memory stays flat
            futures = [pool.submit(self._get, k) for k in keys[:window]]
            submitted = len(futures)
            index = 0
            while index < len(futures):
                yield futures[index].result()
                futures[index] = None  # type: ignore[call-overload]
                index += 1
                if submitted < len(keys):
                    futures.append(pool.submit(self._get, keys[submitted]))
                    submitted += 1


class Progress:
    """What a run shows while reading objects (a rich bar on a terminal; nothing otherwise)."""

    def begin(self, objects: int) -> None: ...
    def advance(self, n: int = 1) -> None: ...
    def note(self, message: str) -> None: ...
    def end(self) -> None: ...


@dataclass
class ReadReport:
    listed: int = 0
    read: int = 0
    skipped: int = 0  # read by an earlier run (same key and ETag): not read again
    formats: dict[str, int] = field(default_factory=dict)
    bad_objects: list[dict[str, str]] = field(default_factory=list)


def load_history(
    old: OldBucket,
    history: History,
    *,
    fmt: str = "auto",
    gateway_id: str | None = None,
    progress: Progress | None = None,
    remember: bool = False,
) -> ReadReport:
    """Every object under the old prefix into ``history``; bad ones reported by key.
    ``remember``: objects the history already holds at the same ETag are skipped without a
    GET, and each object read is recorded with its rows (backfill's catalogue)."""
    progress = progress or Progress()
    report = ReadReport()
    listing = old.listing()
    report.listed = len(listing)
    seen = history.objects() if remember else {}
    todo = [(k, e) for k, e in listing if not (e and seen.get(k) == e)]
    report.skipped = len(listing) - len(todo)
    etags = dict(todo)
    progress.begin(len(todo))
    try:
        for fetched in old.fetch([k for k, _ in todo]):
            progress.advance()
            try:
                if fetched.body is None:
                    raise BadObject(fetched.key, fetched.error or "cannot be read")
                obj = parse_object(
                    fetched.key, fetched.body, fetched.metadata, fmt=fmt, gateway_id=gateway_id
                )
            except BadObject as bad:
                report.bad_objects.append({"key": bad.key, "reason": bad.reason})
                progress.note(f"skipped {bad.key}: {bad.reason}")
                continue
            report.read += 1
            report.formats[obj.format] = report.formats.get(obj.format, 0) + 1
            history.add(obj.gateway, obj.key, obj.rows, etag=etags[obj.key] if remember else None)
        history.flush()
    finally:
        progress.end()
    return report
