"""One batch's encoded parts into complete files in the spool.

Parts arrive per (target, date) in row order. Files rotate before a part that would take
them past ``max_rows`` records, and after they pass ``max_bytes`` compressed bytes; pieces
of a chunk that crossed a segment's edge are joined and deflated here first. Everything
decided depends only on the rows, so a re-read batch gives the same files. Nothing is
visible in ``ready/`` until :meth:`BatchFiles.finish` succeeds.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO

from sensorlake.contract.keys import LandingKey

from .encode import GzipAssembler, Part, chunk_of, join_pieces
from .errors import storage_error
from .landed import LandedFile
from .spool import Spool

__all__ = ["BatchFiles"]


class _OpenFile:
    __slots__ = ("first_row", "handle", "last_row", "tmp", "writer")

    def __init__(self, tmp: Path, handle: BinaryIO) -> None:
        self.tmp = tmp
        self.handle = handle
        self.writer = GzipAssembler(handle)
        self.first_row = -1
        self.last_row = -1


class BatchFiles:
    def __init__(
        self,
        spool: Spool,
        *,
        gateway: str,
        epoch: int,
        rules_version: str,
        buckets: Mapping[str, str],
        max_rows: Mapping[str, int],
        max_bytes: int,
        level: int,
    ) -> None:
        self.spool = spool
        self.gateway = gateway
        self.epoch = epoch
        self.rules_version = rules_version
        self.buckets = buckets
        self.max_rows = max_rows
        self.max_bytes = max_bytes
        self.level = level
        self._open: dict[tuple[str, str], _OpenFile] = {}
        self._pieces: dict[tuple[str, str], list[Part]] = {}
        self._closed: list[tuple[str, str, _OpenFile, str, str]] = []
        self._seq = 0

    def add(self, target: str, date: str, part: Part) -> None:
        """Append one encoded part (or hold a piece of a chunk until the chunk is whole)."""
        try:
            held = self._pieces.get((target, date))
            if held and (not part.raw or chunk_of(part.first_row) != chunk_of(held[0].first_row)):
                self._flush_pieces(target, date)
            if part.raw:
                self._pieces.setdefault((target, date), []).append(part)
            else:
                self._append(target, date, part)
        except OSError as exc:
            self.abort()
            raise storage_error(exc, self.spool.tmp) from exc

    def _flush_pieces(self, target: str, date: str) -> None:
        pieces = self._pieces.pop((target, date))
        for part in join_pieces(pieces, self.max_rows[target], level=self.level):
            self._append(target, date, part)

    def _append(self, target: str, date: str, part: Part) -> None:
        limit = self.max_rows[target]
        current = self._open.get((target, date))
        if current is not None and current.writer.records + part.records > limit:
            self._close(target, date)
            current = None
        if current is None:
            current = self._new(target, date)
            current.first_row = part.first_row
        current.last_row = part.last_row
        current.writer.append(part)
        if current.writer.records >= limit or current.writer.size >= self.max_bytes:
            self._close(target, date)

    def _new(self, target: str, date: str) -> _OpenFile:
        self._seq += 1
        tmp, handle = self.spool.open_tmp(f"{os.getpid()}-{self._seq}-{target}.part")
        opened = self._open[(target, date)] = _OpenFile(tmp, handle)
        return opened

    def _close(self, target: str, date: str) -> None:
        current = self._open.pop((target, date))
        sha, content = current.writer.finish()
        current.handle.flush()
        os.fsync(current.handle.fileno())
        current.handle.close()
        self._closed.append((target, date, current, sha, content))

    def finish(self) -> list[LandedFile]:
        """Close every file and publish them all into ready/; returns them in key order."""
        files: list[LandedFile] = []
        try:
            for target, date in list(self._pieces):
                self._flush_pieces(target, date)
            for target, date in list(self._open):
                self._close(target, date)
            for target, date, current, sha, content in self._closed:
                key = LandingKey(
                    target, date, self.gateway, self.epoch, current.first_row, current.last_row
                )
                bucket = self.buckets[target]
                path = self.spool.commit(current.tmp, bucket, key.format())
                files.append(
                    LandedFile(
                        key=key,
                        bucket=bucket,
                        path=path,
                        size=current.writer.size,
                        sha256=sha,
                        content_sha256=content,
                        records=current.writer.records,
                        rules_version=self.rules_version,
                    )
                )
        except OSError as exc:
            self.abort()
            for landed in files:
                Spool.remove(landed.path)
            raise storage_error(exc, self.spool.root) from exc
        self._closed.clear()
        return sorted(files, key=lambda f: (f.bucket, f.name))

    def abort(self) -> None:
        """Drop everything of this batch: its rows will be read again."""
        for current in self._open.values():
            current.handle.close()
            Spool.remove(current.tmp)
        for _, _, current, _, _ in self._closed:
            Spool.remove(current.tmp)
        self._open.clear()
        self._pieces.clear()
        self._closed.clear()
