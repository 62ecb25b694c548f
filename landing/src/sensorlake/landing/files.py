"""A landed file: the one value spool, state and ship share; and an open one.

A :class:`LandedFile` is built when a file is complete in the spool, stored in the state
with the batch, shipped from there. An :class:`OpenFile` is one still accumulating records
across batches: the state records how far it got at each commit. Its key is the contract's
:class:`LandingKey`; what it says about itself in S3 (and beside the file in the local lake)
is the contract's :class:`ObjectMetadata`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sensorlake.contract.keys import LandingKey
from sensorlake.contract.metadata import ObjectMetadata

from .encode import AssemblerProgress

__all__ = ["LandedFile", "OpenFile"]


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


@dataclass(frozen=True)
class OpenFile:
    """A file still accumulating (in the spool's ``tmp/``), as of the last state commit: the
    key it would close under now (its rows so far), its rules, when it opened, and how to
    resume its bytes."""

    key: LandingKey
    rules_version: str
    path: Path
    opened_at: float  # wall clock, seconds since 1970: the age limit counts from here
    progress: AssemblerProgress

    @property
    def target(self) -> str:
        return self.key.target

    @property
    def records(self) -> int:
        return self.progress.records

    @property
    def size(self) -> int:
        return self.progress.size
