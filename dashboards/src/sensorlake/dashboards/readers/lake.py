"""The local lake: ``<lake>/<bucket role>/<key>``, the same keys as the buckets.

Record counts come from each file's ``<file>.metadata.json``; a file without one (written
before landing wrote them), or whose sidecar the contract refuses (reported for the file),
is counted once by reading its lines, and remembered by path, size and modification time,
so a refresh never reads a file twice.
"""

from __future__ import annotations

import gzip
import logging
import os
import threading
import zlib
from pathlib import Path

from sensorlake.contract.keys import SUFFIX, LandingKey, source_prefix
from sensorlake.contract.lake import lake_path
from sensorlake.contract.metadata import ObjectMetadata, local_metadata_path
from sensorlake.contract.pipelines import TARGETS, bucket_role

from ..errors import BackendUnavailable
from .base import OUTSIDE_SHOWN, LandedObject, LandingListing

__all__ = ["LocalLakeReader", "count_lines"]

log = logging.getLogger(__name__)


def count_lines(path: Path) -> int:
    """Records in a gzip NDJSON file (one per line)."""
    count = 0
    last = b"\n"
    with gzip.open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            count += chunk.count(b"\n")
            last = chunk[-1:]
    return count + (last != b"\n")


class LocalLakeReader:
    kind = "local lake"

    def __init__(self, lake_dir: Path) -> None:
        self.lake_dir = Path(lake_dir)
        self._counts: dict[str, tuple[int, int, int]] = {}  # path -> (mtime_ns, size, records)
        self._lock = threading.Lock()
        self._warned: set[str] = set()

    def target_dir(self, target: str) -> Path:
        return self.lake_dir / bucket_role(target) / source_prefix(target)

    def list_landed(self) -> LandingListing:
        if not self.lake_dir.is_dir():
            raise BackendUnavailable(
                f"local lake {self.lake_dir} does not exist: run `make land` or set --lake-dir"
            )
        objects: dict[str, tuple[LandedObject, ...]] = {}
        errors: dict[str, str] = {}
        bad: dict[str, str] = {}
        outside: list[str] = []
        for target in TARGETS:
            found: list[LandedObject] = []
            try:
                for entry in self._walk(self.target_dir(target)):
                    obj = self._object(target, entry, bad)
                    if obj is None:
                        outside.append(entry.path)
                    else:
                        found.append(obj)
            except OSError as exc:
                errors[target] = f"cannot read {self.target_dir(target)}: {exc.strerror}"
            objects[target] = tuple(sorted(found, key=lambda o: o.key))
        location = {t: str(self.target_dir(t)) for t in TARGETS}
        return LandingListing(
            objects,
            location,
            errors,
            len(outside),
            bad_metadata=bad,
            outside_layout=tuple(sorted(outside)[:OUTSIDE_SHOWN]),
        )

    @staticmethod
    def _walk(root: Path) -> list[os.DirEntry[str]]:
        if not root.is_dir():
            return []
        out: list[os.DirEntry[str]] = []
        stack = [str(root)]
        while stack:
            with os.scandir(stack.pop()) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                    elif entry.name.endswith(SUFFIX):
                        out.append(entry)
        return out

    def _object(
        self, target: str, entry: os.DirEntry[str], bad: dict[str, str]
    ) -> LandedObject | None:
        rel = Path(entry.path).relative_to(self.lake_dir / bucket_role(target)).as_posix()
        try:
            key = LandingKey.parse(rel)
        except ValueError:
            return None
        if key.target != target:
            return None
        stat = entry.stat()
        records = self._records(Path(entry.path), stat, key.format(), bad)
        return LandedObject(key, stat.st_size, stat.st_mtime, records)

    def _records(self, path: Path, stat: os.stat_result, key: str, bad: dict[str, str]) -> int:
        """From the sidecar; without one, or with one the contract refuses (recorded in
        ``bad`` for that file), by counting the file's lines once."""
        sidecar = local_metadata_path(path)
        try:
            return ObjectMetadata.from_json(sidecar.read_text()).record_count
        except FileNotFoundError:
            pass
        except (OSError, ValueError) as exc:
            bad[key] = f"{sidecar}: {exc}"
            if str(sidecar) not in self._warned:
                self._warned.add(str(sidecar))
                log.warning("ignoring unusable metadata %s (%s); counting lines", sidecar, exc)
        ident = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            cached = self._counts.get(str(path))
        if cached is not None and cached[:2] == ident:
            return cached[2]
        try:
            records = count_lines(path)
        except (OSError, EOFError, zlib.error) as exc:
            log.warning("cannot count records of %s (%s)", path, exc)
            return 0
        with self._lock:
            self._counts[str(path)] = (*ident, records)
        return records

    def path_of(self, key: str) -> Path:
        """Where a key lives here (for tests and messages)."""
        return lake_path(self.lake_dir, key)
