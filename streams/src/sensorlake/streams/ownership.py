"""Whether a checkpoint belongs to its table and its source, checked before a query starts.

A local checkpoint says which query it is (``metadata``: the query id), which batches it
has finished (``commits/<n>``) and which files it has read (the file source's log,
``sources/0/<n>``, with absolute paths). A table says which batches of which query it holds
(the application transactions in its Delta log, see :mod:`delta_sink`). When they disagree,
Spark would either write nothing (the checkpoint thinks everything is done) or read every
file again (the files' paths are new): so the run stops and says which to point where.

In step, the table holds the checkpoint's last finished batch, or one more (its Delta
commit happened, Spark's own commit did not: the batch is replayed and skipped).
"""

from __future__ import annotations

import json
from pathlib import Path

from sensorlake.contract.lake import lake_path

from .config import LocalRunConfig
from .delta_sink import committed_version, table_rows
from .errors import StateProblem
from .lake_files import local_file

__all__ = ["check", "last_commit", "mismatch", "query_id", "recorded_source_file"]


def query_id(checkpoint: Path) -> str | None:
    """The query id in a checkpoint's ``metadata`` (None: no usable metadata)."""
    try:
        return str(json.loads((Path(checkpoint) / "metadata").read_text())["id"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _numbered(folder: Path) -> list[tuple[int, Path]]:
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        stem = path.name.removesuffix(".compact")
        if stem.isdigit():
            found.append((int(stem), path))
    return sorted(found)


def last_commit(checkpoint: Path) -> int | None:
    """The last batch the checkpoint has finished (None: none)."""
    commits = _numbered(Path(checkpoint) / "commits")
    return commits[-1][0] if commits else None


def recorded_source_file(checkpoint: Path) -> str | None:
    """One file the query has read, from the newest file-source log (None: none yet)."""
    for _batch, path in reversed(_numbered(Path(checkpoint) / "sources" / "0")):
        try:
            with path.open() as handle:
                next(handle, None)  # the format version
                for line in handle:
                    if line.strip():
                        return str(json.loads(line)["path"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return None


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve()) or path.is_relative_to(folder)


def mismatch(checkpoint: Path, table: Path, source: Path) -> str | None:
    """Why ``checkpoint`` does not belong to ``table`` and ``source`` (None: it does).

    The line says what to do; nothing is written or deleted here.
    """
    query = query_id(checkpoint)
    done = last_commit(checkpoint) if query else None
    held = committed_version(table, query) if query else None
    if done is None and held is None:
        rows = table_rows(table)
        if rows:  # a new checkpoint would read every landed file again into this table
            return (
                f"table {table} already holds {rows:,} rows but checkpoint {checkpoint} is new: "
                "point --checkpoint-dir at the table's checkpoint, or delete the table to "
                "ingest everything again"
            )
        return None
    last = -1 if done is None else done
    if held is None or not last <= held <= last + 1:
        holds = "no batch" if held is None else f"batches up to {held}"
        return (
            f"checkpoint {checkpoint} has finished batches up to {last} of query {query}, but "
            f"table {table} holds {holds} of it: point --warehouse-dir at the table it belongs "
            f"to, or delete {checkpoint} and the table to ingest everything again"
        )
    seen = recorded_source_file(checkpoint)
    if seen is not None and not _inside(local_file(seen), source):
        return (
            f"checkpoint {checkpoint} has read files outside {source} (e.g. {local_file(seen)}): "
            "run with the --lake-dir it was made for, or delete the checkpoint and the table "
            "to ingest this lake from the start"
        )
    return None


def check(config: LocalRunConfig) -> None:
    """Raise :class:`StateProblem` (one line, exit 5) when any table's checkpoint does not
    belong to it; run before a query starts (and before Spark, by the CLI)."""
    problems = []
    for target in config.targets:
        spec = config.spec(target)
        source = lake_path(config.lake_dir, spec.source_prefix)
        table = config.table_path(spec)
        try:
            line = mismatch(config.checkpoint_path(spec), table, source)
        except Exception as exc:  # a damaged Delta log: deltalake's errors have no common base
            why = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            line = (
                f"table {table} cannot be read ({why}): restore its _delta_log, or delete the "
                "table and its checkpoint to ingest everything again"
            )
        if line:
            problems.append(line)
    if problems:
        more = f" (and {len(problems) - 1} more table(s) alike)" if len(problems) > 1 else ""
        raise StateProblem(problems[0] + more)
