"""The old uploader's object formats told apart, and what is not one of them, by key.

The bodies and metadata names are those of the old uploader's ``_upload_to_s3`` in
``bacalhau-project/examples``,
``data-engineering/databricks-with-bacalhau/databricks-uploader/sqlite_to_databricks_uploader.py``:
at a140e6d0aae82a9e663bb75257a012759d1c93a9 (a JSON array, user metadata ``job-id``,
``node-id``, ``pipeline-type``, ``record-count``, ... as strings) and at
46c2f0879193b538d85417350312500f7aab3453 (``{"metadata": {"source", "table", "timestamp",
"record_count"}, "records"}``, no user metadata, no node id).
"""

from __future__ import annotations

import json

import pytest

from sensorlake.landing.migrate.formats import BadObject, parse_object

ROWS = [{"id": 1, "timestamp": "2026-03-01T00:00:00.000+00:00", "sensor_id": "CHI_000001"}]
# a140e6d0's put_object Metadata, as S3 hands it back (boto3: lower-case names, strings)
META = {
    "job-id": "uploader-20260301_000000-0a1b2c3d",
    "node-id": "gw-1",
    "pipeline-type": "raw",
    "record-count": "1",
    "upload-timestamp": "2026-03-01T00:00:05.123456+00:00",
    "data-start-time": ROWS[0]["timestamp"],
    "data-end-time": ROWS[-1]["timestamp"],
    "uploader-version": "0.8.1",
}
WRAPPED_KEY = "ingestion/2026/03/01/000000/data.json"


def wrapped_body(rows: list[dict[str, object]], count: int | None = None) -> bytes:
    """46c2f087's upload_data, as json.dumps wrote it."""
    metadata = {
        "source": "/app/data/sensor_data.db",
        "table": "sensor_readings",
        "timestamp": "2026-03-01T00:00:05.123456+00:00",
        "record_count": len(rows) if count is None else count,
    }
    return json.dumps({"metadata": metadata, "records": rows}).encode()


def test_each_format_and_where_its_gateway_comes_from() -> None:
    plain = parse_object("20260301_000000_0a1b2c3d.json", json.dumps(ROWS).encode(), META)
    assert (plain.format, plain.gateway, plain.rows) == ("uploader-json", "gw-1", ROWS)
    # the wrapped objects name no node: their gateway is --gateway-id's
    with pytest.raises(BadObject, match="does not name its node: pass --gateway-id"):
        parse_object(WRAPPED_KEY, wrapped_body(ROWS), {})
    wrapped = parse_object(WRAPPED_KEY, wrapped_body(ROWS), {}, gateway_id="gw-2")
    assert (wrapped.format, wrapped.gateway, wrapped.rows) == ("uploader-wrapped", "gw-2", ROWS)
    assert wrapped.metadata["source"] == "/app/data/sensor_data.db"
    forced = parse_object("k.json", json.dumps(ROWS).encode(), {}, gateway_id="gw-9")
    assert forced.gateway == "gw-9"


def test_the_record_counts_are_checked_in_each_format() -> None:
    with pytest.raises(BadObject, match="record_count says 2 rows, body has 1"):
        parse_object(WRAPPED_KEY, wrapped_body(ROWS, count=2), {}, gateway_id="gw-2")
    with pytest.raises(BadObject, match="record-count='x' is not a number"):
        parse_object("k.json", json.dumps(ROWS).encode(), {**META, "record-count": "x"})


def test_a_schema_sample_is_not_readings_even_with_a_gateway_id() -> None:
    """a140e6d0's bucket initialiser: one INIT-SENSOR row, metadata purpose=schema-inference."""
    sample = [{"id": 1, "timestamp": ROWS[0]["timestamp"], "sensor_id": "INIT-SENSOR"}]
    meta = {"job-id": "init-raw-20260301-000000", "node-id": "gw-1", "pipeline-type": "raw"}
    for key, metadata in [
        ("schema_sample_20260301_000000_raw.json", meta),
        ("20260301_000000_0a1b2c3d.json", {**meta, "purpose": "schema-inference"}),
    ]:
        with pytest.raises(BadObject, match="schema sample"):
            parse_object(key, json.dumps(sample).encode(), metadata, gateway_id="gw-1")


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
