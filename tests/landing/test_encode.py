"""Encoding: parts, chunks of row ids, gzip assembly and the content checksum."""

from __future__ import annotations

import gzip
import hashlib
import io

import pytest

from sensorlake.landing.encode import (
    CHUNK_ROWS,
    GzipAssembler,
    chunk_of,
    encode_lines,
    encode_part,
    encode_records,
    join_pieces,
    raw_part,
)

RECORDS = [{"id": i, "value": f"reading {i}" * (i % 5)} for i in range(1, 41)]


def assemble(parts: list) -> tuple[bytes, str, str]:  # type: ignore[type-arg]
    out = io.BytesIO()
    writer = GzipAssembler(out)
    for part in parts:
        writer.append(part)
    sha, content = writer.finish()
    return out.getvalue(), sha, content


def test_chunks_are_fixed_ranges_of_row_ids() -> None:
    assert chunk_of(1) == chunk_of(CHUNK_ROWS) == 0
    assert chunk_of(CHUNK_ROWS + 1) == 1
    assert chunk_of(3 * CHUNK_ROWS) == 2


def test_parts_make_one_gzip_member_with_the_records() -> None:
    halves = [RECORDS[:25], RECORDS[25:]]
    parts = [encode_part(encode_lines(h), len(h), 0, 0, level=2) for h in halves]
    data, sha, _ = assemble(parts)
    assert gzip.decompress(data) == encode_lines(RECORDS)
    assert sha == hashlib.sha256(data).hexdigest()
    assert data[4:8] == b"\0\0\0\0"  # no timestamp


def test_content_checksum_names_the_records_not_the_compression() -> None:
    ndjson = encode_lines(RECORDS)
    fast = assemble([encode_part(ndjson, 40, 1, 40, level=1)])
    small = assemble([encode_part(ndjson, 40, 1, 40, level=3)])
    other = assemble([encode_part(encode_lines(RECORDS[:-1]), 39, 1, 39, level=1)])
    assert fast[0] != small[0] and fast[1] != small[1]  # other bytes
    assert fast[2] == small[2]  # same content
    assert other[2] != fast[2]
    assert fast[2] == hashlib.sha256(hashlib.sha256(ndjson).digest()).hexdigest()


def test_joined_pieces_equal_the_whole_chunk_cut_the_same_way() -> None:
    items = list(enumerate(RECORDS, start=1))
    whole = []
    for start in range(0, len(items), 15):
        cut = items[start : start + 15]
        ndjson = encode_lines([r for _, r in cut])
        whole.append(encode_part(ndjson, len(cut), cut[0][0], cut[-1][0], level=2))
    pieces = [
        raw_part(encode_lines([r for _, r in items[a:b]]), [i for i, _ in items[a:b]])
        for a, b in ((0, 7), (7, 8), (8, 40))
    ]
    assert join_pieces(pieces, 15, level=2) == whole


def test_a_raw_piece_is_never_written_as_it_is() -> None:
    writer = GzipAssembler(io.BytesIO())
    with pytest.raises(ValueError, match="deflated"):
        writer.append(raw_part(b"{}\n", [1]))


def test_empty_file_is_valid_gzip() -> None:
    assert gzip.decompress(encode_records([], level=2)) == b""
