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

import msgspec

from sensorlake.contract.keys import UNKNOWN_DATE
from sensorlake.contract.records import INVALID_UTF8_FIELD

from .row_checks import Validator, utc_timestamp
from .source import base64_text

__all__ = ["Lineage", "LineageRecord", "Routed", "Router"]

_NON_FINITE = {math.inf: "Infinity", -math.inf: "-Infinity"}
_INF, _NINF = math.inf, -math.inf
# What the sensor writes: UTC with milliseconds. Its date is its first ten characters.
_SENSOR_TS = re.compile(r"\d{4}-\d{2}-\d{2}T([01]\d|2[0-3]):[0-5]\d:[0-5]\d\.\d{3}\+00:00")

# (target, date) -> [(row_id, record), ...] in row order; records are dicts or structs
Routed = dict[tuple[str, str], list[tuple[int, Any]]]


@dataclass(frozen=True)
class Lineage:
    """Where a record comes from: enough to find its source row again."""

    gateway_id: str
    epoch: int
    rules_version: str
    source_table: str = "sensor_readings"


class LineageRecord(msgspec.Struct, frozen=True):
    """The ``_lineage`` object of every landed record."""

    gateway_id: str
    epoch: int
    row_id: int
    rules_version: str
    source_table: str


def _raw_record_type(columns: Sequence[str]) -> type[msgspec.Struct] | None:
    """A struct whose JSON is exactly ``{<columns as read>..., "_lineage": {...}}``: the same
    bytes as a dict, built and encoded faster. None if a column is itself called _lineage."""
    if "_lineage" in columns:
        return None
    fields = [(f"c{i}", Any) for i in range(len(columns))] + [("lineage", LineageRecord)]
    rename = {f"c{i}": name for i, name in enumerate(columns)} | {"lineage": "_lineage"}
    return msgspec.defstruct("RawRecord", fields, rename=rename, frozen=True)


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
        self._raw_type = _raw_record_type(self.columns)
        self.rejected_reasons: dict[str, int] = {}

    def take_rejected_reasons(self) -> dict[str, int]:
        """Counts since the last call (each segment reports its own)."""
        counts, self.rejected_reasons = self.rejected_reasons, {}
        return counts

    def _lineage(self, row_id: int) -> LineageRecord:
        lin = self.lineage
        return LineageRecord(lin.gateway_id, lin.epoch, row_id, lin.rules_version, lin.source_table)

    def _raw(self, values: tuple[Any, ...], lineage: LineageRecord) -> Any:
        """The row exactly as read, plus lineage (a struct: same JSON as the dict, faster)."""
        if self._raw_type is not None and _INF not in values and _NINF not in values:
            return self._raw_type(*values, lineage)
        return self._raw_dict(values, lineage)

    def _raw_dict(self, values: tuple[Any, ...], lineage: LineageRecord) -> dict[str, Any]:
        """JSON has no infinity: those become "Infinity"/"-Infinity", not a null that lies."""
        row = {
            k: _NON_FINITE.get(v, v) if v.__class__ is float else v
            for k, v in zip(self.columns, values, strict=True)
        }
        row["_lineage"] = lineage
        return row

    def _raw_with_bytes(
        self, values: tuple[Any, ...], lineage: LineageRecord, bad: dict[str, bytes]
    ) -> dict[str, Any]:
        """A raw record whose TEXT values in ``bad`` were not UTF-8: their bytes beside it."""
        row = self._raw_dict(values, lineage)
        row[INVALID_UTF8_FIELD] = {column: base64_text(data) for column, data in bad.items()}
        return row

    def route(self, rows: Sequence[tuple[Any, ...]]) -> Routed:
        """Records per (target, date). ``rows`` may say which of their TEXT values were not
        UTF-8 (``not_utf8``, see :class:`source.ReadRows`): raw and rejected keep those
        values' bytes in :data:`INVALID_UTF8_FIELD`, and the row is rejected with
        ``<column>.invalid_utf8``."""
        not_utf8: dict[int, dict[str, bytes]] = getattr(rows, "not_utf8", None) or {}
        if not self._validating:
            return self._route_raw(rows, not_utf8)
        out: Routed = {}
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

        for position, values in enumerate(rows):
            row_id = values[id_index]
            lineage = self._lineage(row_id)
            checked = check(values)
            reasons = checked.reasons
            bad = not_utf8.get(position) if not_utf8 else None
            if bad:
                reasons = (*reasons, *(f"{column}.invalid_utf8" for column in bad))
            date = checked.timestamp[:10] if checked.timestamp else UNKNOWN_DATE
            if want_raw:
                if bad:
                    put("raw", date, row_id, self._raw_with_bytes(values, lineage, bad))
                else:
                    put("raw", date, row_id, self._raw(values, lineage))
            if reasons:
                for reason in reasons:
                    reasons_count[reason] = reasons_count.get(reason, 0) + 1
                if want_rejected:
                    rejected = (
                        self._raw_with_bytes(values, lineage, bad)
                        if bad
                        else self._raw_dict(values, lineage)
                    )
                    rejected["_rejected_reasons"] = list(reasons)
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
                    "valid": not reasons,
                    "validation_errors": list(reasons),
                }
                put("emergency", date, row_id, alarm)
        return out

    def _route_raw(
        self, rows: Sequence[tuple[Any, ...]], not_utf8: dict[int, dict[str, bytes]]
    ) -> Routed:
        """Raw only: no validation, just the UTC date for the partition (the hot path)."""
        out: Routed = {}
        columns, id_index = self.columns, self._id_index
        ts_index = columns.index("timestamp")
        gateway, epoch = self.lineage.gateway_id, self.lineage.epoch
        version, table = self.lineage.rules_version, self.lineage.source_table
        dates: dict[str, str] = {}  # the sensor's own format: cache the date per day prefix
        raw = self._raw
        for position, values in enumerate(rows):
            row_id = values[id_index]
            ts = values[ts_index]
            date = dates.get(ts[:10]) if ts.__class__ is str and _SENSOR_TS.fullmatch(ts) else None
            if date is None:
                full = utc_timestamp(ts)
                date = full[:10] if full else UNKNOWN_DATE
                if full and ts.__class__ is str and _SENSOR_TS.fullmatch(ts):
                    dates[ts[:10]] = date
            lineage = LineageRecord(gateway, epoch, row_id, version, table)
            bad = not_utf8.get(position) if not_utf8 else None
            record = self._raw_with_bytes(values, lineage, bad) if bad else raw(values, lineage)
            bucket = out.get(("raw", date))
            if bucket is None:
                bucket = out[("raw", date)] = []
            bucket.append((row_id, record))
        return out
