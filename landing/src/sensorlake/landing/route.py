"""Route source rows into the pipelines' records: pure, no I/O.

raw          every row exactly as read, plus lineage; never dropped
schematized  valid rows in the nested contract
rejected     rows that fail validation, as read, with their reasons (schematized bucket)
filtered     schematized rows that pass the operational filters, location coarsened
emergency    rows that trip an emergency rule, valid or not, with the rule and any
             validation problems (an alarm must not be lost to a bad field)
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .keys import UNKNOWN_DATE
from .validate import Validator, utc_timestamp

__all__ = ["Lineage", "Routed", "Router"]

_NON_FINITE = {math.inf: "Infinity", -math.inf: "-Infinity"}
_INF, _NINF = math.inf, -math.inf
# What the sensor writes: UTC with milliseconds. Its date is its first ten characters.
_SENSOR_TS = re.compile(r"\d{4}-\d{2}-\d{2}T([01]\d|2[0-3]):[0-5]\d:[0-5]\d\.\d{3}\+00:00")

# (target, date) -> [(row_id, record), ...] in row order
Routed = dict[tuple[str, str], list[tuple[int, dict[str, Any]]]]


@dataclass(frozen=True)
class Lineage:
    """Where a record comes from: enough to find its source row again."""

    gateway_id: str
    epoch: int
    rules_version: str
    source_table: str = "sensor_readings"


class Router:
    """Turns rows of one table (fixed columns) into per-target, per-date records."""

    def __init__(
        self,
        validator: Validator,
        columns: Sequence[str],
        lineage: Lineage,
        targets: Iterable[str],
    ) -> None:
        self.validator = validator
        self.columns = tuple(columns)
        self.lineage = lineage
        self.targets = frozenset(targets)
        self._id_index = self.columns.index("id")
        self.checker = validator.for_columns(self.columns)
        self._validating = bool(self.targets & {"schematized", "filtered", "emergency", "rejected"})
        self.rejected_reasons: dict[str, int] = {}

    def take_rejected_reasons(self) -> dict[str, int]:
        """Counts since the last call (each segment reports its own)."""
        counts, self.rejected_reasons = self.rejected_reasons, {}
        return counts

    def _lineage(self, row_id: int) -> dict[str, Any]:
        lin = self.lineage
        return {
            "gateway_id": lin.gateway_id,
            "epoch": lin.epoch,
            "row_id": row_id,
            "rules_version": lin.rules_version,
            "source_table": lin.source_table,
        }

    def route(self, rows: Sequence[tuple[Any, ...]]) -> Routed:
        if not self._validating:
            return self._route_raw(rows)
        out: Routed = {}
        columns = self.columns
        id_index = self._id_index
        targets = self.targets
        want_raw = "raw" in targets
        want_schema = "schematized" in targets
        want_rejected = "rejected" in targets
        want_filtered = "filtered" in targets
        want_emergency = "emergency" in targets
        check = self.checker.check
        reasons_count = self.rejected_reasons

        def put(target: str, date: str, row_id: int, record: dict[str, Any]) -> None:
            bucket = out.get((target, date))
            if bucket is None:
                bucket = out[(target, date)] = []
            bucket.append((row_id, record))

        for values in rows:
            row_id = values[id_index]
            row = dict(zip(columns, values, strict=True))
            lineage = self._lineage(row_id)
            checked = check(values)
            date = checked.timestamp[:10] if checked.timestamp else UNKNOWN_DATE
            if want_raw:
                put("raw", date, row_id, _as_read(row, values, lineage))
            if checked.reasons:
                for reason in checked.reasons:
                    reasons_count[reason] = reasons_count.get(reason, 0) + 1
                if want_rejected:
                    rejected = _as_read(dict(row), values, lineage)
                    rejected["_rejected_reasons"] = list(checked.reasons)
                    put("rejected", date, row_id, rejected)
            else:
                record = checked.record
                record["_lineage"] = lineage
                if want_schema:
                    put("schematized", date, row_id, record)
                if want_filtered and not checked.filtered_out:
                    put(
                        "filtered",
                        date,
                        row_id,
                        {**record, "location_info": checked.coarse_location},
                    )
            if want_emergency and checked.emergency:
                alarm = dict(checked.record)
                alarm["_lineage"] = lineage
                alarm["emergency"] = {
                    "reasons": list(checked.emergency),
                    "valid": checked.valid,
                    "validation_errors": list(checked.reasons),
                }
                put("emergency", date, row_id, alarm)
        return out

    def _route_raw(self, rows: Sequence[tuple[Any, ...]]) -> Routed:
        """Raw only: no validation, just the UTC date for the partition (the hot path)."""
        out: Routed = {}
        columns, id_index = self.columns, self._id_index
        ts_index = columns.index("timestamp")
        gateway, epoch = self.lineage.gateway_id, self.lineage.epoch
        version, table = self.lineage.rules_version, self.lineage.source_table
        dates: dict[str, str] = {}  # the sensor's own format: cache the date per day prefix
        for values in rows:
            row_id = values[id_index]
            ts = values[ts_index]
            date = dates.get(ts[:10]) if ts.__class__ is str and _SENSOR_TS.fullmatch(ts) else None
            if date is None:
                full = utc_timestamp(ts)
                date = full[:10] if full else UNKNOWN_DATE
                if full and ts.__class__ is str and _SENSOR_TS.fullmatch(ts):
                    dates[ts[:10]] = date
            record = dict(zip(columns, values, strict=True))
            if _INF in values or _NINF in values:
                record = _as_read(record, values, {})
            record["_lineage"] = {
                "gateway_id": gateway,
                "epoch": epoch,
                "row_id": row_id,
                "rules_version": version,
                "source_table": table,
            }
            bucket = out.get(("raw", date))
            if bucket is None:
                bucket = out[("raw", date)] = []
            bucket.append((row_id, record))
        return out


def _as_read(
    row: dict[str, Any], values: tuple[Any, ...], lineage: dict[str, Any]
) -> dict[str, Any]:
    """The row as read plus lineage. JSON has no infinity: those become strings, not null."""
    if math.inf in values or -math.inf in values:
        row = {k: _NON_FINITE.get(v, v) if v.__class__ is float else v for k, v in row.items()}
    else:
        row = dict(row) if "_lineage" in row else row
    row["_lineage"] = lineage
    return row
