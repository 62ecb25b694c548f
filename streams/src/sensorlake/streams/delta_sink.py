"""The local sink: append a micro-batch to a Delta table exactly once (``deltalake``).

Each commit carries an application transaction ``(app_id, batch_id)``; the app id is the
streaming query's id, which its checkpoint keeps across restarts. A batch Spark replays
after a crash (its data committed, its checkpoint commit not yet written) finds its own
transaction already in the table and commits nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake
from deltalake.exceptions import TableNotFoundError

__all__ = ["committed_version", "table_rows", "write_batch"]


def _table(path: Path) -> DeltaTable | None:
    if not Path(path).is_dir():
        return None
    try:
        return DeltaTable(str(path))
    except TableNotFoundError:
        return None


def committed_version(path: Path, app_id: str) -> int | None:
    """The last batch id this query committed to the table (None: none yet)."""
    table = _table(path)
    return None if table is None else table.transaction_version(app_id)


def write_batch(
    path: Path, data: Any, *, app_id: str, batch_id: int, partition_by: tuple[str, ...]
) -> bool:
    """Append ``data`` (Arrow) unless this batch is already in the table; True if written.

    ``schema_mode="merge"`` lets raw grow columns; the other tables never change shape
    because their reader schema is the contract's.
    """
    done = committed_version(path, app_id)
    if done is not None and done >= batch_id:
        return False
    write_deltalake(
        str(path),
        data,
        mode="append",
        partition_by=list(partition_by),
        schema_mode="merge",
        commit_properties=CommitProperties(app_transactions=[Transaction(app_id, batch_id)]),
    )
    return True


def table_rows(path: Path) -> int:
    """Rows in a table, from its log's per-file statistics (no data read); 0 when absent."""
    table = _table(path)
    if table is None:
        return 0
    actions = table.get_add_actions(flatten=True)
    column = actions.column("num_records")
    return int(sum(v for v in column.to_pylist() if v is not None))
