"""Records to gzip NDJSON, byte for byte reproducible, compressed in parallel.

Each *part* (consecutive records of one file) is JSON-encoded and deflated on its own, by
whichever process encoded the segment, into a raw deflate chunk ending on a byte boundary
(a sync flush). A file is then assembled the way pigz does it: a gzip header with no
timestamp and no name, the parts' chunks in order, a final empty block, and a trailer with
the CRC-32 combined from the parts' CRCs. The result is one ordinary gzip member that any
reader opens.

Where parts are cut decides the bytes, so parts are cut where the rows alone say: at every
multiple of :data:`CHUNK_ROWS` in row id (and where a file is full). Pipeline selection,
worker count, segment and batch size never move a cut, so the same rows always give the
same bytes. Each part also carries the SHA-256 of its NDJSON; a file's *content checksum*
is the SHA-256 of its parts' digests in order: it names the records, not their compression.

Compression is ISA-L's deflate (``isal``): standard deflate at several times zlib's speed.
"""

from __future__ import annotations

import hashlib
import io
import struct
from collections.abc import Sequence
from typing import Any, BinaryIO

import msgspec
from isal import isal_zlib

__all__ = [
    "CHUNK_ROWS",
    "GZIP_HEADER",
    "AssemblerProgress",
    "GzipAssembler",
    "Part",
    "chunk_of",
    "encode_lines",
    "encode_part",
    "encode_records",
    "join_pieces",
    "raw_part",
]

# Row ids per chunk: parts never span a multiple of this. 625 is what a worker encodes at
# once with all four pipelines; below a few hundred rows deflate loses ratio fast.
CHUNK_ROWS = 625
# ID1 ID2 CM=deflate FLG=0 MTIME=0 XFL=0 OS=255 (unknown): nothing that varies.
GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
# An empty final deflate block (fixed Huffman): what every ISA-L level >= 1 ends a stream with.
_FINAL_BLOCK = b"\x03\x00"
_ENCODER = msgspec.json.Encoder()


class Part(msgspec.Struct, frozen=True, array_like=True):
    """Consecutive records of one (target, date), at most a file's worth: a deflate chunk
    with its CRC-32, uncompressed size and SHA-256, or, while ``raw``, the NDJSON itself
    (a piece of a chunk that another segment finishes)."""

    data: bytes
    crc: int
    raw_size: int
    records: int
    first_row: int
    last_row: int
    digest: bytes = b""
    raw: bool = False
    row_ids: list[int] = []  # only while raw: where a file-sized cut may fall


class AssemblerProgress(msgspec.Struct, frozen=True):
    """An unfinished file's running totals: its bytes so far, their CRC-32 and size
    uncompressed, its records and its parts' digests (for the content checksum)."""

    size: int
    crc: int
    raw_size: int
    records: int
    digests: bytes


def chunk_of(row_id: int) -> int:
    """The chunk a row id belongs to: rows ``(k * CHUNK_ROWS, (k + 1) * CHUNK_ROWS]``."""
    return (row_id - 1) // CHUNK_ROWS


def encode_lines(records: Sequence[Any]) -> bytes:
    """NDJSON: one compact JSON document per line, each line ending in a newline."""
    return _ENCODER.encode_lines(records)


def encode_part(ndjson: bytes, records: int, first_row: int, last_row: int, *, level: int) -> Part:
    """A part of ``ndjson``: deflated so that it can be concatenated with other parts."""
    compressor = isal_zlib.compressobj(min(max(level, 0), 3), isal_zlib.DEFLATED, -15)
    chunk = compressor.compress(ndjson) + compressor.flush(isal_zlib.Z_SYNC_FLUSH)
    return Part(
        chunk,
        isal_zlib.crc32(ndjson),
        len(ndjson),
        records,
        first_row,
        last_row,
        hashlib.sha256(ndjson).digest(),
    )


def raw_part(ndjson: bytes, row_ids: list[int]) -> Part:
    """A piece of a chunk, left uncompressed until the rest of its chunk is there."""
    return Part(
        ndjson, 0, len(ndjson), len(row_ids), row_ids[0], row_ids[-1], raw=True, row_ids=row_ids
    )


def join_pieces(pieces: Sequence[Part], limit: int, *, level: int) -> list[Part]:
    """The pieces of one chunk, joined and deflated as parts of at most ``limit`` records:
    the same parts the chunk gives when one segment holds it whole."""
    lines = b"".join(p.data for p in pieces).split(b"\n")[:-1]
    row_ids = [i for p in pieces for i in p.row_ids]
    parts = []
    for start in range(0, len(lines), limit):
        ndjson = b"\n".join(lines[start : start + limit]) + b"\n"
        ids = row_ids[start : start + limit]
        parts.append(encode_part(ndjson, len(ids), ids[0], ids[-1], level=level))
    return parts


class GzipAssembler:
    """Writes one gzip file from deflated parts, hashing every byte and every part digest.

    Until :meth:`finish`, the file is the header and whole parts: cut there, it can be
    resumed (:meth:`resume`) from what :attr:`progress` said, which is how an accumulating
    file survives a restart.
    """

    def __init__(self, out: BinaryIO, *, header: bool = True) -> None:
        self._out = out
        self._sha = hashlib.sha256()
        self._content = hashlib.sha256()
        self._digests = bytearray()
        self._crc = 0
        self._raw_size = 0
        self.records = 0
        self.size = 0
        if header:
            self._emit(GZIP_HEADER)

    @classmethod
    def resume(cls, out: BinaryIO, prefix: BinaryIO, progress: AssemblerProgress) -> GzipAssembler:
        """Continue a file whose first ``progress.size`` bytes ``prefix`` holds (read again
        for the byte checksum); ``out`` appends after them."""
        assembler = cls(out, header=False)
        left = progress.size
        while left > 0:
            block = prefix.read(min(left, 1 << 20))
            if not block:
                raise ValueError("the file is shorter than its recorded progress")
            assembler._sha.update(block)
            left -= len(block)
        assembler.size = progress.size
        assembler._crc, assembler._raw_size = progress.crc, progress.raw_size
        assembler.records = progress.records
        assembler._digests[:] = progress.digests
        assembler._content.update(progress.digests)
        return assembler

    @property
    def progress(self) -> AssemblerProgress:
        """What it takes to resume this file after its last whole part."""
        return AssemblerProgress(
            self.size, self._crc, self._raw_size, self.records, bytes(self._digests)
        )

    def append(self, part: Part) -> None:
        if part.raw:
            raise ValueError("a raw piece must be deflated before it is written")
        self._emit(part.data)
        self._crc = isal_zlib.crc32_combine(self._crc, part.crc, part.raw_size)
        self._raw_size += part.raw_size
        self._content.update(part.digest)
        self._digests += part.digest
        self.records += part.records

    def finish(self) -> tuple[str, str]:
        """Close the deflate stream and write the trailer; returns the file's SHA-256 and its
        content checksum (hex)."""
        self._emit(
            _FINAL_BLOCK + struct.pack("<II", self._crc & 0xFFFFFFFF, self._raw_size & 0xFFFFFFFF)
        )
        return self._sha.hexdigest(), self._content.hexdigest()

    def _emit(self, data: bytes) -> None:
        self._out.write(data)
        self._sha.update(data)
        self.size += len(data)


def encode_records(records: Sequence[Any], *, level: int) -> bytes:
    """A whole file holding ``records`` as one part (tools and tests)."""
    buffer = io.BytesIO()
    assembler = GzipAssembler(buffer)
    if records:
        assembler.append(encode_part(encode_lines(records), len(records), 0, 0, level=level))
    assembler.finish()
    return buffer.getvalue()
