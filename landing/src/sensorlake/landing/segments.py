"""Segments: the unit of parallel work inside a batch.

A batch (rows after the watermark, up to ``batch_rows`` ids) is cut into segments of
consecutive row ids, on multiples of the segment size. Each segment is read, validated,
routed, JSON-encoded and deflated on its own, in a worker process (:mod:`workers`) or
inline. Results come back in segment order.

Parts are cut on chunks of row ids (:data:`encode.CHUNK_ROWS`), not on segments: a chunk
that a segment holds whole is deflated there; a piece of a chunk that crosses the segment's
edge travels uncompressed and :mod:`rotation` deflates it once the rest has arrived. So the
bytes of a file do not depend on how the batch was cut into segments, nor on which
process encoded them, nor on the pipelines chosen.
"""

from __future__ import annotations

from bisect import bisect_right
from itertools import pairwise
from operator import itemgetter
from typing import Any, Protocol

import msgspec

from .encode import CHUNK_ROWS, Part, chunk_of, encode_lines, encode_part, raw_part
from .errors import SourceError
from .route import Lineage, Router
from .row_checks import Validator
from .rules import Rules

__all__ = [
    "Rows",
    "SegmentEncoder",
    "SegmentJob",
    "SegmentResult",
    "plan_segments",
    "segment_size",
    "split_chunk",
]

# About this many records per segment bounds a worker's memory (2,500 rows of raw alone,
# 625 with all four pipelines).
_RECORDS_PER_SEGMENT = 2_500
_ROW_ID = itemgetter(0)


class SegmentResult(msgspec.Struct, array_like=True):
    """One segment's output; also what a worker sends back (msgpack)."""

    rows: int
    last_row: int | None
    parts: list[tuple[str, str, list[Part]]] = []  # (target, date, parts) in row order
    rejected_reasons: dict[str, int] = {}
    error: str | None = None
    error_kind: str | None = None
    duplicate_ids: int = 0  # rows left out: their id repeats another row's (no primary key)


class SegmentJob(msgspec.Struct, frozen=True):
    """Everything needed to encode segments of one run's batches; sent to workers as msgpack."""

    db_path: str
    busy_timeout: float
    rules: Rules
    columns: tuple[str, ...]
    lineage: Lineage
    targets: tuple[str, ...]
    part_rows: dict[str, int]
    level: int
    # Readings after this UTC time are rejected as in the future (fixed for the whole run).
    future_limit: str | None = None


class Rows(Protocol):
    """What a segment reads from: the sensor database (:class:`source.Source`) or a test's rows."""

    columns: tuple[str, ...]

    def rows_between(self, after: int, upto: int) -> list[tuple[Any, ...]]: ...


def segment_size(configured: int, pipelines: int) -> int:
    """Rows per segment: the configured number, or whole chunks of about 2,500 records."""
    if configured:
        return configured
    return max(CHUNK_ROWS, _RECORDS_PER_SEGMENT // pipelines // CHUNK_ROWS * CHUNK_ROWS)


def plan_segments(after: int, upto: int, size: int) -> list[tuple[int, int]]:
    """Id ranges ``(lo, hi]`` covering ``(after, upto]``, cut on multiples of ``size``."""
    if upto <= after:
        return []
    bounds = [after, *range((after // size + 1) * size, upto, size), upto]
    return list(pairwise(bounds))


class SegmentEncoder:
    """Reads, routes and encodes segments of one batch after another."""

    def __init__(self, job: SegmentJob, rows: Rows) -> None:
        if rows.columns != job.columns:
            raise SourceError(
                f"the columns of {job.db_path} changed while landing",
                hint="rerun: the next run reads the new table layout",
            )
        self.job = job
        self.rows = rows
        validator = Validator(job.rules, future_limit=job.future_limit)
        self.router = Router(validator, job.columns, job.lineage, job.targets)
        self._id_index = job.columns.index("id")

    def encode(self, lo: int, hi: int, batch: tuple[int, int]) -> SegmentResult:
        """Rows ``(lo, hi]`` of the batch ``(after, upto]``."""
        rows = self.rows.rows_between(lo, hi)
        if not rows:
            return SegmentResult(rows=0, last_row=None)
        groups: list[tuple[str, str, list[Part]]] = []
        for (target, date), items in self.router.route(rows).items():
            parts: list[Part] = []
            for chunk in _by_chunk(items):
                parts.extend(self._parts(target, chunk, lo, hi, batch))
            groups.append((target, date, parts))
        return SegmentResult(
            rows=len(rows),
            last_row=rows[-1][self._id_index],
            parts=groups,
            rejected_reasons=self.router.take_rejected_reasons(),
            duplicate_ids=getattr(rows, "duplicates", 0),
        )

    def _parts(
        self,
        target: str,
        items: list[tuple[int, Any]],
        lo: int,
        hi: int,
        batch: tuple[int, int],
    ) -> list[Part]:
        k = chunk_of(items[0][0])
        chunk_lo, chunk_hi = max(k * CHUNK_ROWS, batch[0]), min((k + 1) * CHUNK_ROWS, batch[1])
        if not (lo <= chunk_lo and chunk_hi <= hi):  # the chunk crosses the segment's edge
            records = [r for _, r in items]
            return [raw_part(encode_lines(records), [i for i, _ in items])]
        return split_chunk(items, self.job.part_rows[target], self.job.level)


def split_chunk(items: list[tuple[int, Any]], limit: int, level: int) -> list[Part]:
    """A whole chunk's records as parts of at most ``limit`` records (a file's worth)."""
    parts = []
    for start in range(0, len(items), limit):
        piece = items[start : start + limit]
        ndjson = encode_lines([r for _, r in piece])
        parts.append(encode_part(ndjson, len(piece), piece[0][0], piece[-1][0], level=level))
    return parts


def _by_chunk(items: list[tuple[int, Any]]) -> list[list[tuple[int, Any]]]:
    """``(row_id, record)`` items (in row order) cut where a chunk ends; usually one piece."""
    out: list[list[tuple[int, Any]]] = []
    start, last = 0, items[-1][0]
    while True:
        end_row = (chunk_of(items[start][0]) + 1) * CHUNK_ROWS
        if last <= end_row:
            out.append(items[start:] if start else items)
            return out
        end = bisect_right(items, end_row, lo=start, key=_ROW_ID)
        out.append(items[start:end])
        start = end
