"""Old against new, per gateway and day: the completeness check of the parallel period.

A row is the same row on both sides when its gateway, ``id``, ``timestamp`` and
``sensor_id`` agree (the epoch is not compared: the old side never knew it). The day is
the reading's UTC date, the one landing partitions by. Per gateway and day:

- ``equal``: rows on both sides;
- ``missing_in_new``: old rows the new zone does not hold (the migration is not complete);
- ``missing_in_old``: new rows the old uploader never uploaded (expected: rows after its
  watermark, and rows it skipped at equal timestamps on a batch boundary);
- ``duplicated_in_old``: extra copies in the old bucket (the same batch under two keys).

The new side holds every old row exactly when ``missing_in_new`` is 0 everywhere.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from .backfill import staging_dir
from .history import History
from .oldstore import OldBucket, Progress, load_history
from .tables import RawTable
from .zone import Identity, LandingZone

__all__ = ["CompareReport", "DayComparison", "compare"]

_EXAMPLES = 5


@dataclass
class DayComparison:
    gateway: str
    day: str
    old: int
    new: int
    equal: int
    missing_in_new: int
    missing_in_old: int
    duplicated_in_old: int
    missing_in_new_examples: list[int] = field(default_factory=list)  # row ids
    # Old rows in the raw table, and those not (yet) there; None: tables not checked.
    in_table: int | None = None
    missing_in_table: int | None = None

    @property
    def status(self) -> str:
        if self.missing_in_new:
            return "missing in new"
        return "equal" if not self.missing_in_old else "new has more"


@dataclass
class CompareReport:
    old: str
    new: str
    since: str | None = None
    until: str | None = None
    objects_read: int = 0
    bad_objects: list[dict[str, str]] = field(default_factory=list)
    days: list[DayComparison] = field(default_factory=list)
    totals: dict[str, int] = field(default_factory=dict)
    complete: bool = True
    seconds: float = 0.0
    tables: str = ""  # the raw table compared, or why the tables were not checked

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for entry, day in zip(data["days"], self.days, strict=True):
            entry["status"] = day.status
        return data


def _in_range(day: str, since: str | None, until: str | None) -> bool:
    if day == "unknown":
        return since is None and until is None
    return (since is None or day >= since) and (until is None or day <= until)


def compare(
    old: OldBucket,
    zone: LandingZone,
    *,
    since: str | None = None,
    until: str | None = None,
    fmt: str = "auto",
    gateway_id: str | None = None,
    progress: Progress | None = None,
    table: RawTable | None = None,
    tables_note: str = "",
    tables: Callable[[list[str]], tuple[RawTable | None, str]] | None = None,
) -> CompareReport:
    """``table``: the raw table, when it is reachable; its figures are shown beside the
    zone's but do not decide completeness (a row still on its way to the table is no loss:
    ``status`` tells pending from missing). ``tables``: read it once the old side's
    gateways are known (the Databricks warehouse is asked for those only): the table, or
    None and the one line that says why not."""
    started = time.perf_counter()
    report = CompareReport(f"s3://{old.bucket}/{old.prefix}", zone.where, since, until)
    report.tables = table.where if table is not None else tables_note
    with staging_dir(zone.config) as tmp:
        history = History(tmp / "history.db")
        try:
            read = load_history(old, history, fmt=fmt, gateway_id=gateway_id, progress=progress)
            report.objects_read, report.bad_objects = read.read, read.bad_objects
            gateways = history.gateways()
            if gateway_id and gateway_id not in gateways:
                gateways.append(gateway_id)
            if table is None and tables is not None and gateways:
                table, note = tables(sorted(gateways))
                report.tables = table.where if table is not None else note
            for gateway in sorted(gateways):
                report.days.extend(_gateway(history, zone, gateway, since, until, table))
        finally:
            history.close()
    names = ("old", "new", "equal", "missing_in_new", "missing_in_old", "duplicated_in_old")
    report.totals = {n: sum(getattr(d, n) for d in report.days) for n in names}
    if table is not None:
        for name in ("in_table", "missing_in_table"):
            report.totals[name] = sum(getattr(d, name) or 0 for d in report.days)
    report.complete = report.totals["missing_in_new"] == 0
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def _gateway(
    history: History,
    zone: LandingZone,
    gateway: str,
    since: str | None,
    until: str | None,
    table: RawTable | None,
) -> list[DayComparison]:
    new_by_day: dict[str, set[Identity]] = {}
    for key in zone.keys(gateway):
        if _in_range(key.date, since, until):
            new_by_day.setdefault(key.date, set()).update(zone.identities(key))
    old_days = {d for d in history.per_day(gateway) if _in_range(d, since, until)}
    copies = history.duplicates_per_day(gateway)
    out = []
    for day in sorted(old_days | set(new_by_day)):
        old_rows = history.day_identities(gateway, day) if day in old_days else set()
        new_rows = new_by_day.get(day, set())
        missing = old_rows - new_rows
        out.append(
            DayComparison(
                gateway=gateway,
                day=day,
                old=len(old_rows),
                new=len(new_rows),
                equal=len(old_rows & new_rows),
                missing_in_new=len(missing),
                missing_in_old=len(new_rows - old_rows),
                duplicated_in_old=copies.get(day, 0),
                missing_in_new_examples=sorted(i for i, _, _ in missing)[:_EXAMPLES],
                in_table=None if table is None else len(old_rows & table.day(gateway, day)),
                missing_in_table=None if table is None else len(old_rows - table.day(gateway, day)),
            )
        )
    return out
