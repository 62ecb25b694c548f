"""The old uploader's object formats told apart, and what is not one of them, by key."""

from __future__ import annotations

import json

import pytest

from sensorlake.landing.migrate.formats import BadObject, parse_object
from sensorlake.landing.migrate.history import row_identity

ROWS = [{"id": 1, "timestamp": "2026-03-01T00:00:00.000+00:00", "sensor_id": "CHI_000001"}]
META = {"node-id": "gw-1", "record-count": "1"}


def test_each_format_and_where_its_gateway_comes_from() -> None:
    plain = parse_object("20260301_000000_0a1b2c3d.json", json.dumps(ROWS).encode(), META)
    assert (plain.format, plain.gateway, plain.rows) == ("uploader-json", "gw-1", ROWS)
    body = json.dumps({"metadata": {"node_id": "gw-2", "record_count": 1}, "records": ROWS})
    wrapped = parse_object("ingestion/2026/03/01/000000/data.json", body.encode(), {})
    assert (wrapped.format, wrapped.gateway) == ("uploader-wrapped", "gw-2")
    forced = parse_object("k.json", json.dumps(ROWS).encode(), {}, gateway_id="gw-9")
    assert forced.gateway == "gw-9"


@pytest.mark.parametrize(
    ("body", "meta", "fmt", "reason"),
    [
        (b"[{", META, "auto", "not valid JSON"),
        (b"42", META, "auto", "wrong shape"),
        (b'{"records": []}', META, "auto", "wrong shape"),
        (b"[1, 2]", META, "auto", "record 0 is not an object"),
        (json.dumps(ROWS).encode(), {}, "auto", "missing metadata node-id"),
        (json.dumps(ROWS).encode(), {"node-id": "gw 1/../x"}, "auto", "cannot be used"),
        (json.dumps(ROWS).encode(), {**META, "record-count": "2"}, "auto", "says 2 rows"),
        (json.dumps(ROWS).encode(), META, "uploader-wrapped", "not uploader-wrapped"),
    ],
)
def test_what_is_not_an_uploader_object_says_why(
    body: bytes, meta: dict[str, str], fmt: str, reason: str
) -> None:
    with pytest.raises(BadObject) as caught:
        parse_object("some/key.json", body, meta, fmt=fmt)
    assert caught.value.key == "some/key.json" and reason in caught.value.reason


def test_rows_without_an_identity_are_named_by_reason() -> None:
    assert row_identity({"timestamp": "x"}) == "id.missing"
    assert row_identity({"id": "7", "timestamp": "x"}) == "id.not-integer"
    assert row_identity({"id": 2**64, "timestamp": "x"}) == "id.out-of-range"
    assert row_identity({"id": 7}) == "timestamp.missing"
    assert row_identity({"id": 7, "timestamp": "t", "sensor_id": None}) == (7, "t", "")
