"""What the local runner knows about landed files, read without Spark.

Which files a micro-batch read (from the stream's own checkpoint log), whether a file is a
whole gzip stream (its sidecar's sha256 first, decompressing only when that differs), which
top-level fields a file's first record has (how raw notices a new sensor column), and how
many records the lake holds per target (the sidecars' counts, for the demo's reconciliation).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import zlib
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import unquote, urlparse

from isal import igzip

from sensorlake.contract.keys import SUFFIX, source_prefix
from sensorlake.contract.lake import follows_layout, lake_path
from sensorlake.contract.metadata import ObjectMetadata, local_metadata_path

__all__ = [
    "batch_files",
    "corruption",
    "first_record_fields",
    "landed_records",
    "local_file",
]

_CHUNK = 1 << 20


def local_file(url: str) -> Path:
    """A Spark file URL (``file:/a/b``, ``file:///a/b``) as a local path."""
    parsed = urlparse(url)
    return Path(unquote(parsed.path)) if parsed.scheme in ("file", "") else Path(url)


def batch_files(checkpoint: Path, batch_id: int) -> list[str]:
    """The files Spark's file source planned for a batch, from the checkpoint's source log.

    Spark writes ``sources/0/<batch>`` before running the batch (every tenth log is a
    ``.compact`` file holding all entries so far, each tagged with its batch id).
    """
    log = Path(checkpoint) / "sources" / "0"
    for name in (str(batch_id), f"{batch_id}.compact"):
        path = log / name
        if path.exists():
            lines = path.read_text().splitlines()[1:]  # the first line is the format version
            entries = (json.loads(line) for line in lines if line.strip())
            return [e["path"] for e in entries if e.get("batchId", batch_id) == batch_id]
    return []


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def corruption(path: Path) -> str | None:
    """Why a landed file cannot be read whole (None when it can)."""
    try:
        sidecar = local_metadata_path(path)
        if sidecar.exists():
            meta = ObjectMetadata.from_json(sidecar.read_text())
            if _sha256(path) == meta.sha256:
                return None
        with igzip.open(path, "rb") as handle:  # ISA-L: several times zlib's speed
            while handle.read(_CHUNK):
                pass
    except FileNotFoundError:
        return "file vanished before it was checked"
    except (OSError, EOFError, zlib.error, ValueError) as exc:
        return f"not a complete gzip file ({exc})"
    return None


def first_record_fields(path: Path) -> dict[str, object]:
    """The top-level fields of a file's first record ({} when it has no readable record)."""
    try:
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            line = handle.readline()
        record = json.loads(line)
    except (OSError, EOFError, zlib.error, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _records(path: Path) -> int:
    sidecar = local_metadata_path(path)
    if sidecar.exists():
        return ObjectMetadata.from_json(sidecar.read_text()).record_count
    lines = 0
    try:
        with igzip.open(path, "rb") as handle:
            while chunk := handle.read(_CHUNK):
                lines += chunk.count(b"\n")
    except (OSError, EOFError, zlib.error, ValueError):
        return 0  # a corrupt file holds no landed rows the tables could match
    return lines


def landed_records(lake_dir: Path, targets: Iterable[str]) -> dict[str, int]:
    """Records landed per target in the local lake: the sidecars' counts, else the lines
    (only files in the key layout: the others are no landed files, and reported as such)."""
    return {
        target: sum(
            _records(path)
            for path in lake_path(lake_dir, source_prefix(target)).rglob(f"*{SUFFIX}")
            if follows_layout(lake_dir, path)
        )
        for target in targets
    }
