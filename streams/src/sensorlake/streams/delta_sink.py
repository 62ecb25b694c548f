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

__all__ = ["committed_version", "sound_arrow", "table_rows", "write_batch"]


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


def _offset_width(kind: Any) -> int | None:
    import pyarrow as pa

    if pa.types.is_string(kind) or pa.types.is_binary(kind):
        return 4
    if pa.types.is_large_string(kind) or pa.types.is_large_binary(kind):
        return 8
    if pa.types.is_map(kind) or pa.types.is_list(kind):
        return 4
    if pa.types.is_large_list(kind):
        return 8
    return None


def _short_offsets(array: Any) -> bool:
    """Whether a variable-size array in ``array`` (at any depth) has fewer than
    ``length + 1`` offsets.

    Java's Arrow (Spark's ``toArrow``) writes an empty offsets buffer for an empty vector:
    the child of a list column whose every value is ``[]`` or null. Arrow C++ (pyarrow)
    accepts that, but arrow-rs, which ``deltalake`` imports the data with through the C data
    interface, reads the one offset it needs from the zero-size buffer and panics on the
    garbage it finds (apache/arrow#40038, apache/arrow-rs#5391).
    """
    import pyarrow as pa

    kind = array.type
    width = _offset_width(kind)
    if width is not None:
        offsets = array.buffers()[1]
        if offsets is None or offsets.size < (array.offset + len(array) + 1) * width:
            return True
    if pa.types.is_struct(kind):
        return any(_short_offsets(array.field(i)) for i in range(kind.num_fields))
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_map(kind):
        return _short_offsets(array.values)
    return False


def sound_arrow(data: Any) -> Any:
    """``data`` (an Arrow table) with every column that has short offsets rebuilt by Arrow
    C++ (``take`` of all its rows writes complete buffers); other columns are untouched."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for index, column in enumerate(data.columns):
        if any(_short_offsets(chunk) for chunk in column.chunks):
            rows = pa.array(range(len(column)), type=pa.int64())
            rebuilt = pc.take(column.combine_chunks(), rows)
            data = data.set_column(index, data.schema.field(index), rebuilt)
    return data


def write_batch(
    path: Path,
    data: Any,
    *,
    app_id: str,
    batch_id: int,
    partition_by: tuple[str, ...],
    merge_schema: bool,
) -> bool:
    """Append ``data`` (Arrow) unless this batch is already in the table; True if written.

    ``merge_schema`` (the spec's one rule, ``StreamSpec.merges_schema``: raw only) lets the
    table take new columns (``schema_mode="merge"``); without it a batch of another shape
    is refused by deltalake, as ``toTable`` without ``mergeSchema`` refuses it on Databricks.
    """
    done = committed_version(path, app_id)
    if done is not None and done >= batch_id:
        return False
    write_deltalake(
        str(path),
        sound_arrow(data),
        mode="append",
        partition_by=list(partition_by),
        schema_mode="merge" if merge_schema else None,
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
