"""What a landed object says about itself, so nobody has to open it to count it.

In S3 these are the object's user metadata (``x-amz-meta-*``); in the local lake they sit
beside the file as ``<file>.metadata.json``. Dashboards count records and reconcile
gateways from them; landing compares a replayed object with them.

``sha256`` is the object's bytes; ``content_sha256`` its records (the uncompressed NDJSON,
hashed per chunk of row ids, then the chunk digests in order), so two objects that differ
only in compression have the same content checksum. Objects landed before it existed
have none (``""``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

__all__ = ["LOCAL_SUFFIX", "ObjectMetadata", "local_metadata_path"]

LOCAL_SUFFIX: Final = ".metadata.json"


@dataclass(frozen=True)
class ObjectMetadata:
    record_count: int
    first_row_id: int
    last_row_id: int
    epoch: int
    rules_version: str
    gateway_id: str
    pipeline: str
    sha256: str
    content_sha256: str = ""

    def to_s3(self) -> dict[str, str]:
        """S3 user metadata: lower-case names, string values."""
        content = {"content-sha256": self.content_sha256} if self.content_sha256 else {}
        return {
            "record-count": str(self.record_count),
            "first-row-id": str(self.first_row_id),
            "last-row-id": str(self.last_row_id),
            "epoch": str(self.epoch),
            "rules-version": self.rules_version,
            "gateway-id": self.gateway_id,
            "pipeline": self.pipeline,
            "sha256": self.sha256,
            **content,
        }

    @classmethod
    def from_s3(cls, metadata: Mapping[str, str]) -> ObjectMetadata:
        """Parse and check an object's metadata; ``ValueError`` (one line saying why) when it
        is not ours or cannot be true: not an object, a field missing, a count or row id that
        is not a whole number >= 0, or a last row id before the first."""
        if not isinstance(metadata, Mapping):
            raise ValueError(
                f"not sensorlake object metadata (a JSON {type(metadata).__name__}, not an object)"
            )
        try:
            numbers = {name: _whole(metadata, name) for name in _NUMBERS}
            texts = {name: _text(metadata, name) for name in _TEXTS}
            content = metadata.get("content-sha256", "")
            if not isinstance(content, str):
                raise ValueError("content-sha256 is not a string")
        except KeyError as exc:
            raise ValueError(f"not sensorlake object metadata (no {exc})") from None
        except ValueError as exc:
            raise ValueError(f"not sensorlake object metadata ({exc})") from None
        if numbers["last-row-id"] < numbers["first-row-id"]:
            raise ValueError(
                "not sensorlake object metadata (last-row-id "
                f"{numbers['last-row-id']} is before first-row-id {numbers['first-row-id']})"
            )
        return cls(
            record_count=numbers["record-count"],
            first_row_id=numbers["first-row-id"],
            last_row_id=numbers["last-row-id"],
            epoch=numbers["epoch"],
            rules_version=texts["rules-version"],
            gateway_id=texts["gateway-id"],
            pipeline=texts["pipeline"],
            sha256=texts["sha256"],
            content_sha256=content,
        )

    def to_json(self) -> str:
        return json.dumps(self.to_s3(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ObjectMetadata:
        """Parse a local sidecar; ``ValueError`` when it is not JSON or not valid metadata."""
        return cls.from_s3(json.loads(text))


_NUMBERS: Final = ("record-count", "first-row-id", "last-row-id", "epoch")
_TEXTS: Final = ("rules-version", "gateway-id", "pipeline", "sha256")


def _whole(metadata: Mapping[str, object], name: str) -> int:
    """A field that must be a whole number >= 0 (S3 gives strings, a sidecar may give ints)."""
    value = metadata[name]
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"{name} {value!r} is not a whole number")
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"{name} {value!r} is not a whole number") from None
    if number < 0:
        raise ValueError(f"{name} {number} is negative")
    return number


def _text(metadata: Mapping[str, object], name: str) -> str:
    value = metadata[name]
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} {value!r} is not a non-empty string")
    return value


def local_metadata_path(file: Path) -> Path:
    """Where the local lake keeps a landed file's metadata."""
    return file.with_name(file.name + LOCAL_SUFFIX)
