"""Where landed files go: a narrow interface, the local lake, and doubles.

:class:`Sink` has one operation, ``put_if_absent``: create the object only if no object
exists at its key. An existing object with the same bytes is a replay after a crash
(``IDENTICAL``); one with the same records but other compression (the same content
checksum in its metadata) is ``SAME_CONTENT``: both count as landed. Anything else raises
:class:`ObjectConflict` and is never overwritten.

- :class:`LocalLakeSink`: the same keys under a local directory (the embedded default), with
  each object's metadata beside it (``<file>.metadata.json``), both created atomically
  and create-only (a hard link).
- :class:`FakeSink`: in memory, with failure injection, for tests.
- :class:`NullSink`: accepts everything and keeps only the names (the dry run).
- The S3 adapter lives in :mod:`s3`.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Protocol

from sensorlake.contract.metadata import ObjectMetadata, local_metadata_path

from .errors import LocalStorageError, ObjectConflict
from .failpoints import Failpoints
from .files import LandedFile
from .spool import fsync_dir

__all__ = ["FakeSink", "LocalLakeSink", "NullSink", "PutOutcome", "Sink", "existing_outcome"]


class PutOutcome(Enum):
    CREATED = "created"
    IDENTICAL = "identical"  # already there with the same sha256: a replay
    SAME_CONTENT = "same-content"  # already there, same records, other compression
    UNVERIFIED = "exists-unverified"  # already there, but we may not read it back


class Sink(Protocol):
    name: str

    def put_if_absent(self, file: LandedFile) -> PutOutcome: ...


def existing_outcome(
    file: LandedFile,
    *,
    where: str,
    sha256: str | None,
    size: int | None,
    content_sha256: str | None,
) -> PutOutcome:
    """What an object already at the file's key means: ours, or a conflict (raised)."""
    if sha256 == file.sha256 and size == file.size:
        return PutOutcome.IDENTICAL
    if file.content_sha256 and content_sha256 == file.content_sha256:
        return PutOutcome.SAME_CONTENT
    raise ObjectConflict(
        f"{where} already exists with different content (sha256 {sha256 or 'unknown'})",
        hint="it was kept, and so is the spooled file; compare them before removing either",
    )


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class LocalLakeSink:
    """``<root>/<bucket>/<key>``: identical keys to S3, on local disk."""

    name = "local"

    def __init__(self, root: Path, *, failpoints: Failpoints | None = None) -> None:
        self.root = Path(root)
        self.failpoints = failpoints or Failpoints()

    def put_if_absent(self, file: LandedFile) -> PutOutcome:
        dest = self.root / file.bucket / file.name
        try:
            return self._put(file, dest)
        except OSError as exc:
            raise _lake_error(exc, self.root) from exc

    def _put(self, file: LandedFile, dest: Path) -> PutOutcome:
        dest.parent.mkdir(parents=True, exist_ok=True)
        sidecar = local_metadata_path(dest)
        try:
            self._create(file.path, dest)
            outcome = PutOutcome.CREATED
        except FileExistsError:
            _partial(dest).unlink(missing_ok=True)  # left by a run killed mid-write
            theirs = _read_metadata(sidecar)
            outcome = existing_outcome(
                file,
                where=str(dest),
                sha256=_sha256_file(dest),
                size=dest.stat().st_size,
                content_sha256=theirs.content_sha256 if theirs else None,
            )
        # the metadata follows its file; an existing one describes the object that is there
        _create_text(sidecar, file.metadata.to_json())
        fsync_dir(dest.parent)
        return outcome

    def _create(self, src: Path, dest: Path) -> None:
        """Create ``dest`` with ``src``'s bytes, atomically, only if it does not exist."""
        if not self.failpoints.armed("during-upload"):
            try:
                os.link(src, dest)
                _partial(dest).unlink(missing_ok=True)  # left by a run killed mid-write
                return
            except OSError as exc:
                if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
                    raise
        tmp = _partial(dest)
        try:
            with open(src, "rb") as reader, open(tmp, "wb") as writer:
                writer.write(reader.read(src.stat().st_size // 2))
                writer.flush()
                self.failpoints.hit("during-upload")  # half of the object is written
                shutil.copyfileobj(reader, writer)
                writer.flush()
                os.fsync(writer.fileno())
            os.link(tmp, dest)
        except OSError:  # (a kill leaves it, for the rerun to overwrite)
            tmp.unlink(missing_ok=True)
            raise
        tmp.unlink()


def _lake_error(exc: OSError, root: Path) -> LocalStorageError:
    """The local lake cannot be written (read-only, full, permissions): one line, exit 5."""
    return LocalStorageError(
        f"cannot write the local lake {root} ({exc.strerror or exc})",
        hint="nothing is lost: the files stay in the spool and the next run ships them once "
        "the lake is writable (free space, fix its permissions or mount, or choose another "
        "--lake-dir)",
    )


def _partial(path: Path) -> Path:
    """Where ``path`` is written before it is linked into place (one name per key, so a
    rerun overwrites what a killed run left)."""
    return path.with_name(f".{path.name}.partial")


def _create_text(path: Path, text: str) -> None:
    """Write ``path`` atomically unless it exists (then it is kept)."""
    tmp = _partial(path)
    try:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.link(tmp, path)
    except FileExistsError:
        pass
    except OSError:
        tmp.unlink(missing_ok=True)
        raise
    tmp.unlink(missing_ok=True)


def _read_metadata(path: Path) -> ObjectMetadata | None:
    try:
        return ObjectMetadata.from_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


@dataclass
class FakeSink:
    """In-memory sink; ``fail`` decides, per call, whether to raise (failure injection)."""

    objects: dict[tuple[str, str], bytes] = field(default_factory=dict)
    metadata: dict[tuple[str, str], ObjectMetadata] = field(default_factory=dict)
    fail: Callable[[str, str], Exception | None] | None = None
    calls: int = 0
    name: str = "fake"

    def put_if_absent(self, file: LandedFile) -> PutOutcome:
        self.calls += 1
        where = (file.bucket, file.name)
        if self.fail is not None and (error := self.fail(*where)) is not None:
            raise error
        body = file.path.read_bytes()
        existing = self.objects.get(where)
        if existing is not None:
            theirs = self.metadata.get(where)
            return existing_outcome(
                file,
                where=f"{file.bucket}/{file.name}",
                sha256=hashlib.sha256(existing).hexdigest(),
                size=len(existing),
                content_sha256=theirs.content_sha256 if theirs else None,
            )
        self.objects[where] = body
        self.metadata[where] = file.metadata
        return PutOutcome.CREATED


@dataclass
class NullSink:
    """Takes every file and keeps only its ``bucket/key``: what a dry run would land."""

    landed: list[str] = field(default_factory=list)
    name: str = "dry-run"

    def put_if_absent(self, file: LandedFile) -> PutOutcome:
        self.landed.append(f"{file.bucket}/{file.name}")
        return PutOutcome.CREATED
