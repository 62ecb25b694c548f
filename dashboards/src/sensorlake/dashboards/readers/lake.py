"""The local lake: ``<lake>/<bucket role>/<key>``, the same keys as the buckets.

Record counts come from each file's ``<file>.metadata.json``; a file without one (written
before landing wrote them), or whose sidecar the contract refuses (reported for the file),
is counted once by reading its lines, and remembered by path, size and modification time,
so a refresh never reads a file twice.

A refresh costs what changed, not what exists: a directory's modification time changes when
an entry is added or removed in it, so each refresh stats every directory of the layout
(``<target>/date=D/gateway=G/``: thousands at fleet scale, not millions of files) and lists
only those whose time moved. A directory changed within :data:`RACY_SECONDS` of its listing
is listed again next time (a file landed in the same clock tick would otherwise be missed,
git's "racy" rule). The files and directory times are kept in :class:`~..cache.MonitorCache`,
so a restart reads no sidecar twice either. What this does not see is a file rewritten in
place (an edited sidecar keeps its directory's time): landing never does that (it writes a
new name and renames), and a monitor started afresh without its cache reads everything.
"""

from __future__ import annotations

import gzip
import logging
import os
import threading
import time
import zlib
from pathlib import Path

from sensorlake.contract.keys import SUFFIX, LandingKey, source_prefix
from sensorlake.contract.lake import lake_path
from sensorlake.contract.metadata import LOCAL_SUFFIX, ObjectMetadata, local_metadata_path
from sensorlake.contract.pipelines import TARGETS, bucket_role

from ..cache import CachedObject, MonitorCache
from ..errors import BackendUnavailable
from .base import OUTSIDE_SHOWN, LandedObject, LandingListing

__all__ = ["RACY_SECONDS", "LocalLakeReader", "count_lines"]

log = logging.getLogger(__name__)

# A directory whose time is this close to when it was listed is listed again next time.
RACY_SECONDS = 2.0


class _Dir:
    """One directory as last listed: its time (None: list it again), subdirectories and
    landed files (``*.ndjson.gz``)."""

    __slots__ = ("files", "mtime_ns", "subdirs")

    def __init__(self, mtime_ns: int | None, subdirs: list[str], files: list[str]) -> None:
        self.mtime_ns = mtime_ns
        self.subdirs = subdirs
        self.files = files


# A known file: its identity (mtime_ns, size, its sidecar's mtime_ns or 0), what it is (None: outside the layout) and
# why its metadata was refused ("" when it was not).
_Known = tuple[tuple[int, int, int], LandedObject | None, str]


def _in_layout(path: str) -> bool:
    try:
        LandingKey.parse("/".join(Path(path).parts[-4:]))
    except ValueError:
        return False
    return True


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

    def __init__(self, lake_dir: Path, *, cache: MonitorCache | None = None) -> None:
        self.lake_dir = Path(lake_dir)
        self._counts: dict[str, tuple[int, int, int]] = {}  # path -> (mtime_ns, size, records)
        self._lock = threading.Lock()
        self._warned: set[str] = set()
        self._dirs: dict[str, _Dir] = {}
        self._known: dict[str, _Known] = {}  # file path -> what it is
        self.listed_dirs = 0  # directories listed (scandir) so far, for tests and benchmarks
        self.cache = cache if cache is not None else MonitorCache(None, "")
        self._load_cache()

    def close(self) -> None:
        self.cache.close()

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
        put: list[CachedObject] = []
        gone: list[tuple[str, str]] = []
        dirs: list[tuple[str, int]] = []
        drop: list[str] = []
        for target in TARGETS:
            found: list[LandedObject] = []
            try:
                paths = self._walk(self.target_dir(target), dirs, drop)
                for path, stat in paths:
                    known = self._known.get(path)
                    if known is None or (stat is not None and known[0] != stat):
                        known = self._read(target, path, stat)
                        self._known[path] = known
                        if known[1] is not None:
                            put.append(self._row(target, known))
                    obj = known[1]
                    if obj is None:
                        outside.append(path)
                    else:
                        found.append(obj)
                        if known[2]:
                            bad[obj.name] = known[2]
                for path in self._vanished(target, {p for p, _s in paths}):
                    old = self._known.pop(path)[1]
                    if old is not None:
                        gone.append((self._location(target), old.name))
            except OSError as exc:
                errors[target] = f"cannot read {self.target_dir(target)}: {exc.strerror}"
            objects[target] = tuple(sorted(found, key=lambda o: o.key))
        if not self.cache.write(put=put, delete=gone, dirs=dirs, drop_dirs=drop):
            self._rewrite_cache()
        location = {t: str(self.target_dir(t)) for t in TARGETS}
        return LandingListing(
            objects,
            location,
            errors,
            len(outside),
            bad_metadata=bad,
            outside_layout=tuple(sorted(outside)[:OUTSIDE_SHOWN]),
        )

    # -- the incremental walk --------------------------------------------------------------

    def _walk(
        self, root: Path, dirs: list[tuple[str, int]], drop: list[str]
    ) -> list[tuple[str, tuple[int, int, int] | None]]:
        """Every landed file under ``root`` with its identity when its directory was listed
        now (None: from a directory unchanged since it was last listed)."""
        out: list[tuple[str, tuple[int, int, int] | None]] = []
        if not root.is_dir():
            for path in [d for d in self._dirs if d == str(root) or d.startswith(f"{root}/")]:
                del self._dirs[path]
                drop.append(path)
            return out
        stack = [str(root)]
        while stack:
            path = stack.pop()
            try:
                mtime_ns = os.stat(path).st_mtime_ns
            except FileNotFoundError:
                self._forget_dir(path, drop)
                continue
            known = self._dirs.get(path)
            if known is not None and known.mtime_ns == mtime_ns:
                stack.extend(known.subdirs)
                out.extend((f, None) for f in known.files)
                continue
            started = time.time_ns()
            subdirs: list[str] = []
            files: list[str] = []
            stray = False
            sizes: dict[str, tuple[int, int]] = {}
            self.listed_dirs += 1
            sidecars: dict[str, int] = {}
            with os.scandir(path) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        subdirs.append(entry.path)
                    elif entry.name.endswith(SUFFIX):
                        stray = stray or not _in_layout(entry.path)
                        st = entry.stat()
                        files.append(entry.path)
                        sizes[entry.path] = (st.st_mtime_ns, st.st_size)
                    elif entry.name.endswith(SUFFIX + LOCAL_SUFFIX):
                        sidecars[entry.name] = entry.stat().st_mtime_ns
            for file, (m, size) in sizes.items():
                side = sidecars.get(os.path.basename(file) + LOCAL_SUFFIX, 0)
                out.append((file, (m, size, side)))
            for old in set(known.subdirs if known else ()) - set(subdirs):
                self._forget_dir(old, drop)
            racy = started - mtime_ns < RACY_SECONDS * 1e9
            trusted = None if racy or stray else mtime_ns
            self._dirs[path] = _Dir(trusted, subdirs, files)
            # Every directory is kept (-1: list it again), so a restart knows empty ones too.
            dirs.append((path, -1 if trusted is None else trusted))
            stack.extend(subdirs)
        return out

    def _forget_dir(self, path: str, drop: list[str]) -> None:
        known = self._dirs.pop(path, None)
        drop.append(path)
        for sub in known.subdirs if known else ():
            self._forget_dir(sub, drop)

    def _vanished(self, target: str, present: set[str]) -> list[str]:
        root = f"{self.target_dir(target)}/"
        return [p for p in self._known if p.startswith(root) and p not in present]

    def _read(self, target: str, path: str, stat: tuple[int, int, int] | None) -> _Known:
        if stat is None:
            st = os.stat(path)
            try:
                side = local_metadata_path(Path(path)).stat().st_mtime_ns
            except FileNotFoundError:
                side = 0
            stat = (st.st_mtime_ns, st.st_size, side)
        rel = Path(path).relative_to(self.lake_dir / bucket_role(target)).as_posix()
        try:
            key = LandingKey.parse(rel)
        except ValueError:
            return stat, None, ""
        if key.target != target:
            return stat, None, ""
        bad: dict[str, str] = {}
        records = self._records(Path(path), stat[:2], key.format(), bad)
        return stat, LandedObject(key, stat[1], stat[0] / 1e9, records), bad.get(key.format(), "")

    # -- the cache -------------------------------------------------------------------------

    def _location(self, target: str) -> str:
        return str(self.lake_dir / bucket_role(target))

    def _row(self, target: str, known: _Known) -> CachedObject:
        (mtime_ns, size, side), obj, bad = known
        assert obj is not None
        return CachedObject(
            self._location(target), obj.name, size, obj.modified, f"{mtime_ns}:{size}:{side}",
            obj.records, bad or None,
        )  # fmt: skip

    def _load_cache(self) -> None:
        """Files and directory times from the cache; a directory is trusted only with every
        file of it known (its listing is rebuilt from the files' paths)."""
        rows = self.cache.objects()
        times = self.cache.dirs()
        if not rows and not times:
            return
        listing: dict[str, _Dir] = {}
        for row in rows:
            try:
                key = LandingKey.parse(row.key)
                mtime_ns, size, side = (int(x) for x in row.etag.split(":"))
            except ValueError:
                continue
            path = str(Path(row.location) / row.key)
            obj = LandedObject(key, row.size, row.modified, row.records or 0)
            self._known[path] = ((mtime_ns, size, side), obj, row.bad or "")
            parent = os.path.dirname(path)
            listing.setdefault(parent, _Dir(None, [], [])).files.append(path)
        for path, mtime_ns in times.items():
            listing.setdefault(path, _Dir(None, [], [])).mtime_ns = mtime_ns
        for path in list(listing):
            parent = os.path.dirname(path)
            if parent in listing and path not in listing[parent].subdirs:
                listing[parent].subdirs.append(path)
        for path, entry in listing.items():
            if times.get(path, -1) < 0:
                entry.mtime_ns = None  # not listed in full before: list it again
        self._dirs = listing
        log.info("monitor cache: %d landed file(s) known from %s", len(rows), self.cache.path)

    def _rewrite_cache(self) -> None:
        put = [
            self._row(target, known)
            for path, known in self._known.items()
            if known[1] is not None
            for target in (known[1].key.target,)
        ]
        dirs = [(p, -1 if d.mtime_ns is None else d.mtime_ns) for p, d in self._dirs.items()]
        self.cache.write(put=put, dirs=dirs)

    def _records(self, path: Path, stat: tuple[int, int], key: str, bad: dict[str, str]) -> int:
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
        ident = stat
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
