"""Sensor simulator: writes the real sensor's SQLite table, row for row.

The gateway agent reads a database that a separate sensor process
(bacalhau-project/examples, ``utility_containers/sensor-log-generator``) keeps
writing. To test the agent without that container we reproduce what it stores:

* the table ``sensor_readings`` exactly as ``src/database.py`` builds it from its
  Pydantic model (same 27 columns, same order, same declared types, one index
  ``idx_timestamp``) and the same PRAGMAs (WAL, busy_timeout 30 s, ...);
* the values of ``src/simulator.py``: a clamped normal draw per quantity;
* the anomalies of ``src/anomaly.py``: with probability ``anomaly_rate`` a
  reading becomes a spike, trend, pattern, noise or missing_data anomaly;
  missing_data readings are never stored, exactly like the real sensor;
* identities like the real node-identity generator's: ``CITY_XXXXXX`` sensor
  ids, US cities with coordinates and UTC offsets, manufacturer/model/firmware
  (occasionally a pre-release such as ``3.2-rc1``), serial number, dates,
  deployment type and EC2-style instance id.

Two modes: :func:`simulate_bulk` fills a database fast (many rows per
transaction) for volume tests; :func:`simulate_live` behaves like the running
sensor (one autocommitted INSERT per reading at a fixed rate) so that the agent
can be exercised while the file is being written. Only the standard library is
used: the gateway has no numpy.
"""

from __future__ import annotations

import math
import random
import sqlite3
import string
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sensorlake.contract.records import SOURCE_COLUMNS, SOURCE_TABLE

__all__ = [
    "ANOMALY_TYPES",
    "CREATE_INDEX_SQL",
    "CREATE_TABLE_SQL",
    "INSERT_COLUMNS",
    "INSERT_SQL",
    "PRAGMAS",
    "SCHEMA_COLUMNS",
    "TABLE_NAME",
    "SimulationResult",
    "ensure_database",
    "reset_database",
    "simulate_bulk",
    "simulate_live",
]

TABLE_NAME = SOURCE_TABLE

# Column order of the real sensor (the contract's SOURCE_COLUMNS): ``id`` first, then the
# fields of its Pydantic model in declaration order, str -> TEXT, float -> REAL, int -> INTEGER.
SCHEMA_COLUMNS = SOURCE_COLUMNS


def _column_ddl(name: str, sql_type: str) -> str:
    if name == "id":
        return "id INTEGER PRIMARY KEY AUTOINCREMENT"
    if name in ("timestamp", "sensor_id"):
        return f"{name} {sql_type} NOT NULL"
    return f"{name} {sql_type}"


# Same shape as the statement the real sensor builds: one line, comma-joined.
CREATE_TABLE_SQL = (
    f"CREATE TABLE IF NOT EXISTS {TABLE_NAME} "
    f"({', '.join(_column_ddl(n, t) for n, t in SCHEMA_COLUMNS)})"
)
CREATE_INDEX_SQL = f"CREATE INDEX IF NOT EXISTS idx_timestamp ON {TABLE_NAME}(timestamp)"

INSERT_COLUMNS: tuple[str, ...] = tuple(name for name, _ in SCHEMA_COLUMNS if name != "id")
INSERT_SQL = (
    f"INSERT INTO {TABLE_NAME} ({', '.join(INSERT_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in INSERT_COLUMNS)})"
)

# The real sensor's connection PRAGMAs (before it moved to DELETE mode in dc3d0d78).
PRAGMAS: tuple[str, ...] = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA busy_timeout=30000",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA temp_store=MEMORY",
    "PRAGMA mmap_size=268435456",
    "PRAGMA cache_size=-64000",
)

ANOMALY_TYPES: tuple[str, ...] = ("spike", "trend", "pattern", "missing_data", "noise")

# Relative weights and episode lengths from the generator's config.example.yaml.
_ANOMALY_WEIGHTS: dict[str, float] = {
    "spike": 0.30,
    "trend": 0.25,
    "pattern": 0.20,
    "missing_data": 0.15,
    "noise": 0.10,
}
_TREND_SECONDS = 300.0
_PATTERN_SECONDS = 600.0

# (mean, sd, min, max) per quantity: the README defaults the databricks demo used
# (bar for pressure). Humidity has no configured range; the generator then clamps
# to its default [0, 100]. Vibration uses the generator README's values.
_NORMAL: dict[str, tuple[float, float, float, float]] = {
    "temperature": (61.0, 2.0, 50.0, 80.0),
    "humidity": (3.0, 0.5, 0.0, 100.0),
    "pressure": (12.0, 0.5, 10.0, 15.0),
    "vibration": (2.5, 0.5, 0.1, 10.0),
    "voltage": (12.0, 0.1, 11.5, 12.5),
}

# (city, latitude, longitude, IANA zone, standard UTC offset in minutes): the US
# cities of the generator's node-identity script, plus the demo's New York.
_CITIES: tuple[tuple[str, float, float, str, int], ...] = (
    ("San Francisco", 37.7749, -122.4194, "America/Los_Angeles", -480),
    ("Austin", 30.2672, -97.7431, "America/Chicago", -360),
    ("Seattle", 47.6062, -122.3321, "America/Los_Angeles", -480),
    ("Denver", 39.7392, -104.9903, "America/Denver", -420),
    ("Miami", 25.7617, -80.1918, "America/New_York", -300),
    ("Boston", 42.3601, -71.0589, "America/New_York", -300),
    ("Chicago", 41.8781, -87.6298, "America/Chicago", -360),
    ("Atlanta", 33.7490, -84.3880, "America/New_York", -300),
    ("Portland", 45.5152, -122.6784, "America/Los_Angeles", -480),
    ("Phoenix", 33.4484, -112.0740, "America/Phoenix", -420),
    ("Nashville", 36.1627, -86.7816, "America/Chicago", -360),
    ("San Diego", 32.7157, -117.1611, "America/Los_Angeles", -480),
    ("Dallas", 32.7767, -96.7970, "America/Chicago", -360),
    ("Minneapolis", 44.9778, -93.2650, "America/Chicago", -360),
    ("Charlotte", 35.2271, -80.8431, "America/New_York", -300),
    ("New York", 40.7128, -74.0060, "America/New_York", -300),
)

# Manufacturer -> models, as the pipeline's validator (sensor_data_models.py) knows them.
_DEVICES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("SensorTech", ("TempSensor Pro", "HumidCheck 2000", "PressureGuard", "EnvMonitor-3000")),
    ("DataLogger", ("DataLogger-X1", "AirData-Plus", "ClimateTracker", "IndustrialMonitor-5000")),
    ("DataSense", ("TempVibe-3000", "HumidPress-4000", "AllSense-Pro", "FactoryGuard-7000")),
    ("MonitorPro", ("ProTemp-500", "ProHumid-600", "ProPressure-700", "ProEnviron-800")),
)
_FIRMWARE_STABLE = ("1.0", "1.2.0", "1.4", "2.1", "2.3.5", "2.5")
_FIRMWARE_PRERELEASE = ("3.0.0-beta", "3.1.2-alpha", "3.2-rc1")
_PRERELEASE_SHARE = 0.15
_DEPLOYMENT_TYPES = ("rooftop", "street_pole", "ground_station", "mobile_unit")

# main.generate_sensor_id: its "consonants" only drop lower-case vowels from
# ascii_letters, so every upper-case letter appears (consonants twice), plus digits.
_ID_ALPHABET = "".join(c.upper() for c in string.ascii_letters if c not in "aeiou") + string.digits

_BATCH_ROWS = 10_000


@dataclass(frozen=True)
class SimulationResult:
    """What a simulation run stored, for the CLI summary and for tests."""

    db_path: Path
    rows_written: int
    anomalies: int
    skipped_missing: int  # missing_data anomalies that were not stored
    seconds: float


# --------------------------------------------------------------------------- database


def _connect(db_path: Path) -> sqlite3.Connection:
    """Open like the real sensor: autocommit, 30 s busy timeout, WAL and its PRAGMAs.

    The busy timeout lets the simulator keep writing while the agent reads.
    """
    conn = sqlite3.connect(str(db_path), timeout=30.0, isolation_level=None)
    for pragma in PRAGMAS:
        conn.execute(pragma)
    return conn


def ensure_database(db_path: Path) -> None:
    """Create the parent directory, the table, its index and WAL mode if missing.

    Idempotent: an existing database keeps its rows (appending continues ids).
    """
    db_path = Path(db_path)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    conn = _connect(db_path)
    try:
        conn.execute(CREATE_TABLE_SQL)
        conn.execute(CREATE_INDEX_SQL)
    finally:
        conn.close()


def reset_database(db_path: Path) -> None:
    """Delete the database with its -wal/-shm/-journal files and recreate the schema.

    This is what the real sensor does on every start unless told to preserve
    the file; ids start again at 1.
    """
    db_path = Path(db_path)
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    ensure_database(db_path)


# --------------------------------------------------------------------------- identity


@dataclass
class _Sensor:
    """One simulated sensor: fixed identity plus its anomaly episode state."""

    sensor_id: str
    model: str
    manufacturer: str
    firmware_version: str
    tail: tuple[object, ...]  # the 16 identity columns after anomaly_type, in table order
    weights: tuple[tuple[str, float], ...]  # cumulative anomaly-type weights
    noise_factor: float
    episode_start: dict[str, float] = field(default_factory=dict)


def _offset_str(zone: str, standard_minutes: int, at: datetime) -> str:
    """UTC offset of ``zone`` at ``at`` as ``-04:00``, as the sensor stores it."""
    try:
        offset = at.astimezone(ZoneInfo(zone)).utcoffset()
        minutes = int(offset.total_seconds() // 60) if offset is not None else standard_minutes
    except (ZoneInfoNotFoundError, ValueError, OSError):
        minutes = standard_minutes  # no tz database on the gateway: standard time
    sign = "-" if minutes < 0 else "+"
    hours, mins = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{mins:02d}"


def _sensor_id(rng: random.Random, city: str) -> str:
    prefix = "".join(c.upper() for c in city if c.isalpha())[:4]
    return f"{prefix}_{''.join(rng.choice(_ID_ALPHABET) for _ in range(6))}"


def _anomaly_weights(model: str, firmware: str) -> tuple[tuple[str, float], ...]:
    """Cumulative type weights, adjusted by model and firmware as anomaly.py does."""
    weights = dict(_ANOMALY_WEIGHTS)
    if model == "EnvMonitor-3000":
        weights["missing_data"] *= 2.0
    if firmware in ("1.4", "1.4.0"):
        weights["spike"] *= 1.3
        weights["noise"] *= 1.5
    total = sum(weights.values())
    cumulative = 0.0
    out = []
    for name in ANOMALY_TYPES:
        cumulative += weights[name] / total
        out.append((name, cumulative))
    out[-1] = (out[-1][0], 1.0)
    return tuple(out)


def _make_sensors(rng: random.Random, count: int, reference: datetime) -> list[_Sensor]:
    """Give each sensor a fixed identity; dates are relative to ``reference``."""
    if count <= len(_CITIES):
        cities = rng.sample(_CITIES, count)
    else:
        cities = [rng.choice(_CITIES) for _ in range(count)]
    sensors: list[_Sensor] = []
    seen: set[str] = set()
    ref_day = reference.date()
    for city, lat, lon, zone, standard in cities:
        sensor_id = _sensor_id(rng, city)
        while sensor_id in seen:
            sensor_id = _sensor_id(rng, city)
        seen.add(sensor_id)
        manufacturer, models = rng.choice(_DEVICES)
        model = rng.choice(models)
        if rng.random() < _PRERELEASE_SHARE:
            firmware = rng.choice(_FIRMWARE_PRERELEASE)
        else:
            firmware = rng.choice(_FIRMWARE_STABLE)
        manufactured: date = ref_day - timedelta(days=rng.randint(60, 730))
        installed: date = manufactured + timedelta(
            days=rng.randint(7, max(7, (ref_day - manufactured).days - 1))
        )
        tail = (
            firmware,
            model,
            manufacturer,
            city,
            round(lat + rng.uniform(-0.01, 0.01), 6),
            round(lon + rng.uniform(-0.01, 0.01), 6),
            _offset_str(zone, standard, reference),
            0,  # synced: the sensor never sets it
            f"{manufacturer}-{rng.randrange(1_000_000):06d}",
            manufactured.isoformat(),
            rng.choice(_DEPLOYMENT_TYPES),
            installed.isoformat(),
            round(2.0 + rng.randrange(480) / 10.0, 1),
            float(rng.randrange(360)),
            f"i-{rng.getrandbits(68):017x}",
            "environmental_monitoring",
        )
        sensors.append(
            _Sensor(
                sensor_id=sensor_id,
                model=model,
                manufacturer=manufacturer,
                firmware_version=firmware,
                tail=tail,
                weights=_anomaly_weights(model, firmware),
                noise_factor=0.15 if firmware in ("1.4", "1.4.0") else 0.10,
            )
        )
    return sensors


# --------------------------------------------------------------------------- readings


class _Generator:
    """Produces the value columns of one reading at a time, as the sensor does.

    Two random streams: ``decide`` chooses whether and which anomaly (so the
    number of stored rows can be predicted by replaying it alone), ``values``
    draws the measurements.
    """

    def __init__(self, seed: int | None, sensors: int, anomaly_rate: float, reference: datetime):
        master = random.Random(seed)
        self.sensors = _make_sensors(random.Random(master.getrandbits(64)), sensors, reference)
        self.decide_seed = master.getrandbits(64)
        self.decide = random.Random(self.decide_seed)
        self.values = random.Random(master.getrandbits(64))
        self.anomaly_rate = anomaly_rate

    def slots_for(self, rows: int) -> int:
        """Readings needed (stored + missing_data) to store ``rows``; replays ``decide``."""
        rng = random.Random(self.decide_seed)
        rnd = rng.random
        p = self.anomaly_rate
        sensors = self.sensors
        n = len(sensors)
        stored = slot = 0
        while stored < rows:
            if rnd() < p and _pick(sensors[slot % n].weights, rnd()) == "missing_data":
                pass
            else:
                stored += 1
            slot += 1
        return slot

    def reading(self, sensor: _Sensor, t: float) -> tuple[object, ...] | None:
        """Value columns ``temperature..anomaly_type``, or None for missing_data."""
        g = self.values.gauss
        tm, ts, tlo, thi = _NORMAL["temperature"]
        hm, hs, hlo, hhi = _NORMAL["humidity"]
        pm, ps, plo, phi = _NORMAL["pressure"]
        vm, vs, vlo, vhi = _NORMAL["vibration"]
        um, us, ulo, uhi = _NORMAL["voltage"]
        temperature = min(max(g(tm, ts), tlo), thi)
        vibration = min(max(g(vm, vs), vlo), vhi)
        humidity = min(max(g(hm, hs), hlo), hhi)
        pressure = min(max(g(pm, ps), plo), phi)
        voltage = min(max(g(um, us), ulo), uhi)
        rnd = self.decide.random
        if rnd() >= self.anomaly_rate:
            return (temperature, humidity, pressure, vibration, voltage, 0, 0, None)
        kind = _pick(sensor.weights, rnd())
        if kind == "missing_data":
            return None
        values = {
            "temperature": temperature,
            "humidity": humidity,
            "voltage": voltage,
        }
        self._apply(kind, sensor, values, t)
        return (
            values["temperature"],
            values["humidity"],
            pressure,
            vibration,
            values["voltage"],
            1,
            1,
            kind,
        )

    def _apply(self, kind: str, sensor: _Sensor, values: dict[str, float], t: float) -> None:
        """Distort the values like anomaly.py (pressure and vibration are never touched)."""
        rng = self.values
        if kind == "spike":
            param = rng.choice(("temperature", "humidity", "voltage"))
            factor = rng.uniform(1.5, 3.0)
            if rng.random() < 0.5:
                factor = 1.0 / factor
            values[param] *= factor
        elif kind == "trend":
            param = rng.choice(("temperature", "humidity", "voltage"))
            progress = min(1.0, self._elapsed(sensor, kind, t, _TREND_SECONDS) / _TREND_SECONDS)
            factor = 1.0 + 0.5 * progress
            if rng.random() < 0.5:
                factor = 1.0 / factor
            values[param] *= factor
        elif kind == "pattern":
            phase = self._elapsed(sensor, kind, t, _PATTERN_SECONDS) / 10.0
            values["temperature"] *= 1.0 + 0.2 * math.sin(phase)
            values["humidity"] *= 1.0 + 0.2 * math.sin(phase + math.pi)
        else:  # noise
            for param in ("temperature", "humidity", "voltage"):
                factor = sensor.noise_factor
                if param == "humidity" and sensor.manufacturer == "EnvMonitors":
                    factor *= 1.5
                values[param] += rng.gauss(0.0, abs(values[param]) * factor)

    @staticmethod
    def _elapsed(sensor: _Sensor, kind: str, t: float, duration: float) -> float:
        """Seconds into this sensor's current trend/pattern episode (a new one if expired)."""
        start = sensor.episode_start.get(kind)
        if start is None or t - start > duration or t < start:
            sensor.episode_start[kind] = start = t
        return t - start


def _pick(cumulative: tuple[tuple[str, float], ...], r: float) -> str:
    for name, bound in cumulative:
        if r < bound:
            return name
    return cumulative[-1][0]


class _Timestamps:
    """``YYYY-MM-DDTHH:MM:SS.mmm+00:00`` from epoch microseconds, cheaply.

    Truncates to milliseconds like ``isoformat(timespec="milliseconds")``; the
    second-level prefix is cached because consecutive readings share it.
    """

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def __call__(self, micros: int) -> str:
        second, rest = divmod(micros, 1_000_000)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._prefix}.{rest // 1000:03d}+00:00"


def _check_common(sensors: int, anomaly_rate: float) -> None:
    if sensors < 1:
        raise ValueError(f"sensors must be at least 1, got {sensors}")
    if not 0.0 <= anomaly_rate <= 1.0:
        raise ValueError(f"anomaly_rate must be within [0, 1], got {anomaly_rate}")


def _prepare(db_path: Path, reset: bool) -> None:
    if reset:
        reset_database(db_path)
    else:
        ensure_database(db_path)


# --------------------------------------------------------------------------- modes


def simulate_bulk(
    db_path: Path,
    rows: int,
    *,
    sensors: int = 5,
    seed: int | None = None,
    anomaly_rate: float = 0.05,
    start: datetime | None = None,
    interval_seconds: float = 1.0,
    reset: bool = False,
    progress: Callable[[int], None] | None = None,
) -> SimulationResult:
    """Store ``rows`` readings quickly, round-robin over ``sensors``.

    Reading ``i`` (counting missing_data readings, which leave a gap) is taken
    at ``start + i * interval_seconds / sensors``. Without ``start`` the run
    ends at about now, so no timestamp lies in the future. Rows are written
    in batches, one transaction each, so a reader can follow along;
    ``progress`` gets the running count after each batch. With ``seed`` and
    ``start`` the content is fully deterministic.
    """
    if rows < 0:
        raise ValueError(f"rows must not be negative, got {rows}")
    if interval_seconds <= 0:
        raise ValueError(f"interval_seconds must be positive, got {interval_seconds}")
    _check_common(sensors, anomaly_rate)
    began = time.perf_counter()
    db_path = Path(db_path)
    _prepare(db_path, reset)

    step_us = interval_seconds * 1_000_000 / sensors
    if start is None:
        now = datetime.now(UTC)
        gen = _Generator(seed, sensors, anomaly_rate, now)
        slots = gen.slots_for(rows)
        start_us = _epoch_micros(now) - round(max(slots - 1, 0) * step_us)
    else:
        if start.tzinfo is None:
            start = start.replace(tzinfo=UTC)
        gen = _Generator(seed, sensors, anomaly_rate, start)
        start_us = _epoch_micros(start)

    stamp = _Timestamps()
    sensor_list = gen.sensors
    heads = [(s, s.sensor_id, s.tail) for s in sensor_list]
    n = len(heads)
    reading = gen.reading
    written = anomalies = skipped = 0
    slot = 0
    conn = _connect(db_path)
    try:
        while written < rows:
            batch: list[tuple[object, ...]] = []
            want = min(_BATCH_ROWS, rows - written)
            while len(batch) < want:
                sensor, sensor_id, tail = heads[slot % n]
                micros = start_us + round(slot * step_us)
                slot += 1
                values = reading(sensor, micros / 1_000_000)
                if values is None:
                    skipped += 1
                    continue
                if values[5]:
                    anomalies += 1
                batch.append((stamp(micros), sensor_id, *values, *tail))
            conn.execute("BEGIN")
            try:
                conn.executemany(INSERT_SQL, batch)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            written += len(batch)
            if progress is not None:
                progress(written)
    finally:
        conn.close()
    return SimulationResult(
        db_path=db_path,
        rows_written=written,
        anomalies=anomalies,
        skipped_missing=skipped,
        seconds=time.perf_counter() - began,
    )


def simulate_live(
    db_path: Path,
    *,
    rate: float,
    duration: float,
    sensors: int = 5,
    seed: int | None = None,
    anomaly_rate: float = 0.05,
    reset: bool = False,
    stop: threading.Event | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> SimulationResult:
    """Write like the running sensor: one autocommitted INSERT per reading.

    Takes ``rate`` readings per second (round-robin over ``sensors``) for
    ``duration`` seconds, i.e. ``ceil(rate * duration)`` readings, stamped with
    the real UTC time of the write. Returns early when ``stop`` is set.
    ``clock`` and ``sleep`` are injectable so tests need not wait.
    """
    if rate <= 0:
        raise ValueError(f"rate must be positive, got {rate}")
    if duration < 0:
        raise ValueError(f"duration must not be negative, got {duration}")
    _check_common(sensors, anomaly_rate)
    began = time.perf_counter()
    db_path = Path(db_path)
    _prepare(db_path, reset)

    gen = _Generator(seed, sensors, anomaly_rate, datetime.now(UTC))
    heads = [(s, s.sensor_id, s.tail) for s in gen.sensors]
    n = len(heads)
    total = math.ceil(rate * duration - 1e-9)
    written = anomalies = skipped = 0
    conn = _connect(db_path)
    try:
        t0 = clock()
        for k in range(total):
            due = t0 + k / rate
            while not _stopped(stop):
                now = clock()
                if now >= due:
                    break
                sleep(min(due - now, 0.25))  # short naps so ``stop`` is noticed quickly
            if _stopped(stop) or clock() - t0 >= duration:
                break
            sensor, sensor_id, tail = heads[k % n]
            values = gen.reading(sensor, clock())
            if values is None:
                skipped += 1
                continue
            if values[5]:
                anomalies += 1
            ts = datetime.now(UTC).isoformat(timespec="milliseconds")
            conn.execute(INSERT_SQL, (ts, sensor_id, *values, *tail))  # autocommit
            written += 1
    finally:
        conn.close()
    return SimulationResult(
        db_path=db_path,
        rows_written=written,
        anomalies=anomalies,
        skipped_missing=skipped,
        seconds=time.perf_counter() - began,
    )


def _stopped(stop: threading.Event | None) -> bool:
    return stop is not None and stop.is_set()


def _epoch_micros(moment: datetime) -> int:
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
