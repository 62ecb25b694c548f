"""The landing buckets in S3, read incrementally: a refresh costs what arrived since the last.

Why this way. The key layout (``contract.keys``) is ``<target>/date=D/gateway=G/<epoch>-
<first row>-<last row>``, zero-padded, so within one (target, day, gateway) prefix keys sort
in arrival order. A refresh therefore:

* lists the day folders of each target with ``Delimiter="/"`` (one LIST per target), and the
  gateway folders of each *open* day the same way (one LIST per 1,000 gateways): new days
  and new gateways cost one LIST each;
* lists each open (target, day, gateway) prefix with ``StartAfter`` = its second-to-last
  known key: the answer starts with the last known key (proof the cache still matches the
  bucket) followed by what is new, usually one page;
* asks one HEAD per *new* object for its ``record-count`` (listings carry no user
  metadata); landed objects are create-only, so a count is kept while the ETag is the same.

Open days are today (UTC) and ``unknown``, and in a past day the gateway prefixes that
received an object in the last :data:`ACTIVE_SECONDS` (yesterday's last files after
midnight, a backlog landing); a past day's folder of gateways is listed while any of its
prefixes is open. The rest is
closed: listed again every ``sweep_seconds`` (a backlog that starts landing into a quiet
past day shows after at most that), or when a day folder appears or disappears.

With an event queue (``SENSORLAKE_MONITOR_QUEUE_URL``, ``s3_events.py``: S3 -> EventBridge ->
SQS, set up by ``infra``) a refresh receives what was created instead of listing: the cost
follows the new objects, not the gateways. The listing then runs as the first scan, as a
safety cycle every ``relist_seconds`` (a day; it names objects that arrived without an
event), with past days swept weekly, and in full while the queue cannot be read (the
fallback) or after the monitor was away longer than the queue keeps messages. A manifest
written by the lander was the other way to avoid listing, but doubles its PUTs; the tables'
per-file counts miss what is not ingested yet, which is what the monitor exists to show.

What was learned is kept in :class:`~..cache.MonitorCache` (SQLite under the state dir), so a
restart lists only the open prefixes from their last keys instead of every bucket. A cache
that no longer matches (a day, a gateway or a prefix's last key gone: objects deleted, the
bucket emptied or recreated) is corrected for that part with one log line; an unreadable one
is rebuilt (cache.py). The very first scan, with nothing known, is one paginated listing per
target (1,000 keys per LIST), the cheapest way to learn everything once.

One refresh lists for at most ``work_seconds``: a cycle longer than that (the first scan of
a big bucket, thousands of gateways) goes on at the next refresh, and the listing says how
many listings are still ``pending``, so the figures come early and the backend bound holds.
HEADs run in a pool in the background: a refresh waits a few seconds for them, then publishes
what it has and says how many objects are not counted yet. ``requests`` counts what this
reader asked S3 (LIST, HEAD), for the cost figures. boto3's standard credential chain and
``AWS_ENDPOINT_URL`` apply; every botocore failure becomes one line.
"""

from __future__ import annotations

import bisect
import logging
import math
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from datetime import UTC, datetime
from typing import Any

from sensorlake.contract.keys import UNKNOWN_DATE, LandingKey, source_prefix
from sensorlake.contract.lake import s3_url
from sensorlake.contract.metadata import ObjectMetadata
from sensorlake.contract.pipelines import BUCKET_ENV, LANDING_PREFIXES, TARGETS

from ..cache import CachedObject, MonitorCache
from ..errors import BackendUnavailable
from ..settings import S3Settings
from .base import OUTSIDE_SHOWN, LandedObject, LandingListing
from .s3_events import Arrival, EventQueueError, S3EventQueue

__all__ = [
    "ACTIVE_SECONDS",
    "COUNT_BUDGET_SECONDS",
    "EVENT_GRACE_SECONDS",
    "EVENT_SWEEP_SECONDS",
    "FEED_RETRY_SECONDS",
    "HEAD_WORKERS",
    "LIST_BATCH",
    "LIST_WORKERS",
    "PAGE_SIZE",
    "RELIST_SECONDS",
    "SWEEP_SECONDS",
    "S3LandingReader",
    "describe_s3_error",
    "make_client",
]

log = logging.getLogger(__name__)

HEAD_WORKERS = 32
# Prefix listings in flight at once, and how many a refresh hands out together.
LIST_WORKERS = 16
LIST_BATCH = 64
PAGE_SIZE = 1000
# How long a refresh waits for new objects' counts before publishing what it has.
COUNT_BUDGET_SECONDS = 5.0
# Closed (past) days are listed again this often, for backlogs landed late into them.
SWEEP_SECONDS = 6 * 3600.0
# A past day's gateway prefix stays open while its newest object is younger than this.
ACTIVE_SECONDS = 3600.0
# With an event queue: the safety listing cycle's period, and the past days' sweep.
RELIST_SECONDS = 24 * 3600.0
EVENT_SWEEP_SECONDS = 7 * 24 * 3600.0
# A queue that failed is asked again after this (listing meanwhile).
FEED_RETRY_SECONDS = 60.0
# An object found by a listing, older than this and without an event, is reported: the
# events are usually seconds late, sometimes a minute or more (S3's documentation).
EVENT_GRACE_SECONDS = 300.0
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
        max_pool_connections=HEAD_WORKERS + LIST_WORKERS + 4,
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


class _Target:
    """What one target's prefix is known to hold."""

    def __init__(self, bucket: str) -> None:
        self.bucket = bucket
        self.scanned = False  # listed in full once (or loaded from the cache)
        self.objects: dict[str, _Listed] = {}  # key -> listed object
        self.prefixes: dict[str, list[str]] = {}  # "t/date=D/gateway=G/" -> keys, sorted
        self.strays: set[str] = set()  # keys under the prefix outside the layout
        self.swept_at = 0.0  # when the closed days were last listed again
        self.cycled_at = 0.0  # when the last listing cycle began
        self.since = 0.0  # when the one before the current cycle began
        self.built: tuple[tuple[str, _Listed], ...] | None = None  # sorted, until a change
        self.active: dict[str, float] = {}  # prefix -> newest object's time
        # The listing jobs of the current cycle, run a refresh's budget at a time:
        # ("scan", continuation token), ("days", ""), ("gateways", day), ("prefix", prefix).
        self.todo: deque[tuple[str, str]] = deque()
        self.stale: list[str] = []  # what the current cycle found changed behind the cache
        self.missed = 0  # objects the current cycle found that no event announced
        # name -> (the count entry and listing it was made from, the LandedObject): a
        # refresh makes objects anew only for what changed (not 200,000 each time)
        self.landed: dict[str, tuple[tuple[str, int] | None, _Listed, LandedObject]] = {}
        self.sweeping = False  # the current cycle looks into the closed days too

    def add(self, key: str, item: _Listed) -> None:
        self.objects[key] = item
        prefix = _prefix_of(key)
        keys = self.prefixes.setdefault(prefix, [])
        if keys and key < keys[-1]:  # an event out of arrival order: keep the keys sorted
            bisect.insort(keys, key)
        else:
            keys.append(key)
        self.active[prefix] = max(self.active.get(prefix, 0.0), item[2])
        self.built = None

    def drop_prefix(self, prefix: str) -> list[str]:
        gone = self.prefixes.pop(prefix, [])
        self.active.pop(prefix, None)
        for key in gone:
            self.objects.pop(key, None)
            self.landed.pop(key, None)
        self.built = None
        return gone

    def days(self) -> dict[str, set[str]]:
        """day -> gateways known."""
        out: dict[str, set[str]] = {}
        for prefix in self.prefixes:
            _t, date, gateway = prefix.rstrip("/").split("/")
            out.setdefault(date.removeprefix("date="), set()).add(gateway.removeprefix("gateway="))
        return out


def _prefix_of(key: str) -> str:
    return key[: key.rindex("/") + 1]


class S3LandingReader:
    kind = "s3"

    def __init__(
        self,
        settings: S3Settings,
        client: Any | None = None,
        *,
        count_budget_seconds: float = COUNT_BUDGET_SECONDS,
        cache: MonitorCache | None = None,
        sweep_seconds: float | None = None,
        work_seconds: float | None = None,
        clock: Callable[[], float] = time.time,
        events: S3EventQueue | None = None,
        relist_seconds: float = RELIST_SECONDS,
    ) -> None:
        self.settings = settings
        self.events = events
        self.relist_seconds = relist_seconds
        # Whether the queue answered at the last refresh (None: not asked yet), since when
        # it has, and the last error line (logged once per change).
        self._feed_ok: bool | None = None
        self._feed_since = 0.0
        self._feed_error = ""
        self._feed_retry_at = 0.0  # after a failure, the queue is asked again from then
        # How long one refresh lists at most (the rest continues at the next refresh): well
        # inside the backend's time bound, so a big cycle is never reported "unreachable".
        # Listing and waiting for counts together stay within half the bound.
        quarter = settings.timeout_seconds / 4
        self.work_seconds = work_seconds if work_seconds is not None else min(5.0, quarter)
        self.count_budget_seconds = min(count_budget_seconds, quarter)
        if sweep_seconds is None:
            sweep_seconds = EVENT_SWEEP_SECONDS if events is not None else SWEEP_SECONDS
        self.sweep_seconds = sweep_seconds
        self.clock = clock
        self._inflight: set[tuple[str, str]] = set()
        self.client = client if client is not None else make_client(settings)
        self.requests: Counter[str] = Counter()  # "ListObjectsV2" / "HeadObject" -> sent
        self.client.meta.events.register("before-send.s3.*", self._counted)
        self._counts: dict[tuple[str, str], tuple[str, int]] = {}  # (bucket, key) -> (etag, n)
        self._bad: dict[tuple[str, str], str] = {}  # (bucket, key) -> why its metadata is refused
        self._learned: list[CachedObject] = []  # counts read since the cache was last written
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(HEAD_WORKERS, thread_name_prefix="s3-head")
        self._listers = ThreadPoolExecutor(LIST_WORKERS, thread_name_prefix="s3-list")
        self._targets: dict[str, _Target] = {}
        self._cycle: tuple[float, int] | None = None  # when the current cycle began, requests
        self.cache = cache if cache is not None else MonitorCache(None, "")
        self._load_cache()

    def _counted(self, event_name: str = "", **_kw: Any) -> None:
        """One HTTP attempt ("before-send.<service>.<Operation>"): what is billed."""
        with self._lock:
            self.requests[event_name.rsplit(".", 1)[-1] or "other"] += 1

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._listers.shutdown(wait=False, cancel_futures=True)
        if self.events is not None:
            self.events.close()
        self._flush()
        self.cache.close()

    # -- the cache -------------------------------------------------------------------------

    def _load_cache(self) -> None:
        rows = self.cache.objects()
        if not rows:
            return
        # One pass over the rows (sorted by bucket and key: the table's primary key), by
        # (bucket, target): a restart at 200,000 objects loads in a few seconds.
        by_target: dict[tuple[str, str], list[CachedObject]] = {}
        for row in rows:
            by_target.setdefault((row.location, row.key.split("/", 1)[0]), []).append(row)
        for role, prefixes in LANDING_PREFIXES.items():
            bucket = self.settings.buckets.get(role)
            if bucket is None:
                continue
            for target in prefixes:
                state = _Target(bucket)
                for row in by_target.get((bucket, target), ()):
                    try:
                        key = LandingKey.parse(row.key)
                    except ValueError:
                        continue
                    state.add(row.key, (key, row.size, row.modified, row.etag))
                    if row.records is not None:
                        self._counts[(bucket, row.key)] = (row.etag, row.records)
                    if row.bad:
                        self._bad[(bucket, row.key)] = row.bad
                state.scanned = self.cache.get(f"scanned:{bucket}:{target}") == "1"
                swept = self.cache.get(f"swept:{bucket}:{target}")
                state.swept_at = float(swept) if swept else 0.0
                cycled = self.cache.get(f"cycled:{bucket}:{target}")
                state.cycled_at = float(cycled) if cycled else 0.0
                self._targets[target] = state
        log.info("monitor cache: %d landed object(s) known from %s", len(rows), self.cache.path)

    def _persist(self, target: str, state: _Target, new: list[str], gone: list[str]) -> None:
        bucket = state.bucket
        with self._lock:
            counts = dict(self._counts)
        rows = [
            CachedObject(bucket, k, s, m, e, _count_for(counts, bucket, k, e), None)
            for k in new
            for (_key, s, m, e) in (state.objects[k],)
        ]
        meta = _meta(target, state)
        if not self.cache.write(put=rows, delete=[(bucket, k) for k in gone], meta=meta):
            self._rewrite_cache()

    def _flush(self) -> None:
        """Write the record counts read since the last refresh."""
        with self._lock:
            learned, self._learned = self._learned, []
        if learned and not self.cache.write(put=learned):
            self._rewrite_cache()

    def _rewrite_cache(self) -> None:
        """The cache file was rebuilt empty: write everything known again."""
        with self._lock:
            counts = dict(self._counts)
            bad = dict(self._bad)
        rows: list[CachedObject] = []
        meta: list[tuple[str, str]] = []
        for target, state in self._targets.items():
            b = state.bucket
            for k, (_key, s, m, e) in state.objects.items():
                rows.append(
                    CachedObject(b, k, s, m, e, _count_for(counts, b, k, e), bad.get((b, k)))
                )
            meta += _meta(target, state)
        self.cache.write(put=rows, meta=meta)

    # -- listing ---------------------------------------------------------------------------

    def list_landed(self) -> LandingListing:
        self._flush()
        started = time.monotonic()
        deadline = started + self.work_seconds
        location: dict[str, str] = {}
        errors: dict[str, str] = {}
        listed: dict[str, _Target] = {}
        configured: dict[str, _Target] = {}
        for role, prefixes in LANDING_PREFIXES.items():
            bucket = self.settings.buckets.get(role)
            for target in prefixes:
                if bucket is None:
                    location[target] = f"not configured ({BUCKET_ENV[role]} unset)"
                    continue
                location[target] = s3_url(bucket, source_prefix(target))
                state = self._targets.get(target)
                if state is None or state.bucket != bucket:
                    state = self._targets[target] = _Target(bucket)
                configured[target] = state
        fed = self._take_events(configured, started + self.work_seconds * 0.8)
        for target, state in configured.items():
            try:
                self._refresh_target(target, state, deadline, fed)
            except Exception as exc:
                if not _is_boto(exc):
                    raise
                errors[target] = describe_s3_error(exc, state.bucket)
                continue
            listed[target] = state
        if self._cycle is not None and not any(state.todo for state in listed.values()):
            began, sent = self._cycle
            self._cycle = None
            log.info(
                "landing zone listing cycle: %.2f s, %d request(s)",
                time.monotonic() - began,
                sum(self.requests.values()) - sent,
            )
        tried = sum(1 for t in TARGETS if not location[t].startswith("not configured"))
        if tried and len(errors) == tried:
            first = next(iter(errors.values()))
            raise BackendUnavailable(first if tried == 1 else f"{first} (every bucket failed)")
        self._count_new(
            [
                (state.bucket, name, item[3])
                for state in listed.values()
                for name, item in state.objects.items()
            ]
        )
        with self._lock:
            counts = dict(self._counts)
            refused = dict(self._bad)
        bad: dict[str, str] = {}
        objects: dict[str, tuple[LandedObject, ...]] = {t: () for t in TARGETS}
        uncounted: dict[str, int] = {}
        pending: dict[str, int] = {}
        outside: list[str] = []
        for target, state in listed.items():
            bucket = state.bucket
            if state.built is None:
                state.built = tuple(sorted(state.objects.items()))
            out = []
            missing = 0
            memo = state.landed
            for name, item in state.built:
                key, size, modified, etag = item
                known = counts.get((bucket, name))
                if known is None or known[0] != etag:
                    missing += 1
                elif (bucket, name) in refused:
                    bad[name] = refused[(bucket, name)]
                seen = memo.get(name)
                if seen is None or seen[0] is not known or seen[1] is not item:
                    records = known[1] if known else 0
                    seen = memo[name] = (known, item, LandedObject(key, size, modified, records))
                out.append(seen[2])
            objects[target] = tuple(out)
            uncounted[target] = missing
            pending[target] = len(state.todo)
            outside.extend(s3_url(bucket, k) for k in state.strays)
        return LandingListing(
            objects,
            location,
            errors,
            len(outside),
            uncounted,
            bad,
            tuple(sorted(outside)[:OUTSIDE_SHOWN]),
            pending=pending,
        )

    def _take_events(self, targets: dict[str, _Target], until: float) -> bool:
        """Apply what the event queue says was created; False when there is no queue or it
        cannot be read (then the listing cycles run as without one)."""
        if self.events is None:
            return False
        now = self.clock()
        if self._feed_ok is False and now < self._feed_retry_at:
            return False
        try:
            if self._feed_ok is None:
                self._check_gap(targets, now)
            drained = self.events.drain(max(0.5, until - time.monotonic()))
        except EventQueueError as exc:
            if self._feed_ok is not False or str(exc) != self._feed_error:
                log.warning("%s; listing the landing zone instead until it answers", exc)
            self._feed_ok, self._feed_error = False, str(exc)
            self._feed_retry_at = now + FEED_RETRY_SECONDS
            return False
        if self._feed_ok is False:
            log.info("event queue %s answers again", self.events.queue_url)
        if not self._feed_ok:
            self._feed_since = now
        self._feed_ok = True
        new: dict[str, list[str]] = {}
        for arrival in drained.arrivals:
            target = arrival.key.split("/", 1)[0]
            state = targets.get(target)
            if state is None or state.bucket != arrival.bucket:
                continue  # another bucket or prefix: not a landing target of ours
            if self._arrive(state, arrival):
                new.setdefault(target, []).append(arrival.key)
        for target, keys in new.items():
            self._persist(target, targets[target], keys, [])
        self.cache.write(meta=[(self._drained_name(), repr(now))])
        if drained.unreadable:
            log.warning(
                "event queue: %d message(s) were not S3 Object Created events; deleted",
                drained.unreadable,
            )
        try:
            self.events.ack(drained.receipts)
        except EventQueueError as exc:  # they come back, and are skipped as known
            log.warning("%s; the received events come back and are skipped", exc)
        return True

    def _arrive(self, state: _Target, arrival: Arrival) -> bool:
        if arrival.key in state.objects or arrival.key in state.strays:
            return False
        try:
            key = LandingKey.parse(arrival.key)
        except ValueError:
            state.strays.add(arrival.key)
            return False
        state.add(arrival.key, (key, arrival.size, arrival.modified, arrival.etag))
        return True

    def _drained_name(self) -> str:
        assert self.events is not None
        return f"events:{self.events.queue_url}:drained"

    def _check_gap(self, targets: dict[str, _Target], now: float) -> None:
        """On the first read of the queue: if the cache is older than the queue keeps
        messages, or was not fed by this queue, events may be lost: list everything once."""
        if not any(state.scanned for state in targets.values()):
            return  # nothing known yet: the first scan lists everything anyway
        assert self.events is not None
        last = self.cache.get(self._drained_name())
        retention = self.events.retention_seconds()
        if last is not None and now - float(last) < retention - 3600:
            return
        log.info(
            "monitor cache %s: the event queue may have dropped what arrived meanwhile; "
            "listing the landing zone once",
            "not fed by this queue yet" if last is None else "older than the queue keeps messages",
        )
        for state in targets.values():
            state.cycled_at = 0.0
            state.swept_at = 0.0

    def _refresh_target(
        self, target: str, state: _Target, deadline: float, fed: bool = False
    ) -> None:
        """Run the target's listing jobs until its cycle is done or ``deadline`` passes; the
        rest waits for the next refresh (a refresh never lists for longer than its budget).
        ``fed``: the event queue said what is new, so a new cycle waits for its period."""
        if not state.todo:
            now = self.clock()
            if fed and state.scanned and now - state.cycled_at < self.relist_seconds:
                return
            state.todo.append(("days", "") if state.scanned else ("scan", ""))
            state.stale = []
            state.missed = 0
            state.since = state.cycled_at or now
            state.cycled_at = now
            if self._cycle is None:
                self._cycle = (time.monotonic(), sum(self.requests.values()))
        new: list[str] = []
        gone: list[str] = []
        try:
            first = True  # at least one job per refresh, so every cycle ends
            while state.todo and (first or time.monotonic() < deadline):
                first = False
                kind, arg = state.todo[0]
                if kind == "prefix":  # many at once: each is one round trip, mostly empty
                    batch = []
                    while state.todo and state.todo[0][0] == "prefix" and len(batch) < LIST_BATCH:
                        batch.append(state.todo.popleft()[1])
                    self._refresh_prefixes(state, batch, new, gone)
                    continue
                if kind == "scan":
                    self._scan_page(target, state, arg, new, gone)
                elif kind == "days":
                    self._days(target, state, gone)
                elif kind == "gateways":
                    self._gateways(target, state, arg, gone)
                state.todo.popleft()
        finally:
            if self.events is not None and self._feed_ok:
                # Found by listing, not by an event, and old enough that its event is due.
                # Listings give whole seconds (LastModified ends ".000Z"): a file landed in
                # the second the feed started is after it, not before.
                late = self.clock() - EVENT_GRACE_SECONDS
                since = math.floor(self._feed_since)
                state.missed += sum(
                    1 for k in new if k in state.objects and since <= state.objects[k][2] <= late
                )
            if not state.todo and state.missed:
                log.warning(
                    "%d object(s) under %s landed without an event reaching the queue: check "
                    "that EventBridge is on for the bucket (aws s3api "
                    "get-bucket-notification-configuration) and the rule targets the queue",
                    state.missed,
                    s3_url(state.bucket, source_prefix(target)),
                )
                state.missed = 0
            if not state.todo and state.stale:
                log.warning(
                    "monitor cache is stale for %s (%s%s): re-listed those prefixes",
                    s3_url(state.bucket, source_prefix(target)),
                    "; ".join(state.stale[:3]),
                    f"; {len(state.stale) - 3} more" if len(state.stale) > 3 else "",
                )
                state.stale = []
            if new or gone or not state.todo:
                self._persist(target, state, new, gone)

    def _scan_page(
        self, target: str, state: _Target, token: str, new: list[str], gone: list[str]
    ) -> None:
        """One page of the first listing of a target with nothing known (1,000 keys)."""
        extra = {"ContinuationToken": token} if token else {}
        page = self.client.list_objects_v2(
            Bucket=state.bucket, Prefix=source_prefix(target), MaxKeys=PAGE_SIZE, **extra
        )
        found, strays = _parse_page(page)
        for name, item in found:
            if name not in state.objects:
                state.add(name, item)
                new.append(name)
        state.strays.update(strays)
        if page.get("IsTruncated"):
            state.todo.insert(1, ("scan", page["NextContinuationToken"]))
        else:
            state.scanned = True
            state.swept_at = self.clock()

    def _days(self, target: str, state: _Target, gone: list[str]) -> None:
        """A new cycle: the target's day folders; queue the days to look into."""
        now = self.clock()
        state.sweeping = now - state.swept_at >= self.sweep_seconds
        known = state.days()
        days = set(self._folders(state.bucket, source_prefix(target), "date="))
        for day in sorted(set(known) - days):  # a whole day deleted (lifecycle, by hand)
            state.stale.append(f"day {day} gone")
            for gateway in known[day]:
                gone += state.drop_prefix(f"{target}/date={day}/gateway={gateway}/")
        recent = now - ACTIVE_SECONDS
        busy_days = {
            prefix.split("/")[1].removeprefix("date=")
            for prefix, newest in state.active.items()
            if newest >= recent
        }
        for day in sorted(days):
            if state.sweeping or _open_day(day, state, now) or day not in known or day in busy_days:
                state.todo.append(("gateways", day))
        if state.sweeping:
            state.swept_at = now

    def _gateways(self, target: str, state: _Target, day: str, gone: list[str]) -> None:
        """One day's gateway folders; queue the prefixes to list from their last keys."""
        base = f"{target}/date={day}/"
        known = {
            p.removeprefix(base).removeprefix("gateway=").rstrip("/")
            for p in state.prefixes
            if p.startswith(base)
        }
        gateways = set(self._folders(state.bucket, base, "gateway="))
        for gateway in sorted(known - gateways):
            state.stale.append(f"gateway {gateway} gone from {day}")
            gone += state.drop_prefix(f"{base}gateway={gateway}/")
        current = _open_day(day, state, self.clock())
        recent = self.clock() - ACTIVE_SECONDS
        for gateway in sorted(gateways):
            prefix = f"{base}gateway={gateway}/"
            # A past day's quiet gateways wait for the sweep; new and busy ones do not.
            if (
                state.sweeping
                or current
                or gateway not in known
                or state.active.get(prefix, 0.0) >= recent
            ):
                state.todo.append(("prefix", prefix))

    def _refresh_prefixes(
        self, state: _Target, prefixes: list[str], new: list[str], gone: list[str]
    ) -> None:
        """New keys under (target, day, gateway) prefixes, each listed from its last known
        key, in parallel; applied here, on the refresh thread."""

        def after(prefix: str) -> str | None:
            keys = state.prefixes.get(prefix)
            return keys[-2] if keys and len(keys) >= 2 else None

        starts = {p: after(p) for p in prefixes}
        futures = {
            p: self._listers.submit(self._list_keys, state.bucket, p, starts[p]) for p in prefixes
        }
        failure: Exception | None = None
        for prefix, future in futures.items():
            try:
                found, strays = future.result()
            except Exception as exc:  # the others are applied; this one is listed again
                failure = failure or exc
                state.todo.appendleft(("prefix", prefix))
                continue
            self._apply_prefix(state, prefix, starts[prefix], found, strays, new, gone)
        if failure is not None:
            raise failure

    def _apply_prefix(
        self,
        state: _Target,
        prefix: str,
        start: str | None,
        found: list[tuple[str, _Listed]],
        strays: list[str],
        new: list[str],
        gone: list[str],
    ) -> None:
        keys = state.prefixes.get(prefix)
        state.strays.update(strays)
        if keys:
            expect = keys[-1] if start is not None else keys[0]
            if not found or found[0][0] != expect:
                state.stale.append(f"{prefix} changed")
                gone += state.drop_prefix(prefix)
                found, _strays = self._list_keys(state.bucket, prefix, None)
            else:
                found = found[1:] if start is not None else [f for f in found if f[0] > keys[-1]]
        for name, item in found:
            state.add(name, item)
            new.append(name)

    def _folders(self, bucket: str, prefix: str, field: str) -> list[str]:
        """The ``field=value`` folder values right under ``prefix`` (a Delimiter listing)."""
        paginator = self.client.get_paginator("list_objects_v2")
        out: list[str] = []
        for page in paginator.paginate(
            Bucket=bucket, Prefix=prefix, Delimiter="/", PaginationConfig={"PageSize": PAGE_SIZE}
        ):
            for common in page.get("CommonPrefixes", ()):
                name = common["Prefix"][len(prefix) :].rstrip("/")
                if name.startswith(field):
                    out.append(name[len(field) :])
        return out

    def _list_keys(
        self, bucket: str, prefix: str, after: str | None
    ) -> tuple[list[tuple[str, _Listed]], list[str]]:
        """The landed objects under ``prefix`` (after ``after``), and the keys outside the
        layout there."""
        paginator = self.client.get_paginator("list_objects_v2")
        listed: list[tuple[str, _Listed]] = []
        unknown: list[str] = []
        extra = {"StartAfter": after} if after is not None else {}
        for page in paginator.paginate(
            Bucket=bucket, Prefix=prefix, PaginationConfig={"PageSize": PAGE_SIZE}, **extra
        ):
            found, strays = _parse_page(page)
            listed += found
            unknown += strays
        return listed, unknown

    def _count_new(self, listed: list[tuple[str, str, str]]) -> None:
        """Start a HEAD for every object not counted yet, and wait for them a little: a
        refresh with a few new objects gets all their counts, the very first scan of a big
        bucket returns early and keeps counting in the background."""
        with self._lock:
            todo = [
                (bucket, name, etag)
                for bucket, name, etag in listed
                if self._counts.get((bucket, name), ("",))[0] != etag
                and (bucket, name) not in self._inflight
            ]
            self._inflight.update((bucket, name) for bucket, name, _etag in todo)
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
                    item = self._item(bucket, key)
                    if item is not None and item[3] == found_etag:
                        self._learned.append(
                            CachedObject(
                                bucket, key, item[1], item[2], found_etag, records,
                                self._bad.get((bucket, key)),
                            )
                        )  # fmt: skip
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

    def _item(self, bucket: str, key: str) -> _Listed | None:
        target = key.split("/", 1)[0]
        state = self._targets.get(target)
        if state is None or state.bucket != bucket:
            return None
        return state.objects.get(key)

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


def _open_day(day: str, state: _Target, now: float) -> bool:
    """A day a cycle lists every prefix of: ``unknown``, today, and every day since the
    previous cycle began (with events, a day ago: what arrived without one since)."""
    since = min(now, state.since or now)
    return day == UNKNOWN_DATE or day >= datetime.fromtimestamp(since, UTC).date().isoformat()


def _meta(target: str, state: _Target) -> list[tuple[str, str]]:
    b = state.bucket
    return [
        (f"scanned:{b}:{target}", "1" if state.scanned else "0"),
        (f"swept:{b}:{target}", repr(state.swept_at)),
        (f"cycled:{b}:{target}", repr(state.cycled_at)),
    ]


def _is_boto(exc: Exception) -> bool:
    from botocore import exceptions as bx

    return isinstance(exc, bx.BotoCoreError | bx.ClientError)


def _count_for(
    counts: dict[tuple[str, str], tuple[str, int]], bucket: str, key: str, etag: str
) -> int | None:
    known = counts.get((bucket, key))
    return known[1] if known is not None and known[0] == etag else None


def _parse_page(page: dict[str, Any]) -> tuple[list[tuple[str, _Listed]], list[str]]:
    """A listing page's landed objects, and its keys outside the layout."""
    listed: list[tuple[str, _Listed]] = []
    unknown: list[str] = []
    for item in page.get("Contents", ()):
        try:
            key = LandingKey.parse(item["Key"])
        except ValueError:
            unknown.append(item["Key"])
            continue
        listed.append(
            (item["Key"], (key, int(item["Size"]), item["LastModified"].timestamp(), item["ETag"]))
        )
    return listed, unknown
