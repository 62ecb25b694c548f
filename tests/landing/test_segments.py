"""Segments: where a batch is cut, how big a segment is, and which parts a segment sends
whole and which as pieces of a chunk another segment finishes."""

from __future__ import annotations

from typing import Any

import pytest

from sensorlake.landing.encode import CHUNK_ROWS
from sensorlake.landing.errors import SourceError
from sensorlake.landing.route import Lineage
from sensorlake.landing.rules import Rules
from sensorlake.landing.segments import SegmentEncoder, SegmentJob, plan_segments, segment_size
from sensorlake.landing.simulate import SCHEMA_COLUMNS

COLUMNS = tuple(name for name, _ in SCHEMA_COLUMNS)


class Rows:
    def __init__(self, ids: range, columns: tuple[str, ...] = COLUMNS) -> None:
        self.columns = columns
        ts = "2026-03-01T12:00:00.000+00:00"
        self._rows = [(i, ts, "CHIC_A1B2C3", *([None] * (len(columns) - 3))) for i in ids]

    def rows_between(self, after: int, upto: int) -> list[tuple[Any, ...]]:
        return [r for r in self._rows if after < r[0] <= upto]


def job(rules: Rules, **overrides: Any) -> SegmentJob:
    options: dict[str, Any] = {
        "db_path": "unused",
        "busy_timeout": 1.0,
        "rules": rules,
        "columns": COLUMNS,
        "lineage": Lineage("gw", 1, rules.version),
        "targets": ("raw",),
        "part_rows": {"raw": 100_000},
        "level": 2,
    }
    options.update(overrides)
    return SegmentJob(**options)


@pytest.mark.parametrize(
    ("after", "upto", "size", "expected"),
    [
        (0, 500, 200, [(0, 200), (200, 400), (400, 500)]),
        (500, 1000, 200, [(500, 600), (600, 800), (800, 1000)]),
        (37, 100, 625, [(37, 100)]),
        (10, 10, 100, []),
    ],
)
def test_segments_are_cut_on_multiples_of_their_size(
    after: int, upto: int, size: int, expected: list[tuple[int, int]]
) -> None:
    assert plan_segments(after, upto, size) == expected


def test_default_segment_is_whole_chunks_of_about_2500_records() -> None:
    assert segment_size(0, 1) == 4 * CHUNK_ROWS
    assert segment_size(0, 2) == 2 * CHUNK_ROWS
    assert segment_size(0, 3) == segment_size(0, 4) == CHUNK_ROWS
    assert segment_size(200, 4) == 200


def test_whole_chunks_are_deflated_and_cut_chunks_travel_as_pieces(rules: Rules) -> None:
    encoder = SegmentEncoder(job(rules), Rows(range(1, 2 * CHUNK_ROWS + 1)))
    batch = (0, 2 * CHUNK_ROWS)
    # the first segment holds chunk 0 whole and the start of chunk 1
    ((_, _, parts),) = encoder.encode(0, CHUNK_ROWS + 10, batch).parts
    assert [(p.raw, p.first_row, p.last_row) for p in parts] == [
        (False, 1, CHUNK_ROWS),
        (True, CHUNK_ROWS + 1, CHUNK_ROWS + 10),
    ]
    assert parts[1].row_ids == list(range(CHUNK_ROWS + 1, CHUNK_ROWS + 11))


def test_a_batch_edge_ends_a_chunk(rules: Rules) -> None:
    """A batch that ends inside a chunk ends the chunk there: its files end there too."""
    encoder = SegmentEncoder(job(rules), Rows(range(1, 101)))
    ((_, _, parts),) = encoder.encode(40, 100, (40, 100)).parts
    assert [(p.raw, p.first_row, p.last_row) for p in parts] == [(False, 41, 100)]


def test_changed_columns_stop_the_batch(rules: Rules) -> None:
    with pytest.raises(SourceError, match="columns"):
        SegmentEncoder(job(rules), Rows(range(1, 3), columns=(*COLUMNS, "extra")))
