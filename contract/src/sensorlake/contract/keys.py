"""The object key layout, the one place it lives.

    <target>/date=YYYY-MM-DD/gateway=<id>/<epoch:08d>-<first:019d>-<last:019d>.ndjson.gz

``target`` is a pipeline name, or ``rejected`` (kept in the schematized bucket). The date
is the reading's UTC date, or ``unknown`` when the timestamp cannot be parsed. Names
zero-pad the epoch and the first and last source row ids, so keys sort in arrival order
within a gateway and day, and a key says exactly which source rows it holds: the same rows
always give the same key. The Hive-style folders are the partition fields consumers read
(Auto Loader infers them as columns): take them from :data:`PARTITION_FIELDS`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from .pipelines import TARGETS

__all__ = [
    "BACKFILL_EPOCH_BASE",
    "GATEWAY_PATTERN",
    "PARTITION_FIELDS",
    "SUFFIX",
    "UNKNOWN_DATE",
    "LandingKey",
    "is_gateway_id",
    "source_glob",
    "source_prefix",
]

SUFFIX: Final = ".ndjson.gz"
UNKNOWN_DATE: Final = "unknown"
# The partition columns a key creates, in folder order.
PARTITION_FIELDS: Final[tuple[str, ...]] = ("date", "gateway")
GATEWAY_PATTERN: Final = r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}"
_GATEWAY_RE = re.compile(GATEWAY_PATTERN)
# Epochs from here up hold history backfilled from the old uploader's bucket (one per
# sensor database found there; ``sensorlake migrate backfill``), far above the epochs a
# gateway's lander counts (1, 2, ...).
BACKFILL_EPOCH_BASE: Final = 50_000_000

_KEY_RE = re.compile(
    r"\A(?P<target>[a-z]+)/date=(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2}|unknown)/"
    rf"gateway=(?P<gateway>{GATEWAY_PATTERN})/"
    r"(?P<epoch>[0-9]{8})-(?P<first>[0-9]{19})-(?P<last>[0-9]{19})\.ndjson\.gz\Z"
)


@dataclass(frozen=True, order=True)
class LandingKey:
    """A landed file's key; its field order is the keys' sort order."""

    target: str
    date: str
    gateway: str
    epoch: int
    first_row: int
    last_row: int

    def format(self) -> str:
        return (
            f"{self.target}/date={self.date}/gateway={self.gateway}/"
            f"{self.epoch:08d}-{self.first_row:019d}-{self.last_row:019d}{SUFFIX}"
        )

    @classmethod
    def parse(cls, key: str) -> LandingKey:
        match = _KEY_RE.fullmatch(key)
        if match is None or match["target"] not in TARGETS:
            raise ValueError(f"not a landing key: {key!r}")
        target, date, gateway, epoch, first, last = match.groups()  # the pattern's order
        return cls(target, date, gateway, int(epoch), int(first), int(last))

    @property
    def partitions(self) -> dict[str, str]:
        """The partition columns this key creates (``{"date": ..., "gateway": ...}``)."""
        return {"date": self.date, "gateway": self.gateway}


def is_gateway_id(text: str) -> bool:
    """Whether ``text`` can be a key's gateway folder: the whole text (a full match, so a
    trailing newline is not let through as ``$`` would)."""
    return _GATEWAY_RE.fullmatch(text) is not None


def source_prefix(target: str) -> str:
    """The key prefix under which a target's files land in its bucket (``raw/``)."""
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}: choose from {', '.join(TARGETS)}")
    return f"{target}/"


def source_glob(target: str) -> str:
    """A glob that matches exactly the target's landed files below its bucket root."""
    fields = "/".join(f"{name}=*" for name in PARTITION_FIELDS)
    return f"{source_prefix(target)}{fields}/*{SUFFIX}"
