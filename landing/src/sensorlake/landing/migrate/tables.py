"""The raw table's rows per gateway and day, for ``migrate compare`` when it is reachable.

Locally that is the streams' Delta table under the warehouse directory, read with
``deltalake`` (installed with the workspace, not on a gateway: without it, or without the
table, the tables are "not checked" and the comparison is the landing zone's alone). A row
is the same row as in :mod:`zone`: (id, timestamp, sensor_id), the raw table keeping the
source values as landed.
"""

from __future__ import annotations

from pathlib import Path

from sensorlake.contract.lake import table_dir
from sensorlake.contract.pipelines import DEFAULT_CATALOG, DEFAULT_SCHEMA, table_name

from .zone import Identity

__all__ = ["RawTable", "local_raw_table"]


class RawTable:
    """The raw table's identities, read once, by (gateway, day)."""

    def __init__(self, where: str, rows: dict[tuple[str, str], set[Identity]]) -> None:
        self.where = where
        self._rows = rows

    def day(self, gateway: str, day: str) -> set[Identity]:
        return self._rows.get((gateway, day), set())


def local_raw_table(
    warehouse_dir: Path, catalog: str = DEFAULT_CATALOG, schema: str = DEFAULT_SCHEMA
) -> tuple[RawTable | None, str]:
    """The local raw table, or None and why it is not checked."""
    path = table_dir(warehouse_dir, catalog, schema, table_name("raw"))
    try:
        from deltalake import DeltaTable
    except ImportError:
        return None, "tables not checked: deltalake is not installed (a gateway install)"
    if not DeltaTable.is_deltatable(str(path)):
        return None, f"tables not checked: no raw table at {path}"
    try:
        data = DeltaTable(str(path)).to_pyarrow_table(
            columns=["id", "timestamp", "sensor_id", "date", "gateway"]
        )
    except Exception as exc:  # an unreadable table is a reason, never a traceback
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return None, f"tables not checked: cannot read {path}: {first}"
    rows: dict[tuple[str, str], set[Identity]] = {}
    columns = [data.column(n).to_pylist() for n in ("id", "timestamp", "sensor_id", "date")]
    for gateway, row_id, ts, sensor, day in zip(
        data.column("gateway").to_pylist(), *columns, strict=True
    ):
        identity = (row_id, ts, "" if sensor is None else str(sensor))
        rows.setdefault((str(gateway), str(day)), set()).add(identity)
    return RawTable(str(path), rows), ""
