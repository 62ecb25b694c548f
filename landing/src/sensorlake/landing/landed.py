"""A landed file: the one value spool, state and ship share.

Built when a batch's file is complete in the spool, stored in the state with the batch,
shipped from there. Its key is the contract's :class:`LandingKey`; what it says about
itself in S3 (and beside the file in the local lake) is the contract's
:class:`ObjectMetadata`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sensorlake.contract.keys import LandingKey
from sensorlake.contract.metadata import ObjectMetadata

__all__ = ["LandedFile"]


@dataclass(frozen=True)
class LandedFile:
    key: LandingKey
    bucket: str  # the S3 bucket, or the lake folder (bucket role) when landing locally
    path: Path  # where it waits in the spool
    size: int
    sha256: str  # of the bytes
    content_sha256: str  # of the records (see encode)
    records: int
    rules_version: str

    @property
    def target(self) -> str:
        return self.key.target

    @property
    def name(self) -> str:
        """The object key, as text."""
        return self.key.format()

    @property
    def metadata(self) -> ObjectMetadata:
        return ObjectMetadata(
            record_count=self.records,
            first_row_id=self.key.first_row,
            last_row_id=self.key.last_row,
            epoch=self.key.epoch,
            rules_version=self.rules_version,
            gateway_id=self.key.gateway,
            pipeline=self.key.target,
            sha256=self.sha256,
            content_sha256=self.content_sha256,
        )
