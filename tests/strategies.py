"""Hypothesis strategies for sensor databases the project did not write.

The sensor's table, ``sensor_readings``, in its real 27-column shape (the contract's
``SOURCE_COLUMNS``, the DDL of the sensor's ``src/database.py``: see
``/work/shared/reference/original-system.md`` §1), filled with rows drawn here, never by
``landing.simulate``: NULLs in any column, extreme and non-finite numbers, text where numbers
belong, BLOBs, text that is not UTF-8, timestamps in every accepted and unaccepted form, far
future dates. Whole databases come in profiles (all valid, all invalid, emergency only, no
emergency, one row, mixed), as the sensor's own table or as a *loose* copy without its
constraints (NULL, duplicate or text ids: a table that lost its primary key), and fleets of
gateways whose databases grow or are reset (a new file replacing the old: a new epoch).

"Valid" and "emergency" are what the packaged rules (``landing/.../rules/default.toml``) say
in words; the values are chosen from their ranges, lists and thresholds, so a profile means
what its name says while the rules file is the one shipped.
"""

from __future__ import annotations

import math
import os
import sqlite3
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from sensorlake.contract.keys import GATEWAY_PATTERN
from sensorlake.contract.records import SOURCE_COLUMNS, SOURCE_TABLE
from sensorlake.landing.rules import load_rules

__all__ = [
    "COLUMNS",
    "PROFILES",
    "Fleet",
    "GatewayPlan",
    "RawText",
    "Round",
    "SensorDatabase",
    "fleets",
    "rows",
    "sensor_databases",
    "timestamps",
]

RULES = load_rules()
COLUMNS: tuple[str, ...] = tuple(name for name, _ in SOURCE_COLUMNS)
TYPES: dict[str, str] = dict(SOURCE_COLUMNS)
INT64_MAX = 2**63 - 1
PROFILES = ("mixed", "all_valid", "all_invalid", "emergency_only", "no_emergency", "one_row")


class RawText(bytes):
    """Bytes stored as TEXT (``CAST(? AS TEXT)``): a TEXT value that is not UTF-8, as a
    sensor written in C could leave it. Plain ``bytes`` are stored as a BLOB."""

    def __repr__(self) -> str:
        return f"RawText({bytes(self)!r})"


Row = dict[str, Any]


# -- the table ----------------------------------------------------------------------------


def _ddl(keyed: bool) -> str:
    """The sensor's statement (keyed), or the same columns and types without constraints."""

    def column(name: str, sql_type: str) -> str:
        if keyed and name == "id":
            return "id INTEGER PRIMARY KEY AUTOINCREMENT"
        if keyed and name in ("timestamp", "sensor_id"):
            return f"{name} {sql_type} NOT NULL"
        return f"{name} {sql_type}"

    return (
        f"CREATE TABLE IF NOT EXISTS {SOURCE_TABLE} "
        f"({', '.join(column(n, t) for n, t in SOURCE_COLUMNS)})"
    )


@dataclass(frozen=True)
class SensorDatabase:
    """One sensor database: its rows (column -> value, every column present) and its form."""

    rows: tuple[Row, ...]
    keyed: bool = True  # the sensor's DDL; False: no primary key, no NOT NULL
    journal: str = "wal"
    profile: str = "mixed"

    def write(self, path: Path) -> None:
        """Create the database at ``path`` (a new file) the way a sensor would: WAL or
        DELETE journal, the index, one INSERT per reading."""
        path = Path(path)
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            conn.execute(f"PRAGMA journal_mode={self.journal}")
            conn.execute(_ddl(self.keyed))
            conn.execute(f"CREATE INDEX IF NOT EXISTS idx_timestamp ON {SOURCE_TABLE}(timestamp)")
            conn.execute("BEGIN")
            for row in self.rows:
                values = [row[c] for c in COLUMNS]
                marks = ", ".join("CAST(? AS TEXT)" if type(v) is RawText else "?" for v in values)
                params = [bytes(v) if type(v) is RawText else v for v in values]
                conn.execute(
                    f"INSERT INTO {SOURCE_TABLE} ({', '.join(COLUMNS)}) VALUES ({marks})", params
                )
            conn.execute("COMMIT")
        finally:
            conn.close()

    def usable_ids(self) -> Counter[int]:
        """Source rows that have an id a reader can use (an integer ≥ 1), by id: how many
        rows carry it (more than one only in a loose table)."""
        return Counter(
            r["id"] for r in self.rows if type(r["id"]) is int and 1 <= r["id"] <= INT64_MAX
        )

    @property
    def max_id(self) -> int:
        ids = self.usable_ids()
        return max(ids) if ids else 0


# -- values -------------------------------------------------------------------------------

_DAY0 = datetime(2020, 1, 1, tzinfo=UTC)
_DAY1 = datetime(2026, 1, 1, tzinfo=UTC)  # before any day this test runs: never "in future"
_OFFSETS = ("+00:00", "-04:00", "+05:30", "-12:00", "+14:00", "+01:00")


def _iso(moment: datetime, form: str, offset: str = "+00:00") -> str:
    """``moment`` (UTC) written in one of the forms a sensor might use."""
    if form in ("offset", "offset_us", "offset_s"):
        sign = 1 if offset[0] == "+" else -1
        hours, minutes = int(offset[1:3]), int(offset[4:6])
        local = moment + sign * timedelta(hours=hours, minutes=minutes)
        body = {
            "offset": local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{local.microsecond // 1000:03d}",
            "offset_us": local.strftime("%Y-%m-%dT%H:%M:%S.%f"),
            "offset_s": local.strftime("%Y-%m-%dT%H:%M:%S"),
        }[form]
        return body + offset
    millis = f"{moment.microsecond // 1000:03d}"
    return {
        "sensor": moment.strftime("%Y-%m-%dT%H:%M:%S.") + millis + "+00:00",
        "z": moment.strftime("%Y-%m-%dT%H:%M:%S.") + millis + "Z",
        "z_seconds": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "naive": moment.strftime("%Y-%m-%dT%H:%M:%S.%f"),
        "space": moment.strftime("%Y-%m-%d %H:%M:%S.") + millis,
        "space_seconds": moment.strftime("%Y-%m-%d %H:%M:%S"),
        "minutes": moment.strftime("%Y-%m-%dT%H:%M"),
        "date": moment.strftime("%Y-%m-%d"),
    }[form]


_FORMS = (
    "sensor",
    "z",
    "z_seconds",
    "naive",
    "space",
    "space_seconds",
    "minutes",
    "offset",
    "offset_us",
    "offset_s",
)


@st.composite
def _moments(draw: st.DrawFn, base: datetime | None = None) -> datetime:
    """A UTC time in [2020, 2026): near ``base`` mostly (few date partitions), anywhere
    sometimes."""
    if base is not None and draw(st.integers(0, 9)) < 8:
        return base + timedelta(milliseconds=draw(st.integers(0, 3 * 86_400_000)))
    span = int((_DAY1 - _DAY0).total_seconds() * 1000) - 1
    return _DAY0 + timedelta(milliseconds=draw(st.integers(0, span)))


def valid_timestamps(base: datetime | None = None) -> st.SearchStrategy[str]:
    """Timestamps the rules accept: ISO 8601 with Z, an offset, a space or nothing, in the
    past (2020-2025)."""
    return st.builds(_iso, _moments(base), st.sampled_from(_FORMS), st.sampled_from(_OFFSETS))


_FAR_FUTURE = st.sampled_from(
    (
        "2100-01-01T00:00:00.001+00:00",
        "2200-06-15T12:00:00.000+00:00",
        "9999-12-31T23:59:59.999+00:00",
        "9999-12-31T23:59:59.999-05:00",  # overflows when converted to UTC
        "3000-02-28 10:00:00",
        "2999-12-31T23:59:59Z",
    )
)
_TOO_OLD = st.sampled_from(
    ("1999-12-31T23:59:59.999+00:00", "1970-01-01T00:00:00Z", "0001-01-01T00:00:00+01:00")
)
_EPOCHS = st.one_of(
    st.integers(0, 4_102_444_800),  # seconds
    st.integers(946_684_800_000, 4_102_444_800_000),  # milliseconds
    st.floats(0, 4_102_444_800, allow_nan=False),
)
_GARBAGE_TIMES = st.one_of(
    st.sampled_from(
        (
            "",
            " ",
            "yesterday",
            "now",
            "2025-13-45T99:99:99",
            "2025-02-30T00:00:00Z",
            "2025-08-11T23:57:08.123+25:00",
            "2025-08-11T24:00:00",
            "11/08/2025 23:57",
            "2025-08-11T23:57:08.123 UTC",
            "NaN",
            "null",
        )
    ),
    st.text(max_size=30),
)


def timestamps(base: datetime | None = None) -> st.SearchStrategy[Any]:
    """Any value a ``timestamp`` column may hold: accepted forms, far future, too old,
    epoch numbers (stored as text by the column's affinity), garbage, bytes."""
    return st.one_of(
        valid_timestamps(base),
        _FAR_FUTURE,
        _TOO_OLD,
        _EPOCHS,
        _EPOCHS.map(str),
        _GARBAGE_TIMES,
        _invalid_utf8(),
    )


def _invalid_utf8() -> st.SearchStrategy[RawText]:
    """TEXT whose bytes are not UTF-8: a lone continuation byte, a truncated sequence, an
    overlong form, or a surrogate encoded in UTF-8, with readable text around it."""
    bad = st.sampled_from(
        (b"\xff", b"\x80", b"\xc3", b"\xe2\x82", b"\xc0\xaf", b"\xed\xa0\x80", b"\xfe\xfe")
    )
    return st.builds(
        lambda head, b, tail: RawText(head.encode() + b + tail.encode()),
        st.text("abcXYZ _-0123456789", max_size=6),
        bad,
        st.text("abcXYZ _-0123456789", max_size=6),
    )


_BAD_BYTES = RawText(b"\xff")
_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
_EXTREME_FLOATS = st.sampled_from(
    (
        math.inf,
        -math.inf,
        math.nan,  # SQLite stores NaN as NULL
        1.7976931348623157e308,
        -1.7976931348623157e308,
        5e-324,
        -0.0,
        1e-300,
        9007199254740993.0,
    )
)
_EXTREME_INTS = st.sampled_from((INT64_MAX, -(2**63), 2**53 + 1, -1, 0, 10**18))
_NUMERIC_TEXT = st.sampled_from(
    ("12.5", " 61 ", "1e3", "0x10", "1,5", "12.5 bar", "inf", "-Infinity", "NaN", "1e999", "")
)


def _any_number() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        _EXTREME_FLOATS,
        st.integers(-(2**63), INT64_MAX),
        _EXTREME_INTS,
    )


def anything() -> st.SearchStrategy[Any]:
    """Any value any column might hold: NULL, numbers of every size, text where numbers
    belong, text that is not UTF-8, a BLOB."""
    return st.one_of(
        st.none(),
        _any_number(),
        _TEXT,
        _NUMERIC_TEXT,
        _invalid_utf8(),
        st.binary(max_size=8),
    )


# -- rows ---------------------------------------------------------------------------------

_SENSOR_ID = st.from_regex(RULES.sensor_id.pattern, fullmatch=True).filter(str.isascii)
_FIRMWARE = st.sampled_from(("1.0", "1.2.0", "1.4", "2.3.5", "3.2-rc1", "3.1.2-alpha", "10.20.30"))
_DEVICES = tuple(
    (m, model) for m, models in sorted(RULES.devices.models.items()) for model in models
)
_PLACEHOLDERS = frozenset(p.strip().lower() for p in RULES.location.placeholders)
_LOCATION = st.one_of(
    st.sampled_from(("Chicago", "San Francisco", "São Paulo", "Zürich", "東京", "Plant 7, Bay 3")),
    _TEXT,
).filter(lambda s: s.strip().lower() not in _PLACEHOLDERS)
_ANOMALY_TYPES = st.sampled_from(("spike", "trend", "pattern", "noise", "missing_data", "other"))


def _rng(name: str) -> tuple[float, float]:
    low, high = RULES.ranges[name]
    return low, high


def _threshold(name: str) -> tuple[float, float]:
    t = RULES.emergency.thresholds[name]
    assert t.below is not None and t.above is not None
    return t.below, t.above


def _within(low: float, high: float) -> st.SearchStrategy[float]:
    """Floats in [low, high], the ends included (the rules' bounds are inclusive)."""
    return st.one_of(
        st.floats(low, high, allow_nan=False, allow_infinity=False),
        st.sampled_from((low, high)),
    )


def _reading(name: str, *, calm: bool) -> st.SearchStrategy[float]:
    """A valid reading; ``calm``: also inside its emergency thresholds (strict: the
    thresholds themselves are calm)."""
    low, high = _rng(name)
    if calm and name in RULES.emergency.thresholds:
        low, high = _threshold(name)
    return _within(low, min(high, 1e12))


def _pressure(*, calm: bool) -> st.SearchStrategy[float]:
    """A valid pressure in bar, or in Pascals (above ``pascal_above``, converted)."""
    pascal_above = RULES.pressure.pascal_above
    low, high = _rng("pressure")
    if calm:
        bar = _within(*_threshold("pressure_bar"))
        pa = _within(*_threshold("pressure_pa"))
    else:
        bar = _within(low, min(high, pascal_above))
        pa = _within(max(pascal_above, low * 100_000) + 1e-6, high * 100_000)
    return st.one_of(bar, pa)


@st.composite
def valid_rows(draw: st.DrawFn, base: datetime | None = None, *, emergency: bool | None) -> Row:
    """A row the rules accept. ``emergency``: True, it trips an emergency rule (the anomaly
    flag, or a reading beyond a threshold); False, it trips none; None, either."""
    if emergency is None:
        emergency = draw(st.booleans())
    manufacturer, model = draw(st.sampled_from(_DEVICES))
    row: Row = dict.fromkeys(COLUMNS)
    row.update(
        timestamp=draw(valid_timestamps(base)),
        sensor_id=draw(_SENSOR_ID),
        temperature=draw(_reading("temperature", calm=True)),
        humidity=draw(_reading("humidity", calm=True)),
        pressure=draw(_pressure(calm=True)),
        vibration=draw(st.one_of(st.none(), _within(0.0, 1e6))),
        voltage=draw(_reading("voltage", calm=True)),
        status_code=0,
        anomaly_flag=0,
        anomaly_type=draw(st.sampled_from((None, ""))),
        firmware_version=draw(_FIRMWARE),
        model=model,
        manufacturer=manufacturer,
        location=draw(_LOCATION),
        latitude=draw(_reading("latitude", calm=False)),
        longitude=draw(_reading("longitude", calm=False)),
        original_timezone=draw(st.one_of(st.none(), st.sampled_from(_OFFSETS), _TEXT)),
        synced=draw(st.one_of(st.none(), st.integers(0, 1), _any_number())),
        serial_number=draw(st.one_of(st.none(), _TEXT)),
        manufacture_date=draw(st.one_of(st.none(), st.just("2023-04-01"), _TEXT)),
        deployment_type=draw(st.one_of(st.none(), st.sampled_from(("fixed", "mobile")), _TEXT)),
        installation_date=draw(st.one_of(st.none(), st.just("2024-01-15"), _TEXT)),
        height_meters=draw(st.one_of(st.none(), _reading("height_meters", calm=False))),
        orientation_degrees=draw(st.one_of(st.none(), _reading("orientation_degrees", calm=False))),
        instance_id=draw(st.one_of(st.none(), st.just("i-0123456789abcdef0"), _TEXT)),
        sensor_type=draw(st.one_of(st.none(), st.sampled_from(("environmental", "vibration")))),
    )
    if emergency:
        how = draw(st.sampled_from(("flag", "temperature", "humidity", "voltage", "pressure")))
        if how == "flag":
            row.update(status_code=1, anomaly_flag=1, anomaly_type=draw(_ANOMALY_TYPES))
        elif how == "pressure":
            below, above = _threshold("pressure_bar")
            row["pressure"] = draw(
                st.one_of(_within(0.0, below - 1e-9), _within(above + 1e-9, _rng("pressure")[1]))
            )
        else:
            (low, high), (below, above) = _rng(how), _threshold(how)
            row[how] = draw(st.one_of(_within(low, below - 1e-9), _within(above + 1e-9, high)))
    return row


# Ways to make a row invalid, each sure to (column -> a value the rules reject).
_BREAKERS: dict[str, st.SearchStrategy[Any]] = {
    "timestamp": st.one_of(_FAR_FUTURE, _TOO_OLD, _GARBAGE_TIMES, _invalid_utf8()).filter(
        lambda v: not (isinstance(v, str) and v.strip() and _parses_in_range(v))
    ),
    "sensor_id": st.one_of(
        st.sampled_from(("CHI_12345", "chi_123456", "CHICAGO_123456", "", "CHI-123456")),
        _invalid_utf8(),
    ),
    "temperature": st.one_of(
        st.sampled_from((150.0001, -50.0001, math.inf, -math.inf, 1e308)),
        _TEXT.filter(lambda s: not _numeric_text(s)),
    ),
    "humidity": st.sampled_from((-0.001, 100.001, "wet", -math.inf)),
    "voltage": st.sampled_from((24.0001, -1.0, "12V", math.inf)),
    "pressure": st.sampled_from((-1.0, 20.5, 2_000_001.0, "high", math.inf)),
    "manufacturer": st.sampled_from(("Acme", "sensortech", "")),
    "firmware_version": st.sampled_from(("v1", "1", "latest", "1.2.3.4.5")),
    "location": st.sampled_from(sorted(RULES.location.placeholders)),
    "latitude": st.sampled_from((90.0001, -91.0, "N 41", math.inf)),
    "longitude": st.sampled_from((180.5, -180.0001, "W 87", -math.inf)),
    "anomaly_flag": st.sampled_from((2, -1, "yes")),
    "status_code": st.just("mismatch"),  # made to differ from the flag below
}
_REQUIRED = tuple(c for c in RULES.required if c not in ("timestamp", "sensor_id"))


def _numeric_text(value: str) -> bool:
    """Whether a REAL column might store this text as a number (SQLite's affinity turns
    well-formed numeric text into a number); on the safe side: anything Python reads."""
    try:
        float(value.strip())
    except ValueError:
        return False
    return True


def _parses_in_range(value: str) -> bool:
    try:
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is not None:
            parsed = parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return False
    return datetime(2000, 1, 1) <= parsed.replace(tzinfo=None) <= datetime(2100, 1, 1)


@st.composite
def invalid_rows(
    draw: st.DrawFn, base: datetime | None = None, *, emergency: bool | None, keyed: bool = True
) -> Row:
    """A row the rules reject for at least one reason; ``emergency`` as for
    :func:`valid_rows` (an invalid reading can still be an emergency)."""
    row = draw(valid_rows(base, emergency=emergency))
    breakers = [b for b in _BREAKERS if not (emergency is False and b == "anomaly_flag")]
    how = draw(st.lists(st.sampled_from(breakers), min_size=1, max_size=3, unique=True))
    for name in how:
        if name == "status_code":
            row["status_code"] = 1 - int(row["anomaly_flag"] == 1)
            continue
        value = draw(_BREAKERS[name])
        if emergency is False and name in ("temperature", "humidity", "voltage", "pressure"):
            value = draw(st.sampled_from(("not a number", _BAD_BYTES)))  # never a number
        row[name] = value
    missing = None
    if draw(st.booleans()):
        # a required column missing (NOT NULL only for timestamp and sensor_id in the sensor's
        # table; in a loose table those may be NULL too)
        choices = (*_REQUIRED, "timestamp", "sensor_id") if not keyed else _REQUIRED
        missing = draw(st.sampled_from(choices))
        row[missing] = None
    if emergency is True and row["anomaly_flag"] != 1 and not _beyond_threshold(row):
        _make_emergency(row, touched={*how, missing})
    return row


# A valid value beyond an emergency threshold, per reading.
_ALARMING = {"temperature": 100.0, "humidity": 99.0, "voltage": 20.0, "pressure": 19.0}


def _make_emergency(row: Row, touched: set[str]) -> None:
    """Make ``row`` trip an emergency rule through a column the breakers left alone."""
    for name, value in _ALARMING.items():
        if name not in touched:
            row[name] = value
            return
    assert not touched & {"anomaly_flag", "status_code"}, touched
    row.update(status_code=1, anomaly_flag=1, anomaly_type="spike")


def _beyond_threshold(row: Row) -> bool:
    for name in ("temperature", "humidity", "voltage"):
        value = row[name]
        below, above = _threshold(name)
        if type(value) in (int, float) and value == value and (value < below or value > above):
            return True
    pressure = row["pressure"]
    if type(pressure) not in (int, float) or pressure != pressure:
        return False
    key = "pressure_pa" if pressure > RULES.pressure.pascal_above else "pressure_bar"
    below, above = _threshold(key)
    return pressure < below or pressure > above


@st.composite
def chaos_rows(draw: st.DrawFn, base: datetime | None = None, *, keyed: bool = True) -> Row:
    """Every column anything (the timestamp anything a timestamp might be)."""
    row: Row = {c: draw(anything()) for c in COLUMNS}
    row["timestamp"] = draw(timestamps(base))
    if keyed:  # the sensor's table refuses NULL in these two (NaN is stored as NULL)
        if row["sensor_id"] is None or row["sensor_id"] != row["sensor_id"]:
            row["sensor_id"] = draw(_SENSOR_ID)
    elif draw(st.integers(0, 4)) == 0:
        row["timestamp"] = None
    return row


def rows(
    profile: str, base: datetime | None = None, *, keyed: bool = True
) -> st.SearchStrategy[Row]:
    """One row for a database of ``profile`` (without its id)."""
    if profile == "all_valid":
        return valid_rows(base, emergency=None)
    if profile == "all_invalid":
        return invalid_rows(base, emergency=None, keyed=keyed)
    if profile in ("emergency_only", "no_emergency"):
        emergency = profile == "emergency_only"
        return st.one_of(
            valid_rows(base, emergency=emergency),
            invalid_rows(base, emergency=emergency, keyed=keyed),
        )
    return st.one_of(
        valid_rows(base, emergency=None),
        invalid_rows(base, emergency=None, keyed=keyed),
        chaos_rows(base, keyed=keyed),
    )


# -- databases ----------------------------------------------------------------------------


@st.composite
def _ids(draw: st.DrawFn, n: int, *, after: int, keyed: bool) -> list[Any]:
    """``n`` row ids above ``after``: increasing, mostly consecutive, with gaps and now and
    then a jump towards the end of the 64-bit range. A loose table also gets NULL, text and
    repeated ids."""
    ids: list[Any] = []
    current = after
    for _ in range(n):
        kind = draw(st.integers(0, 19))
        if kind < 15:
            step = 1  # the sensor's AUTOINCREMENT
        elif kind < 18:
            step = draw(st.integers(2, 1000))  # deleted rows
        elif kind == 18:
            step = draw(st.integers(1000, 300_000))  # more than a batch of ids apart
        else:
            step = draw(st.integers(1, 2**62))  # towards the end of the 64-bit range
        if current + step > INT64_MAX - 1000:
            step = 1
        if current + step > INT64_MAX:
            break
        current += step
        ids.append(current)
    if not keyed and ids:
        for i in range(len(ids)):
            kind = draw(st.integers(0, 11))
            if kind == 0:
                ids[i] = None
            elif kind == 1 and i > 0 and ids[i - 1] is not None:
                ids[i] = ids[i - 1]  # a duplicate id
            elif kind == 2:
                ids[i] = draw(st.sampled_from(("abc", "", "7x")))  # not an integer at all
    return ids


@st.composite
def sensor_databases(
    draw: st.DrawFn,
    *,
    profile: str | None = None,
    keyed: bool | None = None,
    after: int = 0,
    max_rows: int = 25,
) -> SensorDatabase:
    """A whole database: a profile, the sensor's table or a loose one, ids above ``after``
    (a database that grows continues its ids)."""
    profile = profile or draw(st.sampled_from(PROFILES))
    if keyed is None:
        keyed = draw(st.sampled_from((True, True, True, False)))  # mostly the sensor's own
    n = 1 if profile == "one_row" else draw(st.integers(1, max_rows))
    base = draw(_moments())
    kind = "mixed" if profile == "one_row" else profile
    drawn = [draw(rows(kind, base, keyed=keyed)) for _ in range(n)]
    ids = draw(_ids(len(drawn), after=after, keyed=keyed))
    made = tuple({**row, "id": id_} for row, id_ in zip(drawn, ids, strict=False))
    journal = draw(st.sampled_from(("wal", "delete")))
    return SensorDatabase(made, keyed=keyed, journal=journal, profile=profile)


# -- gateways -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Round:
    """What the sensor did before one landing run: ``first`` (the database appears),
    ``append`` (more rows in the same file), ``reset`` (a new file replaced it)."""

    kind: str
    database: SensorDatabase


@dataclass(frozen=True)
class GatewayPlan:
    gateway_id: str
    rounds: tuple[Round, ...]

    def epochs(self) -> list[tuple[int, SensorDatabase]]:
        """(epoch, rows added) per round. A reset starts the next epoch once the old
        database had landed a row: before that nothing tells the two apart, and nothing
        needs to (no row of the old one has an identity yet)."""
        epoch, watermark, out = 1, 0, []
        for r in self.rounds:
            if r.kind == "reset":
                if watermark > 0:
                    epoch += 1
                watermark = 0
            watermark = max(watermark, r.database.max_id)
            out.append((epoch, r.database))
        return out


@dataclass(frozen=True)
class Fleet:
    gateways: tuple[GatewayPlan, ...]
    streams_between_rounds: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)

    def expected_raw(self) -> Counter[tuple[str, int, int]]:
        """(gateway, epoch, row id) of every source row with a usable id, once: rows that
        repeat an id (a table without its primary key) land once, the others are counted
        as ``duplicate_ids`` (landing's documented rule)."""
        out: Counter[tuple[str, int, int]] = Counter()
        for g in self.gateways:
            for epoch, db in g.epochs():
                for row_id in db.usable_ids():
                    out[(g.gateway_id, epoch, row_id)] = 1
        return out

    def repeated_ids(self) -> int:
        """Source rows beyond the first per usable id."""
        return sum(
            n - 1 for g in self.gateways for _e, db in g.epochs() for n in db.usable_ids().values()
        )


_GATEWAY_ID = st.from_regex(GATEWAY_PATTERN, fullmatch=True).filter(
    lambda s: s.isascii() and len(s) <= 24
)


def _detectable(old: Iterable[Row], new: SensorDatabase, watermark: int) -> SensorDatabase:
    """The reset as the sensor makes it: a new file whose row at the old watermark (if it
    has one) is another reading. An identical row there would mean the same database (the
    epoch rule); such rows are left out."""
    anchors = {
        (r["timestamp"], r["sensor_id"])
        for r in old
        if type(r["id"]) is int and r["id"] == watermark
    }
    kept = tuple(
        r
        for r in new.rows
        if not (r["id"] == watermark and (r["timestamp"], r["sensor_id"]) in anchors)
    )
    return replace(new, rows=kept)


@st.composite
def gateway_plans(draw: st.DrawFn, gateway_id: str, *, max_rows: int = 25) -> GatewayPlan:
    first = draw(sensor_databases(max_rows=max_rows))
    rounds = [Round("first", first)]
    current = first
    for _ in range(draw(st.integers(0, 2))):
        kind = draw(st.sampled_from(("append", "reset")))
        if kind == "append":
            more = draw(
                sensor_databases(keyed=current.keyed, after=current.max_id, max_rows=max_rows)
            )
            more = replace(more, journal=current.journal)
            rounds.append(Round("append", more))
            current = replace(current, rows=current.rows + more.rows)
        else:
            new = _detectable(
                current.rows, draw(sensor_databases(max_rows=max_rows)), current.max_id
            )
            rounds.append(Round("reset", new))
            current = new
    return GatewayPlan(gateway_id, tuple(rounds))


@st.composite
def fleets(draw: st.DrawFn, *, max_gateways: int = 3, max_rows: int = 25) -> Fleet:
    """One to ``max_gateways`` gateways, each with its own database history."""
    ids = draw(st.lists(_GATEWAY_ID, min_size=1, max_size=max_gateways, unique=True))
    plans = tuple(draw(gateway_plans(g, max_rows=max_rows)) for g in ids)
    return Fleet(plans, streams_between_rounds=draw(st.booleans()))


def apply_round(db_path: Path, round_: Round, previous: SensorDatabase | None) -> None:
    """Make the sensor's file what the round says: write it, grow it, or replace it (a new
    file moved over the old one, its WAL files gone: a new inode, as after a restart)."""
    db_path = Path(db_path)
    if round_.kind == "append":
        assert previous is not None
        conn = sqlite3.connect(db_path, isolation_level=None)
        try:
            conn.execute("BEGIN")
            for row in round_.database.rows:
                values = [row[c] for c in COLUMNS]
                marks = ", ".join("CAST(? AS TEXT)" if type(v) is RawText else "?" for v in values)
                params = [bytes(v) if type(v) is RawText else v for v in values]
                conn.execute(
                    f"INSERT INTO {SOURCE_TABLE} ({', '.join(COLUMNS)}) VALUES ({marks})", params
                )
            conn.execute("COMMIT")
        finally:
            conn.close()
        return
    fresh = db_path.with_name(db_path.name + ".new")
    for stale in (fresh, Path(f"{fresh}-wal"), Path(f"{fresh}-shm")):
        stale.unlink(missing_ok=True)
    round_.database.write(fresh)
    for stale in (Path(f"{db_path}-wal"), Path(f"{db_path}-shm")):
        stale.unlink(missing_ok=True)
    os.replace(fresh, db_path)


def describe(value: Mapping[str, Any]) -> str:
    """A short description of a row for failure messages."""
    return ", ".join(f"{k}={v!r}" for k, v in value.items() if v is not None)


# -- fixed examples -------------------------------------------------------------------------


def calm_row(row_id: Any, **values: Any) -> Row:
    """One valid reading that trips no emergency rule, with ``values`` changed."""
    row: Row = dict.fromkeys(COLUMNS)
    row.update(
        id=row_id,
        timestamp=f"2025-08-11T23:57:{row_id % 60 if type(row_id) is int else 0:02d}.123+00:00",
        sensor_id="CHI_12AB34",
        temperature=61.0,
        humidity=3.0,
        pressure=12.0,
        vibration=2.5,
        voltage=12.0,
        status_code=0,
        anomaly_flag=0,
        firmware_version="1.4",
        model="EnvMonitor-3000",
        manufacturer="SensorTech",
        location="Chicago",
        latitude=41.8781,
        longitude=-87.6298,
        original_timezone="-05:00",
        synced=0,
    )
    row.update(values)
    return row


def known_bad_fleet() -> Fleet:
    """The inputs issue 13 names, in one fleet: a gateway whose readings are all valid
    emergencies (every ``validation_errors`` list empty); one with text that is not UTF-8,
    NULL in every nullable column, a far-future date, an epoch number and garbage for
    timestamps, text and non-finite numbers where numbers belong, then a reset; and one with
    a table without its primary key (a NULL id and a repeated one)."""
    alarms = SensorDatabase(
        tuple(
            calm_row(i, status_code=1, anomaly_flag=1, anomaly_type="spike") for i in range(1, 4)
        ),
        profile="emergency_only",
    )
    nulls = {c: None for c in COLUMNS if c not in ("id", "timestamp", "sensor_id")}
    mixed = SensorDatabase(
        (
            calm_row(1),
            calm_row(2, location=RawText(b"Chicago \xff"), sensor_id=RawText(b"CHI_\xc3")),
            calm_row(3, **nulls),
            calm_row(4, timestamp="9999-12-31T23:59:59.999+00:00", temperature=math.inf),
            calm_row(5, timestamp="1754956628", humidity="wet", pressure=-math.inf),
            calm_row(6, timestamp="yesterday", voltage=1.7976931348623157e308),
            calm_row(7, timestamp="2025-08-11 23:57:08", pressure=101_325.0),
        ),
        journal="delete",
    )
    after_reset = SensorDatabase((calm_row(1, sensor_id="NYC_000001"), calm_row(2)))
    loose = SensorDatabase(
        (calm_row(1), calm_row(None), calm_row(2), calm_row(2, temperature=90.0), calm_row(3)),
        keyed=False,
    )
    return Fleet(
        (
            GatewayPlan("gw-alarms", (Round("first", alarms),)),
            GatewayPlan("gw.mixed", (Round("first", mixed), Round("reset", after_reset))),
            GatewayPlan("GW_loose", (Round("first", loose),)),
        ),
        streams_between_rounds=True,
    )
