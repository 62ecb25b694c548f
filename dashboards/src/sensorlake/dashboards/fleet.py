"""The fleet view: one row per gateway, worst first, from one pass over the landed files.

Pure, no I/O. :func:`build_fleet` runs once per snapshot (in :func:`..snapshot.build`), over
every landed file and each table's backlog; a request only filters and slices the sorted
rows (:meth:`Fleet.page`), so paging and searching cost nothing however big the fleet.

A gateway is

- ``silent`` when its newest landed file, in any pipeline, is older than
  ``SENSORLAKE_SILENT_SECONDS`` (strictly: a file exactly that old is not yet silent);
- ``behind`` when its files wait in a table's backlog: a file the table should have and has
  not (missing), or one not ingested for ``SENSORLAKE_LAG_SECONDS`` or longer (a file that
  landed a moment ago and waits for the stream's next batch is not behind). Only tables that
  could be read count: an unreadable table says nothing about a gateway;
- ``landing`` otherwise.

Worst first: silent (longest silent first), then behind (oldest waiting file first), then
landing (the one whose newest file is oldest first); the gateway id breaks ties.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from sensorlake.contract.pipelines import TARGETS

from .readers.base import LandedObject
from .reconcile import Backlog

__all__ = [
    "DAY",
    "FLEET_STATES",
    "HOUR",
    "MAX_PER_PAGE",
    "READINGS_TARGET",
    "Fleet",
    "GatewayRow",
    "GatewayState",
    "PipelineLast",
    "build_fleet",
]

HOUR, DAY = 3600.0, 86400.0
GatewayState = Literal["silent", "behind", "landing"]
FLEET_STATES: tuple[GatewayState, ...] = ("silent", "behind", "landing")
_RANK = {state: i for i, state in enumerate(FLEET_STATES)}
MAX_PER_PAGE = 200
# The pipeline whose records count a gateway's readings: every reading lands in raw once
# (schematized, filtered, emergency and rejected hold copies or subsets of them).
READINGS_TARGET = "raw"


@dataclass(frozen=True, slots=True)
class PipelineLast:
    """One pipeline of one gateway: its newest file, and what landed in the last hour/day."""

    pipeline: str
    last_modified: float
    last_key: str
    files_last_hour: int
    records_last_hour: int
    files_last_day: int
    records_last_day: int


@dataclass(frozen=True, slots=True)
class GatewayRow:
    gateway: str
    state: GatewayState
    reason: str
    last_landed: float  # the newest file, any pipeline
    pipelines: tuple[PipelineLast, ...]  # in TARGETS order, only pipelines it landed in
    files_last_hour: int  # every pipeline
    files_last_day: int
    records_last_hour: int  # readings (raw)
    records_last_day: int
    backlog_files: int | None  # None: no table could be read
    backlog_records: int | None
    oldest_backlog: float | None


@dataclass(frozen=True)
class Fleet:
    at: float
    silent_seconds: float
    behind_seconds: float
    rows: tuple[GatewayRow, ...]  # worst first
    counts: Mapping[str, int] = field(default_factory=dict)  # state -> gateways
    _ids: tuple[str, ...] = field(default=(), repr=False)  # lower-cased ids, as ``rows``

    @property
    def gateways(self) -> int:
        return len(self.rows)

    def select(self, q: str = "", state: str | None = None) -> list[GatewayRow]:
        """The rows whose id contains ``q`` (case-insensitive), in ``state`` if given."""
        needle = q.strip().lower()
        return [
            row
            for row, low in zip(self.rows, self._ids, strict=True)
            if (not needle or needle in low) and (state is None or row.state == state)
        ]

    def page(
        self, page: int = 1, per_page: int = 50, q: str = "", state: str | None = None
    ) -> tuple[int, list[GatewayRow]]:
        """How many rows match, and the ``page``-th (from 1) ``per_page`` of them."""
        per_page = max(1, min(per_page, MAX_PER_PAGE))
        chosen = self.select(q, state)
        start = (max(1, page) - 1) * per_page
        return len(chosen), chosen[start : start + per_page]


class _Per:
    """One pipeline of one gateway, while the pass runs."""

    __slots__ = ("files_day", "files_hour", "last", "records_day", "records_hour")

    def __init__(self, first: LandedObject) -> None:
        self.last = first
        self.files_hour = self.records_hour = self.files_day = self.records_day = 0


class _Acc:
    """What one gateway's files add up to, while the pass runs."""

    __slots__ = ("backlog_files", "backlog_records", "due", "last", "oldest", "per")

    def __init__(self) -> None:
        self.last = 0.0
        self.per: dict[str, _Per] = {}
        self.backlog_files: int | None = None  # None: no table could be read
        self.backlog_records = 0
        self.oldest: float | None = None
        self.due = 0


def build_fleet(
    objects: Mapping[str, tuple[LandedObject, ...]],
    backlog: Mapping[str, Backlog],
    now: float,
    *,
    silent_seconds: float,
    behind_seconds: float,
) -> Fleet:
    """Every gateway's row. ``backlog``: only the targets whose table could be read (a
    target absent here says nothing about any gateway's backlog)."""
    accs: dict[str, _Acc] = {}
    hour, day = now - HOUR, now - DAY
    for target in TARGETS:
        for o in objects.get(target, ()):
            acc = accs.get(o.key.gateway)
            if acc is None:
                acc = accs[o.key.gateway] = _Acc()
            if o.modified > acc.last:
                acc.last = o.modified
            per = acc.per.get(target)
            if per is None:
                per = acc.per[target] = _Per(o)
            elif (o.modified, o.key) > (per.last.modified, per.last.key):
                per.last = o
            if o.modified >= day:
                per.files_day += 1
                per.records_day += o.records
                if o.modified >= hour:
                    per.files_hour += 1
                    per.records_hour += o.records
    if backlog:
        for acc in accs.values():
            acc.backlog_files = 0
    for waiting in backlog.values():
        missing = {o.key for o in waiting.missing}
        for o in waiting.files:
            acc = accs.get(o.key.gateway)
            if acc is None:
                continue
            acc.backlog_files = (acc.backlog_files or 0) + 1
            acc.backlog_records += o.records
            acc.oldest = o.modified if acc.oldest is None else min(acc.oldest, o.modified)
            if o.key in missing:
                acc.due += 1
    rows = [_row(gw, acc, now, silent_seconds, behind_seconds) for gw, acc in accs.items()]
    rows.sort(key=_order(now))
    counts = dict.fromkeys(FLEET_STATES, 0)
    for row in rows:
        counts[row.state] += 1
    return Fleet(
        at=now,
        silent_seconds=silent_seconds,
        behind_seconds=behind_seconds,
        rows=tuple(rows),
        counts=counts,
        _ids=tuple(r.gateway.lower() for r in rows),
    )


def _row(gw: str, acc: _Acc, now: float, silent: float, behind: float) -> GatewayRow:
    pipelines = tuple(
        PipelineLast(
            pipeline=t,
            last_modified=p.last.modified,
            last_key=p.last.name,
            files_last_hour=p.files_hour,
            records_last_hour=p.records_hour,
            files_last_day=p.files_day,
            records_last_day=p.records_day,
        )
        for t in TARGETS
        if (p := acc.per.get(t)) is not None
    )
    readings = next((p for p in pipelines if p.pipeline == READINGS_TARGET), None)
    age = max(0.0, now - acc.last)
    state: GatewayState
    if age > silent:
        state, reason = "silent", f"no file landed for {_age(age)}"
    elif acc.due:
        state = "behind"
        reason = f"{acc.due:,} landed file(s) due and not in their table"
    elif acc.oldest is not None and now - acc.oldest >= behind:
        state = "behind"
        reason = (
            f"{acc.backlog_files or 0:,} file(s) not ingested, oldest landed "
            f"{_age(now - acc.oldest)} ago"
        )
    else:
        state = "landing"
        reason = f"newest file {_age(age)} old"
    return GatewayRow(
        gateway=gw,
        state=state,
        reason=reason,
        last_landed=acc.last,
        pipelines=pipelines,
        files_last_hour=sum(p.files_last_hour for p in pipelines),
        files_last_day=sum(p.files_last_day for p in pipelines),
        records_last_hour=readings.records_last_hour if readings else 0,
        records_last_day=readings.records_last_day if readings else 0,
        backlog_files=acc.backlog_files,
        backlog_records=None if acc.backlog_files is None else acc.backlog_records,
        oldest_backlog=acc.oldest,
    )


def _order(now: float) -> Callable[[GatewayRow], tuple[int, float, str]]:
    def key(row: GatewayRow) -> tuple[int, float, str]:
        if row.state == "behind":
            age = now - (row.oldest_backlog if row.oldest_backlog is not None else now)
        else:
            age = now - row.last_landed
        return (_RANK[row.state], -age, row.gateway)

    return key


def _age(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 36 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"
