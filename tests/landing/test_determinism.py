"""Property tests: the same rows always give the same keys and the same bytes.

That is what makes a replay after a crash safe: a re-read batch writes objects identical
to the ones a first attempt may already have shipped, so create-only uploads find them
identical instead of conflicting.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import math
import tempfile
import zlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sensorlake.contract.keys import UNKNOWN_DATE, LandingKey
from sensorlake.landing.encode import GzipAssembler, encode_lines, encode_part, encode_records
from sensorlake.landing.rotation import BatchFiles
from sensorlake.landing.route import Lineage, Router
from sensorlake.landing.row_checks import Validator
from sensorlake.landing.rules import load_rules
from sensorlake.landing.segments import SegmentEncoder, SegmentJob, plan_segments
from sensorlake.landing.simulate import SCHEMA_COLUMNS
from sensorlake.landing.spool import Spool

PROPERTY = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
RULES = load_rules()
COLUMNS = tuple(name for name, _ in SCHEMA_COLUMNS)
TARGETS = ("raw", "schematized", "filtered", "emergency", "rejected")
BUCKETS = {t: "schematized" if t == "rejected" else t for t in TARGETS}

# -- keys ------------------------------------------------------------------------------------

targets = st.sampled_from(TARGETS)
dates = st.one_of(
    st.just(UNKNOWN_DATE),
    st.dates(min_value=datetime(1, 1, 1).date()).map(lambda d: d.isoformat()),
)
gateways = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,62}\Z")
epochs = st.integers(min_value=1, max_value=99_999_999)
row_ids = st.integers(min_value=1, max_value=2**63 - 1)  # SQLite's rowid range


@st.composite
def landing_keys(draw: st.DrawFn, **fixed: Any) -> LandingKey:
    first, last = sorted((draw(row_ids), draw(row_ids)))
    return LandingKey(
        target=fixed.get("target") or draw(targets),
        date=fixed.get("date") or draw(dates),
        gateway=fixed.get("gateway") or draw(gateways),
        epoch=draw(epochs),
        first_row=first,
        last_row=last,
    )


@pytest.mark.partitioning
@PROPERTY
@given(landing_keys())
def test_key_format_parse_round_trip(key: LandingKey) -> None:
    text = key.format()
    assert LandingKey.parse(text) == key
    assert LandingKey.parse(text).format() == text
    assert text.startswith(f"{key.target}/date={key.date}/gateway={key.gateway}/")
    assert text.endswith(".ndjson.gz")
    assert "//" not in text and ".." not in text.split("/")


@pytest.mark.partitioning
@PROPERTY
@given(
    st.tuples(targets, dates, gateways).flatmap(
        lambda fixed: st.lists(
            landing_keys(target=fixed[0], date=fixed[1], gateway=fixed[2]),
            min_size=2,
            max_size=20,
        )
    )
)
def test_keys_sort_in_epoch_then_row_order(keys: list[LandingKey]) -> None:
    by_text = sorted(keys, key=LandingKey.format)
    by_position = sorted(keys, key=lambda k: (k.epoch, k.first_row, k.last_row))
    assert by_text == by_position


@pytest.mark.partitioning
@pytest.mark.parametrize(
    "text",
    [
        "raw/date=2026-03-01/gateway=gw/00000001-0000000000000000001-0000000000000000500.ndjson.gz\n",
        "raw/date=\u0662\u0660\u0662\u0666-03-01/gateway=gw/"
        "00000001-0000000000000000001-0000000000000000500.ndjson.gz",
    ],
)
def test_parse_accepts_only_canonical_keys(text: str) -> None:
    with pytest.raises(ValueError):
        LandingKey.parse(text)


# -- encoding --------------------------------------------------------------------------------

safe_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    safe_text,
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(safe_text, inner, max_size=4)
    ),
    max_leaves=12,
)
records_lists = st.lists(st.dictionaries(safe_text, json_values, max_size=6), max_size=30)


def split(items: Sequence[Any], cuts: list[int]) -> list[Sequence[Any]]:
    """``items`` cut at the given positions (clamped, sorted, possibly empty pieces)."""
    points = sorted(min(c, len(items)) for c in cuts)
    pieces, start = [], 0
    for point in [*points, len(items)]:
        pieces.append(items[start:point])
        start = point
    return pieces


def stream(chunks: list[Sequence[Any]], level: int) -> tuple[bytes, GzipAssembler, str]:
    """A file assembled from parts, each deflated on its own (as worker processes do)."""
    out = io.BytesIO()
    writer = GzipAssembler(out)
    for chunk in chunks:
        if chunk:
            writer.append(encode_part(encode_lines(chunk), len(chunk), 0, 0, level=level))
    sha, _ = writer.finish()
    return out.getvalue(), writer, sha


def assert_plain_gzip(data: bytes, records: list[dict[str, Any]]) -> None:
    """One gzip member without a timestamp or a file name that decodes to the records."""
    assert data[:3] == b"\x1f\x8b\x08"
    assert data[3] == 0  # FLG: no FNAME, FEXTRA, FCOMMENT
    assert data[4:8] == b"\x00\x00\x00\x00"  # MTIME
    inflater = zlib.decompressobj(31)
    lines = inflater.decompress(data).split(b"\n")
    assert inflater.eof and inflater.unused_data == b""  # one member, nothing after it
    assert lines[-1] == b""
    assert [json.loads(line) for line in lines[:-1]] == msgspec.json.decode(
        msgspec.json.encode(records)
    )


@pytest.mark.raw
@PROPERTY
@given(records_lists.filter(bool), st.integers(0, 3))
def test_one_part_file_matches_one_shot_encoding(records: list[dict[str, Any]], level: int) -> None:
    one_shot = encode_records(records, level=level)
    streamed, writer, sha = stream([records], level)
    assert streamed == one_shot
    assert encode_records(records, level=level) == one_shot  # and again: no hidden state
    assert sha == hashlib.sha256(streamed).hexdigest()
    assert (writer.records, writer.size) == (len(records), len(streamed))
    assert_plain_gzip(streamed, records)


@pytest.mark.raw
@PROPERTY
@given(records_lists, st.lists(st.integers(0, 30), max_size=6), st.integers(0, 3))
def test_files_from_parts_are_deterministic_single_member_gzip(
    records: list[dict[str, Any]], cuts: list[int], level: int
) -> None:
    """The same records cut into the same parts give the same bytes, every time, and the
    assembled file is one standard gzip member whatever the cuts."""
    first, writer, sha = stream(split(records, cuts), level)
    second, _, _ = stream(split(records, cuts), level)
    assert first == second
    assert sha == hashlib.sha256(first).hexdigest()
    assert (writer.records, writer.size) == (len(records), len(first))
    assert_plain_gzip(first, records)


# -- routing and spooling --------------------------------------------------------------------

_BASE = datetime(2026, 3, 1, 23, 50, tzinfo=UTC)
in_range = st.integers(0, 40 * 60 * 1_000_000).map(lambda us: _BASE + timedelta(microseconds=us))
timestamps = st.one_of(
    # the sensor's own format, around midnight UTC (two date partitions)
    in_range.map(lambda t: t.isoformat(timespec="microseconds")),
    # other offsets, naive, seconds only
    st.tuples(in_range, st.sampled_from(["-05:00", "+05:30", "+14:00", "Z"])).map(
        lambda p: p[0].replace(tzinfo=None).isoformat() + p[1]
    ),
    in_range.map(lambda t: t.replace(tzinfo=None).isoformat(timespec="seconds")),
    # far outside the rules' bounds, but convertible to UTC
    st.datetimes(
        min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31), timezones=st.just(UTC)
    ).map(datetime.isoformat),
    # unparseable or not text at all
    st.sampled_from(["", "yesterday", "2026-13-45T00:00:00", "2026-03-01 25:00", "NaN"]),
    safe_text,
    st.none(),
    st.integers(-(2**63), 2**63 - 1),
)
numbers = st.one_of(
    st.none(),
    st.floats(allow_nan=False),  # SQLite stores NaN as NULL; infinities and huge values stay
    st.sampled_from([math.inf, -math.inf, 1e308, -1e308, 5e-324, 0.0, -0.0]),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(min_value=50, max_value=80),
    safe_text,
)
_READING_COLUMNS = {"temperature", "humidity", "pressure", "vibration", "voltage"}
_NUMERIC_COLUMNS = _READING_COLUMNS | {
    "latitude",
    "longitude",
    "height_meters",
    "orientation_degrees",
}


def text_or(*choices: str) -> st.SearchStrategy[Any]:
    return st.one_of(st.sampled_from(choices), safe_text, st.none())


def _column(name: str) -> st.SearchStrategy[Any]:
    if name == "timestamp":
        return timestamps
    if name in _NUMERIC_COLUMNS:
        return numbers
    if name in ("status_code", "anomaly_flag", "synced"):
        return st.one_of(st.sampled_from([0, 1]), st.none(), st.integers(-5, 5))
    if name == "sensor_id":
        return text_or("AUSTIN_K7XQ2M", "BOSTON_9ZZZZZ", "bad id")
    if name == "anomaly_type":
        return text_or("spike", "trend", "")
    if name == "manufacturer":
        return text_or("SensorTech", "DataSense", "Acme")
    if name == "model":
        return text_or("TempSensor Pro", "AllSense-Pro", "Nope")
    if name == "firmware_version":
        return text_or("1.4", "3.2-rc1", "v?")
    if name == "location":
        return text_or("Austin", "unknown", "Città di Castello 🌡")
    return safe_text | st.none()


rows_values = st.tuples(*(_column(name) for name in COLUMNS[1:]))


@st.composite
def source_rows(draw: st.DrawFn) -> list[tuple[Any, ...]]:
    """Rows as the source yields them: ids strictly increasing, with gaps."""
    gaps = draw(st.lists(st.integers(1, 5), min_size=1, max_size=40))
    start = draw(st.integers(0, 10**12))
    rows, row_id = [], start
    for gap in gaps:
        row_id += gap
        rows.append((row_id, *draw(rows_values)))
    return rows


class RowsSource:
    """Stands in for :class:`Source`: the rows of one batch, served by id range."""

    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self.columns = COLUMNS
        self._rows = rows

    def rows_between(self, after: int, upto: int) -> list[tuple[Any, ...]]:
        return [row for row in self._rows if after < row[0] <= upto]


def spool_once(
    root: Path,
    rows: list[tuple[Any, ...]],
    segment_rows: int,
    *,
    epoch: int,
    max_rows: int,
    emergency_rows: int,
    max_bytes: int,
) -> list[tuple[str, str, str, int, int, int, bytes]]:
    """Route, encode and spool one batch into a fresh spool, the way the runner does;
    returns every file with its bytes."""
    spool = Spool(root / "spool")
    spool.prepare()
    limits = {t: emergency_rows if t == "emergency" else max_rows for t in TARGETS}
    job = SegmentJob(
        db_path=str(root / "unused.db"),
        busy_timeout=1.0,
        rules=RULES,
        columns=COLUMNS,
        lineage=Lineage("gw-prop", epoch, RULES.version),
        targets=TARGETS,
        part_rows=limits,
        level=2,
    )
    encoder = SegmentEncoder(job, RowsSource(rows))
    writer = BatchFiles(
        spool,
        gateway="gw-prop",
        epoch=epoch,
        rules_version=RULES.version,
        buckets=BUCKETS,
        max_rows=limits,
        max_bytes=max_bytes,
        level=2,
    )
    watermark = rows[0][0] - 1
    batch = (watermark, rows[-1][0])
    for lo, hi in plan_segments(*batch, segment_rows):
        result = encoder.encode(lo, hi, batch)
        for target, date, parts in result.parts:
            for part in parts:
                writer.add(target, date, part)
    files = writer.finish()
    out = []
    for f in files:
        data = f.path.read_bytes()
        assert hashlib.sha256(data).hexdigest() == f.sha256 and len(data) == f.size
        assert f.path == spool.path_for(f.bucket, f.name)
        out.append((f.bucket, f.name, f.sha256, f.records, f.key.first_row, f.key.last_row, data))
    assert list(spool.tmp.iterdir()) == []
    return out


def check_files(
    files: list[tuple[str, str, str, int, int, int, bytes]],
    n_rows: int,
    max_rows: int,
    emergency_rows: int,
) -> None:
    """Keys describe their content, files respect their row limit, raw holds every row once."""
    raw_ids: list[int] = []
    for bucket, key, _, records, first, last, data in files:
        parsed = LandingKey.parse(key)
        assert records <= (emergency_rows if parsed.target == "emergency" else max_rows)
        assert (parsed.first_row, parsed.last_row, parsed.gateway) == (first, last, "gw-prop")
        assert bucket == BUCKETS[parsed.target]
        lines = [json.loads(line) for line in gzip.decompress(data).split(b"\n")[:-1]]
        assert len(lines) == records
        ids = [line["_lineage"]["row_id"] for line in lines]
        assert ids == sorted(ids) and ids[0] == first and ids[-1] == last
        if parsed.target == "raw":
            raw_ids.extend(ids)
    assert len(raw_ids) == n_rows == len(set(raw_ids))


@pytest.mark.raw
@pytest.mark.partitioning
@PROPERTY
@given(
    source_rows(),
    st.integers(1, 50),
    st.integers(1, 8),
    st.integers(1, 4),
    st.sampled_from([1, 300, 64 * 1024 * 1024]),
    st.integers(1, 3),
)
def test_routing_and_spooling_twice_gives_same_keys_and_bytes(
    rows: list[tuple[Any, ...]],
    segment_rows: int,
    max_rows: int,
    emergency_rows: int,
    max_bytes: int,
    epoch: int,
) -> None:
    options = {
        "epoch": epoch,
        "max_rows": max_rows,
        "emergency_rows": emergency_rows,
        "max_bytes": max_bytes,
    }
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        first = spool_once(Path(a), rows, segment_rows, **options)
        second = spool_once(Path(b), rows, segment_rows, **options)
    assert first == second
    check_files(first, len(rows), max_rows, emergency_rows)


def test_timestamp_at_the_end_of_the_datetime_range_does_not_stop_routing() -> None:
    row = (1, "0001-01-01T00:00:00+05:00", *([None] * (len(COLUMNS) - 2)))
    router = Router(Validator(RULES), COLUMNS, Lineage("gw-prop", 1, RULES.version), TARGETS)
    routed = router.route([row])
    assert ("raw", UNKNOWN_DATE) in routed or any(t == "raw" for t, _ in routed)


# -- bytes depend on the rows only -----------------------------------------------------------


def spool_batches(
    root: Path,
    rows: list[tuple[Any, ...]],
    *,
    targets: tuple[str, ...],
    segment_rows: int,
    cuts: list[int],
    max_rows: int,
) -> dict[str, bytes]:
    """Land ``rows`` as consecutive batches ending at the given row ids (as successive runs
    with different batch sizes would); ``bucket/key`` -> bytes of every file."""
    spool = Spool(root / "spool")
    spool.prepare()
    limits = {t: 3 if t == "emergency" else max_rows for t in targets}
    job = SegmentJob(
        db_path=str(root / "unused.db"),
        busy_timeout=1.0,
        rules=RULES,
        columns=COLUMNS,
        lineage=Lineage("gw-prop", 1, RULES.version),
        targets=targets,
        part_rows=limits,
        level=2,
    )
    encoder = SegmentEncoder(job, RowsSource(rows))
    first, last = rows[0][0] - 1, rows[-1][0]
    ends = sorted({c for c in cuts if first < c < last} | {last})
    out: dict[str, bytes] = {}
    for after, upto in zip([first, *ends], ends, strict=False):
        writer = BatchFiles(
            spool,
            gateway="gw-prop",
            epoch=1,
            rules_version=RULES.version,
            buckets={t: BUCKETS[t] for t in targets},
            max_rows=limits,
            max_bytes=64 * 1024 * 1024,
            level=2,
        )
        for lo, hi in plan_segments(after, upto, segment_rows):
            for target, date, parts in encoder.encode(lo, hi, (after, upto)).parts:
                for part in parts:
                    writer.add(target, date, part)
        for f in writer.finish():
            out[f"{f.bucket}/{f.name}"] = f.path.read_bytes()
    return out


@st.composite
def long_source_rows(draw: st.DrawFn) -> list[tuple[Any, ...]]:
    """Rows whose ids cross several chunks (625 ids), so parts are cut by chunk."""
    start = draw(st.integers(0, 5_000))
    gaps = draw(st.lists(st.integers(1, 120), min_size=2, max_size=30))
    rows, row_id = [], start
    for gap in gaps:
        row_id += gap
        rows.append((row_id, *draw(rows_values)))
    return rows


@pytest.mark.raw
@pytest.mark.partitioning
@PROPERTY
@given(
    long_source_rows(),
    st.sampled_from([1, 7, 100, 625, 1_250, 10_000]),
    st.sampled_from([1, 7, 100, 625, 1_250, 10_000]),
    st.lists(st.integers(0, 9_000), max_size=3),
    st.sampled_from([2, 5, 100_000]),
)
def test_bytes_do_not_depend_on_segments_pipelines_or_batches(
    rows: list[tuple[Any, ...]], seg_a: int, seg_b: int, cuts: list[int], max_rows: int
) -> None:
    """A file's bytes are a function of its rows and the rules: not of the segment size (so
    not of the worker count either), not of which other pipelines were chosen, not of where
    batches ended (a file with the same key, landed in another batch layout, is identical)."""
    options = {"cuts": cuts, "max_rows": max_rows}
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        every = spool_batches(Path(a), rows, targets=TARGETS, segment_rows=seg_a, **options)
        raw_only = spool_batches(Path(b), rows, targets=("raw",), segment_rows=seg_b, **options)
    assert {k: v for k, v in every.items() if k.startswith("raw/")} == raw_only
    with tempfile.TemporaryDirectory() as c:
        one_batch = spool_batches(
            Path(c), rows, targets=TARGETS, segment_rows=seg_b, cuts=[], max_rows=max_rows
        )
    common = set(every) & set(one_batch)
    assert {k: every[k] for k in common} == {k: one_batch[k] for k in common}
