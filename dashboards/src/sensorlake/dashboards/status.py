"""``sensorlake status``: the migration guide's three sections from one fresh snapshot.

Exit codes for cron and CI (the contract's table, docs/exit-codes.md): 0 healthy,
1 degraded (something lags, stalls, failed, or the reconciliation found a mismatch),
75 could not check (the landing zone, tables, gateway state or jobs could not be read in
the time allowed: try again later), 2 could not check because a backend is not configured
(retrying will not help: configure it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from sensorlake.contract.errors import ExitCode

from .snapshot import Snapshot, fleet_totals

__all__ = [
    "DEGRADED",
    "HEALTHY",
    "NOT_CONFIGURED",
    "UNCHECKED",
    "WORST_SHOWN",
    "Report",
    "fleet_summary",
    "render",
    "report",
]

WORST_SHOWN = 10

HEALTHY = ExitCode.OK
DEGRADED = ExitCode.MISMATCH
UNCHECKED = ExitCode.UNAVAILABLE  # a backend could not be read (in time): try again later
NOT_CONFIGURED = ExitCode.USAGE  # a backend is not set up: retrying will not help
# worst last: a missing configuration outranks an outage, which outranks a lag
_RANK = {HEALTHY: 0, DEGRADED: 1, UNCHECKED: 2, NOT_CONFIGURED: 3}
_WORDS = {
    HEALTHY: "healthy",
    DEGRADED: "degraded",
    UNCHECKED: "could not check",
    NOT_CONFIGURED: "could not check",
}


def _worse(code: ExitCode, other: ExitCode) -> ExitCode:
    return max(code, other, key=_RANK.__getitem__)


@dataclass(frozen=True)
class Report:
    exit_code: ExitCode
    reasons: list[str]
    sections: dict[str, list[dict[str, Any]]]
    # gateways healthy, silent, behind, and the worst ten (fleet_summary)
    fleet: dict[str, Any] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        return _WORDS[self.exit_code]

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.verdict,
            "exit_code": self.exit_code,
            "reasons": self.reasons,
            **self.sections,
            "fleet": self.fleet,
        }


def _age(when: datetime | None, now: float) -> str:
    if when is None:
        return "-"
    s = max(0.0, now - when.timestamp())
    if s < 90:
        return f"{s:.0f} s ago"
    if s < 5400:
        return f"{s / 60:.0f} min ago"
    if s < 129600:
        return f"{s / 3600:.1f} h ago"
    return f"{s / 86400:.1f} days ago"


def report(snap: Snapshot) -> Report:
    now = snap.at
    reasons: list[str] = []
    code = HEALTHY
    components = {c.name: c for c in snap.health.components}
    # Could not check: the landing zone, any table, or the gateway state cannot be read
    # (75, try again later), or is not configured (2).
    unreadable = {
        "landing": ("unavailable", "not configured"),
        "tables": ("unavailable", "not configured", "degraded"),  # degraded: a table unreadable
        "gateway": ("unavailable",),
    }
    for name, states in unreadable.items():
        c = components[name]
        if c.status in states:
            code = _worse(code, NOT_CONFIGURED if c.status == "not configured" else UNCHECKED)
            reasons.append(f"{name}: {c.reason}")
        elif c.status == "degraded":
            code = _worse(code, DEGRADED)
            reasons.append(f"{name}: {c.reason}")
    if snap.status.jobs_error:
        code = _worse(code, UNCHECKED)
        reasons.append(f"jobs: {snap.status.jobs_error}")
    uncounted = sum(p.uncounted_objects for p in snap.metrics.pipelines)
    if uncounted and code not in (UNCHECKED, NOT_CONFIGURED):
        code = UNCHECKED
        reasons.append(
            f"landing: record counts of {uncounted:,} files not read in the time allowed "
            "(SENSORLAKE_STATUS_TIMEOUT_SECONDS)"
        )
    for p in snap.status.pipelines:
        if p.state in ("lagging", "stalled"):
            code = _worse(code, DEGRADED)
            reasons.append(f"{p.pipeline}: {p.state}: {p.reason}")
    if snap.reconciliation.verdict == "mismatch":
        code = _worse(code, DEGRADED)
        reasons.append(f"reconciliation: {snap.reconciliation.summary}")

    infra: list[dict[str, Any]] = [
        {
            "item": f"{c.name} ({c.backend})",
            "state": c.status,
            "detail": c.reason or "",
        }
        for c in snap.health.components
    ]
    for t in snap.tables.tables:
        infra.append(
            {
                "item": t.table,
                "state": "exists" if t.exists else ("unknown" if t.error else "missing"),
                "detail": (
                    f"{t.rows:,} rows, version {t.latest_version}, "
                    f"last ingestion {_age(t.last_ingestion_time, now)}"
                    if t.exists
                    else (t.error or "not created yet (no stream has run)")
                ),
            }
        )
    errors = {p.error for p in snap.metrics.pipelines}
    if len(errors) == 1 and None not in errors:
        # One failure for every pipeline (the lake or S3 unreadable): say it once.
        landing: list[dict[str, Any]] = [
            {"item": "every pipeline", "state": "error", "detail": errors.pop()}
        ]
    else:
        landing = [
            {
                "item": p.pipeline,
                "state": "error" if p.error else ("empty" if not p.objects else "landed"),
                "detail": p.error
                or (
                    f"{p.objects:,} files, {p.records:,} records, {p.bytes / 1e6:,.1f} MB; "
                    f"newest {_age(p.newest_object, now)}; "
                    f"last hour {p.records_last_hour:,} records"
                ),
            }
            for p in snap.metrics.pipelines
        ]
    metrics = snap.metrics
    if metrics.unknown_objects:
        first = metrics.outside_layout[0] if metrics.outside_layout else ""
        landing.append(
            {
                "item": "outside the layout",
                "state": "error",
                "detail": f"{metrics.unknown_objects:,} file(s) the streams skip, first {first}",
            }
        )
    if metrics.bad_metadata_objects:
        first = next(iter(metrics.bad_metadata.values()), "")
        landing.append(
            {
                "item": "bad metadata",
                "state": "error",
                "detail": f"{metrics.bad_metadata_objects:,} file(s) counted by their lines, "
                f"first {first}",
            }
        )
    gw = snap.status.gateway
    if gw.available and gw.last_run is not None:
        run = gw.last_run
        landing.append(
            {
                "item": f"gateway {run.gateway}",
                "state": "failed" if run.error else "ok",
                "detail": (
                    f"last run finished {run.finished_at}, {run.rows_read:,} rows read"
                    f"{'; ' + run.error if run.error else ''}; spool {gw.spool_files} file(s)"
                    + "".join(
                        f"; {n:,} {what}"
                        for n, what in (
                            (run.rows_without_id, "row(s) without a usable id (not landed)"),
                            (run.duplicate_ids, "row(s) repeating an id (not landed twice)"),
                            (run.stranded_files, "spooled file(s) that cannot ship"),
                        )
                        if n
                    )
                ),
            }
        )
    monitoring: list[dict[str, Any]] = [
        {
            "item": p.pipeline,
            "state": p.state,
            "detail": p.reason
            if p.backlog_files is None
            else f"backlog {p.backlog_files:,} file(s), lag {p.lag_seconds or 0:,.0f} s; {p.reason}",
        }
        for p in snap.status.pipelines
    ]
    monitoring.append(
        {
            "item": "reconciliation",
            "state": snap.reconciliation.verdict,
            "detail": snap.reconciliation.summary,
        }
    )
    sections = {
        "infrastructure_and_tables": infra,
        "landing": landing,
        "monitoring": monitoring,
    }
    return Report(code, reasons, sections, fleet_summary(snap))


def fleet_summary(snap: Snapshot) -> dict[str, Any]:
    """How many gateways are healthy, silent and behind, and the worst ten (worst first)."""
    if snap.fleet is None:
        return {}
    totals = fleet_totals(snap.fleet).model_dump()
    worst = [
        {
            "gateway": row.gateway,
            "state": row.state,
            "reason": row.reason,
            "last_landed": datetime.fromtimestamp(row.last_landed, UTC).isoformat(),
            "backlog_files": row.backlog_files,
        }
        for row in snap.fleet.rows[:WORST_SHOWN]
    ]
    return {
        **totals,
        "silent_seconds": snap.fleet.silent_seconds,
        "error": snap.fleet_error,
        "worst": worst,
    }


_STYLE = {
    "healthy": "green",
    "exists": "green",
    "landed": "green",
    "ok": "green",
    "exactly once": "green",
    "in flight": "cyan",
    "lagging": "yellow",
    "degraded": "yellow",
    "empty": "dim",
    "missing": "yellow",
    "not configured": "yellow",
    "stalled": "red",
    "unavailable": "red",
    "failed": "red",
    "error": "red",
    "mismatch": "red",
    "no lineage": "red",
    "unknown": "red",
    "landing": "green",
    "behind": "yellow",
    "silent": "red",
}
_TITLES = {
    "infrastructure_and_tables": "Infrastructure and tables",
    "landing": "Landing",
    "monitoring": "Monitoring",
}


def render(rep: Report, console: Console, as_of: float) -> None:
    stamp = datetime.fromtimestamp(as_of, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    for name, rows in rep.sections.items():
        table = Table(title=_TITLES[name], title_justify="left", expand=True, show_lines=False)
        table.add_column("", no_wrap=True)
        table.add_column("state", no_wrap=True)
        table.add_column("detail", ratio=1)
        for row in rows:
            style = _STYLE.get(row["state"], "")
            table.add_row(
                row["item"], f"[{style}]{row['state']}[/]" if style else row["state"], row["detail"]
            )
        console.print(table)
    _render_fleet(rep.fleet, console)
    colour = {HEALTHY: "green", DEGRADED: "yellow"}.get(rep.exit_code, "red")
    console.print(f"[bold {colour}]{rep.verdict}[/] as of {stamp}")
    for reason in rep.reasons:
        console.print(f"  - {reason}", markup=False, highlight=False)


def _render_fleet(fleet: dict[str, Any], console: Console) -> None:
    """A line of counts, then the worst gateways (nothing when no gateway has landed)."""
    if not fleet.get("gateways"):
        return
    table = Table(
        title=(
            f"Fleet: {fleet['gateways']:,} gateway(s), {fleet['healthy']:,} healthy, "
            f"{fleet['silent']:,} silent, {fleet['behind']:,} behind"
        ),
        title_justify="left",
        expand=True,
    )
    table.add_column("worst first", no_wrap=True)
    table.add_column("state", no_wrap=True)
    table.add_column("detail", ratio=1)
    for row in fleet["worst"]:
        style = _STYLE.get(row["state"], "")
        table.add_row(row["gateway"], f"[{style}]{row['state']}[/]", row["reason"])
    console.print(table)
