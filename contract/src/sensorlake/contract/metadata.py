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
    def from_s3(cls, metadata: dict[str, str]) -> ObjectMetadata:
        """Parse an object's user metadata; ``ValueError`` when it is not ours."""
        try:
            return cls(
                record_count=int(metadata["record-count"]),
                first_row_id=int(metadata["first-row-id"]),
                last_row_id=int(metadata["last-row-id"]),
                epoch=int(metadata["epoch"]),
                rules_version=metadata["rules-version"],
                gateway_id=metadata["gateway-id"],
                pipeline=metadata["pipeline"],
                sha256=metadata["sha256"],
                content_sha256=metadata.get("content-sha256", ""),
            )
        except (KeyError, ValueError) as exc:
            raise ValueError(f"not sensorlake object metadata ({exc})") from None

    def to_json(self) -> str:
        return json.dumps(self.to_s3(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ObjectMetadata:
        return cls.from_s3(json.loads(text))


def local_metadata_path(file: Path) -> Path:
    """Where the local lake keeps a landed file's metadata."""
    return file.with_name(file.name + LOCAL_SUFFIX)
