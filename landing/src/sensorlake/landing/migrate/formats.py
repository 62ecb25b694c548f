"""The old uploader's objects: what they look like, and telling them apart.

Two formats (``docs/migration.md`` and the reference ``original-system.md`` §4), the names
checked against the old uploader itself: ``bacalhau-project/examples``,
``data-engineering/databricks-with-bacalhau/databricks-uploader/sqlite_to_databricks_uploader.py``
(``_upload_to_s3``) at commits a140e6d0aae82a9e663bb75257a012759d1c93a9 and
46c2f0879193b538d85417350312500f7aab3453:

- ``uploader-json`` (a140e6d0): key ``YYYYMMDD_HHMMSS_<8hex>.json`` at the bucket root, body
  ``json.dumps(data)``, one JSON array of the raw row dicts (``SELECT *``, so with ``id``);
  lineage in the object's user metadata: ``job-id``, ``node-id``, ``pipeline-type``,
  ``record-count`` (a string), ``upload-timestamp``, ``data-start-time``, ``data-end-time``,
  ``uploader-version``. The same file's (deprecated) bucket initialiser put
  ``schema_sample_<ts>_<pipeline>.json``: one made-up ``INIT-SENSOR`` row, user metadata
  ``purpose: schema-inference`` and no ``record-count``; never readings, so skipped.
- ``uploader-wrapped`` (46c2f087): ``ingestion/YYYY/MM/DD/HHMMSS/data.json`` holding
  ``{"metadata": {"source", "table", "timestamp", "record_count"}, "records": [...]}`` with
  no user metadata: ``source`` is the SQLite path, and nothing names the node, so the
  gateway of these objects comes from ``--gateway-id`` only.

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
_SCHEMA_SAMPLE = re.compile(r"(?:^|/)schema_sample_[^/]*\.json$")
_GATEWAY_RE = re.compile(rf"^{GATEWAY_PATTERN}$")
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


def _gateway(key: str, found: object, override: str | None, missing: str) -> str:
    if override:
        return override
    if not isinstance(found, str) or not found:
        raise BadObject(key, missing)
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


def _count(key: str, metadata: dict[str, Any], name: str, rows: list[dict[str, Any]]) -> None:
    """A record count that disagrees with the body means a truncated or mixed-up object."""
    if name not in metadata:
        return
    try:
        expected = int(metadata[name])
    except (TypeError, ValueError):
        raise BadObject(key, f"metadata {name}={metadata[name]!r} is not a number") from None
    if expected != len(rows):
        raise BadObject(key, f"metadata {name} says {expected} rows, body has {len(rows)}")


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
    if meta.get("purpose") == "schema-inference" or _SCHEMA_SAMPLE.search(key):
        raise BadObject(key, "a schema sample for Auto Loader (schema_sample_*), not readings")
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
        missing = "missing metadata node-id (pass --gateway-id to name the gateway)"
        gateway = _gateway(key, meta.get("node-id"), gateway_id, missing)
        _count(key, meta, "record-count", rows)
        return OldObject(key, found, gateway, rows, meta)
    wrapped = doc["metadata"]
    if not isinstance(wrapped, dict):
        raise BadObject(key, "wrong shape: metadata is not an object")
    rows = _rows(key, doc["records"])
    missing = "the wrapped format (46c2f087) does not name its node: pass --gateway-id"
    gateway = _gateway(key, None, gateway_id, missing)
    _count(key, wrapped, "record_count", rows)
    return OldObject(key, found, gateway, rows, {str(k): str(v) for k, v in wrapped.items()})
