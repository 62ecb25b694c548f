"""The landing buckets' "Object Created" events, read from an SQS queue: what is new, unlisted.

Why. Polling costs one LIST per open (target, gateway) prefix and cycle: at 1,000 gateways a
cycle every 30 s is about $72 a day (docs/fleet.md). An event costs per *new object*: the
monitor receives up to 10 per ReceiveMessage and deletes them 10 per DeleteMessageBatch,
so the feed costs what arrives, and the listing (``s3.py``) is left for the first scan, a
daily safety cycle and the fallback while the queue cannot be read.

What reaches the queue. ``infra`` sets up S3 -> EventBridge -> an EventBridge rule -> this
queue (EventBridge because Databricks' managed file events own the buckets' direct
notifications: docs/infra.md). Accepted message bodies, so a queue wired another way works:

* an EventBridge event: ``{"detail-type": "Object Created", "source": "aws.s3", "time": ..,
  "detail": {"bucket": {"name": ..}, "object": {"key": .., "size": .., "etag": ..}}}``
  (https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html; the key is not
  URL-encoded there);
* an S3 event notification: ``{"Records": [{"eventName": "ObjectCreated:Put", "eventTime":
  .., "s3": {"bucket": {"name": ..}, "object": {"key": .., "size": .., "eTag": ..}}}]}``,
  whose key *is* URL-encoded (https://docs.aws.amazon.com/AmazonS3/latest/userguide/
  notification-content-structure.html); and its ``s3:TestEvent``;
* either of them wrapped in an SNS notification (``{"Type": "Notification", "Message": ..}``).

A message is deleted once the reader has applied (and cached) what it says, so a monitor that
stops in between sees it again; arrivals are idempotent (a known key is skipped). A body
that is none of these is deleted too, with one log line per refresh: it names no object, and
the safety cycle would find any object it was about. Each queue feeds one monitor: SQS hands
a message to one receiver, so a second monitor needs its own queue (another rule target).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, NamedTuple
from urllib.parse import unquote_plus

__all__ = [
    "RECEIVERS",
    "Arrival",
    "Drained",
    "EventQueueError",
    "S3EventQueue",
    "describe_sqs_error",
    "make_client",
    "parse_body",
]

log = logging.getLogger(__name__)

# ReceiveMessage calls in flight at once: a backlog (a monitor down for hours) drains at
# several times the arrival rate of a 1,000-gateway fleet (about 17 objects/s).
RECEIVERS = 4
_BATCH = 10  # SQS's maximum per ReceiveMessage and per DeleteMessageBatch
# Short polls: a long poll would hold every refresh for its wait when the queue is empty.
# A short poll may answer empty while messages wait on servers it did not sample (SQS's
# documentation); four receivers ask at once, and what one refresh misses the next gets.
_WAIT = 0


class Arrival(NamedTuple):
    """One object an event says was created."""

    bucket: str
    key: str
    size: int
    etag: str  # quoted, as a listing shows it
    modified: float  # epoch seconds: the event's time


class Drained(NamedTuple):
    """What one drain received: the arrivals, the receipts to delete once they are applied,
    how many bodies were unreadable, and whether the budget ended before the queue did."""

    arrivals: list[Arrival]
    receipts: list[str]
    unreadable: int
    more: bool


class EventQueueError(Exception):
    """The queue could not be read (one line that names what to check)."""


def describe_sqs_error(exc: Exception, queue_url: str) -> str:
    """One line for a botocore failure on the queue (never credentials)."""
    from botocore import exceptions as bx

    if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError):
        return "no AWS credentials found for the event queue: set AWS_PROFILE or AWS_ACCESS_KEY_ID"
    if isinstance(exc, bx.EndpointConnectionError | bx.ConnectTimeoutError | bx.ReadTimeoutError):
        return f"cannot reach SQS for {queue_url} ({type(exc).__name__}): check the network or AWS_ENDPOINT_URL"
    if isinstance(exc, bx.ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if "NonExistentQueue" in code or code == "QueueDoesNotExist":
            return (
                f"event queue {queue_url} does not exist: set SENSORLAKE_MONITOR_QUEUE_URL to "
                "infra's monitor_queue_url output"
            )
        if code in ("AccessDenied", "AccessDeniedException", "403"):
            return (
                f"access denied on {queue_url}: the monitor needs sqs:ReceiveMessage, "
                "sqs:DeleteMessage and sqs:GetQueueAttributes (infra's monitor policy)"
            )
        return f"SQS refused {queue_url}: {code or 'error'}"
    return f"SQS request for {queue_url} failed ({type(exc).__name__})"


def _quoted(etag: str) -> str:
    return etag if etag.startswith('"') else f'"{etag}"'


def _epoch(value: Any, default: float) -> float:
    """An event time: ISO 8601 (``Z`` or naive = UTC) or epoch seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return default
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
    return default


def _arrival(bucket: Any, obj: Any, when: Any, encoded: bool, now: float) -> Arrival | None:
    if not isinstance(bucket, dict) or not isinstance(obj, dict):
        return None
    name, key, size = bucket.get("name"), obj.get("key"), obj.get("size", 0)
    etag = obj.get("etag", obj.get("eTag"))
    if not (isinstance(name, str) and isinstance(key, str) and isinstance(etag, str)):
        return None
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        return None
    key = unquote_plus(key) if encoded else key
    return Arrival(name, key, size, _quoted(etag), _epoch(when, now))


def parse_body(body: str, now: float) -> list[Arrival] | None:
    """The objects a message body says were created; None when it is not a known event."""
    try:
        message = json.loads(body)
    except ValueError:
        return None
    if not isinstance(message, dict):
        return None
    if message.get("Type") == "Notification" and isinstance(message.get("Message"), str):
        return parse_body(message["Message"], now)  # SNS envelope
    if message.get("Event") == "s3:TestEvent":
        return []  # sent once when a bucket notification is configured
    if "detail-type" in message:  # EventBridge
        if message.get("source") != "aws.s3":
            return None
        if message.get("detail-type") != "Object Created":
            return []
        detail = message.get("detail")
        if not isinstance(detail, dict):
            return None
        one = _arrival(detail.get("bucket"), detail.get("object"), message.get("time"), False, now)
        return None if one is None else [one]
    records = message.get("Records")
    if not isinstance(records, list):
        return None
    out: list[Arrival] = []
    for record in records:
        if not isinstance(record, dict) or not isinstance(record.get("s3"), dict):
            return None
        if not str(record.get("eventName", "")).startswith("ObjectCreated:"):
            continue
        s3 = record["s3"]
        one = _arrival(s3.get("bucket"), s3.get("object"), record.get("eventTime"), True, now)
        if one is None:
            return None
        out.append(one)
    return out


def make_client(region: str | None, endpoint_url: str | None, timeout: float) -> Any:
    """A boto3 SQS client that fails fast: the drain shares the S3 reader's refresh budget,
    so a hanging queue must cost a few seconds, once (the reader then lists, and asks the
    queue again a minute later); SQS answers in milliseconds."""
    import boto3
    from botocore.config import Config

    config = Config(
        region_name=region,
        retries={"mode": "standard", "max_attempts": 1},
        connect_timeout=min(2.0, timeout),
        read_timeout=min(2.0, timeout) + _WAIT,
        max_pool_connections=RECEIVERS + 2,
    )
    return boto3.session.Session().client("sqs", endpoint_url=endpoint_url, config=config)


class S3EventQueue:
    """Receives and deletes the queue's messages, within a time budget per refresh."""

    def __init__(
        self,
        queue_url: str,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        timeout_seconds: float = 10.0,
        client: Any | None = None,
        clock: Any = time.time,
    ) -> None:
        self.queue_url = queue_url
        self.clock = clock
        self.client = client if client is not None else make_client(
            region, endpoint_url, timeout_seconds
        )  # fmt: skip
        self.requests: Counter[str] = Counter()  # "ReceiveMessage" / "DeleteMessageBatch"
        self._lock = threading.Lock()
        self.client.meta.events.register("before-send.sqs.*", self._counted)
        self._pool = ThreadPoolExecutor(RECEIVERS, thread_name_prefix="sqs-receive")
        self._retention: float | None = None

    def _counted(self, event_name: str = "", **_kw: Any) -> None:
        """One HTTP attempt ("before-send.<service>.<Operation>"): what is billed."""
        with self._lock:
            self.requests[event_name.rsplit(".", 1)[-1] or "other"] += 1

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _call(self, fn: Any, **kwargs: Any) -> Any:
        try:
            answer = fn(QueueUrl=self.queue_url, **kwargs)
        except Exception as exc:
            if _is_boto(exc):
                raise EventQueueError(describe_sqs_error(exc, self.queue_url)) from None
            raise
        # SQS sends x-amzn-RequestId with every answer; a proxy or a wrong endpoint that
        # answers 200 with something else would otherwise read as an empty queue.
        if not answer.get("ResponseMetadata", {}).get("RequestId"):
            raise EventQueueError(
                f"the endpoint for {self.queue_url} answered, but not as SQS: check "
                "AWS_ENDPOINT_URL_SQS / AWS_ENDPOINT_URL"
            )
        return answer

    def retention_seconds(self) -> float:
        """How long the queue keeps a message: past it unread, events may have been lost."""
        if self._retention is None:
            answer = self._call(
                self.client.get_queue_attributes, AttributeNames=["MessageRetentionPeriod"]
            )
            self._retention = float(
                answer.get("Attributes", {}).get("MessageRetentionPeriod", 345600)
            )
        return self._retention

    def drain(self, budget_seconds: float) -> Drained:
        """Receive until the queue answers empty or ``budget_seconds`` pass.

        Short polls (see ``_WAIT``), several receivers at once, while messages come."""
        deadline = time.monotonic() + budget_seconds

        def receive() -> tuple[list[dict[str, Any]], bool]:
            got: list[dict[str, Any]] = []
            wait = _WAIT
            while time.monotonic() < deadline:
                answer = self._call(
                    self.client.receive_message,
                    MaxNumberOfMessages=_BATCH,
                    WaitTimeSeconds=wait,
                )
                messages = answer.get("Messages", [])
                if not isinstance(messages, list):
                    raise EventQueueError(f"{self.queue_url}: ReceiveMessage answered no list")
                if not messages:
                    return got, False
                got += messages
                wait = 0
            return got, True

        futures = [self._pool.submit(receive) for _ in range(RECEIVERS)]
        messages: list[dict[str, Any]] = []
        more = False
        failure: EventQueueError | None = None
        for future in futures:
            try:
                got, left = future.result()
            except EventQueueError as exc:
                failure = failure or exc
                continue
            messages += got
            more = more or left
        if failure is not None and not messages:
            raise failure
        now = self.clock()
        arrivals: list[Arrival] = []
        unreadable = 0
        for message in messages:
            body = message.get("Body") if isinstance(message, dict) else None
            found = parse_body(body, now) if isinstance(body, str) else None
            if found is None:
                unreadable += 1
            else:
                arrivals += found
        receipts = [
            m["ReceiptHandle"]
            for m in messages
            if isinstance(m, dict) and isinstance(m.get("ReceiptHandle"), str)
        ]
        return Drained(arrivals, receipts, unreadable, more)

    def ack(self, receipts: Iterable[str]) -> None:
        """Delete what was applied; a failed delete comes back and is skipped as known."""
        todo = list(receipts)
        for start in range(0, len(todo), _BATCH):
            chunk = todo[start : start + _BATCH]
            answer = self._call(
                self.client.delete_message_batch,
                Entries=[{"Id": str(i), "ReceiptHandle": r} for i, r in enumerate(chunk)],
            )
            if answer.get("Failed"):
                log.warning(
                    "event queue: %d message(s) not deleted (%s); they come back and are skipped",
                    len(answer["Failed"]),
                    answer["Failed"][0].get("Code", "error"),
                )


def _is_boto(exc: Exception) -> bool:
    from botocore import exceptions as bx

    return isinstance(exc, bx.BotoCoreError | bx.ClientError)
