"""``sensorlake migrate``: backfill, compare, rollback-state.

Joins the root ``sensorlake`` group through landing's ``sensorlake.commands`` entry point
(``migrate``), like ``land``. Errors are one line and an exit code from the contract's table
(``sensorlake.contract.errors``, through ``landing.cli.run_guarded``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import msgspec
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from sensorlake.contract.cli import path_option
from sensorlake.contract.errors import ExitCode

from ..cli import run_guarded
from ..config import load_config, old_bucket_connection
from ..rules import load_rules
from .formats import FORMATS
from .tables import DEFAULT_TIMEOUT_SECONDS as DEFAULT_TABLES_TIMEOUT

WAREHOUSES = ("auto", "local", "databricks", "none")

__all__ = [
    "BACKFILL_EPILOG",
    "COMPARE_EPILOG",
    "ROLLBACK_EPILOG",
    "WAREHOUSES",
    "backfill",
    "compare",
    "migrate",
    "rollback_state",
]


def _old_bucket(url: str, option: str) -> Any:
    from .oldstore import OldBucket, parse_s3_url

    bucket, prefix = parse_s3_url(url, option)
    # The old buckets may sit elsewhere than the new ones: SENSORLAKE_OLD_* win when set.
    region, endpoint = old_bucket_connection()
    return OldBucket(bucket, prefix, region=region, endpoint_url=endpoint)


class _RichProgress:
    def __init__(self, console: Console) -> None:
        self.console = console
        self._bar: Progress | None = None
        self._task: Any = None

    def begin(self, objects: int) -> None:
        self._bar = Progress(
            TextColumn("reading old objects"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
        )
        self._bar.start()
        self._task = self._bar.add_task("objects", total=objects)

    def advance(self, n: int = 1) -> None:
        if self._bar is not None:
            self._bar.advance(self._task, n)

    def note(self, message: str) -> None:
        self.console.print(f"[yellow]•[/] {message}", markup=False, highlight=False)

    def end(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


class _PlainProgress:
    """Off a terminal: each skipped object on its own line, no bar."""

    def begin(self, objects: int) -> None:
        pass

    def advance(self, n: int = 1) -> None:
        pass

    def note(self, message: str) -> None:
        click.echo(f"• {message}", err=True)

    def end(self) -> None:
        pass


def _progress(as_json: bool) -> Any:
    err = Console(stderr=True)
    return _RichProgress(err) if err.is_terminal and not as_json else _PlainProgress()


def _sink_factory(config: Any) -> Any:
    from ..cli import _make_sink

    return lambda: _make_sink(config)


@click.group(
    epilog="""\b
Steps (docs/migration.md): compare during the parallel period, backfill the history,
cut over with `sensorlake land --start-after-uploader-state`, roll back with
`sensorlake migrate rollback-state`.
"""
)
def migrate() -> None:
    """Move a gateway fleet off the old uploader: backfill, compare, roll back."""


# -- backfill ------------------------------------------------------------------------------

BACKFILL_EPILOG = """\b
Examples:
  sensorlake migrate backfill --from s3://expanso-databricks-ingestion-us-west-2 --dry-run
  sensorlake migrate backfill --from s3://old-bucket/ingestion/ --format uploader-wrapped
  sensorlake migrate backfill --from s3://old-bucket --gateway-id gw-017 --json

\b
The new landing zone is landing's (S3_BUCKET_* or --lake-dir); the old bucket is reached
with the same credentials (SENSORLAKE_OLD_AWS_ENDPOINT_URL / SENSORLAKE_OLD_AWS_REGION
override the endpoint and region for it).

\b
Exit codes: 0 every object read and its rows landed; 1 done, but some objects were not
the old uploader's and were skipped (listed by key); 2 bad option; 4 destination or old
bucket problem; 5 local disk; 6 a different object exists at a key; 75 landed into the
spool, S3 unreachable (rerun ships it).
"""


@migrate.command(epilog=BACKFILL_EPILOG)
@click.option(
    "--from", "source", required=True, help="The old uploader's bucket: s3://BUCKET[/PREFIX]."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="auto",
    show_default=True,
    help="uploader-json (a140e6d0 arrays), uploader-wrapped ({metadata, records}) or auto.",
)
@click.option("--gateway-id", help="Gateway of every object (default: each object's node-id).")
@click.option(
    "--state-dir", type=click.Path(path_type=Path), help="Landing state [default var/state]."
)
@click.option("--lake-dir", type=click.Path(path_type=Path), help="Land into this local lake.")
@click.option(
    "--pipelines",
    help="Comma-separated subset of raw,schematized,filtered,emergency (raw required).",
)
@click.option("--rules", "rules_path", type=click.Path(path_type=Path), help="Rules file.")
@click.option("--dry-run", is_flag=True, help="Read and count everything; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout.")
def backfill(
    source: str,
    fmt: str,
    gateway_id: str | None,
    state_dir: Path | None,
    lake_dir: Path | None,
    pipelines: str | None,
    rules_path: Path | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Land the old uploader's objects into the new landing zone, exactly once.

    Rows go through landing's own validation, routing, keys, files and create-only
    shipping. A rerun lands nothing new; the old uploader's duplicated batches land once;
    rows the live lander already landed are not landed again.
    """
    from .backfill import Backfill

    def go() -> int:
        config = load_config(
            state_dir=state_dir,
            lake_dir=lake_dir,
            pipelines=pipelines,
            rules_path=rules_path,
            gateway_id=gateway_id,
        )
        rules = load_rules(config.rules_path)
        old = _old_bucket(source, "--from")
        job = Backfill(
            config,
            rules,
            old,
            fmt=fmt,
            gateway_id=gateway_id,
            dry_run=dry_run,
            sink=None if dry_run else _sink_factory(config),
            progress=_progress(as_json),
        )
        summary = job.run()
        if summary.objects_listed == 0:
            click.echo(
                f"warning: no objects under {summary.source}: check the bucket and prefix",
                err=True,
            )
        if as_json:
            click.echo(msgspec.json.encode(summary.as_dict()).decode())
        else:
            _render_backfill(summary, Console())
        return summary.exit_code

    run_guarded(go)


def _render_backfill(summary: Any, console: Console) -> None:
    title = "Backfill dry run: nothing was written" if summary.dry_run else "Backfill summary"
    console.print(f"[bold]{title}[/]  from={summary.source} to={summary.destination}")
    rate = summary.objects_read / summary.seconds if summary.seconds else 0.0
    lines = [
        ("objects listed", summary.objects_listed),
        ("objects read", summary.objects_read),
        ("objects read by an earlier backfill", summary.objects_skipped),
        ("bad objects skipped", len(summary.bad_objects)),
        ("rows in objects", summary.rows),
        ("duplicates dropped", summary.duplicates_dropped),
        ("rows without identity", sum(summary.unidentifiable.values())),
        ("already landed", summary.already_landed),
        ("left to the live lander", summary.left_to_live_lander),
        ("rows landed" if not summary.dry_run else "rows that would land", summary.rows_landed),
    ]
    table = Table(show_edge=False, show_header=False)
    table.add_column("what")
    table.add_column("count", justify="right")
    for what, n in lines:
        table.add_row(what, f"{n:,}")
    console.print(table)
    if summary.files_written:
        files = ", ".join(f"{t}={n:,}" for t, n in sorted(summary.files_written.items()))
        console.print(f"files {'that would be ' if summary.dry_run else ''}written: {files}")
    if summary.rejected_reasons:
        reasons = ", ".join(
            f"{r}={n:,}" for r, n in sorted(summary.rejected_reasons.items(), key=lambda x: -x[1])
        )
        console.print(f"rejected by reason: {reasons}")
    if summary.unidentifiable:
        reasons = ", ".join(f"{r}={n:,}" for r, n in sorted(summary.unidentifiable.items()))
        console.print(f"rows not landed, no identity: {reasons}")
    for gen in summary.generations:
        console.print(
            f"gateway {gen.gateway} epoch {gen.epoch} ({gen.epoch_from}) from {gen.first_timestamp}: "
            f"{gen.rows:,} rows, {gen.already_landed:,} already landed, {gen.landed:,} landed",
            highlight=False,
        )
    for bad in summary.bad_objects:
        console.print(f"[yellow]skipped[/] {bad['key']}: {bad['reason']}", highlight=False)
    for key in summary.conflicts:
        console.print(f"[red]conflict:[/] {key} (kept in the spool, not overwritten)")
    for error in summary.errors:
        console.print(f"[red]error:[/] {error}", highlight=False)
    console.print(f"{summary.seconds:.1f} s, {rate:,.0f} objects/s")


# -- compare -------------------------------------------------------------------------------

COMPARE_EPILOG = """\b
Examples:
  sensorlake migrate compare --old s3://expanso-databricks-ingestion-us-west-2
  sensorlake migrate compare --old s3://old-bucket --since 2026-03-01 --until 2026-03-07 --json

\b
Rows are the same when gateway, id, timestamp and sensor_id agree; days are UTC dates.
"missing in old" is expected (rows after the old uploader's watermark, rows it skipped
at equal timestamps); "missing in new" is not.

\b
Exit codes: 0 the new zone holds every old row; 1 some old rows are missing in the new
zone (see the table; run `sensorlake migrate backfill`); 2 bad option; 4 a bucket
cannot be read.
"""


def _date(option: str) -> Any:
    def check(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
        from datetime import date

        if value is None:
            return None
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            raise click.BadParameter(f"{value!r} is not a date; use YYYY-MM-DD") from None

    return check


@migrate.command(epilog=COMPARE_EPILOG)
@click.option(
    "--old", "source", required=True, help="The old uploader's bucket: s3://BUCKET[/PREFIX]."
)
@click.option("--since", callback=_date("--since"), help="First UTC day compared (YYYY-MM-DD).")
@click.option("--until", callback=_date("--until"), help="Last UTC day compared (YYYY-MM-DD).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="auto", show_default=True)
@click.option("--gateway-id", help="Gateway of every old object (default: each object's node-id).")
@click.option("--lake-dir", type=click.Path(path_type=Path), help="Compare with this local lake.")
@path_option("warehouse")
@click.option(
    "--warehouse",
    "warehouse",
    type=click.Choice(WAREHOUSES),
    default="auto",
    show_default=True,
    help="Where the tables are: the local warehouse (--warehouse-dir), Databricks (a SQL "
    "warehouse: DATABRICKS_HOST, DATABRICKS_HTTP_PATH, DATABRICKS_TOKEN), none; auto: "
    "Databricks when DATABRICKS_HOST or DATABRICKS_HTTP_PATH is set, else local.",
)
@click.option(
    "--tables-timeout",
    type=click.FloatRange(min=1.0),
    default=DEFAULT_TABLES_TIMEOUT,
    show_default=True,
    help="Seconds the Databricks tables may take; past them they are not checked.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON on stdout.")
def compare(
    source: str,
    since: str | None,
    until: str | None,
    fmt: str,
    gateway_id: str | None,
    lake_dir: Path | None,
    warehouse_dir: Path,
    warehouse: str,
    tables_timeout: float,
    as_json: bool,
) -> None:
    """Per gateway and day: rows the old uploader landed against rows in the new zone."""
    from .compare import compare as run_compare
    from .zone import LandingZone

    def go() -> int:
        if since and until and since > until:
            from ..errors import ConfigError

            raise ConfigError(f"--since {since} is after --until {until}", hint="swap them")
        config = load_config(lake_dir=lake_dir, gateway_id=gateway_id)
        table, tables_note, tables = _tables(warehouse, warehouse_dir, since, until, tables_timeout)
        report = run_compare(
            _old_bucket(source, "--old"),
            LandingZone(config),
            since=since,
            until=until,
            fmt=fmt,
            gateway_id=gateway_id,
            progress=_progress(as_json),
            table=table,
            tables_note=tables_note,
            tables=tables,
        )
        if report.objects_read == 0 and not report.bad_objects:
            from ..errors import ConfigError

            raise ConfigError(
                f"no objects under {report.old}: nothing to compare",
                hint="check the bucket and prefix given to --old",
            )
        if as_json:
            click.echo(msgspec.json.encode(report.as_dict()).decode())
        else:
            _render_compare(report, Console())
        return ExitCode.OK if report.complete else ExitCode.MISMATCH

    run_guarded(go)


def _tables(
    warehouse: str, warehouse_dir: Path, since: str | None, until: str | None, timeout: float
) -> tuple[Any, str, Any]:
    """The raw table now (local), or how to read it once the gateways are known
    (Databricks: the connector is imported only then), or why it is not checked."""
    from .tables import WarehouseSettings, databricks_raw_table, local_raw_table

    settings = WarehouseSettings.from_env(timeout_seconds=timeout)
    if warehouse == "none":
        return None, "tables not checked (--warehouse none)", None
    if warehouse == "databricks" or (warehouse == "auto" and settings.configured):
        return (
            None,
            "",
            lambda gateways: databricks_raw_table(settings, gateways, since, until),
        )
    table, note = local_raw_table(warehouse_dir)
    return table, note, None


def _render_compare(report: Any, console: Console) -> None:
    console.print(f"[bold]Old against new[/]  old={report.old} new={report.new}")
    table = Table(show_edge=False)
    columns = (
        "gateway",
        "day",
        "old",
        "new",
        "equal",
        "missing in new",
        "missing in old",
        "duplicated in old",
        "status",
    )
    for column in columns:
        table.add_column(
            column, justify="left" if column in ("gateway", "day", "status") else "right"
        )
    for d in report.days:
        style = "red" if d.missing_in_new else ("green" if d.status == "equal" else "")
        table.add_row(
            d.gateway,
            d.day,
            f"{d.old:,}",
            f"{d.new:,}",
            f"{d.equal:,}",
            f"{d.missing_in_new:,}",
            f"{d.missing_in_old:,}",
            f"{d.duplicated_in_old:,}",
            f"[{style}]{d.status}[/]" if style else d.status,
        )
    console.print(table)
    for d in report.days:
        if d.missing_in_new:
            console.print(
                f"[red]{d.gateway} {d.day}: {d.missing_in_new:,} old row(s) missing in new[/], "
                f"e.g. ids {', '.join(map(str, d.missing_in_new_examples))}",
                highlight=False,
            )
    for bad in report.bad_objects:
        console.print(f"[yellow]not compared[/] {bad['key']}: {bad['reason']}", highlight=False)
    t = report.totals
    if "in_table" in t:
        console.print(
            f"tables ({report.tables}): {t['in_table']:,} old row(s) in the raw table, "
            f"{t['missing_in_table']:,} not (yet) there (`sensorlake status` tells pending "
            "from missing)",
            highlight=False,
        )
    elif report.tables:
        console.print(report.tables, highlight=False)
    verdict = (
        "[green]complete: the new zone holds every old row[/]"
        if report.complete
        else f"[red]incomplete: {t['missing_in_new']:,} old row(s) missing in new; run "
        "`sensorlake migrate backfill`[/]"
    )
    console.print(
        f"{verdict}  (old {t.get('old', 0):,}, new {t.get('new', 0):,}, equal {t.get('equal', 0):,}, "
        f"duplicated in old {t.get('duplicated_in_old', 0):,})"
    )


# -- rollback-state --------------------------------------------------------------------------

ROLLBACK_EPILOG = """\b
Examples:
  sensorlake migrate rollback-state --to /state/s3-uploader/upload_state.json
  sensorlake migrate rollback-state --to /state --db-path /data/sensor_data.db --json

\b
Stop `sensorlake land` first (the state is locked while it runs), then start the old
uploader: it resumes with the first row the new lander did not land.

\b
Exit codes: 0 written; 2 the lander never ran or bad option; 3 sensor database problem;
5 the state is locked (a lander is running) or cannot be written; 75 the lander stopped
inside a run of equal timestamps: run `sensorlake land` once more, then retry.
"""


@migrate.command("rollback-state", epilog=ROLLBACK_EPILOG)
@click.option(
    "--to",
    "to",
    required=True,
    type=click.Path(path_type=Path),
    help="The old uploader's upload_state.json (or its state directory).",
)
@click.option(
    "--state-dir", type=click.Path(path_type=Path), help="Landing state [default var/state]."
)
@click.option(
    "--db-path",
    type=click.Path(path_type=Path),
    help="Sensor database [default var/sensor_data.db].",
)
@click.option("--dry-run", is_flag=True, help="Show the state file; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout.")
def rollback_state(
    to: Path, state_dir: Path | None, db_path: Path | None, dry_run: bool, as_json: bool
) -> None:
    """Write the old uploader's state file from the new lander's position, atomically."""
    from dataclasses import asdict

    from .statefile import rollback_state as write_state

    def go() -> int:
        config = load_config(state_dir=state_dir, db_path=db_path)
        done = write_state(config.state_dir, config.db_path, to, dry_run=dry_run)
        if as_json:
            click.echo(msgspec.json.encode({**asdict(done), "dry_run": dry_run}).decode())
            return ExitCode.OK
        verb = "would write" if dry_run else "wrote"
        click.echo(
            f"{verb} {done.path}: last_timestamp {done.last_timestamp} (the lander's epoch "
            f"{done.epoch}, row {done.watermark}); the old uploader resumes with the next row"
        )
        if done.spooled_files:
            click.echo(
                f"warning: {done.spooled_files} landed file(s) still wait in the spool; run "
                "`sensorlake land` until nothing is pending, or their rows reach the new zone "
                "only when it runs again",
                err=True,
            )
        else:
            click.echo("spooled files: 0 (everything the lander landed has shipped)")
        return ExitCode.OK

    run_guarded(go)
