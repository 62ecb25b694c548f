"""``sensorlake migrate``: backfill, compare, rollback-state.

Joins the root ``sensorlake`` group through landing's ``sensorlake.commands`` entry point
(``migrate``), like ``land``. Errors are one line and an exit code (``landing.cli.fail``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click
import msgspec
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from ..cli import run_guarded
from ..config import load_config
from ..rules import load_rules
from .formats import FORMATS

__all__ = ["migrate"]


def _old_bucket(url: str, option: str) -> Any:
    from .oldstore import OldBucket, parse_s3_url

    bucket, prefix = parse_s3_url(url, option)
    # The old buckets may sit elsewhere than the new ones: SENSORLAKE_OLD_* win when set.
    region = (
        os.environ.get("SENSORLAKE_OLD_AWS_REGION")
        or os.environ.get("AWS_REGION")
        or os.environ.get("AWS_DEFAULT_REGION")
    )
    endpoint = (
        os.environ.get("SENSORLAKE_OLD_AWS_ENDPOINT_URL")
        or os.environ.get("AWS_ENDPOINT_URL_S3")
        or os.environ.get("AWS_ENDPOINT_URL")
    )
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
Exit codes: 0 every object read and its rows landed; 7 done, but some objects were not
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
        ("bad objects skipped", len(summary.bad_objects)),
        ("rows in objects", summary.rows),
        ("duplicates dropped", summary.duplicates_dropped),
        ("rows without identity", sum(summary.unidentifiable.values())),
        ("already landed", summary.already_landed),
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
