"""The one place the object key layout lives.

    <target>/date=YYYY-MM-DD/gateway=<id>/<epoch:08d>-<first:019d>-<last:019d>.ndjson.gz

``target`` is a pipeline name, or ``rejected`` (kept in the schematized bucket). The date
is the reading's UTC date, or ``unknown`` when the timestamp cannot be parsed. Names
zero-pad the epoch and the first and last source row ids, so keys sort in arrival order
within a gateway and day, and a key says exactly which source rows it holds: the same rows
always give the same key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["SUFFIX", "UNKNOWN_DATE", "LandingKey"]

SUFFIX = ".ndjson.gz"
UNKNOWN_DATE = "unknown"
_KEY_RE = re.compile(
    r"\A(?P<target>[a-z]+)/date=(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2}|unknown)/"
    r"gateway=(?P<gateway>[A-Za-z0-9._-]+)/"
    r"(?P<epoch>[0-9]{8})-(?P<first>[0-9]{19})-(?P<last>[0-9]{19})\.ndjson\.gz\Z"
)


@dataclass(frozen=True, order=True)
class LandingKey:
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
        match = _KEY_RE.match(key)
        if match is None:
            raise ValueError(f"not a landing key: {key!r}")
        g = match.groupdict()
        return cls(
            target=g["target"],
            date=g["date"],
            gateway=g["gateway"],
            epoch=int(g["epoch"]),
            first_row=int(g["first"]),
            last_row=int(g["last"]),
        )
