"""``sensorlake streams run``: the streams on a local Spark session, into local Delta tables."""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import click

from sensorlake.contract.cli import HandledGroup, path_option
from sensorlake.contract.errors import ExitCode, MismatchError, UsageError, exit_with
from sensorlake.contract.settings import CatalogSettings, SparkSettings

from .config import LocalRunConfig, parse_targets
from .errors import JavaMissing, StreamFailed, StreamsError
from .spec import LOCAL_MAX_BYTES, local_source_options

if TYPE_CHECKING:
    from .runner import RunResult

__all__ = ["format_summary", "run", "streams"]


def format_summary(result: RunResult) -> str:
    """One line per table: what this run wrote, and what the table and the lake hold."""
    header = (
        "table",
        "batches",
        "rows written",
        "rescued",
        "corrupt files",
        "table rows",
        "landed rows",
    )
    rows = [header]
    for t in result.tables.values():
        landed = "-" if t.landed_rows is None else f"{t.landed_rows:,}"
        mark = "" if t.landed_rows is None or t.landed_rows == t.table_rows else "  MISMATCH"
        rows.append(
            (
                t.table,
                str(t.batches),
                f"{t.rows:,}",
                f"{t.rescued_rows:,}",
                str(len(t.corrupt_files)),
                f"{t.table_rows:,}",
                landed + mark,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in rows
    ]
    for t in result.tables.values():
        if t.new_columns:
            lines.append(f"{t.table}: new column(s) {', '.join(t.new_columns)}")
        if t.skipped_files:
            lines.append(
                f"{t.table}: skipped {len(t.skipped_files)} file(s) outside the key layout: "
                + ", ".join(t.skipped_files)
            )
        if t.error:
            lines.append(f"{t.table}: FAILED: {t.error}")
    lines.append(f"{result.seconds:.1f} s" + (" (stopped on request)" if result.stopped else ""))
    return "\n".join(lines)


@click.group(cls=HandledGroup)
def streams() -> None:
    """The Auto Loader streams, run on a local Spark session over the local lake."""


@streams.command()
@path_option("lake")
@path_option("warehouse")
@path_option("checkpoint")
@CatalogSettings.options(resolve=False)
@click.option(
    "--pipelines",
    help="Comma-separated subset (raw,schematized,filtered,emergency,rejected) [default all].",
)
@click.option(
    "--once/--continuous",
    default=True,
    show_default=True,
    help="Ingest what is there and stop (like availableNow), or repeat every --interval until SIGTERM/SIGINT.",
)
@click.option(
    "--interval",
    type=click.FloatRange(min=1),
    default=60,
    show_default=True,
    help="Seconds between runs with --continuous.",
)
@click.option(
    "--max-files",
    type=click.IntRange(min=1),
    help="Files per micro-batch (instead of --max-bytes).",
)
@click.option(
    "--max-bytes",
    default=LOCAL_MAX_BYTES,
    show_default=True,
    help="Landed (compressed) bytes per micro-batch.",
)
@SparkSettings.options(resolve=False)
@click.option(
    "--verify",
    is_flag=True,
    help="Exit 1 unless every table holds exactly the rows landed in the lake.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("-v", "--verbose", is_flag=True, help="Show Spark's warnings.")
def run(
    lake_dir: Path,
    warehouse_dir: Path,
    checkpoint_dir: Path,
    catalog: str | None,
    schema: str | None,
    pipelines: str | None,
    once: bool,
    interval: float,
    max_files: int | None,
    max_bytes: str,
    master: str | None,
    driver_memory: str | None,
    verify: bool,
    as_json: bool,
    verbose: bool,
) -> None:
    """Ingest landed files into local Delta tables, exactly once.

    \b
    Tables: <warehouse-dir>/<catalog>/<schema>/sensor_readings_<pipeline>
    Exit codes (docs/exit-codes.md): 0 done; 1 --verify found a table that differs from
    the lake, or corrupt landed file(s) or file(s) outside the key layout were skipped
    (everything else was ingested); 2 bad option; 4 a stream failed; 5 no Java 17+, or a
    checkpoint/state problem (a checkpoint that does not belong to its table or lake).
    """
    try:
        names = CatalogSettings.from_env(catalog=catalog, schema=schema)
        local = SparkSettings.from_env(master=master, driver_memory=driver_memory)
        config = LocalRunConfig(
            lake_dir=lake_dir,
            warehouse_dir=warehouse_dir,
            checkpoint_dir=checkpoint_dir,
            catalog=names.catalog,
            schema=names.schema,
            targets=parse_targets(pipelines),
            continuous=not once,
            interval=interval,
            max_files=max_files,
            max_bytes=max_bytes,
            master=local.master,
            memory=local.driver_memory,
        )
        for target in config.targets:  # names and sizes are checked before Spark starts
            local_source_options(config.spec(target), max_files=max_files, max_bytes=max_bytes)
    except ValueError as exc:
        exit_with(UsageError(str(exc)))
    if not verbose:
        for noisy in ("py4j", "pyspark"):
            logging.getLogger(noisy).setLevel(logging.CRITICAL)
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        click.echo(
            f"{signal.Signals(signum).name}: finishing the running batch, then stopping", err=True
        )
        stop.set()

    try:
        import pyspark  # noqa: F401 - only to say what is missing before anything starts

        from .ownership import check as check_state
        from .runner import run as run_streams
        from .session import local_session
    except ImportError as exc:
        exit_with(
            JavaMissing(
                f"the local streams need their engine ({exc.name} is missing): "
                "pip install 'sensorlake-streams[local]' (or make setup)"
            )
        )
    try:
        check_state(config)  # before Spark starts: a checkpoint that is not its table's stops here
        spark = local_session(config.master, memory=config.memory, verbose=verbose)
        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        result = run_streams(
            config,
            spark=spark,
            stop=stop,
            progress=lambda line: click.echo(line, err=True),
            reconcile=verify,
        )
    except StreamsError as exc:
        exit_with(exc)
    payload: dict[str, Any] = {**result.as_dict(), "skipped_files": result.skipped}
    click.echo(json.dumps(payload, indent=2) if as_json else format_summary(result))
    for item in result.corrupt:
        click.echo(f"error: skipped corrupt file {item['path']}: {item['error']}", err=True)
    if result.failed:
        exit_with(
            StreamFailed(
                f"{len(result.failed)} stream(s) failed: {result.failed[0].table}: "
                f"{result.failed[0].error}"
            )
        )
    if result.corrupt or result.skipped:
        sys.exit(ExitCode.MISMATCH)
    if verify and result.mismatched:
        names = ", ".join(t.table for t in result.mismatched)
        exit_with(MismatchError(f"tables differ from the landed rows: {names}"))
    if verify and not as_json:
        click.echo("verified: every table holds exactly the rows landed in the lake")
