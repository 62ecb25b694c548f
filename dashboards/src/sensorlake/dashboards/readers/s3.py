"""The landing buckets in S3: paginated listings, record counts from object metadata.

Listing returns no user metadata, so each object's ``record-count`` comes from one HEAD,
once: landed objects are create-only and never change, so a count is kept for as long as
the object keeps its ETag, and a refresh only asks about new keys. HEADs run in a pool in
the background: a refresh waits a few seconds for them, then publishes what it has and
says how many objects are not counted yet (the first scan of a big bucket). boto3's standard
credential chain and ``AWS_ENDPOINT_URL`` apply; every botocore failure becomes one line.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

from sensorlake.contract.keys import LandingKey, source_prefix
from sensorlake.contract.lake import s3_url
from sensorlake.contract.metadata import ObjectMetadata
from sensorlake.contract.pipelines import BUCKET_ENV, LANDING_PREFIXES, TARGETS

from ..errors import BackendUnavailable
from ..settings import S3Settings
from .base import OUTSIDE_SHOWN, LandedObject, LandingListing

__all__ = [
    "COUNT_BUDGET_SECONDS",
    "HEAD_WORKERS",
    "PAGE_SIZE",
    "S3LandingReader",
    "describe_s3_error",
    "make_client",
]

log = logging.getLogger(__name__)

HEAD_WORKERS = 32
PAGE_SIZE = 1000
# How long a refresh waits for new objects' counts before publishing what it has.
COUNT_BUDGET_SECONDS = 5.0
# A listed object: its key, size, modification time (epoch seconds) and ETag.
_Listed = tuple[LandingKey, int, float, str]


def make_client(settings: S3Settings) -> Any:
    """A boto3 S3 client: standard chain, bounded retries and timeouts (a page must not hang)."""
    import boto3
    from botocore.config import Config

    # Two attempts within the backend's time bound: an endpoint that accepts connections and
    # never answers costs at most about twice the bound, on the reader's own thread.
    timeout = settings.timeout_seconds
    config = Config(
        region_name=settings.region,
        retries={"mode": "standard", "max_attempts": 2},
        connect_timeout=min(3.0, timeout),
        read_timeout=timeout,
        max_pool_connections=HEAD_WORKERS + 4,
    )
    return boto3.session.Session().client("s3", endpoint_url=settings.endpoint_url, config=config)


def describe_s3_error(exc: Exception, bucket: str) -> str:
    """One line for a botocore failure, naming what to check (never credentials)."""
    from botocore import exceptions as bx

    if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError):
        return (
            "no AWS credentials found: set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
        )
    if isinstance(exc, bx.EndpointConnectionError | bx.ConnectTimeoutError | bx.ReadTimeoutError):
        return f"cannot reach S3 for bucket {bucket} ({type(exc).__name__}): check the network or AWS_ENDPOINT_URL"
    if isinstance(exc, bx.ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code == "NoSuchBucket":
            return f"bucket {bucket} does not exist: check S3_BUCKET_* or deploy the infrastructure"
        if code in ("AccessDenied", "403", "Forbidden"):
            return f"access denied listing s3://{bucket}: the monitor needs s3:ListBucket and s3:GetObject"
        return f"S3 refused to list {bucket}: {code or 'error'}"
    if isinstance(exc, bx.BotoCoreError):
        return f"S3 request for {bucket} failed ({type(exc).__name__})"
    return f"S3 request for {bucket} failed ({type(exc).__name__})"


class S3LandingReader:
    kind = "s3"

    def __init__(
        self,
        settings: S3Settings,
        client: Any | None = None,
        *,
        count_budget_seconds: float = COUNT_BUDGET_SECONDS,
    ) -> None:
        self.settings = settings
        self.count_budget_seconds = count_budget_seconds
        self._inflight: set[tuple[str, str]] = set()
        self.client = client if client is not None else make_client(settings)
        self._counts: dict[tuple[str, str], tuple[str, int]] = {}  # (bucket, key) -> (etag, n)
        self._bad: dict[tuple[str, str], str] = {}  # (bucket, key) -> why its metadata is refused
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(HEAD_WORKERS, thread_name_prefix="s3-head")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def list_landed(self) -> LandingListing:
        location: dict[str, str] = {}
        errors: dict[str, str] = {}
        listed: dict[str, tuple[str, list[_Listed]]] = {}
        outside: list[str] = []
        for role, prefixes in LANDING_PREFIXES.items():
            bucket = self.settings.buckets.get(role)
            for target in prefixes:
                if bucket is None:
                    location[target] = f"not configured ({BUCKET_ENV[role]} unset)"
                    continue
                location[target] = s3_url(bucket, source_prefix(target))
                try:
                    found, strays = self._list(bucket, target)
                except Exception as exc:
                    if not _is_boto(exc):
                        raise
                    errors[target] = describe_s3_error(exc, bucket)
                    continue
                listed[target] = (bucket, found)
                outside.extend(s3_url(bucket, k) for k in strays)
        tried = sum(1 for t in TARGETS if not location[t].startswith("not configured"))
        if tried and len(errors) == tried:
            first = next(iter(errors.values()))
            raise BackendUnavailable(first if tried == 1 else f"{first} (every bucket failed)")
        self._count_new([(bucket, item) for bucket, items in listed.values() for item in items])
        with self._lock:
            counts = dict(self._counts)
            refused = dict(self._bad)
        bad: dict[str, str] = {}
        objects: dict[str, tuple[LandedObject, ...]] = {t: () for t in TARGETS}
        uncounted: dict[str, int] = {}
        for target, (bucket, items) in listed.items():
            out = []
            missing = 0
            for key, size, modified, etag in items:
                known = counts.get((bucket, key.format()))
                if known is None or known[0] != etag:
                    missing += 1
                elif (bucket, key.format()) in refused:
                    bad[key.format()] = refused[(bucket, key.format())]
                out.append(LandedObject(key, size, modified, known[1] if known else 0))
            objects[target] = tuple(out)
            uncounted[target] = missing
        return LandingListing(
            objects,
            location,
            errors,
            len(outside),
            uncounted,
            bad,
            tuple(sorted(outside)[:OUTSIDE_SHOWN]),
        )

    def _list(self, bucket: str, target: str) -> tuple[list[_Listed], list[str]]:
        """The target's landed objects, and the keys under its prefix outside the layout."""
        paginator = self.client.get_paginator("list_objects_v2")
        listed: list[_Listed] = []
        unknown: list[str] = []
        for page in paginator.paginate(
            Bucket=bucket, Prefix=source_prefix(target), PaginationConfig={"PageSize": PAGE_SIZE}
        ):
            for item in page.get("Contents", ()):
                try:
                    key = LandingKey.parse(item["Key"])
                except ValueError:
                    unknown.append(item["Key"])
                    continue
                listed.append(
                    (key, int(item["Size"]), item["LastModified"].timestamp(), item["ETag"])
                )
        return listed, unknown

    def _count_new(self, listed: list[tuple[str, _Listed]]) -> None:
        """Start a HEAD for every object not counted yet, and wait for them a little: a
        refresh with a few new objects gets all their counts, the very first scan of a big
        bucket returns early and keeps counting in the background."""
        with self._lock:
            todo = [
                (bucket, key.format(), etag)
                for bucket, (key, _s, _m, etag) in listed
                if self._counts.get((bucket, key.format()), ("",))[0] != etag
                and (bucket, key.format()) not in self._inflight
            ]
            self._inflight.update((bucket, key) for bucket, key, _etag in todo)
        if todo:
            log.info("reading the metadata of %d new object(s)", len(todo))
        futures = [self._pool.submit(self._count_one, *job) for job in todo]
        if futures and self.count_budget_seconds > 0:
            wait(futures, timeout=self.count_budget_seconds)

    def _count_one(self, bucket: str, key: str, etag: str) -> None:
        try:
            _key, found_etag, records = self._head(bucket, key, etag)
            if found_etag:
                with self._lock:
                    self._counts[(bucket, key)] = (found_etag, records)
        except Exception as exc:  # counted again at the next refresh
            log.warning(
                "cannot read the metadata of s3://%s/%s: %s",
                bucket,
                key,
                describe_s3_error(exc, bucket),
            )
        finally:
            with self._lock:
                self._inflight.discard((bucket, key))

    def _head(self, bucket: str, key: str, etag: str) -> tuple[str, str, int]:
        from botocore.exceptions import ClientError

        try:
            head = self.client.head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
                return key, "", 0  # deleted since the listing: asked again next time
            raise
        try:
            records = ObjectMetadata.from_s3(head.get("Metadata", {})).record_count
            with self._lock:
                self._bad.pop((bucket, key), None)
        except ValueError as exc:
            log.warning("s3://%s/%s: %s; counted as 0 records", bucket, key, exc)
            records = 0
            with self._lock:
                self._bad[(bucket, key)] = f"{s3_url(bucket, key)}: {exc}"
        return key, head.get("ETag", etag), records


def _is_boto(exc: Exception) -> bool:
    from botocore import exceptions as bx

    return isinstance(exc, bx.BotoCoreError | bx.ClientError)
