"""The durable local spool: a file's state is the folder it sits in.

    <state_dir>/spool/tmp/     being written, or open (accumulating across batches); the
                               state records an open file with the size it had at the last
                               commit. Anything else here is deleted on restart.
    <state_dir>/spool/ready/<bucket>/<key>
                               complete (fsynced, hard-linked from tmp/). It is shipped only
                               once the state database records it; a ready file the state
                               does not know is an orphan of a crash before the state
                               commit and is deleted (its rows are read again).

The folders are the contract's (``contract.gateway_state.SpoolLayout``; dashboards count the
ready files through the same layout). Only folders and links live here: what goes into a
file is :mod:`rotation`'s business.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from sensorlake.contract.gateway_state import GatewayStateLayout, SpoolLayout

from .errors import storage_error

__all__ = ["Spool", "fsync_dir"]


def fsync_dir(path: Path) -> None:
    """Make a rename or link in ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Spool:
    def __init__(self, root: Path) -> None:
        self.layout = SpoolLayout(Path(root))
        self.root = self.layout.root
        self.tmp = self.layout.tmp
        self.ready = self.layout.ready

    @classmethod
    def in_state(cls, state_dir: Path) -> Spool:
        """The spool of a state directory (``<state_dir>/spool``)."""
        return cls(GatewayStateLayout(Path(state_dir)).spool.root)

    def prepare(self) -> None:
        try:
            self.tmp.mkdir(parents=True, exist_ok=True)
            self.ready.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise storage_error(exc, self.root) from exc

    def path_for(self, bucket: str, key: str) -> Path:
        return self.layout.ready_path(bucket, key)

    def open_tmp(self, name: str) -> tuple[Path, BinaryIO]:
        path = self.tmp / name
        return path, open(path, "wb")

    def commit(self, tmp_path: Path, bucket: str, key: str) -> Path:
        """Publish a complete, fsynced tmp file into ready/, atomically (a hard link: the tmp
        name goes once the state has recorded the file, see :mod:`rotation`)."""
        final = self.path_for(bucket, key)
        final.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(tmp_path, final)
        except FileExistsError:  # the same rows again: the newer bytes win, as a rename would
            final.unlink()
            os.link(tmp_path, final)
        fsync_dir(final.parent)
        return final

    def recover(self, known: Iterable[Path]) -> list[Path]:
        """Delete tmp and ready files the state does not know (crash orphans)."""
        removed: list[Path] = []
        keep = {Path(p).resolve() for p in known}
        for folder in (self.ready, self.tmp):
            if not folder.exists():
                continue
            for path in sorted(p for p in folder.rglob("*") if p.is_file()):
                if path.resolve() not in keep:
                    path.unlink()
                    removed.append(path)
        return removed

    @staticmethod
    def remove(path: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
