"""Encoded parts into files in the spool; in continuous mode a file stays open across batches.

Parts arrive per (target, date) in row order. Files rotate before a part that would take
them past ``max_rows`` records, and after they pass ``max_bytes`` compressed bytes; pieces
of a chunk that crossed a segment's edge are joined and deflated here first. Where a file
is cut depends only on its rows and on when it was closed.

A file is written in the spool's ``tmp/``. At each :meth:`BatchFiles.checkpoint` (once per
batch, before the state commit) every file is made whole up to its last part and fsynced,
and the files that are due close: all of them with ``close_all`` (a one-shot run, exactly
as before rolling), or those past their target's age limit, those of an earlier date than
their target's newest, and those written by another gateway id, epoch or rules version. A
closed file gets its gzip trailer and a hard link under ``ready/``; the state commit then
records closed files as pending and open ones with their progress, and only after it
:meth:`BatchFiles.release` drops the ``tmp/`` names of the closed ones. So after a crash
the state and the spool agree: a ready file the state does not know is an orphan of an
uncommitted batch, and an open file is cut back to its recorded size and resumed
(:meth:`BatchFiles.resume`); the rows after the watermark are read again.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import BinaryIO

from sensorlake.contract.keys import UNKNOWN_DATE, LandingKey

from .encode import AssemblerProgress, GzipAssembler, Part, chunk_of, join_pieces
from .errors import LocalStorageError, storage_error
from .files import LandedFile, OpenFile
from .spool import Spool

__all__ = ["BatchFiles"]

_NOTHING_YET = AssemblerProgress(0, 0, 0, 0, b"")


class _Writing:
    """A file being written: its key when it opened, its rows so far, its handle."""

    __slots__ = (
        "handle",
        "last_row",
        "opened_at",
        "rules_version",
        "start",
        "sums",
        "tmp",
        "writer",
    )

    def __init__(
        self, record: OpenFile, handle: BinaryIO, writer: GzipAssembler | None = None
    ) -> None:
        self.start, self.last_row = record.key, record.key.last_row
        self.rules_version, self.opened_at, self.tmp = (
            record.rules_version,
            record.opened_at,
            record.path,
        )
        self.handle = handle
        self.writer = writer or GzipAssembler(handle)
        self.sums = ("", "")  # the bytes' and the content's SHA-256, once closed

    def key(self) -> LandingKey:
        """The key it closes under: its rows so far."""
        return replace(self.start, last_row=self.last_row)

    def record(self) -> OpenFile:
        return OpenFile(
            self.key(), self.rules_version, self.tmp, self.opened_at, self.writer.progress
        )


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
        max_age: Mapping[str, float] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.spool = spool
        self.gateway = gateway
        self.epoch = epoch
        self.rules_version = rules_version
        self.buckets = buckets
        self.max_rows = max_rows
        self.max_bytes = max_bytes
        self.level = level
        self.max_age = dict(max_age or {})  # seconds per target; missing: close at once
        self.clock = clock
        self._open: dict[tuple[str, str], _Writing] = {}
        self._pieces: dict[tuple[str, str], list[Part]] = {}
        self._full: list[_Writing] = []  # closed, not yet linked into ready/
        self._published: list[tuple[Path, Path]] = []  # (tmp, ready) until the state commit
        self._known: set[Path] = set()  # tmp files the state records as open

    # -- resume ------------------------------------------------------------------------

    def resume(self, files: Iterable[OpenFile]) -> None:
        """Take up the files the state records as open, cut back to their recorded size."""
        for record in files:
            try:
                handle = open(record.path, "r+b")  # noqa: SIM115 (kept open while writing)
            except FileNotFoundError:
                raise LocalStorageError(
                    f"the open spool file {record.path} is missing",
                    hint="the spool was changed by hand: restore it, or move the state "
                    "directory away to land everything again (objects already landed are "
                    "found identical)",
                ) from None
            except OSError as exc:
                raise storage_error(exc, record.path) from exc
            try:
                if os.fstat(handle.fileno()).st_size < record.size:
                    raise LocalStorageError(
                        f"the open spool file {record.path} is shorter than the state says",
                        hint="the spool was changed by hand: restore it, or move the state "
                        "directory away to land everything again",
                    )
                handle.truncate(record.size)
                writer = GzipAssembler.resume(handle, handle, record.progress)
            except BaseException:
                handle.close()
                raise
            self._open[(record.key.target, record.key.date)] = _Writing(record, handle, writer)
            self._known.add(record.path)

    # -- parts -------------------------------------------------------------------------

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
        if current is not None and (
            current.writer.records + part.records > limit or not self._ours(current)
        ):
            self._close(target, date)
            current = None
        if current is None:
            current = self._new(target, date, part.first_row)
        current.last_row = part.last_row
        current.writer.append(part)
        if current.writer.records >= limit or current.writer.size >= self.max_bytes:
            self._close(target, date)

    def _ours(self, current: _Writing) -> bool:
        return (current.start.gateway, current.start.epoch, current.rules_version) == (
            self.gateway,
            self.epoch,
            self.rules_version,
        )

    def _new(self, target: str, date: str, first_row: int) -> _Writing:
        name = f"{target}-{date}-{self.epoch:08d}-{first_row:019d}.part"
        tmp, handle = self.spool.open_tmp(name)
        key = LandingKey(target, date, self.gateway, self.epoch, first_row, first_row)
        record = OpenFile(key, self.rules_version, tmp, self.clock(), _NOTHING_YET)
        opened = self._open[(target, date)] = _Writing(record, handle)
        return opened

    def _close(self, target: str, date: str) -> None:
        current = self._open.pop((target, date))
        current.sums = current.writer.finish()
        current.handle.flush()
        os.fsync(current.handle.fileno())
        current.handle.close()
        self._full.append(current)

    # -- checkpoint and commit -----------------------------------------------------------

    def _due(self, current: _Writing, now: float, newest: Mapping[str, str]) -> bool:
        if not self._ours(current):
            return True
        target, date = current.start.target, current.start.date
        if date != UNKNOWN_DATE and date < newest.get(target, ""):
            return True  # the target's readings moved on to a later date
        return now - current.opened_at >= self.max_age.get(target, 0.0)

    def checkpoint(self, *, close_all: bool = False) -> list[LandedFile]:
        """Make every file whole up to its last part and durable; close the due ones (all,
        with ``close_all``) and link them into ready/. Returns them in key order."""
        files: list[LandedFile] = []
        try:
            for target, date in list(self._pieces):
                self._flush_pieces(target, date)
            now = self.clock()
            newest: dict[str, str] = {}
            for target, date in self._open:
                if date != UNKNOWN_DATE and date > newest.get(target, ""):
                    newest[target] = date
            for (target, date), current in list(self._open.items()):
                if close_all or self._due(current, now, newest):
                    self._close(target, date)
            for current in self._open.values():
                current.handle.flush()
                os.fsync(current.handle.fileno())
            for current in self._full:
                key = current.key()
                bucket = self.buckets[key.target]
                path = self.spool.commit(current.tmp, bucket, key.format())
                self._published.append((current.tmp, path))
                sha, content = current.sums
                files.append(
                    LandedFile(
                        key=key,
                        bucket=bucket,
                        path=path,
                        size=current.writer.size,
                        sha256=sha,
                        content_sha256=content,
                        records=current.writer.records,
                        rules_version=current.rules_version,
                    )
                )
        except OSError as exc:
            self.abort()
            raise storage_error(exc, self.spool.root) from exc
        self._full.clear()
        return sorted(files, key=lambda f: (f.bucket, f.name))

    def open_files(self) -> list[OpenFile]:
        """The files still open, as the state records them (after :meth:`checkpoint`)."""
        return [current.record() for current in self._open.values()]

    def release(self) -> None:
        """After the state commit: closed files live on under ready/ only."""
        for tmp, _ in self._published:
            Spool.remove(tmp)
        self._published.clear()
        self._known = {current.tmp for current in self._open.values()}

    def finish(self) -> list[LandedFile]:
        """Close every file and publish them all into ready/; returns them in key order."""
        files = self.checkpoint(close_all=True)
        self.release()
        return files

    def abort(self) -> None:
        """Drop everything since the last commit: its rows will be read again. Files the
        state records as open stay, to be cut back to their recorded size on resume."""
        for current in self._open.values():
            current.handle.close()
        for current in [*self._open.values(), *self._full]:
            if current.tmp not in self._known:
                Spool.remove(current.tmp)
        for tmp, ready in self._published:
            Spool.remove(ready)
            if tmp not in self._known:
                Spool.remove(tmp)
        self._open.clear()
        self._pieces.clear()
        self._full.clear()
        self._published.clear()
