"""A simulated fleet: N gateways, each with its own sensor database, state and gateway id,
landing through the real :class:`~.runner.Lander` into one destination.

Layout under the fleet directory: ``<dir>/<gateway id>/sensor_data.db`` and
``<dir>/<gateway id>/state/``, exactly what N separate gateway machines would hold. Each
round adds ``rows`` simulated readings to every database (:func:`~.simulate.simulate_bulk`)
and lands every gateway once; the destination is the local lake (``lake_dir``) or the
buckets in ``env`` (``S3_BUCKET_*``, ``AWS_ENDPOINT_URL``), as for ``sensorlake land``.
``sensorlake simulate --fleet N`` runs it; the tests and benchmarks call it directly. boto3
takes credentials (and ``AWS_ENDPOINT_URL``) from the process environment, not from ``env``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from sensorlake.contract.settings import child_env as process_env

__all__ = ["FleetGateway", "FleetResult", "fleet_gateways", "land_gateway", "simulate_fleet"]


@dataclass(frozen=True)
class FleetGateway:
    gateway_id: str
    db_path: Path
    state_dir: Path


@dataclass
class FleetResult:
    gateways: int = 0
    rounds: int = 0
    rows_written: int = 0
    files_landed: int = 0
    records: dict[str, int] = field(default_factory=dict)  # target -> records landed
    failed: dict[str, str] = field(default_factory=dict)  # gateway id -> last error line
    seconds: float = 0.0

    def add(self, gateway: str, rows: int, files: int, records: dict[str, int], error: str) -> None:
        self.rows_written += rows
        self.files_landed += files
        for target, n in records.items():
            self.records[target] = self.records.get(target, 0) + n
        if error:
            self.failed[gateway] = error


def fleet_gateways(root: Path, count: int, *, prefix: str = "gw") -> list[FleetGateway]:
    """The fleet's gateways: ids ``<prefix>-0001``... (zero-padded so they sort)."""
    width = max(4, len(str(count)))
    out = []
    for i in range(1, count + 1):
        gid = f"{prefix}-{i:0{width}d}"
        home = Path(root) / gid
        out.append(FleetGateway(gid, home / "sensor_data.db", home / "state"))
    return out


def land_gateway(
    gateway: FleetGateway,
    rows: int,
    *,
    seed: int,
    lake_dir: Path | None,
    env: Mapping[str, str],
    sensors: int = 2,
) -> tuple[str, int, int, dict[str, int], str]:
    """Add ``rows`` readings to one gateway's database and land it once (the real lander):
    ``(gateway id, rows written, files landed, records per target, error or "")``."""
    from .cli import _make_sink
    from .config import load_config
    from .errors import LandingError
    from .rules import load_rules
    from .runner import Lander
    from .simulate import simulate_bulk

    gateway.db_path.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    if rows:
        written = simulate_bulk(gateway.db_path, rows, sensors=sensors, seed=seed).rows_written
    # One worker: a fleet lands many small databases, worker processes would cost more.
    child_env = {**env, "SENSORLAKE_WORKERS": "1"}
    try:
        config = load_config(
            env=child_env,
            db_path=gateway.db_path,
            state_dir=gateway.state_dir,
            gateway_id=gateway.gateway_id,
            lake_dir=lake_dir,
        )
        summary = Lander(config, load_rules(config.rules_path), _make_sink(config)).run_once()
    except LandingError as exc:
        return gateway.gateway_id, written, 0, {}, str(exc)
    files = sum(t.files for t in summary.targets.values())
    records = {name: t.records for name, t in summary.targets.items()}
    error = summary.error or ("" if summary.exit_code == 0 else f"exit {summary.exit_code}")
    return gateway.gateway_id, written, files, records, error


def _land_chunk(
    chunk: list[FleetGateway], rows: int, seeds: list[int], lake_dir: Path | None, env: dict
) -> list[tuple[str, int, int, dict[str, int], str]]:
    return [
        land_gateway(g, rows, seed=s, lake_dir=lake_dir, env=env)
        for g, s in zip(chunk, seeds, strict=True)
    ]


def simulate_fleet(
    root: Path,
    count: int,
    *,
    rows: int,
    lake_dir: Path | None = None,
    env: Mapping[str, str] | None = None,
    rounds: int = 1,
    interval: float = 0.0,
    seed: int = 0,
    workers: int = 1,
    stop: threading.Event | None = None,
    progress: Callable[[int, int], None] | None = None,
    prefix: str = "gw",
) -> FleetResult:
    """``rounds`` rounds (0: until ``stop``), ``interval`` seconds apart, each adding
    ``rows`` readings to every gateway and landing all of them. ``workers`` > 1 lands
    gateways in that many processes. ``progress(round, gateways done)`` after each one."""
    env = process_env() if env is None else dict(env)
    stop = stop or threading.Event()
    gateways = fleet_gateways(root, count, prefix=prefix)
    result = FleetResult(gateways=count)
    started = time.perf_counter()
    pool = ProcessPoolExecutor(workers) if workers > 1 else None
    try:
        n = 0
        while not stop.is_set() and (rounds == 0 or n < rounds):
            n += 1
            seeds = [seed * 1_000_003 + n * 10_007 + i for i in range(count)]
            done = 0
            if pool is None:
                for g, s in zip(gateways, seeds, strict=True):
                    if stop.is_set():
                        break
                    result.add(*land_gateway(g, rows, seed=s, lake_dir=lake_dir, env=env))
                    done += 1
                    if progress is not None:
                        progress(n, done)
            else:
                size = max(1, count // (workers * 8))
                futures = [
                    pool.submit(
                        _land_chunk,
                        gateways[i : i + size],
                        rows,
                        seeds[i : i + size],
                        lake_dir,
                        env,
                    )
                    for i in range(0, count, size)
                ]
                for future in futures:
                    for item in future.result():
                        result.add(*item)
                        done += 1
                    if progress is not None:
                        progress(n, done)
            result.rounds = n
            if rounds == 0 or n < rounds:
                stop.wait(interval)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    result.seconds = time.perf_counter() - started
    return result
