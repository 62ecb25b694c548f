"""The S3 reader fed by the event queue (S3 -> EventBridge -> SQS), over a fleet landed by the
real lander into moto: what is new costs no listing, a missed event is named by the safety
cycle, a queue that fails (missing, hanging, garbage) falls back to listing, alone and in
bounded time, and a restart trusts the cache only while the queue still holds what it missed.

The message bodies are what moto's S3 sends (``moto/s3/notifications.py``); the formats of
AWS's own documentation are checked in :func:`test_parse_body_formats`.
"""

from __future__ import annotations

import json
import logging
import math
import socket
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from moto import mock_aws

from sensorlake.contract.keys import LandingKey
from sensorlake.contract.pipelines import BUCKET_ENV, LANDING_ROLES
from sensorlake.dashboards.readers import s3 as s3_reader_module
from sensorlake.dashboards.readers.s3_events import (
    Arrival,
    EventQueueError,
    S3EventQueue,
    parse_body,
)
from sensorlake.landing.fleet import fleet_gateways, land_gateway, simulate_fleet

from .test_cache import (
    GATEWAYS,
    ROWS,
    Requests,
    complete,
    landed_records,
    s3_env,  # noqa: F401 (a fixture)
    s3_reader,
    totals,
)

pytestmark = pytest.mark.dashboards

REGION = "us-east-1"


# -- the message formats ---------------------------------------------------------------------

KEY = LandingKey("raw", "2026-12-04", "gw-0001", 1, 1, 120).format()


def test_parse_body_formats() -> None:
    now = 1_000.0
    # EventBridge, as https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html
    # shows it: key not URL-encoded, "etag", ISO time with Z.
    bridge = {
        "version": "0",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "time": "2026-12-04T00:00:01Z",
        "detail": {
            "bucket": {"name": "b"},
            "object": {"key": KEY, "size": 12, "etag": "abc", "sequencer": "1"},
            "reason": "PutObject",
        },
    }
    got = parse_body(json.dumps(bridge), now)
    when = datetime(2026, 12, 4, 0, 0, 1, tzinfo=UTC).timestamp()
    assert got == [Arrival("b", KEY, 12, '"abc"', when)]
    # S3 event notification: key URL-encoded ('=' is %3D), "eTag", eventTime with millis.
    encoded = KEY.replace("=", "%3D")
    record = {
        "eventName": "ObjectCreated:Put",
        "eventTime": "2026-12-04T00:00:01.000Z",
        "s3": {"bucket": {"name": "b"}, "object": {"key": encoded, "size": 12, "eTag": "abc"}},
    }
    removed = {**record, "eventName": "ObjectRemoved:Delete"}
    notification = {"Records": [record, removed]}
    assert parse_body(json.dumps(notification), now) == got
    # Wrapped in SNS.
    sns = {"Type": "Notification", "Message": json.dumps(notification)}
    assert parse_body(json.dumps(sns), now) == got
    # S3's test event and other EventBridge detail types name no new object.
    assert parse_body(json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent"}), now) == []
    assert parse_body(json.dumps({**bridge, "detail-type": "Object Deleted"}), now) == []
    # Not an S3 event: None (deleted and counted as unreadable).
    for junk in (
        "",
        "not json",
        "[]",
        json.dumps({**bridge, "source": "aws.ec2"}),
        json.dumps({"Records": [{"s3": "x"}]}),
        json.dumps({**bridge, "detail": {"bucket": {"name": "b"}, "object": {"key": KEY}}}),
        json.dumps({**bridge, "detail": {**bridge["detail"], "object": {**bridge["detail"]["object"], "size": True}}}),  # type: ignore[dict-item]
        json.dumps({**bridge, "detail": {**bridge["detail"], "object": {**bridge["detail"]["object"], "size": -1}}}),  # type: ignore[dict-item]
    ):  # fmt: skip
        assert parse_body(junk, now) is None, junk
    # An unreadable time falls back to the time of receipt.
    odd = {**bridge, "time": "yesterday"}
    assert parse_body(json.dumps(odd), now)[0].modified == now  # type: ignore[index]


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=20,
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(body=st.one_of(st.text(max_size=200), JSON.map(json.dumps)))
def test_parse_body_never_raises(body: str) -> None:
    got = parse_body(body, 0.0)
    assert got is None or all(isinstance(a, Arrival) for a in got)


@settings(max_examples=100, deadline=None)
@given(
    obj=st.dictionaries(st.sampled_from(["key", "size", "etag", "eTag"]), JSON, max_size=4),
    bucket=JSON,
)
def test_parse_body_odd_fields(obj: dict[str, Any], bucket: Any) -> None:
    """Any value in the fields that matter: an arrival with the right types, or None."""
    body = {
        "detail-type": "Object Created",
        "source": "aws.s3",
        "detail": {"bucket": bucket, "object": obj},
    }
    got = parse_body(json.dumps(body), 0.0)
    assert got is None or (len(got) == 1 and isinstance(got[0].size, int))


# -- moto: the queue wired as infra wires it ----------------------------------------------------


def wire_events(env: dict[str, str]) -> str:
    """Buckets, a queue, an EventBridge rule for S3 Object Created into it, EventBridge on
    for every landing bucket; the queue's URL."""
    s3 = boto3.client("s3", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    events = boto3.client("events", region_name=REGION)
    url = sqs.create_queue(QueueName="sensorlake-monitor-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    buckets = sorted({env[BUCKET_ENV[role]] for role in LANDING_ROLES})
    pattern = {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {"bucket": {"name": buckets}},
    }
    events.put_rule(Name="sensorlake-monitor", EventPattern=json.dumps(pattern))
    events.put_targets(Rule="sensorlake-monitor", Targets=[{"Id": "queue", "Arn": arn}])
    for bucket in buckets:
        s3.create_bucket(Bucket=bucket)
        s3.put_bucket_notification_configuration(
            Bucket=bucket, NotificationConfiguration={"EventBridgeConfiguration": {}}
        )
    return url


def fed_reader(env: dict[str, str], cache: Path, url: str, **options: Any) -> Any:
    queue = S3EventQueue(url, region=REGION, timeout_seconds=5)
    return s3_reader(env, cache, events=queue, **options)


@mock_aws
def test_events_make_new_files_cost_no_listing(
    s3_env: dict[str, str],  # noqa: F811
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = wire_events(s3_env)
    fleet = tmp_path / "fleet"
    landed = simulate_fleet(fleet, GATEWAYS, rows=ROWS, env=s3_env, seed=1)
    assert not landed.failed
    cache = tmp_path / "cache.sqlite"
    reader = fed_reader(s3_env, cache, url)
    calls = Requests(reader)
    first = complete(reader)  # the first scan lists; the queue's events are then known keys
    assert sum(n for n, _r in totals(first).values()) == landed.files_landed
    assert calls.full_listings() > 0

    # Nothing new: no LIST at all (the events say there is nothing), no HEAD.
    calls.clear()
    assert totals(complete(reader)) == totals(first)
    assert calls.count("LIST") == 0 and calls.count("HEAD") == 0

    # A new file: it is known from its event, so only its HEADs are sent.
    g = fleet_gateways(fleet, GATEWAYS)[2]
    *_r, files, _records, error = land_gateway(g, ROWS, seed=7, lake_dir=None, env=s3_env)
    assert not error and files
    calls.clear()
    after = complete(reader)
    assert sum(n for n, _r in totals(after).values()) == landed.files_landed + files
    assert totals(after)["raw"][1] == landed_records(fleet)
    assert calls.count("LIST") == 0 and calls.count("HEAD") == files

    # A new gateway: also from its events, no Delimiter listing needed.
    newcomer = fleet_gateways(fleet, GATEWAYS + 1)[-1]
    *_r, files2, _records, error = land_gateway(newcomer, ROWS, seed=8, lake_dir=None, env=s3_env)
    assert not error and files2
    calls.clear()
    grown = complete(reader)
    assert newcomer.gateway_id in {o.key.gateway for o in grown.objects["raw"]}
    assert calls.count("LIST") == 0
    assert reader.events.requests["ReceiveMessage"] > 0
    assert reader.events.requests["DeleteMessageBatch"] > 0
    reader.close()

    # A restart with the cache: the queue holds what came meanwhile; still no listing.
    *_r, files3, _records, error = land_gateway(g, ROWS, seed=9, lake_dir=None, env=s3_env)
    assert not error and files3
    again = fed_reader(s3_env, cache, url)
    calls = Requests(again)
    restarted = complete(again)
    assert (
        sum(n for n, _r in totals(restarted).values())
        == sum(n for n, _r in totals(grown).values()) + files3
    )
    assert calls.count("LIST") == 0 and calls.count("HEAD") == files3
    again.close()


@mock_aws
def test_safety_cycle_names_objects_that_came_without_an_event(
    s3_env: dict[str, str],  # noqa: F811
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = wire_events(s3_env)
    fleet = tmp_path / "fleet"
    simulate_fleet(fleet, 3, rows=ROWS, env=s3_env, seed=1)
    # The feed starts late in a second: a file landed within that second lists with the
    # second's start (S3 listings give whole seconds) and still came after the feed began
    # (CI failed here when the landing below fell in the same second).
    clock = [math.floor(time.time()) + 0.999]
    reader = fed_reader(s3_env, tmp_path / "cache.sqlite", url, clock=lambda: clock[0])
    first = complete(reader)
    # EventBridge switched off behind the monitor's back: files land without events.
    s3 = boto3.client("s3", region_name=REGION)
    for role in LANDING_ROLES:
        s3.put_bucket_notification_configuration(
            Bucket=s3_env[BUCKET_ENV[role]], NotificationConfiguration={}
        )
    g = fleet_gateways(fleet, 3)[0]
    *_r, files, _records, error = land_gateway(g, ROWS, seed=3, lake_dir=None, env=s3_env)
    assert not error and files
    quiet = complete(reader)
    assert totals(quiet) == totals(first)  # no event, and the safety cycle is not due
    # A day later the safety cycle lists, finds them, and says why they were missed.
    clock[0] += s3_reader_module.RELIST_SECONDS + 1
    with caplog.at_level(logging.WARNING, logger="sensorlake.dashboards.readers.s3"):
        found = complete(reader)
    assert (
        sum(n for n, _r in totals(found).values())
        == sum(n for n, _r in totals(first).values()) + files
    )
    missed = [r.getMessage() for r in caplog.records if "without an event" in r.getMessage()]
    assert missed and "EventBridge" in missed[0]
    reader.close()


@mock_aws
def test_a_missing_queue_falls_back_to_listing(
    s3_env: dict[str, str],  # noqa: F811
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = wire_events(s3_env)
    fleet = tmp_path / "fleet"
    landed = simulate_fleet(fleet, 3, rows=ROWS, env=s3_env, seed=1)
    reader = fed_reader(s3_env, tmp_path / "cache.sqlite", url + "-gone")
    with caplog.at_level(logging.WARNING):
        first = complete(reader)
        g = fleet_gateways(fleet, 3)[1]
        *_r, files, _records, error = land_gateway(g, ROWS, seed=4, lake_dir=None, env=s3_env)
        assert not error
        after = complete(reader)  # listed: the new file shows without its event
    assert sum(n for n, _r in totals(first).values()) == landed.files_landed
    assert sum(n for n, _r in totals(after).values()) == landed.files_landed + files
    lines = [r.getMessage() for r in caplog.records if "does not exist" in r.getMessage()]
    assert len(lines) == 1  # once, not at every refresh
    assert "SENSORLAKE_MONITOR_QUEUE_URL" in lines[0] and "listing" in lines[0]
    reader.close()


@mock_aws
def test_restart_after_the_queue_may_have_dropped_events_lists_once(
    s3_env: dict[str, str],  # noqa: F811
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = wire_events(s3_env)
    simulate_fleet(tmp_path / "fleet", 3, rows=ROWS, env=s3_env, seed=1)
    cache = tmp_path / "cache.sqlite"
    reader = fed_reader(s3_env, cache, url)
    complete(reader)
    reader.close()
    # Back after longer than the queue keeps messages (moto's default: 4 days).
    later = time.time() + 5 * 86400
    again = fed_reader(s3_env, cache, url, clock=lambda: later)
    calls = Requests(again)
    with caplog.at_level(logging.INFO, logger="sensorlake.dashboards.readers.s3"):
        complete(again)
    assert calls.count("LIST") > 0
    assert any("older than the queue keeps" in r.getMessage() for r in caplog.records)
    calls.clear()
    complete(again)
    assert calls.count("LIST") == 0  # once
    again.close()


def test_out_of_order_events_keep_a_prefix_sorted() -> None:
    state = s3_reader_module._Target("b")
    keys = [
        LandingKey("raw", "2026-12-04", "gw-1", epoch, first, first + 9).format()
        for epoch, first in ((1, 1), (3, 21), (2, 11))
    ]
    for key in keys:
        state.add(key, (LandingKey.parse(key), 1, 0.0, '"e"'))
    assert state.prefixes["raw/date=2026-12-04/gateway=gw-1/"] == sorted(keys)


# -- a queue endpoint that fails alone ----------------------------------------------------------


class _Endpoint:
    """127.0.0.1 server: 'hang' accepts and never answers; 'garbage' answers 200 junk."""

    def __init__(self, mode: str) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.mode = mode
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.held: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _addr = self.sock.accept()
            except OSError:
                return
            if self.mode == "hang":
                self.held.append(conn)
                continue
            conn.recv(65536)
            body = b"<<<not sqs>>>"
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.0\r\n"
                b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
            )
            conn.close()

    def close(self) -> None:
        self.sock.close()
        for c in self.held:
            c.close()


@pytest.mark.parametrize("mode", ["hang", "garbage"])
def test_a_failing_queue_endpoint_is_one_line_in_bounded_time(
    mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    server = _Endpoint(mode)
    try:
        queue = S3EventQueue(
            f"{server.url}/123456789012/q",
            region=REGION,
            endpoint_url=server.url,
            timeout_seconds=1,
        )
        began = time.monotonic()
        with pytest.raises(EventQueueError) as caught:
            queue.drain(2.0)
        took = time.monotonic() - began
        message = str(caught.value)
        assert "\n" not in message and "testing" not in message
        assert took < 10, took  # one attempt: 1 s connect, 1 s read + the 1 s long poll
        queue.close()
    finally:
        server.close()


@mock_aws
def test_a_hanging_queue_leaves_the_landing_zone_readable(
    s3_env: dict[str, str],  # noqa: F811
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """S3 answers, the queue's endpoint hangs: the listing carries on, the queue costs one
    bounded wait and is asked again only after FEED_RETRY_SECONDS."""
    wire_events(s3_env)
    landed = simulate_fleet(tmp_path / "fleet", 3, rows=ROWS, env=s3_env, seed=1)
    server = _Endpoint("hang")
    try:
        queue = S3EventQueue(
            f"{server.url}/123456789012/q",
            region=REGION,
            endpoint_url=server.url,
            timeout_seconds=1,
        )
        reader = s3_reader(s3_env, tmp_path / "cache.sqlite", events=queue)
        with caplog.at_level(logging.WARNING):
            began = time.monotonic()
            first = complete(reader)
            asked = queue.requests["ReceiveMessage"]
            again = complete(reader)
            took = time.monotonic() - began
        assert sum(n for n, _r in totals(first).values()) == landed.files_landed
        assert totals(again) == totals(first)
        lines = [
            r.getMessage() for r in caplog.records if "listing the landing zone" in r.getMessage()
        ]
        assert len(lines) == 1 and "cannot reach SQS" in lines[0]
        assert asked and queue.requests["ReceiveMessage"] == asked  # not asked at every refresh
        assert took < 60, took
        reader.close()
    finally:
        server.close()


@mock_aws
def test_status_leaves_the_queue_to_the_monitor(
    s3_env: dict[str, str],  # noqa: F811
    tmp_path: Path,
) -> None:
    """`sensorlake status` beside a running monitor lists; it never receives (and so never
    deletes) the events the monitor needs."""
    from click.testing import CliRunner

    from sensorlake.contract.cli import main

    url = wire_events(s3_env)
    simulate_fleet(tmp_path / "fleet", 2, rows=ROWS, env=s3_env, seed=1)
    sqs = boto3.client("sqs", region_name=REGION)

    def waiting() -> int:
        attrs = sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
        )
        return int(attrs["Attributes"]["ApproximateNumberOfMessages"])

    before = waiting()
    assert before > 0
    env = {
        **s3_env,
        "SENSORLAKE_MONITOR_QUEUE_URL": url,
        "SENSORLAKE_STATE_DIR": str(tmp_path / "s"),
    }
    result = CliRunner().invoke(main, ["status", "--json"], env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    landing = json.loads(result.stdout)
    assert landing  # it answered (tables not configured: Databricks is not set)
    assert waiting() == before
