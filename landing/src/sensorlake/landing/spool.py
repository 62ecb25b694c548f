"""The durable local spool: a file's state is the folder it sits in.

    <state_dir>/spool/tmp/     being written; deleted on restart
    <state_dir>/spool/ready/<bucket>/<key>
                               complete (fsynced, atomically renamed). It is shipped only
                               once the state database records it; a ready file the state
                               does not know is an orphan of a crash before the state
                               commit and is deleted (its rows are read again).

:class:`BatchWriter` turns routed records into spooled files, rotating by record count
and compressed size. Everything it decides depends only on the records it is given.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from sensorlake.contract.keys import LandingKey

from .encode import GzipAssembler
from .errors import LocalStorageError
from .segments import Part

__all__ = ["BatchWriter", "Spool", "SpoolFile"]


@dataclass(frozen=True)
class SpoolFile:
    target: str
    bucket: str
    key: str
    path: Path
    sha256: str
    size: int
    records: int
    epoch: int
    first_row: int
    last_row: int


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def storage_error(exc: OSError, where: Path) -> LocalStorageError:
    """Translate disk problems into one actionable line."""
    if exc.errno == errno.ENOSPC:
        return LocalStorageError(
            f"disk full while writing {where}",
            hint="free space on that disk or lower SENSORLAKE_SPOOL_MAX_MB; nothing accepted "
            "is lost and the next run resumes",
        )
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return LocalStorageError(
            f"cannot write {where} ({exc.strerror})",
            hint="give the landing user write access or choose another --state-dir",
        )
    return LocalStorageError(f"local storage error at {where}: {exc}", hint="check the disk")


class Spool:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp = root / "tmp"
        self.ready = root / "ready"

    def prepare(self) -> None:
        try:
            self.tmp.mkdir(parents=True, exist_ok=True)
            self.ready.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise storage_error(exc, self.root) from exc

    def path_for(self, bucket: str, key: str) -> Path:
        return self.ready / bucket / key

    def open_tmp(self, name: str) -> tuple[Path, BinaryIO]:
        path = self.tmp / name
        return path, open(path, "wb")

    def commit(self, tmp_path: Path, bucket: str, key: str) -> Path:
        """Atomically publish a complete, fsynced tmp file into ready/."""
        final = self.path_for(bucket, key)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp_path, final)
        _fsync_dir(final.parent)
        return final

    def recover(self, known: Iterable[Path]) -> list[Path]:
        """Delete tmp files and ready files the state does not know (crash orphans)."""
        removed: list[Path] = []
        keep = {Path(p).resolve() for p in known}
        for folder in (self.tmp, self.ready):
            if not folder.exists():
                continue
            for path in sorted(p for p in folder.rglob("*") if p.is_file()):
                if folder is self.tmp or path.resolve() not in keep:
                    path.unlink()
                    removed.append(path)
        return removed

    @staticmethod
    def remove(path: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


class _OpenFile:
    __slots__ = ("bucket", "date", "first_row", "handle", "last_row", "target", "tmp", "writer")

    def __init__(self, target: str, bucket: str, date: str, tmp: Path, handle: BinaryIO):
        self.target = target
        self.bucket = bucket
        self.date = date
        self.tmp = tmp
        self.handle = handle
        self.writer = GzipAssembler(handle)
        self.first_row = -1
        self.last_row = -1


class BatchWriter:
    """Writes one batch's routed records into spooled files.

    Files rotate when they reach ``max_rows`` records (per target) or ``max_bytes``
    compressed bytes. Nothing is visible in ready/ until :meth:`finish` succeeds.
    """

    def __init__(
        self,
        spool: Spool,
        *,
        gateway: str,
        epoch: int,
        buckets: Mapping[str, str],
        max_rows: Mapping[str, int],
        max_bytes: int,
    ) -> None:
        self.spool = spool
        self.gateway = gateway
        self.epoch = epoch
        self.buckets = buckets
        self.max_rows = max_rows
        self.max_bytes = max_bytes
        self._open: dict[tuple[str, str], _OpenFile] = {}
        self._closed: list[tuple[_OpenFile, str]] = []
        self._seq = 0

    def add(self, target: str, date: str, part: Part) -> None:
        """Append one encoded part; rotate first if it would overflow the file.

        Parts never exceed a file's row limit (the encoder splits them), so a file holds
        at most ``max_rows`` records; it also rotates once it passes ``max_bytes``.
        """
        try:
            current = self._open.get((target, date))
            if (
                current is not None
                and current.writer.records + part.records > self.max_rows[target]
            ):
                self._close(current)
                current = None
            if current is None:
                current = self._new(target, date)
                current.first_row = part.first_row
            current.last_row = part.last_row
            current.writer.append(part.data, part.crc, part.raw_size, part.records)
            if (
                current.writer.records >= self.max_rows[target]
                or current.writer.size >= self.max_bytes
            ):
                self._close(current)
        except OSError as exc:
            self.abort()
            raise storage_error(exc, self.spool.tmp) from exc

    def _new(self, target: str, date: str) -> _OpenFile:
        self._seq += 1
        tmp, handle = self.spool.open_tmp(f"{os.getpid()}-{self._seq}-{target}.part")
        opened = _OpenFile(target, self.buckets[target], date, tmp, handle)
        self._open[(target, date)] = opened
        return opened

    def _close(self, current: _OpenFile) -> None:
        del self._open[(current.target, current.date)]
        sha = current.writer.finish()
        current.handle.flush()
        os.fsync(current.handle.fileno())
        current.handle.close()
        self._closed.append((current, sha))

    def finish(self) -> list[SpoolFile]:
        """Close every file and publish them all into ready/; returns them in key order."""
        files: list[SpoolFile] = []
        try:
            for current in list(self._open.values()):
                self._close(current)
            for current, sha in self._closed:
                key = LandingKey(
                    target=current.target,
                    date=current.date,
                    gateway=self.gateway,
                    epoch=self.epoch,
                    first_row=current.first_row,
                    last_row=current.last_row,
                ).format()
                path = self.spool.commit(current.tmp, current.bucket, key)
                files.append(
                    SpoolFile(
                        target=current.target,
                        bucket=current.bucket,
                        key=key,
                        path=path,
                        sha256=sha,
                        size=current.writer.size,
                        records=current.writer.records,
                        epoch=self.epoch,
                        first_row=current.first_row,
                        last_row=current.last_row,
                    )
                )
        except OSError as exc:
            self.abort()
            for spooled in files:
                Spool.remove(spooled.path)
            raise storage_error(exc, self.spool.root) from exc
        self._closed.clear()
        return sorted(files, key=lambda f: (f.bucket, f.key))

    def abort(self) -> None:
        """Drop everything of this batch: its rows will be read again."""
        for current in list(self._open.values()):
            current.handle.close()
            Spool.remove(current.tmp)
        for current, _ in self._closed:
            Spool.remove(current.tmp)
        self._open.clear()
        self._closed.clear()
