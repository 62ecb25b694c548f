"""The landing commands: ``land`` (and its alias ``process``), ``validate``, ``simulate``.

They join the root ``sensorlake`` group (``sensorlake.contract.cli``) through the
``sensorlake.commands`` entry points, so a gateway installs only what it runs.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import click
import msgspec
from rich.console import Console

from sensorlake.contract.cli import errors_handled
from sensorlake.contract.errors import ExitCode, exit_with
from sensorlake.contract.settings import PathSettings

from .config import GatewaySettings, LandingConfig, Limits, load_config
from .errors import ConfigError, LandingError
from .rules import load_rules

__all__ = [
    "LAND_EPILOG",
    "SAMPLE_ROWS",
    "fail",
    "land",
    "process",
    "run_guarded",
    "simulate",
    "validate",
]

log = logging.getLogger("sensorlake")
SAMPLE_ROWS = 10_000
_LIMITS = Limits()  # the defaults, for the help texts


def fail(exc: LandingError) -> NoReturn:
    """One line on stderr that says what to do, and an exit code that means something."""
    exit_with(exc)


def run_guarded(fn: Callable[[], int]) -> NoReturn:
    """Run a command body; its errors (and bugs) end as one line and their exit code."""
    with errors_handled():
        code = fn()
    sys.exit(code)


# -- land / process ------------------------------------------------------------------------

LAND_EPILOG = """\b
Examples:
  sensorlake land                                  # once, local lake under var/lake/
  sensorlake land --db-path /data/sensor_data.db --gateway-id gw-017
  S3_BUCKET_RAW=... S3_BUCKET_SCHEMATIZED=... S3_BUCKET_FILTERED=... \\
    S3_BUCKET_EMERGENCY=... sensorlake land        # to S3
  sensorlake land --pipelines raw,emergency --json
  sensorlake land --continuous --interval 1        # until SIGTERM/SIGINT; files
                                                   # close by size or age
  SENSORLAKE_FILE_MAX_AGE_SECONDS=60 sensorlake land --continuous
  sensorlake land --dry-run                        # show what would land

\b
Exit codes: 0 done; 2 bad option, environment or rules; 3 sensor database problem;
4 destination problem (credentials, access, bucket, clock); 5 local disk or state;
6 an object exists with different content; 75 landed locally, S3 unreachable (retry).
"""


_LAKE_HELP = {
    "lake_dir": "Land into this local directory even if S3 buckets are set (without it, the "
    "local lake is used only when no S3_BUCKET_* is set)"
}


def _land_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    # The shared paths and landing's own settings come from their declarations (config.py and
    # the contract); load_config resolves them, so an explicit --lake-dir can force the lake.
    options = [
        PathSettings.options("db_path", "state_dir", resolve=False),
        GatewaySettings.options("gateway_id", "pipelines", resolve=False),
        PathSettings.options("lake_dir", resolve=False, help=_LAKE_HELP),
        GatewaySettings.options("rules_path", resolve=False),
        click.option(
            "--continuous",
            is_flag=True,
            help="Keep landing every --interval seconds until SIGTERM/SIGINT. Files accumulate "
            "across cycles and close at their size limit or after SENSORLAKE_FILE_MAX_AGE_SECONDS "
            f"[default {_LIMITS.file_max_age_seconds}; emergency "
            "SENSORLAKE_EMERGENCY_FILE_MAX_AGE_SECONDS, default "
            f"{_LIMITS.emergency_file_max_age_seconds}], or on a later date; a stop closes and "
            "ships them. Without it, every file closes before exit.",
        ),
        click.option(
            "--interval",
            type=click.FloatRange(min=0.1),
            default=60.0,
            show_default=True,
            help="Seconds between cycles with --continuous.",
        ),
        click.option(
            "--dry-run",
            is_flag=True,
            help="Show what would land, what is accumulating and when the next file would "
            "close; write nothing.",
        ),
        click.option(
            "--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout."
        ),
        click.option(
            "--start-after-uploader-state",
            type=click.Path(path_type=Path),
            help="Cut-over from the old uploader: the first run on this gateway starts after "
            "the rows its state file (upload_state.json) says it uploaded; ignored once "
            "landing has a position (docs/migration.md).",
        ),
        click.option(
            "--sample-if-missing",
            is_flag=True,
            hidden=True,
            help="(make land) create a sample database when none exists and no S3 is set.",
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _make_sink(config: LandingConfig) -> Any:
    if config.s3 is None:
        from .sink import LocalLakeSink

        return LocalLakeSink(config.lake_dir, failpoints=config.failpoints)
    from .s3 import S3Sink, make_client

    s3 = config.s3
    return S3Sink(
        connect=lambda: make_client("s3", s3.region, s3.endpoint_url),
        failpoints=config.failpoints,
    )


def _ensure_sample(config: LandingConfig, console: Console) -> None:
    if config.destination != "local" or config.db_path.exists():
        return
    from .simulate import simulate_bulk

    result = simulate_bulk(config.db_path, SAMPLE_ROWS, seed=7)
    console.print(
        f"No sensor database at {config.db_path}: created a sample one with "
        f"{result.rows_written:,} simulated readings (make simulate to make your own)."
    )


def _land(
    *,
    db_path: Path | None,
    state_dir: Path | None,
    gateway_id: str | None,
    pipelines: str | None,
    lake_dir: Path | None,
    rules_path: Path | None,
    continuous: bool,
    interval: float,
    dry_run: bool,
    as_json: bool,
    sample_if_missing: bool,
    start_after_uploader_state: Path | None = None,
) -> None:
    from sensorlake.contract.summary import RunSummary

    from .report import LogReporter, RichReporter, render_summary
    from .runner import Lander

    out = Console(stderr=as_json)
    err = Console(stderr=True)

    def go() -> int:
        config = load_config(
            db_path=db_path,
            state_dir=state_dir,
            gateway_id=gateway_id,
            pipelines=pipelines,
            lake_dir=lake_dir,
            rules_path=rules_path,
        )
        if continuous and dry_run:
            raise ConfigError("--dry-run and --continuous cannot be combined", hint="pick one")
        rules = load_rules(config.rules_path)
        if sample_if_missing:
            _ensure_sample(config, out)
        if start_after_uploader_state is not None:
            from .migrate.statefile import start_after_uploader_state as cut_over

            done = cut_over(config, start_after_uploader_state, dry_run=dry_run)
            err.print(done.message, markup=False, highlight=False)
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        reporter = RichReporter(err) if err.is_terminal and not as_json else LogReporter()
        if not err.is_terminal:
            logging.getLogger("sensorlake").setLevel(min(logging.getLogger().level, logging.INFO))
        lander = Lander(
            config, rules, None if dry_run else _make_sink(config), reporter=reporter, stop=stop
        )

        def report(summary: RunSummary) -> None:
            if as_json:
                click.echo(msgspec.json.encode(summary.as_dict()).decode())
            else:
                render_summary(summary, out)

        if not continuous:
            summary = lander.run_once(dry_run=dry_run)
            report(summary)
            return summary.exit_code
        while not stop.is_set():
            try:
                report(lander.run_once(rolling=True))
            except ConfigError:
                raise
            except LandingError as exc:
                # a daemon outlives outages: say what is wrong, keep what we have, retry
                click.echo(f"error: {exc} (retrying in {interval:g} s)", err=True)
            stop.wait(interval)
        # a stop closes what is accumulating and ships it; what cannot ship stays spooled
        try:
            report(lander.finish())
        except LandingError as exc:
            click.echo(f"error: {exc} (kept in the spool; the next run ships it)", err=True)
        click.echo("stopped cleanly", err=True)
        return ExitCode.OK  # a requested stop is a clean stop; each cycle's problems were reported

    run_guarded(go)


@click.command(epilog=LAND_EPILOG)
@_land_options
def land(**options: Any) -> None:
    """Land new sensor readings: SQLite → raw/schematized/filtered/emergency → S3 or local lake.

    Reads rows after the last landed one (up to the newest when the cycle starts), validates
    and routes them, writes gzip NDJSON files with deterministic keys into a durable spool,
    then ships them with create-only PUTs. With --continuous, files roll by size and age.
    Safe to interrupt at any point: nothing is lost or landed twice.
    """
    _land(**options)


@click.command(epilog=LAND_EPILOG)
@_land_options
def process(**options: Any) -> None:
    """Alias of `land` (the migration guide's name)."""
    _land(**options)


# -- validate --------------------------------------------------------------------------------


@click.command(
    epilog="""\b
Examples:
  sensorlake validate
  sensorlake validate --json
  AWS_ENDPOINT_URL=http://127.0.0.1:5000 sensorlake validate

\b
Exit codes: 0 every check passed; 2 no bucket configured; 4 a check failed.
"""
)
@click.option("--pipelines", help="Only these pipelines' buckets [default all].")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def validate(pipelines: str | None, as_json: bool) -> None:
    """Check every configured bucket: credentials and identity, bucket and region,
    a put/get/delete probe under the reserved prefix _sensorlake/probe/, versioning and
    default encryption."""
    from .bucket_checks import render_checks, run_checks

    def go() -> int:
        config = load_config(pipelines=pipelines)
        if config.s3 is None:
            raise ConfigError(
                "no S3 bucket is configured",
                hint="set S3_BUCKET_RAW, S3_BUCKET_SCHEMATIZED, S3_BUCKET_FILTERED and S3_BUCKET_EMERGENCY",
            )
        report = run_checks(config)
        if as_json:
            click.echo(msgspec.json.encode(report).decode())
        else:
            render_checks(report, Console())
        return ExitCode.OK if report["ok"] else ExitCode.DESTINATION

    run_guarded(go)


# -- simulate --------------------------------------------------------------------------------


@click.command(
    epilog="""\b
Examples:
  sensorlake simulate --rows 1000000             # bulk, fast
  sensorlake simulate --rate 3 --duration 600    # live: one commit per reading
  sensorlake simulate --reset --rows 1000        # delete and recreate first, like the sensor
  sensorlake simulate --fleet 50 --rows 200      # 50 gateways under var/fleet/, each landed once
  sensorlake simulate --fleet 20 --rows 100 --continuous --interval 60   # land every minute

\b
With --fleet, each gateway has its own database, state and gateway id (var/fleet/gw-0001/...)
and lands through the real lander into the local lake (--lake-dir, SENSORLAKE_LAKE_DIR) or,
with S3_BUCKET_* set, into the buckets (AWS_ENDPOINT_URL applies).
Exit codes: 0 done; 2 bad option; 1 a gateway's landing did not finish cleanly (named).
"""
)
@PathSettings.options("db_path", resolve=False, help={"db_path": "Database to write"})
@click.option(
    "--rows",
    type=click.IntRange(min=0),
    help="Bulk mode: write this many readings as fast as possible.",
)
@click.option("--rate", type=click.FloatRange(min=0.01), help="Live mode: readings per second.")
@click.option(
    "--duration",
    type=click.FloatRange(min=0),
    default=60.0,
    show_default=True,
    help="Live mode: seconds to run.",
)
@click.option(
    "--sensors",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="Number of simulated sensors.",
)
@click.option("--seed", type=int, help="Random seed for reproducible data.")
@click.option("--anomaly-rate", type=click.FloatRange(0, 1), default=0.05, show_default=True)
@click.option(
    "--reset",
    is_flag=True,
    help="Delete and recreate the database first, as the sensor does on restart.",
)
@click.option(
    "--fleet",
    type=click.IntRange(min=1),
    help="Simulate N gateways and land each of them (--rows is per gateway and round).",
)
@click.option(
    "--fleet-dir",
    type=click.Path(path_type=Path),
    default=Path("var/fleet"),
    show_default=True,
    help="Fleet mode: where the gateways' databases and states live.",
)
@click.option(
    "--lake-dir",
    type=click.Path(path_type=Path),
    help="Fleet mode: land into this local lake even when S3_BUCKET_* are set.",
)
@click.option(
    "--rounds", type=click.IntRange(min=1), default=1, show_default=True, help="Fleet mode."
)
@click.option("--continuous", is_flag=True, help="Fleet mode: land rounds until SIGTERM/SIGINT.")
@click.option(
    "--interval",
    type=click.FloatRange(min=0),
    default=60.0,
    show_default=True,
    help="Fleet mode: seconds between rounds.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Fleet mode: gateways landed in parallel processes.",
)
def simulate(
    db_path: Path | None,
    rows: int | None,
    rate: float | None,
    duration: float,
    sensors: int,
    seed: int | None,
    anomaly_rate: float,
    reset: bool,
    fleet: int | None = None,
    fleet_dir: Path = Path("var/fleet"),
    lake_dir: Path | None = None,
    rounds: int = 1,
    continuous: bool = False,
    interval: float = 60.0,
    workers: int = 1,
) -> None:
    """Write simulated sensor readings: the real sensor's table, types and anomalies."""
    from . import simulate as sim

    if fleet is not None:
        _simulate_fleet(
            fleet, fleet_dir, rows, lake_dir, rounds, continuous, interval, workers, seed
        )

    def go() -> int:
        path = load_config(db_path=db_path).db_path
        if rows is None and rate is None:
            raise ConfigError(
                "say how much to simulate",
                hint="use --rows N (bulk) or --rate R --duration S (live)",
            )
        if rows is not None and rate is not None:
            raise ConfigError("--rows and --rate cannot be combined", hint="pick bulk or live mode")
        started = time.monotonic()
        if rows is not None:
            result = sim.simulate_bulk(
                path, rows, sensors=sensors, seed=seed, anomaly_rate=anomaly_rate, reset=reset
            )
        else:
            assert rate is not None
            stop = threading.Event()
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: stop.set())
            result = sim.simulate_live(
                path,
                rate=rate,
                duration=duration,
                sensors=sensors,
                seed=seed,
                anomaly_rate=anomaly_rate,
                reset=reset,
                stop=stop,
            )
        seconds = time.monotonic() - started
        click.echo(
            f"wrote {result.rows_written:,} readings ({result.anomalies:,} anomalies) to {path} "
            f"in {seconds:.1f} s"
        )
        return ExitCode.OK

    run_guarded(go)


def _simulate_fleet(
    count: int,
    fleet_dir: Path,
    rows: int | None,
    lake_dir: Path | None,
    rounds: int,
    continuous: bool,
    interval: float,
    workers: int,
    seed: int | None,
) -> NoReturn:
    from .fleet import simulate_fleet

    def go() -> int:
        if rows is None:
            raise ConfigError("say how many readings per gateway", hint="use --fleet N --rows R")
        # The destination as `land` would choose it (fails early on a bad environment).
        probe = load_config(lake_dir=lake_dir, gateway_id="gw-0001")
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())

        def progress(round_: int, done: int) -> None:
            if done == count or done % 100 == 0:
                click.echo(f"round {round_}: {done:,}/{count:,} gateways landed", err=True)

        result = simulate_fleet(
            fleet_dir,
            count,
            rows=rows,
            lake_dir=probe.lake_dir if probe.s3 is None else None,
            rounds=0 if continuous else rounds,
            interval=interval,
            seed=seed or 0,
            workers=workers,
            stop=stop,
            progress=progress,
        )
        where = "S3" if probe.s3 is not None else str(probe.lake_dir)
        click.echo(
            f"{count:,} gateways, {result.rounds} round(s): {result.rows_written:,} readings, "
            f"{result.files_landed:,} files landed into {where} in {result.seconds:.1f} s"
        )
        for gateway, error in sorted(result.failed.items())[:20]:
            click.echo(f"error: {gateway}: {error}", err=True)
        return 1 if result.failed else 0

    run_guarded(go)
