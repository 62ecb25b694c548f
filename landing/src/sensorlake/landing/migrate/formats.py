"""The old uploader's objects: what they look like, and telling them apart.

Two formats (``docs/migration.md`` and the reference ``original-system.md`` §4):

- ``uploader-json`` (commit a140e6d0): key ``YYYYMMDD_HHMMSS_<8hex>.json`` at the bucket
  root, body one JSON array of the raw row dicts (``SELECT *``, so with ``id``), lineage in
  the object's user metadata: ``node-id``, ``record-count``, ``data-start-time``, ...
- ``uploader-wrapped`` (older, 46c2f087): ``ingestion/YYYY/MM/DD/HHMMSS/data.json`` holding
  ``{"metadata": {...}, "records": [...]}``.

Anything else is a :class:`BadObject`, reported by key and skipped, never fatal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final, Literal

import msgspec

from sensorlake.contract.keys import GATEWAY_PATTERN

__all__ = ["FORMATS", "JSON_KEY", "BadObject", "Format", "OldObject", "parse_object"]

Format = Literal["uploader-json", "uploader-wrapped", "auto"]
FORMATS: Final[tuple[str, ...]] = ("auto", "uploader-json", "uploader-wrapped")

# The a140e6d0 key: upload time and 8 hex characters, at the bucket (or prefix) root.
JSON_KEY = re.compile(r"(?:^|/)\d{8}_\d{6}_[0-9a-f]{8}\.json$")
_GATEWAY_RE = re.compile(rf"^{GATEWAY_PATTERN}$")
# Where each format keeps the node id: user metadata (a140e6d0), or the wrapped metadata.
_NODE_KEYS = ("node-id", "node_id", "nodeId")
_DECODER = msgspec.json.Decoder()


class BadObject(Exception):
    """An object that is not one of the old uploader's: skipped, reported by key."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}")
        self.key = key
        self.reason = reason


@dataclass(frozen=True)
class OldObject:
    key: str
    format: str
    gateway: str
    rows: list[dict[str, Any]]
    metadata: dict[str, str]


def _gateway(key: str, found: object, override: str | None) -> str:
    if override:
        return override
    if not isinstance(found, str) or not found:
        raise BadObject(key, "missing metadata node-id (pass --gateway-id to name the gateway)")
    if not _GATEWAY_RE.match(found):
        raise BadObject(key, f"node-id {found!r} cannot be used in object keys (pass --gateway-id)")
    return found


def _rows(key: str, records: object) -> list[dict[str, Any]]:
    if not isinstance(records, list):
        raise BadObject(key, f"wrong shape: records are a {type(records).__name__}, not an array")
    bad = next((i for i, r in enumerate(records) if not isinstance(r, dict)), None)
    if bad is not None:
        raise BadObject(key, f"wrong shape: record {bad} is not an object")
    return records


def _count(key: str, metadata: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    """A record count that disagrees with the body means a truncated or mixed-up object."""
    for name in ("record-count", "record_count", "records"):
        if name in metadata:
            try:
                expected = int(metadata[name])
            except (TypeError, ValueError):
                raise BadObject(
                    key, f"metadata {name}={metadata[name]!r} is not a number"
                ) from None
            if expected != len(rows):
                raise BadObject(key, f"metadata {name} says {expected} rows, body has {len(rows)}")
            return


def parse_object(
    key: str,
    body: bytes,
    metadata: dict[str, str],
    *,
    fmt: str = "auto",
    gateway_id: str | None = None,
) -> OldObject:
    """One object as the old uploader wrote it, or :class:`BadObject` saying why not."""
    try:
        doc = _DECODER.decode(body)
    except msgspec.DecodeError as exc:
        raise BadObject(
            key, f"not valid JSON ({exc}): truncated or not an uploader object"
        ) from None
    meta = {k.lower(): v for k, v in metadata.items()}
    if isinstance(doc, list):
        found = "uploader-json"
    elif isinstance(doc, dict) and "records" in doc and "metadata" in doc:
        found = "uploader-wrapped"
    else:
        shape = (
            type(doc).__name__ if not isinstance(doc, dict) else "object without records/metadata"
        )
        raise BadObject(key, f"wrong shape: a JSON {shape}, neither uploader format")
    if fmt != "auto" and fmt != found:
        raise BadObject(key, f"is {found}, not {fmt} (use --format auto)")
    if found == "uploader-json":
        rows = _rows(key, doc)
        gateway = _gateway(key, next((meta[k] for k in _NODE_KEYS if k in meta), None), gateway_id)
        _count(key, meta, rows)
        return OldObject(key, found, gateway, rows, meta)
    wrapped = doc["metadata"]
    if not isinstance(wrapped, dict):
        raise BadObject(key, "wrong shape: metadata is not an object")
    rows = _rows(key, doc["records"])
    node = next((wrapped[k] for k in _NODE_KEYS if k in wrapped), None)
    node = node or next((meta[k] for k in _NODE_KEYS if k in meta), None)
    gateway = _gateway(key, node, gateway_id)
    _count(key, wrapped, rows)
    return OldObject(key, found, gateway, rows, {str(k): str(v) for k, v in wrapped.items()})
