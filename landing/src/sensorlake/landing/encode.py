"""Records to gzip NDJSON, byte for byte reproducible.

The gzip header carries no timestamp and no file name (zlib's gzip wrapper with mtime 0),
keys keep their insertion order, and nothing time-dependent is added, so the same records
always give the same bytes: a retry writes the same object.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Sequence
from typing import Any, BinaryIO

import msgspec

__all__ = ["GzipNdjsonWriter", "encode_records"]

_ENCODER = msgspec.json.Encoder()
_GZIP_WBITS = 16 + zlib.MAX_WBITS


class GzipNdjsonWriter:
    """Streams records into one open binary file, hashing what it writes."""

    def __init__(self, out: BinaryIO, *, level: int = 6) -> None:
        self._out = out
        self._zlib = zlib.compressobj(level, zlib.DEFLATED, _GZIP_WBITS)
        self._sha = hashlib.sha256()
        self.records = 0
        self.size = 0

    def write(self, records: Sequence[Any]) -> None:
        if not records:
            return
        self._emit(self._zlib.compress(_ENCODER.encode_lines(records)))
        self.records += len(records)

    def finish(self) -> str:
        """Flush the gzip trailer; returns the sha256 of the file's bytes (hex)."""
        self._emit(self._zlib.flush())
        return self._sha.hexdigest()

    def _emit(self, chunk: bytes) -> None:
        if chunk:
            self._out.write(chunk)
            self._sha.update(chunk)
            self.size += len(chunk)


def encode_records(records: Sequence[Any], *, level: int = 6) -> bytes:
    """One-shot encoding of a whole file, as the streaming writer would produce it."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, _GZIP_WBITS)
    return compressor.compress(_ENCODER.encode_lines(records)) + compressor.flush()
