"""The end-to-end exactly-once check: what landed against what is in the tables.

A landed file whose rows are not in its table is *pending* (it may still arrive) until the
stream's checkpoint says it was processed, or, without a checkpoint, until the table
committed more than :data:`MISSING_GRACE_SECONDS` after the file landed: then it is
*missing*. Per pipeline and gateway, records landed (object metadata) are compared with the
distinct ``_lineage`` ids in the table; rows beyond the first per id are duplicates (the
readers hand over plain counts, rows and distinct ids per gateway; the rule is here:
:func:`duplicate_rows`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from sensorlake.contract.pipelines import TARGETS

from . import models as m
from .readers.base import Inputs, LandedObject, TableStats

__all__ = ["MISSING_GRACE_SECONDS", "Backlog", "backlog_of", "duplicate_rows", "reconcile"]

# Without a checkpoint, a file counts as missing once the table committed this long after it.
MISSING_GRACE_SECONDS = 60.0


@dataclass(frozen=True)
class Backlog:
    """Files not in the table: ``pending`` may still arrive, ``missing`` should be there."""

    pending: tuple[LandedObject, ...] = ()
    missing: tuple[LandedObject, ...] = ()
    known: bool = False  # False when there is no table to compare with

    @property
    def files(self) -> tuple[LandedObject, ...]:
        return self.pending + self.missing


def duplicate_rows(stats: TableStats) -> dict[str, int]:
    """Per gateway, the rows beyond the first per lineage id (rows minus distinct ids)."""
    out = {}
    for gateway, rows in stats.gateway_rows.items():
        extra = rows - stats.gateway_distinct.get(gateway, rows)
        if extra > 0:
            out[gateway] = extra
    return out


def backlog_of(objects: Iterable[LandedObject], stats: TableStats | None) -> Backlog:
    """Which landed files are not in the table, and whether each is pending or missing."""
    if stats is None:
        return Backlog(pending=tuple(objects), known=False)
    last_commit = max((h.timestamp for h in stats.history), default=stats.last_ingested_at)
    pending: list[LandedObject] = []
    missing: list[LandedObject] = []
    for obj in objects:
        name = obj.name
        if name in stats.files:
            continue
        if stats.processed_files is not None:
            due = name in stats.processed_files
        else:
            due = last_commit is not None and obj.modified < last_commit - MISSING_GRACE_SECONDS
        (missing if due else pending).append(obj)
    return Backlog(tuple(pending), tuple(missing), known=True)


def reconcile(inputs: Inputs, backlog: Mapping[str, Backlog]) -> m.Reconciliation:
    """Per pipeline and gateway: landed records against distinct rows, and duplicates."""
    listing = inputs.landing
    rows: list[m.ReconciliationRow] = []
    checked = listing is not None and not inputs.tables_not_configured
    for target in TARGETS:
        objs = listing.objects.get(target, ()) if listing else ()
        landed: dict[str, int] = defaultdict(int)
        for o in objs:
            landed[o.key.gateway] += o.records
        pending: dict[str, int] = defaultdict(int)
        for o in backlog[target].pending:
            pending[o.key.gateway] += o.records
        stats = inputs.tables.get(target)
        error = inputs.table_errors.get(target)
        gateways = set(landed) | (set(stats.gateway_rows) if stats else set())
        duplicates = duplicate_rows(stats) if stats else {}
        for gw in sorted(gateways):
            if not checked or error:
                rows.append(_row(target, gw, landed.get(gw, 0)))
                continue
            table_rows = stats.gateway_rows.get(gw, 0) if stats else 0
            dups = duplicates.get(gw, 0)
            rows.append(_row(target, gw, landed.get(gw, 0), table_rows, dups, pending.get(gw, 0)))
        if stats is not None and stats.unattributed_rows and checked and not error:
            rows.append(_no_lineage(target, stats.unattributed_rows))
    return _verdict(inputs, rows, checked)


def _no_lineage(target: str, table_rows: int) -> m.ReconciliationRow:
    """Rows no gateway can claim: counted on their own, so they never hide or break the rest."""
    return m.ReconciliationRow(
        pipeline=target,
        gateway=m.NO_LINEAGE,
        landed_records=0,
        table_rows=table_rows,
        distinct_records=None,
        pending_records=0,
        missing_records=0,
        duplicate_rows=0,
        extra_records=0,
        verdict="no lineage",
    )


def _row(
    target: str,
    gateway: str,
    landed: int,
    table_rows: int | None = None,
    dups: int = 0,
    waiting: int = 0,
) -> m.ReconciliationRow:
    """One pipeline and gateway; ``table_rows`` None means the table could not be checked."""
    if table_rows is None:
        return m.ReconciliationRow(
            pipeline=target,
            gateway=gateway,
            landed_records=landed,
            table_rows=None,
            distinct_records=None,
            pending_records=None,
            missing_records=None,
            duplicate_rows=None,
            extra_records=None,
            verdict="not checked",
        )
    distinct = table_rows - dups
    missing = max(0, landed - waiting - distinct)
    extra = max(0, distinct - landed)
    verdict: m.RowVerdict = "ok"
    if dups:
        verdict = "duplicates"
    elif missing:
        verdict = "missing"
    elif extra:
        verdict = "extra"
    elif waiting:
        verdict = "pending"
    return m.ReconciliationRow(
        pipeline=target,
        gateway=gateway,
        landed_records=landed,
        table_rows=table_rows,
        distinct_records=distinct,
        pending_records=waiting,
        missing_records=missing,
        duplicate_rows=dups,
        extra_records=extra,
        verdict=verdict,
    )


def _verdict(inputs: Inputs, rows: list[m.ReconciliationRow], checked: bool) -> m.Reconciliation:
    at = datetime.fromtimestamp(inputs.read_at, UTC)
    if not checked or any(r.verdict == "not checked" for r in rows):
        why = inputs.tables_not_configured or inputs.landing_error or "some tables unreadable"
        return m.Reconciliation(as_of=at, verdict="not checked", summary=why, rows=rows)
    uncounted = sum(inputs.landing.uncounted.values()) if inputs.landing else 0
    if uncounted:
        return m.Reconciliation(
            as_of=at,
            verdict="not checked",
            summary=f"still reading the record counts of {uncounted:,} object(s); "
            "the check runs once they are all read",
            rows=rows,
        )
    missing = sum(r.missing_records or 0 for r in rows)
    dups = sum(r.duplicate_rows or 0 for r in rows)
    extra = sum(r.extra_records or 0 for r in rows)
    pending = sum(r.pending_records or 0 for r in rows)
    orphans = sum(r.table_rows or 0 for r in rows if r.verdict == "no lineage")
    if missing or dups or extra or orphans:
        parts = []
        if missing:
            parts.append(f"{missing:,} landed record(s) missing from their table")
        if dups:
            parts.append(f"{dups:,} duplicate row(s)")
        if extra:
            parts.append(f"{extra:,} row(s) in a table that did not land")
        if orphans:
            parts.append(
                f"{orphans:,} row(s) without _lineage (a landed line that was not JSON, kept "
                "in _rescued_data): find them with `_lineage IS NULL`"
            )
        return m.Reconciliation(as_of=at, verdict="mismatch", summary="; ".join(parts), rows=rows)
    if pending:
        return m.Reconciliation(
            as_of=at,
            verdict="in flight",
            summary=f"{pending:,} landed record(s) still on their way; nothing lost or doubled",
            rows=rows,
        )
    total = sum(r.landed_records for r in rows)
    return m.Reconciliation(
        as_of=at,
        verdict="exactly once",
        summary=f"every one of {total:,} landed records is in its table exactly once",
        rows=rows,
    )
